package httputil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
)

// WriteJSON writes v with the given status as application/json.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteJSONBody writes v as one JSON line to an already started response.
func WriteJSONBody(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// HandlerFunc is a handler that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts a HandlerFunc to http.Handler, writing any error.
func Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, err)
		}
	}
}

type versionKey struct{}

// WithVersion stores the request's API version.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// Version returns the request's API version.
func Version(r *http.Request) string {
	v, _ := r.Context().Value(versionKey{}).(string)
	return v
}

// VersionLess compares "1.NN" versions.
func VersionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	if len(pa) < 2 || len(pb) < 2 {
		return a < b
	}
	ma, _ := strconv.Atoi(pa[0])
	mb, _ := strconv.Atoi(pb[0])
	if ma != mb {
		return ma < mb
	}
	na, _ := strconv.Atoi(pa[1])
	nb, _ := strconv.Atoi(pb[1])
	return na < nb
}

// BoolValue reads a query flag as Docker does ("", "0", "no", "false", "none" are false).
func BoolValue(r *http.Request, k string) bool {
	s := strings.ToLower(strings.TrimSpace(r.FormValue(k)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// IntValue reads an integer query value, def when absent.
func IntValue(r *http.Request, k string, def int) (int, error) {
	s := r.FormValue(k)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for %s: %q", k, s))
	}
	return v, nil
}

// DecodeJSON decodes a request body; an empty body leaves v untouched.
func DecodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	err := json.NewDecoder(r.Body).Decode(v)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage("invalid JSON: " + err.Error())
	}
	return nil
}

// FlushWriter flushes after every write (for streamed responses).
type FlushWriter struct {
	mu sync.Mutex
	W  io.Writer
	F  http.Flusher
}

// NewFlushWriter wraps w.
func NewFlushWriter(w http.ResponseWriter) *FlushWriter {
	f, _ := w.(http.Flusher)
	return &FlushWriter{W: w, F: f}
}

func (f *FlushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.W.Write(p)
	if f.F != nil {
		f.F.Flush()
	}
	return n, err
}

// Hijack takes over the connection for attach/exec. With an Upgrade
// header it answers 101 UPGRADED, otherwise 200 OK, with the stream
// content type. The returned reader holds bytes the client already sent.
func Hijack(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, *bufio.Reader, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if tty || VersionLess(Version(r), "1.42") {
		ct = "application/vnd.docker.raw-stream"
	}
	if r.Header.Get("Upgrade") != "" {
		fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	} else {
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ct)
	}
	return conn, brw.Reader, nil
}

// JSONMessage is one line of Docker's JSON progress stream.
type JSONMessage struct {
	Stream      string         `json:"stream,omitempty"`
	Status      string         `json:"status,omitempty"`
	ID          string         `json:"id,omitempty"`
	Aux         any            `json:"aux,omitempty"`
	Error       string         `json:"error,omitempty"`
	ErrorDetail *JSONError     `json:"errorDetail,omitempty"`
	Progress    map[string]any `json:"progressDetail,omitempty"`
}

// JSONError is the errorDetail of a JSONMessage.
type JSONError struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

// ParseTime reads a timestamp as Docker's API takes them: seconds with an
// optional fraction ("1700000000.5") or RFC 3339. Empty is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, errdefs.ErrInvalidArgument.WithMessage("invalid timestamp: " + s)
	}
	var nanos int64
	if frac != "" {
		nanos, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	}
	return time.Unix(n, nanos), nil
}

// Filters reads the "filters" query parameter (both of Docker's JSON
// forms) and refuses a key that is not one of allowed, as Docker does
// ("invalid filter 'x'"): a filter that would be ignored is an error.
func Filters(r *http.Request, allowed ...string) (filters.Args, error) {
	f, err := filters.FromJSON(r.FormValue("filters"))
	if err != nil {
		return f, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	ok := map[string]bool{}
	for _, k := range allowed {
		ok[k] = true
	}
	if err := f.Validate(ok); err != nil {
		return f, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return f, nil
}

// PruneSelector reads the filters every prune endpoint takes, as Docker
// does: "until" (a timestamp or a Go duration before now) and "label" /
// "label!" ("key" or "key=value"). The selector reports whether an object
// made at created with labels is to be pruned.
func PruneSelector(f filters.Args) (func(created time.Time, labels map[string]string) bool, error) {
	until, err := Until(f)
	if err != nil {
		return nil, err
	}
	has := func(labels map[string]string, l string) bool {
		k, v, withValue := strings.Cut(l, "=")
		got, ok := labels[k]
		return ok && (!withValue || got == v)
	}
	return func(created time.Time, labels map[string]string) bool {
		if !until.IsZero() && !created.Before(until) {
			return false
		}
		for _, l := range f.Get("label") {
			if !has(labels, l) {
				return false
			}
		}
		for _, l := range f.Get("label!") {
			if has(labels, l) {
				return false
			}
		}
		return true
	}, nil
}

// BeforeSince reads the "before" and "since" filters of the list
// endpoints: each names an object (resolved to when it was made by
// createdOf), and the list keeps what was made before (after) it.
func BeforeSince(f filters.Args, createdOf func(ref string) (time.Time, error)) (before, since time.Time, err error) {
	for key, t := range map[string]*time.Time{"before": &before, "since": &since} {
		for _, ref := range f.Get(key) {
			if *t, err = createdOf(ref); err != nil {
				return before, since, err
			}
		}
	}
	return before, since, nil
}

// Until reads the "until" filter: a timestamp, or a Go duration before
// now (zero time: none given).
func Until(f filters.Args) (time.Time, error) {
	vs := f.Get("until")
	switch {
	case len(vs) == 0:
		return time.Time{}, nil
	case len(vs) > 1:
		return time.Time{}, errdefs.ErrInvalidArgument.WithMessage("more than one until filter specified")
	}
	if d, err := time.ParseDuration(vs[0]); err == nil {
		return time.Now().Add(-d), nil
	}
	return ParseTime(vs[0])
}

// MatchLabels reports whether labels has every "key" or "key=value" of
// want (a label filter's values).
func MatchLabels(want []string, labels map[string]string) bool {
	for _, l := range want {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}

// BoolFilter reads a true/false filter ("dangling", "all"): set reports
// whether it was given at all (ExactMatch alone is true for an absent
// key).
func BoolFilter(f filters.Args, key string) (value, set bool) {
	if !f.Contains(key) {
		return false, false
	}
	return f.ExactMatch(key, "true") || f.ExactMatch(key, "1"), true
}

// BoolFilterExcludes reports whether the true/false filter key was given
// and value is not what it asks for (an object a "dangling=true" list
// leaves out).
func BoolFilterExcludes(f filters.Args, key string, value bool) bool {
	want, set := BoolFilter(f, key)
	return set && want != value
}

// AnyMatch reports whether ok holds for one of vs (a filter's values).
func AnyMatch(vs []string, ok func(string) bool) bool {
	for _, v := range vs {
		if ok(v) {
			return true
		}
	}
	return false
}
