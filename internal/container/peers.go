package container

import (
	"log/slog"
	"sort"
	"strings"
)

// Until berth has its embedded DNS, containers of a user-defined network
// find each other by name through /etc/hosts: every running container of
// the network has a line for each of the others (address, name, short
// ID, aliases), rewritten in place (the file is bound into the container) when one
// starts or stops. The files outlive the daemon, so names keep resolving
// while it is down.

// refreshPeers rewrites /etc/hosts of every running container on r's
// network, if it is a user-defined one.
func (s *Service) refreshPeers(r *Record) {
	if !userNetwork(r.HostConfig.NetworkMode) {
		return
	}
	netName := r.NetworkName()
	type peer struct {
		rec Record
		ip  string
	}
	var peers []peer
	for _, r := range s.List() {
		if !r.Running() {
			continue
		}
		if ep := r.Networks[netName]; ep != nil && ep.IPAddress != "" {
			peers = append(peers, peer{r, ep.IPAddress})
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].rec.Name < peers[j].rec.Name })
	for _, p := range peers {
		var b strings.Builder
		for _, o := range peers {
			if o.rec.ID == p.rec.ID {
				continue
			}
			names := strings.TrimPrefix(o.rec.Name, "/") + " " + o.rec.ID[:12]
			if o.rec.Endpoint != nil && len(o.rec.Endpoint.Aliases) > 0 { // --network-alias
				names += " " + strings.Join(o.rec.Endpoint.Aliases, " ")
			}
			b.WriteString(o.ip + "\t" + names + "\n")
		}
		if err := writeHosts(p.rec.Dir, p.ip, p.rec.Config.Hostname, p.rec.Config.Domainname, p.rec.HostConfig, b.String()); err != nil {
			slog.Warn("rewrite a container's /etc/hosts", "id", p.rec.ID[:12], "err", err)
		}
	}
}
