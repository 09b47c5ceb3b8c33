package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	_ "crypto/sha256" // digest algorithms the store accepts
	_ "crypto/sha512"
	"github.com/opencontainers/go-digest"
)

// Store is the registry's state on disk under one root:
//
//	blobs/<alg>/<hex>                     content, written once, renamed into place
//	uploads/<id>                          an upload session's bytes so far
//	repos/<name>/_blobs/<alg>/<hex>       the blob is in the repository
//	repos/<name>/_manifests/<alg>/<hex>   the manifest is in the repository (holds its media type)
//	repos/<name>/_tags/<tag>              holds the digest the tag points at
//	repos/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  a manifest whose subject is <alg>:<hex>
//
// Every file is written to a temporary name and renamed, so a crash leaves
// either the old state or the new one. Link mtimes are refreshed when a
// client learns that a blob exists, which the garbage collector honours.
type Store struct {
	root string

	mu       sync.Mutex
	sessions map[string]*session // running digests of live uploads
}

// session is the in-memory half of an upload: a running sha256 over the
// bytes in the upload file, valid while off equals the file's size.
type session struct {
	mu  sync.Mutex
	h   hash.Hash
	off int64
}

// OpenStore opens (creating) the store at root.
func OpenStore(root string) (*Store, error) {
	for _, d := range []string{"blobs", "uploads", "repos", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Temporary files are only ever half-written files; none survives a restart.
	tmp := filepath.Join(root, "tmp")
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(tmp, e.Name()))
		}
	}
	return &Store{root: root, sessions: map[string]*session{}}, nil
}

func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), d.Encoded())
}

func (s *Store) repoDir(repo string) string {
	return filepath.Join(s.root, "repos", filepath.FromSlash(repo))
}

func (s *Store) linkPath(repo, kind string, d digest.Digest) string {
	return filepath.Join(s.repoDir(repo), kind, string(d.Algorithm()), d.Encoded())
}

// writeFile writes b to path atomically (temp file, fsync, rename).
func (s *Store) writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "w-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// BlobInfo is the size of a stored blob, and whether it exists.
func (s *Store) statBlob(d digest.Digest) (int64, bool) {
	fi, err := os.Stat(s.blobPath(d))
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

// hasLink reports whether repo links blob d (kind "_blobs") or manifest d
// ("_manifests"), and touches the link so a concurrent gc keeps it.
func (s *Store) hasLink(repo, kind string, d digest.Digest) bool {
	p := s.linkPath(repo, kind, d)
	if _, err := os.Stat(p); err != nil {
		return false
	}
	if _, ok := s.statBlob(d); !ok {
		return false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now)
	return true
}

func (s *Store) link(repo, kind string, d digest.Digest, content []byte) error {
	return s.writeFile(s.linkPath(repo, kind, d), content)
}

func (s *Store) unlink(repo, kind string, d digest.Digest) (bool, error) {
	err := os.Remove(s.linkPath(repo, kind, d))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// OpenBlob opens blob d of repo.
func (s *Store) OpenBlob(repo string, d digest.Digest) (*os.File, error) {
	if !s.hasLink(repo, "_blobs", d) {
		return nil, fs.ErrNotExist
	}
	return os.Open(s.blobPath(d))
}

// MountBlob links blob d into repo if it is in from (or, with from empty,
// anywhere in the store). It reports whether it did.
func (s *Store) MountBlob(repo, from string, d digest.Digest) (bool, error) {
	if from != "" {
		if !s.hasLink(from, "_blobs", d) {
			return false, nil
		}
	} else if _, ok := s.statBlob(d); !ok {
		return false, nil
	}
	return true, s.link(repo, "_blobs", d, nil)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Store) uploadPath(id string) string { return filepath.Join(s.root, "uploads", id) }

// validID guards upload IDs taken from URLs.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// NewUpload starts an upload session.
func (s *Store) NewUpload() (string, error) {
	id := newID()
	f, err := os.OpenFile(s.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	f.Close()
	s.mu.Lock()
	s.sessions[id] = &session{h: digest.SHA256.Hash()}
	s.mu.Unlock()
	return id, nil
}

// UploadSize is the number of bytes an upload holds; fs.ErrNotExist if
// there is no such upload.
func (s *Store) UploadSize(id string) (int64, error) {
	if !validID(id) {
		return 0, fs.ErrNotExist
	}
	fi, err := os.Stat(s.uploadPath(id))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (s *Store) session(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil { // the server restarted: start over, Commit rehashes
		sess = &session{h: digest.SHA256.Hash(), off: -1}
		s.sessions[id] = sess
	}
	return sess
}

// ErrRange is a chunk that does not start where the upload ends.
var ErrRange = errors.New("chunk out of order")

// Append adds r's bytes to upload id. If start >= 0 it must equal the
// upload's current size. It returns the new size.
func (s *Store) Append(id string, start int64, r io.Reader) (int64, error) {
	if !validID(id) {
		return 0, fs.ErrNotExist
	}
	sess := s.session(id)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	f, err := os.OpenFile(s.uploadPath(id), os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if start >= 0 && start != size {
		return size, ErrRange
	}
	var w io.Writer = f
	if sess.off == size {
		w = io.MultiWriter(f, sess.h)
	} else {
		sess.off = -1
	}
	n, err := io.Copy(w, r)
	if sess.off >= 0 {
		sess.off += n
	}
	if err != nil {
		// Keep what arrived whole; a client resumes from the reported range.
		return size + n, err
	}
	return size + n, nil
}

// ErrDigest is an upload whose content does not match the digest given.
var ErrDigest = errors.New("digest mismatch")

// Commit verifies upload id against d, moves it into the blob store and
// links it into repo. The session ends either way except on I/O errors.
func (s *Store) Commit(repo, id string, d digest.Digest) error {
	if !validID(id) {
		return fs.ErrNotExist
	}
	sess := s.session(id)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	path := s.uploadPath(id)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var got digest.Digest
	if d.Algorithm() == digest.SHA256 && sess.off == fi.Size() {
		got = digest.NewDigest(digest.SHA256, sess.h)
	} else {
		h := d.Algorithm().Hash()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		got = digest.NewDigest(d.Algorithm(), h)
	}
	if got != d {
		s.Cancel(id)
		return fmt.Errorf("%w: expected %s, got %s", ErrDigest, d, got)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	dst := s.blobPath(d)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if _, ok := s.statBlob(d); ok {
		os.Remove(path)
	} else if err := os.Rename(path, dst); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
	return s.link(repo, "_blobs", d, nil)
}

// Cancel ends upload id and drops its bytes.
func (s *Store) Cancel(id string) error {
	if !validID(id) {
		return fs.ErrNotExist
	}
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
	return os.Remove(s.uploadPath(id))
}

// PutBlob stores b (already verified to have digest d) and links it into repo.
func (s *Store) PutBlob(repo string, d digest.Digest, b []byte) error {
	if _, ok := s.statBlob(d); !ok {
		if err := s.writeFile(s.blobPath(d), b); err != nil {
			return err
		}
	}
	return s.link(repo, "_blobs", d, nil)
}

// DeleteBlob unlinks blob d from repo.
func (s *Store) DeleteBlob(repo string, d digest.Digest) (bool, error) {
	return s.unlink(repo, "_blobs", d)
}

// Manifest is a manifest as stored: bytes and media type.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Body      []byte
}

// GetManifest returns manifest ref (a tag or a digest) of repo.
func (s *Store) GetManifest(repo, ref string) (*Manifest, error) {
	d, err := s.resolve(repo, ref)
	if err != nil {
		return nil, err
	}
	mt, err := os.ReadFile(s.linkPath(repo, "_manifests", d))
	if err != nil {
		return nil, err
	}
	body, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, err
	}
	return &Manifest{Digest: d, MediaType: string(mt), Body: body}, nil
}

func (s *Store) resolve(repo, ref string) (digest.Digest, error) {
	if d, err := digest.Parse(ref); err == nil {
		return d, nil
	}
	b, err := os.ReadFile(filepath.Join(s.repoDir(repo), "_tags", ref))
	if err != nil {
		return "", err
	}
	return digest.Parse(strings.TrimSpace(string(b)))
}

// PutManifest stores m in repo, links it, records it as a referrer of
// subject (if not empty) and points tags at it.
func (s *Store) PutManifest(repo string, m *Manifest, subject digest.Digest, tags []string) error {
	if _, ok := s.statBlob(m.Digest); !ok {
		if err := s.writeFile(s.blobPath(m.Digest), m.Body); err != nil {
			return err
		}
	}
	if err := s.link(repo, "_manifests", m.Digest, []byte(m.MediaType)); err != nil {
		return err
	}
	if subject != "" {
		p := filepath.Join(s.repoDir(repo), "_referrers", string(subject.Algorithm()), subject.Encoded(),
			string(m.Digest.Algorithm())+"-"+m.Digest.Encoded())
		if err := s.writeFile(p, nil); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if err := s.writeFile(filepath.Join(s.repoDir(repo), "_tags", t), []byte(m.Digest)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteManifest removes manifest ref from repo: a tag removes the tag
// only; a digest removes the manifest, every tag pointing at it and its
// referrer entry. It reports whether there was something to delete.
func (s *Store) DeleteManifest(repo, ref string) (bool, error) {
	d, err := digest.Parse(ref)
	if err != nil {
		err := os.Remove(filepath.Join(s.repoDir(repo), "_tags", ref))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	m, err := s.GetManifest(repo, ref)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	tags, err := s.Tags(repo)
	if err != nil {
		return false, err
	}
	for _, t := range tags {
		if td, err := s.resolve(repo, t); err == nil && td == d {
			os.Remove(filepath.Join(s.repoDir(repo), "_tags", t))
		}
	}
	if subj := subjectOf(m.Body); subj != "" {
		os.Remove(filepath.Join(s.repoDir(repo), "_referrers", string(subj.Algorithm()), subj.Encoded(),
			string(d.Algorithm())+"-"+d.Encoded()))
	}
	return s.unlink(repo, "_manifests", d)
}

// Tags lists repo's tags, sorted.
func (s *Store) Tags(repo string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.repoDir(repo), "_tags"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	tags := []string{}
	for _, e := range ents {
		tags = append(tags, e.Name())
	}
	sort.Strings(tags)
	return tags, nil
}

// RepoExists reports whether repo has ever had anything pushed.
func (s *Store) RepoExists(repo string) bool {
	_, err := os.Stat(s.repoDir(repo))
	return err == nil
}

// Repositories lists every repository name, sorted.
func (s *Store) Repositories() ([]string, error) {
	var repos []string
	base := filepath.Join(s.root, "repos")
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() || p == base {
			return nil
		}
		if strings.HasPrefix(e.Name(), "_") {
			return fs.SkipDir
		}
		for _, kind := range []string{"_manifests", "_blobs", "_tags"} {
			if _, err := os.Stat(filepath.Join(p, kind)); err == nil {
				rel, _ := filepath.Rel(base, p)
				repos = append(repos, filepath.ToSlash(rel))
				break
			}
		}
		return nil
	})
	sort.Strings(repos)
	return repos, err
}

// Referrers lists the manifests of repo whose subject is d.
func (s *Store) Referrers(repo string, d digest.Digest) ([]*Manifest, error) {
	dir := filepath.Join(s.repoDir(repo), "_referrers", string(d.Algorithm()), d.Encoded())
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []*Manifest
	for _, e := range ents {
		alg, hexPart, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		m, err := s.GetManifest(repo, alg+":"+hexPart)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, m)
	}
	return out, nil
}
