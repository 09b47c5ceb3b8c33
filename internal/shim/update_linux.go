package shim

import (
	"errors"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// update sets the limits in r on the running container, as `runc
// update` does: what r leaves unset keeps its value.
func update(ctr *libcontainer.Container, r *specs.LinuxResources) error {
	if r == nil {
		return errors.New("update: no resources given")
	}
	cfg := ctr.Config()
	setResources(cfg.Cgroups.Resources, r)
	return ctr.Set(cfg)
}

func setResources(c *cgroups.Resources, r *specs.LinuxResources) {
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = *src
		}
	}
	if m := r.Memory; m != nil {
		set(&c.Memory, m.Limit)
		set(&c.MemoryReservation, m.Reservation)
		set(&c.MemorySwap, m.Swap)
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Shares != nil {
			c.CpuShares = *cpu.Shares
		}
		set(&c.CpuQuota, cpu.Quota)
		if cpu.Period != nil {
			c.CpuPeriod = *cpu.Period
		}
		if cpu.Cpus != "" {
			c.CpusetCpus = cpu.Cpus
		}
		if cpu.Mems != "" {
			c.CpusetMems = cpu.Mems
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		l := *p.Limit
		c.PidsLimit = &l
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil {
			c.BlkioWeight = *b.Weight
		}
		c.BlkioWeightDevice = nil
		for _, wd := range b.WeightDevice {
			var w uint16
			if wd.Weight != nil {
				w = *wd.Weight
			}
			c.BlkioWeightDevice = append(c.BlkioWeightDevice, cgroups.NewWeightDevice(wd.Major, wd.Minor, w, 0))
		}
		throttle := func(list []specs.LinuxThrottleDevice) []*cgroups.ThrottleDevice {
			var out []*cgroups.ThrottleDevice
			for _, t := range list {
				out = append(out, cgroups.NewThrottleDevice(t.Major, t.Minor, t.Rate))
			}
			return out
		}
		c.BlkioThrottleReadBpsDevice = throttle(b.ThrottleReadBpsDevice)
		c.BlkioThrottleWriteBpsDevice = throttle(b.ThrottleWriteBpsDevice)
		c.BlkioThrottleReadIOPSDevice = throttle(b.ThrottleReadIOPSDevice)
		c.BlkioThrottleWriteIOPSDevice = throttle(b.ThrottleWriteIOPSDevice)
	}
}
