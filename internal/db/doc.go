// Package db opens the daemon's bbolt metadata file and creates the
// buckets its owners ask for. Each owning package (images, containers)
// keeps its own bucket and its own record format; this package holds no
// schema of its own.
package db
