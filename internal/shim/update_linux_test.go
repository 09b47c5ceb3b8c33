package shim

import (
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSetResources: an update changes what it sets and keeps the rest,
// as `runc update`.
func TestSetResources(t *testing.T) {
	pids := int64(10)
	c := &cgroups.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, CpuShares: 1024, CpusetCpus: "0", PidsLimit: &pids}
	mem, shares, limit, rate := int64(100<<20), uint64(512), int64(-1), uint64(1<<20)
	setResources(c, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem},
		CPU:    &specs.LinuxCPU{Shares: &shares},
		Pids:   &specs.LinuxPids{Limit: &limit},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: rate}}},
	})
	if c.Memory != 100<<20 || c.MemorySwap != 128<<20 || c.CpuShares != 512 || c.CpusetCpus != "0" || *c.PidsLimit != -1 {
		t.Fatalf("after update: %+v", c)
	}
	if len(c.BlkioThrottleReadBpsDevice) != 1 || c.BlkioThrottleReadBpsDevice[0].String() != "8:0 1048576" {
		t.Fatalf("throttle: %v", c.BlkioThrottleReadBpsDevice)
	}
	if *c.PidsLimit == pids {
		t.Fatal("the pids limit was shared with the update's")
	}
}
