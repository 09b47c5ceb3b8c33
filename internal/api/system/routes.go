package system

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/api/httputil"
	"github.com/berthproject/berth/internal/events"
	"github.com/berthproject/berth/internal/sysinfo"
)

// Backend is what the system routes need from the daemon.
type Backend interface {
	Counts() (containers, running, paused, stopped, images int)
	Listeners() int // event subscribers
	// HostTuning is what berth changed, or could change, of the host,
	// as label/value pairs for /info's SystemStatus.
	HostTuning() [][2]string
	Subscribe(since time.Time) ([]events.Message, <-chan events.Message, func())
}

// Config is the fixed information /version and /info report.
type Config struct {
	Version, APIVersion, MinAPIVersion, GitCommit string
	BuildTime                                     string // RFC 3339
	RuncVersion                                   string // libcontainer's (runc's module version)
	DataRoot, ID                                  string
	CgroupVersion                                 string
	Cgroups                                       sysinfo.Cgroups
	DriverStatus                                  [][2]string
	Debug                                         bool
	InsecureRegistries, Mirrors                   []string
	LogDrivers                                    []string // the log drivers containers may use
}

// Router serves the system routes.
type Router struct {
	b   Backend
	cfg Config
}

// New returns the system router.
func New(b Backend, cfg Config) *Router { return &Router{b: b, cfg: cfg} }

// Register adds the routes to mux.
func (rt *Router) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /_ping", rt.ping)
	mux.HandleFunc("HEAD /_ping", rt.ping)
	mux.HandleFunc("GET /version", httputil.Handle(rt.version))
	mux.HandleFunc("GET /info", httputil.Handle(rt.info))
	mux.HandleFunc("GET /events", httputil.Handle(rt.events))
}

func (rt *Router) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		return
	}
	w.Write([]byte("OK"))
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (rt *Router) version(w http.ResponseWriter, r *http.Request) error {
	v := types.Version{
		Platform: struct{ Name string }{"berth"},
		Version:  rt.cfg.Version, APIVersion: rt.cfg.APIVersion, MinAPIVersion: rt.cfg.MinAPIVersion,
		GitCommit: rt.cfg.GitCommit, GoVersion: goruntime.Version(), Os: goruntime.GOOS, Arch: goruntime.GOARCH,
		KernelVersion: kernel(), BuildTime: rt.cfg.BuildTime,
	}
	v.Components = []types.ComponentVersion{{Name: "Engine", Version: v.Version, Details: map[string]string{
		"ApiVersion": v.APIVersion, "MinAPIVersion": v.MinAPIVersion, "GitCommit": v.GitCommit,
		"GoVersion": v.GoVersion, "Os": v.Os, "Arch": v.Arch, "KernelVersion": v.KernelVersion,
		"Experimental": "false", "BuildTime": v.BuildTime,
	}}}
	if rt.cfg.RuncVersion != "" {
		// berth runs containers with runc's libcontainer, as a library.
		v.Components = append(v.Components, types.ComponentVersion{Name: "runc", Version: rt.cfg.RuncVersion,
			Details: map[string]string{"GitCommit": ""}})
	}
	httputil.WriteJSON(w, http.StatusOK, v)
	return nil
}

func machine() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return goruntime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func osRelease() (name, version string) {
	name = "Linux"
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return name, ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			name = strings.Trim(v, `"`)
		}
		if v, ok := strings.CutPrefix(l, "VERSION_ID="); ok {
			version = strings.Trim(v, `"`)
		}
	}
	return name, version
}

func (rt *Router) info(w http.ResponseWriter, r *http.Request) error {
	c, running, paused, stopped, images := rt.b.Counts()
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	host, _ := os.Hostname()
	osName, osVersion := osRelease()
	fds, _ := os.ReadDir("/proc/self/fd")
	cg := rt.cfg.Cgroups
	info := system.Info{
		ID: rt.cfg.ID, Name: host, ServerVersion: rt.cfg.Version,
		Containers: c, ContainersRunning: running, ContainersPaused: paused, ContainersStopped: stopped, Images: images,
		Driver: "overlay2", DriverStatus: rt.cfg.DriverStatus, DockerRootDir: rt.cfg.DataRoot,
		MemoryLimit: cg.MemoryLimit, SwapLimit: cg.SwapLimit, KernelMemory: cg.KernelMemory, KernelMemoryTCP: cg.KernelMemoryTCP,
		CPUCfsPeriod: cg.CPUCfsPeriod, CPUCfsQuota: cg.CPUCfsQuota, CPUShares: cg.CPUShares, CPUSet: cg.CPUSet,
		PidsLimit: cg.PidsLimit, OomKillDisable: cg.OomKillDisable, IPv4Forwarding: sysinfo.IPv4Forwarding(),
		Debug: rt.cfg.Debug, NFd: len(fds), NGoroutines: goruntime.NumGoroutine(), NEventsListener: rt.b.Listeners(),
		SystemTime: time.Now().Format(time.RFC3339Nano),
		OSType:     "linux", OperatingSystem: osName, OSVersion: osVersion,
		Architecture: machine(), NCPU: goruntime.NumCPU(), MemTotal: int64(si.Totalram) * int64(si.Unit),
		KernelVersion: kernel(), CgroupDriver: "cgroupfs", CgroupVersion: rt.cfg.CgroupVersion,
		LoggingDriver: "json-file", DefaultRuntime: "runc",
		Runtimes:           map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: "runc"}}},
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     registryConfig(rt.cfg.InsecureRegistries, rt.cfg.Mirrors),
		HTTPProxy:          os.Getenv("HTTP_PROXY"), HTTPSProxy: os.Getenv("HTTPS_PROXY"), NoProxy: os.Getenv("NO_PROXY"),
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		LiveRestoreEnabled: true,
		InitBinary:         "berth-init",
		RuncCommit:         system.Commit{ID: rt.cfg.RuncVersion},
		Labels:             []string{},
		CDISpecDirs:        []string{},
		Warnings:           cg.Warnings(),
		SystemStatus:       rt.b.HostTuning(),
	}
	if rt.cfg.CgroupVersion == "2" {
		info.SecurityOptions = append(info.SecurityOptions, "name=cgroupns")
	}
	if !info.IPv4Forwarding {
		info.Warnings = append(info.Warnings, "WARNING: IPv4 forwarding is disabled")
	}
	info.Swarm.LocalNodeState = "inactive"
	info.Plugins.Log = rt.cfg.LogDrivers
	info.Plugins.Network = []string{"host", "null"}
	info.Plugins.Volume = []string{}
	httputil.WriteJSON(w, http.StatusOK, info)
	return nil
}

// registryConfig is /info's RegistryConfig: loopback is always insecure,
// as in Docker, plus the daemon's insecure registries (CIDRs or hosts).
func registryConfig(insecure, mirrors []string) *registry.ServiceConfig {
	rc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: []*registry.NetIPNet{}, IndexConfigs: map[string]*registry.IndexInfo{},
		Mirrors: append([]string{}, mirrors...),
	}
	for _, c := range append([]string{"127.0.0.0/8", "::1/128"}, insecure...) {
		if _, n, err := net.ParseCIDR(c); err == nil {
			ipn := registry.NetIPNet(*n)
			rc.InsecureRegistryCIDRs = append(rc.InsecureRegistryCIDRs, &ipn)
		} else {
			rc.IndexConfigs[c] = &registry.IndexInfo{Name: c, Mirrors: []string{}, Secure: false}
		}
	}
	rc.IndexConfigs["docker.io"] = &registry.IndexInfo{Name: "docker.io", Mirrors: append([]string{}, mirrors...), Secure: true, Official: true}
	return rc
}

// parseTime reads "seconds[.nanos]" or an RFC 3339 time.
func (rt *Router) events(w http.ResponseWriter, r *http.Request) error {
	since, err := httputil.ParseTime(r.FormValue("since"))
	if err != nil {
		return err
	}
	until, err := httputil.ParseTime(r.FormValue("until"))
	if err != nil {
		return err
	}
	f, err := filters.FromJSON(r.FormValue("filters"))
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	past, ch, cancel := rt.b.Subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := httputil.NewFlushWriter(w)
	fw.Write(nil)
	enc := json.NewEncoder(fw)
	send := func(m events.Message) bool {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false
		}
		if match(f, m) {
			if enc.Encode(m) != nil {
				return false
			}
		}
		return true
	}
	for _, m := range past {
		if !send(m) {
			return nil
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		deadline = time.After(time.Until(until))
	}
	for {
		select {
		case m := <-ch:
			if !send(m) {
				return nil
			}
		case <-deadline:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

// match applies Docker's event filters.
func match(f filters.Args, m events.Message) bool {
	if !f.ExactMatch("type", m.Type) {
		return false
	}
	action := m.Action
	if i := strings.Index(action, ":"); i > 0 {
		action = action[:i]
	}
	if !f.ExactMatch("event", action) {
		return false
	}
	if f.Contains("container") && m.Type == "container" {
		name := m.Actor.Attributes["name"]
		ok := false
		for _, v := range f.Get("container") {
			if v == name || strings.HasPrefix(m.Actor.ID, v) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	} else if f.Contains("container") {
		return false
	}
	if f.Contains("image") {
		img := m.Actor.Attributes["image"]
		if m.Type == "image" {
			img = m.Actor.ID
		}
		if !f.ExactMatch("image", img) && !f.ExactMatch("image", m.Actor.Attributes["name"]) {
			return false
		}
	}
	if f.Contains("label") {
		for _, l := range f.Get("label") {
			k, v, hasV := strings.Cut(l, "=")
			got, ok := m.Actor.Attributes[k]
			if !ok || hasV && got != v {
				return false
			}
		}
	}
	return true
}
