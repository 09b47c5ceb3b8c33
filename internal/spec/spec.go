package spec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities is Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// AllCapabilities is every capability Linux knows, indexed by its number.
var AllCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// CapabilitiesFromMask names the capabilities set in a CapBnd-style mask.
func CapabilitiesFromMask(mask uint64) []string {
	var out []string
	for i, c := range AllCapabilities {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// MaskedPaths and ReadonlyPaths are Docker's defaults.
var (
	MaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// Input is everything Generate needs; the caller resolves names (user,
// paths) before calling.
type Input struct {
	Config     *container.Config
	HostConfig *container.HostConfig
	Rootfs     string   // mounted root filesystem
	Args       []string // entrypoint + cmd, already merged
	Env        []string // image env merged with the container's
	UID, GID   uint32
	Groups     []uint32
	// Files bind-mounted over the image's: /etc/hosts, /etc/hostname,
	// /etc/resolv.conf → host paths. Absent keys are not mounted.
	EtcFiles map[string]string
	// CgroupsPath is the container's cgroup ("/berth/<id>" by default).
	CgroupsPath string
	// InitBinary is the host path of a static init to mount at InitPath
	// and run in front of Args when HostConfig.Init is set.
	InitBinary, InitPath string
	// HostCapabilities are the capabilities the engine itself holds: what
	// --privileged and --cap-add ALL grant. Nil means all of them.
	HostCapabilities []string
	// JoinNamespaces are namespaces to enter rather than make (the
	// /proc/PID/ns/... of the container --pid or --ipc container: names).
	JoinNamespaces map[specs.LinuxNamespaceType]string
	// ShmPath is a /dev/shm to bind instead of a tmpfs of its own (the one
	// of the container --ipc container: names).
	ShmPath string
	// Mounts are the user's (-v, --mount), checked and in order; a mount
	// on one of EtcFiles' destinations replaces berth's file.
	Mounts []specs.Mount
	// RootfsPropagation is what shared or slave mounts need of the root
	// ("rshared", "rslave"; "": runc's default).
	RootfsPropagation string
}

// Generate builds the OCI spec for one container.
func Generate(in Input) (*specs.Spec, error) {
	cfg, hc := in.Config, in.HostConfig
	if len(in.Args) == 0 {
		return nil, fmt.Errorf("no command specified")
	}
	args := in.Args
	if hc.Init != nil && *hc.Init {
		if in.InitBinary == "" {
			return nil, fmt.Errorf("--init needs a statically linked berth binary (build it with `make`)")
		}
		args = append([]string{in.InitPath, "--"}, args...)
	}
	sec, err := ParseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	res, err := LimitResources(&hc.Resources)
	if err != nil {
		return nil, err
	}
	hostname := cfg.Hostname
	if hc.UTSMode.IsHost() {
		hostname = "" // the host's: no UTS namespace to name
	}
	s := &specs.Spec{
		Version:    specs.Version,
		Root:       &specs.Root{Path: in.Rootfs, Readonly: hc.ReadonlyRootfs},
		Hostname:   hostname,
		Domainname: cfg.Domainname, // the NIS domain name, as Docker sets it
		Process: &specs.Process{
			Terminal:        cfg.Tty,
			Args:            args,
			Env:             in.Env,
			Cwd:             cwd,
			User:            specs.User{UID: in.UID, GID: in.GID, AdditionalGids: in.Groups},
			NoNewPrivileges: sec.NoNewPrivileges,
			OOMScoreAdj:     intPtr(hc.OomScoreAdj),
		},
		Mounts: defaultMounts(hc, in.ShmPath),
		Linux: &specs.Linux{
			CgroupsPath: in.CgroupsPath,
			Namespaces:  namespaces(hc, in.JoinNamespaces),
			Resources:   res,
			Sysctl:      hc.Sysctls,
		},
	}
	if len(hc.Annotations) > 0 {
		s.Annotations = hc.Annotations // as Docker: into the OCI spec
	}
	if hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		s.Process.ConsoleSize = &specs.Box{Height: uint(hc.ConsoleSize[0]), Width: uint(hc.ConsoleSize[1])}
	}
	user := map[string]bool{}
	for _, m := range in.Mounts {
		user[m.Destination] = true
	}
	for _, dst := range []string{"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"} {
		if src, ok := in.EtcFiles[dst]; ok && !user[dst] {
			opts := []string{"rbind", "rprivate"}
			if hc.ReadonlyRootfs {
				opts = append(opts, "ro")
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: opts})
		}
	}
	if hc.Init != nil && *hc.Init {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: in.InitPath, Type: "bind", Source: in.InitBinary, Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}
	for _, t := range sortedKeys(hc.Tmpfs) {
		opts := []string{"nosuid", "nodev", "noexec"}
		if o := hc.Tmpfs[t]; o != "" {
			opts = append(opts, strings.Split(o, ",")...)
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: t, Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	s.Mounts = append(s.Mounts, in.Mounts...)
	s.Linux.RootfsPropagation = in.RootfsPropagation
	rl, err := rlimits(hc.Ulimits)
	if err != nil {
		return nil, err
	}
	s.Process.Rlimits = rl
	caps, err := capabilities(hc, in.HostCapabilities)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	if err := addDevices(s, hc); err != nil {
		return nil, err
	}
	if hc.Privileged {
		for i := range s.Mounts {
			if s.Mounts[i].Destination == "/sys" || s.Mounts[i].Destination == "/sys/fs/cgroup" {
				s.Mounts[i].Options = replace(s.Mounts[i].Options, "ro", "rw")
			}
		}
	} else {
		if !sec.SystemPathsUnconfined {
			s.Linux.MaskedPaths = MaskedPaths
			s.Linux.ReadonlyPaths = ReadonlyPaths
			if hc.MaskedPaths != nil {
				s.Linux.MaskedPaths = hc.MaskedPaths
			}
			if hc.ReadonlyPaths != nil {
				s.Linux.ReadonlyPaths = hc.ReadonlyPaths
			}
		}
		switch sec.Seccomp {
		case "unconfined":
		case "":
			sc, err := seccomp.GetDefaultProfile(s)
			if err != nil {
				return nil, fmt.Errorf("seccomp profile: %w", err)
			}
			s.Linux.Seccomp = withoutX32(sc)
		default: // a profile in Docker's format
			sc, err := seccomp.LoadProfile(sec.Seccomp, s)
			if err != nil {
				return nil, fmt.Errorf("Decoding seccomp profile failed: %w", err)
			}
			s.Linux.Seccomp = sc
		}
	}
	return s, nil
}

// withoutX32 drops the x32 ABI from the profile's architectures, and
// libseccomp compiles the filter at every container start ~8 ms (about
// 40%) faster. An x32 syscall is then libseccomp's "bad architecture":
// the thread that makes it is killed (SIGSYS), where Docker's profile
// lets the kernel answer it, which on a kernel without x32 (Debian's, and
// most distributions') is ENOSYS. x32 is almost unused; measured with
// x32 getpid under libcontainer's InitSeccomp, 2026-12. i386
// (SCMP_ARCH_X86) stays: 32-bit images are real.
func withoutX32(sc *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	arches := sc.Architectures[:0]
	for _, a := range sc.Architectures {
		if a != specs.ArchX32 {
			arches = append(arches, a)
		}
	}
	sc.Architectures = arches
	return sc
}

func intPtr(i int) *int {
	if i == 0 {
		return nil
	}
	return &i
}

func replace(list []string, old, repl string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		if v == old {
			v = repl
		}
		out[i] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func defaultMounts(hc *container.HostConfig, shmPath string) []specs.Mount {
	shmSize := "67108864"
	if hc.ShmSize > 0 {
		shmSize = fmt.Sprint(hc.ShmSize)
	}
	shm := specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + shmSize}}
	if shmPath != "" {
		shm = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: shmPath, Options: []string{"rbind", "rprivate"}}
	}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}
	if !hc.IpcMode.IsNone() { // --ipc none: no /dev/shm at all, as Docker
		mounts = append(mounts, shm)
	}
	return mounts
}

// namespaces are the container's: its own of each kind, none for a
// "host" mode, the path in joins for a "container:" one.
func namespaces(hc *container.HostConfig, joins map[specs.LinuxNamespaceType]string) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if !hc.UTSMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
	if !hc.IpcMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: joins[specs.IPCNamespace]})
	}
	if !hc.PidMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: joins[specs.PIDNamespace]})
	}
	if !hc.NetworkMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: joins[specs.NetworkNamespace]})
	}
	if !hc.CgroupnsMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return ns
}

// addDevices gives the container --device's nodes, --device-cgroup-rule's
// access and, with --privileged, every host device.
func addDevices(s *specs.Spec, hc *container.HostConfig) error {
	r := s.Linux.Resources
	r.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	if hc.Privileged {
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		devs, err := hostDevices()
		if err != nil {
			return err
		}
		s.Linux.Devices = devs
		return nil
	}
	for _, d := range hc.Devices {
		devs, rules, err := DevicesFromPath(d.PathOnHost, d.PathInContainer, d.CgroupPermissions)
		if err != nil {
			return err
		}
		s.Linux.Devices = append(s.Linux.Devices, devs...)
		r.Devices = append(r.Devices, rules...)
	}
	for _, rule := range hc.DeviceCgroupRules {
		dr, err := ParseDeviceCgroupRule(rule)
		if err != nil {
			return err
		}
		r.Devices = append(r.Devices, dr)
	}
	return nil
}

// LimitResources are the cgroup limits of r: memory, CPU, pids, block I/O
// (not devices). `update` applies them to a running container too.
func LimitResources(hc *container.Resources) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if hc.OomKillDisable != nil && *hc.OomKillDisable {
		r.Memory = &specs.LinuxMemory{DisableOOMKiller: hc.OomKillDisable}
	}
	if hc.Memory > 0 || hc.MemorySwap != 0 || hc.MemoryReservation > 0 {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		if hc.Memory > 0 {
			r.Memory.Limit = &hc.Memory
		}
		if hc.MemorySwap != 0 {
			r.Memory.Swap = &hc.MemorySwap
		} else if hc.Memory > 0 {
			// Docker's default: swap equal to memory (memory+swap = 2x).
			sw := hc.Memory * 2
			r.Memory.Swap = &sw
		}
		if hc.MemoryReservation > 0 {
			r.Memory.Reservation = &hc.MemoryReservation
		}
	}
	if hc.NanoCPUs > 0 || hc.CPUShares > 0 || hc.CpusetCpus != "" || hc.CpusetMems != "" || hc.CPUQuota > 0 || hc.CPUPeriod > 0 {
		r.CPU = &specs.LinuxCPU{Cpus: hc.CpusetCpus, Mems: hc.CpusetMems}
		if hc.CPUShares > 0 {
			sh := uint64(hc.CPUShares)
			r.CPU.Shares = &sh
		}
		if hc.NanoCPUs > 0 {
			period := uint64(100000)
			quota := hc.NanoCPUs * int64(period) / 1e9
			r.CPU.Period, r.CPU.Quota = &period, &quota
		} else {
			if hc.CPUQuota > 0 {
				q := hc.CPUQuota
				r.CPU.Quota = &q
			}
			if hc.CPUPeriod > 0 {
				p := uint64(hc.CPUPeriod)
				r.CPU.Period = &p
			}
		}
	}
	if hc.PidsLimit != nil && *hc.PidsLimit != 0 {
		l := *hc.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &l}
	}
	bio, err := blockIO(hc)
	if err != nil {
		return nil, err
	}
	r.BlockIO = bio
	return r, nil
}

var rlimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
	"nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
	"rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
	"stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

func rlimits(ulimits []*container.Ulimit) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	for _, u := range ulimits {
		name, ok := rlimitNames[u.Name]
		if !ok {
			return nil, fmt.Errorf("invalid ulimit type: %s", u.Name)
		}
		out = append(out, specs.POSIXRlimit{Type: name, Hard: uint64(u.Hard), Soft: uint64(u.Soft)})
	}
	return out, nil
}

// capabilities applies --privileged, --cap-add and --cap-drop to the
// default set, as Docker does ("ALL" allowed in both, drop wins for a
// capability named in both).
func capabilities(hc *container.HostConfig, host []string) ([]string, error) {
	if host == nil {
		host = AllCapabilities
	}
	if hc.Privileged {
		return host, nil
	}
	norm := func(c string) (string, error) {
		c = strings.ToUpper(c)
		if c == "ALL" {
			return c, nil
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		for _, k := range AllCapabilities {
			if k == c {
				return c, nil
			}
		}
		return "", fmt.Errorf("invalid capability: %s", c)
	}
	set := map[string]bool{}
	for _, c := range DefaultCapabilities {
		set[c] = true
	}
	for _, c := range hc.CapAdd {
		n, err := norm(c)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			for _, k := range host {
				set[k] = true
			}
		} else {
			set[n] = true
		}
	}
	for _, c := range hc.CapDrop {
		n, err := norm(c)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			set = map[string]bool{}
			for _, a := range hc.CapAdd {
				if an, _ := norm(a); an != "ALL" {
					set[an] = true
				}
			}
		} else {
			delete(set, n)
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}
