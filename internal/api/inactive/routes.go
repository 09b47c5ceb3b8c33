package inactive

import (
	"net/http"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/internal/api/httputil"
)

// NotSwarmManager is what Docker answers on the swarm routes outside a swarm.
const NotSwarmManager = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`

// Router serves the routes of absent features.
type Router struct{}

// New returns the router.
func New() *Router { return &Router{} }

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
		"GET /containers/{id}/attach/ws":   "attaching over a websocket is",
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

}
