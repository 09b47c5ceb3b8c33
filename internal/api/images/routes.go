package images

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	imagetypes "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/storage"

	"github.com/berthproject/berth/internal/api/httputil"
	"github.com/berthproject/berth/internal/image"
)

// Router serves the image routes.
type Router struct{ b Backend }

// New returns the router.
func New(b Backend) *Router { return &Router{b: b} }

// Register adds the routes to mux.
func (rt *Router) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /images/json", httputil.Handle(rt.list))
	mux.HandleFunc("POST /images/create", httputil.Handle(rt.create))
	mux.HandleFunc("POST /images/load", httputil.Handle(rt.load))
	mux.HandleFunc("GET /images/get", httputil.Handle(rt.save))
	mux.HandleFunc("POST /images/prune", httputil.Handle(rt.prune))
	mux.HandleFunc("POST /auth", httputil.Handle(rt.login))
	mux.HandleFunc("/images/{rest...}", httputil.Handle(rt.dispatch))
}

// dispatch routes /images/<name>/<verb> where name may hold slashes.
func (rt *Router) dispatch(w http.ResponseWriter, r *http.Request) error {
	rest := r.PathValue("rest")
	if r.Method == http.MethodDelete {
		return rt.remove(w, r, rest)
	}
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return errdefs.ErrNotFound.WithMessage("page not found")
	}
	name, verb := rest[:i], rest[i+1:]
	switch {
	case r.Method == http.MethodGet && verb == "json":
		return rt.inspect(w, name)
	case r.Method == http.MethodGet && verb == "history":
		return rt.history(w, name)
	case r.Method == http.MethodGet && verb == "get":
		r.Form = map[string][]string{"names": {name}}
		return rt.save(w, r)
	case r.Method == http.MethodPost && verb == "tag":
		return rt.tag(w, r, name)
	case r.Method == http.MethodPost && verb == "push":
		return rt.push(w, r, name)
	}
	return errdefs.ErrNotFound.WithMessage("page not found")
}

func familiar(tags []string) []string {
	out := []string{}
	for _, t := range tags {
		out = append(out, image.FamiliarRef(t))
	}
	return out
}

func (rt *Router) list(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "dangling", "label", "reference", "before", "since", "until")
	if err != nil {
		return err
	}
	before, since, err := httputil.BeforeSince(f, func(ref string) (time.Time, error) {
		img, err := rt.b.Get(ref)
		if err != nil {
			return time.Time{}, err
		}
		return img.Created(), nil
	})
	if err != nil {
		return err
	}
	until, err := httputil.Until(f)
	if err != nil {
		return err
	}
	imgs, err := rt.b.List()
	if err != nil {
		return err
	}
	// all: every image berth stores is a top-level one (no intermediate
	// images until builds land), so with or without it the list is the same.
	for _, q := range []string{"shared-size", "manifests"} {
		if httputil.BoolValue(r, q) {
			return errdefs.ErrInvalidArgument.WithMessage("berth: images " + q + "=1 is not supported yet")
		}
	}
	out := []imagetypes.Summary{}
	for _, img := range imgs {
		if httputil.BoolFilterExcludes(f, "dangling", len(img.Tags) == 0) {
			continue
		}
		if f.Contains("label") && !httputil.MatchLabels(f.Get("label"), img.Config.Config.Labels) {
			continue
		}
		c := img.Created()
		if !before.IsZero() && !c.Before(before) || !since.IsZero() && !c.After(since) || !until.IsZero() && !c.Before(until) {
			continue
		}
		tags := familiar(img.Tags)
		if f.Contains("reference") {
			tags = matchReference(f.Get("reference"), img.Tags)
			if len(tags) == 0 {
				continue
			}
		}
		labels := img.Config.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, imagetypes.Summary{ID: img.ID.String(), RepoTags: tags, RepoDigests: []string{},
			Created: img.Created().Unix(), Size: img.Size, SharedSize: -1, Containers: -1, Labels: labels})
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

// matchReference keeps the tags matching any pattern (reference.FamiliarMatch).
func matchReference(patterns, tags []string) []string {
	var out []string
	for _, t := range tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			continue
		}
		for _, p := range patterns {
			if ok, _ := reference.FamiliarMatch(p, named); ok {
				out = append(out, image.FamiliarRef(t))
				break
			}
		}
	}
	return out
}

func (rt *Router) inspect(w http.ResponseWriter, name string) error {
	img, err := rt.b.Get(name)
	if err != nil {
		return err
	}
	cfg := img.Config.Config
	resp := imagetypes.InspectResponse{
		ID: img.ID.String(), RepoTags: familiar(img.Tags), RepoDigests: []string{},
		Created: img.Created().Format(time.RFC3339Nano), Config: &cfg, Author: img.Config.Author,
		Architecture: img.Config.Architecture, Os: img.Config.OS, Variant: img.Config.Variant, Size: img.Size,
		GraphDriver: storage.DriverData{Name: "overlayfs", Data: map[string]string{}},
		RootFS:      imagetypes.RootFS{Type: "layers"},
	}
	for _, d := range img.Config.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	if len(img.Config.History) > 0 {
		resp.Comment = img.Config.History[len(img.Config.History)-1].Comment
	}
	httputil.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (rt *Router) history(w http.ResponseWriter, name string) error {
	img, err := rt.b.Get(name)
	if err != nil {
		return err
	}
	out := []imagetypes.HistoryResponseItem{}
	for i := len(img.Config.History) - 1; i >= 0; i-- {
		h := img.Config.History[i]
		item := imagetypes.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if i == len(img.Config.History)-1 {
			item.ID, item.Tags, item.Size = img.ID.String(), familiar(img.Tags), img.Size
		}
		out = append(out, item)
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *Router) tag(w http.ResponseWriter, r *http.Request, name string) error {
	repo, tag := r.FormValue("repo"), r.FormValue("tag")
	if repo == "" {
		return errdefs.ErrInvalidArgument.WithMessage("repository name must have at least one component")
	}
	ref := repo
	if tag != "" {
		ref += ":" + tag
	}
	if err := rt.b.Tag(name, ref); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (rt *Router) remove(w http.ResponseWriter, r *http.Request, name string) error {
	items, err := rt.b.Remove(name, httputil.BoolValue(r, "force"), httputil.BoolValue(r, "noprune"))
	if err != nil {
		return err
	}
	out := []imagetypes.DeleteResponse{}
	for _, it := range items {
		out = append(out, imagetypes.DeleteResponse{Untagged: it.Untagged, Deleted: it.Deleted})
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *Router) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "dangling", "until", "label", "label!")
	if err != nil {
		return err
	}
	dangling, set := httputil.BoolFilter(f, "dangling")
	all := set && !dangling
	sel, err := httputil.PruneSelector(f)
	if err != nil {
		return err
	}
	items, reclaimed, err := rt.b.Prune(all, func(img *image.Image) bool { return sel(img.Created(), img.Config.Config.Labels) })
	if err != nil {
		return err
	}
	report := imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}, SpaceReclaimed: uint64(reclaimed)}
	for _, it := range items {
		report.ImagesDeleted = append(report.ImagesDeleted, imagetypes.DeleteResponse{Untagged: it.Untagged, Deleted: it.Deleted})
	}
	httputil.WriteJSON(w, http.StatusOK, report)
	return nil
}

// create imports (fromSrc) or pulls (fromImage), as a JSON message stream.
func (rt *Router) create(w http.ResponseWriter, r *http.Request) error {
	if src := r.FormValue("fromSrc"); src != "" {
		if src != "-" {
			return errdefs.ErrNotImplemented.WithMessage("importing from a URL is not supported; pipe the file in with '-'")
		}
		ref := r.FormValue("repo")
		if tag := r.FormValue("tag"); ref != "" && tag != "" {
			ref += ":" + tag
		}
		id, err := rt.b.Import(r.Body, ref, r.FormValue("message"), r.Form["changes"])
		if err != nil {
			return err
		}
		httputil.WriteJSON(w, http.StatusOK, httputil.JSONMessage{Status: id.String()})
		return nil
	}
	from := r.FormValue("fromImage")
	if from == "" {
		return errdefs.ErrInvalidArgument.WithMessage("fromImage or fromSrc is required")
	}
	if tag := r.FormValue("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			from += "@" + tag
		} else {
			from += ":" + tag
		}
	}
	return rt.pull(w, r, from)
}

func (rt *Router) load(w http.ResponseWriter, r *http.Request) error {
	lines, err := rt.b.Load(r.Body)
	// As Docker: the answer is a JSON stream whatever happens, and an error
	// is its last message (docker-py raises ImageLoadError from it).
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		enc.Encode(httputil.JSONMessage{Stream: l + "\n"})
	}
	if err != nil {
		enc.Encode(httputil.JSONMessage{Error: err.Error(), ErrorDetail: &httputil.JSONError{Message: err.Error()}})
	}
	return nil
}

func (rt *Router) save(w http.ResponseWriter, r *http.Request) error {
	if r.Form == nil {
		_ = r.ParseForm()
	}
	names := r.Form["names"]
	if len(names) == 0 {
		return errdefs.ErrInvalidArgument.WithMessage("no image names given")
	}
	for _, n := range names { // fail before the first byte if any is missing
		if _, err := rt.b.Get(n); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_ = rt.b.Save(names, w)
	return nil
}
