//go:build integration

package integration

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestDiffAndExport: diff lists what a container added, changed and
// deleted as Docker does (the directories above a change as changed),
// through the docker CLI and berth's; export is the container's
// filesystem with those changes and without its volumes, running or not.
func TestDiffAndExport(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	d.Must("run", "--name", "changed", "-v", "vol:/data", "busybox", "sh", "-c",
		"echo x > /tmp/new && rm /etc/group && echo y >> /etc/passwd && mkdir -p /a/b && echo v > /data/in-volume")
	want := []string{"A /a", "A /a/b", "C /etc", "D /etc/group", "C /etc/passwd", "C /tmp", "A /tmp/new"}
	got := d.Must("diff", "changed")
	if got != strings.Join(want, "\n") {
		t.Errorf("berth diff:\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if res := docker("diff", "changed"); res.Code != 0 || strings.TrimSpace(res.Stdout) != strings.Join(want, "\n") {
		t.Errorf("docker diff: %s", res)
	}
	d.Must("run", "--name", "untouched", "-v", "/anon", "busybox", "true")
	if got := d.Must("diff", "untouched"); got != "" {
		t.Errorf("diff of a container that changed nothing (berth's mount points are not its changes): %q", got)
	}
	if res := docker("diff", "nosuch"); res.Code == 0 || !strings.Contains(res.Stderr, "No such container: nosuch") {
		t.Errorf("diff of a missing container: %s", res)
	}

	check := func(tarball string) {
		t.Helper()
		f, err := os.Open(tarball)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr := tar.NewReader(f)
		names := map[string]string{}
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("export's tar: %v", err)
			}
			b, _ := io.ReadAll(tr)
			names[strings.TrimSuffix(hdr.Name, "/")] = string(b)
		}
		if names["tmp/new"] != "x\n" || !strings.HasSuffix(names["etc/passwd"], "y\n") || names["bin/busybox"] == "" {
			t.Errorf("export lacks the container's files (%d entries)", len(names))
		}
		if _, ok := names["etc/group"]; ok {
			t.Errorf("export has a file the container deleted")
		}
		if _, ok := names["data/in-volume"]; ok {
			t.Errorf("export has the volume's content")
		}
	}
	out := filepath.Join(t.TempDir(), "stopped.tar")
	d.Must("export", "-o", out, "changed")
	check(out)
	// Running, through the docker CLI.
	d.Must("start", "changed")
	d.Must("run", "-d", "--name", "live", "-v", "vol:/data", "busybox", "sh", "-c", "echo x > /tmp/new && rm /etc/group && echo y >> /etc/passwd && sleep 300")
	d.Must("exec", "live", "sh", "-c", "until [ -f /tmp/new ]; do sleep 0.05; done")
	out = filepath.Join(t.TempDir(), "running.tar")
	if res := docker("export", "-o", out, "live"); res.Code != 0 {
		t.Fatalf("docker export of a running container: %s", res)
	}
	check(out)
	if got := d.Must("inspect", "-f", "{{.State.Running}}", "live"); got != "true" {
		t.Errorf("the container after its export: running=%s", got)
	}
}
