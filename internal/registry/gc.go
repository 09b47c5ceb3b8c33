package registry

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
)

// FileLock is a lock on a file shared between the server (shared, while
// any request changes the store) and the garbage collector (exclusive), so
// gc never sweeps while an upload or a manifest lands.
type FileLock struct {
	f  *os.File
	mu sync.Mutex
	n  int // requests holding the shared lock
}

// OpenLock opens the store's lock file.
func (s *Store) OpenLock() (*FileLock, error) {
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	return &FileLock{f: f}, nil
}

// RLock joins the shared lock, taking it from the kernel for the first
// request in flight (flock(2) locks belong to the open file, so the
// process holds one shared lock for all its requests).
func (l *FileLock) RLock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		if err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_SH); err != nil {
			return err
		}
	}
	l.n++
	return nil
}

// RUnlock leaves the shared lock, releasing it after the last request.
func (l *FileLock) RUnlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.n == 0 {
		return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	}
	return nil
}

// Lock takes the lock exclusively.
func (l *FileLock) Lock() error { return syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX) }

// Close releases the lock.
func (l *FileLock) Close() error { return l.f.Close() }

// GCResult says what a collection removed.
type GCResult struct {
	Blobs   int
	Bytes   int64
	Uploads int
}

// GC removes blobs that no manifest of any repository references and
// links to them. Blobs and links younger than grace are kept (a push in
// flight uploads its blobs before its manifest), and so are upload
// sessions younger than a day.
func (s *Store) GC(grace time.Duration, dryRun bool) (GCResult, error) {
	var res GCResult
	now := time.Now()
	marked := map[digest.Digest]bool{}
	repos, err := s.Repositories()
	if err != nil {
		return res, err
	}
	var blobLinks []string
	for _, repo := range repos {
		dir := filepath.Join(s.repoDir(repo), "_manifests")
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil || e.IsDir() {
				return err
			}
			d := digest.NewDigestFromEncoded(digest.Algorithm(filepath.Base(filepath.Dir(p))), e.Name())
			if d.Validate() != nil {
				return nil
			}
			marked[d] = true
			body, err := os.ReadFile(s.blobPath(d))
			if err != nil {
				return nil // a dangling link; the manifest is gone
			}
			var doc manifestDoc
			if json.Unmarshal(body, &doc) == nil {
				if doc.Config != nil {
					marked[doc.Config.Digest] = true
				}
				for _, l := range doc.Layers {
					marked[l.Digest] = true
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		err = filepath.WalkDir(filepath.Join(s.repoDir(repo), "_blobs"), func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil || e.IsDir() {
				return err
			}
			blobLinks = append(blobLinks, p)
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	young := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && now.Sub(fi.ModTime()) < grace
	}
	// A blob link keeps its blob while it is young; an old, unreferenced
	// link goes.
	for _, p := range blobLinks {
		d := digest.NewDigestFromEncoded(digest.Algorithm(filepath.Base(filepath.Dir(p))), filepath.Base(p))
		if marked[d] {
			continue
		}
		if young(p) {
			marked[d] = true
			continue
		}
		if !dryRun {
			os.Remove(p)
		}
	}
	err = filepath.WalkDir(filepath.Join(s.root, "blobs"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(filepath.Base(filepath.Dir(p))), e.Name())
		if marked[d] || young(p) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		res.Blobs++
		res.Bytes += fi.Size()
		if !dryRun {
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	ups, _ := os.ReadDir(filepath.Join(s.root, "uploads"))
	for _, u := range ups {
		p := filepath.Join(s.root, "uploads", u.Name())
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) > 24*time.Hour && !strings.HasPrefix(u.Name(), ".") {
			res.Uploads++
			if !dryRun {
				os.Remove(p)
			}
		}
	}
	return res, nil
}
