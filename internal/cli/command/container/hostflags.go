package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/berthproject/berth/internal/cli"
)

// hostFlags are run's and create's namespace, device and block I/O flags.
type hostFlags struct {
	ipc, pid, uts, cgroupParent, shmSize                 string
	sysctls, devices, deviceRules                        []string
	readBps, writeBps, readIOps, writeIOps, weightDevice []string
	blkioWeight                                          uint16
	oomKillDisable                                       bool
	publish, expose, links, aliases                      []string
	volumes, mounts, volumesFrom                         []string
	ip, ip6, mac                                         string
	publishAll                                           bool
}

func (f *hostFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.ipc, "ipc", "", "IPC mode to use (private, shareable, host, none, container:NAME)")
	fs.StringVar(&f.pid, "pid", "", "PID namespace to use (host, container:NAME)")
	fs.StringVar(&f.uts, "uts", "", "UTS namespace to use (host)")
	fs.StringVar(&f.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	fs.StringVar(&f.shmSize, "shm-size", "", "Size of /dev/shm")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "Sysctl options")
	fs.StringArrayVar(&f.devices, "device", nil, "Add a host device to the container")
	fs.StringArrayVar(&f.deviceRules, "device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list")
	fs.Uint16Var(&f.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fs.StringArrayVar(&f.weightDevice, "blkio-weight-device", nil, "Block IO weight (relative device weight)")
	fs.StringArrayVar(&f.readBps, "device-read-bps", nil, "Limit read rate (bytes per second) from a device")
	fs.StringArrayVar(&f.writeBps, "device-write-bps", nil, "Limit write rate (bytes per second) to a device")
	fs.StringArrayVar(&f.readIOps, "device-read-iops", nil, "Limit read rate (IO per second) from a device")
	fs.StringArrayVar(&f.writeIOps, "device-write-iops", nil, "Limit write rate (IO per second) to a device")
	fs.BoolVar(&f.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.StringArrayVar(&f.expose, "expose", nil, "Expose a port or a range of ports")
	fs.StringArrayVar(&f.links, "link", nil, "Add link to another container (NAME[:ALIAS])")
	fs.StringArrayVar(&f.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "Bind mount a volume (/host/path:/container/path[:ro|rw|z|Z|shared|slave|private...])")
	fs.StringArrayVar(&f.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s) (CONTAINER[:ro|rw])")
	fs.StringArrayVar(&f.mounts, "mount", nil, "Attach a filesystem mount to the container (type=bind|tmpfs,source=,target=,readonly,...)")
	fs.StringVar(&f.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&f.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	fs.StringVar(&f.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
}

func flagError(flag, val string, err error) error {
	return cli.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--%s\" flag: %v", val, flag, err), Code: 125}
}

func (f *hostFlags) apply(fs *pflag.FlagSet, cfg *container.Config, hc *container.HostConfig) error {
	hc.IpcMode, hc.PidMode, hc.UTSMode = container.IpcMode(f.ipc), container.PidMode(f.pid), container.UTSMode(f.uts)
	for _, v := range f.volumes {
		// As the docker CLI: SRC:DST[:MODE] is a bind (or a named volume),
		// a lone container path an anonymous volume.
		if strings.Contains(v, ":") {
			hc.Binds = append(hc.Binds, v)
		} else {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	}
	hc.VolumesFrom = f.volumesFrom
	for _, m := range f.mounts {
		mnt, err := parseMountFlag(m)
		if err != nil {
			return err
		}
		hc.Mounts = append(hc.Mounts, mnt)
	}
	hc.CgroupParent = f.cgroupParent
	if f.shmSize != "" {
		n, err := units.RAMInBytes(f.shmSize)
		if err != nil {
			return flagError("shm-size", f.shmSize, err)
		}
		hc.ShmSize = n
	}
	for _, s := range f.sysctls {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return flagError("sysctl", s, fmt.Errorf("sysctl '%s' is not allowed", s))
		}
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[k] = v
	}
	for _, d := range f.devices {
		m, err := parseDevice(d)
		if err != nil {
			return flagError("device", d, err)
		}
		hc.Devices = append(hc.Devices, m)
	}
	hc.DeviceCgroupRules = f.deviceRules
	hc.BlkioWeight = f.blkioWeight
	for _, w := range f.weightDevice {
		path, n, ok := strings.Cut(w, ":")
		weight, err := strconv.ParseUint(n, 10, 16)
		if !ok || err != nil || !strings.HasPrefix(path, "/dev/") {
			return flagError("blkio-weight-device", w, fmt.Errorf("bad format: %s", w))
		}
		hc.BlkioWeightDevice = append(hc.BlkioWeightDevice, &blkiodev.WeightDevice{Path: path, Weight: uint16(weight)})
	}
	for _, x := range []struct {
		flag  string
		vals  []string
		bytes bool
		out   *[]*blkiodev.ThrottleDevice
	}{
		{"device-read-bps", f.readBps, true, &hc.BlkioDeviceReadBps}, {"device-write-bps", f.writeBps, true, &hc.BlkioDeviceWriteBps},
		{"device-read-iops", f.readIOps, false, &hc.BlkioDeviceReadIOps}, {"device-write-iops", f.writeIOps, false, &hc.BlkioDeviceWriteIOps},
	} {
		for _, v := range x.vals {
			path, rate, ok := strings.Cut(v, ":")
			var n int64
			var err error
			if x.bytes {
				n, err = units.RAMInBytes(rate)
			} else {
				n, err = strconv.ParseInt(rate, 10, 64)
			}
			if !ok || err != nil || n < 0 || !strings.HasPrefix(path, "/dev/") {
				return flagError(x.flag, v, fmt.Errorf("bad format: %s", v))
			}
			*x.out = append(*x.out, &blkiodev.ThrottleDevice{Path: path, Rate: uint64(n)})
		}
	}
	if fs.Changed("oom-kill-disable") {
		hc.OomKillDisable = &f.oomKillDisable
	}
	hc.PublishAllPorts = f.publishAll
	hc.Links = f.links
	exposed, bindings, err := nat.ParsePortSpecs(f.publish)
	if err != nil {
		return flagError("publish", strings.Join(f.publish, ","), err)
	}
	if len(bindings) > 0 {
		hc.PortBindings = bindings
	}
	for _, e := range f.expose { // PORT[/PROTO] or a range, as docker's --expose
		proto, port := nat.SplitProtoPort(e)
		lo, hi, err := nat.ParsePortRangeToInt(port)
		if err != nil {
			return flagError("expose", e, err)
		}
		for p := lo; p <= hi; p++ {
			np, err := nat.NewPort(proto, strconv.Itoa(p))
			if err != nil {
				return flagError("expose", e, err)
			}
			exposed[np] = struct{}{}
		}
	}
	if len(exposed) > 0 {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = nat.PortSet{}
		}
		for p := range exposed {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	return nil
}

// networking is the create request's NetworkingConfig: the endpoint on
// the container's network, with --ip, --ip6, --mac-address and
// --network-alias, and one per other --network, as the docker CLI sends
// them.
func (f *hostFlags) networking(hc *container.HostConfig, others []string) *network.NetworkingConfig {
	nc := &network.NetworkingConfig{}
	for _, n := range others {
		if nc.EndpointsConfig == nil {
			nc.EndpointsConfig = map[string]*network.EndpointSettings{}
		}
		nc.EndpointsConfig[n] = &network.EndpointSettings{}
	}
	if f.ip == "" && f.ip6 == "" && f.mac == "" && len(f.aliases) == 0 {
		return nc
	}
	ep := &network.EndpointSettings{MacAddress: f.mac, Aliases: f.aliases}
	if f.ip != "" || f.ip6 != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: f.ip, IPv6Address: f.ip6}
	}
	if nc.EndpointsConfig == nil {
		nc.EndpointsConfig = map[string]*network.EndpointSettings{}
	}
	nc.EndpointsConfig[string(hc.NetworkMode)] = ep
	return nc
}

// parseDevice reads --device HOST[:CONTAINER][:MODE] as the docker CLI.
func parseDevice(s string) (container.DeviceMapping, error) {
	src, dst, perms := "", "", "rwm"
	arr := strings.Split(s, ":")
	switch len(arr) {
	case 3:
		perms = arr[2]
		fallthrough
	case 2:
		if validMode(arr[1]) && len(arr) == 2 {
			perms = arr[1]
		} else {
			dst = arr[1]
		}
		fallthrough
	case 1:
		src = arr[0]
	default:
		return container.DeviceMapping{}, fmt.Errorf("invalid device specification: %s", s)
	}
	if dst == "" {
		dst = src
	}
	if !validMode(perms) {
		return container.DeviceMapping{}, fmt.Errorf("invalid device mode: %s", perms)
	}
	return container.DeviceMapping{PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms}, nil
}

func validMode(m string) bool {
	if m == "" || len(m) > 3 {
		return false
	}
	for _, c := range m {
		if !strings.ContainsRune("rwm", c) || strings.Count(m, string(c)) > 1 {
			return false
		}
	}
	return true
}

// parseMountFlag reads --mount KEY=VALUE,... as the docker CLI does.
func parseMountFlag(spec string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	bad := func(format string, a ...any) (mount.Mount, error) {
		return mount.Mount{}, cli.StatusError{Code: 125, Status: fmt.Sprintf("invalid argument %q for \"--mount\" flag: ", spec) + fmt.Sprintf(format, a...)}
	}
	bindOpts := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	volumeOpts := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	boolean := func(k, v string, ok bool) (bool, error) {
		switch {
		case !ok, v == "1", v == "true":
			return true, nil
		case v == "0", v == "false":
			return false, nil
		}
		return false, fmt.Errorf("invalid value for %s: %s", k, v)
	}
	for _, field := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(field, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		var err error
		switch k {
		case "type":
			m.Type = mount.Type(strings.ToLower(v))
		case "source", "src":
			m.Source = v
		case "target", "dst", "destination":
			m.Target = v
		case "readonly", "ro":
			m.ReadOnly, err = boolean(k, v, ok)
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(v))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(v))
		case "bind-nonrecursive":
			bindOpts().NonRecursive, err = boolean(k, v, ok)
		case "volume-nocopy":
			volumeOpts().NoCopy, err = boolean(k, v, ok)
		case "volume-label":
			lk, lv, _ := strings.Cut(v, "=")
			if volumeOpts().Labels == nil {
				volumeOpts().Labels = map[string]string{}
			}
			volumeOpts().Labels[lk] = lv
		case "volume-driver":
			if volumeOpts().DriverConfig == nil {
				volumeOpts().DriverConfig = &mount.Driver{}
			}
			volumeOpts().DriverConfig.Name = v
		case "volume-opt":
			ok, ov, _ := strings.Cut(v, "=")
			if volumeOpts().DriverConfig == nil {
				volumeOpts().DriverConfig = &mount.Driver{}
			}
			if volumeOpts().DriverConfig.Options == nil {
				volumeOpts().DriverConfig.Options = map[string]string{}
			}
			volumeOpts().DriverConfig.Options[ok] = ov
		case "tmpfs-size":
			var n int64
			if n, err = units.RAMInBytes(v); err == nil {
				tmpfsOpts().SizeBytes = n
			}
		case "tmpfs-mode":
			var n uint64
			if n, err = strconv.ParseUint(v, 8, 32); err == nil {
				tmpfsOpts().Mode = os.FileMode(n)
			}
		default:
			return bad("unexpected key '%s' in '%s'", k, field)
		}
		if err != nil {
			return bad("%v", err)
		}
	}
	if m.Target == "" {
		return bad("target is required")
	}
	return m, nil
}
