package containers

import "net/http"

// Router serves the container and exec routes.
type Router struct {
	b Backend
}

// New returns the router.
func New(b Backend) *Router { return &Router{b: b} }

// Register adds the routes to mux.
func (rt *Router) Register(mux *http.ServeMux) {
	for pattern, h := range map[string]func(http.ResponseWriter, *http.Request) error{
		"POST /containers/create":       rt.create,
		"GET /containers/json":          rt.list,
		"POST /containers/prune":        rt.prune,
		"GET /containers/{id}/json":     rt.inspect,
		"POST /containers/{id}/start":   rt.start,
		"POST /containers/{id}/stop":    rt.stop,
		"POST /containers/{id}/restart": rt.restart,
		"POST /containers/{id}/kill":    rt.kill,
		"POST /containers/{id}/wait":    rt.wait,
		"POST /containers/{id}/attach":  rt.attach,
		"GET /containers/{id}/logs":     rt.logs,
		"POST /containers/{id}/resize":  rt.resize,
		"DELETE /containers/{id}":       rt.remove,
		"GET /containers/{id}/top":      rt.top,
		"POST /containers/{id}/pause":   rt.pause,
		"POST /containers/{id}/unpause": rt.unpause,
		"POST /containers/{id}/rename":  rt.rename,
		"POST /containers/{id}/update":  rt.update,
		"GET /containers/{id}/stats":    rt.stats,
		"POST /containers/{id}/exec":    rt.execCreate,
		"POST /exec/{id}/start":         rt.execStart,
		"POST /exec/{id}/resize":        rt.execResize,
		"GET /exec/{id}/json":           rt.execInspect,
		"HEAD /containers/{id}/archive": rt.archiveStat,
		"GET /containers/{id}/archive":  rt.archiveGet,
		"PUT /containers/{id}/archive":  rt.archivePut,
		"GET /containers/{id}/changes":  rt.changes,
		"GET /containers/{id}/export":   rt.export,
	} {
		mux.HandleFunc(pattern, handle(h))
	}
}
