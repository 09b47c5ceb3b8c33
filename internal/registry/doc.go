// Package registry is berth's own image registry server (`berth registry
// serve`): the OCI distribution spec v1.1, which is also the Docker
// Registry HTTP API v2 that the docker CLI speaks, over a crash-safe store
// on disk (blobs by digest, upload sessions, per-repository links for
// blobs, manifests, tags and referrers), with basic auth from an htpasswd
// file, TLS, a read-only mode and a garbage collector (`berth registry gc`)
// that is safe to run while the server serves.
package registry
