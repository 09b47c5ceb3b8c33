package content

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Store keeps blobs under root/blobs/sha256/<hex>. It is safe for
// concurrent use: writers never share an ingest file and renames are atomic.
type Store struct {
	root string
}

// Open opens (creating if needed) the store at root and removes ingest
// files that a crash left behind.
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{s.blobDir(), s.ingestDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(s.ingestDir())
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(s.ingestDir(), e.Name()))
	}
	return s, nil
}

func (s *Store) blobDir() string   { return filepath.Join(s.root, "blobs", "sha256") }
func (s *Store) ingestDir() string { return filepath.Join(s.root, "ingest") }

// Path is where the blob with digest d lives (it may not exist).
func (s *Store) Path(d digest.Digest) string {
	return filepath.Join(s.blobDir(), d.Encoded())
}

// Has reports whether blob d is stored.
func (s *Store) Has(d digest.Digest) bool {
	_, err := os.Stat(s.Path(d))
	return err == nil
}

// Open returns a reader for blob d; a missing blob is errdefs.ErrNotFound.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	f, err := os.Open(s.Path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.ErrNotFound.WithMessage("blob " + d.String())
	}
	return f, err
}

// ReadAll returns the bytes of blob d.
func (s *Store) ReadAll(d digest.Digest) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Delete removes blob d; a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	err := os.Remove(s.Path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Put stores b and returns its digest.
func (s *Store) Put(b []byte) (digest.Digest, error) {
	w, err := s.Writer()
	if err != nil {
		return "", err
	}
	defer w.Abort()
	if _, err := w.Write(b); err != nil {
		return "", err
	}
	return w.Commit("")
}

// Writer is an ingest in progress. Write bytes, then Commit (verifying an
// expected digest if given) or Abort. Abort after Commit is a no-op.
type Writer struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	size int64
	done bool
}

// Writer starts a new ingest.
func (s *Store) Writer() (*Writer, error) {
	f, err := os.CreateTemp(s.ingestDir(), "ingest-")
	if err != nil {
		return nil, err
	}
	return &Writer{s: s, f: f, h: sha256.New()}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	return n, err
}

// Name is the ingest file's path while the ingest is in progress; an
// open descriptor of it stays valid after Commit renames the file.
func (w *Writer) Name() string { return w.f.Name() }

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// Digest is the digest of the bytes written so far.
func (w *Writer) Digest() digest.Digest { return digest.NewDigest(digest.SHA256, w.h) }

// Commit fsyncs the ingest and moves it into place. If expected is not
// empty and differs from the content's digest, the blob is discarded and
// the error is InvalidArgument.
func (w *Writer) Commit(expected digest.Digest) (digest.Digest, error) {
	d := w.Digest()
	if expected != "" && expected != d {
		w.Abort()
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("digest mismatch: expected %s, got %s", expected, d))
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return "", err
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return "", err
	}
	w.done = true
	if err := os.Rename(w.f.Name(), w.s.Path(d)); err != nil {
		os.Remove(w.f.Name())
		return "", err
	}
	return d, nil
}

// Abort discards the ingest.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// Walk calls fn for every stored blob digest.
func (s *Store) Walk(fn func(digest.Digest) error) error {
	entries, err := os.ReadDir(s.blobDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			continue
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}
