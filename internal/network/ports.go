package network

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/go-connections/nat"

	"github.com/berthproject/berth/internal/network/bridge"
)

// mapping is one published port, as recorded with its endpoint.
type mapping struct {
	Proto    string // tcp, udp
	HostIP   string // "0.0.0.0": every address of the host
	HostPort int
	CtrPort  int
}

func (m mapping) clashes(o mapping) bool {
	if m.Proto != o.Proto || m.HostPort != o.HostPort {
		return false
	}
	any := func(ip string) bool { return ip == "" || ip == "0.0.0.0" }
	return m.HostIP == o.HostIP || any(m.HostIP) || any(o.HostIP)
}

// hostPorts reads a binding's host port as Docker's nat does: "" or "0"
// (any: 0, 0), "8080", or a range "8000-8010".
func hostPorts(s string) (lo, hi int, err error) {
	return nat.ParsePortRangeToInt(s)
}

// ephemeral is the host's ephemeral port range, where a binding without a
// host port gets one (as Docker).
func ephemeral() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		lo, err1 := strconv.Atoi(f[0])
		hi, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && lo > 0 && hi >= lo {
			return lo, hi
		}
	}
	return 32768, 60999
}

// free reports why m's host port cannot be had (nil if it can): berth
// published it already (in taken, or for a container), or another
// process holds it (found by binding it for a moment).
func (s *Service) free(m mapping, taken []mapping) error {
	ip := m.HostIP
	all := append([]mapping(nil), taken...)
	for _, e := range s.eps {
		all = append(all, e.Ports...)
	}
	for _, t := range all {
		if t.clashes(m) {
			return fmt.Errorf("Bind for %s:%d failed: port is already allocated", ip, m.HostPort)
		}
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(m.HostPort))
	if m.Proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return fmt.Errorf("Bind for %s failed: %w", addr, err)
		}
		return c.Close()
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("Bind for %s failed: %w", addr, err)
	}
	return l.Close()
}

// allocate picks the host ports of bindings (callers hold s.mu).
func (s *Service) allocate(pb nat.PortMap, defaultIP string) ([]mapping, error) {
	keys := make([]nat.Port, 0, len(pb))
	for p := range pb {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var out []mapping
	for _, p := range keys {
		for _, b := range pb[p] {
			ip := b.HostIP
			if ip == "" {
				ip = defaultIP
			}
			lo, hi, err := hostPorts(b.HostPort)
			if err != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
			}
			m := mapping{Proto: p.Proto(), HostIP: ip, CtrPort: p.Int()}
			if lo == 0 { // any: from the ephemeral range, starting anywhere
				elo, ehi := ephemeral()
				lo, hi = elo, ehi
				start := lo + rand.IntN(hi-lo+1)
				var ferr error
				for i := 0; i <= hi-lo; i++ {
					m.HostPort = lo + (start-lo+i)%(hi-lo+1)
					if ferr = s.free(m, out); ferr == nil {
						break
					}
				}
				if ferr != nil {
					return nil, errdefs.ErrConflict.WithMessage("no free host port in the ephemeral range for " + string(p))
				}
			} else {
				var ferr error
				for port := lo; port <= hi; port++ {
					m.HostPort = port
					if ferr = s.free(m, out); ferr == nil {
						break
					}
				}
				if ferr != nil {
					return nil, errdefs.ErrConflict.WithMessage(ferr.Error())
				}
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// portMap is what inspect shows of mappings.
func portMap(ms []mapping) nat.PortMap {
	out := nat.PortMap{}
	for _, m := range ms {
		p := nat.Port(fmt.Sprintf("%d/%s", m.CtrPort, m.Proto))
		out[p] = append(out[p], nat.PortBinding{HostIP: m.HostIP, HostPort: strconv.Itoa(m.HostPort)})
	}
	return out
}

// applyNAT rewrites the nftables table with every endpoint's published
// ports (callers hold s.mu).
func (s *Service) applyNAT() error {
	var rules []bridge.PortRule
	for _, e := range s.eps {
		for _, m := range e.Ports {
			r := bridge.PortRule{Proto: m.Proto, HostPort: uint16(m.HostPort), CtrIP: e.IP, CtrPort: uint16(m.CtrPort)}
			if ip := net.ParseIP(m.HostIP); ip != nil && !ip.IsUnspecified() {
				r.HostIP = ip
			}
			rules = append(rules, r)
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].HostPort < rules[j].HostPort })
	nets := []bridge.Net{{Bridge: s.cfg.Bridge, Subnet: s.subnet}}
	ids := make([]string, 0, len(s.nets))
	for id := range s.nets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := s.nets[id]
		nets = append(nets, bridge.Net{Bridge: n.Bridge, Subnet: n.pool.Subnet, Internal: n.Internal})
	}
	return bridge.SetupNAT(s.cfg.Table, nets, rules)
}
