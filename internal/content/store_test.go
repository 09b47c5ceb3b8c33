package content

import (
	"bytes"
	"os"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// newWriter opens a store in a temporary directory and starts an ingest,
// aborted when the test ends.
func newWriter(t *testing.T) (*Store, *Writer) {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Writer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Abort)
	return s, w
}

func ingests(t *testing.T, s *Store) int {
	t.Helper()
	e, err := os.ReadDir(s.ingestDir())
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

func TestWriterCommitsWhatWasWritten(t *testing.T) {
	s, w := newWriter(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 100_000) // 1.6 MB, many chunks
	want := digest.FromBytes(data)
	for off := 0; off < len(data); off += 4096 + 7 {
		end := min(off+4096+7, len(data))
		if n, err := w.Write(data[off:end]); err != nil || n != end-off {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if w.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", w.Size(), len(data))
	}
	got, err := w.Commit(want)
	if err != nil || got != want {
		t.Fatalf("Commit = %s, %v; want %s", got, err, want)
	}
	b, err := os.ReadFile(s.Path(want))
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("stored blob differs (err %v)", err)
	}
	if n := ingests(t, s); n != 0 {
		t.Errorf("%d ingest files left", n)
	}
}

func TestWriterRefusesAMismatchAndLeavesNothing(t *testing.T) {
	s, w := newWriter(t)
	_, _ = w.Write([]byte("hello"))
	other := digest.FromString("something else")
	if _, err := w.Commit(other); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Commit with a wrong digest = %v, want InvalidArgument", err)
	}
	if _, err := os.Stat(s.Path(digest.FromString("hello"))); !os.IsNotExist(err) {
		t.Errorf("blob stored despite the mismatch (%v)", err)
	}
	if n := ingests(t, s); n != 0 {
		t.Errorf("%d ingest files left", n)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after a finished ingest succeeded")
	}
}

func TestWriterReportsAFailedWrite(t *testing.T) {
	s, w := newWriter(t)
	w.f.Close() // every write to the ingest file fails now
	_, _ = w.Write([]byte("lost"))
	if _, err := w.Commit(""); err == nil {
		t.Fatal("Commit succeeded although the bytes were never written")
	}
	if n := ingests(t, s); n != 0 {
		t.Errorf("%d ingest files left", n)
	}
}
