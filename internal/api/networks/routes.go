package networks

import (
	"net"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/berthproject/berth/internal/api/httputil"
	netsvc "github.com/berthproject/berth/internal/network"
)

// Backend is what the routes need of the network service.
type Backend interface {
	All() []network.Inspect
	Get(ref string) (network.Inspect, error)
	Create(req netsvc.CreateRequest) (string, error)
	Remove(ref string) error
	Prune(keep func(network.Inspect) bool) ([]string, error)
}

// Containers is what connect, disconnect and inspect need of the container
// service.
type Containers interface {
	Connect(ctr, netName string, ep *network.EndpointSettings) error
	Disconnect(ctr, netName string, force bool) error
	// Name is container id's name ("" for none).
	Name(id string) string
}

// Router serves the network routes.
type Router struct {
	b  Backend
	cs Containers
}

// New returns the router.
func New(b Backend, cs Containers) *Router { return &Router{b: b, cs: cs} }

// Register adds the routes to mux.
func (rt *Router) Register(mux *http.ServeMux) {
	for pattern, h := range map[string]httputil.HandlerFunc{
		"GET /networks":                  rt.list,
		"GET /networks/{id}":             rt.inspect,
		"POST /networks/create":          rt.create,
		"DELETE /networks/{id}":          rt.remove,
		"POST /networks/prune":           rt.prune,
		"POST /networks/{id}/connect":    rt.connect,
		"POST /networks/{id}/disconnect": rt.disconnect,
	} {
		mux.HandleFunc(pattern, httputil.Handle(h))
	}
}

func (rt *Router) connect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectOptions
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	n, err := rt.b.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := rt.cs.Connect(req.Container, n.Name, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) disconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectOptions
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	n, err := rt.b.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := rt.cs.Disconnect(req.Container, n.Name, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func builtin(n network.Inspect) bool {
	return n.Name == "bridge" || n.Name == "host" || n.Name == "none"
}

func (rt *Router) list(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "name", "id", "driver", "scope", "type", "label", "dangling")
	if err != nil {
		return err
	}
	out := []network.Summary{}
	for _, n := range rt.b.All() {
		typ := "custom"
		if builtin(n) {
			typ = "builtin"
		}
		if f.Contains("name") && !httputil.AnyMatch(f.Get("name"), func(v string) bool { return strings.Contains(n.Name, v) }) ||
			f.Contains("id") && !httputil.AnyMatch(f.Get("id"), func(v string) bool { return strings.HasPrefix(n.ID, v) }) ||
			f.Contains("driver") && !f.ExactMatch("driver", n.Driver) ||
			f.Contains("scope") && !f.ExactMatch("scope", n.Scope) ||
			f.Contains("type") && !f.ExactMatch("type", typ) ||
			f.Contains("label") && !httputil.MatchLabels(f.Get("label"), n.Labels) ||
			httputil.BoolFilterExcludes(f, "dangling", len(n.Containers) == 0 && !builtin(n)) {
			continue
		}
		if !r.URL.Query().Has("verbose") {
			n.Containers = map[string]network.EndpointResource{} // as Docker's list
		} else {
			n = rt.named(n)
		}
		out = append(out, n)
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *Router) inspect(w http.ResponseWriter, r *http.Request) error {
	n, err := rt.b.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusOK, rt.named(n))
	return nil
}

// named fills in the names of the network's containers.
func (rt *Router) named(n network.Inspect) network.Inspect {
	out := make(map[string]network.EndpointResource, len(n.Containers))
	for id, ep := range n.Containers {
		ep.Name = rt.cs.Name(id)
		out[id] = ep
	}
	n.Containers = out
	return n
}

func (rt *Router) create(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	cr := netsvc.CreateRequest{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable,
		Labels: req.Labels, Options: req.Options}
	if req.EnableIPv6 != nil {
		cr.IPv6 = *req.EnableIPv6
	}
	if req.Scope != "" && req.Scope != "local" {
		return errdefs.ErrNotImplemented.WithMessage("berth: network scope " + req.Scope + " is not supported yet")
	}
	if req.ConfigFrom != nil || req.ConfigOnly || req.Ingress {
		return errdefs.ErrNotImplemented.WithMessage("berth: config-only, config-from and ingress networks are not supported yet")
	}
	if ipam := req.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return errdefs.ErrNotImplemented.WithMessage("berth: IPAM driver " + ipam.Driver + " is not supported yet")
		}
		if len(ipam.Options) > 0 {
			return errdefs.ErrNotImplemented.WithMessage("berth: IPAM options are not supported yet")
		}
		// One IPv4 subnet (or none: one is chosen) and, with --ipv6, one
		// IPv6 subnet.
		var v4, v6 int
		for _, c := range ipam.Config {
			if len(c.AuxAddress) > 0 {
				return errdefs.ErrNotImplemented.WithMessage("berth: --aux-address is not supported yet")
			}
			if ip, _, err := net.ParseCIDR(c.Subnet); err == nil && ip.To4() == nil {
				if c.IPRange != "" {
					return errdefs.ErrNotImplemented.WithMessage("berth: --ip-range of an IPv6 subnet is not supported yet")
				}
				cr.Subnet6, cr.Gateway6 = c.Subnet, c.Gateway
				v6++
				continue
			}
			cr.Subnet, cr.Gateway, cr.IPRange = c.Subnet, c.Gateway, c.IPRange
			v4++
		}
		if v4 > 1 || v6 > 1 {
			return errdefs.ErrNotImplemented.WithMessage("berth: a network with several IPv4 or several IPv6 subnets is not supported yet")
		}
	}
	id, err := rt.b.Create(cr)
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusCreated, network.CreateResponse{ID: id, Warning: ""})
	return nil
}

func (rt *Router) remove(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Remove(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "label", "label!", "until")
	if err != nil {
		return err
	}
	sel, err := httputil.PruneSelector(f)
	if err != nil {
		return err
	}
	removed, err := rt.b.Prune(func(n network.Inspect) bool { return !sel(n.Created, n.Labels) })
	if err != nil {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	httputil.WriteJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: removed})
	return nil
}
