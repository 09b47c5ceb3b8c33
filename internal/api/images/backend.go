package images

import (
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berthproject/berth/internal/image"
)

// Backend is what these routes need from the image service.
type Backend interface {
	List() ([]*image.Image, error)
	Get(ref string) (*image.Image, error)
	Import(r io.Reader, ref, message string, changes []string) (digest.Digest, error)
	Pull(ref string) (digest.Digest, error)
	Load(r io.Reader) ([]string, error)
	Save(refs []string, w io.Writer) error
	Tag(src, ref string) error
	Remove(ref string, force, noPrune bool) ([]image.DeleteItem, error)
	Prune(all bool) ([]image.DeleteItem, error)
}
