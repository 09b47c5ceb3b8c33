package inactive

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/berthproject/berth/internal/api/httputil"
)

// NotSwarmManager is what Docker answers on the swarm routes outside a swarm.
const NotSwarmManager = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`

// Router serves the routes of absent features.
type Router struct {
	networks []network.Inspect
}

// New returns the router; engineID makes the default networks' IDs
// stable for one daemon.
func New(engineID string, started time.Time) *Router {
	rt := &Router{}
	for _, n := range []struct{ name, driver string }{{"bridge", "bridge"}, {"host", "host"}, {"none", "null"}} {
		rt.networks = append(rt.networks, network.Inspect{
			Name: n.name, ID: NetworkID(engineID, n.name), Created: started, Scope: "local", Driver: n.driver, EnableIPv4: true,
			IPAM:       network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
			Containers: map[string]network.EndpointResource{}, Options: map[string]string{}, Labels: map[string]string{},
		})
	}
	return rt
}

// SetBridge gives the default bridge network its IPAM configuration and
// bridge name, as Docker shows them (what the network service chose).
func (rt *Router) SetBridge(name, subnet, gateway string) {
	for i := range rt.networks {
		if rt.networks[i].Name == "bridge" && name != "" {
			rt.networks[i].IPAM.Config = []network.IPAMConfig{{Subnet: subnet, Gateway: gateway}}
			rt.networks[i].Options = map[string]string{
				"com.docker.network.bridge.name": name, "com.docker.network.bridge.default_bridge": "true",
				"com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.driver.mtu": "1500",
			}
		}
	}
}

// NetworkID is the stable ID of the default network name of the engine
// engineID.
func NetworkID(engineID, name string) string {
	sum := sha256.Sum256([]byte(engineID + "/network/" + name))
	return hex.EncodeToString(sum[:])
}

func notImplemented(what string) httputil.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.ErrNotImplemented.WithMessage("berth: " + what + " not supported yet")
	}
}

func unavailable(w http.ResponseWriter, r *http.Request) error {
	return errdefs.ErrUnavailable.WithMessage(NotSwarmManager)
}

// Register adds the routes to mux.
func (rt *Router) Register(mux *http.ServeMux) {
	h := func(pattern string, f httputil.HandlerFunc) { mux.HandleFunc(pattern, httputil.Handle(f)) }

	// Docker routes whose features are not in berth yet: refused, by name.
	for pattern, what := range map[string]string{
		"POST /build":                      "building images (docker build) is",
		"POST /build/prune":                "the build cache is",
		"POST /session":                    "BuildKit sessions are",
		"POST /commit":                     "commit is",
		"GET /images/search":               "searching a registry is",
		"GET /containers/{id}/changes":     "diff (container changes) is",
		"GET /containers/{id}/export":      "export is",
		"GET /containers/{id}/attach/ws":   "attaching over a websocket is",
		"HEAD /containers/{id}/archive":    "cp (container archives) is",
		"GET /containers/{id}/archive":     "cp (container archives) is",
		"PUT /containers/{id}/archive":     "cp (container archives) is",
		"GET /system/df":                   "system df is",
		"GET /distribution/{name...}":      "the distribution inspect endpoint is",
		"PUT /volumes/{name}":              "updating (cluster) volumes is",
		"POST /containers/{id}/checkpoint": "checkpoints are",
	} {
		h(pattern, notImplemented(what))
	}

	// Plugins: there are none.
	h("GET /plugins", func(w http.ResponseWriter, r *http.Request) error {
		httputil.WriteJSON(w, http.StatusOK, []any{})
		return nil
	})
	// Installing one is refused; acting on one finds none, as in Docker.
	h("GET /plugins/privileges", notImplemented("plugins are"))
	h("POST /plugins/pull", notImplemented("plugins are"))
	h("POST /plugins/create", notImplemented("plugins are"))
	noPlugin := func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.ErrNotFound.WithMessage("plugin \"" + r.PathValue("name") + "\" not found")
	}
	h("GET /plugins/{name}/json", noPlugin)
	h("DELETE /plugins/{name}", noPlugin)
	h("POST /plugins/{name}/{op}", noPlugin)

	// Swarm: this node is in none.
	for _, p := range []string{"/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"} {
		h("GET "+p, unavailable)
		h(p+"/{rest...}", unavailable)
	}
	for _, p := range []string{"/swarm/init", "/swarm/join"} {
		h("POST "+p, notImplemented("swarm mode is"))
	}
	h("POST /swarm/leave", func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.ErrUnavailable.WithMessage("This node is not part of a swarm")
	})

	// Networks: the three default ones, until the network service lands.
	h("GET /networks", rt.listNetworks)
	h("GET /networks/{id}", rt.inspectNetwork)
	h("POST /networks/create", notImplemented("networks other than the default ones are"))
	h("POST /networks/{id}/connect", notImplemented("connecting containers to networks is"))
	h("POST /networks/{id}/disconnect", notImplemented("disconnecting containers from networks is"))
	h("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if n := rt.network(r.PathValue("id")); n != nil {
			return errdefs.ErrPermissionDenied.WithMessage(n.Name + " is a pre-defined network and cannot be removed")
		}
		return errdefs.ErrNotFound.WithMessage("network " + r.PathValue("id") + " not found")
	})
	h("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) error {
		httputil.WriteJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: []string{}})
		return nil
	})

	// Volumes: none, until the volume service lands.
	h("GET /volumes", func(w http.ResponseWriter, r *http.Request) error {
		httputil.WriteJSON(w, http.StatusOK, volume.ListResponse{Volumes: []*volume.Volume{}, Warnings: []string{}})
		return nil
	})
	h("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.ErrNotFound.WithMessage("get " + r.PathValue("name") + ": no such volume")
	})
	h("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.ErrNotFound.WithMessage("get " + r.PathValue("name") + ": no such volume")
	})
	h("POST /volumes/create", notImplemented("volumes are"))
	h("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request) error {
		httputil.WriteJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: []string{}})
		return nil
	})
}

// network finds a default network by name, full ID or ID prefix.
func (rt *Router) network(ref string) *network.Inspect {
	for i, n := range rt.networks {
		if ref == n.Name || ref == n.ID || len(ref) >= 1 && strings.HasPrefix(n.ID, ref) {
			return &rt.networks[i]
		}
	}
	return nil
}

func (rt *Router) listNetworks(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "name", "id", "driver", "scope", "type", "label", "dangling")
	if err != nil {
		return err
	}
	out := []network.Summary{}
	for _, n := range rt.networks {
		if f.Contains("name") && !anyMatch(f.Get("name"), func(v string) bool { return strings.Contains(n.Name, v) }) ||
			f.Contains("id") && !anyMatch(f.Get("id"), func(v string) bool { return strings.HasPrefix(n.ID, v) }) ||
			f.Contains("driver") && !f.ExactMatch("driver", n.Driver) ||
			f.Contains("scope") && !f.ExactMatch("scope", n.Scope) ||
			f.Contains("type") && !f.ExactMatch("type", "builtin") ||
			f.Contains("label") || // the default networks have no labels
			f.Contains("dangling") && !f.ExactMatch("dangling", "false") {
			continue
		}
		out = append(out, n)
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func anyMatch(vs []string, ok func(string) bool) bool {
	for _, v := range vs {
		if ok(v) {
			return true
		}
	}
	return false
}

func (rt *Router) inspectNetwork(w http.ResponseWriter, r *http.Request) error {
	n := rt.network(r.PathValue("id"))
	if n == nil {
		return errdefs.ErrNotFound.WithMessage("network " + r.PathValue("id") + " not found")
	}
	httputil.WriteJSON(w, http.StatusOK, n)
	return nil
}
