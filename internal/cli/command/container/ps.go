package container

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// psRow is what ps templates see (docker's field names).
type psRow struct {
	s     container.Summary
	trunc bool
}

func (r psRow) ID() string {
	if r.trunc {
		return cli.TruncateID(r.s.ID)
	}
	return r.s.ID
}
func (r psRow) Image() string { return r.s.Image }
func (r psRow) Command() string {
	c := strconv.Quote(r.s.Command)
	if r.trunc && len(r.s.Command) > 20 {
		c = strconv.Quote(r.s.Command[:19] + "…")
	}
	return c
}
func (r psRow) CreatedAt() string { return time.Unix(r.s.Created, 0).String() }
func (r psRow) RunningFor() string {
	return units.HumanDuration(time.Since(time.Unix(r.s.Created, 0))) + " ago"
}
func (r psRow) Status() string { return r.s.Status }
func (r psRow) State() string  { return string(r.s.State) }

// Ports prints the container's ports as docker ps: published ones as
// IP:PUBLIC->PRIVATE/PROTO, exposed ones as PRIVATE/PROTO, sorted.
func (r psRow) Ports() string {
	ps := append([]container.Port(nil), r.s.Ports...)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].PrivatePort != ps[j].PrivatePort {
			return ps[i].PrivatePort < ps[j].PrivatePort
		}
		return ps[i].PublicPort < ps[j].PublicPort
	})
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.PublicPort != 0 {
			out = append(out, fmt.Sprintf("%s:%d->%d/%s", p.IP, p.PublicPort, p.PrivatePort, p.Type))
		} else {
			out = append(out, fmt.Sprintf("%d/%s", p.PrivatePort, p.Type))
		}
	}
	return strings.Join(out, ", ")
}
func (r psRow) Names() string {
	var n []string
	for _, name := range r.s.Names {
		n = append(n, strings.TrimPrefix(name, "/"))
	}
	return strings.Join(n, ",")
}
func (r psRow) Labels() string {
	var l []string
	for k, v := range r.s.Labels {
		l = append(l, k+"="+v)
	}
	return strings.Join(l, ",")
}
func (r psRow) Label(k string) string { return r.s.Labels[k] }
func (r psRow) Networks() string {
	var n []string
	if r.s.NetworkSettings != nil {
		for k := range r.s.NetworkSettings.Networks {
			n = append(n, k)
		}
	}
	return strings.Join(n, ",")
}
func (r psRow) Mounts() string { return "" }
func (r psRow) Size() string   { return "0B" }

// MarshalJSON makes {{json .}} print the row as docker does.
func (r psRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"ID": r.ID(), "Image": r.Image(), "Command": r.Command(), "CreatedAt": r.CreatedAt(),
		"RunningFor": r.RunningFor(), "Status": r.Status(), "State": r.State(), "Ports": r.Ports(), "Names": r.Names(),
		"Labels": r.Labels(), "Networks": r.Networks(), "Mounts": r.Mounts(), "Size": r.Size()})
}

var psHeader = map[string]string{"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS",
	"Networks": "NETWORKS", "Mounts": "MOUNTS", "Size": "SIZE"}

const psDefault = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

func newPsCommand(c *cli.CLI) *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var last int
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:     "ps [OPTIONS]",
		Aliases: []string{"list", "ls"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			f := filters.NewArgs()
			for _, fa := range filterArgs {
				k, v, ok := strings.Cut(fa, "=")
				if !ok {
					return cli.StatusError{Status: fmt.Sprintf("bad format of filter (expected name=value)"), Code: 125}
				}
				f.Add(strings.ToLower(k), v)
			}
			if latest {
				last = 1
			}
			list, err := cl.ContainerList(cmd.Context(), container.ListOptions{All: all, Limit: last, Filters: f})
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.ID}}"
			}
			if format == "" {
				format = psDefault
			}
			out, err := cli.NewFormat(c.Out, format, psHeader)
			if err != nil {
				return err
			}
			for _, s := range list {
				if err := out.Row(psRow{s: s, trunc: !noTrunc}); err != nil {
					return err
				}
			}
			return out.Flush()
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	fs.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVarP(&latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fs.IntVarP(&last, "last", "n", -1, "Show n last created containers (includes all states)")
	fs.StringVar(&format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&filterArgs, "filter", "f", nil, "Filter output based on conditions provided")
	fs.BoolP("size", "s", false, "Display total file sizes")
	return cmd
}

func newStatsCommand(c *cli.CLI) *cobra.Command {
	var noStream, all bool
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				list, err := cl.ContainerList(ctx, container.ListOptions{All: all})
				if err != nil {
					return err
				}
				for _, s := range list {
					args = append(args, s.ID[:12])
				}
			}
			for {
				rows := make([]string, len(args))
				var wg sync.WaitGroup
				for i, id := range args {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rows[i] = statsRow(cmd, c, id)
					}()
				}
				wg.Wait()
				w := cli.NewTable(c.Out)
				if !noStream {
					fmt.Fprint(c.Out, "\033[2J\033[H")
				}
				fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
				for _, r := range rows {
					fmt.Fprintln(w, r)
				}
				w.Flush()
				if noStream {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	return cmd
}

func statsRow(cmd *cobra.Command, c *cli.CLI, id string) string {
	cl, _ := c.Client(cmd.Context())
	resp, err := cl.ContainerStats(cmd.Context(), id, false)
	if err != nil {
		return id + "\t--\t--\t--\t--\t--\t--\t--"
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return id + "\t--\t--\t--\t--\t--\t--\t--"
	}
	cpu := 0.0
	cpuDelta := float64(st.CPUStats.CPUUsage.TotalUsage) - float64(st.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(st.CPUStats.SystemUsage) - float64(st.PreCPUStats.SystemUsage)
	if cpuDelta > 0 && sysDelta > 0 {
		cpu = cpuDelta / sysDelta * float64(st.CPUStats.OnlineCPUs) * 100
	}
	mem := st.MemoryStats.Usage
	if v, ok := st.MemoryStats.Stats["total_inactive_file"]; ok && v < mem {
		mem -= v
	} else if v, ok := st.MemoryStats.Stats["inactive_file"]; ok && v < mem {
		mem -= v
	}
	memPct := 0.0
	if st.MemoryStats.Limit > 0 {
		memPct = float64(mem) / float64(st.MemoryStats.Limit) * 100
	}
	var rd, wr uint64
	for _, e := range st.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += e.Value
		case "write":
			wr += e.Value
		}
	}
	return fmt.Sprintf("%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%s / %s\t%d", cli.TruncateID(st.ID), strings.TrimPrefix(st.Name, "/"), cpu,
		units.BytesSize(float64(mem)), units.BytesSize(float64(st.MemoryStats.Limit)), memPct,
		units.HumanSizeWithPrecision(0, 3), units.HumanSizeWithPrecision(0, 3),
		units.HumanSizeWithPrecision(float64(rd), 3), units.HumanSizeWithPrecision(float64(wr), 3), st.PidsStats.Current)
}
