package images

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berthproject/berth/internal/image"
)

// Backend is what these routes need from the image service.
type Backend interface {
	List() ([]*image.Image, error)
	Get(ref string) (*image.Image, error)
	Import(r io.Reader, ref, message string, changes []string) (digest.Digest, error)
	Pull(ctx context.Context, ref, platform string, auth image.Auth, progress image.ProgressFunc) (digest.Digest, error)
	Push(ctx context.Context, ref, tag string, auth image.Auth, progress image.ProgressFunc) error
	Login(ctx context.Context, server string, auth image.Auth) error
	Load(r io.Reader) ([]string, error)
	Save(refs []string, w io.Writer) error
	Tag(src, ref string) error
	Remove(ref string, force, noPrune bool) ([]image.DeleteItem, error)
	Prune(all bool, selects func(*image.Image) bool) ([]image.DeleteItem, int64, error)
}
