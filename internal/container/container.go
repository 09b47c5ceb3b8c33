package container

import (
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/opencontainers/go-digest"
)

// State is a container's run state as inspect shows it.
type State struct {
	Status     string // created, running, paused, restarting, removing, exited, dead
	Pid        int
	ExitCode   int
	Error      string
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
}

// RecordVersion is the format of the records this service writes. Fields
// are only added, with zero values that mean the old behaviour; Restore
// leaves alone (and says so) a record of a newer format than this.
//
//	0 (absent) berth up to 0.1.0 (commit bdcf924)
//	1          LogConfig types local and none; "removing" is persisted
const RecordVersion = 1

// Record is what the service persists per container.
type Record struct {
	Version      int `json:",omitempty"`
	ID           string
	Name         string // with the leading "/"
	Created      time.Time
	Path         string
	Args         []string
	Config       *container.Config
	HostConfig   *container.HostConfig
	Image        digest.Digest // image ID
	ImageTop     digest.Digest // chain ID of the image's top layer
	State        State
	RestartCount int
	ManualStop   bool // stopped by the user: restart policies hold off
	LogPath      string
	Dir          string // data-root/containers/<id>
	// Networks are the container's endpoints while it runs (by network
	// name); SandboxKey its network namespace file.
	Networks   map[string]*network.EndpointSettings `json:",omitempty"`
	SandboxKey string                               `json:",omitempty"`
	// Ports are the published ports while it runs, with the host ports
	// chosen.
	Ports nat.PortMap `json:",omitempty"`
	// Endpoint is what create asked of the container's endpoint (--ip,
	// --mac-address), kept for every start.
	Endpoint *network.EndpointSettings `json:",omitempty"`
	// MountPoints are its -v and --mount mounts, as create checked them.
	MountPoints []MountPoint `json:",omitempty"`
	// Extra are the networks the container is on beyond its network
	// mode's (NetworkingConfig at create, network connect), by name, with
	// what was asked of each endpoint; every start connects them.
	Extra map[string]*network.EndpointSettings `json:",omitempty"`
}

// NetworkName is the network the container's mode puts it on: "bridge"
// (the default one), a user-defined network's name, or "host", "none",
// "container:REF".
func (r *Record) NetworkName() string {
	switch m := r.HostConfig.NetworkMode; {
	case m == "", m == "default":
		return "bridge"
	default:
		return string(m)
	}
}

// detach leaves what inspect shows of a stopped container's networks, as
// Docker: each network, without address or endpoint (a --ip stays).
func (r *Record) detach() {
	if r.Networks != nil {
		out := map[string]*network.EndpointSettings{}
		for name, ep := range r.Networks {
			out[name] = &network.EndpointSettings{NetworkID: ep.NetworkID, IPAMConfig: ep.IPAMConfig}
		}
		r.Networks = out
	}
	r.SandboxKey, r.Ports = "", nil
}

// Running reports whether the container's process is alive.
func (r *Record) Running() bool {
	return r.State.Status == "running" || r.State.Status == "paused" || r.State.Status == "restarting"
}

// entry is the in-memory side of a container.
type entry struct {
	mu     sync.Mutex
	rec    Record
	exitCh chan struct{} // closed at the next exit, then replaced

	rmCh    chan struct{} // closed when the container is removed
	removed bool          // rmCh is closed
	// attachers waiting for a start (attach before start)
	pending []*pendingAttach
	// starting is set while a start (the user's or the restart policy's)
	// is under way without holding mu; startDone is closed when it ends.
	// A removal waits for it: it must never remove what a start is
	// creating, nor a start bring back what was removed.
	starting  bool
	startDone chan struct{}
	// removing is set from the moment a removal is decided (before its
	// kill) until it ends: no start may begin meanwhile.
	removing bool
	// userRestart is set while `restart` stops and starts the container:
	// its exit then is no reason to remove a --rm container.
	userRestart bool
}

// beginStart marks a start under way; callers hold e.mu.
func (e *entry) beginStart() {
	e.starting = true
	e.startDone = make(chan struct{})
}

// endStart marks the start ended; callers hold e.mu.
func (e *entry) endStart() {
	e.starting = false
	close(e.startDone)
}

// waitStarts returns, with e.mu held again, once no start is under way;
// callers hold e.mu.
func (e *entry) waitStarts() {
	for e.starting {
		done := e.startDone
		e.mu.Unlock()
		<-done
		e.mu.Lock()
	}
}

type pendingAttach struct {
	ready chan error // the container was created: connect now
	done  chan struct{}
}

// WaitResult is what a waiter gets.
type WaitResult struct {
	StatusCode int
	Error      string
}

// Snapshot returns a copy of the record under the lock.
func (e *entry) snapshot() Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.rec
	return r
}
