package container

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/internal/db"
	"github.com/berthproject/berth/internal/events"
	"github.com/berthproject/berth/internal/runtime"
	"github.com/berthproject/berth/internal/shim"
)

// The fakes stand in for the shims and the layer store, so that the
// service's state machine (create, start, stop, restart policies, remove,
// restore after a daemon restart) is tested without root. A fake
// container's command says how its process behaves:
//
//	["exit", "N"]      exits with N as soon as it starts
//	["ignore-term"]    survives SIGTERM (a stop must SIGKILL it)
//	["missing"]        cannot start: its executable is not found (127)
//	anything else      runs until a signal kills it (128+signal)

type fakeRuntime struct {
	mu      sync.Mutex
	tasks   map[string]*fakeTask
	nextPid int
}

func newFakeRuntime() *fakeRuntime { return &fakeRuntime{tasks: map[string]*fakeTask{}, nextPid: 100} }

func (r *fakeRuntime) Create(_ context.Context, o runtime.CreateOpts) (Task, error) {
	if o.Spec.Process.Args[0] == "missing" {
		return nil, &shim.Error{Kind: shim.KindNotFound, Msg: `exec: "missing": executable file not found in $PATH`}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &fakeTask{id: o.ID, rt: r, args: o.Spec.Process.Args, spec: o.Spec, status: "created", done: make(chan struct{})}
	r.tasks[o.ID] = t
	return t, nil
}

// Task returns the container's task: a gone one if it has no shim.
func (r *fakeRuntime) Task(id string) Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.tasks[id]; ok {
		return t
	}
	return &fakeTask{id: id, rt: r, gone: true, done: make(chan struct{})}
}

func (r *fakeRuntime) Delete(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tasks, id)
	return nil
}

func (r *fakeRuntime) Bundles() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.tasks {
		ids = append(ids, id)
	}
	return ids
}

// daemonDied ends every Wait under way, as a daemon's death ends its
// monitors; the tasks (the shims) live on.
func (r *fakeRuntime) daemonDied() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		t.mu.Lock()
		t.gen++
		if t.cut != nil {
			close(t.cut)
			t.cut = nil
		}
		t.mu.Unlock()
	}
}

func (r *fakeRuntime) task(id string) *fakeTask {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tasks[id]
}

type fakeTask struct {
	id   string
	rt   *fakeRuntime
	args []string
	spec *specs.Spec

	mu       sync.Mutex
	status   string // created, running, paused, stopped
	pid      int
	gone     bool             // no shim answers
	exitFile *shim.ExitStatus // what the bundle's exit file says
	done     chan struct{}    // closed at the exit
	cut      chan struct{}    // closed when the daemon "dies"
	gen      int
	signals  []syscall.Signal
	updates  []*specs.LinuxResources
	updErr   error
}

var errNotRunning = errors.New("container not running")

func (t *fakeTask) Start() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rt.mu.Lock()
	t.rt.nextPid++
	t.pid = t.rt.nextPid
	t.rt.mu.Unlock()
	t.status = "running"
	if t.args[0] == "exit" {
		code := 0
		if len(t.args) > 1 {
			code = int(t.args[1][0] - '0')
		}
		t.exitLocked(code)
	}
	return t.pid, nil
}

func (t *fakeTask) exitLocked(code int) {
	if t.status == "stopped" {
		return
	}
	t.status = "stopped"
	t.exitFile = &shim.ExitStatus{Code: code, ExitedAt: time.Now().UTC()}
	close(t.done)
}

func (t *fakeTask) State() (*shim.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gone {
		return nil, shim.ErrShimGone
	}
	return &shim.Response{Status: t.status, Pid: t.pid}, nil
}

func (t *fakeTask) Wait(ctx context.Context) (*shim.ExitStatus, error) {
	t.mu.Lock()
	if t.cut == nil {
		t.cut = make(chan struct{})
	}
	done, cut := t.done, t.cut
	t.mu.Unlock()
	select {
	case <-done:
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.exitFile, nil
	case <-cut:
		return nil, errors.New("daemon died")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *fakeTask) Exit() (*shim.ExitStatus, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exitFile == nil {
		return nil, os.ErrNotExist
	}
	return t.exitFile, nil
}

func (t *fakeTask) Kill(sig syscall.Signal) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gone {
		return shim.ErrShimGone
	}
	if t.status == "stopped" {
		return errNotRunning
	}
	t.signals = append(t.signals, sig)
	if sig == syscall.SIGTERM && t.args[0] == "ignore-term" || t.status == "paused" && sig != syscall.SIGKILL {
		return nil
	}
	if t.status == "paused" && sig == syscall.SIGKILL {
		return nil // a frozen process takes its SIGKILL when thawed
	}
	t.exitLocked(128 + int(sig))
	return nil
}

func (t *fakeTask) Pause() error  { return t.setStatus("running", "paused") }
func (t *fakeTask) Resume() error { return t.setStatus("paused", "running") }

func (t *fakeTask) setStatus(from, to string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != from {
		return errNotRunning
	}
	t.status = to
	if to == "running" && len(t.signals) > 0 && t.signals[len(t.signals)-1] == syscall.SIGKILL {
		t.exitLocked(137)
	}
	return nil
}

func (t *fakeTask) Update(r *specs.LinuxResources) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.updErr != nil {
		return t.updErr
	}
	t.updates = append(t.updates, r)
	return nil
}

func (t *fakeTask) Attach(stdin, stdout, stderr bool) (net.Conn, *bufio.Reader, error) {
	return nil, nil, errdefs.ErrNotImplemented
}
func (t *fakeTask) Exec(string, *specs.Process, bool) (net.Conn, *bufio.Reader, error) {
	return nil, nil, errdefs.ErrNotImplemented
}
func (t *fakeTask) ExecState(string) (bool, int, int, error) {
	return false, 0, 0, errdefs.ErrNotImplemented
}
func (t *fakeTask) Resize(string, uint16, uint16) error { return nil }
func (t *fakeTask) CloseStdin(string) error             { return nil }
func (t *fakeTask) Pids() ([]int, error)                { return []int{t.pid}, nil }
func (t *fakeTask) Stats() (*cgroups.Stats, error)      { return &cgroups.Stats{}, nil }
func (t *fakeTask) Spec() (*specs.Spec, error)          { return t.spec, nil }

// fakeLayers keeps read-write layers as directories under root.
type fakeLayers struct {
	root    string
	mu      sync.Mutex
	mounted map[string]bool
}

func (l *fakeLayers) PrepareRW(id string) error { return os.MkdirAll(filepath.Join(l.root, id), 0o700) }
func (l *fakeLayers) Mount(id string, _ digest.Digest) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mounted[id] = true
	return filepath.Join(l.root, id), nil
}
func (l *fakeLayers) Unmount(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.mounted, id)
	return nil
}
func (l *fakeLayers) RemoveRW(id string) error {
	_ = l.Unmount(id)
	return os.RemoveAll(filepath.Join(l.root, id))
}
func (l *fakeLayers) RWIDs() ([]string, error) {
	ents, err := os.ReadDir(l.root)
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids, err
}
func (l *fakeLayers) RWSize(string) (int64, error)           { return 0, nil }
func (l *fakeLayers) RWDiff(id string) string                { return filepath.Join(l.root, id) }
func (l *fakeLayers) Lowers(digest.Digest) ([]string, error) { return nil, nil }
func (l *fakeLayers) has(id string) bool {
	_, err := os.Stat(filepath.Join(l.root, id))
	return err == nil
}

type fakeImages struct{}

func (fakeImages) Resolve(ref string) (ImageInfo, error) {
	if ref != "img" {
		return ImageInfo{}, errdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	return ImageInfo{ID: digest.FromString("img"), Top: digest.FromString("top"),
		Config: dockerspec.DockerOCIImageConfig{}}, nil
}

// world is a service on fakes, and what it needs to be made again after
// a "daemon restart".
type world struct {
	t      *testing.T
	deps   Deps
	rt     *fakeRuntime
	layers *fakeLayers
	svc    *Service
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) // the fakes' daemon deaths are noisy
	os.Exit(m.Run())
}

func newWorld(t *testing.T) *world {
	dir := t.TempDir()
	bdb, err := db.Open(filepath.Join(dir, "berth.db"), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	w := &world{t: t, rt: newFakeRuntime(), layers: &fakeLayers{root: filepath.Join(dir, "rw"), mounted: map[string]bool{}}}
	if err := os.MkdirAll(w.layers.root, 0o700); err != nil {
		t.Fatal(err)
	}
	w.deps = Deps{DB: bdb, Layers: w.layers, Runtime: w.rt, Images: fakeImages{}, Events: events.New(), Root: filepath.Join(dir, "containers")}
	w.restartDaemon()
	return w
}

// restartDaemon makes a new service on the same stores and runtime, as a
// daemon started again finds them, and restores it.
func (w *world) restartDaemon() {
	w.t.Helper()
	if w.svc != nil {
		w.rt.daemonDied()
	}
	svc, err := NewService(w.deps)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := svc.Restore(); err != nil {
		w.t.Fatal(err)
	}
	w.svc = svc
}

func (w *world) create(name string, hc container.HostConfig, cmd ...string) string {
	w.t.Helper()
	res, err := w.svc.Create(name, &container.Config{Image: "img", Cmd: cmd}, &hc, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return res.ID
}

func (w *world) get(ref string) Record {
	w.t.Helper()
	r, err := w.svc.Get(ref)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// gone waits for the container's record and read-write layer to be gone.
func (w *world) gone(ref, id string) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := w.svc.Get(ref)
		if errdefs.IsNotFound(err) && !w.layers.has(id) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s not removed: %v, layer kept %v", ref, err, w.layers.has(id))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually waits for the container's record to hold cond.
func (w *world) eventually(ref, what string, cond func(Record) bool) Record {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := w.svc.Get(ref)
		if err == nil && cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: %s never held: %+v (%v)", ref, what, r.State, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
