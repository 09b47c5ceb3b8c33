package images

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/registry"

	"github.com/berthproject/berth/internal/api/httputil"
	"github.com/berthproject/berth/internal/image"
)

// decodeAuth reads an X-Registry-Auth header: base64url JSON of an
// AuthConfig, padded or not (clients differ). Empty is anonymous.
func decodeAuth(h string) (image.Auth, error) {
	if h == "" {
		return image.Auth{}, nil
	}
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err = enc.DecodeString(strings.TrimSpace(h)); err == nil {
			break
		}
	}
	if err != nil {
		return image.Auth{}, errdefs.ErrInvalidArgument.WithMessage("invalid X-Registry-Auth header: " + err.Error())
	}
	var ac registry.AuthConfig
	if len(b) > 0 {
		if err := json.Unmarshal(b, &ac); err != nil {
			return image.Auth{}, errdefs.ErrInvalidArgument.WithMessage("invalid X-Registry-Auth header: " + err.Error())
		}
	}
	return authOf(ac), nil
}

func authOf(ac registry.AuthConfig) image.Auth {
	a := image.Auth{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
	if a.Username == "" && ac.Auth != "" {
		if b, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
			a.Username, a.Password, _ = strings.Cut(string(b), ":")
		}
	}
	return a
}

// progressStream writes image progress as Docker's JSON message stream.
// The 200 goes out with the first message, so an error before it is a
// real HTTP error (a 401 makes the docker CLI ask for credentials).
type progressStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{w: w, enc: json.NewEncoder(httputil.NewFlushWriter(w))}
}

func (p *progressStream) send(m httputil.JSONMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
		p.started = true
	}
	_ = p.enc.Encode(m)
}

func (p *progressStream) progress(pr image.Progress) {
	m := httputil.JSONMessage{Status: pr.Status, ID: pr.ID, Aux: pr.Aux}
	if pr.Total > 0 || pr.Current > 0 {
		m.Progress = map[string]any{"current": pr.Current, "total": pr.Total}
	}
	p.send(m)
}

// finish ends the stream: an error before anything was sent is returned
// for the usual HTTP error; after, it goes in the stream as moby does.
func (p *progressStream) finish(err error) error {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if err == nil || !started {
		return err
	}
	p.send(httputil.JSONMessage{Error: err.Error(), ErrorDetail: &httputil.JSONError{Message: err.Error()}})
	return nil
}

func (rt *Router) pull(w http.ResponseWriter, r *http.Request, ref string) error {
	auth, err := decodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	ps := newProgressStream(w)
	_, err = rt.b.Pull(r.Context(), ref, r.FormValue("platform"), auth, ps.progress)
	return ps.finish(err)
}

func (rt *Router) push(w http.ResponseWriter, r *http.Request, name string) error {
	auth, err := decodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	ps := newProgressStream(w)
	return ps.finish(rt.b.Push(r.Context(), name, r.FormValue("tag"), auth, ps.progress))
}

func (rt *Router) login(w http.ResponseWriter, r *http.Request) error {
	var ac registry.AuthConfig
	if err := json.NewDecoder(r.Body).Decode(&ac); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage("invalid login request: " + err.Error())
	}
	if err := rt.b.Login(r.Context(), ac.ServerAddress, authOf(ac)); err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusOK, registry.AuthenticateOKBody{Status: "Login Succeeded"})
	return nil
}
