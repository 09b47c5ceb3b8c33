package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/spf13/pflag"

	"github.com/berthproject/berth/internal/api"
	apicontainers "github.com/berthproject/berth/internal/api/containers"
	apiimages "github.com/berthproject/berth/internal/api/images"
	"github.com/berthproject/berth/internal/api/inactive"
	apinetworks "github.com/berthproject/berth/internal/api/networks"
	apisystem "github.com/berthproject/berth/internal/api/system"
	apivolumes "github.com/berthproject/berth/internal/api/volumes"
	"github.com/berthproject/berth/internal/cgroupmount"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/db"
	"github.com/berthproject/berth/internal/events"
	"github.com/berthproject/berth/internal/image"
	"github.com/berthproject/berth/internal/layer"
	"github.com/berthproject/berth/internal/logs"
	"github.com/berthproject/berth/internal/network"
	"github.com/berthproject/berth/internal/runtime"
	"github.com/berthproject/berth/internal/shimbin"
	"github.com/berthproject/berth/internal/sysinfo"
	"github.com/berthproject/berth/internal/volume"
)

// Version is the engine version, set at build time.
var Version = "0.1.0-dev"

// GitCommit and BuildTime are set by hack/build.sh (-ldflags -X); a build
// without them falls back to what the Go toolchain stamped, if anything.
var GitCommit, BuildTime string

// Config is the daemon's configuration (flags override daemon.json).
type Config struct {
	DataRoot string   `json:"data-root"`
	ExecRoot string   `json:"exec-root"`
	Hosts    []string `json:"hosts"`
	LogLevel string   `json:"log-level"`
	// InsecureRegistries may be reached over plain HTTP (host[:port] or CIDR).
	InsecureRegistries []string `json:"insecure-registries"`
	// RegistryMirrors are tried before Docker Hub for Hub images.
	RegistryMirrors []string `json:"registry-mirrors"`
	// CgroupFavorDynMods remounts the host's cgroup2 file system with
	// favordynmods at start (see internal/cgroupmount). Off unless asked:
	// it changes the whole host, and from Linux 6.18 cannot be undone
	// until reboot.
	CgroupFavorDynMods *bool `json:"cgroup-favordynmods,omitempty"`
	// TLS for tcp:// hosts (Docker's flags and daemon.json keys): TLS
	// serves over TLS, TLSVerify also requires a client certificate the
	// CA signed (mutual TLS).
	TLS       bool   `json:"tls"`
	TLSVerify bool   `json:"tlsverify"`
	TLSCACert string `json:"tlscacert"`
	TLSCert   string `json:"tlscert"`
	TLSKey    string `json:"tlskey"`
	// InsecureTCP allows plain TCP on addresses other than loopback.
	InsecureTCP bool `json:"insecure-tcp"`
	// Bridge is the default network's Linux bridge, made if missing
	// ("berth0"); "none" disables the default bridge (containers of the
	// default network get loopback only). BIP is its address/prefix.
	Bridge string `json:"bridge"`
	BIP    string `json:"bip"`
	// FixedCIDR is where the default bridge's containers' addresses come
	// from, inside its subnet (Docker's "fixed-cidr").
	FixedCIDR string `json:"fixed-cidr"`
	// DefaultAddressPools replace Docker's pools for new networks and
	// the default bridge without "bip" (Docker's "default-address-pools").
	DefaultAddressPools []network.AddressPool `json:"default-address-pools"`
	// IP is where ports are published when -p names no address
	// (Docker's "ip"; default 0.0.0.0, every address of the host).
	IP string `json:"ip"`
}

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/berth/berth.sock"

// Main runs `berth daemon` with args and returns the exit code.
func Main(args []string) int {
	fs := pflag.NewFlagSet("daemon", pflag.ContinueOnError)
	cfg := Config{DataRoot: "/var/lib/berth", ExecRoot: "/run/berth", LogLevel: "info", Bridge: "berth0"}
	configFile := fs.String("config-file", "/etc/berth/daemon.json", "daemon configuration file")
	dataRoot := fs.String("data-root", "", "root directory of persistent state (default /var/lib/berth)")
	execRoot := fs.String("exec-root", "", "root directory of runtime state (default /run/berth)")
	hosts := fs.StringArrayP("host", "H", nil, "where to listen: unix://PATH or tcp://ADDR[:PORT] (several -H at once)")
	useTLS := fs.Bool("tls", false, "serve tcp:// hosts over TLS (implied by --tlsverify)")
	tlsVerify := fs.Bool("tlsverify", false, "serve tcp:// hosts over mutual TLS: clients need a certificate --tlscacert signed")
	tlsCA := fs.String("tlscacert", "", "CA certificate that signs the clients' certificates")
	tlsCert := fs.String("tlscert", "", "the daemon's TLS certificate")
	tlsKey := fs.String("tlskey", "", "the daemon's TLS key")
	insecureTCP := fs.Bool("insecure-tcp", false, "allow plain TCP on addresses other than loopback (anyone reaching it is root on this host)")
	logLevel := fs.String("log-level", "", `log level ("debug"|"info"|"warn"|"error")`)
	insecure := fs.StringArray("insecure-registry", nil, "registry (host[:port] or CIDR) that may be reached over plain HTTP")
	mirrors := fs.StringArray("registry-mirror", nil, "registry mirror for Docker Hub images (URL)")
	bridgeName := fs.StringP("bridge", "b", "", `the default network's Linux bridge, made if missing (default "berth0"); "none" for no default bridge`)
	defaultIP := fs.String("ip", "", "the host address ports are published on when -p names none (default 0.0.0.0)")
	fixedCIDR := fs.String("fixed-cidr", "", "the part of the default bridge's subnet its containers' addresses come from, e.g. 172.17.1.0/24")
	addrPools := fs.StringArray("default-address-pool", nil, "where new networks find subnets: base=CIDR,size=PREFIX (repeatable; default: Docker's pools)")
	bip := fs.String("bip", "", "the default bridge's address and prefix, e.g. 172.18.0.1/16 (default: the first of Docker's pools nothing routes)")
	favor := fs.Bool("cgroup-favordynmods", false, "remount the host's cgroup2 file system with favordynmods: container starts skip an RCU grace period (host-wide; Linux >= 6.0; from 6.18 on until reboot)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "berth daemon:", err)
		return 125
	}
	if b, err := os.ReadFile(*configFile); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			fmt.Fprintf(os.Stderr, "berth daemon: %s: %v\n", *configFile, err)
			return 1
		}
	} else if fs.Changed("config-file") {
		fmt.Fprintln(os.Stderr, "berth daemon:", err)
		return 1
	}
	if *dataRoot != "" {
		cfg.DataRoot = *dataRoot
	}
	if *execRoot != "" {
		cfg.ExecRoot = *execRoot
	}
	if len(*hosts) > 0 {
		cfg.Hosts = *hosts
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *bridgeName != "" {
		cfg.Bridge = *bridgeName
	}
	if *bip != "" {
		cfg.BIP = *bip
	}
	if *defaultIP != "" {
		cfg.IP = *defaultIP
	}
	if *fixedCIDR != "" {
		cfg.FixedCIDR = *fixedCIDR
	}
	if len(*addrPools) > 0 {
		cfg.DefaultAddressPools = nil
		for _, v := range *addrPools {
			p, err := parseAddressPool(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "berth daemon: invalid --default-address-pool %q: %v\n", v, err)
				return 125
			}
			cfg.DefaultAddressPools = append(cfg.DefaultAddressPools, p)
		}
	}
	if fs.Changed("cgroup-favordynmods") {
		cfg.CgroupFavorDynMods = favor
	}
	for _, f := range []struct {
		name string
		dst  *bool
		val  bool
	}{{"tls", &cfg.TLS, *useTLS}, {"tlsverify", &cfg.TLSVerify, *tlsVerify}, {"insecure-tcp", &cfg.InsecureTCP, *insecureTCP}} {
		if fs.Changed(f.name) {
			*f.dst = f.val
		}
	}
	for _, f := range []struct {
		name     string
		dst, val *string
	}{{"tlscacert", &cfg.TLSCACert, tlsCA}, {"tlscert", &cfg.TLSCert, tlsCert}, {"tlskey", &cfg.TLSKey, tlsKey}} {
		if fs.Changed(f.name) {
			*f.dst = *f.val
		}
	}
	cfg.InsecureRegistries = append(cfg.InsecureRegistries, *insecure...)
	cfg.RegistryMirrors = append(cfg.RegistryMirrors, *mirrors...)
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{"unix://" + DefaultSocket}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "berth daemon: invalid log level %q\n", cfg.LogLevel)
		return 125
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err := Run(context.Background(), cfg); err != nil {
		slog.Error("daemon failed", "err", err)
		return 1
	}
	return 0
}

// parseAddressPool reads --default-address-pool base=CIDR,size=N.
func parseAddressPool(v string) (network.AddressPool, error) {
	var p network.AddressPool
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		switch strings.TrimSpace(k) {
		case "base":
			p.Base = val
		case "size":
			n, err := strconv.Atoi(val)
			if err != nil {
				return p, fmt.Errorf("size %q is not a number", val)
			}
			p.Size = n
		default:
			return p, fmt.Errorf("unknown key %q (want base= and size=)", k)
		}
	}
	if p.Base == "" || p.Size == 0 {
		return p, errors.New("want base=CIDR,size=PREFIX")
	}
	return p, nil
}

// favorDynMods turns on the cgroup2 mount's favordynmods, which saves a
// container start 7-14 ms of waiting in the kernel. Not being able to is
// no reason to stop: the daemon then runs as before, slower.
func favorDynMods() {
	point, err := cgroupmount.FavorDynMods()
	switch {
	case err != nil:
		slog.Info("cgroup2 left without favordynmods; container starts wait for an RCU grace period", "err", err)
	case point != "":
		slog.Info("remounted cgroup2 with favordynmods, as --cgroup-favordynmods asked", "mount", point)
	}
}

// imageResolver adapts the image service to what containers need.
type imageResolver struct{ images *image.Service }

func (r imageResolver) Resolve(ref string) (container.ImageInfo, error) {
	img, err := r.images.Get(ref)
	if err != nil {
		return container.ImageInfo{}, err
	}
	return container.ImageInfo{ID: img.ID, Top: img.TopLayer(), Size: img.Size, Config: img.Config.Config}, nil
}

// systemBackend answers the system routes.
type systemBackend struct {
	containers *container.Service
	images     *image.Service
	bus        *events.Bus
}

func (b systemBackend) Counts() (n, running, paused, stopped, images int) {
	for _, r := range b.containers.List() {
		n++
		switch r.State.Status {
		case "running", "restarting":
			running++
		case "paused":
			paused++
		default:
			stopped++
		}
	}
	imgs, _ := b.images.List()
	return n, running, paused, stopped, len(imgs)
}

func (b systemBackend) Listeners() int { return b.bus.Subscribers() }

// HostTuning says whether the host's cgroup2 mount has favordynmods (on
// only with --cgroup-favordynmods, or set by someone else) and what it
// saves.
func (b systemBackend) HostTuning() [][2]string {
	on, err := cgroupmount.Enabled()
	state := "off (--cgroup-favordynmods would save each container start an RCU grace period, 7-14 ms measured; host-wide, and from Linux 6.18 until reboot)"
	switch {
	case err != nil:
		state = "unknown: " + err.Error()
	case on:
		state = "on (container starts skip an RCU grace period; host-wide)"
	}
	return [][2]string{{"Cgroup favordynmods", state}}
}

func (b systemBackend) Subscribe(since time.Time) ([]events.Message, <-chan events.Message, func()) {
	return b.bus.Subscribe(since)
}

// Run starts the daemon and serves until ctx ends or a signal comes.
func Run(ctx context.Context, cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("berth daemon needs to run as root")
	}
	endpoints, err := planEndpoints(cfg)
	if err != nil {
		return err
	}
	if !seccomp.Enabled {
		// Every container would fail at start ("seccomp not supported"):
		// refuse here, saying how to build a berth that works.
		return errors.New("this berth was built without seccomp support (a plain `go build`?): build it with `make build`, which installs libseccomp-dev and builds with the seccomp tag")
	}
	for _, d := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	bdb, err := db.Open(filepath.Join(cfg.DataRoot, "berth.db"), append(append(image.Buckets, container.Bucket, volume.Bucket), network.Buckets...)...)
	if err != nil {
		return err
	}
	defer bdb.Close()
	cs, err := content.Open(filepath.Join(cfg.DataRoot, "content"))
	if err != nil {
		return err
	}
	ls, err := layer.Open(filepath.Join(cfg.DataRoot, "layers"))
	if err != nil {
		return err
	}
	tmp := filepath.Join(cfg.DataRoot, "tmp")
	_ = os.RemoveAll(tmp)
	bus := events.New()
	images := image.NewService(bdb, cs, ls, tmp)
	images.Publish = func(e image.Event) {
		attrs := map[string]string{}
		if e.Ref != "" {
			attrs["name"] = image.FamiliarRef(e.Ref)
		}
		id := e.ID
		if id == "" {
			id = attrs["name"]
		}
		bus.Publish("image", e.Action, id, attrs)
	}
	if cfg.CgroupFavorDynMods != nil && *cfg.CgroupFavorDynMods {
		favorDynMods()
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Shims run the program embedded for them if there is one (see
	// internal/shimbin), else this binary.
	shimExe := self
	shimProgram, err := shimbin.Open(cfg.ExecRoot)
	if err != nil {
		return fmt.Errorf("shim program: %w", err)
	}
	if shimProgram != nil {
		defer shimProgram.Close() // open as long as shims are started
		shimExe = fmt.Sprintf("/proc/self/fd/%d", shimProgram.Fd())
	}
	rt, err := runtime.New(cfg.ExecRoot, shimExe)
	if err != nil {
		return err
	}
	initBinary := ""
	if isStatic(self) {
		initBinary = self
	} else {
		slog.Warn("this berth binary is not statically linked: run --init is unavailable (build with make)")
	}
	unified := cgroups.IsCgroup2UnifiedMode()
	hostCgroups := sysinfo.ProbeCgroups("/sys/fs/cgroup", unified)
	sum := sha256.Sum256([]byte(cfg.DataRoot))
	engineID := strings.ToUpper(hex.EncodeToString(sum[:8]))
	table := "berth" // berth's own nftables table: one per bridge
	if cfg.Bridge != "berth0" {
		table = "berth-" + cfg.Bridge
	}
	if _, err := network.SplitPools(cfg.DefaultAddressPools); err != nil {
		return err
	}
	networks, err := network.New(network.Config{DB: bdb, ExecRoot: cfg.ExecRoot, Bridge: cfg.Bridge, BIP: cfg.BIP,
		FixedCIDR: cfg.FixedCIDR, Pools: cfg.DefaultAddressPools,
		Table: table, NetworkID: network.DefaultID(engineID, "bridge"), HostIP: cfg.IP, EngineID: engineID, Started: time.Now(),
		Binary: self})
	if err != nil {
		return fmt.Errorf("default bridge network: %w", err)
	}
	volumes, err := volume.New(bdb, filepath.Join(cfg.DataRoot, "volumes"))
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	deps := container.Deps{
		DB: bdb, Layers: ls, Runtime: container.Shims(rt), Images: imageResolver{images}, Events: bus,
		Root: filepath.Join(cfg.DataRoot, "containers"), InitBinary: initBinary, Cgroups: hostCgroups, Unified: unified,
	}
	deps.Volumes = volumes
	if networks.Enabled() {
		deps.Networks = networks
		deps.HostGateway = networks.HostGateway()
	}
	containers, err := container.NewService(deps)
	if err != nil {
		return err
	}
	images.InUse = containers.ImageInUse
	images.Registries = image.Registries{Insecure: cfg.InsecureRegistries, Mirrors: cfg.RegistryMirrors}
	if err := containers.Restore(); err != nil {
		return fmt.Errorf("restore containers: %w", err)
	}
	if err := volumes.Reconcile(containers.VolumeUsers()); err != nil {
		return fmt.Errorf("reconcile volumes: %w", err)
	}
	if err := images.Reconcile(); err != nil {
		return fmt.Errorf("reconcile images: %w", err)
	}
	cgv := "1"
	if unified {
		cgv = "2"
	}
	build := readBuildInfo()
	srv := api.New(Version,
		apisystem.New(systemBackend{containers, images, bus}, apisystem.Config{
			Version: Version, APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion,
			GitCommit: build.commit, BuildTime: build.time, RuncVersion: build.runc,
			DataRoot: cfg.DataRoot, ID: engineID, CgroupVersion: cgv,
			Cgroups: hostCgroups,
			DriverStatus: [][2]string{{"Backing Filesystem", sysinfo.BackingFS(cfg.DataRoot)}, {"Supports d_type", "true"},
				{"Using metacopy", "false"}, {"Native Overlay Diff", "true"}, {"userxattr", "false"}},
			Debug: cfg.LogLevel == "debug", InsecureRegistries: cfg.InsecureRegistries, Mirrors: cfg.RegistryMirrors,
			LogDrivers: logs.Drivers(),
		}),
		apicontainers.New(containers),
		apiimages.New(images),
		inactive.New(),
		apinetworks.New(networks, containers),
		apivolumes.New(volumes),
	)
	errc := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		ln, cleanup, err := ep.listen()
		if err != nil {
			return err
		}
		defer cleanup()
		slog.Info("API listening", "proto", ep.proto, "addr", ep.addr, "tls", ep.tls != nil,
			"client-certificates", ep.tls != nil && ep.tls.ClientAuth == tls.RequireAndVerifyClientCert)
		go func() { errc <- srv.Serve(ln) }()
	}
	slog.Info("berth daemon started", "version", Version, "data-root", cfg.DataRoot, "exec-root", cfg.ExecRoot, "containers", len(containers.List()))
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case s := <-sigc:
		slog.Info("shutting down; containers keep running", "signal", s.String())
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

type buildInfo struct{ commit, time, runc string }

// readBuildInfo reads what the Go toolchain stamped into the binary: the
// commit it was built from ("-dirty" with uncommitted changes), that
// commit's time, and the version of runc's libcontainer.
func readBuildInfo() (b buildInfo) {
	b = buildInfo{commit: "unknown"}
	defer func() {
		if GitCommit != "" {
			b.commit = GitCommit
		}
		if BuildTime != "" {
			b.time = BuildTime
		}
	}()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.commit = s.Value[:min(len(s.Value), 7)]
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.commit != "unknown" {
		b.commit += "-dirty"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/opencontainers/runc" {
			b.runc = strings.TrimPrefix(d.Version, "v")
			if d.Replace != nil && d.Replace.Version != "" {
				b.runc = strings.TrimPrefix(d.Replace.Version, "v")
			}
		}
	}
	return b
}

// isStatic reports whether the ELF file at path needs no dynamic loader
// (so it can run inside any container image).
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
