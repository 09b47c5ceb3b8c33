package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// SecurityOpts is what a container's --security-opt values ask for.
type SecurityOpts struct {
	NoNewPrivileges bool
	// Seccomp is "" (Docker's default profile), "unconfined", or a
	// profile in Docker's JSON format (the docker CLI sends a file's
	// content).
	Seccomp string
	// SystemPaths unconfined: no masked or read-only /proc and /sys paths.
	SystemPathsUnconfined bool
}

// ParseSecurityOpts reads --security-opt values as Docker does
// ("key=value", or the legacy "key:value"). What berth cannot do is an
// error naming it: an AppArmor profile or SELinux label other than
// unconfined/disable (berth applies neither), writable cgroups.
func ParseSecurityOpts(opts []string) (SecurityOpts, error) {
	var so SecurityOpts
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			so.NoNewPrivileges = true
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			if k, v, ok = strings.Cut(opt, ":"); !ok {
				return so, fmt.Errorf("invalid --security-opt 1: %q", opt)
			}
		}
		switch k {
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, fmt.Errorf("invalid --security-opt 2: %q", opt)
			}
			so.NoNewPrivileges = b
		case "seccomp":
			so.Seccomp = v
		case "systempaths":
			if v != "unconfined" {
				return so, fmt.Errorf("invalid --security-opt 2: %q", opt)
			}
			so.SystemPathsUnconfined = true
		case "apparmor":
			if v != "unconfined" {
				return so, fmt.Errorf("berth: --security-opt apparmor=%s is not supported: berth applies no AppArmor profile (only apparmor=unconfined)", v)
			}
		case "label":
			if v != "disable" {
				return so, fmt.Errorf("berth: --security-opt label=%s is not supported: berth applies no SELinux label (only label=disable)", v)
			}
		case "writable-cgroups":
			return so, fmt.Errorf("berth: --security-opt writable-cgroups is not supported yet")
		default:
			return so, fmt.Errorf("invalid --security-opt 2: %q", opt)
		}
	}
	return so, nil
}
