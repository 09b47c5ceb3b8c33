package volume

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// CopyUp fills volume name, if its data directory is empty, with the tree
// at src (the image's content at the mount's destination, inside the
// container's root): files, directories, symlinks, device nodes and fifos
// with their owners, modes and times, and the directory's own owner and
// mode on the volume's root, as Docker does. The copy is made beside the
// data directory and renamed over it, so a crash leaves the volume empty
// (and copied again at the next start), never half filled. Nothing
// happens when src is not a directory.
func (s *Service) CopyUp(name, src string) error {
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	s.mu.Lock()
	v, ok := s.vols[name]
	typed := ok && v.Options["type"] != ""
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("copy into volume %s: no such volume", name)
	}
	dst := s.Path(name)
	if empty, err := isEmpty(dst); err != nil || !empty {
		return err
	}
	if typed { // a mount: filled in place
		return copyTree(src, dst)
	}
	tmp := filepath.Join(s.root, name, ".copyup")
	_ = os.RemoveAll(tmp)
	if err := copyTree(src, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("copy the image's %s into volume %s: %w", filepath.Base(src), name, err)
	}
	// rename(2) replaces an empty directory (os.Rename refuses to).
	if err := unix.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("copy into volume %s: %w", name, err)
	}
	return nil
}

func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// copyTree copies src to dst (made), never following a symlink.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		st := fi.Sys().(*syscall.Stat_t)
		switch m := fi.Mode(); {
		case m.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil && !(rel == "." && os.IsExist(err)) {
				return err
			}
		case m.IsRegular():
			if err := copyFile(path, target); err != nil {
				return err
			}
		case m&os.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			_ = os.Lchown(target, int(st.Uid), int(st.Gid))
			return nil
		case m&(os.ModeDevice|os.ModeNamedPipe|os.ModeSocket) != 0:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		default:
			return nil
		}
		if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := os.Chmod(target, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
