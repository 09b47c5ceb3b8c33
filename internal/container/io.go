package container

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/internal/logs"
	"github.com/berthproject/berth/internal/shim"
	"github.com/berthproject/berth/internal/spec"
)

// Stream is a connection to a container's (or exec's) stdio: stdcopy
// frames when Tty is false, raw bytes when true. Reader must be used for
// reading (it may hold buffered bytes); writes go to Conn.
type Stream struct {
	Conn   net.Conn
	Reader *bufio.Reader
	Tty    bool
	// CloseStdin reports that the client's input ended (not a detach).
	CloseStdin func() error
}

// Attach connects to a container's stdio. For a container that is not
// running it waits for the next start and connects before the process
// runs, so no output is lost.
func (s *Service) Attach(ctx context.Context, ref string, stdin, stdout, stderr bool) (*Stream, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	rec := e.rec
	stdin = stdin && rec.Config.OpenStdin
	if rec.Running() && !e.starting {
		e.mu.Unlock()
		conn, r, err := s.rt.Task(rec.ID).Attach(stdin, stdout, stderr)
		if err != nil {
			return nil, err
		}
		return s.attachStream(rec, conn, r), nil
	}
	p := &pendingAttach{ready: make(chan error, 1), done: make(chan struct{})}
	e.pending = append(e.pending, p)
	rmCh := e.rmCh
	e.mu.Unlock()
	defer close(p.done)
	select {
	case err := <-p.ready:
		if err != nil {
			return nil, err
		}
	case <-rmCh:
		return nil, errdefs.ErrNotFound.WithMessage("No such container: " + ref)
	case <-ctx.Done():
		e.mu.Lock()
		for i, q := range e.pending {
			if q == p {
				e.pending = append(e.pending[:i], e.pending[i+1:]...)
				break
			}
		}
		e.mu.Unlock()
		return nil, ctx.Err()
	}
	conn, r, err := s.rt.Task(rec.ID).Attach(stdin, stdout, stderr)
	if err != nil {
		return nil, err
	}
	s.event(&rec, "attach", nil)
	return s.attachStream(rec, conn, r), nil
}

func (s *Service) attachStream(rec Record, conn net.Conn, r *bufio.Reader) *Stream {
	task := s.rt.Task(rec.ID)
	return &Stream{Conn: conn, Reader: r, Tty: rec.Config.Tty, CloseStdin: func() error { return task.CloseStdin("") }}
}

// Logs sends the container's log entries to fn (see logs.ReadOptions).
// Following ends when the container stops.
func (s *Service) Logs(ctx context.Context, ref string, opts logs.ReadOptions, fn func(logs.Entry) error) (tty bool, err error) {
	e, err := s.lookup(ref)
	if err != nil {
		return false, err
	}
	rec := e.snapshot()
	lc, err := logs.ParseConfig(rec.HostConfig.LogConfig.Type, rec.HostConfig.LogConfig.Config)
	if err != nil {
		return false, err
	}
	if !lc.Logged() {
		return false, errdefs.ErrNotImplemented.WithMessage("configured logging driver does not support reading")
	}
	opts.Stopped = func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return !e.rec.Running() && !e.starting
	}
	return rec.Config.Tty, logs.Read(ctx, rec.LogPath, lc.MaxFiles, opts, fn)
}

// Resize sets the container's TTY size.
func (s *Service) Resize(ref string, h, w uint16) error {
	rec, err := s.Get(ref)
	if err != nil {
		return err
	}
	if !rec.Running() {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", rec.ID))
	}
	return s.rt.Task(rec.ID).Resize("", h, w)
}

// Top lists the container's processes with `ps` (psArgs, default "-ef").
func (s *Service) Top(ref, psArgs string) ([]string, [][]string, error) {
	rec, err := s.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	if !rec.Running() {
		return nil, nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", rec.ID))
	}
	pids, err := s.rt.Task(rec.ID).Pids()
	if err != nil {
		return nil, nil, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.Command("ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error running top: ps %s: %v", psArgs, err))
	}
	return parsePS(string(out), pids)
}

func parsePS(out string, pids []int) ([]string, [][]string, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return nil, nil, errdefs.ErrInvalidArgument.WithMessage("couldn't find PID field in ps output")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	procs := [][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil || !want[pid] {
			continue
		}
		// The last column (command) may hold blanks.
		row := append(f[:len(titles)-1:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		procs = append(procs, row)
	}
	return titles, procs, nil
}

// Size reports what the container wrote (its read-write layer) and that
// plus its image's size, as inspect --size shows them.
func (s *Service) Size(ref string) (rw, rootfs int64, err error) {
	rec, err := s.Get(ref)
	if err != nil {
		return 0, 0, err
	}
	rw, err = s.layers.RWSize(rec.ID)
	if err != nil {
		return 0, 0, err
	}
	img, err := s.images.Resolve(rec.Image.String())
	if err != nil {
		return rw, rw, nil // the image went: only what the container holds
	}
	return rw, rw + img.Size, nil
}

// Stats reads a running container's cgroup statistics.
func (s *Service) Stats(ref string) (Record, *cgroups.Stats, error) {
	rec, err := s.Get(ref)
	if err != nil {
		return rec, nil, err
	}
	if !rec.Running() {
		return rec, nil, nil
	}
	st, err := s.rt.Task(rec.ID).Stats()
	return rec, st, err
}

// ExecConfig is what `exec` asks for.
type ExecConfig struct {
	Cmd                            []string
	Env                            []string
	WorkingDir, User               string
	Tty, AttachStdin, AttachStdout bool
	AttachStderr, Privileged       bool
	ConsoleSize                    *[2]uint
	DetachKeys                     string
}

type execSession struct {
	mu          sync.Mutex
	ID          string
	ContainerID string
	Config      ExecConfig
	Running     bool
	Started     bool
	ExitCode    *int
	Pid         int
}

// ExecInfo is what exec inspect shows.
type ExecInfo struct {
	ID, ContainerID string
	Config          ExecConfig
	Running         bool
	ExitCode        *int
	Pid             int
}

// ExecCreate registers an exec session in a running container.
func (s *Service) ExecCreate(ref string, cfg ExecConfig) (string, error) {
	rec, err := s.Get(ref)
	if err != nil {
		return "", err
	}
	switch {
	case rec.State.Status == "paused":
		return "", errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is paused, unpause the container before exec", rec.ID))
	case !rec.Running() || rec.State.Status == "restarting":
		return "", errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", rec.ID))
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.ErrInvalidArgument.WithMessage("No exec command specified")
	}
	id := newID()
	s.mu.Lock()
	s.execs[id] = &execSession{ID: id, ContainerID: rec.ID, Config: cfg}
	s.mu.Unlock()
	s.event(&rec, "exec_create: "+strings.Join(cfg.Cmd, " "), map[string]string{"execID": id})
	return id, nil
}

func (s *Service) execSession(id string) (*execSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.execs[id]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
	}
	return x, nil
}

// ExecStart runs the exec's process. The stream carries its stdio until
// it exits (nil when detach). A process that cannot start gets exit code
// 126 or 127 and the error says why, in runc's words.
// A consoleSize given here (exec start's) replaces exec create's; either
// is set before the process starts.
func (s *Service) ExecStart(ref string, detach bool, consoleSize *[2]uint) (*Stream, error) {
	x, err := s.execSession(ref)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if x.Started {
		x.mu.Unlock()
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Error: Exec command %s has already run", x.ID))
	}
	x.Started, x.Running = true, true
	if consoleSize != nil && consoleSize[0] > 0 {
		x.Config.ConsoleSize = consoleSize
	}
	cfg := x.Config
	x.mu.Unlock()
	rec, err := s.Get(x.ContainerID)
	if err != nil {
		return nil, err
	}
	if !rec.Running() {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", rec.ID))
	}
	proc, err := s.execProcess(rec, cfg)
	if err == nil {
		var conn net.Conn
		var r *bufio.Reader
		conn, r, err = s.rt.Task(rec.ID).Exec(x.ID, proc, cfg.AttachStdin && !detach)
		if err == nil {
			s.event(&rec, "exec_start: "+strings.Join(cfg.Cmd, " "), map[string]string{"execID": x.ID})
			// The shim closes the stream when the process has exited.
			ended := sync.OnceFunc(func() { s.execDied(rec, x) })
			if detach {
				go func() { // keep the stream drained so the process never blocks on output
					buf := make([]byte, 32<<10)
					for {
						if _, err := r.Read(buf); err != nil {
							conn.Close()
							ended()
							return
						}
					}
				}()
				return nil, nil
			}
			task := s.rt.Task(rec.ID)
			return &Stream{Conn: conn, Reader: bufio.NewReader(&endReader{r: r, end: ended}), Tty: cfg.Tty,
				CloseStdin: func() error { return task.CloseStdin(x.ID) }}, nil
		}
	}
	code := 126
	if shim.ErrorKind(err) == shim.KindNotFound {
		code = 127
	}
	x.mu.Lock()
	x.Running, x.ExitCode = false, &code
	x.mu.Unlock()
	return nil, errdefs.ErrUnknown.WithMessage("OCI runtime exec failed: exec failed: " + err.Error() + ": unknown")
}

func (s *Service) execProcess(rec Record, cfg ExecConfig) (*specs.Process, error) {
	sp, err := s.rt.Task(rec.ID).Spec()
	if err != nil {
		return nil, err
	}
	p := *sp.Process
	p.Args = cfg.Cmd
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	if cfg.ConsoleSize != nil && cfg.ConsoleSize[0] > 0 {
		p.ConsoleSize = &specs.Box{Height: cfg.ConsoleSize[0], Width: cfg.ConsoleSize[1]}
	}
	env := mergeEnv(p.Env, cfg.Env)
	if cfg.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	p.Env = env
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.Privileged { // as Docker: every capability the engine has
		caps := s.hostCaps
		if caps == nil {
			caps = spec.AllCapabilities
		}
		p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Permitted: caps, Effective: caps}
	}
	if cfg.User != "" {
		uid, gid, groups, err := resolveUser(sp.Root.Path, cfg.User, rec.HostConfig.GroupAdd)
		if err != nil {
			return nil, err
		}
		p.User = specs.User{UID: uid, GID: gid, AdditionalGids: groups}
	}
	return &p, nil
}

// endReader calls end once its reader has ended.
type endReader struct {
	r   *bufio.Reader
	end func()
}

func (e *endReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.end()
	}
	return n, err
}

// execDied records an exec's exit code and publishes exec_die, as Docker.
func (s *Service) execDied(rec Record, x *execSession) {
	info, err := s.ExecInspect(x.ID)
	if err != nil || info.ExitCode == nil {
		return
	}
	s.event(&rec, "exec_die", map[string]string{"execID": x.ID, "exitCode": strconv.Itoa(*info.ExitCode)})
}

// ExecInspect reports an exec session, asking the shim for its state.
func (s *Service) ExecInspect(id string) (ExecInfo, error) {
	x, err := s.execSession(id)
	if err != nil {
		return ExecInfo{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.Running {
		running, pid, code, err := s.rt.Task(x.ContainerID).ExecState(x.ID)
		if err != nil {
			// The shim is gone: the container exited and took the exec with it.
			c := 137
			x.Running, x.ExitCode = false, &c
		} else if running {
			x.Pid = pid
		} else {
			x.Running, x.ExitCode = false, &code
		}
	}
	return ExecInfo{ID: x.ID, ContainerID: x.ContainerID, Config: x.Config, Running: x.Running, ExitCode: x.ExitCode, Pid: x.Pid}, nil
}

// forgetExecs drops the exec sessions of a container that stopped. Their
// inspect data goes with them, as in Docker.
func (s *Service) forgetExecs(containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, x := range s.execs {
		if x.ContainerID == containerID {
			delete(s.execs, id)
		}
	}
}

// ExecResize sets an exec's TTY size.
func (s *Service) ExecResize(id string, h, w uint16) error {
	x, err := s.execSession(id)
	if err != nil {
		return err
	}
	return s.rt.Task(x.ContainerID).Resize(x.ID, h, w)
}
