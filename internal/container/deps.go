package container

import (
	"bufio"
	"context"
	"net"
	"syscall"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/internal/runtime"
	"github.com/berthproject/berth/internal/shim"
)

// Networks is what the service needs of the network service
// (internal/network): a container's endpoint on the default bridge or a
// user-defined network.
type Networks interface {
	// Attach makes container id's network namespace (the file returned,
	// which the runtime joins) connected to the default bridge, with ports
	// published (bound: the host ports chosen).
	// netName is the default bridge ("bridge") or a user-defined network.
	// want carries what the user asked of the endpoint (--ip,
	// --mac-address) and the names the embedded DNS of a user-defined
	// network answers with its address (DNSNames); servers are where that
	// DNS forwards other names (the container's --dns, else the host's).
	Attach(id, netName string, ports nat.PortMap, want *network.EndpointSettings, servers []string) (netns string, ep *network.EndpointSettings, bound nat.PortMap, err error)
	// Lookup resolves a network mode naming a user-defined network to
	// its name.
	Lookup(ref string) (string, error)
	// Connect connects running container id, attached already, to one
	// more network (want and servers as for Attach).
	Connect(id, netName string, want *network.EndpointSettings, servers []string) (*network.EndpointSettings, error)
	// Disconnect undoes Connect.
	Disconnect(id, netName string) error
	// Rename has the embedded DNS answer to newName instead of oldName.
	Rename(id, oldName, newName string) error
	// Release undoes Attach and Connect; releasing what is not attached
	// does nothing.
	Release(id string) error
}

// Volumes is what the service needs of the volume service
// (internal/volume): a container's named and anonymous volumes.
type Volumes interface {
	// Acquire returns volume name's data directory, making the volume if
	// it does not exist (name "": an anonymous one, whose name is
	// returned) with labels and the local driver's opts, and records
	// that container ctr uses it.
	Acquire(name, ctr string, labels, opts map[string]string) (string, string, error)
	// Mount readies the volume for a starting container (a volume with
	// -o type= is mounted for its first user); Unmount undoes it.
	Mount(name string) (string, error)
	Unmount(name string)
	// Remounted counts a running container the daemon re-adopted.
	Remounted(name string)
	// CopyUp fills the volume from src (the image's content) if it is
	// empty.
	CopyUp(name, src string) error
	// Release records that ctr no longer uses the volume, and removes it
	// when remove is set and no one else uses it.
	Release(name, ctr string, remove bool) error
}

// Layers is what the service needs of the layer store (internal/layer):
// a container's read-write layer and its mounted root.
type Layers interface {
	PrepareRW(id string) error
	Mount(id string, image digest.Digest) (string, error)
	Unmount(id string) error
	RemoveRW(id string) error
	RWIDs() ([]string, error)
	RWSize(id string) (int64, error)
	// RWDiff is container id's read-write layer (overlayfs's upper
	// directory); Lowers an image's layer directories, top first.
	RWDiff(id string) string
	Lowers(image digest.Digest) ([]string, error)
}

// Runtime is what the service needs of the container runtime
// (internal/runtime): shims that run containers.
type Runtime interface {
	Create(ctx context.Context, o runtime.CreateOpts) (Task, error)
	Task(id string) Task
	Delete(id string) error
	Bundles() []string
}

// Task is one container's shim.
type Task interface {
	Start() (int, error)
	State() (*shim.Response, error)
	Wait(ctx context.Context) (*shim.ExitStatus, error)
	Exit() (*shim.ExitStatus, error)
	Kill(sig syscall.Signal) error
	Pause() error
	Resume() error
	Update(r *specs.LinuxResources) error
	Attach(stdin, stdout, stderr bool) (net.Conn, *bufio.Reader, error)
	Exec(execID string, p *specs.Process, stdin bool) (net.Conn, *bufio.Reader, error)
	ExecState(execID string) (running bool, pid, code int, err error)
	Resize(execID string, h, w uint16) error
	CloseStdin(execID string) error
	Pids() ([]int, error)
	Stats() (*cgroups.Stats, error)
	Spec() (*specs.Spec, error)
}

// Shims adapts *runtime.Runtime to Runtime.
func Shims(rt *runtime.Runtime) Runtime { return shims{rt} }

type shims struct{ rt *runtime.Runtime }

func (s shims) Create(ctx context.Context, o runtime.CreateOpts) (Task, error) {
	t, err := s.rt.Create(ctx, o)
	if err != nil {
		return nil, err
	}
	return t, nil
}
func (s shims) Task(id string) Task    { return s.rt.Task(id) }
func (s shims) Delete(id string) error { return s.rt.Delete(id) }
func (s shims) Bundles() []string      { return s.rt.Bundles() }
