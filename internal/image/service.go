package image

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/layer"
)

// Buckets are the bbolt buckets this package owns.
var Buckets = []string{"images", "tags", "leases", "sources"}

// Image is what the service knows of one image.
type Image struct {
	ID       digest.Digest // digest of the config blob
	Manifest digest.Digest
	Config   dockerspec.DockerOCIImage
	Tags     []string // normalized references, sorted
	Size     int64    // bytes of unpacked content
	Added    time.Time
}

// TopLayer is the chain ID of the image's top layer ("" for no layers).
func (i *Image) TopLayer() digest.Digest {
	var chain digest.Digest
	for _, d := range i.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, d)
	}
	return chain
}

// record is what the "images" bucket holds per image ID.
type record struct {
	Manifest digest.Digest `json:"manifest"`
	Size     int64         `json:"size"`
	Added    time.Time     `json:"added"`
}

// Event is something that happened to an image, for the events bus.
type Event struct {
	Action string // import, load, tag, untag, delete, pull, save
	ID     string
	Ref    string
}

// Service is the image service. Its methods are safe for concurrent use.
type Service struct {
	db      *bolt.DB
	content *content.Store
	layers  *layer.Store
	tmpDir  string // scratch space for load
	// InUse reports whether any container uses the image; wired by the daemon.
	InUse func(id digest.Digest) bool
	// Publish receives image events; wired by the daemon. May be nil.
	Publish func(Event)
	// Registries says how to reach registries; set by the daemon.
	Registries Registries

	mu sync.Mutex // serializes writers (tagging, removal)
	// gcMu is held shared by ingests (import, load) and exclusively by
	// garbage collection, so GC never takes the blobs of an ingest in flight.
	gcMu sync.RWMutex

	insecureOnce sync.Once
	insecureTr   http.RoundTripper // for registries reached without TLS verification
}

// NewService returns an image service over the given stores.
func NewService(db *bolt.DB, cs *content.Store, ls *layer.Store, tmpDir string) *Service {
	return &Service{db: db, content: cs, layers: ls, tmpDir: tmpDir, InUse: func(digest.Digest) bool { return false }}
}

func (s *Service) publish(action, id, ref string) {
	if s.Publish != nil {
		s.Publish(Event{Action: action, ID: id, Ref: ref})
	}
}

// NormalizeRef parses a user-given reference ("busybox", "foo:1",
// "docker.io/library/x@sha256:...") into its full normalized form with a
// default tag of latest.
func NormalizeRef(s string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %q: %v", s, err))
	}
	return reference.TagNameOnly(named), nil
}

// FamiliarRef is the short form users see ("busybox:latest").
func FamiliarRef(full string) string {
	named, err := reference.ParseNormalizedNamed(full)
	if err != nil {
		return full
	}
	return reference.FamiliarString(named)
}

// Get resolves a reference, a full ID (with or without "sha256:") or a
// unique ID prefix to an image.
func (s *Service) Get(ref string) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *bolt.Tx) error {
		id, err := resolve(tx, ref)
		if err != nil {
			return err
		}
		img, err = s.load(tx, id)
		return err
	})
	return img, err
}

func resolve(tx *bolt.Tx, ref string) (digest.Digest, error) {
	images := tx.Bucket([]byte("images"))
	hex := strings.TrimPrefix(ref, "sha256:")
	if isHex(hex) {
		if len(hex) == 64 {
			if images.Get([]byte("sha256:"+hex)) != nil {
				return digest.Digest("sha256:" + hex), nil
			}
		} else if len(hex) >= 1 && !strings.Contains(ref, ":") || strings.HasPrefix(ref, "sha256:") {
			var found digest.Digest
			c := images.Cursor()
			prefix := []byte("sha256:" + hex)
			for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
				if found != "" {
					return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("multiple IDs found with provided prefix: %s", hex))
				}
				found = digest.Digest(k)
			}
			if found != "" {
				// A tag that looks like hex (e.g. "abc") still wins if it exists.
				if named, err := NormalizeRef(ref); err == nil {
					if v := tx.Bucket([]byte("tags")).Get([]byte(named.String())); v != nil {
						return digest.Digest(v), nil
					}
				}
				return found, nil
			}
		}
	}
	named, err := NormalizeRef(ref)
	if err != nil {
		// As Docker: "busybox:sha256:..." is not a name ("invalid
		// reference format"), 400 rather than 404.
		return "", err
	}
	if v := tx.Bucket([]byte("tags")).Get([]byte(named.String())); v != nil {
		return digest.Digest(v), nil
	}
	return "", errdefs.ErrNotFound.WithMessage("No such image: " + reference.FamiliarString(named))
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Service) load(tx *bolt.Tx, id digest.Digest) (*Image, error) {
	v := tx.Bucket([]byte("images")).Get([]byte(id))
	if v == nil {
		return nil, errdefs.ErrNotFound.WithMessage("No such image: " + id.String())
	}
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("image record %s: %w", id, err)
	}
	b, err := s.content.ReadAll(id)
	if err != nil {
		return nil, fmt.Errorf("image config %s: %w", id, err)
	}
	img := &Image{ID: id, Manifest: rec.Manifest, Size: rec.Size, Added: rec.Added}
	if err := json.Unmarshal(b, &img.Config); err != nil {
		return nil, fmt.Errorf("image config %s: %w", id, err)
	}
	img.Tags = tagsOf(tx, id)
	return img, nil
}

func tagsOf(tx *bolt.Tx, id digest.Digest) []string {
	var tags []string
	_ = tx.Bucket([]byte("tags")).ForEach(func(k, v []byte) error {
		if string(v) == string(id) {
			tags = append(tags, string(k))
		}
		return nil
	})
	sort.Strings(tags)
	return tags
}

// List returns every image, newest first.
func (s *Service) List() ([]*Image, error) {
	var out []*Image
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("images")).ForEach(func(k, _ []byte) error {
			img, err := s.load(tx, digest.Digest(k))
			if err != nil {
				return err
			}
			out = append(out, img)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created().After(out[j].Created()) })
	return out, err
}

// Created is when the image was made (or, lacking that, stored).
func (i *Image) Created() time.Time {
	if i.Config.Created != nil {
		return *i.Config.Created
	}
	return i.Added
}

// newLayer is a layer ready to be recorded in a manifest.
type newLayer struct {
	desc ocispec.Descriptor
	l    layer.Layer
}

// ingestLayer stores a layer blob in the content store and applies it on
// top of parent in one pass over r.
func (s *Service) ingestLayer(parent digest.Digest, r io.Reader, expectDiffID digest.Digest) (newLayer, error) {
	w, err := s.content.Writer()
	if err != nil {
		return newLayer{}, err
	}
	defer w.Abort()
	comp, br, err := archive.DetectCompression(io.TeeReader(r, w))
	if err != nil {
		return newLayer{}, err
	}
	l, err := s.layers.Apply(parent, br, expectDiffID)
	if err != nil {
		return newLayer{}, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return newLayer{}, err
	}
	d, err := w.Commit("")
	if err != nil {
		return newLayer{}, err
	}
	return newLayer{desc: ocispec.Descriptor{MediaType: layerMediaType(comp), Digest: d, Size: w.Size()}, l: l}, nil
}

// layerMediaType is the OCI media type of a layer blob so compressed.
func layerMediaType(c archive.Compression) string {
	switch c {
	case archive.Gzip:
		return ocispec.MediaTypeImageLayerGzip
	case archive.Zstd:
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}

// commit stores config and manifest blobs, then records the image and its
// tags in one transaction. Tags move from whatever image had them.
func (s *Service) commit(cfg dockerspec.DockerOCIImage, layers []newLayer, tags []string) (digest.Digest, error) {
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	id, err := s.content.Put(cfgJSON)
	if err != nil {
		return "", err
	}
	return s.commitRaw(id, cfgJSON, layers, tags)
}

// commitRaw writes the manifest for a stored config and records the image.
func (s *Service) commitRaw(id digest.Digest, cfgJSON []byte, layers []newLayer, tags []string) (digest.Digest, error) {
	man := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: id, Size: int64(len(cfgJSON))},
	}
	man.SchemaVersion = 2
	var size int64
	for _, l := range layers {
		man.Layers = append(man.Layers, l.desc)
		size += l.l.Size
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return "", err
	}
	manDigest, err := s.content.Put(manJSON)
	if err != nil {
		return "", err
	}
	return id, s.record(id, manDigest, size, tags...)
}

// record adds image id (config and manifest already stored) to the
// images bucket, unless it is there, and points tags at it, in one
// transaction.
func (s *Service) record(id, manDigest digest.Digest, size int64, tags ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		images := tx.Bucket([]byte("images"))
		if images.Get([]byte(id)) == nil {
			rec, _ := json.Marshal(record{Manifest: manDigest, Size: size, Added: time.Now().UTC()})
			if err := images.Put([]byte(id), rec); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if err := tx.Bucket([]byte("tags")).Put([]byte(t), []byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// platformConfig is a fresh config for this machine.
func platformConfig(created time.Time) dockerspec.DockerOCIImage {
	var cfg dockerspec.DockerOCIImage
	cfg.Created = &created
	cfg.Architecture = runtime.GOARCH
	cfg.OS = "linux"
	cfg.RootFS.Type = "layers"
	return cfg
}

// Import makes a one-layer image from a rootfs tarball (plain or
// compressed), applies Dockerfile-style changes and tags it as ref if ref
// is not empty.
func (s *Service) Import(r io.Reader, ref, message string, changes []string) (digest.Digest, error) {
	var tags []string
	if ref != "" {
		named, err := NormalizeRef(ref)
		if err != nil {
			return "", err
		}
		if _, ok := named.(reference.Digested); ok {
			return "", errdefs.ErrInvalidArgument.WithMessage("cannot import to a digest reference")
		}
		tags = append(tags, named.String())
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	cfg := platformConfig(time.Now().UTC())
	if err := ApplyChanges(&cfg.Config, changes); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	nl, err := s.ingestLayer("", r, "")
	if err != nil {
		return "", err
	}
	cfg.RootFS.DiffIDs = []digest.Digest{nl.l.DiffID}
	comment := message
	if comment == "" {
		comment = "Imported from -"
	}
	cfg.History = []ocispec.History{{Created: cfg.Created, Comment: comment}}
	id, err := s.commit(cfg, []newLayer{nl}, tags)
	if err != nil {
		return "", err
	}
	s.publish("import", id.String(), ref)
	return id, nil
}

// Tag points ref at the image src names.
func (s *Service) Tag(src, ref string) error {
	img, err := s.Get(src)
	if err != nil {
		return err
	}
	named, err := NormalizeRef(ref)
	if err != nil {
		return err
	}
	if _, ok := named.(reference.Digested); ok {
		return errdefs.ErrInvalidArgument.WithMessage("refusing to create a tag with a digest reference")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("tags")).Put([]byte(named.String()), []byte(img.ID))
	})
	if err == nil {
		s.publish("tag", img.ID.String(), named.String())
	}
	return err
}

// DeleteItem is one line of a removal report.
type DeleteItem struct {
	Untagged string
	Deleted  string
}

// Remove untags ref (if it names a tag) and deletes the image when no tag
// is left. An image a container uses is refused (Conflict) unless force,
// in which case it is only untagged. Removing by ID with several tags
// needs force.
func (s *Service) Remove(ref string, force, noPrune bool) ([]DeleteItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeleteItem
	var deleted *Image
	err := s.db.Update(func(tx *bolt.Tx) error {
		id, err := resolve(tx, ref)
		if err != nil {
			return err
		}
		tags := tx.Bucket([]byte("tags"))
		all := tagsOf(tx, id)
		byTag := ""
		if named, err := NormalizeRef(ref); err == nil && tags.Get([]byte(named.String())) != nil {
			byTag = named.String()
		}
		inUse := s.InUse(id)
		if inUse && !force && (byTag == "" || len(all) == 1) {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to remove repository reference %q (must force) - container is using its referenced image %s", ref, id.Encoded()[:12]))
		}
		untag := all
		if byTag != "" {
			untag = []string{byTag}
		} else if len(all) > 1 && !force {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", id.Encoded()[:12]))
		}
		for _, t := range untag {
			if err := tags.Delete([]byte(t)); err != nil {
				return err
			}
			out = append(out, DeleteItem{Untagged: FamiliarRef(t)})
		}
		if len(all) > len(untag) || inUse {
			return nil
		}
		img, err := s.load(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket([]byte("images")).Delete([]byte(id)); err != nil {
			return err
		}
		deleted = img
		out = append(out, DeleteItem{Deleted: id.String()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, it := range out {
		if it.Untagged != "" {
			s.publish("untag", "", it.Untagged)
		}
	}
	if deleted != nil {
		s.publish("delete", deleted.ID.String(), "")
		if err := s.gcLocked(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// gcLocked removes layers and blobs no image references any more. Blobs
// are removed after the records that named them, so a crash in between
// only leaves garbage for the next run.
func (s *Service) gcLocked() error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	usedChains := map[digest.Digest]bool{}
	usedBlobs := map[digest.Digest]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("images")).ForEach(func(k, v []byte) error {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			usedBlobs[digest.Digest(k)] = true
			usedBlobs[rec.Manifest] = true
			mb, err := s.content.ReadAll(rec.Manifest)
			if err != nil {
				return err
			}
			var man ocispec.Manifest
			if err := json.Unmarshal(mb, &man); err != nil {
				return err
			}
			for _, l := range man.Layers {
				usedBlobs[l.Digest] = true
			}
			cb, err := s.content.ReadAll(digest.Digest(k))
			if err != nil {
				return err
			}
			var cfg dockerspec.DockerOCIImage
			if err := json.Unmarshal(cb, &cfg); err != nil {
				return err
			}
			var chain digest.Digest
			for _, d := range cfg.RootFS.DiffIDs {
				chain = layer.ChainID(chain, d)
				usedChains[chain] = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	leased := s.leased() // what a pull in flight, or an interrupted one, holds
	chains, err := s.layers.Walk()
	if err != nil {
		return err
	}
	for _, c := range chains {
		if !usedChains[c] && !leased[c] {
			if err := s.layers.Remove(c); err != nil {
				return err
			}
		}
	}
	return s.content.Walk(func(d digest.Digest) error {
		if !usedBlobs[d] && !leased[d] {
			return s.content.Delete(d)
		}
		return nil
	})
}

// Prune removes dangling images (or, with all, every image no container
// uses) that match selects (nil: all of them), and returns what it removed
// and the bytes that freed (unpacked layers and blobs no image holds any
// more).
func (s *Service) Prune(all bool, selects func(*Image) bool) ([]DeleteItem, int64, error) {
	imgs, err := s.List()
	if err != nil {
		return nil, 0, err
	}
	before := s.usage()
	var out []DeleteItem
	for _, img := range imgs {
		if s.InUse(img.ID) || (!all && len(img.Tags) > 0) || selects != nil && !selects(img) {
			continue
		}
		items, err := s.Remove(img.ID.String(), true, false)
		if err != nil {
			return out, 0, err
		}
		out = append(out, items...)
	}
	return out, max(before-s.usage(), 0), nil
}

// usage is the bytes the stores hold: unpacked layers and blobs.
func (s *Service) usage() int64 {
	var n int64
	chains, _ := s.layers.Walk()
	for _, c := range chains {
		if l, err := s.layers.Get(c); err == nil {
			n += l.Size
		}
	}
	_ = s.content.Walk(func(d digest.Digest) error {
		if fi, err := os.Stat(s.content.Path(d)); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// Reconcile removes what a crash left: layers and blobs no image names.
func (s *Service) Reconcile() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gcLocked()
}
