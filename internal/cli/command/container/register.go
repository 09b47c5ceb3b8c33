package container

import (
	"context"

	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// Commands returns the container commands (top-level and `container` group).
func Commands(c *cli.CLI) []*cobra.Command {
	return []*cobra.Command{
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newPsCommand(c), newLogsCommand(c),
		newWaitCommand(c), newStopCommand(c, "stop"), newStopCommand(c, "restart"), newKillCommand(c),
		newRmCommand(c), newExecCommand(c), newAttachCommand(c), newTopCommand(c), newRenameCommand(c),
		newStatsCommand(c),
		newSimpleCommand(c, "pause", "Pause all processes within one or more containers", func(ctx context.Context, cl *client.Client, id string) error {
			return cl.ContainerPause(ctx, id)
		}),
		newSimpleCommand(c, "unpause", "Unpause all processes within one or more containers", func(ctx context.Context, cl *client.Client, id string) error {
			return cl.ContainerUnpause(ctx, id)
		}),
	}
}
