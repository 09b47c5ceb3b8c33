package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Filter sees each entry before it is written. It returns false to skip
// the entry (the filter has handled it, e.g. a whiteout). root is the
// extraction root, target the entry's resolved path inside it.
type Filter func(hdr *tar.Header, root, target string) (bool, error)

// Options tune Extract.
type Options struct {
	// Filter, if set, may consume entries (whiteouts).
	Filter Filter
	// NoLchown skips ownership changes (used when not root).
	NoLchown bool
}

// Extract unpacks the tar stream r under root, which must exist.
// Entry names are taken relative to root; ".." and absolute names are
// clamped to root, and symlinks already written are resolved inside root
// (never outside it). It returns the number of bytes of file content
// written. A malformed stream is an error; what was written so far stays,
// so callers extract into a temporary directory and rename on success.
func Extract(r io.Reader, root string, opts Options) (int64, error) {
	tr := tar.NewReader(r)
	var total int64
	var dirs []*tar.Header
	realDirs := map[string]bool{"/": true}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return total, fmt.Errorf("read tar: %w", err)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			// The root itself: take its metadata, nothing else.
			if hdr.Typeflag == tar.TypeDir {
				h := *hdr
				h.Name = "/"
				dirs = append(dirs, &h)
			}
			continue
		}
		// Resolve the parent inside root (following symlinks only within
		// root), then join the final component without following it.
		// Directories this extraction made or found as real directories
		// (no symlink on the way) need no resolving again.
		dir := path.Dir(name)
		parent := filepath.Join(root, dir)
		if !realDirs[dir] {
			parent, err = securejoin.SecureJoin(root, dir)
			if err != nil {
				return total, fmt.Errorf("resolve %q: %w", hdr.Name, err)
			}
		}
		target := filepath.Join(parent, path.Base(name))
		if realDirs[name] && hdr.Typeflag != tar.TypeDir {
			clear(realDirs) // a directory is replaced: what was under it is gone
		}
		if opts.Filter != nil {
			keep, err := opts.Filter(hdr, root, target)
			if err != nil {
				return total, err
			}
			if !keep {
				continue
			}
		}
		if !realDirs[dir] {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return total, err
			}
			if parent == filepath.Join(root, dir) {
				realDirs[dir] = true
			}
		}
		n, err := writeEntry(tr, hdr, root, target, opts)
		total += n
		if err != nil {
			return total, fmt.Errorf("extract %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = target
			dirs = append(dirs, &h)
			if realDirs[dir] {
				realDirs[name] = true // made by Mkdir, or a real directory kept
			}
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for _, h := range dirs {
		p := h.Name
		if p == "/" {
			p = root
			if err := os.Chmod(p, h.FileInfo().Mode().Perm()); err != nil {
				return total, err
			}
			if !opts.NoLchown {
				_ = os.Lchown(p, h.Uid, h.Gid)
			}
		}
		setTimes(p, h, false)
	}
	return total, nil
}

func writeEntry(tr *tar.Reader, hdr *tar.Header, root, target string, opts Options) (int64, error) {
	mode := hdr.FileInfo().Mode()
	// Replace whatever is there, unless both are directories.
	if fi, err := os.Lstat(target); err == nil {
		if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(target); err != nil {
				return 0, err
			}
		}
	}
	var n int64
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return 0, err
		}
	case tar.TypeReg, tar.TypeRegA:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return 0, err
		}
		n, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
	case tar.TypeSymlink:
		// The link text is stored as-is; it is only ever resolved inside
		// a root (by this package or by the container's mount namespace).
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return 0, err
		}
	case tar.TypeLink:
		src, err := securejoin.SecureJoin(root, path.Clean("/"+hdr.Linkname))
		if err != nil {
			return 0, err
		}
		if fi, err := os.Lstat(src); err != nil {
			return 0, fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		} else if fi.IsDir() {
			return 0, fmt.Errorf("hard link target %q is a directory", hdr.Linkname)
		}
		if err := os.Link(src, target); err != nil {
			return 0, err
		}
		return 0, nil // a hard link shares its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := uint32(mode.Perm())
		switch hdr.Typeflag {
		case tar.TypeChar:
			m |= unix.S_IFCHR
		case tar.TypeBlock:
			m |= unix.S_IFBLK
		default:
			m |= unix.S_IFIFO
		}
		if err := unix.Mknod(target, m, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return 0, err
		}
	case tar.TypeXGlobalHeader:
		return 0, nil
	default:
		return 0, fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if !opts.NoLchown {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return n, err
		}
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if err := unix.Lsetxattr(target, name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
				return n, fmt.Errorf("xattr %s: %w", name, err)
			}
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// chmod after chown: chown clears setuid/setgid bits.
		if err := os.Chmod(target, tarMode(hdr)); err != nil {
			return n, err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		setTimes(target, hdr, hdr.Typeflag == tar.TypeSymlink)
	}
	return n, nil
}

// tarMode keeps permission, setuid, setgid and sticky bits.
func tarMode(hdr *tar.Header) os.FileMode {
	m := os.FileMode(hdr.Mode).Perm()
	if hdr.Mode&04000 != 0 {
		m |= os.ModeSetuid
	}
	if hdr.Mode&02000 != 0 {
		m |= os.ModeSetgid
	}
	if hdr.Mode&01000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func setTimes(p string, hdr *tar.Header, symlink bool) {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{toTimespec(at), toTimespec(hdr.ModTime)}
	flags := 0
	if symlink {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, flags)
}

func toTimespec(t time.Time) unix.Timespec {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return unix.NsecToTimespec(0)
	}
	return unix.NsecToTimespec(t.UnixNano())
}
