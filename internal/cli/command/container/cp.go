package container

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

func newCpCommand(c *cli.CLI) *cobra.Command {
	var archive, follow bool
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  cli.RequiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			srcCtr, srcPath := splitCpArg(args[0])
			dstCtr, dstPath := splitCpArg(args[1])
			cp := copier{c: c, cl: cl, cmd: cmd, archive: archive, follow: follow}
			switch {
			case srcCtr != "" && dstCtr != "":
				return cli.StatusError{Code: 1, Status: "copying between containers is not supported"}
			case srcCtr != "":
				return cp.from(srcCtr, srcPath, dstPath)
			case dstCtr != "":
				return cp.to(srcPath, dstCtr, dstPath)
			}
			return cli.StatusError{Code: 1, Status: "must specify at least one container source"}
		},
	}
	cmd.Flags().BoolVarP(&archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	cmd.Flags().BoolVarP(&follow, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	return cmd
}

// splitCpArg reads CONTAINER:PATH, as the docker CLI: a path that is
// absolute or starts with "." is local even with a colon in it.
func splitCpArg(arg string) (ctr, path string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	ctr, path, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return ctr, path
}

type copier struct {
	c               *cli.CLI
	cl              *client.Client
	cmd             *cobra.Command
	archive, follow bool
}

// from copies a container's path to dst on this host ("-": a tar on
// stdout).
func (cp copier) from(ctr, src, dst string) error {
	ctx := cp.cmd.Context()
	if cp.follow {
		if st, err := cp.cl.ContainerStatPath(ctx, ctr, src); err == nil && st.LinkTarget != "" {
			src = st.LinkTarget
		}
	}
	rc, st, err := cp.cl.CopyFromContainer(ctx, ctr, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	if dst == "-" {
		_, err := io.Copy(cp.c.Out, rc)
		return err
	}
	// Into an existing directory as is; else as dst itself.
	into, rename := dst, ""
	if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
		if strings.HasSuffix(dst, string(os.PathSeparator)) {
			return cli.StatusError{Code: 1, Status: fmt.Sprintf("destination directory %q does not exist", dst)}
		}
		if err == nil && st.Mode.IsDir() {
			return cli.StatusError{Code: 1, Status: fmt.Sprintf("cannot copy a directory to the file %s", dst)}
		}
		into, rename = filepath.Dir(dst), filepath.Base(dst)
	}
	return untar(rc, into, st.Name, rename)
}

// to copies src on this host ("-": a tar on stdin) to a container's path.
func (cp copier) to(src, ctr, dst string) error {
	ctx := cp.cmd.Context()
	opts := container.CopyToContainerOptions{AllowOverwriteDirWithFile: false, CopyUIDGID: cp.archive}
	if src == "-" {
		return cp.cl.CopyToContainer(ctx, ctr, dst, cp.c.In, opts)
	}
	stat := os.Lstat
	if cp.follow {
		stat = os.Stat
	}
	sfi, err := stat(src)
	if err != nil {
		return cli.StatusError{Code: 1, Status: fmt.Sprintf("could not stat %s: %v", src, err)}
	}
	dir, name := dst, filepath.Base(src)
	if dst == "." || strings.HasSuffix(src, "/.") {
		name = "."
	}
	dstat, err := cp.cl.ContainerStatPath(ctx, ctr, dst)
	switch {
	case err == nil && dstat.Mode.IsDir():
	case err == nil && sfi.IsDir():
		return cli.StatusError{Code: 1, Status: fmt.Sprintf("cannot copy a directory to the file %s", dst)}
	case err == nil || client.IsErrNotFound(err) && !strings.HasSuffix(dst, "/"):
		dir, name = filepath.Dir(dst), filepath.Base(dst)
	default:
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarTree(pw, src, name, cp.follow)) }()
	return cp.cl.CopyToContainer(ctx, ctr, dir, pr, opts)
}

// tarTree writes src under the name base to w.
func tarTree(w io.Writer, src, base string, follow bool) error {
	tw := tar.NewWriter(w)
	root := src
	if follow {
		if r, err := filepath.EvalSymlinks(src); err == nil {
			root = r
		}
	}
	err := filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(path)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil // a socket
		}
		hdr.Name = filepath.ToSlash(filepath.Join(base, rel))
		if fi.IsDir() {
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
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// untar writes the tar stream r into dir, its root entry name renamed
// to rename if set; every name stays inside dir.
func untar(r io.Reader, dir, rootName, rename string) error {
	tr := tar.NewReader(r)
	root := os.Geteuid() == 0
	type dirTime struct {
		path string
		t    time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + hdr.Name)[1:]
		if rename != "" && (name == rootName || strings.HasPrefix(name, rootName+"/")) {
			name = rename + strings.TrimPrefix(name, rootName)
		}
		if name == "" || name == "." {
			continue
		}
		target, err := securejoin.SecureJoin(dir, name)
		if err != nil {
			return err
		}
		mode := hdr.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		case tar.TypeReg:
			_ = os.Remove(target)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			old, err := securejoin.SecureJoin(dir, filepath.Clean("/" + hdr.Linkname)[1:])
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			if err := os.Link(old, target); err != nil {
				return err
			}
		default:
			continue // devices, fifos: not made on this host
		}
		if root {
			_ = os.Lchown(target, hdr.Uid, hdr.Gid)
		}
		if hdr.Typeflag != tar.TypeSymlink {
			_ = os.Chmod(target, mode)
			_ = os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].t, dirs[i].t)
	}
	return nil
}
