//go:build integration

package integration

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berthproject/berth/internal/testutil"
)

// TestPushPullLogin: login to berth's registry with basic auth, push,
// remove, pull back (same image ID) and run; a second repository mounts
// the layer instead of uploading it; logout forgets the credentials. The
// docker CLI does the same through berth.
func TestPushPullLogin(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("bob:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := testutil.StartRegistry(t, "--htpasswd", htpasswd)
	cfgDir := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + cfgDir}
	berth := func(stdin string, args ...string) testutil.Result {
		return testutil.Run(t, stdin, env, d.Bin, append([]string{"-H", d.Host()}, args...)...)
	}
	ref := reg.Addr + "/team/bb:v1"
	id := d.Must("image", "inspect", "-f", "{{.Id}}", "busybox")
	d.Must("tag", "busybox", ref)

	if res := berth("", "push", ref); res.Code == 0 || !strings.Contains(res.Stderr, "push access to "+reg.Addr+"/team/bb denied") || strings.Contains(res.Stdout, "Preparing") {
		t.Fatalf("push without login: %s", res)
	}
	if res := berth("wrong\n", "login", "-u", "bob", "--password-stdin", reg.Addr); res.Code == 0 {
		t.Fatalf("login with a wrong password succeeded: %s", res)
	}
	if res := berth("s3cret\n", "login", "-u", "bob", "--password-stdin", reg.Addr); res.Code != 0 || !strings.Contains(res.Stdout, "Login Succeeded") {
		t.Fatalf("login: %s", res)
	}
	if b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json")); !strings.Contains(string(b), `"`+reg.Addr+`"`) {
		t.Fatalf("config.json lacks the registry: %s", b)
	}
	res := berth("", "push", ref)
	if res.Code != 0 || !strings.Contains(res.Stdout, "Pushed") || !strings.Contains(res.Stdout, "v1: digest: sha256:") {
		t.Fatalf("push: %s", res)
	}
	d.Must("rmi", ref, "busybox")
	if res := berth("", "pull", ref); res.Code != 0 || !strings.Contains(res.Stdout, "Downloaded newer image") {
		t.Fatalf("pull: %s", res)
	}
	if got := d.Must("image", "inspect", "-f", "{{.Id}}", ref); got != id {
		t.Fatalf("pulled image ID %s, pushed %s", got, id)
	}
	if out := d.Must("run", "--rm", ref, "echo", "pulled"); out != "pulled" {
		t.Fatalf("run of the pulled image: %q", out)
	}
	if res := berth("", "pull", ref); !strings.Contains(res.Stdout, "Image is up to date") {
		t.Fatalf("second pull: %s", res)
	}
	other := reg.Addr + "/other/bb:v2"
	d.Must("tag", ref, other)
	if res := berth("", "push", other); res.Code != 0 || !strings.Contains(res.Stdout, "Mounted from team/bb") || strings.Contains(res.Stdout, "Pushed") {
		t.Fatalf("push to a second repository: %s", res)
	}

	// The docker CLI, through berth, with the same credentials file.
	docker := func(args ...string) testutil.Result {
		return testutil.Run(t, "", append(env, "DOCKER_HOST="+d.Host()), "docker", args...)
	}
	d.Must("rmi", ref, other)
	if res := docker("pull", other); res.Code != 0 || !strings.Contains(res.Stdout, "Downloaded newer image") {
		t.Fatalf("docker pull through berth: %s", res)
	}
	d.Must("tag", other, reg.Addr+"/docker/bb:v3")
	if res := docker("push", reg.Addr+"/docker/bb:v3"); res.Code != 0 || !strings.Contains(res.Stdout, "v3: digest:") {
		t.Fatalf("docker push through berth: %s", res)
	}

	if res := berth("", "logout", reg.Addr); res.Code != 0 || !strings.Contains(res.Stdout, "Removing login credentials") {
		t.Fatalf("logout: %s", res)
	}
	if res := berth("", "pull", reg.Addr+"/team/bb:v1"); res.Code == 0 {
		t.Fatalf("pull after logout succeeded: %s", res)
	}
}

// TestPullRejectsCorruptBlobs: a registry that serves a layer whose bytes
// do not match its digest makes the pull fail and leaves no image; a pull
// from an honest registry afterwards works.
func TestPullRejectsCorruptBlobs(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	reg := testutil.StartRegistry(t)
	ref := reg.Addr + "/corrupt/bb:v1"
	d.Must("tag", "busybox", ref)
	d.Must("push", ref)
	d.Must("rmi", ref, "busybox")

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := forward(w, r, reg.Addr)
		if resp == nil {
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(r.URL.Path, "/blobs/") && len(body) > 1000 {
			body[len(body)/2] ^= 0xff // one flipped byte in a layer
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	defer bad.Close()
	badRef := strings.TrimPrefix(bad.URL, "http://") + "/corrupt/bb:v1"
	res := d.Berth("pull", badRef)
	if res.Code == 0 {
		t.Fatalf("pull of a corrupt layer succeeded: %s", res)
	}
	if out := d.Must("images", "-q"); out != "" {
		t.Fatalf("a failed pull left images: %q", out)
	}
	if res := d.Berth("pull", ref); res.Code != 0 {
		t.Fatalf("pull from the honest registry: %s", res)
	}
	if out := d.Must("run", "--rm", ref, "echo", "ok"); out != "ok" {
		t.Fatalf("run: %q", out)
	}
}

// forward sends r on to the registry at addr and copies the answer's
// headers into w; the caller writes the status and the body (as is,
// altered, or cut short) and closes it. nil: the registry was not reached
// (w has the 502 already).
func forward(w http.ResponseWriter, r *http.Request, addr string) *http.Response {
	u := &url.URL{Scheme: "http", Host: addr, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	resp, err := http.DefaultTransport.RoundTrip(&http.Request{Method: r.Method, URL: u, Header: r.Header, Body: r.Body, ContentLength: r.ContentLength})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return nil
	}
	maps.Copy(w.Header(), resp.Header)
	return resp
}
