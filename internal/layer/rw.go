package layer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func (s *Store) rwDir(id string) string { return filepath.Join(s.root, "rw", id) }

// PrepareRW creates the read-write layer of container id. It is idempotent.
func (s *Store) PrepareRW(id string) error {
	for _, d := range []string{"diff", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(s.rwDir(id), d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) RWDiff(id string) string { return filepath.Join(s.rwDir(id), "diff") }

// Mount mounts container id's filesystem (its read-write layer over the
// chain ending at image) and returns the mount point. Mounting an already
// mounted filesystem returns the same mount point.
func (s *Store) Mount(id string, image digest.Digest) (string, error) {
	merged := filepath.Join(s.rwDir(id), "merged")
	if mounted(merged) {
		return merged, nil
	}
	var lowers []string
	if image != "" {
		var err error
		if lowers, err = s.lowers(image); err != nil {
			return "", err
		}
	}
	if len(lowers) == 0 {
		// overlayfs wants at least one lower directory.
		empty := filepath.Join(s.rwDir(id), "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", err
		}
		lowers = []string{empty}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"),
		filepath.Join(s.rwDir(id), "diff"), filepath.Join(s.rwDir(id), "work"))
	if len(opts) >= unix.Getpagesize() {
		return "", fmt.Errorf("mount options too long (%d layers)", len(lowers))
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount overlay for %s: %w", id, err)
	}
	return merged, nil
}

// Unmount unmounts container id's filesystem; not mounted is not an error.
func (s *Store) Unmount(id string) error {
	merged := filepath.Join(s.rwDir(id), "merged")
	for mounted(merged) {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", merged, err)
		}
	}
	return nil
}

// RemoveRW unmounts and deletes container id's read-write layer.
func (s *Store) RemoveRW(id string) error {
	if err := s.Unmount(id); err != nil {
		return err
	}
	return os.RemoveAll(s.rwDir(id))
}

// RWIDs lists the containers that have a read-write layer.
func (s *Store) RWIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "rw"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids, nil
}

// mounted reports whether p is a mount point (its device differs from its
// parent's, or it is listed in mountinfo for overlay on the same device).
func mounted(p string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

// RWSize is the size of what container id wrote (its upper directory):
// the sum of its files' sizes, a file with several links counted once, as
// Docker's SizeRw.
func (s *Store) RWSize(id string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(s.RWDiff(id), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		if !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}
