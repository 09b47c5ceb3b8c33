// Package layer is the overlayfs layer store. The life of a container's
// filesystem: each image layer's tar is applied once into its own
// directory, named by its chain ID (so a layer shared by many images is
// unpacked once); a container gets a read-write layer (upper and work
// directories) prepared on top of its image's chain; Mount joins them with
// overlayfs; Unmount and RemoveRW undo that. Layers are written into a
// temporary directory and renamed into place, so a crash never leaves a
// half-applied layer under a real name. The store knows nothing of images
// or containers beyond the IDs it is handed.
package layer
