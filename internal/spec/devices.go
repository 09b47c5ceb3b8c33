package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/moby/sys/devices"
	"github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ValidDeviceMode reports whether mode is a cgroup device access ("r",
// "w", "m" at most once each, as Docker's --device mode).
func ValidDeviceMode(mode string) bool {
	if mode == "" || len(mode) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if c != 'r' && c != 'w' && c != 'm' || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// DevicesFromPath is --device's host side, as Docker's: a device node
// (through a symlink too), or a directory whose device nodes all go, at
// the same relative paths under pathInContainer.
func DevicesFromPath(pathOnHost, pathInContainer, perms string) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	resolved := pathOnHost
	if fi, err := os.Lstat(pathOnHost); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if p, err := filepath.EvalSymlinks(pathOnHost); err == nil {
			resolved = p
		}
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	add := func(d *config.Device, at string) {
		devs = append(devs, linuxDevice(d, at))
		rules = append(rules, deviceRule(d))
	}
	d, err := devices.DeviceFromPath(resolved, perms)
	if err == nil {
		add(d, pathInContainer)
		return devs, rules, nil
	}
	if err == devices.ErrNotADevice {
		if fi, serr := os.Stat(resolved); serr == nil && fi.IsDir() {
			_ = filepath.WalkDir(resolved, func(p string, _ fs.DirEntry, _ error) error {
				if cd, err := devices.DeviceFromPath(p, perms); err == nil {
					add(cd, pathInContainer+strings.TrimPrefix(p, resolved))
				}
				return nil
			})
		}
	}
	if len(devs) > 0 {
		return devs, rules, nil
	}
	return nil, nil, fmt.Errorf("error gathering device information while adding custom device %q: %v", pathOnHost, err)
}

func linuxDevice(d *config.Device, at string) specs.LinuxDevice {
	mode, uid, gid := d.FileMode, d.Uid, d.Gid
	return specs.LinuxDevice{Type: string(d.Type), Path: at, Major: d.Major, Minor: d.Minor, FileMode: &mode, UID: &uid, GID: &gid}
}

func deviceRule(d *config.Device) specs.LinuxDeviceCgroup {
	major, minor := d.Major, d.Minor
	return specs.LinuxDeviceCgroup{Allow: true, Type: string(d.Type), Major: &major, Minor: &minor, Access: string(d.Permissions)}
}

// hostDevices are the host's device nodes, for --privileged (as Docker:
// the container sees the host's /dev).
func hostDevices() ([]specs.LinuxDevice, error) {
	ds, err := devices.HostDevices()
	if err != nil {
		return nil, err
	}
	out := make([]specs.LinuxDevice, 0, len(ds))
	for _, d := range ds {
		out = append(out, linuxDevice(d, d.Path))
	}
	return out, nil
}

var cgroupRule = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// ParseDeviceCgroupRule reads a --device-cgroup-rule ("c 1:3 rwm",
// "a *:* m"), as Docker does.
func ParseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	m := cgroupRule.FindStringSubmatch(rule)
	if m == nil || !ValidDeviceMode(m[4]) {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("invalid device cgroup rule format: '%s'", rule)
	}
	num := func(s string) *int64 {
		if s == "*" {
			return nil
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		return &n
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Major: num(m[2]), Minor: num(m[3]), Access: m[4]}, nil
}

// blockDevice is the major:minor of a block device node for the blkio
// options, which must name one (Docker's words).
func blockDevice(path string) (specs.LinuxBlockIODevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return specs.LinuxBlockIODevice{}, fmt.Errorf("invalid block device %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return specs.LinuxBlockIODevice{}, fmt.Errorf("%s is not a block device", path)
	}
	return specs.LinuxBlockIODevice{Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev))}, nil
}

// blockIO is the block I/O part of a container's resources: weights and
// throttles, devices named by path on the host.
func blockIO(r *container.Resources) (*specs.LinuxBlockIO, error) {
	if r.BlkioWeight == 0 && len(r.BlkioWeightDevice)+len(r.BlkioDeviceReadBps)+len(r.BlkioDeviceWriteBps)+
		len(r.BlkioDeviceReadIOps)+len(r.BlkioDeviceWriteIOps) == 0 {
		return nil, nil
	}
	b := &specs.LinuxBlockIO{}
	if r.BlkioWeight > 0 {
		w := r.BlkioWeight
		b.Weight = &w
	}
	for _, wd := range r.BlkioWeightDevice {
		dev, err := blockDevice(wd.Path)
		if err != nil {
			return nil, err
		}
		w := wd.Weight
		b.WeightDevice = append(b.WeightDevice, specs.LinuxWeightDevice{LinuxBlockIODevice: dev, Weight: &w})
	}
	throttle := func(list []*blkiodev.ThrottleDevice) ([]specs.LinuxThrottleDevice, error) {
		var out []specs.LinuxThrottleDevice
		for _, t := range list {
			dev, err := blockDevice(t.Path)
			if err != nil {
				return nil, err
			}
			out = append(out, specs.LinuxThrottleDevice{LinuxBlockIODevice: dev, Rate: t.Rate})
		}
		return out, nil
	}
	var err error
	for _, x := range []struct {
		in  []*blkiodev.ThrottleDevice
		out *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &b.ThrottleReadBpsDevice}, {r.BlkioDeviceWriteBps, &b.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &b.ThrottleReadIOPSDevice}, {r.BlkioDeviceWriteIOps, &b.ThrottleWriteIOPSDevice},
	} {
		if *x.out, err = throttle(x.in); err != nil {
			return nil, err
		}
	}
	return b, nil
}
