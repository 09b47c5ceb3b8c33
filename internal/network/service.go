package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/network/bridge"
	"github.com/berthproject/berth/internal/network/dns"
)

// Buckets are the bbolt buckets this package owns.
var Buckets = []string{bucketConfig, bucketEndpoints, bucketNetworks}

const (
	bucketConfig    = "networks"
	bucketEndpoints = "endpoints"
	bucketNetworks  = "user-networks"
	keyBridgeSubnet = "bridge-subnet" // the default bridge's gateway/prefix, once chosen
)

// Config is how the daemon sets the service up.
type Config struct {
	DB       *bolt.DB
	ExecRoot string // network namespace files live in ExecRoot/netns
	// Bridge is the default network's Linux bridge ("berth0", so that
	// berth and a dockerd can share a host); "none": no default bridge,
	// containers of the default network get a namespace with loopback only.
	Bridge string
	// BIP is the bridge's address and prefix ("172.18.0.1/16"); empty: the
	// one chosen before, else the first of Docker's default pools that
	// nothing on the host routes.
	BIP string
	// Table is berth's nftables table (family ip).
	Table string
	// HostIP is where ports are published when a binding names no
	// address (Docker's daemon option "ip"; default 0.0.0.0).
	HostIP string
	// NetworkID is the default bridge network's ID.
	NetworkID string
	// EngineID makes the default networks' IDs (DefaultID); Started is
	// when they were made, as inspect shows.
	EngineID string
	Started  time.Time
	// Binary is berth, which runs the embedded DNS resolver
	// (internal/network/dns) for containers on user-defined networks.
	Binary string
}

// endpoint is a container's attachment to the default bridge, as
// recorded (before the kernel objects are made, so that a crash leaves
// nothing a restart cannot find).
type endpoint struct {
	ContainerID string
	NetworkID   string `json:",omitempty"` // "": the default bridge (records before user networks)
	IP          net.IP
	HostVeth    string
	Netns       string
	Ports       []mapping `json:",omitempty"`
	MAC         string    `json:",omitempty"` // --mac-address ("": Docker's, from the address)
	// On a user-defined network: the names the embedded DNS answers with
	// the container's address, and where it forwards the rest.
	DNSNames []string `json:",omitempty"`
	Upstream []string `json:",omitempty"`
}

// Service is the network service. Its methods are safe for concurrent use.
type Service struct {
	cfg    Config
	subnet *net.IPNet // the default bridge's subnet
	gw     net.IP
	mu     sync.Mutex
	pool   *Pool // the default bridge's addresses
	eps    map[string]*endpoint
	nets   map[string]*userNet // user-defined networks by ID
	dns    *dns.Resolver
	dnsMu  sync.Mutex
}

// New sets the default bridge up (bridge, NAT table, forwarding) and
// loads the endpoints recorded.
func New(cfg Config) (*Service, error) {
	s := &Service{cfg: cfg, eps: map[string]*endpoint{}, nets: map[string]*userNet{},
		dns: &dns.Resolver{Dir: filepath.Join(cfg.ExecRoot, "dns"), Binary: cfg.Binary}}
	if ip := net.ParseIP(cfg.HostIP); cfg.HostIP != "" && (ip == nil || ip.To4() == nil) {
		return nil, fmt.Errorf("invalid --ip %q: want the IPv4 address ports are published on", cfg.HostIP)
	}
	if cfg.Bridge == "none" {
		return s, nil
	}
	gw, err := s.bridgeAddress()
	if err != nil {
		return nil, err
	}
	s.gw, s.subnet = gw.IP, &net.IPNet{IP: gw.IP.Mask(gw.Mask), Mask: gw.Mask}
	if err := bridge.EnsureBridge(cfg.Bridge, gw); err != nil {
		return nil, err
	}
	// Forwarding: the one host setting a bridge network needs (as Docker).
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	s.pool = NewPool(s.subnet, s.gw)
	if err := s.loadNetworks(); err != nil {
		return nil, err
	}
	err = cfg.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEndpoints)).ForEach(func(k, v []byte) error {
			var ep endpoint
			if err := json.Unmarshal(v, &ep); err != nil {
				slog.Warn("skipping unreadable endpoint record", "container", string(k), "err", err)
				return nil
			}
			s.eps[ep.ContainerID] = &ep
			if pool := s.poolOf(ep.NetworkID); pool != nil && pool.Subnet.Contains(ep.IP) {
				pool.Take(ep.IP)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := s.applyNAT(); err != nil { // with the published ports of the endpoints restored
		return nil, err
	}
	// The resolver serves what the records name (and is stopped if that
	// is no one); it kept serving while the daemon was down.
	if _, err := s.updateDNS(); err != nil {
		slog.Warn("embedded DNS", "err", err)
	}
	// Namespace files no record names: a crash between making and recording.
	files, _ := os.ReadDir(s.netnsDir())
	for _, f := range files {
		if _, ok := s.eps[f.Name()]; !ok {
			_ = bridge.DeleteNetns(filepath.Join(s.netnsDir(), f.Name()))
		}
	}
	return s, nil
}

func (s *Service) netnsDir() string { return filepath.Join(s.cfg.ExecRoot, "netns") }

// bridgeAddress is the default bridge's gateway/prefix: --bip, else the
// recorded one, else a new choice (recorded).
func (s *Service) bridgeAddress() (*net.IPNet, error) {
	if s.cfg.BIP != "" {
		ip, n, err := net.ParseCIDR(s.cfg.BIP)
		if err != nil || ip.To4() == nil {
			return nil, fmt.Errorf("invalid --bip %q: want an IPv4 address with its prefix (172.18.0.1/16)", s.cfg.BIP)
		}
		if ip.Equal(n.IP) {
			return nil, fmt.Errorf("invalid --bip %q: the bridge's address cannot be its network's", s.cfg.BIP)
		}
		return &net.IPNet{IP: ip.To4(), Mask: n.Mask}, s.record(keyBridgeSubnet, s.cfg.BIP)
	}
	var saved string
	_ = s.cfg.DB.View(func(tx *bolt.Tx) error {
		saved = string(tx.Bucket([]byte(bucketConfig)).Get([]byte(keyBridgeSubnet)))
		return nil
	})
	if saved != "" {
		ip, n, err := net.ParseCIDR(saved)
		if err == nil {
			return &net.IPNet{IP: ip.To4(), Mask: n.Mask}, nil
		}
	}
	routes, err := bridge.Routes(s.cfg.Bridge)
	if err != nil {
		return nil, err
	}
	subnet, err := ChooseSubnet(DefaultPools(), routes)
	if err != nil {
		return nil, err
	}
	gw := &net.IPNet{IP: u32ToIP(ipToU32(subnet.IP) + 1), Mask: subnet.Mask}
	return gw, s.record(keyBridgeSubnet, gw.String())
}

func (s *Service) record(key, val string) error {
	return s.cfg.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketConfig)).Put([]byte(key), []byte(val))
	})
}

// Enabled reports whether the default network is a bridge (not --bridge
// none).
func (s *Service) Enabled() bool { return s.pool != nil }

// Attach connects container id to a network (netRef: the default bridge
// or a user-defined one): a network namespace in a file (the path
// returned, for the runtime to join), a veth, an address, a default
// route, and its published ports (bound, the host ports chosen); on a
// user-defined network, the embedded DNS answers want.DNSNames with its
// address and forwards the rest to servers (the host's when none). What
// it made is undone if it fails.
func (s *Service) Attach(id, netRef string, ports nat.PortMap, want *network.EndpointSettings, servers []string) (string, *network.EndpointSettings, nat.PortMap, error) {
	if s.pool == nil {
		return "", nil, nil, errdefs.ErrUnavailable.WithMessage("the default bridge is disabled (--bridge none)")
	}
	if old := s.attached(id); old { // left by a start that did not end
		_ = s.Release(id)
	}
	s.mu.Lock()
	netID, brName, pool, gw := "", s.cfg.Bridge, s.pool, s.gw
	if !isDefault(netRef) {
		n := s.findNet(netRef)
		if n == nil {
			s.mu.Unlock()
			return "", nil, nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", netRef))
		}
		netID, brName, pool, gw = n.ID, n.Bridge, n.pool, n.pool.Gateway
	}
	var ip net.IP
	var err error
	var ipam *network.EndpointIPAMConfig
	if want != nil && want.IPAMConfig != nil && want.IPAMConfig.IPv4Address != "" { // --ip
		ipam = &network.EndpointIPAMConfig{IPv4Address: want.IPAMConfig.IPv4Address}
		ip = net.ParseIP(want.IPAMConfig.IPv4Address).To4()
		if netID == "" {
			err = errdefs.ErrInvalidArgument.WithMessage("user specified IP address is supported on user defined networks only")
		} else if ip == nil {
			err = errdefs.ErrInvalidArgument.WithMessage("invalid IPv4 address: " + want.IPAMConfig.IPv4Address)
		} else if rerr := pool.Request(ip); rerr != nil {
			err = errdefs.ErrInvalidArgument.WithMessage(rerr.Error())
		}
	} else {
		ip, err = pool.Allocate()
	}
	if err != nil {
		s.mu.Unlock()
		return "", nil, nil, err
	}
	mac := MACFor(ip)
	if want != nil && want.MacAddress != "" { // --mac-address
		if mac, err = net.ParseMAC(want.MacAddress); err != nil || len(mac) != 6 {
			pool.Release(ip)
			s.mu.Unlock()
			return "", nil, nil, errdefs.ErrInvalidArgument.WithMessage("invalid MAC address: " + want.MacAddress)
		}
	}
	ep := &endpoint{ContainerID: id, NetworkID: netID, IP: ip, HostVeth: "veth" + id[:min(7, len(id))], Netns: filepath.Join(s.netnsDir(), id)}
	if want != nil && want.MacAddress != "" {
		ep.MAC = mac.String()
	}
	if netID != "" && want != nil {
		ep.DNSNames, ep.Upstream = want.DNSNames, upstream(servers)
	}
	hostIP := s.cfg.HostIP
	if hostIP == "" {
		hostIP = "0.0.0.0"
	}
	if ep.Ports, err = s.allocate(ports, hostIP); err != nil {
		pool.Release(ip)
		s.mu.Unlock()
		return "", nil, nil, err
	}
	s.eps[id] = ep
	s.mu.Unlock()
	fail := func(err error) (string, *network.EndpointSettings, nat.PortMap, error) {
		_ = s.Release(id)
		return "", nil, nil, err
	}
	if err := s.persist(ep); err != nil {
		return fail(err)
	}
	_ = bridge.Delete(ep.HostVeth) // a stale one of an earlier crash
	if err := bridge.NewNetns(ep.Netns); err != nil {
		return fail(err)
	}
	prefix, _ := pool.Subnet.Mask.Size()
	if err := bridge.Connect(brName, ep.Netns, bridge.Endpoint{HostVeth: ep.HostVeth,
		Addr: &net.IPNet{IP: ip, Mask: pool.Subnet.Mask}, Gateway: gw, MAC: mac}); err != nil {
		return fail(err)
	}
	if len(ep.Ports) > 0 {
		s.mu.Lock()
		err := s.applyNAT()
		s.mu.Unlock()
		if err != nil {
			return fail(err)
		}
	}
	if netID != "" {
		fails, err := s.updateDNS()
		if err == nil && fails[id] != "" {
			err = errors.New(fails[id])
		}
		if err != nil {
			return fail(fmt.Errorf("embedded DNS: %w", err))
		}
	} else {
		netID = s.cfg.NetworkID
	}
	return ep.Netns, &network.EndpointSettings{
		IPAMConfig: ipam, NetworkID: netID, EndpointID: endpointID(id), Gateway: gw.String(), IPAddress: ip.String(),
		IPPrefixLen: prefix, MacAddress: mac.String(), DNSNames: ep.DNSNames,
	}, portMap(ep.Ports), nil
}

func (s *Service) attached(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eps[id] != nil
}

// endpointID is a stable ID for a container's endpoint on the bridge.
func endpointID(containerID string) string {
	return strings.Repeat("0", max(0, 64-len(containerID))) + containerID
}

func (s *Service) persist(ep *endpoint) error {
	b, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	return s.cfg.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEndpoints)).Put([]byte(ep.ContainerID), b)
	})
}

func (s *Service) forget(ep *endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eps[ep.ContainerID] == ep {
		delete(s.eps, ep.ContainerID)
	}
	if pool := s.poolOf(ep.NetworkID); pool != nil {
		pool.Release(ep.IP)
	}
}

// poolOf is the address pool of network id ("": the default bridge);
// callers hold s.mu (or are New).
func (s *Service) poolOf(id string) *Pool {
	if id == "" || id == s.cfg.NetworkID {
		return s.pool
	}
	if n := s.nets[id]; n != nil {
		return n.pool
	}
	return nil
}

func isDefault(ref string) bool { return ref == "" || ref == "default" || ref == "bridge" }

// Release undoes Attach: the namespace (and the veth with it), the
// address, the record. Releasing what is not attached does nothing.
func (s *Service) Release(id string) error {
	s.mu.Lock()
	ep := s.eps[id]
	s.mu.Unlock()
	if ep == nil {
		return nil
	}
	var errs []error
	if err := bridge.DeleteNetns(ep.Netns); err != nil {
		errs = append(errs, err)
	}
	// The veth would go with the namespace, but in the kernel's own time
	// (seconds under load); deleting it waits for an RCU grace period, off
	// the caller's path: rm -f of 20 took 4.7x as long with it inline. By
	// index, so that a new veth of the same name (a restart) is not hit.
	bridge.DeleteLater(ep.HostVeth)
	if err := s.cfg.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEndpoints)).Delete([]byte(id))
	}); err != nil {
		errs = append(errs, err)
	}
	s.forget(ep)
	if ep.NetworkID != "" {
		if _, err := s.updateDNS(); err != nil {
			errs = append(errs, fmt.Errorf("embedded DNS: %w", err))
		}
	}
	if len(ep.Ports) > 0 {
		s.mu.Lock()
		if err := s.applyNAT(); err != nil {
			errs = append(errs, err)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}
