package container

import (
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
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

// Record is what the service persists per container.
type Record struct {
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

	rmCh chan struct{}
	// attachers waiting for a start (attach before start)
	pending  []*pendingAttach
	starting bool
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
