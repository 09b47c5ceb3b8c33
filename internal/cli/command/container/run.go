package container

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/client"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berthproject/berth/internal/cli"
	registrycmd "github.com/berthproject/berth/internal/cli/command/registry"
)

// createFlags are the flags run and create share.
type createFlags struct {
	name, workdir, user, hostname, entrypoint, restart       string
	networks                                                 []string
	stopSignal, logDriver, memory, memorySwap, cpusetCpus    string
	env, envFile, labels, capAdd, capDrop, securityOpt       []string
	ulimits, logOpts, tmpfs, groupAdd, dns, addHost          []string
	interactive, tty, readOnly, privileged, init, autoRemove bool
	cpus                                                     float64
	cpuShares, pidsLimit                                     int64
	stopTimeout                                              int
	cpusetMems, memoryReservation, domainname                string
	dnsSearch, dnsOptions                                    []string
	cpuPeriod, cpuQuota                                      int64
	oomScoreAdj                                              int
	hostFlags
}

func (f *createFlags) add(fs *pflag.FlagSet) {
	fs.SetInterspersed(false)
	fs.Bool("help", false, "Print usage") // -h is --hostname, as in docker
	fs.StringVar(&f.name, "name", "", "Assign a name to the container")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "Container host name")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringArrayVar(&f.networks, "network", nil, "Connect a container to a network (none, host, a network's name; repeatable)")
	fs.StringVar(&f.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "Timeout (in seconds) to stop a container")
	fs.StringVar(&f.logDriver, "log-driver", "", "Logging driver for the container")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "Log driver options")
	fs.StringVarP(&f.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.Float64Var(&f.cpus, "cpus", 0, "Number of CPUs")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&f.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&f.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.StringVar(&f.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fs.IntVar(&f.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	fs.StringVar(&f.domainname, "domainname", "", "Container NIS domain name")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	fs.StringArrayVar(&f.dnsOptions, "dns-option", nil, "Set DNS options")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&f.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "Set meta data on a container")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "Security Options")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "Ulimit options")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	fs.StringArrayVar(&f.groupAdd, "group-add", nil, "Add additional groups to join")
	fs.StringArrayVar(&f.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&f.addHost, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&f.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.BoolVar(&f.privileged, "privileged", false, "Give extended privileges to this container")
	fs.BoolVar(&f.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fs.BoolVar(&f.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.hostFlags.add(fs)
}

func parseEnvFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.Contains(l, "=") {
			if v, ok := os.LookupEnv(l); ok {
				l += "=" + v
			} else {
				continue
			}
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

func (f *createFlags) config(fs *pflag.FlagSet, args []string, attach bool) (*container.Config, *container.HostConfig, error) {
	var env []string
	for _, ef := range f.envFile {
		e, err := parseEnvFile(ef)
		if err != nil {
			return nil, nil, cli.StatusError{Status: "berth: " + err.Error(), Code: 125}
		}
		env = append(env, e...)
	}
	for _, e := range f.env {
		if !strings.Contains(e, "=") {
			if v, ok := os.LookupEnv(e); ok {
				e += "=" + v
			} else {
				continue
			}
		}
		env = append(env, e)
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	cfg := &container.Config{
		Image: args[0], Cmd: args[1:], Env: env, WorkingDir: f.workdir, User: f.user, Hostname: f.hostname,
		Tty: f.tty, OpenStdin: f.interactive, StdinOnce: f.interactive && attach,
		AttachStdin: f.interactive && attach, AttachStdout: attach, AttachStderr: attach,
		Labels: labels, StopSignal: f.stopSignal,
	}
	if len(args) == 1 {
		cfg.Cmd = nil
	}
	if fs.Changed("entrypoint") {
		cfg.Entrypoint = strslice.StrSlice{}
		if f.entrypoint != "" {
			cfg.Entrypoint = strslice.StrSlice{f.entrypoint}
		}
	}
	if fs.Changed("stop-timeout") {
		cfg.StopTimeout = &f.stopTimeout
	}
	rp, err := parseRestart(f.restart)
	if err != nil {
		return nil, nil, err
	}
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(f.networkMode()), RestartPolicy: rp, AutoRemove: f.autoRemove,
		ReadonlyRootfs: f.readOnly, Privileged: f.privileged, CapAdd: f.capAdd, CapDrop: f.capDrop,
		SecurityOpt: f.securityOpt, GroupAdd: f.groupAdd, DNS: f.dns, ExtraHosts: extraHosts(f.addHost),
		LogConfig: container.LogConfig{Type: f.logDriver, Config: map[string]string{}},
	}
	if fs.Changed("init") {
		hc.Init = &f.init
	}
	for _, o := range f.logOpts {
		k, v, _ := strings.Cut(o, "=")
		hc.LogConfig.Config[k] = v
	}
	if f.memory != "" {
		if hc.Memory, err = units.RAMInBytes(f.memory); err != nil {
			return nil, nil, cli.StatusError{Status: fmt.Sprintf("invalid argument %q for \"-m, --memory\" flag: %v", f.memory, err), Code: 125}
		}
	}
	if f.memorySwap == "-1" {
		hc.MemorySwap = -1
	} else if f.memorySwap != "" {
		if hc.MemorySwap, err = units.RAMInBytes(f.memorySwap); err != nil {
			return nil, nil, cli.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--memory-swap\" flag: %v", f.memorySwap, err), Code: 125}
		}
	}
	hc.NanoCPUs = int64(f.cpus * 1e9)
	hc.CPUShares = f.cpuShares
	hc.CpusetCpus = f.cpusetCpus
	hc.CpusetMems, hc.CPUPeriod, hc.CPUQuota, hc.OomScoreAdj = f.cpusetMems, f.cpuPeriod, f.cpuQuota, f.oomScoreAdj
	hc.DNSSearch, hc.DNSOptions = f.dnsSearch, f.dnsOptions
	cfg.Domainname = f.domainname
	if f.memoryReservation != "" {
		if hc.MemoryReservation, err = units.RAMInBytes(f.memoryReservation); err != nil {
			return nil, nil, cli.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--memory-reservation\" flag: %v", f.memoryReservation, err), Code: 125}
		}
	}
	if fs.Changed("pids-limit") {
		hc.PidsLimit = &f.pidsLimit
	}
	for _, u := range f.ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return nil, nil, cli.StatusError{Status: fmt.Sprintf("invalid argument %q for \"--ulimit\" flag: %v", u, err), Code: 125}
		}
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: ul.Name, Soft: ul.Soft, Hard: ul.Hard})
	}
	if err := f.hostFlags.apply(fs, cfg, hc); err != nil {
		return nil, nil, err
	}
	if len(f.tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range f.tmpfs {
			p, o, _ := strings.Cut(t, ":")
			hc.Tmpfs[p] = o
		}
	}
	return cfg, hc, nil
}

func parseRestart(s string) (container.RestartPolicy, error) {
	name, count, ok := strings.Cut(s, ":")
	rp := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if ok {
		var n int
		if _, err := fmt.Sscanf(count, "%d", &n); err != nil {
			return rp, cli.StatusError{Status: fmt.Sprintf("invalid restart policy format: maximum retry count must be an integer"), Code: 125}
		}
		rp.MaximumRetryCount = n
	}
	return rp, nil
}

// createContainer creates, pulling the image if the daemon lacks it.
func createContainer(ctx context.Context, c *cli.CLI, cl *client.Client, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, name string) (string, error) {
	resp, err := cl.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil && errdefsNotFound(err) && strings.Contains(err.Error(), "No such image") {
		fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", cfg.Image)
		auth, perr := registrycmd.EncodedAuth(cfg.Image)
		if perr != nil {
			return "", perr
		}
		rc, perr := cl.ImagePull(ctx, cfg.Image, image.PullOptions{RegistryAuth: auth})
		if perr != nil {
			return "", perr
		}
		if err := printPull(c, rc); err != nil {
			return "", err
		}
		resp, err = cl.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	}
	if err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(c.Err, "WARNING:", w)
	}
	return resp.ID, nil
}

func printPull(c *cli.CLI, rc io.ReadCloser) error {
	defer rc.Close()
	return cli.PrintJSONMessages(rc, c.Err)
}

func newRunCommand(c *cli.CLI) *cobra.Command {
	var f createFlags
	var detach, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, hc, err := f.config(cmd.Flags(), args, !detach)
			if err != nil {
				return err
			}
			if hc.ConsoleSize[0] == 0 && f.tty {
				h, w := terminalSize(c)
				hc.ConsoleSize = [2]uint{h, w}
			}
			cl, err := c.Client(ctx)
			if err != nil {
				return cli.StatusError{Status: err.Error(), Code: 125}
			}
			id, err := createContainer(ctx, c, cl, cfg, hc, f.networking(hc, f.otherNetworks()), f.name)
			if err != nil {
				return cli.StatusError{Status: err.Error(), Code: 125}
			}
			if detach {
				if err := cl.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
					return startError(err)
				}
				fmt.Fprintln(c.Out, id)
				return nil
			}
			return runAttached(ctx, c, cl, id, cfg, f.autoRemove, detachKeys, sigProxy)
		},
	}
	fs := cmd.Flags()
	f.add(fs)
	fs.BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	fs.BoolVar(&sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	fs.StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// runAttached attaches, registers the waiter, starts, streams and returns
// the container's exit code as the CLI's.
func runAttached(ctx context.Context, c *cli.CLI, cl *client.Client, id string, cfg *container.Config, autoRemove bool, detachKeys string, sigProxy bool) error {
	resp, err := cl.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: cfg.OpenStdin, Stdout: true, Stderr: true, DetachKeys: detachKeys})
	if err != nil {
		return cli.StatusError{Status: err.Error(), Code: 125}
	}
	cond := container.WaitConditionNextExit
	if autoRemove {
		cond = container.WaitConditionRemoved
	}
	waitCh, waitErr := cl.ContainerWait(ctx, id, cond)
	if err := cl.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		resp.Close()
		return startError(err)
	}
	if cfg.Tty {
		watchResize(ctx, c, func(h, w uint) {
			_ = cl.ContainerResize(ctx, id, container.ResizeOptions{Height: h, Width: w})
		})
	}
	if sigProxy && !cfg.Tty {
		stop := proxySignals(ctx, cl, id)
		defer stop()
	}
	streamErr := make(chan error, 1)
	go func() { streamErr <- stream(c, resp, cfg.Tty, cfg.OpenStdin) }()
	select {
	case <-streamErr:
	case err := <-waitErr:
		return cli.StatusError{Status: err.Error(), Code: 125}
	}
	return exitStatus(ctx, c, cl, id, waitCh, waitErr)
}

// exitStatus turns the wait result into the CLI's exit status once the
// output has ended. If no exit comes and the container still runs, the
// user detached (ctrl-p ctrl-q): that is a success.
func exitStatus(ctx context.Context, c *cli.CLI, cl *client.Client, id string, waitCh <-chan container.WaitResponse, waitErr <-chan error) error {
	for {
		select {
		case res := <-waitCh:
			if res.Error != nil && res.Error.Message != "" {
				fmt.Fprintln(c.Err, res.Error.Message)
			}
			if res.StatusCode != 0 {
				return cli.StatusError{Code: int(res.StatusCode)}
			}
			return nil
		case err := <-waitErr:
			return cli.StatusError{Status: err.Error(), Code: 125}
		case <-time.After(time.Second):
			info, err := cl.ContainerInspect(ctx, id)
			if err == nil && info.State.Running {
				return nil // detached
			}
		}
	}
}

// startError maps a start failure to Docker's exit codes.
func startError(err error) error {
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		code = 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		code = 126
	}
	return cli.StatusError{Status: msg, Code: code}
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// As docker's CLI: create -i attaches stdin once, as run -i does;
			// only run -d detaches.
			cfg, hc, err := f.config(cmd.Flags(), args, true)
			if err != nil {
				return err
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			id, err := createContainer(cmd.Context(), c, cl, cfg, hc, f.networking(hc, f.otherNetworks()), f.name)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	f.add(cmd.Flags())
	return cmd
}

// extraHosts is --add-host as the API takes it: NAME:IP (the docker CLI
// also reads NAME=IP, and sends it so).
func extraHosts(in []string) []string {
	out := make([]string, 0, len(in))
	for _, h := range in {
		if n, ip, ok := strings.Cut(h, "="); ok {
			h = n + ":" + ip
		}
		out = append(out, h)
	}
	return out
}

// networkMode is the first --network ("default" without one); the
// others become endpoints of NetworkingConfig (networking).
func (f *createFlags) networkMode() string {
	if len(f.networks) == 0 {
		return "default"
	}
	return f.networks[0]
}

// otherNetworks are the --network values after the first.
func (f *createFlags) otherNetworks() []string {
	if len(f.networks) < 2 {
		return nil
	}
	return f.networks[1:]
}
