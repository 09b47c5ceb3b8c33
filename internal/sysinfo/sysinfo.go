package sysinfo

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroups is what the cgroup file systems let a container be limited by.
type Cgroups struct {
	MemoryLimit, SwapLimit, MemoryReservation, OomKillDisable bool
	KernelMemory, KernelMemoryTCP                             bool
	CPUCfsPeriod, CPUCfsQuota, CPUShares, CPUSet              bool
	PidsLimit, BlkioWeight                                    bool
}

// ProbeCgroups reads the cgroup mounts under root (/sys/fs/cgroup). With
// unified (cgroup v2 only), the root group's controllers decide, as in
// Docker: v2 has no OOM-kill disabling and no kernel memory limits.
// Otherwise the v1 hierarchies' files do (on a hybrid host too, where
// containers get v1 controllers).
func ProbeCgroups(root string, unified bool) Cgroups {
	var c Cgroups
	if unified {
		b, _ := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		for _, ctl := range strings.Fields(string(b)) {
			switch ctl {
			case "memory":
				c.MemoryLimit, c.SwapLimit, c.MemoryReservation = true, true, true
			case "cpu":
				c.CPUCfsPeriod, c.CPUCfsQuota, c.CPUShares = true, true, true
			case "cpuset":
				c.CPUSet = true
			case "pids":
				c.PidsLimit = true
			case "io":
				c.BlkioWeight = true
			}
		}
		return c
	}
	has := func(hierarchy, file string) bool {
		_, err := os.Stat(filepath.Join(root, hierarchy, file))
		return err == nil
	}
	c.MemoryLimit = has("memory", "memory.limit_in_bytes")
	c.SwapLimit = has("memory", "memory.memsw.limit_in_bytes")
	c.MemoryReservation = has("memory", "memory.soft_limit_in_bytes")
	c.OomKillDisable = has("memory", "memory.oom_control")
	c.KernelMemory = has("memory", "memory.kmem.limit_in_bytes")
	c.KernelMemoryTCP = has("memory", "memory.kmem.tcp.limit_in_bytes")
	c.CPUCfsPeriod = has("cpu", "cpu.cfs_period_us")
	c.CPUCfsQuota = has("cpu", "cpu.cfs_quota_us")
	c.CPUShares = has("cpu", "cpu.shares")
	c.CPUSet = has("cpuset", "cpuset.cpus") && has("cpuset", "cpuset.mems")
	c.PidsLimit = has("pids", "pids.max") || has("pids", "cgroup.procs")
	c.BlkioWeight = has("blkio", "blkio.weight") || has("blkio", "blkio.bfq.weight")
	return c
}

// Warnings are Docker's /info warnings for what c lacks.
func (c Cgroups) Warnings() []string {
	var w []string
	for _, x := range []struct {
		ok   bool
		what string
	}{
		{c.MemoryLimit, "No memory limit support"},
		{c.SwapLimit, "No swap limit support"},
		{c.CPUCfsQuota, "No cpu cfs quota support"},
		{c.CPUCfsPeriod, "No cpu cfs period support"},
		{c.CPUShares, "No cpu shares support"},
		{c.CPUSet, "No cpuset support"},
	} {
		if !x.ok {
			w = append(w, "WARNING: "+x.what)
		}
	}
	return w
}

// IPv4Forwarding reports whether the kernel forwards IPv4 packets.
func IPv4Forwarding() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// BackingFS names the file system dir is on, as Docker's DriverStatus
// does ("extfs", "xfs", "tmpfs", ...).
func BackingFS(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "<unknown>"
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs"
	}
	return "<unknown>"
}
