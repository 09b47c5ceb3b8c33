package container

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sys/unix"
)

// Changes are what a container changed in its filesystem (diff), from
// its read-write layer as overlayfs keeps it: a whiteout (a 0/0 character
// device) is a deletion, a file the image has is a change, any other
// entry an addition; the directories above a change are changed too, as
// Docker reports them (an image directory overlayfs copied up is only
// that). The mount points berth made are not the container's changes.
// Sorted by path.
func (s *Service) Changes(ref string) ([]container.FilesystemChange, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	rec := e.snapshot()
	lowers, err := s.layers.Lowers(rec.ImageTop)
	if err != nil && rec.ImageTop != "" {
		return nil, err
	}
	upper := s.layers.RWDiff(rec.ID)
	// What berth made for the container's own mounts (runc makes a
	// missing mount point): not the container's changes. Docker keeps
	// those in an init layer below the read-write one.
	ours := map[string]bool{"/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true}
	for _, mp := range rec.MountPoints {
		ours[mp.Destination] = true
	}
	for t := range rec.HostConfig.Tmpfs {
		ours[filepath.Clean(t)] = true
	}
	kinds := map[string]container.ChangeType{}
	err = filepath.Walk(upper, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		path := "/" + rel
		st, _ := fi.Sys().(*syscall.Stat_t)
		if ours[path] && !inImage(lowers, path) && (fi.IsDir() || fi.Size() == 0) {
			if fi.IsDir() {
				return filepath.SkipDir // what is under it is the mount's
			}
			return nil
		}
		switch {
		case fi.Mode()&os.ModeCharDevice != 0 && st != nil && st.Rdev == 0:
			kinds[path] = container.ChangeDelete
		case inImage(lowers, path) && fi.IsDir():
			return nil // copied up for what changed under it: a parent of a change, if any
		case inImage(lowers, path):
			kinds[path] = container.ChangeModify
		default:
			kinds[path] = container.ChangeAdd
		}
		for dir := filepath.Dir(path); dir != "/"; dir = filepath.Dir(dir) {
			if _, ok := kinds[dir]; !ok {
				kinds[dir] = container.ChangeModify
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]container.FilesystemChange, 0, len(kinds))
	for p, k := range kinds {
		out = append(out, container.FilesystemChange{Path: p, Kind: k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// inImage reports whether path is in the image whose layers are lowers
// (top first): found in a layer before a whiteout of it or of a parent.
func inImage(lowers []string, path string) bool {
	for _, l := range lowers {
		for dir := path; dir != "/"; dir = filepath.Dir(dir) {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(l, dir), &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				return false // deleted in this layer
			}
		}
		if _, err := os.Lstat(filepath.Join(l, path)); err == nil {
			return true
		}
	}
	return false
}

// Export streams the container's filesystem as a tar (export): its
// root without its mounts (volumes, binds), as Docker's export. The
// stream must be closed.
func (s *Service) Export(ref string) (io.ReadCloser, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	rec := e.rec
	running := rec.Running()
	rootfs, err := s.layers.Mount(rec.ID, rec.ImageTop)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	release := func() {
		if !running {
			_ = s.layers.Unmount(rec.ID)
		}
		e.mu.Unlock()
	}
	if running { // its root stays mounted as long as it runs: no need to hold it
		e.mu.Unlock()
		release = func() {}
	}
	pr, pw := io.Pipe()
	go func() {
		defer release()
		pw.CloseWithError(writeTarNamed(pw, rootfs, filepath.ToSlash)) // names relative to the root
	}()
	return pr, nil
}
