package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/hello"
	"github.com/berthproject/berth/internal/layer"
)

// archiveManifest is one entry of a docker-archive manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Load reads a docker-archive (what `docker save` writes) or an OCI image
// layout archive from r, stores its images and returns one line per image
// ("Loaded image: x:y" or "Loaded image ID: sha256:..."). The archive is
// spooled to the scratch directory first because its entries come in no
// useful order.
func (s *Service) Load(r io.Reader) ([]string, error) {
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	if err := os.MkdirAll(s.tmpDir, 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.tmpDir, "load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dr, _, err := archive.Decompress(r)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("load: " + err.Error())
	}
	defer dr.Close()
	if _, err := archive.Extract(dr, dir, archive.Options{NoLchown: true}); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("load: invalid archive: " + err.Error())
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return s.loadDockerArchive(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return s.loadOCILayout(dir)
	}
	return nil, errdefs.ErrInvalidArgument.WithMessage("load: archive has neither manifest.json (docker-archive) nor index.json (OCI layout)")
}

// inDir resolves an archive-relative name inside dir.
func inDir(dir, name string) string {
	return filepath.Join(dir, path.Clean("/"+name))
}

func (s *Service) loadDockerArchive(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var entries []archiveManifest
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("load: manifest.json: " + err.Error())
	}
	var out []string
	for _, e := range entries {
		cfgJSON, err := os.ReadFile(inDir(dir, e.Config))
		if err != nil {
			return out, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("load: config %s: %v", e.Config, err))
		}
		files := make([]string, len(e.Layers))
		for i, l := range e.Layers {
			files[i] = inDir(dir, l)
		}
		lines, err := s.storeImage(cfgJSON, files, e.RepoTags)
		if err != nil {
			return out, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

func (s *Service) loadOCILayout(dir string) ([]string, error) {
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()) }
	readJSON := func(p string, v any) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	var index ocispec.Index
	if err := readJSON(filepath.Join(dir, "index.json"), &index); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("load: index.json: " + err.Error())
	}
	var out []string
	var visit func(descs []ocispec.Descriptor, name string) error
	visit = func(descs []ocispec.Descriptor, name string) error {
		for _, d := range descs {
			n := name
			if v := d.Annotations["io.containerd.image.name"]; v != "" {
				n = v
			} else if v := d.Annotations[ocispec.AnnotationRefName]; v != "" && n == "" && strings.ContainsAny(v, ":/") {
				n = v
			}
			switch d.MediaType {
			case ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
				var idx ocispec.Index
				if err := readJSON(blob(d.Digest), &idx); err != nil {
					return err
				}
				// Keep only this machine's platform.
				var mine []ocispec.Descriptor
				for _, m := range idx.Manifests {
					if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
						mine = append(mine, m)
						break
					}
				}
				if err := visit(mine, n); err != nil {
					return err
				}
			default:
				var man ocispec.Manifest
				if err := readJSON(blob(d.Digest), &man); err != nil {
					return err
				}
				cfgJSON, err := os.ReadFile(blob(man.Config.Digest))
				if err != nil {
					return err
				}
				var files []string
				for _, l := range man.Layers {
					files = append(files, blob(l.Digest))
				}
				var tags []string
				if n != "" {
					tags = []string{n}
				}
				lines, err := s.storeImage(cfgJSON, files, tags)
				if err != nil {
					return err
				}
				out = append(out, lines...)
			}
		}
		return nil
	}
	if err := visit(index.Manifests, ""); err != nil {
		return out, errdefs.ErrInvalidArgument.WithMessage("load: " + err.Error())
	}
	return out, nil
}

// storeImage applies the layer files of one image (skipping layers already
// present), verifies them against the config's diff IDs and records it.
func (s *Service) storeImage(cfgJSON []byte, layerFiles []string, repoTags []string) ([]string, error) {
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("load: image config: " + err.Error())
	}
	if len(cfg.RootFS.DiffIDs) != len(layerFiles) {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("load: image config lists %d layers, archive has %d", len(cfg.RootFS.DiffIDs), len(layerFiles)))
	}
	var tags []string
	for _, t := range repoTags {
		named, err := NormalizeRef(t)
		if err != nil {
			return nil, err
		}
		tags = append(tags, named.String())
	}
	var layers []newLayer
	var parent digest.Digest
	for i, f := range layerFiles {
		diffID := cfg.RootFS.DiffIDs[i]
		chain := layer.ChainID(parent, diffID)
		nl, err := s.layerFromFile(parent, chain, diffID, f)
		if err != nil {
			return nil, err
		}
		layers = append(layers, nl)
		parent = chain
	}
	// Store the config exactly as given, so the image ID matches Docker's.
	id, err := s.content.Put(cfgJSON)
	if err != nil {
		return nil, err
	}
	if _, err := s.commitRaw(id, cfgJSON, layers, tags); err != nil {
		return nil, err
	}
	var lines []string
	for _, t := range tags {
		lines = append(lines, "Loaded image: "+FamiliarRef(t))
		s.publish("load", id.String(), t)
	}
	if len(tags) == 0 {
		lines = append(lines, "Loaded image ID: "+id.String())
		s.publish("load", id.String(), "")
	}
	return lines, nil
}

func (s *Service) layerFromFile(parent, chain, diffID digest.Digest, file string) (newLayer, error) {
	f, err := os.Open(file)
	if err != nil {
		return newLayer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("load: layer %s: %v", diffID, err))
	}
	defer f.Close()
	if s.layers.Has(chain) {
		// Already unpacked: keep the blob, but only once it proves to be
		// the layer its diff ID names.
		w, err := s.content.Writer()
		if err != nil {
			return newLayer{}, err
		}
		defer w.Abort()
		dr, comp, err := archive.Decompress(io.TeeReader(f, w))
		if err != nil {
			return newLayer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("load: layer %s: %v", diffID, err))
		}
		h := sha256.New()
		_, err = io.Copy(h, dr)
		dr.Close()
		if err != nil {
			return newLayer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("load: layer %s: %v", diffID, err))
		}
		if _, err := io.Copy(w, f); err != nil { // whatever follows the compressed stream
			return newLayer{}, err
		}
		if got := digest.NewDigest(digest.SHA256, h); got != diffID {
			return newLayer{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("layer content %s does not match its diff ID %s", got, diffID))
		}
		d, err := w.Commit("")
		if err != nil {
			return newLayer{}, err
		}
		l, _ := s.layers.Get(chain)
		return newLayer{desc: ocispec.Descriptor{MediaType: layerMediaType(comp), Digest: d, Size: w.Size()}, l: l}, nil
	}
	return s.ingestLayer(parent, f, diffID)
}

// Save writes the images named by refs to w as one archive in the
// docker-archive format (manifest.json, repositories) that also is an OCI
// image layout (oci-layout, index.json, blobs/), as Docker 25+ writes it.
// Layers are written uncompressed, named by their diff IDs.
func (s *Service) Save(refs []string, w io.Writer) error {
	type item struct {
		img  *Image
		tags []string
	}
	var items []item
	for _, r := range refs {
		img, err := s.Get(r)
		if err != nil {
			return err
		}
		var tags []string
		if named, err := NormalizeRef(r); err == nil && !strings.HasPrefix(r, "sha256:") && !isHex(r) {
			tags = []string{named.String()}
		}
		items = append(items, item{img, tags})
	}
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	written := map[string]bool{}
	writeFile := func(name string, b []byte) error {
		if written[name] {
			return nil
		}
		written[name] = true
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	var manifests []archiveManifest
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	repos := map[string]map[string]string{}
	for _, it := range items {
		cfgJSON, err := s.content.ReadAll(it.img.ID)
		if err != nil {
			return err
		}
		if err := writeFile("blobs/sha256/"+it.img.ID.Encoded(), cfgJSON); err != nil {
			return err
		}
		man := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: it.img.ID, Size: int64(len(cfgJSON))}}
		man.SchemaVersion = 2
		am := archiveManifest{Config: "blobs/sha256/" + it.img.ID.Encoded()}
		stored, err := s.storedManifest(it.img.Manifest)
		if err != nil {
			return err
		}
		for i, diffID := range it.img.Config.RootFS.DiffIDs {
			name := "blobs/sha256/" + diffID.Encoded()
			size, err := s.writeLayer(tw, name, stored.Layers[i].Digest, written)
			if err != nil {
				return err
			}
			am.Layers = append(am.Layers, name)
			man.Layers = append(man.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: size})
		}
		manJSON, _ := json.Marshal(man)
		manDigest := digest.FromBytes(manJSON)
		if err := writeFile("blobs/sha256/"+manDigest.Encoded(), manJSON); err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: manDigest, Size: int64(len(manJSON))}
		for _, t := range it.tags {
			am.RepoTags = append(am.RepoTags, FamiliarRef(t))
			d := desc
			d.Annotations = map[string]string{"io.containerd.image.name": t, ocispec.AnnotationRefName: t[strings.LastIndex(t, ":")+1:]}
			index.Manifests = append(index.Manifests, d)
			fam := FamiliarRef(t)
			repo, tag := fam[:strings.LastIndex(fam, ":")], fam[strings.LastIndex(fam, ":")+1:]
			if repos[repo] == nil {
				repos[repo] = map[string]string{}
			}
			repos[repo][tag] = it.img.ID.Encoded()
		}
		if len(it.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		manifests = append(manifests, am)
	}
	mj, _ := json.Marshal(manifests)
	ij, _ := json.Marshal(index)
	rj, _ := json.Marshal(repos)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"manifest.json", mj}, {"index.json", ij}, {"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"repositories", rj}} {
		if err := writeFile(f.name, f.b); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (s *Service) storedManifest(d digest.Digest) (ocispec.Manifest, error) {
	var man ocispec.Manifest
	b, err := s.content.ReadAll(d)
	if err != nil {
		return man, err
	}
	return man, json.Unmarshal(b, &man)
}

// writeLayer writes the stored blob, decompressed, as a tar entry.
func (s *Service) writeLayer(tw *tar.Writer, name string, blob digest.Digest, written map[string]bool) (int64, error) {
	f, err := s.content.Open(blob)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dr, comp, err := archive.Decompress(f)
	if err != nil {
		return 0, err
	}
	defer dr.Close()
	var size int64
	var src io.Reader = dr
	if comp == archive.Uncompressed {
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		size = fi.Size()
	} else {
		// The tar header needs the size first: spool the decompressed bytes.
		tmp, err := os.CreateTemp("", "berth-save-")
		if err != nil {
			return 0, err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if size, err = io.Copy(tmp, dr); err != nil {
			return 0, err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		src = tmp
	}
	if written[name] {
		return size, nil
	}
	written[name] = true
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
		return 0, err
	}
	_, err = io.Copy(tw, src)
	return size, err
}

// HelloWorldRef is the reference of the built-in image.
const HelloWorldRef = "docker.io/library/hello-world:latest"

// pullHelloWorld makes the built-in hello-world image from a program
// inside berth, so `run hello-world` works with no registry.
func (s *Service) pullHelloWorld(named reference.Named, progress ProgressFunc) (digest.Digest, error) {
	progress(Progress{ID: "latest", Status: "Pulling from " + reference.FamiliarName(named)})
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	rootfs, err := hello.RootfsTar()
	if err != nil {
		return "", errdefs.ErrNotImplemented.WithMessage(err.Error())
	}
	cfg := platformConfig(hello.Created)
	cfg.Config.Cmd = []string{"/hello"}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	nl, err := s.ingestLayer("", bytes.NewReader(rootfs), "")
	if err != nil {
		return "", err
	}
	cfg.RootFS.DiffIDs = []digest.Digest{nl.l.DiffID}
	cfg.History = []ocispec.History{{Created: cfg.Created, CreatedBy: "berth built-in hello-world"}}
	id, err := s.commit(cfg, []newLayer{nl}, []string{named.String()})
	if err == nil {
		progress(Progress{Status: "Digest: " + id.String()})
		progress(Progress{Status: "Status: Downloaded newer image for " + FamiliarRef(named.String())})
		s.publish("pull", id.String(), named.String())
	}
	return id, err
}
