package system

import (
	"encoding/json"
	"fmt"
	"io"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

func newVersionCommand(c *cli.CLI, clientVersion string) *cobra.Command {
	var format string
	return &cobra.Command{
		Use:   "version",
		Short: "Show the berth version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(c.Out, "Client:\n Version:    %s\n Go version: %s\n OS/Arch:    %s/%s\n\n", clientVersion, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := cl.ServerVersion(cmd.Context())
			if err != nil {
				return err
			}
			_ = format
			fmt.Fprintf(c.Out, "Server:\n Engine:\n  Version:      %s\n  API version:  %s (minimum version %s)\n  Go version:   %s\n  OS/Arch:      %s/%s\n  Kernel:       %s\n",
				v.Version, v.APIVersion, v.MinAPIVersion, v.GoVersion, v.Os, v.Arch, v.KernelVersion)
			return nil
		},
	}
}

func newInfoCommand(c *cli.CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			info, err := cl.Info(cmd.Context())
			if err != nil {
				return err
			}
			if format != "" {
				f, err := cli.NewFormat(c.Out, format, nil)
				if err != nil {
					return err
				}
				return f.Row(info)
			}
			fmt.Fprintf(c.Out, "Server:\n Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n Images: %d\n Server Version: %s\n Storage Driver: %s\n Logging Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n Live Restore Enabled: %v\n Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %d\n Total Memory: %.2fGiB\n Name: %s\n ID: %s\n Docker Root Dir: %s\n",
				info.Containers, info.ContainersRunning, info.ContainersPaused, info.ContainersStopped, info.Images,
				info.ServerVersion, info.Driver, info.LoggingDriver, info.CgroupDriver, info.CgroupVersion, info.LiveRestoreEnabled,
				info.KernelVersion, info.OperatingSystem, info.OSType, info.Architecture, info.NCPU,
				float64(info.MemTotal)/(1<<30), info.Name, info.ID, info.DockerRootDir)
			for _, kv := range info.SystemStatus {
				fmt.Fprintf(c.Out, " %s: %s\n", kv[0], kv[1])
			}
			for _, w := range info.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newEventsCommand(c *cli.CLI) *cobra.Command {
	var since, until, format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			f := filters.NewArgs()
			for _, fa := range filterArgs {
				k, v, _ := strings.Cut(fa, "=")
				f.Add(k, v)
			}
			msgs, errs := cl.Events(cmd.Context(), events.ListOptions{Since: since, Until: until, Filters: f})
			for {
				select {
				case m := <-msgs:
					if format != "" {
						b, _ := json.Marshal(m)
						if format == "{{json .}}" || format == "json" {
							fmt.Fprintln(c.Out, string(b))
							continue
						}
						out, err := cli.NewFormat(c.Out, format, nil)
						if err != nil {
							return err
						}
						out.Row(m)
						continue
					}
					var attrs []string
					for k, v := range m.Actor.Attributes {
						attrs = append(attrs, k+"="+v)
					}
					fmt.Fprintf(c.Out, "%s %s %s %s (%s)\n", time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"),
						m.Type, m.Action, m.Actor.ID, strings.Join(attrs, ", "))
				case err := <-errs:
					if err == nil || strings.Contains(err.Error(), "EOF") {
						return nil
					}
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "Stream events until this timestamp")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	cmd.Flags().StringArrayVarP(&filterArgs, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var format, typ string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			return cli.Inspect(c, args, format, func(ref string) (any, []byte, error) {
				if typ == "" || typ == "container" {
					obj, raw, err := cl.ContainerInspectWithRaw(ctx, ref, false)
					if err == nil || typ == "container" || !errdefs.IsNotFound(err) {
						return obj, raw, err
					}
				}
				if typ == "" || typ == "image" {
					obj, raw, err := cl.ImageInspectWithRaw(ctx, ref)
					if err == nil || typ == "image" || !errdefs.IsNotFound(err) {
						return obj, raw, err
					}
				}
				return nil, nil, fmt.Errorf("No such object: %s", ref)
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().StringVar(&typ, "type", "", "Return JSON for specified type")
	return cmd
}

// newDialStdioCommand is `system dial-stdio`: stdin and stdout become a
// raw connection to the daemon. The ssh:// transport (berth's and the
// docker CLI's) runs it on the daemon's host.
func newDialStdioCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:    "dial-stdio",
		Short:  "Proxy the stdio stream to the daemon connection (for ssh:// hosts)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			conn, err := cl.Dialer()(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			go func() {
				_, _ = io.Copy(conn, c.In)
				// The client's input ended: pass the half-close on, and
				// keep relaying what the daemon still says.
				if cw, ok := conn.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
				}
			}()
			// The daemon closing its side ends the proxy.
			_, err = io.Copy(c.Out, conn)
			return err
		},
	}
}

// Commands returns the system commands.
func Commands(c *cli.CLI, version string) []*cobra.Command {
	return []*cobra.Command{newVersionCommand(c, version), newInfoCommand(c), newEventsCommand(c), newInspectCommand(c), newDialStdioCommand(c)}
}
