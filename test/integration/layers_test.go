//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// file is one entry of a test tar: a body for regular files, a target
// for links.
type file struct {
	name, body, link string
	typ              byte
}

func layerTar(t *testing.T, files []file) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: 0o644, Size: int64(len(f.body)), Linkname: f.link}
		if f.typ == tar.TypeDir {
			h.Mode, h.Size = 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return b.Bytes()
}

// dockerArchive builds a docker-archive (as `docker save` writes it) of
// one image whose rootfs is the busybox tarball plus extra layers.
func dockerArchive(t *testing.T, base []byte, extra [][]byte, tag string) string {
	t.Helper()
	layers := append([][]byte{base}, extra...)
	var diffIDs, names []string
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	for i, l := range layers {
		sum := sha256.Sum256(l)
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:]))
		name := hex.EncodeToString(sum[:])[:16] + "/layer.tar"
		names = append(names, name)
		add(name, l)
		_ = i
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cs := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cs[:]) + ".json"
	add(cfgName, cfg)
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": names}})
	add("manifest.json", man)
	tw.Close()
	p := filepath.Join(t.TempDir(), "img.tar")
	os.WriteFile(p, out.Bytes(), 0o644)
	return p
}

func TestLayersWithWhiteoutsAndSharing(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	base, err := os.ReadFile(filepath.Join(d.Root, "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	l2 := layerTar(t, []file{
		{name: "data/", typ: tar.TypeDir}, {name: "data/keep", body: "k", typ: tar.TypeReg}, {name: "data/gone", body: "g", typ: tar.TypeReg},
		{name: "opq/", typ: tar.TypeDir}, {name: "opq/old", body: "o", typ: tar.TypeReg},
	})
	l3 := layerTar(t, []file{
		{name: "data/.wh.gone", typ: tar.TypeReg},
		{name: "opq/", typ: tar.TypeDir}, {name: "opq/.wh..wh..opq", typ: tar.TypeReg}, {name: "opq/new", body: "n", typ: tar.TypeReg},
		{name: "etc/.wh.group", typ: tar.TypeReg},
	})
	d.Must("load", "-i", dockerArchive(t, base, [][]byte{l2, l3}, "layered:1"))
	out := d.Must("run", "--rm", "layered:1", "sh", "-c", "ls /data; ls /opq; ls /etc/group 2>&1 || true")
	if out != "keep\nnew\nls: /etc/group: No such file or directory" {
		t.Fatalf("whiteouts not honoured: %q", out)
	}
	// A second image sharing the first two layers unpacks only its own.
	before, _ := os.ReadDir(filepath.Join(d.DataRoot, "layers"))
	d.Must("load", "-i", dockerArchive(t, base, [][]byte{l2}, "layered:2"))
	after, _ := os.ReadDir(filepath.Join(d.DataRoot, "layers"))
	if len(after) != len(before) {
		t.Fatalf("shared layers unpacked again: %d dirs before, %d after", len(before), len(after))
	}
	if out := d.Must("run", "--rm", "layered:2", "ls", "/data"); out != "gone\nkeep" {
		t.Fatalf("layered:2 sees %q", out)
	}
	// Changes in a container stay in its own layer.
	d.Must("run", "--name", "ww", "layered:1", "sh", "-c", "rm /data/keep; echo x > /data/added")
	if out := d.Must("run", "--rm", "layered:1", "ls", "/data"); out != "keep" {
		t.Fatalf("a container's changes leaked into the image: %q", out)
	}
	// A corrupt layer (content differs from its diff ID) is refused whole.
	bad := dockerArchive(t, base, [][]byte{l2}, "bad:1")
	raw, _ := os.ReadFile(bad)
	raw = bytes.Replace(raw, []byte("data/keep"), []byte("data/kEEp"), 1)
	os.WriteFile(bad, raw, 0o644)
	if res := d.Berth("load", "-i", bad); res.Code == 0 || !strings.Contains(res.Stderr, "diff ID") {
		t.Fatalf("corrupt layer accepted: %s", res)
	}
	if res := d.Berth("image", "inspect", "bad:1"); res.Code == 0 {
		t.Fatal("a corrupt load left an image")
	}
}
