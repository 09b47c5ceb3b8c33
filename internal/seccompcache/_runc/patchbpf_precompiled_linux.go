//go:build cgo && seccomp

// berth: added to runc's libcontainer/seccomp/patchbpf by a build overlay
// (see internal/seccompcache and hack/runc-overlay.sh); not part of runc.

package patchbpf

import (
	"errors"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/opencontainers/runc/libcontainer/configs"
)

// Compile returns what PatchAndLoad would load for filter: the patched
// program and the seccomp(2) flags.
func Compile(config *configs.Seccomp, filter *libseccomp.ScmpFilter) ([]unix.SockFilter, uint, error) {
	prog, err := enosysPatchFilter(config, filter)
	if err != nil {
		return nil, 0, err
	}
	flags, noNewPrivs, err := filterFlags(config, filter)
	if err != nil {
		return nil, 0, err
	}
	if noNewPrivs {
		// PatchAndLoad would set no_new_privs here; runc never asks it to.
		return nil, 0, errors.New("a filter with the no_new_privs bit is not precompiled")
	}
	return prog, flags, nil
}

// Load loads a program Compile returned, as PatchAndLoad does.
func Load(flags uint, prog []unix.SockFilter) (int, error) {
	if len(prog) == 0 {
		return -1, errors.New("empty seccomp program")
	}
	return sysSeccompSetFilter(flags, prog)
}
