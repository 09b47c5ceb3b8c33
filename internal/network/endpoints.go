package network

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/network/bridge"
)

// A container has one network namespace and an endpoint in it per
// network: the first (Attach, its network mode's) has the default route
// and the published ports; the others (Connect) an interface each
// (eth1, eth2...). Endpoint records are keyed by container and network.

// key is an endpoint's key in s.eps and in bbolt.
func (ep *endpoint) key() string { return ep.ContainerID + "/" + ep.NetworkID }

// ifname is the endpoint's interface in the container.
func (ep *endpoint) ifname() string {
	if ep.Ifname == "" {
		return "eth0" // records before several networks
	}
	return ep.Ifname
}

// loadEndpoints reads the endpoint records, rewriting those of before
// several networks (keyed by container alone) under their new keys.
func (s *Service) loadEndpoints() error {
	return s.cfg.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketEndpoints))
		var rekey [][2][]byte
		err := b.ForEach(func(k, v []byte) error {
			var ep endpoint
			if err := json.Unmarshal(v, &ep); err != nil {
				slog.Warn("skipping unreadable endpoint record", "key", string(k), "err", err)
				return nil
			}
			if string(k) != ep.key() {
				rekey = append(rekey, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
			s.eps[ep.key()] = &ep
			if pool := s.poolOf(ep.NetworkID); pool != nil && pool.Subnet.Contains(ep.IP) {
				pool.Take(ep.IP)
			}
			if n := s.nets[ep.NetworkID]; n != nil && n.pool6 != nil && ep.IP6 != nil {
				n.pool6.Take(ep.IP6)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, kv := range rekey {
			var ep endpoint
			_ = json.Unmarshal(kv[1], &ep)
			if err := b.Put([]byte(ep.key()), kv[1]); err != nil {
				return err
			}
			if err := b.Delete(kv[0]); err != nil {
				return err
			}
		}
		return nil
	})
}

// endpointsOf are container id's endpoints, the first one first (callers
// hold s.mu, or are New).
func (s *Service) endpointsOf(id string) []*endpoint {
	var out []*endpoint
	for _, ep := range s.eps {
		if ep.ContainerID == id {
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ifname() < out[j].ifname() })
	return out
}

// Attach connects container id to a network (netRef: the default bridge
// or a user-defined one): a network namespace in a file (the path
// returned, for the runtime to join), a veth, an address, a default
// route, and its published ports (bound, the host ports chosen); on a
// user-defined network, the embedded DNS answers want.DNSNames with its
// address and forwards the rest to servers. What
// it made is undone if it fails.
func (s *Service) Attach(id, netRef string, ports nat.PortMap, want *network.EndpointSettings, servers []string) (string, *network.EndpointSettings, nat.PortMap, error) {
	if s.pool == nil {
		return "", nil, nil, errdefs.ErrUnavailable.WithMessage("the default bridge is disabled (--bridge none)")
	}
	s.mu.Lock()
	stale := len(s.endpointsOf(id)) > 0
	s.mu.Unlock()
	if stale { // left by a start that did not end
		_ = s.Release(id)
	}
	ep, settings, err := s.connect(id, netRef, ports, want, servers, "eth0")
	if err != nil {
		return "", nil, nil, err
	}
	return ep.Netns, settings, portMap(ep.Ports), nil
}

// Connect connects running container id, attached already, to one more
// network: an interface of its own (eth1...), an address, no default
// route, no published ports; its names in that network's DNS.
func (s *Service) Connect(id, netRef string, want *network.EndpointSettings, servers []string) (*network.EndpointSettings, error) {
	s.mu.Lock()
	have := s.endpointsOf(id)
	s.mu.Unlock()
	if len(have) == 0 {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s has no network namespace to connect", id))
	}
	used := map[string]bool{}
	for _, ep := range have {
		used[ep.ifname()] = true
	}
	ifname := "eth0"
	for i := 1; used[ifname]; i++ {
		ifname = fmt.Sprintf("eth%d", i)
	}
	_, settings, err := s.connect(id, netRef, nil, want, servers, ifname)
	return settings, err
}

// connect makes one endpoint: recorded first, then made in the kernel;
// undone if it fails. ifname "eth0" is the container's first endpoint:
// it makes the namespace and has the default route and the ports.
func (s *Service) connect(id, netRef string, ports nat.PortMap, want *network.EndpointSettings, servers []string, ifname string) (*endpoint, *network.EndpointSettings, error) {
	first := ifname == "eth0"
	s.mu.Lock()
	netID, brName, pool, gw := "", s.cfg.Bridge, s.pool, s.gw
	var pool6 *Pool6
	if !isDefault(netRef) {
		n := s.findNet(netRef)
		if n == nil {
			s.mu.Unlock()
			return nil, nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", netRef))
		}
		netID, brName, pool, gw, pool6 = n.ID, n.Bridge, n.pool, n.pool.Gateway, n.pool6
	} else if pool == nil {
		s.mu.Unlock()
		return nil, nil, errdefs.ErrUnavailable.WithMessage("the default bridge is disabled (--bridge none)")
	}
	netName := netRef
	if netID == "" {
		netName = "bridge"
	} else {
		netName = s.nets[netID].Name
	}
	if s.eps[id+"/"+netID] != nil {
		s.mu.Unlock()
		name := id[:min(12, len(id))]
		if want != nil && len(want.DNSNames) > 0 {
			name = want.DNSNames[0]
		}
		return nil, nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", name, netName))
	}
	var ip net.IP
	var err error
	var ipam *network.EndpointIPAMConfig
	if want != nil && want.IPAMConfig != nil && (want.IPAMConfig.IPv4Address != "" || want.IPAMConfig.IPv6Address != "") {
		ipam = &network.EndpointIPAMConfig{}
	}
	if want != nil && want.IPAMConfig != nil && want.IPAMConfig.IPv4Address != "" { // --ip
		ipam.IPv4Address = want.IPAMConfig.IPv4Address
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
		return nil, nil, err
	}
	var ip6 net.IP
	if want != nil && want.IPAMConfig != nil && want.IPAMConfig.IPv6Address != "" { // --ip6
		ipam.IPv6Address = want.IPAMConfig.IPv6Address
		if ip6 = net.ParseIP(want.IPAMConfig.IPv6Address); ip6 == nil || ip6.To4() != nil {
			err = errdefs.ErrInvalidArgument.WithMessage("invalid IPv6 address: " + want.IPAMConfig.IPv6Address)
		} else if pool6 == nil {
			err = errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPv6 address %s: network %s has no IPv6 (network create --ipv6)", ip6, netName))
		} else if rerr := pool6.Request(ip6); rerr != nil {
			err = errdefs.ErrInvalidArgument.WithMessage(rerr.Error())
		}
	} else if pool6 != nil {
		ip6, err = pool6.Allocate()
	}
	if err != nil {
		pool.Release(ip)
		s.mu.Unlock()
		return nil, nil, err
	}
	mac := MACFor(ip)
	if want != nil && want.MacAddress != "" { // --mac-address
		if mac, err = net.ParseMAC(want.MacAddress); err != nil || len(mac) != 6 {
			pool.Release(ip)
			if ip6 != nil {
				pool6.Release(ip6)
			}
			s.mu.Unlock()
			return nil, nil, errdefs.ErrInvalidArgument.WithMessage("invalid MAC address: " + want.MacAddress)
		}
	}
	ep := &endpoint{ContainerID: id, NetworkID: netID, IP: ip, IP6: ip6, HostVeth: vethName(id, netID, first), Netns: filepath.Join(s.netnsDir(), id)}
	if !first {
		ep.Ifname = ifname
	}
	if want != nil && want.MacAddress != "" {
		ep.MAC = mac.String()
	}
	if netID != "" && want != nil {
		ep.DNSNames, ep.Upstream = want.DNSNames, servers
	}
	hostIP := s.cfg.HostIP
	if hostIP == "" {
		hostIP = "0.0.0.0"
	}
	if ep.Ports, err = s.allocate(ports, hostIP); err != nil {
		pool.Release(ip)
		if ip6 != nil {
			pool6.Release(ip6)
		}
		s.mu.Unlock()
		return nil, nil, err
	}
	s.eps[ep.key()] = ep
	s.mu.Unlock()
	fail := func(err error) (*endpoint, *network.EndpointSettings, error) {
		if first {
			_ = s.Release(id)
		} else {
			_ = s.Disconnect(id, netName)
		}
		return nil, nil, err
	}
	if err := s.persist(ep); err != nil {
		return fail(err)
	}
	crashpoint("network-recorded")
	_ = bridge.Delete(ep.HostVeth) // a stale one of an earlier crash
	if first {
		if err := bridge.NewNetns(ep.Netns); err != nil {
			return fail(err)
		}
		crashpoint("network-netns")
	}
	prefix, _ := pool.Subnet.Mask.Size()
	bep := bridge.Endpoint{HostVeth: ep.HostVeth, Ifname: ifname, Addr: &net.IPNet{IP: ip, Mask: pool.Subnet.Mask}, MAC: mac}
	if ip6 != nil {
		bep.Addr6 = &net.IPNet{IP: ip6, Mask: pool6.Subnet.Mask}
	}
	if first {
		bep.Gateway = gw
		if ip6 != nil {
			bep.Gateway6 = pool6.Gateway
		}
	}
	if err := bridge.Connect(brName, ep.Netns, bep); err != nil {
		return fail(err)
	}
	crashpoint("network-veth")
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
	settings := &network.EndpointSettings{
		IPAMConfig: ipam, NetworkID: netID, EndpointID: ep.id(), Gateway: gw.String(), IPAddress: ip.String(),
		IPPrefixLen: prefix, MacAddress: mac.String(), DNSNames: ep.DNSNames,
	}
	if ip6 != nil {
		settings.GlobalIPv6Address = ip6.String()
		settings.GlobalIPv6PrefixLen, _ = pool6.Subnet.Mask.Size()
		settings.IPv6Gateway = pool6.Gateway.String()
	}
	return ep, settings, nil
}

// vethName is the host's end of a container's veth on a network: the
// first's "veth" and the container's ID, the others' from a hash of both.
func vethName(id, netID string, first bool) string {
	if first {
		return "veth" + id[:min(7, len(id))]
	}
	sum := sha256.Sum256([]byte(id + "/" + netID))
	return "veth" + hex.EncodeToString(sum[:])[:7] + "x"
}

// id is a stable ID for the endpoint: the first's from the container's
// ID, the others' from a hash of it and the network's.
func (ep *endpoint) id() string {
	if ep.ifname() == "eth0" {
		return strings.Repeat("0", max(0, 64-len(ep.ContainerID))) + ep.ContainerID
	}
	sum := sha256.Sum256([]byte(ep.ContainerID + "/" + ep.NetworkID))
	return hex.EncodeToString(sum[:])
}

func (s *Service) persist(ep *endpoint) error {
	b, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	return s.cfg.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEndpoints)).Put([]byte(ep.key()), b)
	})
}

// forget drops ep from memory and its address from its pool.
func (s *Service) forget(ep *endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eps[ep.key()] == ep {
		delete(s.eps, ep.key())
	}
	if pool := s.poolOf(ep.NetworkID); pool != nil {
		pool.Release(ep.IP)
	}
	if n := s.nets[ep.NetworkID]; n != nil && n.pool6 != nil && ep.IP6 != nil {
		n.pool6.Release(ep.IP6)
	}
}

// Disconnect removes container id's endpoint on network netRef, not its
// first one (Release removes all).
func (s *Service) Disconnect(id, netRef string) error {
	s.mu.Lock()
	netID := ""
	if !isDefault(netRef) {
		if n := s.findNet(netRef); n != nil {
			netID = n.ID
		}
	}
	ep := s.eps[id+"/"+netID]
	s.mu.Unlock()
	if ep == nil {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", id, netRef))
	}
	if ep.ifname() == "eth0" {
		return errdefs.ErrNotImplemented.WithMessage("berth: disconnecting a running container from its first network is not supported yet")
	}
	var errs []error
	if err := bridge.Delete(ep.HostVeth); err != nil { // and its peer in the container
		errs = append(errs, err)
	}
	if err := s.cfg.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketEndpoints)).Delete([]byte(ep.key()))
	}); err != nil {
		errs = append(errs, err)
	}
	s.forget(ep)
	if ep.NetworkID != "" {
		if _, err := s.updateDNS(); err != nil {
			errs = append(errs, fmt.Errorf("embedded DNS: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Release undoes Attach and Connect: the namespace (and the veths with
// it), the addresses, the records. Releasing what is not attached does
// nothing.
func (s *Service) Release(id string) error {
	s.mu.Lock()
	eps := s.endpointsOf(id)
	s.mu.Unlock()
	if len(eps) == 0 {
		return nil
	}
	var errs []error
	if err := bridge.DeleteNetns(eps[0].Netns); err != nil {
		errs = append(errs, err)
	}
	dns, ports := false, false
	for _, ep := range eps {
		// The veth would go with the namespace, but in the kernel's own
		// time (seconds under load); deleting it waits for an RCU grace
		// period, off the caller's path: rm -f of 20 took 4.7x as long
		// with it inline. By index, so that a new veth of the same name
		// (a restart) is not hit.
		bridge.DeleteLater(ep.HostVeth)
		if err := s.cfg.DB.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketEndpoints)).Delete([]byte(ep.key()))
		}); err != nil {
			errs = append(errs, err)
		}
		s.forget(ep)
		dns = dns || ep.NetworkID != ""
		ports = ports || len(ep.Ports) > 0
	}
	if dns {
		if _, err := s.updateDNS(); err != nil {
			errs = append(errs, fmt.Errorf("embedded DNS: %w", err))
		}
	}
	if ports {
		s.mu.Lock()
		if err := s.applyNAT(); err != nil {
			errs = append(errs, err)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// crashAt names the point where the daemon kills itself, for the tests
// of what a crash leaves (BERTH_CRASHPOINT; never set in use).
var crashAt = os.Getenv("BERTH_CRASHPOINT")

// crashpoint kills the daemon with SIGKILL at the point name if the tests
// asked for it.
func crashpoint(name string) {
	if crashAt == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns
	}
}

// reconcile makes the kernel match the endpoint records at start: a veth
// a record names that is off its bridge (the bridge was deleted and has
// been made again) is put back on it; a veth on one of berth's bridges
// that no record names (a crash between making and recording, or before
// a release finished) is deleted. The nftables table is rewritten whole
// after (applyNAT), and the DNS resolver restarted if it is gone
// (updateDNS).
func (s *Service) reconcile() {
	bridges := map[string]string{"": s.cfg.Bridge} // network ID → bridge
	for id, n := range s.nets {
		bridges[id] = n.Bridge
	}
	named := map[string]bool{}
	for _, ep := range s.eps {
		named[ep.HostVeth] = true
		br := bridges[ep.NetworkID]
		if ep.NetworkID == s.cfg.NetworkID {
			br = s.cfg.Bridge
		}
		if br == "" {
			continue
		}
		if did, err := bridge.Reattach(ep.HostVeth, br); err != nil {
			slog.Warn("reattach a container's veth", "veth", ep.HostVeth, "bridge", br, "err", err)
		} else if did {
			slog.Info("put a container's veth back on its bridge", "veth", ep.HostVeth, "bridge", br, "container", ep.ContainerID[:min(12, len(ep.ContainerID))])
		}
	}
	for _, br := range bridges {
		ports, err := bridge.Ports(br)
		if err != nil {
			continue
		}
		for _, p := range ports {
			if !named[p] && strings.HasPrefix(p, "veth") {
				slog.Info("deleting a veth no endpoint names", "veth", p, "bridge", br)
				_ = bridge.Delete(p)
			}
		}
	}
}
