package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Docker's media types, for manifests berth keeps in Docker's form.
const (
	dockerManifest   = "application/vnd.docker.distribution.manifest.v2+json"
	dockerLayer      = "application/vnd.docker.image.rootfs.diff.tar"
	dockerLayerGzip  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	pushCompressJobs = 4
)

// storedManifest is an image manifest as stored, Docker's or OCI's (they
// share these fields).
type storedManifest struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	Config        ocispec.Descriptor   `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Annotations   map[string]string    `json:"annotations,omitempty"`
}

// Push sends the image ref names to its registry: with tag empty and ref
// naming a repository, every tag of that repository. Uncompressed layers
// are gzip-compressed first, in parallel, once: the compressed blobs then
// become the image's own. Blobs the registry has are skipped, blobs it has
// in another repository are mounted from there.
func (s *Service) Push(ctx context.Context, ref, tag string, auth Auth, progress ProgressFunc) error {
	if progress == nil {
		progress = func(Progress) {}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %v", err))
	}
	var tags []string
	switch {
	case tag != "":
		t, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
		tags = []string{t.String()}
	case reference.IsNameOnly(named):
		prefix := named.Name() + ":"
		imgs, err := s.List()
		if err != nil {
			return err
		}
		for _, img := range imgs {
			for _, t := range img.Tags {
				if len(t) > len(prefix) && t[:len(prefix)] == prefix {
					tags = append(tags, t)
				}
			}
		}
		slices.Sort(tags)
		if len(tags) == 0 {
			return errdefs.ErrNotFound.WithMessage("An image does not exist locally with the tag: " + reference.FamiliarName(named))
		}
	default:
		tags = []string{named.String()}
	}
	// Credentials are checked before the stream starts, so that a refusal
	// is a real 401 (the docker CLI then asks for credentials).
	refs, err := s.remoteRefs(reference.TrimNamed(named))
	if err != nil {
		return err
	}
	repo := refs[len(refs)-1].Context()
	if err := remote.CheckPushPermission(repo.Tag("latest"), fixedKeychain{auth.authenticator()}, s.transport(repo.RegistryStr())); err != nil {
		return errdefs.ErrUnauthenticated.WithMessage(fmt.Sprintf("push access to %s denied: %v", named.Name(), err))
	}
	progress(Progress{Status: "The push refers to repository [" + named.Name() + "]"})
	for _, t := range tags {
		if err := s.pushTag(ctx, t, auth, progress); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) pushTag(ctx context.Context, tagged string, auth Auth, progress ProgressFunc) error {
	named, err := NormalizeRef(tagged)
	if err != nil {
		return err
	}
	img, err := s.Get(named.String())
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage("An image does not exist locally with the tag: " + FamiliarRef(named.String()))
	} else if err != nil {
		return err
	}
	refs, err := s.remoteRefs(reference.TrimNamed(named))
	if err != nil {
		return err
	}
	repo := refs[len(refs)-1].Context() // never a mirror
	man, rawMan, err := s.manifestOf(img)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := s.remoteOptions(ctx, auth, repo.RegistryStr())
	// Compress and push the layers, several at once.
	newLayers := make([]ocispec.Descriptor, len(man.Layers))
	errs := make([]error, len(man.Layers))
	sem := make(chan struct{}, pushCompressJobs)
	var wg sync.WaitGroup
	for _, l := range man.Layers {
		progress(Progress{ID: shortID(l.Digest), Status: "Preparing"})
	}
	for i, l := range man.Layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			d, err := s.compressed(l, man.MediaType == dockerManifest)
			if err == nil {
				newLayers[i] = d
				err = s.pushBlob(repo, d, shortID(l.Digest), opts, progress)
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && err != context.Canceled {
			return registryError(err, named, false)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.pushBlob(repo, man.Config, "", opts, func(Progress) {}); err != nil {
		return registryError(err, named, false)
	}
	if !slices.EqualFunc(newLayers, man.Layers, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }) {
		man.Layers = newLayers
		if rawMan, err = json.Marshal(man); err != nil {
			return err
		}
		if err := s.replaceManifest(img.ID, rawMan); err != nil {
			return err
		}
	}
	mt := man.MediaType
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	tagRef := repo.Tag(named.(reference.Tagged).Tag())
	if err := remote.Put(tagRef, rawManifest{raw: rawMan, mt: types.MediaType(mt)}, opts...); err != nil {
		return registryError(err, named, false)
	}
	for _, l := range man.Layers {
		s.addSource(l.Digest, repo.String())
	}
	md := digest.FromBytes(rawMan)
	progress(Progress{Status: fmt.Sprintf("%s: digest: %s size: %d", tagRef.TagStr(), md, len(rawMan))})
	progress(Progress{Aux: map[string]any{"Tag": tagRef.TagStr(), "Digest": md.String(), "Size": len(rawMan)}})
	s.publish("push", img.ID.String(), named.String())
	return nil
}

// fixedKeychain hands out one authenticator for every registry.
type fixedKeychain struct{ a authn.Authenticator }

func (k fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// manifestOf reads an image's stored manifest.
func (s *Service) manifestOf(img *Image) (*storedManifest, []byte, error) {
	raw, err := s.content.ReadAll(img.Manifest)
	if err != nil {
		return nil, nil, err
	}
	var m storedManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("manifest of %s: %w", img.ID, err)
	}
	return &m, raw, nil
}

// compressed returns a gzip-compressed form of layer blob l, making and
// storing it (with parallel gzip) if l is uncompressed.
func (s *Service) compressed(l ocispec.Descriptor, docker bool) (ocispec.Descriptor, error) {
	if l.MediaType != ocispec.MediaTypeImageLayer && l.MediaType != dockerLayer {
		return l, nil
	}
	src, err := s.content.Open(l.Digest)
	if err != nil {
		return l, err
	}
	defer src.Close()
	w, err := s.content.Writer()
	if err != nil {
		return l, err
	}
	defer w.Abort()
	zw, err := pgzip.NewWriterLevel(w, 3)
	if err != nil {
		return l, err
	}
	if _, err := io.Copy(zw, src); err != nil {
		return l, err
	}
	if err := zw.Close(); err != nil {
		return l, err
	}
	d, err := w.Commit("")
	if err != nil {
		return l, err
	}
	mt := ocispec.MediaTypeImageLayerGzip
	if docker {
		mt = dockerLayerGzip
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: w.Size()}, nil
}

// replaceManifest makes raw (the same image, layers compressed) image
// id's manifest; garbage collection drops the old blobs later.
func (s *Service) replaceManifest(id digest.Digest, raw []byte) error {
	md, err := s.content.Put(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("images"))
		var rec record
		if err := json.Unmarshal(b.Get([]byte(id)), &rec); err != nil {
			return err
		}
		rec.Manifest = md
		v, _ := json.Marshal(rec)
		return b.Put([]byte(id), v)
	})
}

// pushBlob uploads blob d unless the registry has it, mounting it from a
// repository of the same registry it is known to be in.
func (s *Service) pushBlob(repo name.Repository, d ocispec.Descriptor, id string, opts []remote.Option, progress ProgressFunc) error {
	bl := &blobLayer{s: s, desc: d, id: id, progress: progress}
	l, err := partial.CompressedToLayer(bl)
	if err != nil {
		return err
	}
	var from string
	for _, src := range s.sources(d.Digest) {
		if r, err := name.NewRepository(src); err == nil && r.RegistryStr() == repo.RegistryStr() && r.String() != repo.String() {
			l = &remote.MountableLayer{Layer: l, Reference: r.Digest(d.Digest.String())}
			from = r.RepositoryStr()
			break
		}
	}
	mw := &mountWatch{RoundTripper: s.transport(repo.RegistryStr())}
	if err := remote.WriteLayer(repo, l, append(opts, remote.WithTransport(mw))...); err != nil {
		return err
	}
	switch {
	case bl.sent:
		progress(Progress{ID: id, Status: "Pushed"})
	case mw.mounted.Load():
		progress(Progress{ID: id, Status: "Mounted from " + from})
	default:
		progress(Progress{ID: id, Status: "Layer already exists"})
	}
	return nil
}

// mountWatch notes whether the registry answered a cross-repository
// mount request with 201 Created: the blob was mounted, not uploaded.
type mountWatch struct {
	http.RoundTripper
	mounted atomic.Bool
}

func (m *mountWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := m.RoundTripper.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && resp.StatusCode == http.StatusCreated {
		if q := r.URL.Query(); q.Get("mount") != "" && q.Get("from") != "" {
			m.mounted.Store(true)
		}
	}
	return resp, err
}

// blobLayer is a stored blob as go-containerregistry's compressed layer.
type blobLayer struct {
	s        *Service
	desc     ocispec.Descriptor
	id       string // what progress calls the layer
	progress ProgressFunc
	mu       sync.Mutex
	sent     bool
}

func (b *blobLayer) Digest() (v1.Hash, error) { return v1.NewHash(b.desc.Digest.String()) }
func (b *blobLayer) Size() (int64, error)     { return b.desc.Size, nil }
func (b *blobLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(b.desc.MediaType), nil
}
func (b *blobLayer) Compressed() (io.ReadCloser, error) {
	f, err := b.s.content.Open(b.desc.Digest)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.sent = true
	b.mu.Unlock()
	pc := &progressCounter{id: b.id, status: "Pushing", total: b.desc.Size, progress: b.progress}
	return struct {
		io.Reader
		io.Closer
	}{io.TeeReader(f, pc), f}, nil
}

// rawManifest is a manifest to put as it is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// sources are the repositories (registry/path) blob d is known to be in.
func (s *Service) sources(d digest.Digest) []string {
	var out []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("sources")).Get([]byte(d)); v != nil {
			_ = json.Unmarshal(v, &out)
		}
		return nil
	})
	return out
}

// addSource remembers that blob d is in repository repo.
func (s *Service) addSource(d digest.Digest, repo string) {
	_ = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("sources"))
		var list []string
		if v := b.Get([]byte(d)); v != nil {
			_ = json.Unmarshal(v, &list)
		}
		if slices.Contains(list, repo) {
			return nil
		}
		list = append([]string{repo}, list...)
		if len(list) > 8 {
			list = list[:8]
		}
		v, _ := json.Marshal(list)
		return b.Put([]byte(d), v)
	})
}
