package volume

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// Command returns `volume` and its verbs.
func Command(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	cmd.AddCommand(newCreate(c), newList(c), newInspect(c), newRemove(c), newPrune(c))
	return cmd
}

func newCreate(c *cli.CLI) *cobra.Command {
	var name, driver string
	var opts, labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" && name != args[0] {
					return cli.StatusError{Code: 1, Status: "conflicting options: either specify --name or provide positional arg, not both"}
				}
				name = args[0]
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := cl.VolumeCreate(cmd.Context(), volume.CreateOptions{Name: name, Driver: driver, DriverOpts: cli.KeyValues(opts), Labels: cli.KeyValues(labels)})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, v.Name)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "Specify volume name")
	fs.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	fs.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	fs.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	return cmd
}

func newList(c *cli.CLI) *cobra.Command {
	var quiet bool
	var format string
	var filter []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := cl.VolumeList(cmd.Context(), volume.ListOptions{Filters: cli.FilterArgs(filter)})
			if err != nil {
				return err
			}
			if quiet {
				for _, v := range resp.Volumes {
					fmt.Fprintln(c.Out, v.Name)
				}
				return nil
			}
			if format == "" {
				format = "table {{.Driver}}\t{{.Name}}"
			}
			out, err := cli.NewFormat(c.Out, format, map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE"})
			if err != nil {
				return err
			}
			for _, v := range resp.Volumes {
				if err := out.Row(map[string]any{"Name": v.Name, "Driver": v.Driver, "Mountpoint": v.Mountpoint, "Scope": v.Scope,
					"Labels": v.Labels, "CreatedAt": v.CreatedAt}); err != nil {
					return err
				}
			}
			return out.Flush()
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	fs.StringVar(&format, "format", "", "Format output using a Go template")
	fs.StringArrayVarP(&filter, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

func newInspect(c *cli.CLI) *cobra.Command {
	return cli.NewInspectCommand(c, "inspect [OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes",
		func(ctx context.Context, cl *client.Client, ref string) (any, []byte, error) {
			return cl.VolumeInspectWithRaw(ctx, ref)
		})
}

func newRemove(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cli.RemoveEach(c, args, func(v string) error { return cl.VolumeRemove(cmd.Context(), v, force) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newPrune(c *cli.CLI) *cobra.Command {
	var force, all bool
	var filter []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			f := cli.FilterArgs(filter)
			if all {
				f.Add("all", "true")
			}
			rep, err := cl.VolumesPrune(cmd.Context(), f)
			if err != nil {
				return err
			}
			if len(rep.VolumesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Volumes:")
				for _, v := range rep.VolumesDeleted {
					fmt.Fprintln(c.Out, v)
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", units.HumanSize(float64(rep.SpaceReclaimed)))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fs.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	fs.StringArrayVar(&filter, "filter", nil, "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}
