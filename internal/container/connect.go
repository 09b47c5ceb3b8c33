package container

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// Connect sets what a container asks of its endpoint on netName (aliases,
// --ip, MAC) before it runs, as `network connect` does: what compose v1
// does to every container it creates (disconnect, then connect with the
// service's aliases). A container is on one network: its network mode's.
func (s *Service) Connect(ref, netName string, ep *network.EndpointSettings) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := s.ownNetwork(&e.rec, netName, "connecting"); err != nil {
		return err
	}
	if ep == nil {
		ep = &network.EndpointSettings{}
	}
	if err := checkFields(e.rec.Config, e.rec.HostConfig, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: ep}}); err != nil {
		return err
	}
	want, err := endpointRequest(e.rec.Config, e.rec.HostConfig, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: ep}})
	if err != nil {
		return err
	}
	e.rec.Endpoint = want
	return s.persist(&e.rec)
}

// Disconnect forgets what the container asked of its endpoint on netName
// (before it runs).
func (s *Service) Disconnect(ref, netName string, force bool) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := s.ownNetwork(&e.rec, netName, "disconnecting"); err != nil {
		return err
	}
	e.rec.Endpoint = nil
	return s.persist(&e.rec)
}

// ownNetwork refuses what berth cannot do yet: a running container, or a
// network other than the container's own.
func (s *Service) ownNetwork(r *Record, netName, verb string) error {
	if r.Running() {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: %s a running container to or from a network is not supported yet", verb))
	}
	if mine := r.NetworkName(); netName != mine {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: a container on several networks is not supported yet (%s is on %s, not %s)", r.Name[1:], r.NetworkName(), netName))
	}
	return nil
}

// endpointWanted is what a starting container asks of its endpoint: what
// create recorded (--ip, --mac-address, --network-alias) and, on a
// user-defined network, the names the embedded DNS answers with its
// address — its name, short ID, aliases and host name, as Docker's
// DNSNames.
func endpointWanted(r *Record) *network.EndpointSettings {
	var want network.EndpointSettings
	if r.Endpoint != nil {
		want = *r.Endpoint
	}
	if !userNetwork(r.HostConfig.NetworkMode) {
		return &want
	}
	names := []string{strings.TrimPrefix(r.Name, "/"), r.ID[:12]}
	names = append(names, want.Aliases...)
	if h := r.Config.Hostname; h != "" {
		names = append(names, h)
	}
	want.DNSNames = nil
	for _, n := range names {
		if !slices.Contains(want.DNSNames, n) {
			want.DNSNames = append(want.DNSNames, n)
		}
	}
	return &want
}
