// Package image is the image service: references and tags, image configs
// and manifests in the content store, layers in the layer store; import
// of rootfs tarballs, load and save of docker-archive and OCI layout
// archives, list, inspect, tag, remove, history and prune. Metadata lives
// in its own bbolt buckets ("images", "tags"), written in one transaction
// per change, after the blobs and layers it names are complete. It knows
// nothing of HTTP or of containers (it asks, through a function the
// daemon wires, whether an image is in use).
package image
