package container

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// Commands returns the container commands (top-level and `container` group).
func Commands(c *cli.CLI) []*cobra.Command {
	return []*cobra.Command{
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newPsCommand(c), newLogsCommand(c),
		newWaitCommand(c), newStopCommand(c, "stop"), newStopCommand(c, "restart"), newKillCommand(c),
		newRmCommand(c), newExecCommand(c), newAttachCommand(c), newTopCommand(c), newRenameCommand(c), newUpdateCommand(c), newPortCommand(c),
		newStatsCommand(c), newCpCommand(c), newDiffCommand(c), newExportCommand(c),
		newSimpleCommand(c, "pause", "Pause all processes within one or more containers", func(ctx context.Context, cl *client.Client, id string) error {
			return cl.ContainerPause(ctx, id)
		}),
		newSimpleCommand(c, "unpause", "Unpause all processes within one or more containers", func(ctx context.Context, cl *client.Client, id string) error {
			return cl.ContainerUnpause(ctx, id)
		}),
	}
}

// GroupCommands are the commands that exist only under `container`.
func GroupCommands(c *cli.CLI) []*cobra.Command {
	var force bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := cl.ContainersPrune(cmd.Context(), filters.NewArgs())
			if err != nil {
				return err
			}
			if len(rep.ContainersDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Containers:")
				for _, id := range rep.ContainersDeleted {
					fmt.Fprintln(c.Out, id)
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintln(c.Out, "Total reclaimed space: 0B")
			return nil
		},
	}
	prune.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return []*cobra.Command{prune}
}
