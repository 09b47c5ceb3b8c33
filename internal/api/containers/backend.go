package containers

import (
	"context"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/opencontainers/cgroups"

	ctr "github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/logs"
)

// Backend is what these routes need from the container service.
type Backend interface {
	Create(name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (ctr.CreateResult, error)
	Get(ref string) (ctr.Record, error)
	List() []ctr.Record
	Start(ctx context.Context, ref string) error
	Stop(ctx context.Context, ref string, timeout *int, sig string) error
	Restart(ctx context.Context, ref string, timeout *int, sig string) error
	Kill(ref, sig string) error
	// Remove removes a container; with volumes its anonymous volumes too.
	Remove(ref string, force, volumes bool) error
	Prune(selects func(ctr.Record) bool) ([]string, int64, error)
	Rename(ref, name string) error
	Update(ref string, u container.UpdateConfig) ([]string, error)
	Pause(ref string) error
	Unpause(ref string) error
	Wait(ctx context.Context, ref, condition string, ready func()) (ctr.WaitResult, error)
	Attach(ctx context.Context, ref string, stdin, stdout, stderr bool) (*ctr.Stream, error)
	Logs(ctx context.Context, ref string, opts logs.ReadOptions, fn func(logs.Entry) error) (bool, error)
	Resize(ref string, h, w uint16) error
	Top(ref, psArgs string) ([]string, [][]string, error)
	Stats(ref string) (ctr.Record, *cgroups.Stats, error)
	Size(ref string) (rw, rootfs int64, err error)
	StatPath(ref, path string) (container.PathStat, error)
	ArchivePath(ref, path string) (io.ReadCloser, container.PathStat, error)
	ExtractTo(ref, path string, r io.Reader, o ctr.ExtractOptions) error
	Changes(ref string) ([]container.FilesystemChange, error)
	Export(ref string) (io.ReadCloser, error)
	ExecCreate(ref string, cfg ctr.ExecConfig) (string, error)
	ExecStart(id string, detach bool, consoleSize *[2]uint) (*ctr.Stream, error)
	ExecInspect(id string) (ctr.ExecInfo, error)
	ExecResize(id string, h, w uint16) error
}
