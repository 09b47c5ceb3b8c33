//go:build integration

package integration

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

func TestImportCannotEscapeItsRoot(t *testing.T) {
	d := testutil.StartDaemon(t)
	victim := filepath.Join(t.TempDir(), "victim")
	evil := filepath.Join(t.TempDir(), "evil.tar")
	os.WriteFile(evil, layerTar(t, []file{
		{name: "../../../../../../" + victim, typ: tar.TypeReg},
		{name: "link", typ: tar.TypeSymlink, link: filepath.Dir(victim)},
		{name: "link/victim2", typ: tar.TypeReg},
		{name: "abs", typ: tar.TypeSymlink, link: "/"},
		{name: "abs" + victim + "3", typ: tar.TypeReg},
		{name: "hard", typ: tar.TypeLink, link: "../../../../etc/hostname"},
	}), 0o644)
	d.Berth("import", evil, "evil") // it may fail or succeed; nothing may land outside
	for _, p := range []string{victim, filepath.Join(filepath.Dir(victim), "victim2"), victim + "3"} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("extraction escaped its root: %s exists", p)
		}
	}
}

func TestImportChangesAndCorruptInput(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	if got := d.Must("image", "inspect", "-f", "{{json .Config.Cmd}}", "busybox"); got != `["sh"]` {
		t.Fatalf("--change CMD: %s", got)
	}
	corrupt := filepath.Join(t.TempDir(), "bad.tar.gz")
	os.WriteFile(corrupt, []byte("\x1f\x8bthis is not gzip"), 0o644)
	res := d.Berth("import", corrupt, "bad")
	if res.Code == 0 || !strings.Contains(res.Stderr, "gzip") {
		t.Fatalf("corrupt import: %s", res)
	}
	res = d.Berth("load", "-i", corrupt)
	if res.Code == 0 {
		t.Fatalf("corrupt load succeeded: %s", res)
	}
	if out := d.Must("images", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("a failed import/load left an image: %q", out)
	}
	entries, _ := os.ReadDir(filepath.Join(d.DataRoot, "layers"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp-") {
			t.Fatalf("half-applied layer left: %s", e.Name())
		}
	}
}

func TestImageTagRmiHistoryPrune(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("tag", "busybox", "mybox:1")
	if out := d.Must("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=mybox"); out != "mybox:1" {
		t.Fatalf("filter reference: %q", out)
	}
	if out := d.Must("history", "-q", "busybox"); len(out) != 12 {
		t.Fatalf("history: %q", out)
	}
	d.Must("rmi", "mybox:1")
	if out := d.Must("images", "-q"); len(strings.Fields(out)) != 1 {
		t.Fatalf("rmi of one tag removed the image: %q", out)
	}
	d.Must("run", "--name", "user", "busybox", "true")
	if res := d.Berth("rmi", "busybox"); res.Code == 0 {
		t.Fatalf("rmi of an image in use must fail: %s", res)
	}
	d.Must("rm", "user")
	out := d.Must("rmi", "busybox")
	if !strings.Contains(out, "Untagged: busybox:latest") || !strings.Contains(out, "Deleted: sha256:") {
		t.Fatalf("rmi: %q", out)
	}
	layers, _ := os.ReadDir(filepath.Join(d.DataRoot, "layers"))
	for _, l := range layers {
		if l.Name() != "l" && l.Name() != "rw" {
			t.Fatalf("layer %s left after its only image was removed", l.Name())
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id := d.Must("images", "-q", "--no-trunc", "busybox")
	archive := filepath.Join(t.TempDir(), "bb.tar")
	d.Must("save", "-o", archive, "busybox")
	d.Must("rmi", "busybox")
	if out := d.Must("load", "-i", archive); out != "Loaded image: busybox:latest" {
		t.Fatalf("load: %q", out)
	}
	if got := d.Must("images", "-q", "--no-trunc", "busybox"); got != id {
		t.Fatalf("image ID changed across save/load: %s vs %s", got, id)
	}
	if out := d.Must("run", "--rm", "busybox", "echo", "loaded"); out != "loaded" {
		t.Fatalf("run loaded image: %q", out)
	}
}
