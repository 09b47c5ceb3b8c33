package registry

import (
	"encoding/json"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestDoc is the union of the manifest and index fields the registry
// looks at.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// Media types of manifests the registry accepts.
var manifestTypes = map[string]bool{
	ocispec.MediaTypeImageManifest:                              true,
	ocispec.MediaTypeImageIndex:                                 true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func subjectOf(body []byte) digest.Digest {
	var m manifestDoc
	if json.Unmarshal(body, &m) != nil || m.Subject == nil {
		return ""
	}
	return m.Subject.Digest
}

// foreign reports whether a layer need not be pushed: non-distributable
// layers and layers with URLs live elsewhere.
func foreign(d ocispec.Descriptor) bool {
	return len(d.URLs) > 0 || strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, "foreign")
}

// descriptorFor is how a manifest appears in a referrers list.
func descriptorFor(m *Manifest) ocispec.Descriptor {
	var doc manifestDoc
	_ = json.Unmarshal(m.Body, &doc)
	d := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)),
		ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	if d.ArtifactType == "" && doc.Config != nil {
		d.ArtifactType = doc.Config.MediaType
	}
	return d
}
