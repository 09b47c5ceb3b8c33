package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/namesgenerator"
	"github.com/docker/go-connections/nat"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/events"
	"github.com/berthproject/berth/internal/logs"
	"github.com/berthproject/berth/internal/spec"
	"github.com/berthproject/berth/internal/sysinfo"
)

// Bucket is the bbolt bucket this package owns.
const Bucket = "containers"

// ImageInfo is what the service needs to know of an image.
type ImageInfo struct {
	ID     digest.Digest
	Top    digest.Digest // chain ID of the top layer
	Size   int64         // bytes of the image's unpacked layers
	Config dockerspec.DockerOCIImageConfig
}

// Images resolves image references; the daemon wires the image service.
type Images interface {
	Resolve(ref string) (ImageInfo, error)
}

// Deps are what the service stands on; the daemon wires the real ones,
// unit tests fakes of the interfaces.
type Deps struct {
	DB      *bolt.DB
	Layers  Layers
	Runtime Runtime
	Images  Images
	Events  *events.Bus
	Root    string // per-container directories
	// InitBinary is a static binary to mount as the container's init for
	// --init ("" when the engine has none).
	InitBinary string
	// Cgroups is what the host's cgroups can limit, Unified whether they
	// are v2 only: options the host cannot honour are refused.
	Cgroups sysinfo.Cgroups
	Unified bool
	// Networks attaches containers of the default network to the bridge;
	// nil: they get a namespace with loopback only.
	Networks Networks
	// Volumes gives containers their volumes; nil: volumes are refused.
	Volumes Volumes
	// HostGateway is what --add-host NAME:host-gateway maps to: the
	// default bridge's gateway, an address of the host ("": none).
	HostGateway string
}

// Service is the container service. Its methods are safe for concurrent use.
type Service struct {
	db     *bolt.DB
	layers Layers
	rt     Runtime
	images Images
	bus    *events.Bus
	root   string // per-container directories

	hostCaps   []string // what --privileged grants: the engine's own bounding set
	initBinary string
	cgroups    sysinfo.Cgroups
	unified    bool
	networks   Networks // nil: no default bridge
	hostGW     string   // --add-host's host-gateway
	volumes    Volumes  // nil: no volumes

	mu    sync.Mutex
	byID  map[string]*entry
	names map[string]string // "/name" → id
	execs map[string]*execSession
}

// NewService returns a container service; call Restore before use.
func NewService(d Deps) (*Service, error) {
	if err := os.MkdirAll(d.Root, 0o700); err != nil {
		return nil, err
	}
	return &Service{db: d.DB, layers: d.Layers, rt: d.Runtime, images: d.Images, bus: d.Events, root: d.Root, hostCaps: boundingSet(),
		initBinary: d.InitBinary, cgroups: d.Cgroups, unified: d.Unified, networks: d.Networks, hostGW: d.HostGateway, volumes: d.Volumes,
		byID: map[string]*entry{}, names: map[string]string{}, execs: map[string]*execSession{}}, nil
}

// boundingSet reads this process's capability bounding set.
func boundingSet() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err == nil {
				return spec.CapabilitiesFromMask(mask)
			}
		}
	}
	return nil
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// persist writes the record (in this version's format); callers hold e.mu.
func (s *Service) persist(r *Record) error {
	r.Version = RecordVersion
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Bucket)).Put([]byte(r.ID), b)
	})
}

func (s *Service) event(r *Record, action string, extra map[string]string) {
	attrs := map[string]string{"name": strings.TrimPrefix(r.Name, "/"), "image": r.Config.Image}
	for k, v := range r.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	s.bus.Publish("container", action, r.ID, attrs)
}

// lookup resolves a full ID, a name (with or without "/") or a unique ID prefix.
func (s *Service) lookup(ref string) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[ref]; ok {
		return e, nil
	}
	if id, ok := s.names["/"+strings.TrimPrefix(ref, "/")]; ok {
		if e := s.byID[id]; e != nil {
			return e, nil
		}
		// The name is reserved by a create still under way: no container yet.
	}
	if ref != "" {
		var found *entry
		for id, e := range s.byID {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage("multiple IDs found with provided prefix: " + ref)
				}
				found = e
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage("No such container: " + ref)
}

// Get returns a copy of the record of the container ref names.
func (s *Service) Get(ref string) (Record, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return Record{}, err
	}
	return e.snapshot(), nil
}

// Name is container id's name without its slash, "" when there is no
// such container.
func (s *Service) Name(id string) string {
	s.mu.Lock()
	e := s.byID[id]
	s.mu.Unlock()
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.TrimPrefix(e.rec.Name, "/")
}

// List returns all containers, newest first.
func (s *Service) List() []Record {
	s.mu.Lock()
	entries := make([]*entry, 0, len(s.byID))
	for _, e := range s.byID {
		entries = append(entries, e)
	}
	s.mu.Unlock()
	out := make([]Record, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// ImageInUse reports whether any container was created from image id.
func (s *Service) ImageInUse(id digest.Digest) bool {
	for _, r := range s.List() {
		if r.Image == id {
			return true
		}
	}
	return false
}

// CreateResult is what Create returns.
type CreateResult struct {
	ID       string
	Warnings []string
}

// Create makes a container (not started) from cfg and hc.
func (s *Service) Create(name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (CreateResult, error) {
	if cfg == nil || cfg.Image == "" {
		return CreateResult{}, errdefs.ErrInvalidArgument.WithMessage("config cannot be empty in order to create a container")
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if err := validateConfig(cfg); err != nil {
		return CreateResult{}, err
	}
	if err := validateHostConfig(hc); err != nil {
		return CreateResult{}, err
	}
	if hc.UTSMode.IsHost() && cfg.Hostname != "" {
		return CreateResult{}, errdefs.ErrInvalidArgument.WithMessage("conflicting options: hostname and the UTS mode")
	}
	if m := hc.NetworkMode; userNetwork(m) {
		if s.networks == nil {
			return CreateResult{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", m))
		}
		name, err := s.networks.Lookup(string(m))
		if err != nil {
			return CreateResult{}, notFoundAsInvalid(err)
		}
		hc.NetworkMode = container.NetworkMode(name)
		if nc != nil { // the endpoint the CLI names as it was given (name or ID)
			for k, ep := range nc.EndpointsConfig {
				if other, err := s.networks.Lookup(k); err == nil && other == name && k != name {
					delete(nc.EndpointsConfig, k)
					nc.EndpointsConfig[name] = ep
				}
			}
		}
	}
	if hc.NetworkMode.IsContainer() && (cfg.Hostname != "" || cfg.Domainname != "") {
		return CreateResult{}, errdefs.ErrInvalidArgument.WithMessage("conflicting options: hostname and the network mode")
	}
	if err := s.checkHostSupport(&hc.Resources); err != nil {
		return CreateResult{}, err
	}
	if err := s.checkExtraHosts(hc); err != nil {
		return CreateResult{}, err
	}
	if err := s.validatePorts(cfg, hc); err != nil {
		return CreateResult{}, err
	}
	if err := checkFields(cfg, hc, nc); err != nil {
		return CreateResult{}, err
	}
	want, err := endpointRequest(cfg, hc, nc)
	if err != nil {
		return CreateResult{}, err
	}
	extra, err := s.extraNetworks(hc, nc)
	if err != nil {
		return CreateResult{}, notFoundAsInvalid(err)
	}
	mounts, warnings, err := parseMounts(cfg, hc)
	if err != nil {
		return CreateResult{}, err
	}
	if mounts, err = s.volumesFrom(hc.VolumesFrom, mounts); err != nil {
		return CreateResult{}, err
	}
	img, err := s.images.Resolve(cfg.Image)
	if err != nil {
		return CreateResult{}, err
	}
	id := newID()
	if name != "" {
		if !validName.MatchString(name) {
			return CreateResult{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
		}
		name = "/" + strings.TrimPrefix(name, "/")
	}
	s.mu.Lock()
	if name == "" {
		for {
			name = "/" + namesgenerator.GetRandomName(0)
			if _, taken := s.names[name]; !taken {
				break
			}
		}
	} else if other, taken := s.names[name]; taken {
		s.mu.Unlock()
		return CreateResult{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, other))
	}
	s.names[name] = id // reserve
	s.mu.Unlock()
	if err := s.normalizeLinks(hc, name); err != nil {
		s.mu.Lock()
		delete(s.names, name)
		s.mu.Unlock()
		return CreateResult{}, err
	}
	mounts = anonymousVolumes(mounts, img.Config.Volumes)
	err = s.acquireVolumes(id, mounts)
	var rec *Record
	if err == nil {
		rec, err = s.create(id, name, cfg, hc, img, want, extra, mounts)
	}
	if err != nil {
		s.releaseVolumes(id, mounts, true)
		s.mu.Lock()
		delete(s.names, name)
		s.mu.Unlock()
		_ = s.layers.RemoveRW(id)
		_ = os.RemoveAll(filepath.Join(s.root, id))
		return CreateResult{}, err
	}
	e := &entry{rec: *rec, exitCh: make(chan struct{}), rmCh: make(chan struct{})}
	s.mu.Lock()
	s.byID[id] = e
	s.mu.Unlock()
	s.event(rec, "create", nil)
	if hc.Memory > 0 && hc.Memory < 6*1024*1024 {
		warnings = append(warnings, "Minimum memory limit allowed is 6MB")
	}
	return CreateResult{ID: id, Warnings: warnings}, nil
}

// notFoundAsInvalid turns a 404 of something a create names (a network)
// into a 400, as Docker does: a client takes a 404 from create for a
// missing image, and would pull it.
func notFoundAsInvalid(err error) error {
	if errdefs.IsNotFound(err) {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return err
}

// endpointRequest is what create asks of the container's endpoint on
// its network mode's network: --ip (user-defined networks only, as
// Docker) and --mac-address (on a bridge), checked; nil for nothing.
// Endpoints on other networks are extraNetworks'.
func endpointRequest(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (*network.EndpointSettings, error) {
	var asked *network.EndpointSettings
	if nc != nil {
		for name, ep := range nc.EndpointsConfig {
			if ep != nil && defaultNetwork(name, hc.NetworkMode) {
				asked = ep
			}
		}
	}
	want, err := endpointAsked(string(hc.NetworkMode), asked)
	if err != nil {
		return nil, err
	}
	if mac := cfg.MacAddress; mac != "" && want.MacAddress == "" { //nolint:staticcheck // the API before 1.44 sends it here
		want.MacAddress = mac
		if err := checkMAC(mac); err != nil {
			return nil, err
		}
	}
	if want.MacAddress != "" {
		if m := hc.NetworkMode; m.IsHost() || m.IsNone() || m.IsContainer() {
			return nil, errdefs.ErrInvalidArgument.WithMessage("conflicting options: mac-address and the network mode")
		}
	}
	if want.MacAddress == "" && want.IPAMConfig == nil && len(want.Aliases) == 0 {
		return nil, nil
	}
	return want, nil
}

// endpointAsked checks what is asked of an endpoint on network netName
// ("", "bridge" or a user-defined network's name; nil asks nothing) and
// returns what berth keeps of it: aliases and --ip (user-defined networks
// only, as Docker), the MAC.
func endpointAsked(netName string, ep *network.EndpointSettings) (*network.EndpointSettings, error) {
	want := &network.EndpointSettings{}
	if ep == nil {
		return want, nil
	}
	user := userNetwork(container.NetworkMode(netName))
	if ep.MacAddress != "" {
		if err := checkMAC(ep.MacAddress); err != nil {
			return nil, err
		}
		want.MacAddress = ep.MacAddress
	}
	if len(ep.Aliases) > 0 {
		if !user {
			return nil, errdefs.ErrInvalidArgument.WithMessage("network-scoped alias is supported only for containers in user defined networks")
		}
		for _, a := range ep.Aliases {
			if a == "" || strings.ContainsAny(a, " \t\n#") {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid network alias %q", a))
			}
		}
		want.Aliases = append([]string(nil), ep.Aliases...)
	}
	if c := ep.IPAMConfig; c != nil {
		if len(c.LinkLocalIPs) > 0 {
			return nil, errdefs.ErrInvalidArgument.WithMessage("berth: --link-local-ip (NetworkingConfig IPAMConfig LinkLocalIPs) is not supported yet")
		}
		if c.IPv6Address != "" {
			if ip := net.ParseIP(c.IPv6Address); ip == nil || ip.To4() != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage("invalid IPv6 address: " + c.IPv6Address)
			}
			if !user {
				return nil, errdefs.ErrInvalidArgument.WithMessage("user specified IP address is supported on user defined networks only")
			}
			want.IPAMConfig = &network.EndpointIPAMConfig{IPv6Address: c.IPv6Address}
		}
		if c.IPv4Address != "" {
			if net.ParseIP(c.IPv4Address).To4() == nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage("invalid IPv4 address: " + c.IPv4Address)
			}
			if !user {
				return nil, errdefs.ErrInvalidArgument.WithMessage("user specified IP address is supported on user defined networks only")
			}
			if want.IPAMConfig == nil {
				want.IPAMConfig = &network.EndpointIPAMConfig{}
			}
			want.IPAMConfig.IPv4Address = c.IPv4Address
		}
	}
	return want, nil
}

func checkMAC(s string) error {
	if mac, err := net.ParseMAC(s); err != nil || len(mac) != 6 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MAC address: %s", s))
	}
	return nil
}

// extraNetworks are the networks of NetworkingConfig beyond the network
// mode's (what `docker run --network a --network b` sends), by name, with
// what is asked of each; an unknown network is refused, and so are
// several networks with a mode that allows one.
func (s *Service) extraNetworks(hc *container.HostConfig, nc *network.NetworkingConfig) (map[string]*network.EndpointSettings, error) {
	if nc == nil {
		return nil, nil
	}
	out := map[string]*network.EndpointSettings{}
	for ref, ep := range nc.EndpointsConfig {
		if defaultNetwork(ref, hc.NetworkMode) {
			continue
		}
		name, err := s.joinable(hc.NetworkMode, ref)
		if err != nil {
			return nil, err
		}
		if name == string(hc.NetworkMode) || defaultNetwork(name, hc.NetworkMode) {
			continue // the mode's network named by its ID
		}
		want, err := endpointAsked(name, ep)
		if err != nil {
			return nil, err
		}
		out[name] = want
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// joinable resolves ref, a network a container of network mode mode is
// to join beyond its mode's, to its name, with Docker's errors for what
// cannot be.
func (s *Service) joinable(mode container.NetworkMode, ref string) (string, error) {
	switch {
	case mode.IsHost() || ref == "host":
		return "", errdefs.ErrPermissionDenied.WithMessage("container cannot be disconnected from host network or connected to host network")
	case mode.IsNone() || ref == "none":
		return "", errdefs.ErrPermissionDenied.WithMessage("container cannot be connected to multiple networks with one of the networks in private (none) mode")
	case mode.IsContainer():
		return "", errdefs.ErrPermissionDenied.WithMessage("container sharing network namespace with another container or host cannot be connected to any other network")
	case s.networks == nil:
		return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	case ref == "" || ref == "default" || ref == "bridge":
		return "bridge", nil
	}
	return s.networks.Lookup(ref)
}

// userNetwork reports whether a network mode names a user-defined network.
func userNetwork(m container.NetworkMode) bool {
	switch {
	case m == "", m == "default", m == "bridge", m.IsHost(), m.IsNone(), m.IsContainer():
		return false
	}
	return true
}

// validatePorts checks -p and -P as Docker does, and refuses them where
// berth would publish nothing (Docker drops them with a warning there).
func (s *Service) validatePorts(cfg *container.Config, hc *container.HostConfig) error {
	if len(hc.PortBindings) == 0 && !hc.PublishAllPorts {
		return nil
	}
	for p, bs := range hc.PortBindings {
		if lo, _, err := nat.ParsePortRangeToInt(p.Port()); err != nil || lo < 1 {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid port specification: %q", string(p)))
		}
		if pr := p.Proto(); pr != "tcp" && pr != "udp" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid proto: %s", pr))
		}
		for _, b := range bs {
			if b.HostIP != "" {
				ip := net.ParseIP(b.HostIP)
				if ip == nil {
					return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IP address: %s", b.HostIP))
				}
				if ip.To4() == nil {
					return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: publishing on an IPv6 address (%s) is not supported yet", b.HostIP))
				}
			}
			if _, _, err := nat.ParsePortRangeToInt(b.HostPort); err != nil {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid port specification: %q", b.HostPort))
			}
		}
	}
	switch {
	case hc.NetworkMode.IsHost(), hc.NetworkMode.IsNone(), cfg.NetworkDisabled:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: -p/-P (HostConfig.PortBindings) publish on the default bridge only; network mode %q has nothing to publish", hc.NetworkMode))
	case s.networks == nil:
		return errdefs.ErrInvalidArgument.WithMessage("berth: -p/-P (HostConfig.PortBindings) need the default bridge, which this daemon runs without (--bridge none)")
	}
	return nil
}

// validateConfig checks and normalizes cfg as Docker does at create.
func validateConfig(cfg *container.Config) error {
	for _, kv := range cfg.Env {
		if k, _, _ := strings.Cut(kv, "="); k == "" {
			return errdefs.ErrInvalidArgument.WithMessage("invalid environment variable: " + kv)
		}
	}
	if wd := cfg.WorkingDir; wd != "" {
		if !filepath.IsAbs(wd) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the working directory '%s' is invalid, it needs to be an absolute path", wd))
		}
		cfg.WorkingDir = filepath.Clean(wd)
	}
	return nil
}

func validateHostConfig(hc *container.HostConfig) error {
	switch hc.Runtime {
	case "", "runc":
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown or invalid runtime name: %s", hc.Runtime))
	}
	switch m := hc.IpcMode; {
	case m == "", m.IsPrivate(), m.IsShareable(), m.IsHost(), m.IsNone(), m.IsContainer() && m.Container() != "":
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPC mode: %s", m))
	}
	switch m := hc.PidMode; {
	case m == "", m.IsHost(), m.IsContainer() && m.Container() != "":
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --pid: %s", m))
	}
	switch m := hc.UTSMode; {
	case m == "", m.IsHost():
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --uts: %s", m))
	}
	if p := hc.CgroupParent; p != "" && strings.ContainsAny(p, ":\x00") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --cgroup-parent %q: a path of the cgroup file system is expected", p))
	}
	for _, d := range hc.Devices {
		if !spec.ValidDeviceMode(d.CgroupPermissions) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device mode: %s", d.CgroupPermissions))
		}
		if !filepath.IsAbs(d.PathInContainer) || !filepath.IsAbs(d.PathOnHost) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device path %s:%s: both must be absolute", d.PathOnHost, d.PathInContainer))
		}
	}
	for _, r := range hc.DeviceCgroupRules {
		if _, err := spec.ParseDeviceCgroupRule(r); err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
	}
	switch m := hc.NetworkMode; {
	case m == "", m == "default", m == "bridge", m == "none", m == "host":
	case m.IsContainer():
		if m.ConnectedContainer() == "" {
			return errdefs.ErrInvalidArgument.WithMessage("invalid network mode: container: names no container")
		}
		// As Docker: what the container whose network is joined decides.
		switch {
		case len(hc.PortBindings) > 0 || hc.PublishAllPorts:
			return errdefs.ErrInvalidArgument.WithMessage("conflicting options: port publishing and the container type network mode")
		case len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0:
			return errdefs.ErrInvalidArgument.WithMessage("conflicting options: dns and the network mode")
		case len(hc.ExtraHosts) > 0:
			return errdefs.ErrInvalidArgument.WithMessage("conflicting options: custom host-to-IP mapping and the network mode")
		}
	default:
		// A user-defined network: Create asks the network service.
	}
	rp := hc.RestartPolicy
	switch rp.Name {
	case "", "no", "always", "unless-stopped":
		if rp.MaximumRetryCount != 0 {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid restart policy: maximum retry count can only be used with 'on-failure'"))
		}
	case "on-failure":
		if rp.MaximumRetryCount < 0 {
			return errdefs.ErrInvalidArgument.WithMessage("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", rp.Name))
	}
	if hc.AutoRemove && rp.Name != "" && rp.Name != "no" {
		return errdefs.ErrInvalidArgument.WithMessage("conflicting options: cannot specify both --restart and --rm")
	}
	if _, err := logs.ParseConfig(hc.LogConfig.Type, hc.LogConfig.Config); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	if err := validateMounts(hc); err != nil {
		return err
	}
	if err := validateResources(hc); err != nil {
		return err
	}
	if hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory {
		return errdefs.ErrInvalidArgument.WithMessage("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if hc.MemorySwap > 0 && hc.Memory == 0 {
		return errdefs.ErrInvalidArgument.WithMessage("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if hc.Memory > 0 && hc.Memory < 6*1024*1024 {
		return errdefs.ErrInvalidArgument.WithMessage("Minimum memory limit allowed is 6MB")
	}
	return nil
}

// validateMounts checks mount targets as Docker does (absolute, not "/",
// not twice); checkFields then refuses what berth does not mount yet.
func validateMounts(hc *container.HostConfig) error {
	seen := map[string]bool{}
	add := func(target string) error {
		t := filepath.Clean(target)
		if seen[t] {
			return errdefs.ErrInvalidArgument.WithMessage("Duplicate mount point: " + t)
		}
		seen[t] = true
		return nil
	}
	tmpfs := make([]string, 0, len(hc.Tmpfs))
	for t := range hc.Tmpfs {
		tmpfs = append(tmpfs, t)
	}
	sort.Strings(tmpfs)
	for _, t := range tmpfs {
		if t == "/" {
			return errdefs.ErrInvalidArgument.WithMessage("invalid specification: destination can't be '/'")
		}
		if !filepath.IsAbs(t) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount path: '%s' mount path must be absolute", t))
		}
		if err := add(t); err != nil {
			return err
		}
	}
	for _, m := range hc.Mounts {
		if err := add(m.Target); err != nil {
			return err
		}
	}
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		target := parts[0]
		if len(parts) > 1 {
			target = parts[1]
		}
		if err := add(target); err != nil {
			return err
		}
	}
	return nil
}

// validateResources checks limits as Docker does.
func validateResources(hc *container.HostConfig) error {
	bad := func(format string, a ...any) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, a...))
	}
	r := hc.Resources
	if r.MemorySwappiness != nil && (*r.MemorySwappiness < -1 || *r.MemorySwappiness > 100) {
		return bad("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}
	if r.MemoryReservation > 0 && r.MemoryReservation < 6*1024*1024 {
		return bad("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return bad("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if ncpu := int64(goruntime.NumCPU()); r.NanoCPUs < 0 || r.NanoCPUs > ncpu*1e9 {
		return bad("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
	}
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPUShares < 0 {
		return bad("invalid CPU shares (%d): value must be a positive integer", r.CPUShares)
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return bad("Range of blkio weight is from 10 to 1000")
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return bad("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
	}
	if r.CpusetCpus != "" {
		if err := checkCPUSet(r.CpusetCpus, goruntime.NumCPU()); err != nil {
			return err
		}
	}
	return nil
}

// checkHostSupport refuses limits this host's cgroups cannot set (Docker
// drops them with a warning: never accept and ignore).
func (s *Service) checkHostSupport(r *container.Resources) error {
	if (r.BlkioWeight > 0 || len(r.BlkioWeightDevice) > 0) && !s.cgroups.BlkioWeight {
		return errdefs.ErrInvalidArgument.WithMessage("berth: --blkio-weight is not supported on this host: its block I/O cgroup has no weights (no BFQ I/O scheduler)")
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && (s.unified || !s.cgroups.OomKillDisable) {
		return errdefs.ErrInvalidArgument.WithMessage("berth: --oom-kill-disable is not supported on this host: cgroup v2 cannot disable the OOM killer")
	}
	return nil
}

// checkCPUSet checks a --cpuset-cpus list ("0-2,4") against the host's CPUs.
func checkCPUSet(list string, ncpu int) error {
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid value %s for cpuset cpus", list))
		}
		if b >= ncpu {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Requested CPUs are not available - requested %s, available: 0-%d", list, ncpu-1))
		}
	}
	return nil
}

func (s *Service) create(id, name string, cfg *container.Config, hc *container.HostConfig, img ImageInfo, want *network.EndpointSettings, extra map[string]*network.EndpointSettings, mounts []MountPoint) (*Record, error) {
	merged := mergeImageConfig(cfg, img.Config)
	if len(merged.Entrypoint) == 0 && len(merged.Cmd) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no command specified")
	}
	if merged.Hostname == "" {
		if hc.NetworkMode.IsHost() || hc.UTSMode.IsHost() {
			merged.Hostname, _ = os.Hostname()
		} else {
			merged.Hostname = id[:12]
		}
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = "default"
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if hc.IpcMode == "" {
		hc.IpcMode = "private" // Docker's default-ipc-mode
	}
	if hc.Runtime == "" {
		hc.Runtime = "runc" // libcontainer is runc's
	}
	if hc.Memory > 0 && hc.MemorySwap == 0 && s.cgroups.SwapLimit {
		hc.MemorySwap = 2 * hc.Memory // Docker's default, recorded as Docker does
	}
	dir := filepath.Join(s.root, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := s.layers.PrepareRW(id); err != nil {
		return nil, err
	}
	logFile := logPath(dir, id, hc.LogConfig.Type)
	if logFile != "" {
		if err := os.MkdirAll(filepath.Dir(logFile), 0o700); err != nil { // local-logs/
			return nil, err
		}
	}
	if err := s.writeEtcFiles(dir, merged.Hostname, merged.Domainname, hc); err != nil {
		return nil, err
	}
	args := append(append([]string{}, merged.Entrypoint...), merged.Cmd...)
	rec := &Record{
		ID: id, Name: name, Created: time.Now().UTC(), Path: args[0], Args: args[1:],
		Config: merged, HostConfig: hc, Image: img.ID, ImageTop: img.Top,
		State:   State{Status: "created"},
		LogPath: logFile, Dir: dir, Endpoint: want, Extra: extra, MountPoints: mounts,
	}
	if _, err := logs.Attributes(hc.LogConfig.Config, logInfo(rec)); err != nil { // a tag template that cannot run
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return rec, s.persist(rec)
}

// logPath is where a container's log driver keeps its log, as Docker
// lays them out ("" for none).
func logPath(dir, id, driver string) string {
	switch driver {
	case "local":
		return filepath.Join(dir, "local-logs", "container.log")
	case "none":
		return ""
	}
	return filepath.Join(dir, id+"-json.log")
}

// mergeImageConfig fills what the user left unset from the image.
func mergeImageConfig(cfg *container.Config, img dockerspec.DockerOCIImageConfig) *container.Config {
	c := *cfg
	if c.User == "" {
		c.User = img.User
	}
	if c.WorkingDir == "" {
		c.WorkingDir = img.WorkingDir
	}
	if len(c.Entrypoint) == 0 && len(c.Cmd) == 0 {
		c.Entrypoint, c.Cmd = img.Entrypoint, img.Cmd
	} else if len(c.Entrypoint) == 0 && cfg.Entrypoint == nil {
		c.Entrypoint = img.Entrypoint
	}
	env := mergeEnv(img.Env, c.Env)
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	c.Env = env
	labels := map[string]string{}
	for k, v := range img.Labels {
		labels[k] = v
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	c.Labels = labels
	if c.StopSignal == "" {
		c.StopSignal = img.StopSignal
	}
	if len(c.ExposedPorts) == 0 && len(img.ExposedPorts) > 0 {
		c.ExposedPorts = nat.PortSet{}
	}
	for p := range img.ExposedPorts {
		c.ExposedPorts[nat.Port(p)] = struct{}{}
	}
	if c.Healthcheck == nil && img.Healthcheck != nil {
		hc := container.HealthConfig(*img.Healthcheck)
		c.Healthcheck = &hc
	}
	return &c
}

// mergeEnv returns base with over's KEY=VALUE entries replacing or added.
func mergeEnv(base, over []string) []string {
	env := append([]string{}, base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range env {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				env[i], replaced = kv, true
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}

// writeHosts writes the container's /etc/hosts: the host's with
// --network host, else localhost's lines, --add-host's, and the
// container's own address (ip, "" while it has none) with its names, as
// Docker writes it.
func (s *Service) writeHosts(dir, ip, hostname, domain string, hc *container.HostConfig, links string) error {
	var hosts string
	extra := ""
	for _, h := range hc.ExtraHosts { // checked at create
		n, addr, _ := strings.Cut(h, ":")
		if addr == hostGateway {
			addr = s.hostGW
		}
		extra += addr + "\t" + n + "\n"
	}
	if hc.NetworkMode.IsHost() {
		b, _ := os.ReadFile("/etc/hosts")
		hosts = string(b)
		if hosts != "" && !strings.HasSuffix(hosts, "\n") {
			hosts += "\n"
		}
		hosts += extra
	} else {
		hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
		hosts += extra
		if ip != "" {
			names := hostname
			if domain != "" {
				names = hostname + "." + domain + " " + hostname
			}
			hosts += ip + "\t" + names + "\n"
		}
		hosts += links
	}
	return os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts), 0o644)
}

// hostGateway is --add-host's word for an address of the host.
const hostGateway = "host-gateway"

// checkExtraHosts checks --add-host NAME:IP (or NAME:host-gateway) as
// Docker does.
func (s *Service) checkExtraHosts(hc *container.HostConfig) error {
	for _, h := range hc.ExtraHosts {
		name, addr, ok := strings.Cut(h, ":")
		switch {
		case !ok || name == "" || strings.ContainsAny(name, " \t"):
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid extra host %q: want NAME:IP", h))
		case addr == hostGateway:
			if s.hostGW == "" {
				return errdefs.ErrInvalidArgument.WithMessage("unable to derive the IP value for host-gateway: this daemon has no default bridge (--bridge none)")
			}
		case net.ParseIP(addr) == nil:
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IP address in add-host: %q", addr))
		}
	}
	return nil
}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf.
func (s *Service) writeEtcFiles(dir, hostname, domain string, hc *container.HostConfig) error {
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	if err := s.writeHosts(dir, "", hostname, domain, hc, ""); err != nil {
		return err
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(resolvConf(string(host), hc)), 0o644)
}

// parseResolvConf splits a resolv.conf into its nameservers, search
// domains, options and other lines.
func parseResolvConf(conf string) (servers, search, options, other []string) {
	for _, l := range strings.Split(conf, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "nameserver":
			servers = append(servers, f[1])
		case len(f) >= 2 && (f[0] == "search" || f[0] == "domain"):
			search = f[1:]
		case len(f) >= 2 && f[0] == "options":
			options = append(options, f[1:]...)
		case len(f) > 0 && !strings.HasPrefix(f[0], "#") && !strings.HasPrefix(f[0], ";"):
			other = append(other, l)
		}
	}
	return servers, search, options, other
}

// dnsServers are where the embedded DNS of user-defined network netName
// forwards a container's questions: its --dns servers, else the host's
// (loopback ones included: the resolver asks those from the host's
// namespace). Other networks have no embedded DNS: none, and the host's
// file is not read on their starts.
func dnsServers(hc *container.HostConfig, netName string) []string {
	if len(hc.DNS) > 0 || !userNetwork(container.NetworkMode(netName)) {
		return hc.DNS
	}
	b, _ := os.ReadFile("/etc/resolv.conf")
	servers, _, _, _ := parseResolvConf(string(b))
	return servers
}

// resolvConf is a container's /etc/resolv.conf, from the host's: as
// Docker, --dns, --dns-search and --dns-option replace the host's
// nameservers, search domains and options; on a user-defined network the
// one nameserver is the embedded DNS (which forwards to the others), with
// ndots:0 unless the container sets ndots.
func resolvConf(host string, hc *container.HostConfig) string {
	servers, search, options, other := parseResolvConf(host)
	if len(hc.DNS) > 0 {
		servers = hc.DNS
	}
	if len(hc.DNSSearch) > 0 {
		search = hc.DNSSearch
	}
	if len(hc.DNSOptions) > 0 {
		options = hc.DNSOptions
	}
	var b strings.Builder
	embedded := userNetwork(hc.NetworkMode)
	if embedded {
		b.WriteString("nameserver 127.0.0.11\n")
	} else {
		for _, ns := range servers {
			if !hc.NetworkMode.IsHost() && (strings.HasPrefix(ns, "127.") || ns == "::1") {
				continue // a loopback resolver of the host is not reachable from the container
			}
			b.WriteString("nameserver " + ns + "\n")
		}
	}
	if len(search) > 0 && !slices.Equal(search, []string{"."}) {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if embedded && !slices.ContainsFunc(options, func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
		options = append([]string{"ndots:0"}, options...)
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	if embedded {
		b.WriteString("\n# berth's embedded DNS forwards what it does not know to: " + strings.Join(servers, " ") + "\n")
	}
	return b.String()
}

// Rename changes a container's name.
func (s *Service) Rename(ref, newName string) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if !validName.MatchString(newName) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName))
	}
	newName = "/" + strings.TrimPrefix(newName, "/")
	e.mu.Lock()
	defer e.mu.Unlock()
	s.mu.Lock()
	if other, taken := s.names[newName]; taken {
		s.mu.Unlock()
		if other == e.rec.ID {
			return errdefs.ErrInvalidArgument.WithMessage("Renaming a container with the same name as its current name")
		}
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", newName, other))
	}
	old := e.rec.Name
	delete(s.names, old)
	s.names[newName] = e.rec.ID
	s.mu.Unlock()
	e.rec.Name = newName
	if e.rec.Running() && s.networks != nil && len(e.rec.Networks) > 0 {
		// The embedded DNS answers to the new name at once (as Docker).
		if err := s.networks.Rename(e.rec.ID, old[1:], newName[1:]); err != nil {
			slog.Warn("rename in the embedded DNS", "id", e.rec.ID[:12], "err", err)
		}
		nets := map[string]*network.EndpointSettings{}
		for name, ep := range e.rec.Networks {
			cp := *ep
			cp.DNSNames = slices.Clone(ep.DNSNames)
			if i := slices.Index(cp.DNSNames, old[1:]); i >= 0 {
				cp.DNSNames[i] = newName[1:]
			}
			nets[name] = &cp
		}
		e.rec.Networks = nets
	}
	if err := s.persist(&e.rec); err != nil {
		return err
	}
	s.event(&e.rec, "rename", map[string]string{"oldName": old})
	return nil
}
