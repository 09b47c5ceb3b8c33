package container

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// Connect connects a container to network netName (a name), as `network
// connect` does: a running container at once (an interface of its own,
// its names in that network's DNS), any container at its next starts
// too. Connecting a container that is not running to its own network
// sets what it asks of that endpoint (aliases, --ip, MAC): what compose
// v1 does to every container it creates (disconnect, then connect with
// the service's aliases).
func (s *Service) Connect(ref, netName string, ep *network.EndpointSettings) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &e.rec
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: ep}}
	if err := checkFields(r.Config, r.HostConfig, nc); err != nil {
		return err
	}
	exists := errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", r.Name[1:], netName))
	if defaultNetwork(netName, r.HostConfig.NetworkMode) {
		if r.Running() {
			return exists
		}
		want, err := endpointRequest(r.Config, r.HostConfig, nc)
		if err != nil {
			return err
		}
		r.Endpoint = want
		return s.persist(r)
	}
	name, err := s.joinable(r.HostConfig.NetworkMode, netName)
	if err != nil {
		return err
	}
	if _, ok := r.Extra[name]; ok {
		return exists
	}
	asked, err := endpointAsked(name, ep)
	if err != nil {
		return err
	}
	if r.Running() {
		settings, err := s.networks.Connect(r.ID, name, endpointWanted(r, name, asked), dnsServers(r.HostConfig, name))
		if err != nil {
			return err
		}
		nets := maps.Clone(r.Networks)
		nets[name] = settings
		r.Networks = nets
	}
	extra := maps.Clone(r.Extra)
	if extra == nil {
		extra = map[string]*network.EndpointSettings{}
	}
	extra[name] = asked
	r.Extra = extra
	return s.persist(r)
}

// Disconnect takes a container off network netName: a running one at
// once, and at its next starts. A container that is not running forgets
// what it asked of its own network's endpoint; taking a running one off
// its own network is not done yet.
func (s *Service) Disconnect(ref, netName string, force bool) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &e.rec
	if defaultNetwork(netName, r.HostConfig.NetworkMode) {
		if r.Running() {
			return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: disconnecting a running container from its network mode's network (%s) is not supported yet", netName))
		}
		r.Endpoint = nil
		return s.persist(r)
	}
	if _, ok := r.Extra[netName]; !ok {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", r.Name[1:], netName))
	}
	if r.Running() {
		if err := s.networks.Disconnect(r.ID, netName); err != nil {
			return err
		}
		nets := maps.Clone(r.Networks)
		delete(nets, netName)
		r.Networks = nets
	}
	extra := maps.Clone(r.Extra)
	delete(extra, netName)
	if len(extra) == 0 {
		extra = nil
	}
	r.Extra = extra
	return s.persist(r)
}

// connectExtra connects a starting container, attached to its mode's
// network, to its other networks (in name order: eth1, eth2...).
func (s *Service) connectExtra(r *Record) error {
	names := slices.Sorted(maps.Keys(r.Extra))
	for _, name := range names {
		settings, err := s.networks.Connect(r.ID, name, endpointWanted(r, name, r.Extra[name]), dnsServers(r.HostConfig, name))
		if err != nil {
			return err
		}
		r.Networks[name] = settings
	}
	return nil
}

// endpointWanted is what a starting container asks of its endpoint on
// netName: what was asked (--ip, --mac-address, --network-alias) and, on
// a user-defined network, the names the embedded DNS answers with its
// address — its name, short ID, aliases and host name, as Docker's
// DNSNames.
func endpointWanted(r *Record, netName string, asked *network.EndpointSettings) *network.EndpointSettings {
	var want network.EndpointSettings
	if asked != nil {
		want = *asked
	}
	want.DNSNames = nil
	if !userNetwork(container.NetworkMode(netName)) {
		return &want
	}
	names := []string{strings.TrimPrefix(r.Name, "/"), r.ID[:12]}
	names = append(names, want.Aliases...)
	if h := r.Config.Hostname; h != "" {
		names = append(names, h)
	}
	for _, n := range names {
		if !slices.Contains(want.DNSNames, n) {
			want.DNSNames = append(want.DNSNames, n)
		}
	}
	return &want
}

// ConfiguredNetworks are the networks a container that has not run is
// on, as inspect shows them: its mode's and its others.
func (r *Record) ConfiguredNetworks() map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	add := func(name string, asked *network.EndpointSettings) {
		ep := &network.EndpointSettings{NetworkID: name}
		if asked != nil {
			ep.Aliases, ep.IPAMConfig, ep.MacAddress = asked.Aliases, asked.IPAMConfig, asked.MacAddress
		}
		out[name] = ep
	}
	add(r.NetworkName(), r.Endpoint)
	for name, asked := range r.Extra {
		add(name, asked)
	}
	return out
}
