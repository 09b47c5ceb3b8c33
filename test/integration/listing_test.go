//go:build integration

package integration

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

func TestPsFiltersAndFormats(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "--name", "ok0", "-l", "team=a", "busybox", "true")
	d.Berth("run", "--name", "bad3", "-l", "team=b", "busybox", "sh", "-c", "exit 3")
	d.Must("run", "-d", "--name", "up1", "-l", "team=a", "busybox", "sleep", "60")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "--format", "{{.Names}}"}, "up1"},
		{[]string{"ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}"}, "bad3\nok0"},
		{[]string{"ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"}, "bad3"},
		{[]string{"ps", "-a", "--filter", "label=team=a", "--format", "{{.Names}}"}, "up1\nok0"},
		{[]string{"ps", "-a", "--filter", "name=bad", "--format", "{{.Names}}"}, "bad3"},
		{[]string{"ps", "-n", "1", "--format", "{{.Names}}"}, "up1"},
		{[]string{"ps", "-l", "--format", "{{.Names}} {{.Label \"team\"}}"}, "up1 a"},
		{[]string{"ps", "-a", "--filter", "ancestor=busybox", "-q"}, ""}, // checked by count below
	} {
		got := d.Must(tc.args...)
		if tc.want != "" && got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, got, tc.want)
		}
	}
	if n := len(strings.Fields(d.Must("ps", "-a", "--filter", "ancestor=busybox", "-q"))); n != 3 {
		t.Errorf("ancestor filter: %d containers", n)
	}
	if id := d.Must("ps", "-q", "--no-trunc"); len(id) != 64 {
		t.Errorf("--no-trunc: %q", id)
	}
	if out := d.Must("ps", "--format", "table {{.Names}}\t{{.Status}}"); !strings.HasPrefix(out, "NAMES") || !strings.Contains(out, "Up ") {
		t.Errorf("table format: %q", out)
	}
	if out := d.Must("ps", "--format", "{{json .}}"); !strings.Contains(out, `"Names":"up1"`) {
		t.Errorf("json format: %q", out)
	}
	if out := d.Must("container", "prune", "-f"); strings.Count(out, "\n") < 3 {
		t.Errorf("container prune: %q", out)
	}
	if out := d.Must("ps", "-a", "--format", "{{.Names}}"); out != "up1" {
		t.Errorf("prune must keep only the running container, left %q", out)
	}
}

func TestImagesFiltersAndPrune(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	tarball := filepath.Join(d.Root, "busybox.tar")
	d.Must("import", "--change", "LABEL tier=test", tarball, "labelled:1")
	d.Must("import", tarball) // untagged: dangling
	if out := d.Must("images", "--filter", "dangling=true", "--format", "{{.Repository}}:{{.Tag}}"); out != "<none>:<none>" {
		t.Fatalf("dangling filter: %q", out)
	}
	if out := d.Must("images", "--filter", "label=tier=test", "--format", "{{.Repository}}"); out != "labelled" {
		t.Fatalf("label filter: %q", out)
	}
	if out := d.Must("images", "-a", "-q"); len(strings.Fields(out)) != 3 {
		t.Fatalf("images -a: %q", out)
	}
	if out := d.Must("image", "prune", "-f"); !strings.Contains(out, "deleted: sha256:") {
		t.Fatalf("prune: %q", out)
	}
	if out := d.Must("images", "-q"); len(strings.Fields(out)) != 2 {
		t.Fatalf("after prune: %q", out)
	}
	if res := d.Berth("images", "--filter", "bogus=1"); res.Code == 0 || !strings.Contains(res.Stderr, "bogus") {
		t.Fatalf("bad filter: %s", res)
	}
}

func TestLogsTimestampsSinceAndEvents(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	start := time.Now()
	events := exec.Command(d.Bin, "-H", d.Host(), "events", "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	var evOut strings.Builder
	events.Stdout = &evOut
	events.Start()
	defer events.Process.Kill()
	time.Sleep(200 * time.Millisecond)
	d.Must("run", "--name", "lg", "busybox", "sh", "-c", "echo first; sleep 1.2; echo second")
	out := d.Must("logs", "-t", "lg")
	lines := strings.Split(out, "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " first") {
		t.Fatalf("logs -t: %q", out)
	}
	ts, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0])
	if err != nil || ts.Before(start.Add(-time.Second)) {
		t.Fatalf("timestamp %q: %v", lines[0], err)
	}
	if out := d.Must("logs", "--since", ts.Add(500*time.Millisecond).Format(time.RFC3339Nano), "lg"); out != "second" {
		t.Fatalf("--since: %q", out)
	}
	if out := d.Must("logs", "--until", ts.Add(500*time.Millisecond).Format(time.RFC3339Nano), "lg"); out != "first" {
		t.Fatalf("--until: %q", out)
	}
	time.Sleep(300 * time.Millisecond)
	for _, want := range []string{"create lg", "start lg", "die lg"} {
		if !strings.Contains(evOut.String(), want) {
			t.Fatalf("events lack %q: %q", want, evOut.String())
		}
	}
}

func TestTerminalResize(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "-t", "--name", "tt", "busybox", "sh")
	c := unixClient(d.Socket)
	resp, err := c.Post("http://berth/v1.47/containers/tt/resize?h=33&w=111", "text/plain", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resize: %v %v", resp, err)
	}
	if out := d.Must("exec", "tt", "sh", "-c", "stty size < /proc/1/fd/0"); out != "33 111" {
		t.Fatalf("tty size after resize: %q", out)
	}
}

// TestLoadOCILayoutArchive loads an archive that has only the OCI image
// layout (no manifest.json), named by its index annotation.
func TestLoadOCILayoutArchive(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	full := filepath.Join(t.TempDir(), "full.tar")
	d.Must("save", "-o", full, "busybox")
	d.Must("rmi", "busybox")
	oci := filepath.Join(t.TempDir(), "oci.tar")
	in, _ := os.Open(full)
	out, _ := os.Create(oci)
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" || h.Name == "repositories" {
			continue
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.Close()
	out.Close()
	in.Close()
	if got := d.Must("load", "-i", oci); got != "Loaded image: busybox:latest" {
		t.Fatalf("load OCI layout: %q", got)
	}
	if got := d.Must("run", "--rm", "busybox", "echo", "oci"); got != "oci" {
		t.Fatalf("run: %q", got)
	}
}
