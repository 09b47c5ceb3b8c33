package volumes

import (
	"net/http"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/volume"

	"github.com/berthproject/berth/internal/api/httputil"
	volsvc "github.com/berthproject/berth/internal/volume"
)

// Backend is what the routes need of the volume service.
type Backend interface {
	List() []volsvc.Volume
	Get(name string) (volsvc.Volume, error)
	Create(o volsvc.CreateOptions) (volsvc.Volume, error)
	Remove(name string, force bool) error
	Prune(all bool, keep func(volsvc.Volume) bool) ([]string, uint64, error)
	Path(name string) string
}

// Router serves the volume routes.
type Router struct{ b Backend }

// New returns the router.
func New(b Backend) *Router { return &Router{b: b} }

// Register adds the routes to mux.
func (rt *Router) Register(mux *http.ServeMux) {
	for pattern, h := range map[string]httputil.HandlerFunc{
		"GET /volumes":           rt.list,
		"GET /volumes/{name}":    rt.inspect,
		"POST /volumes/create":   rt.create,
		"DELETE /volumes/{name}": rt.remove,
		"POST /volumes/prune":    rt.prune,
	} {
		mux.HandleFunc(pattern, httputil.Handle(h))
	}
}

// apiVolume is a volume as the Engine API shows it.
func (rt *Router) apiVolume(v volsvc.Volume) *volume.Volume {
	return &volume.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: rt.b.Path(v.Name), CreatedAt: v.CreatedAt.Format(time.RFC3339),
		Labels: v.Labels, Options: v.Options, Scope: "local"}
}

func (rt *Router) list(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "name", "label", "driver", "dangling")
	if err != nil {
		return err
	}
	out := volume.ListResponse{Volumes: []*volume.Volume{}, Warnings: []string{}}
	for _, v := range rt.b.List() {
		dangling := len(v.UsedBy) == 0
		if f.Contains("name") && !httputil.AnyMatch(f.Get("name"), func(s string) bool { return strings.Contains(v.Name, s) }) ||
			f.Contains("label") && !httputil.MatchLabels(f.Get("label"), v.Labels) ||
			f.Contains("driver") && !f.ExactMatch("driver", v.Driver) ||
			httputil.BoolFilterExcludes(f, "dangling", dangling) {
			continue
		}
		out.Volumes = append(out.Volumes, rt.apiVolume(v))
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *Router) inspect(w http.ResponseWriter, r *http.Request) error {
	v, err := rt.b.Get(r.PathValue("name"))
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusOK, rt.apiVolume(v))
	return nil
}

func (rt *Router) create(w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateOptions
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.ClusterVolumeSpec != nil {
		return errdefs.ErrNotImplemented.WithMessage("berth: cluster volumes are not supported")
	}
	v, err := rt.b.Create(volsvc.CreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusCreated, rt.apiVolume(v))
	return nil
}

func (rt *Router) remove(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Remove(r.PathValue("name"), httputil.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "label", "label!", "all")
	if err != nil {
		return err
	}
	all, _ := httputil.BoolFilter(f, "all")
	sel, err := httputil.PruneSelector(f)
	if err != nil {
		return err
	}
	gone, freed, err := rt.b.Prune(all, func(v volsvc.Volume) bool { return !sel(v.CreatedAt, v.Labels) })
	if err != nil {
		return err
	}
	if gone == nil {
		gone = []string{}
	}
	httputil.WriteJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: gone, SpaceReclaimed: freed})
	return nil
}
