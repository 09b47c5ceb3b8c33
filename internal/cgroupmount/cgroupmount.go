package cgroupmount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Option is the mount option this package turns on.
const Option = "favordynmods"

// Mount is one cgroup file system mount, as /proc/self/mountinfo lists it.
type Mount struct {
	Point   string   // where it is mounted
	Type    string   // "cgroup2" or "cgroup"
	SuperOp []string // the super block's options, e.g. rw,nsdelegate
}

// Mounts reads the cgroup mounts from a mountinfo file.
func Mounts(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		if g[0] != "cgroup2" && g[0] != "cgroup" {
			continue
		}
		out = append(out, Mount{Point: unescape(f[4]), Type: g[0], SuperOp: strings.Split(g[2], ",")})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Plan says what to remount, and with which options, to turn Option on:
// nothing if a mount already has it (it is global); the cgroup2 mount
// otherwise (the unified one on a hybrid host). A cgroup v1 hierarchy's
// options cannot change at remount, so a host without cgroup2 gets
// ErrUnsupported. The options keep every one the mount has (a cgroup2
// remount drops what it is not given, nsdelegate included).
func Plan(mounts []Mount) (point, data string, err error) {
	for _, m := range mounts {
		if slices.Contains(m.SuperOp, Option) {
			return "", "", nil
		}
	}
	for _, m := range mounts {
		if m.Type != "cgroup2" {
			continue
		}
		opts := slices.DeleteFunc(slices.Clone(m.SuperOp), func(o string) bool { return o == "rw" || o == "ro" })
		return m.Point, strings.Join(append(opts, Option), ","), nil
	}
	return "", "", fmt.Errorf("no cgroup2 mount: %w", errors.ErrUnsupported)
}

// FavorDynMods turns Option on if it is not. It returns the mount point
// it remounted, or "" if there was nothing to do.
func FavorDynMods() (string, error) {
	mounts, err := hostMounts()
	if err != nil {
		return "", err
	}
	point, data, err := Plan(mounts)
	if err != nil || point == "" {
		return "", err
	}
	if err := unix.Mount("", point, "", unix.MS_REMOUNT, data); err != nil {
		// EINVAL: a kernel older than 6.0 does not know the option.
		return "", fmt.Errorf("remount %s with %s: %w", point, data, err)
	}
	return point, nil
}

// Enabled reports whether a cgroup mount of this host has Option (it is
// global: one mount having it means all do).
func Enabled() (bool, error) {
	mounts, err := hostMounts()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if slices.Contains(m.SuperOp, Option) {
			return true, nil
		}
	}
	return false, nil
}

// hostMounts reads this process's cgroup mounts.
func hostMounts() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Mounts(f)
}
