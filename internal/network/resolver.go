package network

import (
	"slices"
	"sort"

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
		c, ok := recs.Clients[ep.ContainerID]
		if !ok {
			c = dns.Client{Netns: ep.Netns, Upstream: ep.Upstream, Internal: true}
		}
		c.Networks = append(c.Networks, n.ID)
		recs.Clients[ep.ContainerID] = c
		rn := recs.Networks[n.ID]
		rn.Name = n.Name
		m := dns.Member{IP: ep.IP.String(), Names: ep.DNSNames}
		if ep.IP6 != nil {
			m.IP6 = ep.IP6.String()
		}
		rn.Members = append(rn.Members, m)
		recs.Networks[n.ID] = rn
	}
	// A container reaches out (and so forwards) unless all its networks
	// are internal ones.
	for _, ep := range s.eps {
		if c, ok := recs.Clients[ep.ContainerID]; ok && c.Internal {
			if n := s.nets[ep.NetworkID]; n == nil || !n.Internal {
				c.Internal = false
				recs.Clients[ep.ContainerID] = c
			}
		}
	}
	for id, c := range recs.Clients {
		sort.Strings(c.Networks)
		recs.Clients[id] = c
	}
	s.mu.Unlock()
	return s.dns.Update(recs)
}

// Rename has the embedded DNS answer to newName instead of oldName for
// container id (renamed while it runs).
func (s *Service) Rename(id, oldName, newName string) error {
	s.mu.Lock()
	var changed []*endpoint
	for _, ep := range s.endpointsOf(id) {
		if i := slices.Index(ep.DNSNames, oldName); i >= 0 {
			cp := *ep
			cp.DNSNames = slices.Clone(ep.DNSNames)
			cp.DNSNames[i] = newName
			s.eps[cp.key()] = &cp
			changed = append(changed, &cp)
		}
	}
	s.mu.Unlock()
	for _, ep := range changed {
		if err := s.persist(ep); err != nil {
			return err
		}
	}
	if len(changed) == 0 {
		return nil
	}
	_, err := s.updateDNS()
	return err
}
