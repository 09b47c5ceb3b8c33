// Package logs is the json-file log driver: a writer that the shim feeds
// with a container's output (one JSON object per line, stdout and stderr
// kept apart, rotated by size into a bounded number of files) and a reader
// that the daemon uses for `logs` (tail, since, until, follow). It knows
// nothing of containers or HTTP.
package logs
