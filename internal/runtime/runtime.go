package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/shim"
)

// Runtime keeps bundles under ExecRoot/containers/<id>, shim sockets
// under ExecRoot/s and libcontainer state under ExecRoot/runtime.
type Runtime struct {
	execRoot string
	binary   string

	// spare is a shim started ahead of need (exec and Go start-up are
	// off a container start's critical path); nil while one is made.
	mu    sync.Mutex
	spare *spareShim
}

type spareShim struct {
	ctl *os.File // our end of the socket on the spare's fd 3
	pid int      // also its process group: it runs in a session of its own
}

// spareNice is the nice value of a spare shim and its creator while they
// warm up: that work is for the next container, so it yields the CPUs to
// the container starting now (and to its client). The spare is set back
// to 0 when it is handed a bundle, before it makes the container, whose
// processes inherit it.
const spareNice = 19

// New returns a runtime that starts shims by running binary ("berth").
func New(execRoot, binary string) (*Runtime, error) {
	for _, d := range []string{"containers", "s", "runtime"} {
		if err := os.MkdirAll(filepath.Join(execRoot, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Seccomp programs a creator compiled (internal/seccompcache) are
	// dropped at each daemon start: a new berth may compile differently.
	if err := os.RemoveAll(filepath.Join(execRoot, "seccomp")); err != nil {
		return nil, err
	}
	r := &Runtime{execRoot: execRoot, binary: binary}
	go r.refill()
	return r, nil
}

// shimCmd is the command line of a shim; extra is its fd 3.
func (r *Runtime) shimCmd(arg string, extra *os.File) *exec.Cmd {
	cmd := exec.Command(r.binary, "shim", arg)
	cmd.Args[0] = "berth-shim" // binary may be /proc/self/fd/N
	cmd.ExtraFiles = []*os.File{extra}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOGC=50", "GOMAXPROCS=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the daemon
	return cmd
}

// refill starts a spare shim if there is none.
func (r *Runtime) refill() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "spare-ctl"), os.NewFile(uintptr(fds[1]), "spare-ctl")
	cmd := r.shimCmd(shim.SpareFlag, theirs)
	cmd.Dir = "/"
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		ours.Close()
		return
	}
	// Every thread of the shim, and the creator it starts (which inherits it).
	_ = unix.Setpriority(unix.PRIO_PGRP, cmd.Process.Pid, spareNice)
	go cmd.Wait() // reap it while we live
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spare != nil { // lost a race: one is enough
		ours.Close() // the extra spare sees EOF and exits
		return
	}
	r.spare = &spareShim{ctl: ours, pid: cmd.Process.Pid}
}

// takeSpare hands out the spare shim, if any. The next one is made after
// the container's process is released (Task.Start), not while the start
// competes for the CPUs.
func (r *Runtime) takeSpare() *spareShim {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp := r.spare
	r.spare = nil
	return sp
}

// CreateOpts describe a container to create.
type CreateOpts struct {
	ID          string
	Spec        *specs.Spec
	LogPath     string // "": no log is kept
	LogMaxSize  int64
	LogMaxFiles int
	LogCompress bool
	LogAttrs    map[string]string
	OpenStdin   bool
	StdinOnce   bool
}

// Task is a created container served by a shim.
type Task struct {
	ID     string
	Bundle string
	client shim.Client
	refill func() // set when this task used up the spare shim
}

func (r *Runtime) bundle(id string) string { return filepath.Join(r.execRoot, "containers", id) }

func (r *Runtime) socket(id string) string {
	return filepath.Join(r.execRoot, "s", id[:min(len(id), 24)])
}

// Task returns the task of container id (its shim may or may not run).
func (r *Runtime) Task(id string) *Task {
	return &Task{ID: id, Bundle: r.bundle(id), client: shim.Client{Socket: r.socket(id)}}
}

// Create writes the bundle and starts the shim, which creates the
// container with its process stopped before exec. Errors from the
// container's creation (e.g. executable not found) come back with
// runc's wording.
func (r *Runtime) Create(ctx context.Context, o CreateOpts) (*Task, error) {
	t := r.Task(o.ID)
	_ = os.RemoveAll(t.Bundle)
	if err := os.MkdirAll(t.Bundle, 0o700); err != nil {
		return nil, err
	}
	specJSON, err := json.Marshal(o.Spec)
	if err != nil {
		return nil, err
	}
	opts := shim.Options{Version: shim.Version, ID: o.ID, Socket: t.client.Socket, StateRoot: filepath.Join(r.execRoot, "runtime"), SeccompDir: filepath.Join(r.execRoot, "seccomp"),
		LogPath: o.LogPath, LogMaxSize: o.LogMaxSize, LogMaxFiles: o.LogMaxFiles, LogCompress: o.LogCompress, LogAttrs: o.LogAttrs, OpenStdin: o.OpenStdin, StdinOnce: o.StdinOnce}
	if p := o.Spec.Process; p != nil {
		opts.Terminal, opts.ConsoleSize = p.Terminal, p.ConsoleSize
	}
	optsJSON, _ := json.Marshal(opts)
	if err := os.WriteFile(filepath.Join(t.Bundle, shim.SpecFile), specJSON, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(t.Bundle, shim.OptionsFile), optsJSON, 0o600); err != nil {
		return nil, err
	}
	ready, usedSpare, err := r.startShim(t.Bundle)
	if err != nil {
		return nil, err
	}
	defer ready.Close()
	if usedSpare {
		t.refill = r.refill
	}
	var resp shim.Response
	if err := json.NewDecoder(ready).Decode(&resp); err != nil {
		return nil, fmt.Errorf("shim exited before creating the container (see %s): %w", filepath.Join(t.Bundle, shim.LogFile), err)
	}
	if err := resp.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// startShim gets a shim working on bundle, the spare if there is one,
// and returns where its ready answer comes.
func (r *Runtime) startShim(bundle string) (ready *os.File, usedSpare bool, err error) {
	if sp := r.takeSpare(); sp != nil {
		// PRIO_PGRP reaches every thread (PRIO_PROCESS would reach one).
		_ = unix.Setpriority(unix.PRIO_PGRP, sp.pid, 0)
		if _, err := sp.ctl.Write([]byte(bundle + "\n")); err == nil {
			return sp.ctl, true, nil
		}
		sp.ctl.Close() // it died: start one the slow way
		go r.refill()
	}
	logf, err := os.OpenFile(filepath.Join(bundle, shim.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, err
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, false, err
	}
	cmd := r.shimCmd(bundle, readyW)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = bundle
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		readyR.Close()
		return nil, false, fmt.Errorf("start shim: %w", err)
	}
	go cmd.Wait() // reap it while we live; after that init adopts it
	return readyR, false, nil
}

// Delete removes the bundle of a container whose shim has exited. A shim
// that was killed leaves libcontainer's state behind, and the container's
// processes running with nobody to reap them: those are destroyed first.
func (r *Runtime) Delete(id string) error {
	if _, err := os.Stat(filepath.Join(r.execRoot, "runtime", id)); err == nil && !r.Task(id).shimAlive() {
		cmd := exec.Command(r.binary, shim.DestroyMode, filepath.Join(r.execRoot, "runtime"), id)
		cmd.Args[0] = "berth-shim" // binary may be /proc/self/fd/N
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("destroy what the shim of %s left: %v: %s", id, err, out)
		}
	}
	_ = os.Remove(r.socket(id))
	return os.RemoveAll(r.bundle(id))
}

// Bundles lists the IDs of containers that have a bundle.
func (r *Runtime) Bundles() []string {
	entries, _ := os.ReadDir(filepath.Join(r.execRoot, "containers"))
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// Start releases the container's process.
func (t *Task) Start() (int, error) {
	if t.refill != nil {
		defer func() { go t.refill() }()
	}
	resp, err := t.client.Call(shim.Request{Op: "start"})
	if err != nil {
		return 0, err
	}
	return resp.Pid, nil
}

// State asks the shim; ErrShimGone means no shim answers.
func (t *Task) State() (*shim.Response, error) {
	return t.client.Call(shim.Request{Op: "state"})
}

// Wait blocks until the container exits (or ctx ends). If the shim is
// gone, the exit file it left answers; a shim that died without one
// yields code 255 and an error text.
func (t *Task) Wait(ctx context.Context) (*shim.ExitStatus, error) {
	conn, r, err := t.client.Dial(shim.Request{Op: "wait"})
	if err == nil {
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		resp, rerr := shim.ReadResponse(r)
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if rerr == nil && resp.Exit != nil {
			return resp.Exit, nil
		}
	}
	// The shim is gone: give it a moment to have written its exit file.
	for i := 0; i < 20; i++ {
		if st, err := shim.ReadExitFile(t.Bundle); err == nil {
			return st, nil
		}
		if t.shimAlive() {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	if st, err := shim.ReadExitFile(t.Bundle); err == nil {
		return st, nil
	}
	return &shim.ExitStatus{Code: 255, ExitedAt: time.Now().UTC(), Error: "container's shim died without recording an exit status"}, nil
}

func (t *Task) shimAlive() bool {
	b, err := os.ReadFile(filepath.Join(t.Bundle, shim.PidFile))
	if err != nil {
		return false
	}
	pid, _ := strconv.Atoi(string(b))
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// Kill sends sig to the container's init.
func (t *Task) Kill(sig syscall.Signal) error {
	_, err := t.client.Call(shim.Request{Op: "kill", Signal: int(sig)})
	return err
}

// Attach opens an output (and optionally input) stream: stdcopy frames
// without a TTY, raw bytes with one.
func (t *Task) Attach(stdin, stdout, stderr bool) (net.Conn, *bufio.Reader, error) {
	conn, r, err := t.client.Dial(shim.Request{Op: "attach", Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, nil, err
	}
	if _, err := shim.ReadResponse(r); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, r, nil
}

// Exec starts p in the container; the stream carries its stdio until it
// exits.
func (t *Task) Exec(execID string, p *specs.Process, stdin bool) (net.Conn, *bufio.Reader, error) {
	conn, r, err := t.client.Dial(shim.Request{Op: "exec", Exec: execID, Process: p, Stdin: stdin})
	if err != nil {
		return nil, nil, err
	}
	if _, err := shim.ReadResponse(r); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, r, nil
}

// ExecState reports whether an exec runs, and its exit code once done.
func (t *Task) ExecState(execID string) (running bool, pid, code int, err error) {
	resp, err := t.client.Call(shim.Request{Op: "execstate", Exec: execID})
	if err != nil {
		return false, 0, 0, err
	}
	return resp.Running, resp.Pid, resp.ExitCode, nil
}

// Resize sets the TTY size of the container (or of an exec).
func (t *Task) Resize(execID string, h, w uint16) error {
	_, err := t.client.Call(shim.Request{Op: "resize", Exec: execID, Height: h, Width: w})
	return err
}

// CloseStdin tells the shim that the attached input ended: the
// container's stdin closes if it is stdin-once; an exec's always does.
func (t *Task) CloseStdin(execID string) error {
	_, err := t.client.Call(shim.Request{Op: "closestdin", Exec: execID})
	return err
}

// Pause freezes the container; Resume thaws it.
func (t *Task) Pause() error  { _, err := t.client.Call(shim.Request{Op: "pause"}); return err }
func (t *Task) Resume() error { _, err := t.client.Call(shim.Request{Op: "resume"}); return err }

// Pids lists the container's processes (host PIDs).
func (t *Task) Pids() ([]int, error) {
	resp, err := t.client.Call(shim.Request{Op: "pids"})
	if err != nil {
		return nil, err
	}
	return resp.Pids, nil
}

// Stats reads the container's cgroup statistics.
func (t *Task) Stats() (*cgroups.Stats, error) {
	resp, err := t.client.Call(shim.Request{Op: "stats"})
	if err != nil {
		return nil, err
	}
	var st cgroups.Stats
	if len(resp.Stats) == 0 {
		return nil, errdefs.ErrUnavailable.WithMessage("no statistics")
	}
	return &st, json.Unmarshal(resp.Stats, &st)
}

// Exit is the exit status the shim recorded in the bundle, if it did.
func (t *Task) Exit() (*shim.ExitStatus, error) { return shim.ReadExitFile(t.Bundle) }

// Spec is the OCI spec the container was created with.
func (t *Task) Spec() (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(t.Bundle, shim.SpecFile))
	if err != nil {
		return nil, err
	}
	var sp specs.Spec
	return &sp, json.Unmarshal(b, &sp)
}

// Update sets new cgroup limits on the running container. A shim older
// than format 2 cannot: the error says so.
func (t *Task) Update(r *specs.LinuxResources) error {
	_, err := t.client.Call(shim.Request{Op: "update", Resources: r})
	if err != nil && strings.Contains(err.Error(), "unknown op update") {
		return errdefs.ErrNotImplemented.WithMessage("this container's shim predates `update` (started by an older berth): restart the container to update its limits")
	}
	return err
}
