package layer

import (
	"archive/tar"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/archive"
)

// Layer describes an applied image layer.
type Layer struct {
	ChainID digest.Digest
	DiffID  digest.Digest
	Size    int64 // bytes of file content
}

// Store keeps layers under root:
//
//	root/<chain-hex>/diff     the layer's files (overlay format whiteouts)
//	root/<chain-hex>/link     short name, root/l/<link> -> ../<chain-hex>/diff
//	root/<chain-hex>/parent   parent chain ID (absent for a base layer)
//	root/<chain-hex>/size     bytes of file content
//	root/rw/<id>/{diff,work,merged}  a container's read-write layer
type Store struct {
	root string
}

// Open opens the store at root and removes what an interrupted apply or
// removal left (tmp-* and del-* directories).
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{root, filepath.Join(root, "l"), filepath.Join(root, "rw")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	markTopDir(root)
	markTopDir(filepath.Join(root, "rw"))
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp-") || strings.HasPrefix(e.Name(), "del-") {
			slog.Info("removing incomplete layer directory", "dir", e.Name())
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	// Dangling short links (their layer was removed mid-way).
	links, _ := os.ReadDir(filepath.Join(root, "l"))
	for _, l := range links {
		p := filepath.Join(root, "l", l.Name())
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(p)
		}
	}
	return s, nil
}

// ChainID computes the chain ID of diffID on top of parent (empty for a
// base layer), as the OCI image spec defines it.
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

func (s *Store) dir(chain digest.Digest) string { return filepath.Join(s.root, chain.Encoded()) }

// Has reports whether the layer with this chain ID is applied.
func (s *Store) Has(chain digest.Digest) bool {
	_, err := os.Stat(filepath.Join(s.dir(chain), "link"))
	return err == nil
}

// Get returns what the store knows of an applied layer.
func (s *Store) Get(chain digest.Digest) (Layer, error) {
	if !s.Has(chain) {
		return Layer{}, errdefs.ErrNotFound.WithMessage("layer " + chain.String())
	}
	b, _ := os.ReadFile(filepath.Join(s.dir(chain), "size"))
	size, _ := strconv.ParseInt(string(b), 10, 64)
	d, _ := os.ReadFile(filepath.Join(s.dir(chain), "diffid"))
	return Layer{ChainID: chain, DiffID: digest.Digest(d), Size: size}, nil
}

// Apply unpacks the (possibly compressed) layer tar r on top of the layer
// parent (empty for a base layer). If a layer with the resulting chain ID
// already exists, the new copy is discarded. When expectDiffID is set, a
// stream whose uncompressed digest differs is an error and leaves nothing.
func (s *Store) Apply(parent digest.Digest, r io.Reader, expectDiffID digest.Digest) (Layer, error) {
	if parent != "" && !s.Has(parent) {
		return Layer{}, errdefs.ErrNotFound.WithMessage("parent layer " + parent.String())
	}
	tmp, err := os.MkdirTemp(s.root, "tmp-")
	if err != nil {
		return Layer{}, err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return Layer{}, err
	}
	zr, _, err := archive.Decompress(r)
	if err != nil {
		return Layer{}, fmt.Errorf("layer: %w", err)
	}
	defer zr.Close()
	dr := archive.ReadAhead(zr, 256<<10, 16) // decompress on a second core
	defer dr.Close()
	h := sha256.New()
	size, err := archive.Extract(io.TeeReader(dr, h), diff, archive.Options{Filter: whiteoutToOverlay, StartWriteback: true})
	if err != nil {
		return Layer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("apply layer: %v", err))
	}
	// Drain trailing bytes (tar padding) so the digest covers the whole stream.
	if _, err := io.Copy(h, dr); err != nil {
		return Layer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("apply layer: %v", err))
	}
	diffID := digest.NewDigest(digest.SHA256, h)
	if expectDiffID != "" && diffID != expectDiffID {
		return Layer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("layer content %s does not match its diff ID %s", diffID, expectDiffID))
	}
	l := Layer{ChainID: ChainID(parent, diffID), DiffID: diffID, Size: size}
	if s.Has(l.ChainID) {
		return s.Get(l.ChainID)
	}
	link := randomLink()
	files := map[string]string{"link": link, "size": strconv.FormatInt(size, 10), "diffid": diffID.String()}
	if parent != "" {
		files["parent"] = parent.String()
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(v), 0o600); err != nil {
			return Layer{}, err
		}
	}
	if err := syncFS(tmp); err != nil { // the layer's files, before it gets its real name
		return Layer{}, err
	}
	final := s.dir(l.ChainID)
	_ = os.RemoveAll(final) // a directory without "link" is an incomplete leftover
	if err := os.Rename(tmp, final); err != nil {
		if s.Has(l.ChainID) { // a concurrent apply of the same layer won
			return s.Get(l.ChainID)
		}
		return Layer{}, err
	}
	if err := os.Symlink(filepath.Join("..", l.ChainID.Encoded(), "diff"), filepath.Join(s.root, "l", link)); err != nil {
		return Layer{}, err
	}
	return l, nil
}

// whiteoutToOverlay turns AUFS-style whiteouts (.wh.name, .wh..wh..opq)
// into overlayfs ones (a 0:0 character device, an opaque xattr).
func whiteoutToOverlay(hdr *tar.Header, root, target string) (bool, error) {
	base := filepath.Base(target)
	dir := filepath.Dir(target)
	if base == ".wh..wh..opq" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		return false, unix.Setxattr(dir, "trusted.overlay.opaque", []byte("y"), 0)
	}
	if name, ok := strings.CutPrefix(base, ".wh."); ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
		p := filepath.Join(dir, name)
		_ = os.RemoveAll(p)
		return false, unix.Mknod(p, unix.S_IFCHR, 0)
	}
	return true, nil
}

func randomLink() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// Lowers returns the directories of chain and its ancestors, top first:
// an image's layers as overlayfs stacks them.
func (s *Store) Lowers(chain digest.Digest) ([]string, error) { return s.lowers(chain) }

// lowers returns the short-link paths of chain and its ancestors, top first.
func (s *Store) lowers(chain digest.Digest) ([]string, error) {
	var out []string
	for chain != "" {
		link, err := os.ReadFile(filepath.Join(s.dir(chain), "link"))
		if err != nil {
			return nil, errdefs.ErrNotFound.WithMessage("layer " + chain.String())
		}
		out = append(out, filepath.Join(s.root, "l", string(link)))
		p, err := os.ReadFile(filepath.Join(s.dir(chain), "parent"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		chain = digest.Digest(p)
	}
	return out, nil
}

// Remove deletes an image layer. Callers make sure nothing references it.
func (s *Store) Remove(chain digest.Digest) error {
	link, _ := os.ReadFile(filepath.Join(s.dir(chain), "link"))
	if len(link) > 0 {
		_ = os.Remove(filepath.Join(s.root, "l", string(link)))
	}
	// Rename first so a crash leaves a del-* directory, cleaned at Open.
	del := filepath.Join(s.root, "del-"+chain.Encoded())
	if err := os.Rename(s.dir(chain), del); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(del)
}

// Walk lists the chain IDs of all applied layers.
func (s *Store) Walk() ([]digest.Digest, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// fsTopDirFlag is FS_TOPDIR_FL (chattr +T): the directory's children
// are tops of separate hierarchies.
const fsTopDirFlag = 0x00020000

// markTopDir tells ext4 that each subdirectory of dir is a separate tree
// (chattr +T), so its Orlov allocator spreads new layers over block
// groups instead of packing each into the group its parent is in. The
// inodes of a layer removed a moment ago then do not have to be stepped
// over one by one while the next layer is created (on ext4 without a
// journal that check reads the inode table for every free inode it
// passes, and an unpack after an rmi took twice as long). Filesystems
// without the flag ignore or refuse it; either is fine.
func markTopDir(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopDirFlag != 0 {
		return
	}
	_ = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopDirFlag))
}

// syncFS flushes the filesystem holding p to disk.
func syncFS(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
