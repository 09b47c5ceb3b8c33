package container

import (
	"fmt"
	"sort"
	"strings"

	"github.com/docker/go-connections/nat"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// newPortCommand is `port CONTAINER [PRIVATE_PORT[/PROTO]]`, printed as
// docker's.
func newPortCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			ctr, err := cl.ContainerInspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var ports nat.PortMap
			if ctr.NetworkSettings != nil {
				ports = ctr.NetworkSettings.Ports
			}
			if len(args) == 2 {
				proto, port := nat.SplitProtoPort(args[1])
				p, err := nat.NewPort(proto, port)
				if err != nil {
					return err
				}
				bs := ports[p]
				if len(bs) == 0 {
					return cli.StatusError{Status: fmt.Sprintf("Error: No public port '%s' published for %s", p, args[0]), Code: 1}
				}
				for _, b := range bs {
					fmt.Fprintln(c.Out, b.HostIP+":"+b.HostPort)
				}
				return nil
			}
			var lines []string
			for p, bs := range ports {
				for _, b := range bs {
					lines = append(lines, fmt.Sprintf("%s -> %s:%s", p, b.HostIP, b.HostPort))
				}
			}
			sort.Strings(lines)
			if len(lines) > 0 {
				fmt.Fprintln(c.Out, strings.Join(lines, "\n"))
			}
			return nil
		},
	}
}
