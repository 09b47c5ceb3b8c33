package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Server answers the distribution API over a Store.
type Server struct {
	Store    *Store
	ReadOnly bool
	// Users maps user names to bcrypt hashes; empty means no auth.
	Users map[string][]byte
	// Lock is held shared while a request changes what the store holds,
	// and exclusively by the garbage collector. May be nil.
	Lock interface {
		RLock() error
		RUnlock() error
	}

	dummyOnce sync.Once
	dummy     []byte // see dummyHash
}

// maxManifest is the largest manifest accepted (the spec asks for at least 4 MiB).
const maxManifest = 8 << 20

// The expressions are compiled on first use, not at start-up: this
// package is in the berth binary, and every CLI command would pay for
// them.
var (
	nameRE = lazyRegexp(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = lazyRegexp(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	// routeRE splits /v2/<name>/<rest>; the name is checked on its own.
	routeRE = lazyRegexp(`^/v2/(.+?)/(blobs/uploads/?([^/]*)|blobs/([^/]+)|manifests/([^/]+)|tags/list|referrers/([^/]+))$`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// apiError is one entry of the distribution spec's error body.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		slog.Error("registry", "err", err)
		ae = errorf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	// Headers set for a success (uploadHeaders' "Content-Length: 0") must
	// not describe the error body: the server would cut the connection
	// after it, while the client, told the body was empty, reuses it.
	w.Header().Del("Content-Length")
	w.WriteHeader(ae.status)
	_ = json.NewEncoder(w).Encode(map[string][]*apiError{"errors": {ae}})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if len(s.Users) > 0 && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth registry"`)
		writeError(w, errorf(http.StatusUnauthorized, "UNAUTHORIZED", "authentication required"))
		return
	}
	if s.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, errorf(http.StatusMethodNotAllowed, "UNSUPPORTED", "the registry is read-only"))
		return
	}
	if err := s.route(w, r); err != nil {
		writeError(w, err)
	}
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Path
	switch p {
	case "/v2", "/v2/":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return nil
	case "/v2/_catalog":
		return s.catalog(w, r)
	}
	m := routeRE().FindStringSubmatch(p)
	if m == nil {
		return errorf(http.StatusNotFound, "NOT_FOUND", "no route for %s", p)
	}
	name := m[1]
	if !nameRE().MatchString(name) || len(name) > 255 {
		return errorf(http.StatusBadRequest, "NAME_INVALID", "invalid repository name %q", name)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && s.Lock != nil {
		if err := s.Lock.RLock(); err != nil {
			return err
		}
		defer s.Lock.RUnlock()
	}
	switch {
	case strings.HasPrefix(m[2], "blobs/uploads"):
		return s.uploads(w, r, name, m[3])
	case m[4] != "":
		return s.blob(w, r, name, m[4])
	case m[5] != "":
		return s.manifest(w, r, name, m[5])
	case m[2] == "tags/list":
		return s.tags(w, r, name)
	default:
		return s.referrers(w, r, name, m[6])
	}
}

func methodNotAllowed(r *http.Request) error {
	return errorf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s is not allowed here", r.Method)
}

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil || !d.Algorithm().Available() {
		return "", errorf(http.StatusBadRequest, "DIGEST_INVALID", "invalid digest %q", s)
	}
	return d, nil
}

func (s *Server) blob(w http.ResponseWriter, r *http.Request, name, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		f, err := s.Store.OpenBlob(name, d)
		if errors.Is(err, fs.ErrNotExist) {
			return errorf(http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry: %s", d)
		} else if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Etag", `"`+d.String()+`"`)
		w.Header().Set("Cache-Control", "max-age=31536000")
		http.ServeContent(w, r, "", fi.ModTime(), f)
		return nil
	case http.MethodDelete:
		ok, err := s.Store.DeleteBlob(name, d)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry: %s", d)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return methodNotAllowed(r)
}

func (s *Server) uploads(w http.ResponseWriter, r *http.Request, name, id string) error {
	if id == "" {
		if r.Method != http.MethodPost {
			return methodNotAllowed(r)
		}
		return s.startUpload(w, r, name)
	}
	size, err := s.Store.UploadSize(id)
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %q unknown", id)
	} else if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		uploadHeaders(w, name, id, size)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := s.Store.Cancel(id); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch, http.MethodPut:
		start, err := contentRangeStart(r)
		if err != nil {
			return err
		}
		if r.Method == http.MethodPatch || r.ContentLength != 0 {
			n, err := s.Store.Append(id, start, r.Body)
			if errors.Is(err, ErrRange) {
				uploadHeaders(w, name, id, n)
				return errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "chunk starts at %d, the upload holds %d bytes", start, n)
			} else if err != nil {
				return err
			}
			size = n
		}
		if r.Method == http.MethodPatch {
			uploadHeaders(w, name, id, size)
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
		d, err := parseDigest(r.URL.Query().Get("digest"))
		if err != nil {
			return err
		}
		if err := s.Store.Commit(name, id, d); errors.Is(err, ErrDigest) {
			return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
		} else if err != nil {
			return err
		}
		blobCreated(w, name, d)
		return nil
	}
	return methodNotAllowed(r)
}

// contentRangeStart reads a chunk's Content-Range ("start-end"), -1 if absent.
func contentRangeStart(r *http.Request) (int64, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, nil
	}
	cr = strings.TrimPrefix(cr, "bytes ")
	a, b, ok := strings.Cut(cr, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(strings.Split(b, "/")[0], 10, 64)
	if !ok || err1 != nil || err2 != nil || end < start-1 {
		return 0, errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "invalid Content-Range %q", cr)
	}
	if r.ContentLength >= 0 && end-start+1 != r.ContentLength {
		return 0, errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "Content-Range %q does not match Content-Length %d", cr, r.ContentLength)
	}
	return start, nil
}

func uploadHeaders(w http.ResponseWriter, name, id string, size int64) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	w.Header().Set("Content-Length", "0")
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		d, err := parseDigest(mount)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" && !nameRE().MatchString(from) {
			return errorf(http.StatusBadRequest, "NAME_INVALID", "invalid repository name %q", from)
		}
		ok, err := s.Store.MountBlob(name, from, d)
		if err != nil {
			return err
		}
		if ok {
			blobCreated(w, name, d)
			return nil
		}
	} else if dg := q.Get("digest"); dg != "" {
		d, err := parseDigest(dg)
		if err != nil {
			return err
		}
		// Monolithic upload: the body is the blob.
		h := d.Algorithm().Hash()
		body, err := io.ReadAll(io.TeeReader(r.Body, h))
		if err != nil {
			return err
		}
		if got := digest.NewDigest(d.Algorithm(), h); got != d {
			return errorf(http.StatusBadRequest, "DIGEST_INVALID", "digest mismatch: expected %s, got %s", d, got)
		}
		if err := s.Store.PutBlob(name, d, body); err != nil {
			return err
		}
		blobCreated(w, name, d)
		return nil
	}
	id, err := s.Store.NewUpload()
	if err != nil {
		return err
	}
	uploadHeaders(w, name, id, 0)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) manifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	isDigest := strings.Contains(ref, ":")
	if isDigest {
		if _, err := parseDigest(ref); err != nil {
			return err
		}
	} else if !tagRE().MatchString(ref) {
		return errorf(http.StatusBadRequest, "TAG_INVALID", "invalid tag %q", ref)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		m, err := s.Store.GetManifest(name, ref)
		if errors.Is(err, fs.ErrNotExist) {
			return errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: %s", ref)
		} else if err != nil {
			return err
		}
		w.Header().Set("Content-Type", m.MediaType)
		w.Header().Set("Docker-Content-Digest", m.Digest.String())
		w.Header().Set("Etag", `"`+m.Digest.String()+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(m.Body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(m.Body)
		}
		return nil
	case http.MethodPut:
		return s.putManifest(w, r, name, ref, isDigest)
	case http.MethodDelete:
		ok, err := s.Store.DeleteManifest(name, ref)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: %s", ref)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return methodNotAllowed(r)
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, name, ref string, isDigest bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
	if err != nil {
		return err
	}
	if len(body) > maxManifest {
		return errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", maxManifest)
	}
	var d digest.Digest
	if isDigest {
		want, _ := parseDigest(ref)
		d = want.Algorithm().FromBytes(body)
		if d != want {
			return errorf(http.StatusBadRequest, "DIGEST_INVALID", "manifest digest is %s, not %s", d, want)
		}
	} else {
		d = digest.FromBytes(body)
	}
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "manifest is not JSON: %v", err)
	}
	mt := r.Header.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	if mt == "" {
		mt = doc.MediaType
	}
	if !manifestTypes[mt] {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "unsupported manifest media type %q", mt)
	}
	if doc.MediaType != "" && doc.MediaType != mt {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "manifest mediaType %q does not match Content-Type %q", doc.MediaType, mt)
	}
	if doc.SchemaVersion != 2 {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "schemaVersion must be 2")
	}
	if err := s.checkReferences(name, mt, &doc); err != nil {
		return err
	}
	tags := r.URL.Query()["tag"]
	if !isDigest {
		tags = append(tags, ref)
	}
	for _, t := range tags {
		if !tagRE().MatchString(t) {
			return errorf(http.StatusBadRequest, "TAG_INVALID", "invalid tag %q", t)
		}
	}
	var subject digest.Digest
	if doc.Subject != nil {
		subject = doc.Subject.Digest
		if subject.Validate() != nil {
			return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "invalid subject digest %q", subject)
		}
	}
	if err := s.Store.PutManifest(name, &Manifest{Digest: d, MediaType: mt, Body: body}, subject, tags); err != nil {
		return err
	}
	if subject != "" {
		w.Header().Set("OCI-Subject", subject.String())
	}
	for _, t := range r.URL.Query()["tag"] {
		w.Header().Add("OCI-Tag", t)
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// checkReferences refuses a manifest whose config or layers (or, for an
// index, whose manifests) the repository does not hold.
func (s *Server) checkReferences(name, mt string, doc *manifestDoc) error {
	if isIndex(mt) {
		for _, m := range doc.Manifests {
			if !s.Store.hasLink(name, "_manifests", m.Digest) {
				return errorf(http.StatusBadRequest, "MANIFEST_UNKNOWN", "manifest %s is not in %s", m.Digest, name)
			}
		}
		return nil
	}
	if doc.Config == nil {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "manifest has no config")
	}
	descs := append([]ocispec.Descriptor{*doc.Config}, doc.Layers...)
	for _, l := range descs {
		if foreign(l) {
			continue
		}
		if l.Digest.Validate() != nil {
			return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "invalid digest %q", l.Digest)
		}
		if !s.Store.hasLink(name, "_blobs", l.Digest) {
			return errorf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob %s is not in %s", l.Digest, name)
		}
	}
	return nil
}

// page applies the n/last pagination of tag and catalog lists, and sets
// the Link header for the next page.
func page(w http.ResponseWriter, r *http.Request, all []string) ([]string, error) {
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i := 0
		for i < len(all) && all[i] <= last {
			i++
		}
		all = all[i:]
	}
	if ns := q.Get("n"); ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			return nil, errorf(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid n %q", ns)
		}
		if n < len(all) {
			all = all[:n]
			if n > 0 {
				next := *r.URL
				nq := next.Query()
				nq.Set("last", all[n-1])
				next.RawQuery = nq.Encode()
				w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.RequestURI()))
			}
		}
	}
	return all, nil
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	return nil
}

func (s *Server) tags(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	if !s.Store.RepoExists(name) {
		return errorf(http.StatusNotFound, "NAME_UNKNOWN", "repository %s not known", name)
	}
	all, err := s.Store.Tags(name)
	if err != nil {
		return err
	}
	tags, err := page(w, r, all)
	if err != nil {
		return err
	}
	return writeJSON(w, "application/json", map[string]any{"name": name, "tags": tags})
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	all, err := s.Store.Repositories()
	if err != nil {
		return err
	}
	repos, err := page(w, r, all)
	if err != nil {
		return err
	}
	if repos == nil {
		repos = []string{}
	}
	return writeJSON(w, "application/json", map[string]any{"repositories": repos})
}

func (s *Server) referrers(w http.ResponseWriter, r *http.Request, name, ref string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	ms, err := s.Store.Referrers(name, d)
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("artifactType")
	descs := []ocispec.Descriptor{}
	for _, m := range ms {
		desc := descriptorFor(m)
		if filter != "" && desc.ArtifactType != filter {
			continue
		}
		descs = append(descs, desc)
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	return writeJSON(w, ocispec.MediaTypeImageIndex, idx)
}
