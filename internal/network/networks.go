package network

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/network/bridge"
)

// userNet is a user-defined bridge network: its record and its addresses.
type userNet struct {
	netRecord
	pool  *Pool
	pool6 *Pool6 // nil: no IPv6
}

// netRecord is what bbolt keeps of a user-defined network.
type netRecord struct {
	ID, Name   string
	Subnet     string // CIDR
	Gateway    string
	IPRange    string `json:",omitempty"`
	Subnet6    string `json:",omitempty"` // --ipv6: the IPv6 subnet
	Gateway6   string `json:",omitempty"`
	Internal   bool   `json:",omitempty"`
	Attachable bool   `json:",omitempty"`
	Labels     map[string]string
	Options    map[string]string
	Bridge     string // br-<ID[:12]>, or com.docker.network.bridge.name
	Created    time.Time
}

func (s *Service) loadNetworks() error {
	return s.cfg.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketNetworks)).ForEach(func(k, v []byte) error {
			var r netRecord
			if err := json.Unmarshal(v, &r); err != nil {
				slog.Warn("skipping unreadable network record", "id", string(k), "err", err)
				return nil
			}
			n, err := newUserNet(r)
			if err != nil {
				slog.Warn("skipping network record", "name", r.Name, "err", err)
				return nil
			}
			// The bridge is made again if the host lost it (a reboot).
			if err := s.ensureBridge(n); err != nil {
				return fmt.Errorf("network %s: %w", r.Name, err)
			}
			s.nets[r.ID] = n
			return nil
		})
	})
}

func newUserNet(r netRecord) (*userNet, error) {
	_, subnet, err := net.ParseCIDR(r.Subnet)
	if err != nil {
		return nil, err
	}
	gw := net.ParseIP(r.Gateway).To4()
	pool := NewPool(subnet, gw)
	if r.IPRange != "" {
		if pool.Range, err = SubRange(r.IPRange, subnet); err != nil {
			return nil, err
		}
	}
	n := &userNet{netRecord: r, pool: pool}
	if r.Subnet6 != "" {
		_, subnet6, err := net.ParseCIDR(r.Subnet6)
		if err != nil {
			return nil, err
		}
		n.pool6 = NewPool6(subnet6, net.ParseIP(r.Gateway6))
	}
	return n, nil
}

// findNet finds a user-defined network by name, ID or ID prefix (callers
// hold s.mu).
func (s *Service) findNet(ref string) *userNet {
	for _, n := range s.nets {
		if n.Name == ref || n.ID == ref {
			return n
		}
	}
	var found *userNet
	for _, n := range s.nets {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			if found != nil {
				return nil // ambiguous
			}
			found = n
		}
	}
	return found
}

// CreateRequest is what `network create` asks for.
type CreateRequest struct {
	Name, Driver               string
	Subnet, Gateway, IPRange   string
	Subnet6, Gateway6          string // with IPv6
	Internal, Attachable, IPv6 bool
	Labels, Options            map[string]string
}

// Create makes a user-defined bridge network, as Docker: a name not in
// use, a subnet that overlaps no other network and nothing the host
// routes (given, or the first free of Docker's pools), a gateway inside
// it (given, or its first address).
func (s *Service) Create(req CreateRequest) (string, error) {
	if s.pool == nil {
		return "", errdefs.ErrUnavailable.WithMessage("berth: networks need bridges, and this daemon runs with --bridge none")
	}
	switch req.Driver {
	case "", "bridge":
	default:
		return "", errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: network driver %q is not supported yet (only bridge)", req.Driver))
	}
	if req.IPv6 && req.Subnet6 == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage("berth: --ipv6 needs an IPv6 --subnet (berth has no default IPv6 pool)")
	}
	if !req.IPv6 && req.Subnet6 != "" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("an IPv6 subnet (%s) needs --ipv6", req.Subnet6))
	}
	if req.Name == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage("network name cannot be empty")
	}
	for k := range req.Options {
		switch k {
		case "com.docker.network.bridge.name":
		default:
			return "", errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: network option %s is not supported yet", k))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if isDefault(req.Name) && req.Name != "" || req.Name == "host" || req.Name == "none" || s.findNetExact(req.Name) != nil {
		return "", errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", req.Name))
	}
	subnet, err := s.chooseSubnet(req.Subnet)
	if err != nil {
		return "", err
	}
	gw := net.IP(u32ToIP(ipToU32(subnet.IP) + 1))
	if req.Gateway != "" {
		gw = net.ParseIP(req.Gateway).To4()
		if gw == nil {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid gateway address %s", req.Gateway))
		}
		if !subnet.Contains(gw) {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no matching subnet for gateway %s", req.Gateway))
		}
	}
	if req.IPRange != "" {
		r, err := SubRange(req.IPRange, subnet)
		if err != nil {
			return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
		req.IPRange = r.String()
	}
	var subnet6 *net.IPNet
	var gw6 net.IP
	if req.Subnet6 != "" {
		if subnet6, err = s.chooseSubnet6(req.Subnet6); err != nil {
			return "", err
		}
		gw6 = add6(subnet6.IP, 1)
		if req.Gateway6 != "" {
			gw6 = net.ParseIP(req.Gateway6)
			if gw6 == nil || gw6.To4() != nil {
				return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid gateway address %s", req.Gateway6))
			}
			if !subnet6.Contains(gw6) {
				return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no matching subnet for gateway %s", req.Gateway6))
			}
		}
	}
	idb := make([]byte, 32)
	_, _ = rand.Read(idb)
	id := hex.EncodeToString(idb)
	br := "br-" + id[:12]
	if name := req.Options["com.docker.network.bridge.name"]; name != "" {
		br = name
	}
	r := netRecord{ID: id, Name: req.Name, Subnet: subnet.String(), Gateway: gw.String(), IPRange: req.IPRange, Internal: req.Internal,
		Attachable: req.Attachable, Labels: req.Labels, Options: req.Options, Bridge: br, Created: time.Now().UTC()}
	if subnet6 != nil {
		r.Subnet6, r.Gateway6 = subnet6.String(), gw6.String()
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	if r.Options == nil {
		r.Options = map[string]string{}
	}
	n, err := newUserNet(r)
	if err != nil {
		return "", err
	}
	// Recorded first: a crash after leaves a record whose bridge the next
	// start makes; one before leaves nothing.
	if err := s.putNet(r); err != nil {
		return "", err
	}
	if err := s.ensureBridge(n); err != nil {
		_ = s.deleteNet(id)
		_ = bridge.Delete(br)
		return "", errdefs.ErrUnknown.WithMessage(err.Error())
	}
	s.nets[id] = n
	if err := s.applyNAT(); err != nil {
		delete(s.nets, id)
		_ = s.deleteNet(id)
		_ = bridge.Delete(br)
		return "", err
	}
	return id, nil
}

// ensureBridge makes n's bridge with its gateway addresses, if missing.
func (s *Service) ensureBridge(n *userNet) error {
	if err := bridge.EnsureBridge(n.Bridge, &net.IPNet{IP: n.pool.Gateway, Mask: n.pool.Subnet.Mask}); err != nil {
		return err
	}
	if n.pool6 != nil {
		return bridge.EnsureAddr6(n.Bridge, &net.IPNet{IP: n.pool6.Gateway, Mask: n.pool6.Subnet.Mask})
	}
	return nil
}

// chooseSubnet6 checks a requested IPv6 subnet against the other
// networks' and the host's routes.
func (s *Service) chooseSubnet6(want string) (*net.IPNet, error) {
	ip, subnet, err := net.ParseCIDR(want)
	if err != nil || ip.To4() != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid CIDR address: %s", want))
	}
	if !ip.Equal(subnet.IP) {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s : it should be %s", want, subnet))
	}
	if ones, _ := subnet.Mask.Size(); ones > 124 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s: too small for a network", want))
	}
	taken, err := bridge.Routes6()
	if err != nil {
		return nil, err
	}
	for _, n := range s.nets {
		if n.pool6 != nil {
			taken = append(taken, n.pool6.Subnet)
		}
	}
	for _, t := range taken {
		if ones, _ := t.Mask.Size(); ones > 0 && overlaps(subnet, t) {
			return nil, errdefs.ErrPermissionDenied.WithMessage("invalid pool request: Pool overlaps with other one on this address space")
		}
	}
	return subnet, nil
}

func (s *Service) findNetExact(name string) *userNet {
	for _, n := range s.nets {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// chooseSubnet checks a requested subnet against the default bridge's,
// the other networks' and the host's routes, or picks a free one.
func (s *Service) chooseSubnet(want string) (*net.IPNet, error) {
	taken := []*net.IPNet{s.subnet}
	for _, n := range s.nets {
		taken = append(taken, n.pool.Subnet)
	}
	routes, err := bridge.Routes("")
	if err != nil {
		return nil, err
	}
	if want != "" {
		ip, subnet, err := net.ParseCIDR(want)
		if err != nil || ip.To4() == nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid CIDR address: %s", want))
		}
		if !ip.Equal(subnet.IP) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s : it should be %s", want, subnet))
		}
		if ones, _ := subnet.Mask.Size(); ones > 30 {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid subnet %s: too small for a network", want))
		}
		for _, t := range taken {
			if overlaps(subnet, t) {
				return nil, errdefs.ErrPermissionDenied.WithMessage("invalid pool request: Pool overlaps with other one on this address space")
			}
		}
		return subnet, nil
	}
	pools, err := s.pools()
	if err != nil {
		return nil, err
	}
	subnet, err := ChooseSubnet(pools, append(taken, routes...))
	if err != nil {
		return nil, errdefs.ErrPermissionDenied.WithMessage("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
	}
	return subnet, nil
}

func (s *Service) putNet(r netRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.cfg.DB.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketNetworks)).Put([]byte(r.ID), b) })
}

func (s *Service) deleteNet(id string) error {
	return s.cfg.DB.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketNetworks)).Delete([]byte(id)) })
}

// Remove deletes a user-defined network with no container on it.
func (s *Service) Remove(ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isDefault(ref) && ref != "" || ref == "host" || ref == "none" || ref == s.cfg.NetworkID {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("%s is a pre-defined network and cannot be removed", ref))
	}
	n := s.findNet(ref)
	if n == nil {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	for _, ep := range s.eps {
		if ep.NetworkID == n.ID {
			return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("error while removing network: network %s id %s has active endpoints", n.Name, n.ID))
		}
	}
	if err := s.deleteNet(n.ID); err != nil {
		return err
	}
	delete(s.nets, n.ID)
	_ = bridge.Delete(n.Bridge)
	return s.applyNAT()
}

// Networks lists the user-defined networks, with their containers'
// endpoints.
func (s *Service) Networks() []network.Inspect {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]network.Inspect, 0, len(s.nets))
	for _, n := range s.nets {
		out = append(out, s.inspectLocked(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Inspect finds a user-defined network by name, ID or ID prefix.
func (s *Service) Inspect(ref string) (network.Inspect, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.findNet(ref)
	if n == nil {
		return network.Inspect{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	return s.inspectLocked(n), nil
}

// Endpoints are the containers on the default bridge (ID → address).
func (s *Service) Endpoints(networkID string) map[string]network.EndpointResource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endpointsLocked(networkID)
}

func (s *Service) endpointsLocked(networkID string) map[string]network.EndpointResource {
	out := map[string]network.EndpointResource{}
	for _, ep := range s.eps {
		id := ep.NetworkID
		if id == "" {
			id = s.cfg.NetworkID
		}
		if id != networkID {
			continue
		}
		pool := s.poolOf(ep.NetworkID)
		ones := 0
		if pool != nil {
			ones, _ = pool.Subnet.Mask.Size()
		}
		mac := ep.MAC
		if mac == "" {
			mac = MACFor(ep.IP).String()
		}
		r := network.EndpointResource{EndpointID: ep.id(), MacAddress: mac, IPv4Address: fmt.Sprintf("%s/%d", ep.IP, ones)}
		if n := s.nets[ep.NetworkID]; ep.IP6 != nil && n != nil && n.pool6 != nil {
			ones6, _ := n.pool6.Subnet.Mask.Size()
			r.IPv6Address = fmt.Sprintf("%s/%d", ep.IP6, ones6)
		}
		out[ep.ContainerID] = r
	}
	return out
}

func (s *Service) inspectLocked(n *userNet) network.Inspect {
	out := network.Inspect{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: "bridge", EnableIPv4: true,
		IPAM:     network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange}}},
		Internal: n.Internal, Attachable: n.Attachable,
		Containers: s.endpointsLocked(n.ID), Options: n.Options, Labels: n.Labels,
	}
	if n.Subnet6 != "" {
		out.EnableIPv6 = true
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet6, Gateway: n.Gateway6})
	}
	return out
}

// DefaultID is the stable ID of the default network name ("bridge",
// "host", "none") of the engine engineID.
func DefaultID(engineID, name string) string {
	sum := sha256.Sum256([]byte(engineID + "/network/" + name))
	return hex.EncodeToString(sum[:])
}

// All lists every network: the default ones, then the user-defined ones.
func (s *Service) All() []network.Inspect {
	out := s.defaults()
	return append(out, s.Networks()...)
}

func (s *Service) defaults() []network.Inspect {
	var out []network.Inspect
	for _, d := range []struct{ name, driver string }{{"bridge", "bridge"}, {"host", "host"}, {"none", "null"}} {
		n := network.Inspect{
			Name: d.name, ID: DefaultID(s.cfg.EngineID, d.name), Created: s.cfg.Started, Scope: "local", Driver: d.driver, EnableIPv4: true,
			IPAM:       network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
			Containers: map[string]network.EndpointResource{}, Options: map[string]string{}, Labels: map[string]string{},
		}
		if d.name == "bridge" && s.pool != nil {
			n.IPAM.Config = []network.IPAMConfig{{Subnet: s.subnet.String(), Gateway: s.gw.String()}}
			if r := s.pool.Range; r != nil {
				n.IPAM.Config[0].IPRange = r.String()
			}
			n.Options = map[string]string{
				"com.docker.network.bridge.name": s.cfg.Bridge, "com.docker.network.bridge.default_bridge": "true",
				"com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.driver.mtu": "1500",
			}
			n.Containers = s.Endpoints(n.ID)
		}
		out = append(out, n)
	}
	return out
}

// Get finds any network, default or user-defined, by name, ID or ID
// prefix.
func (s *Service) Get(ref string) (network.Inspect, error) {
	for _, d := range s.defaults() {
		if ref == d.Name || ref == d.ID || len(ref) >= 1 && strings.HasPrefix(d.ID, ref) {
			return d, nil
		}
	}
	return s.Inspect(ref)
}

// Prune removes the user-defined networks no container uses; keep
// says which to keep anyway (filters).
func (s *Service) Prune(keep func(network.Inspect) bool) ([]string, error) {
	var removed []string
	for _, n := range s.Networks() {
		if len(n.Containers) > 0 || keep != nil && keep(n) {
			continue
		}
		if err := s.Remove(n.ID); err == nil {
			removed = append(removed, n.Name)
		}
	}
	return removed, nil
}

// Lookup resolves a network mode naming a user-defined network to that
// network's name (the container's Networks key).
func (s *Service) Lookup(ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.findNet(ref); n != nil {
		return n.Name, nil
	}
	return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
}
