// Package hello makes the rootfs of the built-in hello-world image: a
// single tiny static executable, written here byte by byte as an ELF file
// for amd64 and arm64, that prints a greeting and exits 0. It lets
// `berth run hello-world` work on a machine with no registry at all.
package hello
