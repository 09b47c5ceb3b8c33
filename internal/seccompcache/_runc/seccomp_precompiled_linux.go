//go:build cgo && seccomp

// berth: added to runc's libcontainer/seccomp by a build overlay (see
// internal/seccompcache and hack/runc-overlay.sh); not part of runc.

package seccomp

import (
	"errors"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp/patchbpf"
)

// Precompiled, when set, is asked by InitSeccomp for a program compiled
// earlier (by Compile) for config; with ok, InitSeccomp loads it instead
// of building the filter with libseccomp.
var Precompiled func(config *configs.Seccomp) (prog []unix.SockFilter, flags uint, ok bool)

// Compile returns the program and the seccomp(2) flags InitSeccomp would
// load for config, without loading them. A config with a notify action
// (which needs the listener fd InitSeccomp returns) is refused.
func Compile(config *configs.Seccomp) ([]unix.SockFilter, uint, error) {
	if config == nil {
		return nil, 0, errors.New("cannot compile seccomp - nil config passed")
	}
	defaultAction, err := getAction(config.DefaultAction, config.DefaultErrnoRet)
	if err != nil {
		return nil, 0, errors.New("error compiling seccomp - invalid default action")
	}
	if defaultAction == libseccomp.ActNotify {
		return nil, 0, errors.New("seccomp notify is not precompiled")
	}
	for _, call := range config.Syscalls {
		if call != nil && call.Action == configs.Notify {
			return nil, 0, errors.New("seccomp notify is not precompiled")
		}
	}
	filter, err := buildFilter(config, defaultAction)
	if err != nil {
		return nil, 0, err
	}
	defer filter.Release()
	return patchbpf.Compile(config, filter)
}
