package container

import (
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

func newUpdateCommand(c *cli.CLI) *cobra.Command {
	var memory, memorySwap, memoryReservation, cpusetCpus, cpusetMems, restart string
	var cpus float64
	var cpuShares, cpuPeriod, cpuQuota, pidsLimit int64
	var blkioWeight uint16
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			var u container.UpdateConfig
			r := &u.Resources
			for _, x := range []struct {
				flag, val string
				out       *int64
			}{{"memory", memory, &r.Memory}, {"memory-swap", memorySwap, &r.MemorySwap}, {"memory-reservation", memoryReservation, &r.MemoryReservation}} {
				if x.val == "-1" && x.flag == "memory-swap" {
					*x.out = -1
				} else if x.val != "" {
					n, err := units.RAMInBytes(x.val)
					if err != nil {
						return flagError(x.flag, x.val, err)
					}
					*x.out = n
				}
			}
			r.NanoCPUs = int64(cpus * 1e9)
			r.CPUShares, r.CPUPeriod, r.CPUQuota, r.BlkioWeight = cpuShares, cpuPeriod, cpuQuota, blkioWeight
			r.CpusetCpus, r.CpusetMems = cpusetCpus, cpusetMems
			if fs.Changed("pids-limit") {
				r.PidsLimit = &pidsLimit
			}
			if fs.Changed("restart") {
				rp, err := parseRestart(restart)
				if err != nil {
					return err
				}
				u.RestartPolicy = rp
			}
			if fs.NFlag() == 0 {
				return cli.StatusError{Status: "you must provide one or more flags when using this command", Code: 1}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var failed bool
			for _, id := range args {
				resp, err := cl.ContainerUpdate(cmd.Context(), id, u)
				if err != nil {
					fmt.Fprintln(c.Err, err)
					failed = true
					continue
				}
				for _, w := range resp.Warnings {
					fmt.Fprintln(c.Err, "WARNING:", w)
				}
				fmt.Fprintln(c.Out, id)
			}
			if failed {
				return cli.StatusError{Code: 1}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.StringVar(&memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.Float64Var(&cpus, "cpus", 0, "Number of CPUs")
	fs.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.Uint16Var(&blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fs.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}
