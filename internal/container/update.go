package container

import (
	"fmt"
	"reflect"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/internal/spec"
)

// updatable are the Resources fields `update` changes (what `docker
// update` has flags for); a non-zero value replaces the container's.
// Any other field set in an update is refused, not dropped.
var updatable = map[string]bool{
	"CPUShares": true, "Memory": true, "NanoCPUs": true, "CPUPeriod": true, "CPUQuota": true,
	"CpusetCpus": true, "CpusetMems": true, "MemoryReservation": true, "MemorySwap": true,
	"PidsLimit": true, "BlkioWeight": true,
}

// Update changes a container's limits and restart policy, as `docker
// update`: on its cgroup at once if it runs, and in its record for its
// next starts. Nothing is recorded if the running container refused them.
func (s *Service) Update(ref string, u container.UpdateConfig) ([]string, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	if err := checkUpdatable(&u.Resources); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.rec
	if e.removing || e.removed || rec.State.Status == "removing" || rec.State.Status == "dead" {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot update container %s: container is marked for removal and cannot be \"update\"", rec.ID))
	}
	hc := *rec.HostConfig
	if err := mergeResources(&hc.Resources, &u.Resources); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Cannot update container %s: %v", rec.ID, err))
	}
	if u.RestartPolicy.Name != "" {
		if hc.AutoRemove && u.RestartPolicy.Name != "no" {
			return nil, errdefs.ErrInvalidArgument.WithMessage("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		hc.RestartPolicy = u.RestartPolicy
	}
	if err := validateHostConfig(&hc); err != nil {
		return nil, err
	}
	if err := s.checkHostSupport(&hc.Resources); err != nil {
		return nil, err
	}
	if rec.Running() {
		res, err := spec.LimitResources(&hc.Resources)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
		if p := hc.PidsLimit; p != nil && *p <= 0 {
			unlimited := int64(-1)
			res.Pids = &specs.LinuxPids{Limit: &unlimited}
		}
		if err := s.rt.Task(rec.ID).Update(res); err != nil {
			if errdefs.IsNotImplemented(err) {
				return nil, err
			}
			return nil, errdefs.ErrUnknown.WithMessage(fmt.Sprintf("Cannot update container %s: %v", rec.ID, err))
		}
	}
	e.rec.HostConfig = &hc
	if err := s.persist(&e.rec); err != nil {
		return nil, err
	}
	s.event(&e.rec, "update", nil)
	return nil, nil
}

// checkUpdatable refuses an update that sets a field `update` does not
// change (Docker would drop it silently).
func checkUpdatable(r *container.Resources) error {
	v := reflect.ValueOf(r).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if f := v.Field(i); !updatable[name] && !f.IsZero() && !isEmptyCollection(f) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: updating %s of a container is not supported (only its CPU, memory, pids and block I/O weight limits, and its restart policy)", name))
		}
	}
	return nil
}

// mergeResources applies an update's non-zero limits to cur, with
// Docker's checks of what they conflict with.
func mergeResources(cur, u *container.Resources) error {
	if u.NanoCPUs > 0 && (cur.CPUQuota > 0 || cur.CPUPeriod > 0) && u.CPUQuota == 0 && u.CPUPeriod == 0 {
		return fmt.Errorf("Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set")
	}
	if (u.CPUQuota > 0 || u.CPUPeriod > 0) && cur.NanoCPUs > 0 && u.NanoCPUs == 0 {
		return fmt.Errorf("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if u.Memory > 0 && u.MemorySwap == 0 && cur.MemorySwap > 0 && u.Memory > cur.MemorySwap {
		return fmt.Errorf("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	if u.BlkioWeight > 0 {
		cur.BlkioWeight = u.BlkioWeight
	}
	if u.CPUShares > 0 {
		cur.CPUShares = u.CPUShares
	}
	if u.CPUPeriod > 0 {
		cur.CPUPeriod = u.CPUPeriod
	}
	if u.CPUQuota > 0 {
		cur.CPUQuota = u.CPUQuota
	}
	if u.NanoCPUs > 0 {
		cur.NanoCPUs = u.NanoCPUs
	}
	if u.CpusetCpus != "" {
		cur.CpusetCpus = u.CpusetCpus
	}
	if u.CpusetMems != "" {
		cur.CpusetMems = u.CpusetMems
	}
	if u.Memory > 0 {
		cur.Memory = u.Memory
	}
	if u.MemorySwap != 0 {
		cur.MemorySwap = u.MemorySwap
	}
	if u.MemoryReservation > 0 {
		cur.MemoryReservation = u.MemoryReservation
	}
	if u.PidsLimit != nil {
		l := *u.PidsLimit
		cur.PidsLimit = &l
	}
	return nil
}
