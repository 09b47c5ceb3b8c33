// Package archive reads and writes tar streams safely: extraction never
// creates, follows or hard-links anything outside its root, whatever the
// names, symlinks or hard links in the stream say. It also detects and
// undoes gzip and zstd compression. It knows nothing of images or layers;
// whiteout handling is a hook the caller provides.
package archive
