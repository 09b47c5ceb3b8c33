package registry

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"
)

func newServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.OpenLock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	s := &Server{Store: st, Lock: lock}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// pushImage pushes one layer, a config and a manifest tagged tag; it
// returns the digests.
func pushImage(t *testing.T, base, repo, tag string) (layer, config, manifest digest.Digest) {
	t.Helper()
	lb, cb := []byte("layer of "+tag), []byte(`{"architecture":"amd64","os":"linux"}`)
	layer, config = digest.FromBytes(lb), digest.FromBytes(cb)
	for d, b := range map[digest.Digest][]byte{layer: lb, config: cb} {
		if r := do(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b); r.StatusCode != 201 {
			t.Fatalf("blob push: %s", r.Status)
		}
	}
	mb := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		config.String() + `","size":` + strconv.Itoa(len(cb)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layer.String() + `","size":` + strconv.Itoa(len(lb)) + `}]}`)
	r := do(t, "PUT", base+"/v2/"+repo+"/manifests/"+tag, mb, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if r.StatusCode != 201 {
		t.Fatalf("manifest push: %s", r.Status)
	}
	return layer, config, digest.FromBytes(mb)
}

func TestErrors(t *testing.T) {
	_, hs := newServer(t)
	pushImage(t, hs.URL, "team/app", "v1")
	good := digest.FromString("x")
	for _, tc := range []struct {
		name, method, path string
		body               string
		hdr                []string
		status             int
		code               string
	}{
		{"upper-case name", "GET", "/v2/Team/app/tags/list", "", nil, 400, "NAME_INVALID"},
		{"bad digest", "GET", "/v2/team/app/blobs/sha256:nothex", "", nil, 400, "DIGEST_INVALID"},
		{"unknown blob", "HEAD", "/v2/team/app/blobs/" + good.String(), "", nil, 404, ""},
		{"unknown manifest", "GET", "/v2/team/app/manifests/v2", "", nil, 404, "MANIFEST_UNKNOWN"},
		{"unknown repo tags", "GET", "/v2/nobody/tags/list", "", nil, 404, "NAME_UNKNOWN"},
		{"bad tag", "PUT", "/v2/team/app/manifests/-bad", "{}", nil, 400, "TAG_INVALID"},
		{"manifest not JSON", "PUT", "/v2/team/app/manifests/v2", "nope", []string{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}, 400, "MANIFEST_INVALID"},
		{"manifest with missing blob", "PUT", "/v2/team/app/manifests/v2",
			`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"` + good.String() + `","size":1},"layers":[]}`,
			[]string{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"monolithic digest mismatch", "POST", "/v2/team/app/blobs/uploads/?digest=" + good.String(), "not x", nil, 400, "DIGEST_INVALID"},
		{"unknown upload", "PATCH", "/v2/team/app/blobs/uploads/00000000000000000000000000000000", "x", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload id not ours", "PATCH", "/v2/team/app/blobs/uploads/..%2f..%2flock", "x", nil, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, hs.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, buf.String())
			}
			if tc.code != "" && !strings.Contains(buf.String(), `"code":"`+tc.code+`"`) {
				t.Fatalf("body %s lacks code %s", buf.String(), tc.code)
			}
		})
	}
}

func TestChunkOutOfOrderKeepsTheUpload(t *testing.T) {
	_, hs := newServer(t)
	r := do(t, "POST", hs.URL+"/v2/a/blobs/uploads/", nil)
	loc := hs.URL + r.Header.Get("Location")
	if r := do(t, "PATCH", loc, []byte("hello "), "Content-Range", "0-5"); r.StatusCode != 202 || r.Header.Get("Range") != "0-5" {
		t.Fatalf("first chunk: %s range %q", r.Status, r.Header.Get("Range"))
	}
	req, err := http.NewRequest("PATCH", loc, strings.NewReader("world"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Range", "10-14")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The error body too: it was cut (the success headers' Content-Length: 0
	// stayed), and the server then dropped the connection the client reused.
	if resp.StatusCode != 416 || !strings.Contains(string(body), "BLOB_UPLOAD_INVALID") {
		t.Fatalf("out-of-order chunk: %s %q, want 416 with an error", resp.Status, body)
	}
	d := digest.FromString("hello world")
	if r := do(t, "PUT", loc+"?digest="+d.String(), []byte("world"), "Content-Range", "6-10"); r.StatusCode != 201 {
		t.Fatalf("last chunk: %s", r.Status)
	}
	if r := do(t, "GET", hs.URL+"/v2/a/blobs/"+d.String(), nil, "Range", "bytes=6-"); r.StatusCode != 206 {
		t.Fatalf("range read: %s", r.Status)
	}
}

// An upload that outlives the server's memory of it (a restart) is
// verified by reading it back.
func TestUploadSurvivesRestart(t *testing.T) {
	s, hs := newServer(t)
	r := do(t, "POST", hs.URL+"/v2/a/blobs/uploads/", nil)
	loc := hs.URL + r.Header.Get("Location")
	do(t, "PATCH", loc, []byte("part one, "))
	s.Store.sessions = map[string]*session{} // what a restart forgets
	do(t, "PATCH", loc, []byte("part two"))
	d := digest.FromString("part one, part two")
	if r := do(t, "PUT", loc+"?digest="+d.String(), nil); r.StatusCode != 201 {
		t.Fatalf("commit after restart: %s", r.Status)
	}
}

func TestAuthAndReadOnly(t *testing.T) {
	s, hs := newServer(t)
	hash, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	f := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(f, []byte("# users\nbob:"+string(hash)+"\n"), 0o600)
	users, err := LoadHtpasswd(f)
	if err != nil {
		t.Fatal(err)
	}
	s.Users = users
	if r := do(t, "GET", hs.URL+"/v2/", nil); r.StatusCode != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no credentials: %s %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	for _, tc := range []struct {
		user, password string
		status         int
	}{{"bob", "wrong", 401}, {"bob", "secret", 200}, {"eve", "secret", 401}} {
		req, err := http.NewRequest("GET", hs.URL+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(tc.user, tc.password)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.user, tc.password, err)
		}
		r.Body.Close()
		if r.StatusCode != tc.status {
			t.Fatalf("%s/%s: %s, want %d", tc.user, tc.password, r.Status, tc.status)
		}
	}
	// An unknown name is checked against a hash as costly as the users'
	// own, so it is not answered faster than a wrong password.
	costly, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost+2)
	s2 := &Server{Users: map[string][]byte{"bob": hash, "ann": costly}}
	if c, err := bcrypt.Cost(s2.dummyHash()); err != nil || c != bcrypt.MinCost+2 {
		t.Fatalf("dummy hash cost %d (%v), want %d", c, err, bcrypt.MinCost+2)
	}
	s.Users = nil
	s.ReadOnly = true
	if r := do(t, "POST", hs.URL+"/v2/a/blobs/uploads/", nil); r.StatusCode != 405 {
		t.Fatalf("push to read-only: %s", r.Status)
	}
	os.WriteFile(f, []byte("bob:{SHA}x\n"), 0o600)
	if _, err := LoadHtpasswd(f); err == nil || !strings.Contains(err.Error(), "bcrypt") {
		t.Fatalf("a non-bcrypt htpasswd loaded: %v", err)
	}
}

func TestGCKeepsWhatManifestsNeed(t *testing.T) {
	s, hs := newServer(t)
	layer, config, man := pushImage(t, hs.URL, "a", "keep")
	orphan := []byte("pushed, never referenced")
	od := digest.FromBytes(orphan)
	do(t, "POST", hs.URL+"/v2/a/blobs/uploads/?digest="+od.String(), orphan)
	// Young blobs survive: a push in flight has not sent its manifest yet.
	if res, err := s.Store.GC(time.Hour, false); err != nil || res.Blobs != 0 {
		t.Fatalf("gc with grace removed %d blobs (%v)", res.Blobs, err)
	}
	res, err := s.Store.GC(0, false)
	if err != nil || res.Blobs != 1 {
		t.Fatalf("gc removed %d blobs, want the 1 orphan (%v)", res.Blobs, err)
	}
	for _, d := range []digest.Digest{layer, config, man} {
		if _, ok := s.Store.statBlob(d); !ok {
			t.Fatalf("gc removed %s, which the manifest needs", d)
		}
	}
	if _, ok := s.Store.statBlob(od); ok {
		t.Fatal("the orphan blob is still there")
	}
	if r := do(t, "HEAD", hs.URL+"/v2/a/blobs/"+od.String(), nil); r.StatusCode != 404 {
		t.Fatalf("orphan after gc: %s", r.Status)
	}
}
