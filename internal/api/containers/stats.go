package containers

import (
	"bufio"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/api/httputil"
	ctr "github.com/berthproject/berth/internal/container"
)

// stats streams (or, with stream=0, sends once) Docker's stats JSON.
func (rt *Router) stats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	stream := r.FormValue("stream") == "" || httputil.BoolValue(r, "stream")
	oneShot := httputil.BoolValue(r, "one-shot")
	var prev *container.StatsResponse
	sample := func() (*container.StatsResponse, error) {
		rec, cs, err := rt.b.Stats(id)
		if err != nil {
			return nil, err
		}
		out := toStats(&rec, cs)
		if prev != nil {
			out.PreRead, out.PreCPUStats = prev.Read, prev.CPUStats
		}
		return out, nil
	}
	first, err := sample()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := httputil.NewFlushWriter(w)
	if !stream && oneShot {
		httputil.WriteJSONBody(fw, first)
		return nil
	}
	prev = first
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(time.Second):
		}
		cur, err := sample()
		if err != nil {
			return nil
		}
		httputil.WriteJSONBody(fw, cur)
		if !stream {
			return nil
		}
		prev = cur
	}
}

func toStats(rec *ctr.Record, cs *cgroups.Stats) *container.StatsResponse {
	out := &container.StatsResponse{Name: rec.Name, ID: rec.ID, Read: time.Now()}
	if cs == nil {
		return out
	}
	out.PidsStats = container.PidsStats{Current: cs.PidsStats.Current, Limit: cs.PidsStats.Limit}
	out.NumProcs = 0
	out.CPUStats = container.CPUStats{
		CPUUsage: container.CPUUsage{TotalUsage: cs.CpuStats.CpuUsage.TotalUsage, PercpuUsage: cs.CpuStats.CpuUsage.PercpuUsage,
			UsageInKernelmode: cs.CpuStats.CpuUsage.UsageInKernelmode, UsageInUsermode: cs.CpuStats.CpuUsage.UsageInUsermode},
		SystemUsage: systemCPUUsage(), OnlineCPUs: uint32(goruntime.NumCPU()),
	}
	limit := cs.MemoryStats.Usage.Limit
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		if total := uint64(si.Totalram) * uint64(si.Unit); limit == 0 || limit > total {
			limit = total
		}
	}
	out.MemoryStats = container.MemoryStats{Usage: cs.MemoryStats.Usage.Usage, MaxUsage: cs.MemoryStats.Usage.MaxUsage,
		Limit: limit, Stats: cs.MemoryStats.Stats, Failcnt: cs.MemoryStats.Usage.Failcnt}
	b := &cs.BlkioStats
	out.BlkioStats = container.BlkioStats{
		IoServiceBytesRecursive: blkio(b.IoServiceBytesRecursive), IoServicedRecursive: blkio(b.IoServicedRecursive),
		IoQueuedRecursive: blkio(b.IoQueuedRecursive), IoServiceTimeRecursive: blkio(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive: blkio(b.IoWaitTimeRecursive), IoMergedRecursive: blkio(b.IoMergedRecursive),
		IoTimeRecursive: blkio(b.IoTimeRecursive), SectorsRecursive: blkio(b.SectorsRecursive),
	}
	return out
}

// blkio converts cgroup block I/O entries; none is [], as Docker sends it.
func blkio(in []cgroups.BlkioStatEntry) []container.BlkioStatEntry {
	out := make([]container.BlkioStatEntry, 0, len(in))
	for _, e := range in {
		out = append(out, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: strings.ToLower(e.Op), Value: e.Value})
	}
	return out
}

// systemCPUUsage is the host's total CPU time in nanoseconds (/proc/stat).
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "cpu" {
			var total uint64
			for _, v := range fields[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				total += n
			}
			return total * 1e9 / 100 // clock ticks (USER_HZ = 100) to ns
		}
	}
	return 0
}
