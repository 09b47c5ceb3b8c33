package network

import (
	"context"
	"fmt"
	"net"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// Command returns `network` and its verbs.
func Command(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	cmd.AddCommand(newCreate(c), newList(c), newInspect(c), newRemove(c), newPrune(c), newConnect(c), newDisconnect(c))
	return cmd
}

func newCreate(c *cli.CLI) *cobra.Command {
	var driver string
	var subnets, gateways, ipRanges []string
	var internal, attachable, ipv6 bool
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cli.RequiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := network.CreateOptions{Driver: driver, Internal: internal, Attachable: attachable,
				Labels: cli.KeyValues(labels), Options: cli.KeyValues(opts)}
			if cmd.Flags().Changed("ipv6") {
				req.EnableIPv6 = &ipv6
			}
			ipam, err := ipamConfig(subnets, gateways, ipRanges)
			if err != nil {
				return err
			}
			req.IPAM = ipam
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := cl.NetworkCreate(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, resp.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	fs.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment (an IPv4 and, with --ipv6, an IPv6 one)")
	fs.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	fs.StringArrayVar(&ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	fs.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	fs.BoolVar(&attachable, "attachable", false, "Enable manual container attachment")
	fs.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	fs.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	fs.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

// ipamConfig pairs each --gateway and --ip-range with the --subnet that
// contains it, as the docker CLI does.
func ipamConfig(subnets, gateways, ranges []string) (*network.IPAM, error) {
	if len(subnets) == 0 {
		if len(gateways) > 0 || len(ranges) > 0 {
			return nil, cli.StatusError{Code: 125, Status: "every --gateway and --ip-range needs the --subnet it is in"}
		}
		return nil, nil
	}
	ipam := &network.IPAM{}
	nets := make([]*net.IPNet, len(subnets))
	for i, sn := range subnets {
		_, n, err := net.ParseCIDR(sn)
		if err != nil {
			return nil, cli.StatusError{Code: 125, Status: fmt.Sprintf("invalid --subnet %q: %v", sn, err)}
		}
		nets[i] = n
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: sn})
	}
	place := func(what, v string, set func(c *network.IPAMConfig)) error {
		ip := net.ParseIP(v)
		if ip == nil {
			ip, _, _ = net.ParseCIDR(v)
		}
		for i, n := range nets {
			if ip != nil && n.Contains(ip) {
				set(&ipam.Config[i])
				return nil
			}
		}
		return cli.StatusError{Code: 125, Status: fmt.Sprintf("no matching subnet for %s %s", what, v)}
	}
	for _, g := range gateways {
		if err := place("gateway", g, func(c *network.IPAMConfig) { c.Gateway = g }); err != nil {
			return nil, err
		}
	}
	for _, r := range ranges {
		if err := place("range", r, func(c *network.IPAMConfig) { c.IPRange = r }); err != nil {
			return nil, err
		}
	}
	return ipam, nil
}

func newList(c *cli.CLI) *cobra.Command {
	var quiet bool
	var format string
	var filter []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			nets, err := cl.NetworkList(cmd.Context(), network.ListOptions{Filters: cli.FilterArgs(filter)})
			if err != nil {
				return err
			}
			if quiet {
				for _, n := range nets {
					fmt.Fprintln(c.Out, cli.TruncateID(n.ID))
				}
				return nil
			}
			if format == "" {
				format = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
			}
			out, err := cli.NewFormat(c.Out, format, map[string]string{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"})
			if err != nil {
				return err
			}
			for _, n := range nets {
				row := map[string]any{"ID": cli.TruncateID(n.ID), "Name": n.Name, "Driver": n.Driver, "Scope": n.Scope,
					"Internal": n.Internal, "Labels": n.Labels, "CreatedAt": n.Created.String()}
				if err := out.Row(row); err != nil {
					return err
				}
			}
			return out.Flush()
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	fs.StringVar(&format, "format", "", "Format output using a Go template")
	fs.StringArrayVarP(&filter, "filter", "f", nil, "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

func newInspect(c *cli.CLI) *cobra.Command {
	return cli.NewInspectCommand(c, "inspect [OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks",
		func(ctx context.Context, cl *client.Client, ref string) (any, []byte, error) {
			return cl.NetworkInspectWithRaw(ctx, ref, network.InspectOptions{})
		})
}

func newRemove(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cli.RemoveEach(c, args, func(n string) error { return cl.NetworkRemove(cmd.Context(), n) })
		},
	}
}

func newPrune(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := cl.NetworksPrune(cmd.Context(), filters.NewArgs())
			if err != nil {
				return err
			}
			if len(rep.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Networks:")
				for _, n := range rep.NetworksDeleted {
					fmt.Fprintln(c.Out, n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

func newConnect(c *cli.CLI) *cobra.Command {
	var ip, mac string
	var aliases []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cli.RequiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			ep := &network.EndpointSettings{Aliases: aliases, MacAddress: mac}
			if ip != "" {
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
			}
			return cl.NetworkConnect(cmd.Context(), args[0], args[1], ep)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	fs.StringVar(&mac, "mac-address", "", "Container MAC address (e.g., \"92:d0:c6:0a:29:33\")")
	fs.StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	return cmd
}

func newDisconnect(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cli.RequiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cl.NetworkDisconnect(cmd.Context(), args[0], args[1], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}
