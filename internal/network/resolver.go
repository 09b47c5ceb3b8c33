package network

import (
	"os"
	"strings"

	"github.com/berthproject/berth/internal/network/dns"
)

// updateDNS has the embedded DNS serve the containers on user-defined
// networks as the endpoints now are; it returns the containers it could
// not serve. s.dnsMu orders the calls: the last records made are the
// last served.
func (s *Service) updateDNS() (map[string]string, error) {
	s.dnsMu.Lock()
	defer s.dnsMu.Unlock()
	s.mu.Lock()
	recs := &dns.Records{Clients: map[string]dns.Client{}, Networks: map[string]dns.Network{}}
	for _, ep := range s.eps {
		n := s.nets[ep.NetworkID]
		if n == nil {
			continue // the default bridge: no embedded DNS, as with Docker
		}
		recs.Clients[ep.ContainerID] = dns.Client{Netns: ep.Netns, Networks: []string{n.ID}, Upstream: ep.Upstream, Internal: n.Internal}
		rn := recs.Networks[n.ID]
		rn.Name = n.Name
		rn.Members = append(rn.Members, dns.Member{IP: ep.IP.String(), Names: ep.DNSNames})
		recs.Networks[n.ID] = rn
	}
	s.mu.Unlock()
	return s.dns.Update(recs)
}

// upstream is where the embedded DNS forwards a container's questions:
// its --dns servers, else the host's (loopback ones included: the
// resolver asks those from the host's namespace).
func upstream(servers []string) []string {
	if len(servers) > 0 {
		return servers
	}
	b, _ := os.ReadFile("/etc/resolv.conf")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}

// Rename makes the embedded DNS answer names with container id's address
// (a container renamed while it runs on a user-defined network).
func (s *Service) Rename(id string, names []string) error {
	s.mu.Lock()
	ep := s.eps[id]
	if ep == nil || ep.NetworkID == "" {
		s.mu.Unlock()
		return nil
	}
	cp := *ep
	cp.DNSNames = names
	s.eps[id] = &cp
	s.mu.Unlock()
	if err := s.persist(&cp); err != nil {
		return err
	}
	_, err := s.updateDNS()
	return err
}
