//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func TestAPIPingVersionsAndErrors(t *testing.T) {
	d := testutil.StartDaemon(t)
	fi, err := os.Stat(d.Socket)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v (%v), want 0660", fi.Mode().Perm(), err)
	}
	c := unixClient(d.Socket)
	do := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, "http://berth"+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/_ping", "/v1.24/_ping", "/v1.44/_ping", "/v1.50/_ping"} {
		resp, body := do("GET", path)
		if resp.StatusCode != 200 || body != "OK" || resp.Header.Get("Api-Version") != "1.47" || resp.Header.Get("Ostype") != "linux" {
			t.Fatalf("GET %s: %d %q %v", path, resp.StatusCode, body, resp.Header)
		}
	}
	resp, body := do("HEAD", "/_ping")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Swarm") != "inactive" {
		t.Fatalf("HEAD /_ping: %d %q", resp.StatusCode, body)
	}
	for path, want := range map[string]string{"/v1.12/version": "too old", "/v1.99/version": "too new"} {
		resp, body := do("GET", path)
		if resp.StatusCode != 400 || !strings.Contains(body, want) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body = do("GET", "/v1.47/containers/nope/json")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" || body != "{\"message\":\"No such container: nope\"}\n" {
		t.Fatalf("404: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = do("GET", "/containers/json")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("empty list must be [], got %q", body)
	}
	resp, body = do("GET", "/v1.47/version")
	if !strings.Contains(body, `"ApiVersion":"1.47"`) || !strings.Contains(body, `"MinAPIVersion":"1.24"`) {
		t.Fatalf("version: %s", body)
	}
}

func TestDetachKeysLeaveTheContainerRunning(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) is needed to give the CLI a terminal")
	}
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	// Type like a user: after the CLI has put the terminal in raw mode
	// (before that the tty's flow control would eat ctrl-q).
	typed := func(cmd string, inputs ...string) testutil.Result {
		feed := "sleep 2" // the CLI must have put the terminal in raw mode
		for _, in := range inputs {
			feed += "; printf '" + in + "'; sleep 0.7"
		}
		script := "(" + feed + "; sleep 0.5) | script -qec '" + cmd + "' /dev/null"
		return testutil.Run(t, "", nil, "bash", "-c", script)
	}
	berth := d.Bin + " -H " + d.Host()
	if res := typed(berth+" run -it --name det busybox sh", `echo before\n`, `\x10\x11`); res.Code != 0 || !strings.Contains(res.Stdout, "before") {
		t.Fatalf("run -it then ctrl-p ctrl-q: %s", res)
	}
	if st := d.Must("inspect", "-f", "{{.State.Running}}", "det"); st != "true" {
		t.Fatalf("container stopped on detach: running=%s", st)
	}
	res := typed(berth+" attach det", `echo again\n`, `\x10\x11`)
	if !strings.Contains(res.Stdout, "again") || d.Must("inspect", "-f", "{{.State.Running}}", "det") != "true" {
		t.Fatalf("attach/detach: %s", res)
	}
	if dockerBin, err := exec.LookPath("docker"); err == nil {
		typed("DOCKER_HOST="+d.Host()+" "+dockerBin+" attach det", `\x10\x11`)
		if st := d.Must("inspect", "-f", "{{.State.Running}}", "det"); st != "true" {
			t.Fatal("docker attach's detach stopped the container")
		}
	}
	if res := typed(berth+" attach det", `exit 5\n`); res.Code != 5 {
		t.Fatalf("exit after re-attach: %s", res)
	}
}

// TestDaemonKilledDuringImportLeavesConsistentStores kills the daemon while
// it unpacks a large layer: after a restart there is no image, no
// half-applied layer and no ingest file, and importing again works.
func TestDaemonKilledDuringImportLeavesConsistentStores(t *testing.T) {
	d := testutil.StartDaemon(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "root"), 0o755)
	for i := 0; i < 40; i++ {
		f, _ := os.Create(filepath.Join(dir, "root", "blob"+string(rune('a'+i%26))+string(rune('a'+i/26))))
		io.CopyN(f, rand.Reader, 4<<20)
		f.Close()
	}
	tarball := filepath.Join(dir, "big.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "root"), "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	imp := exec.Command(d.Bin, "-H", d.Host(), "import", tarball, "big")
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the import to be under way", func() bool {
		m, _ := filepath.Glob(filepath.Join(d.DataRoot, "layers", "tmp-*"))
		return len(m) > 0
	})
	d.Kill()
	imp.Wait()
	d.Start()
	if out := d.Must("images", "-q"); out != "" {
		t.Fatalf("an interrupted import left an image: %q", out)
	}
	for _, pattern := range []string{"layers/tmp-*", "content/ingest/*", "tmp/*"} {
		if m, _ := filepath.Glob(filepath.Join(d.DataRoot, pattern)); len(m) > 0 {
			t.Fatalf("leftovers after restart: %v", m)
		}
	}
	d.Must("import", tarball, "big")
	if out := d.Must("images", "--format", "{{.Repository}}"); out != "big" {
		t.Fatalf("import after restart: %q", out)
	}
}
