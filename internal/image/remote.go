package image

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/layer"
)

// Registries is how the image service reaches registries (daemon.json's
// insecure-registries and registry-mirrors).
type Registries struct {
	// Insecure lists registries (host[:port] or CIDR) that may be reached
	// over plain HTTP or unverified TLS. Loopback always may, as in Docker.
	Insecure []string
	// Mirrors are tried, in order, before Docker Hub for Hub images.
	Mirrors []string
}

// Auth is the credentials a client sent for a registry (X-Registry-Auth).
type Auth struct {
	Username, Password, IdentityToken, RegistryToken string
}

func (a Auth) authenticator() authn.Authenticator {
	if a == (Auth{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password,
		IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken})
}

// Progress is one line of pull or push progress, as Docker words it.
type Progress struct {
	ID      string // short layer digest, or a tag
	Status  string
	Current int64
	Total   int64
	Aux     any
}

// ProgressFunc receives progress; it must not block for long.
type ProgressFunc func(Progress)

// leaseTTL is how long blobs and layers of an unfinished pull survive
// garbage collection, so that the next pull reuses them.
const leaseTTL = 24 * time.Hour

func (s *Service) insecure(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, e := range s.Registries.Insecure {
		e = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"), "/")
		if e == host || e == h {
			return true
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil && ip != nil && cidr.Contains(ip) {
			return true
		}
	}
	return false
}

// remoteRefs are the places to fetch named from: mirrors first for Docker
// Hub images, then the registry the name says.
func (s *Service) remoteRefs(named reference.Named) ([]name.Reference, error) {
	var hosts []string
	domain := reference.Domain(named)
	if domain == "docker.io" {
		for _, m := range s.Registries.Mirrors {
			if u, err := url.Parse(m); err == nil && u.Host != "" {
				hosts = append(hosts, u.Host)
			}
		}
	}
	hosts = append(hosts, domain)
	var refs []name.Reference
	for _, h := range hosts {
		r := h + "/" + reference.Path(named)
		if d, ok := named.(reference.Digested); ok {
			r += "@" + d.Digest().String()
		} else if t, ok := named.(reference.Tagged); ok {
			r += ":" + t.Tag()
		}
		var opts []name.Option
		if s.insecure(h) {
			opts = append(opts, name.Insecure)
		}
		ref, err := name.ParseReference(r, opts...)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %v", err))
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// transport is how requests reach the registry at host: for insecure
// registries TLS certificates are not verified (a self-signed registry
// works, as in Docker; plain HTTP is tried after HTTPS); the others get
// the system's roots.
func (s *Service) transport(host string) http.RoundTripper {
	if !s.insecure(host) {
		return http.DefaultTransport
	}
	s.insecureOnce.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the registry is listed as insecure
		s.insecureTr = t
	})
	return s.insecureTr
}

func (s *Service) remoteOptions(ctx context.Context, auth Auth, host string) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth.authenticator()),
		remote.WithUserAgent("berth"), remote.WithJobs(4), remote.WithTransport(s.transport(host))}
}

// registryError turns a registry client error into an error kind, with
// Docker's wording where clients look for it.
func registryError(err error, named reference.Named, pull bool) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			if pull {
				return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login': %v",
					reference.FamiliarName(named), te))
			}
			if te.StatusCode == http.StatusNotFound {
				return errdefs.ErrNotFound.WithMessage(err.Error())
			}
			return errdefs.ErrUnauthenticated.WithMessage(err.Error())
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errdefs.IsNotImplemented(err) {
		return err
	}
	return errdefs.ErrUnavailable.WithMessage(err.Error())
}

func hostPlatform(p string) (*v1.Platform, error) {
	if p == "" {
		plat := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
		if runtime.GOARCH == "arm64" {
			plat.Variant = "v8"
		}
		return &plat, nil
	}
	plat, err := v1.ParsePlatform(p)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid platform %q: %v", p, err))
	}
	return plat, nil
}

func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// Pull fetches ref from its registry (mirrors first for Docker Hub) for
// platform ("" is this machine's) and tags it. Layers download in
// parallel, each unpacked while it arrives once the layer below it is in
// place; layers already present are neither fetched nor unpacked. Every
// blob is verified against its digest; nothing is recorded until all of
// it is in place, and what a failed pull stored is kept for a day so the
// next pull resumes from it.
func (s *Service) Pull(ctx context.Context, ref, platform string, auth Auth, progress ProgressFunc) (digest.Digest, error) {
	named, err := NormalizeRef(ref)
	if err != nil {
		return "", err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	if named.String() == HelloWorldRef {
		return s.pullHelloWorld(named, progress)
	}
	plat, err := hostPlatform(platform)
	if err != nil {
		return "", err
	}
	refs, err := s.remoteRefs(named)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx) // stops every download when the pull fails
	defer cancel()
	var desc *remote.Descriptor
	var from name.Reference
	for _, r := range refs {
		from = r
		opts := append(s.remoteOptions(ctx, auth, r.Context().RegistryStr()), remote.WithPlatform(*plat))
		if desc, err = remote.Get(r, opts...); err == nil {
			break
		}
	}
	if err != nil {
		return "", registryError(err, named, true)
	}
	tagOrDigest := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	} else if d, ok := named.(reference.Digested); ok {
		tagOrDigest = d.Digest().String()
	}
	progress(Progress{ID: tagOrDigest, Status: "Pulling from " + reference.FamiliarName(named)})
	img, err := desc.Image()
	if err != nil {
		if strings.Contains(err.Error(), "no child with platform") {
			return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no matching manifest for %s in the manifest list entries", plat))
		}
		return "", registryError(err, named, true)
	}
	id, err := s.pullImage(ctx, cancel, img, progress)
	if err != nil {
		return "", registryError(err, named, true)
	}
	if mf, err := img.Manifest(); err == nil {
		for _, l := range mf.Layers {
			s.addSource(digest.Digest(l.Digest.String()), from.Context().String())
		}
	}
	var tags []string
	if _, ok := named.(reference.Tagged); ok {
		tags = []string{named.String()}
	}
	upToDate := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		upToDate = len(tags) > 0 && string(tx.Bucket([]byte("tags")).Get([]byte(tags[0]))) == id.String()
		return nil
	})
	if len(tags) > 0 {
		if err := s.tagID(id, tags[0]); err != nil {
			return "", err
		}
	}
	progress(Progress{Status: "Digest: " + desc.Digest.String()})
	if upToDate {
		progress(Progress{Status: "Status: Image is up to date for " + FamiliarRef(named.String())})
	} else {
		progress(Progress{Status: "Status: Downloaded newer image for " + FamiliarRef(named.String())})
	}
	s.publish("pull", id.String(), named.String())
	return id, nil
}

// tagID points tag at image id.
func (s *Service) tagID(id digest.Digest, tag string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("tags")).Put([]byte(tag), []byte(id))
	})
}

// lease protects digests (blobs and layer chain IDs) from garbage
// collection until release or leaseTTL.
func (s *Service) lease(ds ...digest.Digest) error {
	exp, _ := time.Now().Add(leaseTTL).MarshalText()
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, d := range ds {
			if err := tx.Bucket([]byte("leases")).Put([]byte(d), exp); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) release(ds ...digest.Digest) {
	_ = s.db.Update(func(tx *bolt.Tx) error {
		for _, d := range ds {
			_ = tx.Bucket([]byte("leases")).Delete([]byte(d))
		}
		return nil
	})
}

// leased returns the unexpired leases and drops expired ones.
func (s *Service) leased() map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	now := time.Now()
	_ = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("leases"))
		var expired [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			var t time.Time
			if t.UnmarshalText(v) == nil && now.Before(t) {
				out[digest.Digest(k)] = true
			} else {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range expired {
			_ = b.Delete(k)
		}
		return nil
	})
	return out
}

// download is one layer blob on its way into the content store.
type download struct {
	g    *growingFile
	path string // the ingest file, readable while it grows
	r    *os.File
}

// pullImage stores img's blobs and layers and records the image.
// cancel stops the downloads (their requests carry the context of the
// remote options); it runs before waiting for them, so a failed unpack
// does not wait for every download to end.
func (s *Service) pullImage(ctx context.Context, cancel context.CancelFunc, img v1.Image, progress ProgressFunc) (digest.Digest, error) {
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	rawMan, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	manDigest := digest.FromBytes(rawMan)
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return "", err
	}
	mf, err := img.Manifest()
	if err != nil {
		return "", err
	}
	id := digest.Digest(mf.Config.Digest.String())
	if got := digest.FromBytes(rawCfg); got != id {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image config digest %s does not match the manifest's %s", got, id))
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(rawCfg, &cfg); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("image config: " + err.Error())
	}
	if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image has %d layers but its config lists %d diff IDs", len(mf.Layers), len(cfg.RootFS.DiffIDs)))
	}
	chains := make([]digest.Digest, len(mf.Layers))
	toLease := []digest.Digest{id, manDigest}
	var chain digest.Digest
	for i, d := range cfg.RootFS.DiffIDs {
		chain = layer.ChainID(chain, d)
		chains[i] = chain
		toLease = append(toLease, chain, digest.Digest(mf.Layers[i].Digest.String()))
	}
	if err := s.lease(toLease...); err != nil {
		return "", err
	}
	// Start every download that is needed, at most 4 at once.
	downloads := make([]*download, len(mf.Layers))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, l := range mf.Layers {
		bd := digest.Digest(l.Digest.String())
		if bd.Validate() != nil {
			return "", errdefs.ErrInvalidArgument.WithMessage("invalid layer digest " + l.Digest.String())
		}
		if s.content.Has(bd) {
			continue // complete already (an earlier, interrupted pull got it)
		}
		progress(Progress{ID: shortID(bd), Status: "Pulling fs layer"})
		progress(Progress{ID: shortID(bd), Status: "Waiting"})
		w, err := s.content.Writer()
		if err != nil {
			return "", err
		}
		r, err := os.Open(w.Name())
		if err != nil {
			w.Abort()
			return "", err
		}
		dl := &download{g: newGrowingFile(), path: w.Name(), r: r}
		downloads[i] = dl
		defer r.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			dl.g.finish(s.fetchLayer(ctx, img, l, w, dl.g, sem, progress))
		}()
	}
	var layers []newLayer
	var size int64
	for i, l := range mf.Layers {
		bd := digest.Digest(l.Digest.String())
		desc := ocispec.Descriptor{MediaType: string(l.MediaType), Digest: bd, Size: l.Size}
		if s.layers.Has(chains[i]) {
			if dl := downloads[i]; dl != nil { // only the blob was missing
				if err := dl.g.wait(); err != nil {
					return "", err
				}
			}
			progress(Progress{ID: shortID(bd), Status: "Already exists"})
			ll, err := s.layers.Get(chains[i])
			if err != nil {
				return "", err
			}
			layers = append(layers, newLayer{desc: desc, l: ll})
			size += ll.Size
			continue
		}
		var src io.Reader
		if dl := downloads[i]; dl != nil {
			src = &followReader{f: dl.r, g: dl.g}
		} else {
			f, err := s.content.Open(bd)
			if err != nil {
				return "", err
			}
			defer f.Close()
			src = f
		}
		var parent digest.Digest
		if i > 0 {
			parent = chains[i-1]
		}
		progress(Progress{ID: shortID(bd), Status: "Extracting"})
		ll, err := s.layers.Apply(parent, src, cfg.RootFS.DiffIDs[i])
		if err != nil {
			return "", err
		}
		if dl := downloads[i]; dl != nil {
			if err := dl.g.wait(); err != nil {
				return "", err
			}
		}
		progress(Progress{ID: shortID(bd), Status: "Pull complete"})
		layers = append(layers, newLayer{desc: desc, l: ll})
		size += ll.Size
	}
	if _, err := s.content.Put(rawCfg); err != nil {
		return "", err
	}
	if _, err := s.content.Put(rawMan); err != nil {
		return "", err
	}
	if err := s.record(id, manDigest, size); err != nil {
		return "", err
	}
	s.release(toLease...)
	return id, nil
}

// fetchLayer downloads one layer blob of img into w, verifying its
// digest and size, and reports progress.
func (s *Service) fetchLayer(ctx context.Context, img v1.Image, l v1.Descriptor, w *content.Writer, g *growingFile, sem chan struct{}, progress ProgressFunc) error {
	defer w.Abort()
	id := shortID(digest.Digest(l.Digest.String()))
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-sem }()
	rl, err := img.LayerByDigest(l.Digest)
	if err != nil {
		return err
	}
	rc, err := rl.Compressed() // verifies size and digest at EOF
	if err != nil {
		return err
	}
	defer rc.Close()
	pc := &progressCounter{id: id, status: "Downloading", total: l.Size, progress: progress}
	if _, err := io.Copy(io.MultiWriter(w, g, pc), rc); err != nil {
		return err
	}
	progress(Progress{ID: id, Status: "Verifying Checksum"})
	if _, err := w.Commit(digest.Digest(l.Digest.String())); err != nil {
		return err
	}
	progress(Progress{ID: id, Status: "Download complete"})
	return nil
}

// progressCounter reports bytes passing through it, at most every 100 ms.
type progressCounter struct {
	id, status string
	total, n   int64
	last       time.Time
	progress   ProgressFunc
}

func (p *progressCounter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond || p.n == p.total {
		p.last = now
		p.progress(Progress{ID: p.id, Status: p.status, Current: p.n, Total: p.total})
	}
	return len(b), nil
}

// Login checks auth against the registry at server ("host[:port]", a URL,
// or Docker Hub's "https://index.docker.io/v1/").
func (s *Service) Login(ctx context.Context, server string, auth Auth) error {
	host := server
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		host = u.Host
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || host == "docker.io" || host == "index.docker.io" {
		host = name.DefaultRegistry
	}
	var opts []name.Option
	if s.insecure(host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid registry %q: %v", server, err))
	}
	tr, err := transport.NewWithContext(ctx, reg, auth.authenticator(), s.transport(host), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return loginError(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return errdefs.ErrUnauthenticated.WithMessage("login attempt to " + reg.Scheme() + "://" + reg.RegistryStr() + "/v2/ failed with status: " + resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return errdefs.ErrUnavailable.WithMessage("registry " + reg.RegistryStr() + " answered " + resp.Status)
	}
	return nil
}

func loginError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return errdefs.ErrUnauthenticated.WithMessage(err.Error())
	}
	return errdefs.ErrUnavailable.WithMessage(err.Error())
}
