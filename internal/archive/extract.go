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
	"sync"
	"time"
	"unsafe"

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
	// StartWriteback starts writing each regular file's data to disk as
	// soon as it is written (sync_file_range, no waiting), for callers
	// that sync the whole tree afterwards: that sync then finds little
	// left to write.
	StartWriteback bool
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
	var dirs []*tar.Header    // directory entries, for their times at the end
	dirAt := map[string]int{} // target → index in dirs
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
		if i, ok := dirAt[target]; ok && hdr.Typeflag != tar.TypeDir {
			dirs[i] = nil // a directory replaced: its times no longer apply
			delete(dirAt, target)
		}
		n, err := writeEntry(tr, hdr, root, target, opts)
		total += n
		if err != nil {
			return total, fmt.Errorf("extract %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = target
			dirAt[target] = len(dirs)
			dirs = append(dirs, &h)
			if realDirs[dir] {
				realDirs[name] = true // made by Mkdir, or a real directory kept
			}
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for _, h := range dirs {
		if h == nil {
			continue
		}
		p := h.Name
		if p == "/" {
			p = root
			if err := unix.Chmod(p, tarMode(h)&0o777); err != nil {
				return total, err
			}
			if !opts.NoLchown {
				_ = os.Lchown(p, h.Uid, h.Gid)
			}
		}
		setTimes(p, h, true) // never through a symlink that replaced it
	}
	return total, nil
}

// replace runs mk; if something is in the way (EEXIST), it is removed
// and mk runs again. Trying first saves a stat per entry: in a fresh
// extraction nothing is ever in the way.
func replace(target string, mk func() error) error {
	err := mk()
	if errors.Is(err, unix.EEXIST) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
		err = mk()
	}
	return err
}

// writebackMin is the size from which StartWriteback starts a file's
// writeback; smaller files are left to the final sync.
const writebackMin = 8 << 10

// copyBufPool holds the buffers regular files are copied through.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

func writeEntry(tr *tar.Reader, hdr *tar.Header, root, target string, opts Options) (int64, error) {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		return writeFile(tr, hdr, target, opts)
	case tar.TypeDir:
		err := unix.Mkdir(target, 0o755)
		if errors.Is(err, unix.EEXIST) {
			// Keep a directory that is there (its content stays);
			// anything else is replaced.
			if fi, lerr := os.Lstat(target); lerr == nil && !fi.IsDir() {
				err = replace(target, func() error { return unix.Mkdir(target, 0o755) })
			} else {
				err = lerr
			}
		}
		if err != nil {
			return 0, err
		}
	case tar.TypeSymlink:
		// The link text is stored as-is; it is only ever resolved inside
		// a root (by this package or by the container's mount namespace).
		if err := replace(target, func() error { return unix.Symlink(hdr.Linkname, target) }); err != nil {
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
		if src == target {
			return 0, nil // a link to itself: the file is there already
		}
		return 0, replace(target, func() error { return unix.Link(src, target) }) // shares its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := uint32(hdr.Mode & 0o777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			m |= unix.S_IFCHR
		case tar.TypeBlock:
			m |= unix.S_IFBLK
		default:
			m |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := replace(target, func() error { return unix.Mknod(target, m, dev) }); err != nil {
			return 0, err
		}
	case tar.TypeXGlobalHeader:
		return 0, nil
	default:
		return 0, fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	// Metadata by path for what has no open descriptor; none of these
	// calls follows a symlink at target (symlinks get no chmod).
	if !opts.NoLchown {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return 0, err
		}
	}
	if err := setXattrs(hdr, func(name string, v []byte) error { return unix.Lsetxattr(target, name, v, 0) }); err != nil {
		return 0, err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// chmod after chown: chown clears setuid/setgid bits.
		if err := unix.Chmod(target, tarMode(hdr)); err != nil {
			return 0, err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		setTimes(target, hdr, hdr.Typeflag == tar.TypeSymlink)
	}
	return 0, nil
}

// writeFile creates a regular file and sets its metadata through the
// open descriptor (no path walks after the open).
func writeFile(tr *tar.Reader, hdr *tar.Header, target string, opts Options) (int64, error) {
	var fd int
	err := replace(target, func() (err error) {
		fd, err = unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		r, rerr := tr.Read(buf)
		for b := buf[:r]; len(b) > 0; {
			w, werr := unix.Write(fd, b)
			if werr == unix.EINTR {
				continue
			}
			if werr != nil {
				return n, werr
			}
			b = b[w:]
			n += int64(w)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if opts.StartWriteback && n >= writebackMin {
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if !opts.NoLchown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return n, err
		}
	}
	if err := setXattrs(hdr, func(name string, v []byte) error { return unix.Fsetxattr(fd, name, v, 0) }); err != nil {
		return n, err
	}
	// chmod after chown: chown clears setuid/setgid bits.
	if err := unix.Fchmod(fd, tarMode(hdr)); err != nil {
		return n, err
	}
	ts := entryTimes(hdr)
	// futimens(fd, ts): utimensat with a NULL path acts on fd itself.
	if _, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); errno != 0 {
		return n, fmt.Errorf("set times: %w", errno)
	}
	return n, nil
}

// setXattrs applies the SCHILY.xattr.* PAX records with set. Filesystems
// or contexts that refuse extended attributes are skipped, as Docker does.
func setXattrs(hdr *tar.Header, set func(name string, v []byte) error) error {
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if err := set(name, []byte(v)); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("xattr %s: %w", name, err)
			}
		}
	}
	return nil
}

// tarMode keeps permission, setuid, setgid and sticky bits.
func tarMode(hdr *tar.Header) uint32 { return uint32(hdr.Mode & 0o7777) }

func entryTimes(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{toTimespec(at), toTimespec(hdr.ModTime)}
}

func setTimes(p string, hdr *tar.Header, symlink bool) {
	ts := entryTimes(hdr)
	flags := 0
	if symlink {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts[:], flags)
}

func toTimespec(t time.Time) unix.Timespec {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return unix.NsecToTimespec(0)
	}
	return unix.NsecToTimespec(t.UnixNano())
}
