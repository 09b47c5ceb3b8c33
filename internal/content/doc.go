// Package content is the content-addressed blob store: blobs (layer
// tarballs, image configs, manifests) are written to an ingest file,
// fsynced, verified against their digest and renamed into place, so a
// crash leaves either nothing or a complete blob. It knows nothing about
// what the blobs mean.
package content
