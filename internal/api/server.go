package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/internal/api/httputil"
)

// API versions: what we advertise, the oldest we accept, and the newest
// a client may ask for (treated as the advertised one).
const (
	APIVersion    = "1.47"
	MinAPIVersion = "1.24"
	MaxAPIVersion = "1.51"
)

// Router is a set of routes for one resource.
type Router interface {
	Register(mux *http.ServeMux)
}

// Server is the Engine API server.
type Server struct {
	srv           *http.Server
	engineVersion string
}

// New builds a server over the routers.
func New(engineVersion string, routers ...Router) *Server {
	mux := http.NewServeMux()
	for _, r := range routers {
		r.Register(mux)
	}
	// What no router serves (an unknown path, or a known one with another
	// method) gets Docker's 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httputil.WriteError(w, errdefs.ErrNotFound.WithMessage("page not found"))
	})
	s := &Server{engineVersion: engineVersion}
	// No idle or write timeouts: streams and hijacked connections are long
	// (and Java clients keep pooled connections open).
	s.srv = &http.Server{Handler: s.middleware(mux)}
	return s
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "Docker/"+s.engineVersion+" (linux)")
		h.Set("Api-Version", APIVersion)
		h.Set("Ostype", "linux")
		h.Set("Docker-Experimental", "false")
		version := APIVersion
		if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
			version = m[1]
			r.URL.Path = m[2]
			r.URL.RawPath = ""
			if httputil.VersionLess(version, MinAPIVersion) {
				httputil.WriteError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion)))
				return
			}
			if httputil.VersionLess(MaxAPIVersion, version) {
				httputil.WriteError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", version, APIVersion)))
				return
			}
			if httputil.VersionLess(APIVersion, version) {
				version = APIVersion
			}
		}
		r = r.WithContext(httputil.WithVersion(r.Context(), version))
		if strings.HasSuffix(r.URL.Path, "/") && len(r.URL.Path) > 1 {
			r.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
		}
		slog.Debug("api", "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

// ListenUnix creates the socket at path, readable and writable by root
// and the socket's group only (0660).
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another daemon is already listening on %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and closes idle connections; hijacked streams
// are cut when the process exits.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}
