package spec

import (
	"os"
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func gen(t *testing.T, hc container.HostConfig, cfg container.Config) *specs.Spec {
	t.Helper()
	s, err := Generate(Input{Config: &cfg, HostConfig: &hc, Rootfs: "/r", Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hasNS(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == typ {
			return true
		}
	}
	return false
}

func TestGenerate(t *testing.T) {
	pids := int64(10)
	yes := true
	for _, tc := range []struct {
		name  string
		hc    container.HostConfig
		cfg   container.Config
		check func(*specs.Spec) bool
	}{
		{"default caps", container.HostConfig{}, container.Config{}, func(s *specs.Spec) bool {
			return len(s.Process.Capabilities.Bounding) == len(DefaultCapabilities) && !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		}},
		{"cap-add and drop", container.HostConfig{CapAdd: []string{"net_admin"}, CapDrop: []string{"CHOWN"}}, container.Config{}, func(s *specs.Spec) bool {
			b := s.Process.Capabilities.Bounding
			return slices.Contains(b, "CAP_NET_ADMIN") && !slices.Contains(b, "CAP_CHOWN")
		}},
		{"drop all add one", container.HostConfig{CapAdd: []string{"KILL"}, CapDrop: []string{"ALL"}}, container.Config{}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_KILL"})
		}},
		{"privileged: all caps, no seccomp, no masks", container.HostConfig{Privileged: true}, container.Config{}, func(s *specs.Spec) bool {
			return len(s.Process.Capabilities.Bounding) == len(AllCapabilities) && s.Linux.Seccomp == nil && len(s.Linux.MaskedPaths) == 0
		}},
		{"default seccomp and masks", container.HostConfig{}, container.Config{}, func(s *specs.Spec) bool {
			return s.Linux.Seccomp != nil && s.Linux.Seccomp.DefaultAction == specs.ActErrno && slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") && slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys")
		}},
		{"seccomp without the x32 ABI", container.HostConfig{}, container.Config{}, func(s *specs.Spec) bool {
			a := s.Linux.Seccomp.Architectures
			return !slices.Contains(a, specs.ArchX32) && (goruntime.GOARCH != "amd64" || slices.Contains(a, specs.ArchX86_64) && slices.Contains(a, specs.ArchX86))
		}},
		{"seccomp unconfined", container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}, container.Config{}, func(s *specs.Spec) bool { return s.Linux.Seccomp == nil }},
		{"no-new-privileges", container.HostConfig{SecurityOpt: []string{"no-new-privileges"}}, container.Config{}, func(s *specs.Spec) bool { return s.Process.NoNewPrivileges }},
		{"host network", container.HostConfig{NetworkMode: "host"}, container.Config{}, func(s *specs.Spec) bool { return !hasNS(s, specs.NetworkNamespace) && hasNS(s, specs.PIDNamespace) }},
		{"none network", container.HostConfig{NetworkMode: "none"}, container.Config{}, func(s *specs.Spec) bool { return hasNS(s, specs.NetworkNamespace) && hasNS(s, specs.CgroupNamespace) }},
		{"memory, default swap doubles it", container.HostConfig{Resources: container.Resources{Memory: 64 << 20}}, container.Config{}, func(s *specs.Spec) bool {
			m := s.Linux.Resources.Memory
			return *m.Limit == 64<<20 && *m.Swap == 128<<20
		}},
		{"cpus to quota", container.HostConfig{Resources: container.Resources{NanoCPUs: 1500000000}}, container.Config{}, func(s *specs.Spec) bool {
			c := s.Linux.Resources.CPU
			return *c.Quota == 150000 && *c.Period == 100000
		}},
		{"pids limit", container.HostConfig{Resources: container.Resources{PidsLimit: &pids}}, container.Config{}, func(s *specs.Spec) bool { return *s.Linux.Resources.Pids.Limit == 10 }},
		{"ulimit", container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}}}, container.Config{}, func(s *specs.Spec) bool {
			return len(s.Process.Rlimits) == 1 && s.Process.Rlimits[0].Type == "RLIMIT_NOFILE" && s.Process.Rlimits[0].Hard == 20
		}},
		{"read-only rootfs", container.HostConfig{ReadonlyRootfs: true}, container.Config{}, func(s *specs.Spec) bool { return s.Root.Readonly }},
		{"tty and cwd", container.HostConfig{}, container.Config{Tty: true, WorkingDir: "/srv"}, func(s *specs.Spec) bool { return s.Process.Terminal && s.Process.Cwd == "/srv" }},
		{"uts host: no namespace, no hostname", container.HostConfig{UTSMode: "host"}, container.Config{Hostname: "h"}, func(s *specs.Spec) bool {
			return !hasNS(s, specs.UTSNamespace) && s.Hostname == ""
		}},
		{"own uts namespace", container.HostConfig{}, container.Config{Hostname: "h"}, func(s *specs.Spec) bool { return hasNS(s, specs.UTSNamespace) && s.Hostname == "h" }},
		{"ipc none: no /dev/shm", container.HostConfig{IpcMode: "none"}, container.Config{}, func(s *specs.Spec) bool {
			return hasNS(s, specs.IPCNamespace) && !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
		}},
		{"oom-kill-disable", container.HostConfig{Resources: container.Resources{OomKillDisable: &yes}}, container.Config{}, func(s *specs.Spec) bool {
			return *s.Linux.Resources.Memory.DisableOOMKiller && s.Linux.Resources.Memory.Limit == nil
		}},
		{"device /dev/null at another path", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}}}}, container.Config{}, func(s *specs.Spec) bool {
			d, r := s.Linux.Devices, s.Linux.Resources.Devices
			return len(d) == 1 && d[0].Path == "/dev/mynull" && d[0].Type == "c" && d[0].Major == 1 && d[0].Minor == 3 &&
				len(r) == 2 && !r[0].Allow && r[1].Allow && r[1].Access == "rw" && *r[1].Major == 1 && *r[1].Minor == 3
		}},
		{"device cgroup rule", container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 42:* rmw"}}}, container.Config{}, func(s *specs.Spec) bool {
			r := s.Linux.Resources.Devices
			return len(r) == 2 && r[1].Allow && r[1].Type == "c" && *r[1].Major == 42 && r[1].Minor == nil && r[1].Access == "rmw"
		}},
		{"privileged gets the host's devices", container.HostConfig{Privileged: true}, container.Config{}, func(s *specs.Spec) bool {
			return slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/null" }) && s.Linux.Resources.Devices[0].Allow
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := gen(t, tc.hc, tc.cfg); !tc.check(s) {
				t.Fatalf("spec does not hold: %+v", s.Linux)
			}
		})
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	for _, hc := range []container.HostConfig{
		{CapAdd: []string{"CAP_NOPE"}},
		{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nope"}}}},
		{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/nonexistent", PathInContainer: "/dev/x", CgroupPermissions: "rwm"}}}},
		{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/etc/hostname", PathInContainer: "/dev/x", CgroupPermissions: "rwm"}}}},
		{Resources: container.Resources{DeviceCgroupRules: []string{"x 1:2 rwm"}}},
		{Resources: container.Resources{BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: "/dev/null", Rate: 1}}}}, // not a block device
		{Resources: container.Resources{BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: "/nonexistent", Rate: 1}}}},
	} {
		if _, err := Generate(Input{Config: &container.Config{}, HostConfig: &hc, Args: []string{"sh"}}); err == nil {
			t.Errorf("%+v: want an error", hc)
		}
	}
	if _, err := Generate(Input{Config: &container.Config{}, HostConfig: &container.HostConfig{}}); err == nil {
		t.Error("no command: want an error")
	}
}

func TestCapabilitiesFromMask(t *testing.T) {
	if got := CapabilitiesFromMask(0xa80425fb); !slices.Equal(got, []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}) {
		t.Fatalf("docker's default mask decodes to %v", got)
	}
}

func TestJoinNamespaces(t *testing.T) {
	hc := container.HostConfig{PidMode: "container:a", IpcMode: "container:a"}
	s, err := Generate(Input{Config: &container.Config{}, HostConfig: &hc, Args: []string{"sh"}, ShmPath: "/proc/7/root/dev/shm",
		JoinNamespaces: map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "/proc/7/ns/pid", specs.IPCNamespace: "/proc/7/ns/ipc"}})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[specs.LinuxNamespaceType]string{}
	for _, n := range s.Linux.Namespaces {
		paths[n.Type] = n.Path
	}
	if paths[specs.PIDNamespace] != "/proc/7/ns/pid" || paths[specs.IPCNamespace] != "/proc/7/ns/ipc" || paths[specs.MountNamespace] != "" {
		t.Fatalf("namespaces %v", s.Linux.Namespaces)
	}
	i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
	if i < 0 || s.Mounts[i].Type != "bind" || s.Mounts[i].Source != "/proc/7/root/dev/shm" {
		t.Fatalf("/dev/shm: %+v", s.Mounts)
	}
}

func TestBlockIOOfABlockDevice(t *testing.T) {
	var dev string
	for _, d := range []string{"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0"} {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
			dev = d
			break
		}
	}
	if dev == "" {
		t.Skip("no block device node here")
	}
	w := uint16(300)
	r, err := LimitResources(&container.Resources{BlkioWeight: 500, BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: dev, Weight: w}},
		BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: dev, Rate: 1 << 20}}, BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: dev, Rate: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	b := r.BlockIO
	var st unix.Stat_t
	_ = unix.Stat(dev, &st)
	if *b.Weight != 500 || *b.WeightDevice[0].Weight != 300 || b.ThrottleReadBpsDevice[0].Rate != 1<<20 || b.ThrottleWriteIOPSDevice[0].Rate != 7 ||
		b.ThrottleReadBpsDevice[0].Major != int64(unix.Major(st.Rdev)) || b.ThrottleReadBpsDevice[0].Minor != int64(unix.Minor(st.Rdev)) {
		t.Fatalf("block I/O %+v", b)
	}
}
