package archive

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type entry struct {
	hdr  tar.Header
	body string
}

func tarOf(t *testing.T, entries ...entry) *bytes.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return bytes.NewReader(b.Bytes())
}

func TestExtractStaysInsideRoot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		inside  string // path (relative to root) that must exist afterwards
	}{
		{"dot-dot name", []entry{{tar.Header{Name: "../../escape", Typeflag: tar.TypeReg}, "x"}}, "escape"},
		{"absolute name", []entry{{tar.Header{Name: "/abs", Typeflag: tar.TypeReg}, "x"}}, "abs"},
		{"through absolute symlink", []entry{
			{tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/"}, ""},
			{tar.Header{Name: "link/through", Typeflag: tar.TypeReg}, "x"},
		}, "through"},
		{"through relative symlink", []entry{
			{tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../.."}, ""},
			{tar.Header{Name: "up/rel", Typeflag: tar.TypeReg}, "x"},
		}, "rel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "a", "b", "root")
			os.MkdirAll(root, 0o755)
			if _, err := Extract(tarOf(t, tc.entries...), root, Options{NoLchown: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, tc.inside)); err != nil {
				t.Fatalf("%s was not written inside the root: %v", tc.inside, err)
			}
			filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() && !isUnder(p, root) {
					t.Errorf("written outside the root: %s", p)
				}
				return nil
			})
		})
	}
}

func isUnder(p, root string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !filepath.IsAbs(r) && (len(r) < 3 || r[:3] != "../")
}

func TestExtractHardLinkCannotPointOutside(t *testing.T) {
	root := t.TempDir()
	_, err := Extract(tarOf(t, entry{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../../../etc/passwd"}, ""}), root, Options{NoLchown: true})
	if err == nil {
		if fi, err := os.Lstat(filepath.Join(root, "h")); err == nil && fi.Size() > 0 {
			t.Fatal("hard link reached a file outside the root")
		}
	}
}

func TestExtractKeepsModesAndReplacesEntries(t *testing.T) {
	root := t.TempDir()
	_, err := Extract(tarOf(t,
		entry{tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		entry{tar.Header{Name: "bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755}, "#!"},
		entry{tar.Header{Name: "f", Typeflag: tar.TypeReg}, "old"},
		entry{tar.Header{Name: "f", Typeflag: tar.TypeReg}, "new"},
	), root, Options{NoLchown: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(root, "bin/tool"))
	if fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode = %v", fi.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "new" {
		t.Fatalf("later entry must replace: %q", b)
	}
}

func TestExtractRejectsTruncatedStream(t *testing.T) {
	r := tarOf(t, entry{tar.Header{Name: "big", Typeflag: tar.TypeReg}, string(make([]byte, 4000))})
	b := make([]byte, 1000) // the header and part of the content
	r.Read(b)
	if _, err := Extract(bytes.NewReader(b), t.TempDir(), Options{NoLchown: true}); err == nil {
		t.Fatal("a truncated tar must be an error")
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		os.Mkdir(root, 0o755)
		Extract(bytes.NewReader(data), root, Options{NoLchown: true})
		filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
			if err == nil && p != base && !isUnder(p, root) && p != root {
				t.Errorf("written outside the root: %s", p)
			}
			return nil
		})
	})
}

func TestExtractReplacesWhateverIsInTheWay(t *testing.T) {
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	root := t.TempDir()
	_, err := Extract(tarOf(t,
		entry{tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		entry{tar.Header{Name: "d/inner", Typeflag: tar.TypeReg}, "x"},
		entry{tar.Header{Name: "d", Typeflag: tar.TypeReg, Mode: 0o640, ModTime: mtime}, "file over dir"},
		entry{tar.Header{Name: "f", Typeflag: tar.TypeReg}, "x"},
		entry{tar.Header{Name: "f/", Typeflag: tar.TypeDir, Mode: 0o700}, ""},
		entry{tar.Header{Name: "s", Typeflag: tar.TypeReg}, "x"},
		entry{tar.Header{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "d"}, ""},
		entry{tar.Header{Name: "h", Typeflag: tar.TypeReg}, "x"},
		entry{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "d"}, ""},
		entry{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "h"}, ""},
	), root, Options{NoLchown: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mode os.FileMode
		body string
	}{
		{"d", 0o640, "file over dir"},
		{"f", os.ModeDir | 0o700, ""},
		{"s", os.ModeSymlink, ""},
		{"h", 0o640, "file over dir"},
	} {
		fi, err := os.Lstat(filepath.Join(root, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModeType | os.ModePerm); got&os.ModeSymlink != tc.mode&os.ModeSymlink || (tc.mode&os.ModeSymlink == 0 && got != tc.mode) {
			t.Errorf("%s: mode %v, want %v", tc.name, got, tc.mode)
		}
		if tc.body != "" {
			if b, _ := os.ReadFile(filepath.Join(root, tc.name)); string(b) != tc.body {
				t.Errorf("%s: content %q, want %q", tc.name, b, tc.body)
			}
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "d")); !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), mtime)
	}
}
