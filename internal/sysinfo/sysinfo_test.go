package sysinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func touch(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("max memory cpu pids\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestProbeCgroups(t *testing.T) {
	for _, tc := range []struct {
		name    string
		unified bool
		files   []string
		ctl     string // v2 root controllers
		want    Cgroups
	}{
		{name: "v1 full", files: []string{"memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes",
			"memory/memory.soft_limit_in_bytes", "memory/memory.oom_control", "memory/memory.kmem.limit_in_bytes",
			"cpu/cpu.cfs_period_us", "cpu/cpu.cfs_quota_us", "cpu/cpu.shares", "cpuset/cpuset.cpus", "cpuset/cpuset.mems",
			"pids/pids.max", "blkio/blkio.weight"},
			want: Cgroups{MemoryLimit: true, SwapLimit: true, MemoryReservation: true, OomKillDisable: true, KernelMemory: true,
				CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true, BlkioWeight: true}},
		{name: "v1 without swap accounting or cpuset mems", files: []string{"memory/memory.limit_in_bytes", "cpu/cpu.shares", "cpuset/cpuset.cpus"},
			want: Cgroups{MemoryLimit: true, CPUShares: true}},
		{name: "v1 nothing mounted", want: Cgroups{}},
		{name: "v2", unified: true, ctl: "cpuset cpu io memory hugetlb pids rdma misc",
			want: Cgroups{MemoryLimit: true, SwapLimit: true, MemoryReservation: true, CPUCfsPeriod: true, CPUCfsQuota: true,
				CPUShares: true, CPUSet: true, PidsLimit: true, BlkioWeight: true}},
		{name: "v2 memory only", unified: true, ctl: "memory",
			want: Cgroups{MemoryLimit: true, SwapLimit: true, MemoryReservation: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			touch(t, root, tc.files...)
			if tc.unified {
				if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte(tc.ctl+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := ProbeCgroups(root, tc.unified); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	w := Cgroups{MemoryLimit: true, CPUCfsQuota: true, CPUCfsPeriod: true, CPUShares: true, CPUSet: true}.Warnings()
	if len(w) != 1 || w[0] != "WARNING: No swap limit support" {
		t.Fatalf("warnings %q", w)
	}
}
