//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestTokenAuth: a registry that wants bearer tokens (as Docker Hub and
// most registries do) — 401 with a Bearer challenge, a token service that
// checks the user's password — is logged in to, pushed to and pulled from.
func TestTokenAuth(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	reg := testutil.StartRegistry(t)
	const token = "tok-7f3a"
	var issued atomic.Int32
	var front *httptest.Server
	front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "s3cret" {
				http.Error(w, `{"details":"bad credentials"}`, http.StatusUnauthorized)
				return
			}
			issued.Add(1)
			json.NewEncoder(w).Encode(map[string]string{"token": token})
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+front.URL+`/token",service="test-registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		resp := forward(w, r, reg.Addr)
		if resp == nil {
			return
		}
		defer resp.Body.Close()
		if loc := w.Header().Get("Location"); loc != "" { // upload locations may name the registry behind
			w.Header().Set("Location", strings.Replace(loc, "http://"+reg.Addr, front.URL, 1))
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer front.Close()
	host := strings.TrimPrefix(front.URL, "http://")
	env := []string{"DOCKER_CONFIG=" + t.TempDir()}
	berth := func(stdin string, args ...string) testutil.Result {
		return testutil.Run(t, stdin, env, d.Bin, append([]string{"-H", d.Host()}, args...)...)
	}
	ref := host + "/tok/bb:1"
	d.Must("tag", "busybox", ref)
	if res := berth("", "push", ref); res.Code == 0 || !strings.Contains(res.Stderr, "push access to "+host+"/tok/bb denied") {
		t.Fatalf("push without credentials to a token registry: %s", res)
	}
	if res := berth("nope\n", "login", "-u", "bob", "--password-stdin", host); res.Code == 0 {
		t.Fatalf("login with a wrong password: %s", res)
	}
	if res := berth("s3cret\n", "login", "-u", "bob", "--password-stdin", host); res.Code != 0 {
		t.Fatalf("login: %s", res)
	}
	if res := berth("", "push", ref); res.Code != 0 || !strings.Contains(res.Stdout, "digest: sha256:") {
		t.Fatalf("push with a token: %s", res)
	}
	d.Must("rmi", ref, "busybox")
	if res := berth("", "pull", ref); res.Code != 0 {
		t.Fatalf("pull with a token: %s", res)
	}
	if out := d.Must("run", "--rm", ref, "echo", "token"); out != "token" {
		t.Fatalf("run: %q", out)
	}
	if issued.Load() == 0 {
		t.Fatal("no token was ever issued")
	}
}
