package container

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

// Legacy links (--link NAME[:ALIAS]) on the default bridge, as Docker
// makes them: the linked container's address in /etc/hosts under the
// alias, and ALIAS_PORT_*, ALIAS_NAME and ALIAS_ENV_* variables. They are
// resolved at each start, from the linked container as it runs then.

// normalizeLinks checks --link values and writes them as Docker records
// them ("/target:/self/alias"); name is the new container's ("/app").
func (s *Service) normalizeLinks(hc *container.HostConfig, name string) error {
	if len(hc.Links) == 0 {
		return nil
	}
	switch m := hc.NetworkMode; {
	case m.IsHost():
		return errdefs.ErrInvalidArgument.WithMessage("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
	case m.IsContainer():
		return errdefs.ErrInvalidArgument.WithMessage("conflicting options: container type network can't be used with links. This would result in undefined behavior")
	case m.IsNone():
		return errdefs.ErrInvalidArgument.WithMessage("berth: --link needs the default bridge network, not --network none")
	case s.networks == nil:
		return errdefs.ErrInvalidArgument.WithMessage("berth: --link needs the default bridge, which this daemon runs without (--bridge none)")
	case userNetwork(m):
		return errdefs.ErrInvalidArgument.WithMessage("berth: --link on a user-defined network is not supported yet")
	}
	out := make([]string, 0, len(hc.Links))
	for _, l := range hc.Links {
		target, alias, _ := strings.Cut(l, ":")
		e, err := s.lookup(target)
		if err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("could not get container for %s: %v", strings.TrimPrefix(target, "/"), err))
		}
		if alias == "" {
			alias = strings.TrimPrefix(target, "/")
		}
		alias = strings.TrimPrefix(alias[strings.LastIndex(alias, "/")+1:], "/")
		if alias == "" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid link: %q", l))
		}
		e.mu.Lock()
		tname := e.rec.Name
		e.mu.Unlock()
		out = append(out, tname+":"+name+"/"+alias)
	}
	hc.Links = out
	return nil
}

// link is one resolved link of a starting container.
type link struct {
	alias, ip string
	target    Record
}

// resolveLinks finds each linked container, which must run on the
// default bridge.
func (s *Service) resolveLinks(rec *Record) ([]link, error) {
	var out []link
	for _, l := range rec.HostConfig.Links {
		target, path, _ := strings.Cut(l, ":")
		alias := path[strings.LastIndex(path, "/")+1:]
		e, err := s.lookup(target)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("could not get container for %s: %v", strings.TrimPrefix(target, "/"), err))
		}
		t := e.snapshot()
		ep := t.Networks["bridge"]
		if t.State.Status != "running" || ep == nil || ep.IPAddress == "" {
			return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot link to a non running container: %s AS %s", t.Name, path))
		}
		out = append(out, link{alias: alias, ip: ep.IPAddress, target: t})
	}
	return out, nil
}

// linkEnv are the variables Docker gives a container for its links.
func linkEnv(self string, links []link) []string {
	var env []string
	for _, l := range links {
		p := strings.ReplaceAll(strings.ToUpper(l.alias), "-", "_")
		env = append(env, fmt.Sprintf("%s_NAME=%s/%s", p, self, l.alias))
		ports := make([]string, 0, len(l.target.Config.ExposedPorts))
		for port := range l.target.Config.ExposedPorts {
			ports = append(ports, string(port))
		}
		sort.Slice(ports, func(i, j int) bool { // by number, then protocol
			pi, pj := nat.Port(ports[i]).Int(), nat.Port(ports[j]).Int()
			return pi < pj || pi == pj && ports[i] < ports[j]
		})
		for i, port := range ports {
			num, proto, _ := strings.Cut(port, "/")
			if proto == "" {
				proto = "tcp"
			}
			if i == 0 {
				env = append(env, fmt.Sprintf("%s_PORT=%s://%s:%s", p, proto, l.ip, num))
			}
			k := fmt.Sprintf("%s_PORT_%s_%s", p, num, strings.ToUpper(proto))
			env = append(env, fmt.Sprintf("%s=%s://%s:%s", k, proto, l.ip, num),
				k+"_ADDR="+l.ip, k+"_PORT="+num, k+"_PROTO="+proto)
		}
		for _, kv := range l.target.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			if k == "HOME" || k == "PATH" {
				continue
			}
			env = append(env, fmt.Sprintf("%s_ENV_%s=%s", p, k, v))
		}
	}
	return env
}

// linkHosts are the /etc/hosts lines of the links, as Docker writes
// them: address, alias, the linked container's host name, and its name
// when that is not the alias.
func linkHosts(links []link) string {
	var b strings.Builder
	for _, l := range links {
		names := l.alias + " " + l.target.Config.Hostname
		if n := strings.TrimPrefix(l.target.Name, "/"); n != l.alias {
			names += " " + n
		}
		fmt.Fprintf(&b, "%s\t%s\n", l.ip, names)
	}
	return b.String()
}
