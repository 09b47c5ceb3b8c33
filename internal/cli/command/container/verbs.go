package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

func errdefsNotFound(err error) bool { return errdefs.IsNotFound(err) }

// proxySignals forwards the CLI's signals to the container (sig-proxy).
func proxySignals(ctx context.Context, cl *client.Client, id string) func() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				name := strings.TrimPrefix(unixSignalName(s.(syscall.Signal)), "SIG")
				_ = cl.ContainerKill(ctx, id, name)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

func unixSignalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	}
	return fmt.Sprint(int(s))
}

// each runs fn for every argument, printing the argument on success and
// the errors to stderr, as docker's multi-target verbs do.
func each(c *cli.CLI, args []string, fn func(string) error) error {
	var failed []string
	for _, a := range args {
		if err := fn(a); err != nil {
			fmt.Fprintln(c.Err, "Error response from daemon:", strings.TrimPrefix(err.Error(), "Error response from daemon: "))
			failed = append(failed, a)
			continue
		}
		fmt.Fprintln(c.Out, a)
	}
	if len(failed) > 0 {
		return cli.StatusError{Code: 1}
	}
	return nil
}

func newStartCommand(c *cli.CLI) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			if attach || interactive {
				if len(args) > 1 {
					return cli.StatusError{Status: "you cannot start and attach multiple containers at once", Code: 1}
				}
				info, err := cl.ContainerInspect(ctx, args[0])
				if err != nil {
					return err
				}
				cfg := info.Config
				cfg.OpenStdin = cfg.OpenStdin && interactive
				return runAttached(ctx, c, cl, info.ID, cfg, false, detachKeys, true)
			}
			return each(c, args, func(id string) error { return cl.ContainerStart(ctx, id, container.StartOptions{}) })
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func newStopCommand(c *cli.CLI, verb string) *cobra.Command {
	var timeout int
	var sig string
	cmd := &cobra.Command{
		Use:   verb + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: map[string]string{"stop": "Stop one or more running containers", "restart": "Restart one or more containers"}[verb],
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			opts := container.StopOptions{Signal: sig}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			return each(c, args, func(id string) error {
				if verb == "restart" {
					return cl.ContainerRestart(ctx, id, opts)
				}
				return cl.ContainerStop(ctx, id, opts)
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newKillCommand(c *cli.CLI) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return each(c, args, func(id string) error { return cl.ContainerKill(cmd.Context(), id, sig) })
		},
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(c *cli.CLI) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return each(c, args, func(id string) error {
				return cl.ContainerRemove(cmd.Context(), id, container.RemoveOptions{Force: force, RemoveVolumes: volumes})
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

func newSimpleCommand(c *cli.CLI, use, short string, fn func(ctx context.Context, cl *client.Client, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " CONTAINER [CONTAINER...]",
		Short: short,
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return each(c, args, func(id string) error { return fn(cmd.Context(), cl, id) })
		},
	}
}

func newWaitCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			var failed bool
			for _, id := range args {
				resCh, errCh := cl.ContainerWait(ctx, id, "")
				select {
				case res := <-resCh:
					fmt.Fprintln(c.Out, res.StatusCode)
				case err := <-errCh:
					fmt.Fprintln(c.Err, err)
					failed = true
				}
			}
			if failed {
				return cli.StatusError{Code: 1}
			}
			return nil
		},
	}
}

func newLogsCommand(c *cli.CLI) *cobra.Command {
	var opts container.LogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cli.RequiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			info, err := cl.ContainerInspect(ctx, args[0])
			if err != nil {
				return err
			}
			opts.ShowStdout, opts.ShowStderr = true, true
			rc, err := cl.ContainerLogs(ctx, info.ID, opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			if info.Config.Tty {
				_, err = io.Copy(c.Out, rc)
			} else {
				_, err = stdcopy.StdCopy(c.Out, c.Err, rc)
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Follow, "follow", "f", false, "Follow log output")
	fs.StringVarP(&opts.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	fs.StringVar(&opts.Since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	fs.StringVar(&opts.Until, "until", "", "Show logs before a timestamp or relative")
	fs.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&opts.Details, "details", false, "Show extra details provided to logs")
	return cmd
}

func newAttachCommand(c *cli.CLI) *cobra.Command {
	var noStdin bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cli.RequiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			info, err := cl.ContainerInspect(ctx, args[0])
			if err != nil {
				return err
			}
			if !info.State.Running {
				return cli.StatusError{Status: "You cannot attach to a stopped container, start it first", Code: 1}
			}
			if info.State.Paused {
				return cli.StatusError{Status: "You cannot attach to a paused container, unpause it first", Code: 1}
			}
			stdin := info.Config.OpenStdin && !noStdin
			waitCh, errCh := cl.ContainerWait(ctx, info.ID, "")
			resp, err := cl.ContainerAttach(ctx, info.ID, container.AttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: detachKeys})
			if err != nil {
				return err
			}
			if info.Config.Tty {
				watchResize(ctx, c, func(h, w uint) {
					_ = cl.ContainerResize(ctx, info.ID, container.ResizeOptions{Height: h, Width: w})
				})
			}
			_ = stream(c, resp, info.Config.Tty, stdin)
			return exitStatus(ctx, c, cl, info.ID, waitCh, errCh)
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	cmd.Flags().Bool("sig-proxy", true, "Proxy all received signals to the process")
	return cmd
}

func newExecCommand(c *cli.CLI) *cobra.Command {
	var opts container.ExecOptions
	var env []string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := c.Client(ctx)
			if err != nil {
				return err
			}
			if _, err := cl.ContainerInspect(ctx, args[0]); err != nil {
				return err
			}
			opts.Cmd, opts.Env = args[1:], env
			detach := opts.Detach
			opts.AttachStdout, opts.AttachStderr = !detach, !detach
			opts.AttachStdin = opts.AttachStdin && !detach
			if opts.Tty {
				if h, w := terminalSize(c); h > 0 {
					opts.ConsoleSize = &[2]uint{h, w}
				}
			}
			created, err := cl.ContainerExecCreate(ctx, args[0], opts)
			if err != nil {
				return err
			}
			if detach {
				return cl.ContainerExecStart(ctx, created.ID, container.ExecStartOptions{Detach: true})
			}
			resp, err := cl.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: opts.Tty, ConsoleSize: opts.ConsoleSize})
			if err != nil {
				return err
			}
			if opts.Tty {
				watchResize(ctx, c, func(h, w uint) {
					_ = cl.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: h, Width: w})
				})
			}
			_ = stream(c, resp, opts.Tty, opts.AttachStdin)
			info, err := cl.ContainerExecInspect(ctx, created.ID)
			if err != nil {
				return err
			}
			if info.ExitCode != 0 {
				return cli.StatusError{Code: info.ExitCode}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&opts.AttachStdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&opts.Tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&opts.Detach, "detach", "d", false, "Detached mode: run command in the background")
	fs.StringArrayVarP(&env, "env", "e", nil, "Set environment variables")
	fs.StringVarP(&opts.WorkingDir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&opts.User, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.BoolVar(&opts.Privileged, "privileged", false, "Give extended privileges to the command")
	fs.StringVar(&opts.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func newTopCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			top, err := cl.ContainerTop(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			w := cli.NewTable(c.Out)
			fmt.Fprintln(w, strings.Join(top.Titles, "\t"))
			for _, p := range top.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
}

func newRenameCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cli.RequiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cl.ContainerRename(cmd.Context(), args[0], args[1])
		},
	}
}
