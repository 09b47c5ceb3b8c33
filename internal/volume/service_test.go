package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/internal/db"
)

func newService(t *testing.T) *Service {
	t.Helper()
	dir := t.TempDir()
	bdb, err := db.Open(filepath.Join(dir, "berth.db"), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	s, err := New(bdb, filepath.Join(dir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLifecycle(t *testing.T) {
	s := newService(t)
	v, err := s.Create(CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil || v.Name != "data" || v.Driver != "local" || v.Anonymous {
		t.Fatalf("create: %+v %v", v, err)
	}
	if again, err := s.Create(CreateOptions{Name: "data"}); err != nil || again.Labels["a"] != "b" {
		t.Fatalf("create of an existing name: %+v %v", again, err)
	}
	anon, _ := s.Create(CreateOptions{})
	if !anon.Anonymous || len(anon.Name) != 64 {
		t.Fatalf("anonymous: %+v", anon)
	}
	for _, o := range []CreateOptions{{Name: "a/b"}, {Name: "x"}, {Name: "ok1", Driver: "nfs"}, {Name: "ok2", Options: map[string]string{"color": "red"}}, {Name: "ok3", Options: map[string]string{"type": "tmpfs"}}} {
		if _, err := s.Create(o); err == nil {
			t.Errorf("create %+v: no error", o)
		}
	}
	if err := s.Use("data", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("data", false); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "volume is in use - [c1]") {
		t.Fatalf("remove in use: %v", err)
	}
	if err := s.Release("data", "c1", true); err != nil { // named: never removed with a container
		t.Fatal(err)
	}
	if _, err := s.Get("data"); err != nil {
		t.Fatalf("a named volume after its container's release: %v", err)
	}
	_ = s.Use(anon.Name, "c2")
	_ = s.Release(anon.Name, "c2", true)
	if _, err := s.Get(anon.Name); !errdefs.IsNotFound(err) {
		t.Fatalf("an anonymous volume released with remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.root, anon.Name)); !os.IsNotExist(err) {
		t.Fatalf("its directory: %v", err)
	}
	// Reconcile: the containers' records are the truth.
	if err := s.Reconcile(map[string][]string{"data": {"c9"}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("data"); len(v.UsedBy) != 1 || v.UsedBy[0] != "c9" {
		t.Fatalf("after reconcile: %+v", v)
	}
	_ = s.Reconcile(nil)
	other, _ := s.Create(CreateOptions{})
	gone, _, err := s.Prune(false, nil)
	if err != nil || len(gone) != 1 || gone[0] != other.Name {
		t.Fatalf("prune (anonymous only): %v %v", gone, err)
	}
	gone, _, _ = s.Prune(true, func(v Volume) bool { return v.Labels["a"] != "b" })
	if len(gone) != 1 || gone[0] != "data" {
		t.Fatalf("prune all with a filter: %v", gone)
	}
}

func TestStartRemovesUnrecordedDirectories(t *testing.T) {
	s := newService(t)
	_, _ = s.Create(CreateOptions{Name: "kept"})
	stray := filepath.Join(s.root, "stray", "_data")
	if err := os.MkdirAll(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	s2, err := New(s.db, s.root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(stray)); !os.IsNotExist(err) {
		t.Errorf("a directory no record names survived a start: %v", err)
	}
	if _, err := s2.Get("kept"); err != nil {
		t.Errorf("a recorded volume after a start: %v", err)
	}
}

func TestCopyUp(t *testing.T) {
	s := newService(t)
	src := t.TempDir()
	_ = os.MkdirAll(filepath.Join(src, "sub"), 0o750)
	_ = os.WriteFile(filepath.Join(src, "sub", "f"), []byte("x"), 0o640)
	_ = os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	_ = os.Chmod(src, 0o711)
	v, _ := s.Create(CreateOptions{Name: "fill"})
	if err := s.CopyUp(v.Name, src); err != nil {
		t.Fatal(err)
	}
	dst := s.Path(v.Name)
	b, err := os.ReadFile(filepath.Join(dst, "sub", "f"))
	fi, _ := os.Stat(filepath.Join(dst, "sub"))
	root, _ := os.Stat(dst)
	link, _ := os.Readlink(filepath.Join(dst, "link"))
	if err != nil || string(b) != "x" || fi.Mode().Perm() != 0o750 || root.Mode().Perm() != 0o711 || link != "/etc/passwd" {
		t.Fatalf("copied: %q %v, sub %v, root %v, link %q", b, err, fi.Mode(), root.Mode(), link)
	}
	// Not empty: left alone.
	_ = os.WriteFile(filepath.Join(src, "new"), []byte("y"), 0o644)
	if err := s.CopyUp(v.Name, src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "new")); !os.IsNotExist(err) {
		t.Errorf("a second copy-up into a volume with content")
	}
	if _, err := os.Stat(filepath.Join(s.root, v.Name, ".copyup")); !os.IsNotExist(err) {
		t.Errorf("the copy's temporary directory was left")
	}
}

func TestAcquire(t *testing.T) {
	s := newService(t)
	name, path, err := s.Acquire("", "c1", nil, nil)
	if err != nil || len(name) != 64 || path != s.Path(name) {
		t.Fatalf("acquire an anonymous volume: %q %q %v", name, path, err)
	}
	if v, _ := s.Get(name); !v.Anonymous || len(v.UsedBy) != 1 || v.UsedBy[0] != "c1" {
		t.Fatalf("made and used in one: %+v", v)
	}
	if _, _, err := s.Acquire(name, "c2", nil, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(name); len(v.UsedBy) != 2 {
		t.Fatalf("an existing volume acquired again: %+v", v)
	}
}
