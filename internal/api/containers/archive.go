package containers

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/berthproject/berth/internal/api/httputil"
	ctr "github.com/berthproject/berth/internal/container"
)

// The archive routes (cp): the path's stat travels base64-encoded JSON in
// X-Docker-Container-Path-Stat, as Docker sends it.

func setPathStat(w http.ResponseWriter, st container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage("path is required")
	}
	return p, nil
}

func (rt *Router) archiveStat(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := rt.b.StatPath(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) archiveGet(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	rc, st, err := rt.b.ArchivePath(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc) // a failure midway can only cut the stream
	return nil
}

func (rt *Router) archivePut(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	o := ctr.ExtractOptions{NoOverwriteDirNonDir: httputil.BoolValue(r, "noOverwriteDirNonDir"), CopyUIDGID: httputil.BoolValue(r, "copyUIDGID")}
	if err := rt.b.ExtractTo(r.PathValue("id"), p, r.Body, o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) changes(w http.ResponseWriter, r *http.Request) error {
	ch, err := rt.b.Changes(r.PathValue("id"))
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusOK, ch)
	return nil
}

func (rt *Router) export(w http.ResponseWriter, r *http.Request) error {
	rc, err := rt.b.Export(r.PathValue("id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc) // a failure midway can only cut the stream
	return nil
}
