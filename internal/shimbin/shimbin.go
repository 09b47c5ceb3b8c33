package shimbin

import (
	"bytes"
	"os"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer/exeseal"
	"golang.org/x/sys/unix"
)

// Open returns the embedded shim program as a sealed, executable file
// (a memfd; an unlinked file in dir if memfds are not available), or nil
// if this berth was built without one. The caller keeps it open for as
// long as it starts shims, which it does through /proc/self/fd/N.
func Open(dir string) (*os.File, error) {
	if len(program) == 0 {
		return nil, nil
	}
	f, err := exeseal.CloneBinary(bytes.NewReader(program), int64(len(program)), "berth-shim", dir)
	release(program)
	return f, err
}

// release drops the pages of b, a part of this binary's read-only data,
// from the process: copying it in faulted them in, which would count ~10
// MB in the daemon's RSS for nothing (they stay in the page cache).
func release(b []byte) {
	pg := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	first, end := (start+pg-1)&^(pg-1), (start+uintptr(len(b)))&^(pg-1)
	if end > first {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, first, end-first, unix.MADV_DONTNEED)
	}
}
