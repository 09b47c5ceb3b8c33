package hugeheap

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

const (
	hugePage   = 2 << 20
	arenaBytes = 64 << 20 // the Go heap's arena on linux/amd64 and arm64

	madvHugepage = 14 // MADV_HUGEPAGE
	madvCollapse = 25 // MADV_COLLAPSE (Linux 6.1)
)

// probe is an object on the heap: where it lies is where the heap is.
var probe *[64]byte

// advised is set when this process asked for huge pages (for the test).
var advised bool

func init() {
	if !wanted(os.Args, os.Getenv("GODEBUG")) {
		return
	}
	probe = new([64]byte)
	lo := uintptr(unsafe.Pointer(probe)) &^ (hugePage - 1)
	hi := lo&^(arenaBytes-1) + arenaBytes
	// The advice covers what is mapped of the arena from here on; the
	// region around the probe is touched already, so it is collapsed
	// into one huge page (copying the few pages in use) rather than
	// left to fault page by page. Both fail harmlessly where THP is off
	// or the kernel is older.
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, madvHugepage)
	advised = e == 0 || e == syscall.ENOMEM // ENOMEM: part of the range is not mapped yet
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, lo, hugePage, madvCollapse)
}

// wanted reports whether a process started as args is short-lived: a CLI
// command or libcontainer's init. The daemon, a shim, the registry and
// the container's own init (berth-init) live long, and there a huge page
// would hold up to 2 MB where a few kB are in use. A shim's creator is
// left alone too: it does its work ahead of need, where page faults cost
// no waiting, and it can wait long for a container to make. GODEBUG=disablethp=1,
// Go's own switch for this, turns it off. The modes mirror the dispatch
// in cmd/berth and cmd/berth-shim; main cannot pass them in, because
// advice given from main comes after most of the heap is touched (tried:
// no gain).
func wanted(args []string, godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if kv == "disablethp=1" {
			return false
		}
	}
	if len(args) == 0 || filepath.Base(args[0]) == "berth-init" {
		return false
	}
	if len(args) > 1 {
		switch args[1] {
		case "daemon", "shim", "shim-create", "registry":
			return false
		}
	}
	return true
}
