package root

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
	"github.com/berthproject/berth/internal/cli/command/container"
	"github.com/berthproject/berth/internal/cli/command/image"
	"github.com/berthproject/berth/internal/cli/command/network"
	"github.com/berthproject/berth/internal/cli/command/registry"
	"github.com/berthproject/berth/internal/cli/command/system"
	"github.com/berthproject/berth/internal/cli/command/volume"
)

// Version is the CLI's version, set at build time.
var Version = "0.1.0-dev"

// Main runs the CLI with args and returns the exit code.
func Main(args []string) int {
	c := cli.New()
	rootCmd := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "A container engine that speaks the Docker Engine API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	pf := rootCmd.PersistentFlags()
	pf.StringVarP(&c.Host, "host", "H", "", "Daemon socket to connect to: unix://PATH or tcp://HOST:PORT (default "+cli.DefaultHost+", or $BERTH_HOST, $DOCKER_HOST)")
	pf.BoolVar(&c.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	pf.BoolVar(&c.TLSVerify, "tlsverify", false, "Use TLS and verify the daemon (and send a client certificate)")
	pf.StringVar(&c.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA (default $DOCKER_CERT_PATH or ~/.docker: ca.pem)")
	pf.StringVar(&c.TLSCert, "tlscert", "", "Path to TLS certificate file (default cert.pem there)")
	pf.StringVar(&c.TLSKey, "tlskey", "", "Path to TLS key file (default key.pem there)")
	rootCmd.Flags().SetInterspersed(false)
	rootCmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cli.StatusError{Status: fmt.Sprintf("%s\nSee '%s --help'.", err, cmd.CommandPath()), Code: 125}
	})
	ctrs := container.Commands(c)
	rootCmd.AddCommand(ctrs...)
	group := &cobra.Command{Use: "container", Short: "Manage containers"}
	group.AddCommand(container.Commands(c)...)
	group.AddCommand(container.GroupCommands(c)...)
	group.AddCommand(&cobra.Command{Use: "inspect CONTAINER [CONTAINER...]", Short: "Display detailed information on one or more containers",
		Args: cli.RequiresMinArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			format, _ := cmd.Flags().GetString("format")
			return cli.Inspect(c, args, format, func(ref string) (any, []byte, error) {
				return cl.ContainerInspectWithRaw(cmd.Context(), ref, false)
			})
		}})
	group.Commands()[len(group.Commands())-1].Flags().StringP("format", "f", "", "Format output using a custom template")
	rootCmd.AddCommand(group)
	rootCmd.AddCommand(image.Commands(c)...)
	rootCmd.AddCommand(network.Command(c))
	rootCmd.AddCommand(volume.Command(c))
	rootCmd.AddCommand(registry.Commands(c)...)
	rootCmd.AddCommand(system.Commands(c, Version)...)
	sysGroup := &cobra.Command{Use: "system", Short: "Manage berth (info, events, dial-stdio)"}
	sysGroup.AddCommand(system.Commands(c, Version)...)
	rootCmd.AddCommand(sysGroup)
	rootCmd.AddCommand(&cobra.Command{Use: "daemon [OPTIONS]", Short: "Run the berth daemon (flags: --data-root, --exec-root, -H, --log-level)",
		DisableFlagParsing: true, RunE: func(*cobra.Command, []string) error { return nil }})
	rootCmd.AddCommand(&cobra.Command{Use: "registry serve|gc [OPTIONS]", Short: "Run berth's own image registry (serve: --root, --addr, --tls-cert/--tls-key, --htpasswd, --read-only; gc: --root, --grace, --dry-run)",
		DisableFlagParsing: true, RunE: func(*cobra.Command, []string) error { return nil }})
	for _, g := range rootCmd.Commands() {
		refuseUnknown(g)
	}
	rootCmd.SetArgs(args)
	err := rootCmd.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	code, msg := cli.ExitCode(err)
	if msg != "" {
		if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") || strings.HasPrefix(msg, "unknown shorthand") {
			msg = "berth: " + msg + "\nSee 'berth --help'."
			code = 125
		}
		fmt.Fprintln(os.Stderr, msg)
	}
	return code
}

// refuseUnknown makes a group of commands (network, image...) without
// a command of its own refuse an unknown one, as the docker CLI does,
// instead of printing its help and succeeding; with no command it shows
// its help.
func refuseUnknown(g *cobra.Command) {
	if !g.HasSubCommands() || g.Run != nil || g.RunE != nil {
		return
	}
	g.Args = cobra.ArbitraryArgs
	g.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return cli.StatusError{Code: 1, Status: fmt.Sprintf("berth: unknown command: %s %s\n\nUsage:  %s COMMAND\n\nRun '%s --help' for more information", cmd.CommandPath(), args[0], cmd.CommandPath(), cmd.CommandPath())}
	}
}
