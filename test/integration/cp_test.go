//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestCopy: the docker CLI's cp both ways against berth's archive API,
// with a running and a stopped container, into a volume through the
// container's view, owners root unless -a; paths and tars that try to
// leave the container (a parent symlinked to /, .., absolute names, hard
// links, device nodes) stay inside it or are refused, and the host is
// unchanged.
func TestCopy(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	must := dockerMust(t, docker)
	host := t.TempDir()
	_ = os.WriteFile(filepath.Join(host, "note"), []byte("from-host\n"), 0o640)
	_ = os.Chown(filepath.Join(host, "note"), 1234, 1234)
	_ = os.MkdirAll(filepath.Join(host, "tree", "sub"), 0o755)
	_ = os.WriteFile(filepath.Join(host, "tree", "sub", "leaf"), []byte("leaf\n"), 0o644)

	must("run", "-d", "--name", "box", "-v", "vol:/data", "busybox", "sh", "-c", "ln -s / /evil; sleep 300")
	must("exec", "box", "sh", "-c", "until [ -L /evil ]; do sleep 0.05; done")
	must("cp", filepath.Join(host, "note"), "box:/tmp/")
	if got := must("exec", "box", "stat", "-c", "%u:%g %a %n", "/tmp/note"); got != "0:0 640 /tmp/note" {
		t.Errorf("cp in, owner root: %q", got)
	}
	must("cp", "-a", filepath.Join(host, "note"), "box:/tmp/kept")
	if got := must("exec", "box", "stat", "-c", "%u:%g", "/tmp/kept"); got != "1234:1234" {
		t.Errorf("cp -a keeps the owner: %q", got)
	}
	must("cp", filepath.Join(host, "tree"), "box:/data/")
	vol := must("volume", "inspect", "-f", "{{.Mountpoint}}", "vol")
	if b, err := os.ReadFile(filepath.Join(vol, "tree", "sub", "leaf")); err != nil || string(b) != "leaf\n" {
		t.Errorf("a directory copied into the volume, on the host: %q %v", b, err)
	}
	out := t.TempDir()
	must("cp", "box:/etc/passwd", filepath.Join(out, "passwd"))
	must("cp", "box:/data/tree", out)
	if b, _ := os.ReadFile(filepath.Join(out, "tree", "sub", "leaf")); string(b) != "leaf\n" {
		t.Errorf("a directory copied out: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "passwd")); !strings.HasPrefix(string(b), "root:x:0:0") {
		t.Errorf("a file copied out: %q", b)
	}
	// A parent symlinked to /: the container's /, never the host's.
	marker := fmt.Sprintf("berth-cp-%d", rand.Int64())
	_ = os.WriteFile(filepath.Join(host, marker), []byte("x"), 0o644)
	must("cp", filepath.Join(host, marker), "box:/evil/etc/")
	if _, err := os.Stat(filepath.Join("/etc", marker)); err == nil {
		os.Remove(filepath.Join("/etc", marker))
		t.Fatalf("cp through a symlink to / wrote the host's /etc")
	}
	must("exec", "box", "test", "-f", "/etc/"+marker)
	must("cp", "box:/evil/etc/hostname", filepath.Join(out, "hostname"))
	hostHostname, _ := os.ReadFile("/etc/hostname")
	if b, _ := os.ReadFile(filepath.Join(out, "hostname")); string(b) != must("exec", "box", "cat", "/etc/hostname")+"\n" || string(b) == string(hostHostname) {
		t.Errorf("cp out through a symlink to /: %q (the host's is %q)", b, hostHostname)
	}
	if res := docker("cp", "box:/nope", out); res.Code == 0 || !strings.Contains(res.Stderr, "Could not find the file /nope in container box") {
		t.Errorf("cp of a missing path: %s", res)
	}

	// berth's own cp: both ways, and tars on stdin and stdout.
	d.Must("cp", filepath.Join(host, "tree"), "box:/tmp/berthtree")
	if got := must("exec", "box", "cat", "/tmp/berthtree/sub/leaf"); got != "leaf" {
		t.Errorf("berth cp of a directory to a new path: %q", got)
	}
	d.Must("cp", "box:/tmp/berthtree", filepath.Join(out, "back"))
	if b, _ := os.ReadFile(filepath.Join(out, "back", "sub", "leaf")); string(b) != "leaf\n" {
		t.Errorf("berth cp out to a new path: %q", b)
	}
	tarOut := d.Must("cp", "box:/tmp/note", "-")
	if !strings.Contains(tarOut, "from-host") {
		t.Errorf("berth cp to stdout: %q", tarOut)
	}
	var tb bytes.Buffer
	tw0 := tar.NewWriter(&tb)
	_ = tw0.WriteHeader(&tar.Header{Name: "stdin-file", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3, Uid: 42, Gid: 42})
	_, _ = tw0.Write([]byte("in\n"))
	_ = tw0.Close()
	if res := d.BerthIn(tb.String(), "cp", "-a", "-", "box:/tmp"); res.Code != 0 {
		t.Fatalf("berth cp - (a tar on stdin): %s", res)
	}
	if got := must("exec", "box", "stat", "-c", "%u %a", "/tmp/stdin-file"); got != "42 600" {
		t.Errorf("a file from a tar on stdin with -a: %q", got)
	}

	// A stopped container: through its volume too.
	must("stop", "-t", "0", "box")
	must("cp", filepath.Join(host, "note"), "box:/data/while-stopped")
	must("cp", "box:/tmp/note", filepath.Join(out, "note-from-stopped"))
	if b, _ := os.ReadFile(filepath.Join(out, "note-from-stopped")); string(b) != "from-host\n" {
		t.Errorf("cp out of a stopped container: %q", b)
	}
	must("start", "box")
	if got := must("exec", "box", "cat", "/data/while-stopped"); got != "from-host" {
		t.Errorf("a file copied into a stopped container's volume: %q", got)
	}

	// A tar bomb through the API: everything lands inside the target.
	bomb := fmt.Sprintf("bomb-%d", rand.Int64())
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []tar.Header{
		{Name: "../../../../../../tmp/" + bomb, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: "/" + bomb + "-abs", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: bomb + "-hard", Typeflag: tar.TypeLink, Linkname: "/" + bomb + "-abs"},
	} {
		h := h
		_ = tw.WriteHeader(&h)
		if h.Size > 0 {
			_, _ = tw.Write([]byte("b"))
		}
	}
	_ = tw.Close()
	if code, body := putArchive(t, d, "box", "/data", buf.Bytes()); code != 200 {
		t.Fatalf("PUT a tar with .., absolute names and a hard link: %d %s", code, body)
	}
	for _, p := range []string{"/tmp/" + bomb, "/" + bomb + "-abs"} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("the tar wrote the host's %s", p)
		}
	}
	if got := must("exec", "box", "ls", "/data"); !strings.Contains(got, bomb+"-abs") || !strings.Contains(got, bomb+"-hard") {
		t.Errorf("the tar's entries inside the target: %q", got)
	}
	buf.Reset()
	tw = tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "out", Typeflag: tar.TypeLink, Linkname: "../../../../etc/shadow"})
	_ = tw.Close()
	if code, body := putArchive(t, d, "box", "/data", buf.Bytes()); code != 400 || !strings.Contains(body, "hard link target") {
		t.Errorf("a hard link out of the target: %d %s", code, body)
	}
	buf.Reset()
	tw = tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3})
	_ = tw.Close()
	if code, body := putArchive(t, d, "box", "/tmp", buf.Bytes()); code != 400 || !strings.Contains(body, "device node") {
		t.Errorf("a device node into an unprivileged container: %d %s", code, body)
	}
	if code, body := putArchive(t, d, "box", "/etc/passwd", nil); code != 400 || !strings.Contains(body, "not a directory") {
		t.Errorf("PUT to a file: %d %s", code, body)
	}
}

// putArchive PUTs a tar to a container's archive route.
func putArchive(t *testing.T, d *testutil.Daemon, ctr, path string, body []byte) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
	}}}
	req, _ := http.NewRequest("PUT", "http://berth/v1.47/containers/"+ctr+"/archive?path="+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(bytes.Buffer)
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
