package network

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

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
	// FixedCIDR is the part of the default bridge's subnet its
	// containers' addresses come from (Docker's --fixed-cidr); "": all.
	FixedCIDR string
	// Pools replace Docker's default pools, where the default bridge
	// (without BIP) and new networks (without --subnet) find a subnet
	// (Docker's --default-address-pool); none: Docker's.
	Pools []AddressPool
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

// endpoint is a container's attachment to a network, as
// recorded (before the kernel objects are made, so that a crash leaves
// nothing a restart cannot find).
type endpoint struct {
	ContainerID string
	NetworkID   string `json:",omitempty"` // "": the default bridge (records before user networks)
	IP          net.IP
	IP6         net.IP `json:",omitempty"` // on a network with IPv6
	HostVeth    string
	Netns       string
	Ports       []mapping `json:",omitempty"`
	MAC         string    `json:",omitempty"` // --mac-address ("": Docker's, from the address)
	// On a user-defined network: the names the embedded DNS answers with
	// the container's address, and where it forwards the rest.
	DNSNames []string `json:",omitempty"`
	Upstream []string `json:",omitempty"`
	// Ifname is the interface in the container: "" is eth0, the first
	// endpoint (default route, published ports); others eth1, eth2...
	Ifname string `json:",omitempty"`
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
	if cfg.FixedCIDR != "" {
		if s.pool.Range, err = SubRange(cfg.FixedCIDR, s.subnet); err != nil {
			return nil, fmt.Errorf("invalid --fixed-cidr: %w", err)
		}
	}
	if err := s.loadNetworks(); err != nil {
		return nil, err
	}
	if err := s.loadEndpoints(); err != nil {
		return nil, err
	}
	s.reconcile()
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
		if len(s.endpointsOf(f.Name())) == 0 {
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
	pools, err := s.pools()
	if err != nil {
		return nil, err
	}
	subnet, err := ChooseSubnet(pools, routes)
	if err != nil {
		return nil, err
	}
	gw := &net.IPNet{IP: u32ToIP(ipToU32(subnet.IP) + 1), Mask: subnet.Mask}
	return gw, s.record(keyBridgeSubnet, gw.String())
}

// pools are where subnets are found: --default-address-pool's, else
// Docker's defaults.
func (s *Service) pools() ([]*net.IPNet, error) {
	if len(s.cfg.Pools) == 0 {
		return DefaultPools(), nil
	}
	return SplitPools(s.cfg.Pools)
}

func (s *Service) record(key, val string) error {
	return s.cfg.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketConfig)).Put([]byte(key), []byte(val))
	})
}

// HostGateway is the default bridge's gateway, an address of the host
// that every container on a bridge reaches ("" with --bridge none):
// what --add-host NAME:host-gateway maps to, as with Docker.
func (s *Service) HostGateway() string {
	if s.gw == nil {
		return ""
	}
	return s.gw.String()
}

// Enabled reports whether the default network is a bridge (not --bridge
// none).
func (s *Service) Enabled() bool { return s.pool != nil }

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
