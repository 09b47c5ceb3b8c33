package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// DefaultRoot is where `berth registry` keeps its store unless told otherwise.
const DefaultRoot = "/var/lib/berth-registry"

const usage = `Usage:  berth registry serve [--root DIR] [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE] [--htpasswd FILE] [--read-only]
        berth registry gc [--root DIR] [--grace DURATION] [--dry-run]
`

// Main runs `berth registry serve|gc` with args and returns the exit code.
func Main(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, usage)
		return map[bool]int{true: 0, false: 125}[len(args) > 0]
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:])
	case "gc":
		err = gc(args[1:])
	default:
		err = fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth registry:", err)
		return 125
	}
	return 0
}

func serve(args []string) error {
	fs := pflag.NewFlagSet("registry serve", pflag.ContinueOnError)
	root := fs.String("root", DefaultRoot, "directory the registry stores its content in")
	addr := fs.String("addr", "127.0.0.1:5000", "address to listen on")
	cert := fs.String("tls-cert", "", "TLS certificate file (serve HTTPS)")
	key := fs.String("tls-key", "", "TLS key file")
	htpasswd := fs.String("htpasswd", "", "htpasswd file of bcrypt entries: require basic auth")
	readOnly := fs.Bool("read-only", false, "refuse every change (push, delete)")
	logLevel := fs.String("log-level", "info", `log level ("debug"|"info"|"warn"|"error")`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*cert == "") != (*key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("invalid log level %q", *logLevel)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	store, err := OpenStore(*root)
	if err != nil {
		return err
	}
	lock, err := store.OpenLock()
	if err != nil {
		return err
	}
	srv := &Server{Store: store, ReadOnly: *readOnly, Lock: lock}
	if *htpasswd != "" {
		if srv.Users, err = LoadHtpasswd(*htpasswd); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: logRequests(srv), ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	scheme := "http"
	if *cert != "" {
		scheme = "https"
	}
	slog.Info("registry listening", "addr", scheme+"://"+ln.Addr().String(), "root", *root, "read-only", *readOnly, "auth", *htpasswd != "")
	if *cert != "" {
		err = hs.ServeTLS(ln, *cert, *key)
	} else {
		err = hs.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// logRequests logs each request at debug level.
func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		slog.Debug("request", "method", r.Method, "path", r.URL.RequestURI(), "status", sw.status)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func gc(args []string) error {
	fs := pflag.NewFlagSet("registry gc", pflag.ContinueOnError)
	root := fs.String("root", DefaultRoot, "directory the registry stores its content in")
	grace := fs.Duration("grace", time.Hour, "keep blobs pushed or looked up more recently than this (pushes in flight)")
	dryRun := fs.Bool("dry-run", false, "only say what would be removed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(*root); err != nil {
		return fmt.Errorf("no registry store at %s: %w", *root, err)
	}
	// Not OpenStore: its start-up cleaning is for the server, which may be running.
	store := &Store{root: *root}
	lock, err := store.OpenLock()
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := lock.Lock(); err != nil {
		return err
	}
	res, err := store.GC(*grace, *dryRun)
	if err != nil {
		return err
	}
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	fmt.Printf("%s %d blobs (%d bytes) and %d stale uploads\n", verb, res.Blobs, res.Bytes, res.Uploads)
	return nil
}
