package shimbin

import (
	"bytes"
	"os"

	"github.com/opencontainers/runc/libcontainer/exeseal"
)

// Open returns the embedded shim program as a sealed, executable file
// (a memfd; an unlinked file in dir if memfds are not available), or nil
// if this berth was built without one. The caller keeps it open for as
// long as it starts shims, which it does through /proc/self/fd/N.
func Open(dir string) (*os.File, error) {
	if len(program) == 0 {
		return nil, nil
	}
	return exeseal.CloneBinary(bytes.NewReader(program), int64(len(program)), "berth-shim", dir)
}

// Embedded reports whether this berth carries its own shim program.
func Embedded() bool { return len(program) > 0 }
