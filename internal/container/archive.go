package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/docker/docker/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/archive"
)

// Files in and out of a container (cp, the archive API). Paths resolve
// inside the container's root as the container sees it, through its
// mounts: a running container's is /proc/PID/root (its own mount
// namespace: binds and volumes included), held open; a stopped container's root is
// mounted for the copy with its binds and volumes bound in, and the
// container cannot start until the copy is done. Every path is resolved
// with securejoin inside that root, symlinks included, so nothing a
// container holds can lead a copy out of it.

// fsRoot returns the container's root as the copy sees it and a release
// function. A running container's is its process's root, held open (as
// /proc/self/fd/N: it stays that container's even if the process exits
// and its pid is reused); for a stopped container e.mu is held until
// release, so that it does not start meanwhile.
func (s *Service) fsRoot(e *entry) (string, func(), error) {
	e.mu.Lock()
	rec := e.rec
	if rec.Running() && rec.State.Pid > 0 {
		f, err := os.Open(fmt.Sprintf("/proc/%d/root", rec.State.Pid))
		e.mu.Unlock()
		if err != nil {
			return "", nil, fmt.Errorf("the container's root: %w", err)
		}
		return fmt.Sprintf("/proc/self/fd/%d", f.Fd()), func() { f.Close() }, nil
	}
	rootfs, err := s.layers.Mount(rec.ID, rec.ImageTop)
	if err != nil {
		e.mu.Unlock()
		return "", nil, err
	}
	var bound []string
	var volumes []MountPoint
	release := func() {
		for i := len(bound) - 1; i >= 0; i-- {
			_ = unix.Unmount(bound[i], unix.MNT_DETACH)
		}
		s.unmountVolumes(volumes)
		_ = s.layers.Unmount(rec.ID)
		e.mu.Unlock()
	}
	// Its binds and volumes, parents first, bound where it would see them.
	mps := append([]MountPoint(nil), rec.MountPoints...)
	sortByDepth(mps)
	for _, mp := range mps {
		src := mp.Source
		switch mp.Type {
		case "bind":
			if _, err := os.Stat(src); err != nil {
				continue // made at its start if missing: nothing to copy through yet
			}
		case "volume":
			if s.volumes == nil {
				continue
			}
			if src, err = s.volumes.Mount(mp.Name); err != nil { // a volume with -o type= is mounted for its users
				release()
				return "", nil, err
			}
			volumes = append(volumes, mp)
		default:
			continue // a tmpfs: nothing is kept there
		}
		dst, err := securejoin.SecureJoin(rootfs, mp.Destination)
		if err != nil {
			release()
			return "", nil, err
		}
		if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
			if _, err := os.Lstat(dst); os.IsNotExist(err) {
				_ = os.MkdirAll(filepath.Dir(dst), 0o755)
				if f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL, 0o644); err == nil {
					f.Close()
				}
			}
		} else {
			_ = os.MkdirAll(dst, 0o755)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			release()
			return "", nil, fmt.Errorf("bind %s for the copy: %w", mp.Destination, err)
		}
		bound = append(bound, dst)
	}
	return rootfs, release, nil
}

// resolve is path p inside root: every component but the last resolved
// (symlinks inside root), the last as it is.
func resolve(root, p string) (full, clean string, err error) {
	clean = filepath.Clean("/" + p)
	if clean == "/" {
		return root, clean, nil
	}
	parent, err := securejoin.SecureJoin(root, filepath.Dir(clean))
	if err != nil {
		return "", "", err
	}
	return filepath.Join(parent, filepath.Base(clean)), clean, nil
}

func noSuchPath(p, id string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", p, id))
}

// StatPath describes path p of a container (HEAD archive, cp's stat).
func (s *Service) StatPath(ref, p string) (container.PathStat, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return container.PathStat{}, err
	}
	root, release, err := s.fsRoot(e)
	if err != nil {
		return container.PathStat{}, err
	}
	defer release()
	st, _, err := statIn(root, p, ref)
	return st, err
}

// statIn describes path p inside root, and returns where it is.
func statIn(root, p, ref string) (container.PathStat, string, error) {
	full, clean, err := resolve(root, p)
	if err != nil {
		return container.PathStat{}, "", err
	}
	fi, err := os.Lstat(full)
	if err != nil {
		return container.PathStat{}, "", noSuchPath(p, ref)
	}
	st := container.PathStat{Name: filepath.Base(clean), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := securejoin.SecureJoin(root, clean)
		if err == nil {
			st.LinkTarget = "/" + strings.TrimPrefix(strings.TrimPrefix(target, root), "/")
		}
	}
	return st, full, nil
}

// ArchivePath streams a tar of path p of a container (GET archive, cp
// out): its root entry named as p's last element ("." for a path ending
// in "/."), symlinks as links. The stream must be closed.
func (s *Service) ArchivePath(ref, p string) (io.ReadCloser, container.PathStat, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	root, release, err := s.fsRoot(e)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	st, full, err := statIn(root, p, ref)
	if err != nil {
		release()
		return nil, container.PathStat{}, err
	}
	name := st.Name
	if strings.HasSuffix(p, "/.") || p == "." {
		name = "."
	}
	pr, pw := io.Pipe()
	go func() {
		defer release()
		pw.CloseWithError(writeTar(pw, full, name))
	}()
	return pr, st, nil
}

// writeTar writes the tree at src to w under the name base.
func writeTar(w io.Writer, src, base string) error {
	return writeTarNamed(w, src, func(rel string) string { return filepath.ToSlash(filepath.Join(base, rel)) })
}

// writeTarNamed writes the tree at src to w, each entry named by name
// from its path relative to src ("." for src itself; "" skips it).
func writeTarNamed(w io.Writer, src string, name func(rel string) string) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		name := name(rel)
		if name == "" || name == "." {
			return nil
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil // a socket: not archived, as Docker
		}
		hdr.Name = name
		if fi.IsDir() && !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// ExtractOptions are the archive PUT's options.
type ExtractOptions struct {
	NoOverwriteDirNonDir bool // never replace a directory by a non-directory, or the reverse
	CopyUIDGID           bool // keep the archive's owners (cp -a); else root owns what is written
}

// ExtractTo unpacks the tar stream r into directory p of a container (PUT
// archive, cp in). p must exist and be a directory. Entry names stay
// inside the container's root whatever they say (.., absolute names,
// symlinks in the container, hard links); device nodes are refused
// unless the container is privileged.
func (s *Service) ExtractTo(ref, p string, r io.Reader, o ExtractOptions) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	root, release, err := s.fsRoot(e)
	if err != nil {
		return err
	}
	defer release()
	privileged := e.rec.HostConfig.Privileged
	dir, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return noSuchPath(p, ref)
	}
	if !fi.IsDir() {
		return errdefs.ErrInvalidArgument.WithMessage("extraction point is not a directory")
	}
	prefix := strings.TrimPrefix(strings.TrimPrefix(dir, root), "/") // p as resolved, inside the root
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rebase(r, pw, prefix, o.CopyUIDGID, privileged)) }()
	filter := func(hdr *tar.Header, _, target string) (bool, error) {
		if !o.NoOverwriteDirNonDir {
			return true, nil
		}
		if cur, err := os.Lstat(target); err == nil {
			isDir := hdr.Typeflag == tar.TypeDir
			if cur.IsDir() && !isDir {
				return false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot overwrite directory %q with non-directory %q", "/"+strings.TrimPrefix(strings.TrimPrefix(target, root), "/"), hdr.Name))
			}
			if !cur.IsDir() && isDir {
				return false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot overwrite non-directory %q with directory %q", "/"+strings.TrimPrefix(strings.TrimPrefix(target, root), "/"), hdr.Name))
			}
		}
		return true, nil
	}
	_, err = archive.Extract(pr, root, archive.Options{Filter: filter})
	pr.CloseWithError(err) // stops the rebase goroutine if Extract gave up
	var de *deviceError
	if errors.As(err, &de) {
		return errdefs.ErrInvalidArgument.WithMessage(de.Error())
	}
	if err != nil && !errdefs.IsInvalidArgument(err) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cp: %v", err))
	}
	return err
}

type deviceError struct{ name string }

func (e *deviceError) Error() string {
	return fmt.Sprintf("cp: %s is a device node, refused: the container is not privileged", e.name)
}

// rebase copies the tar stream r to w with every name (and hard link
// target) under prefix, owners set to root unless keepOwners, and device
// nodes refused unless allowDevices.
func rebase(r io.Reader, w io.Writer, prefix string, keepOwners, allowDevices bool) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if filepath.Clean("/"+hdr.Name) == "/" {
			continue // the archive's own root: the target directory keeps its owner and mode
		}
		if (hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock) && !allowDevices {
			return &deviceError{hdr.Name}
		}
		hdr.Name = filepath.Join(prefix, filepath.Clean("/"+hdr.Name))
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = filepath.Join(prefix, filepath.Clean("/"+hdr.Linkname))
		}
		if !keepOwners {
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
