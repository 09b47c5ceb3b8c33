package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // device rules for the cgroup manager
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/logs"
	"github.com/berthproject/berth/internal/seccompcache"
)

// Main runs a shim for the bundle directory given as the only argument.
// File descriptor 3 is the ready pipe: the shim writes one JSON Response
// there once the container is created (or has failed) and closes it.
//
// With --spare instead of a bundle, the shim is started ahead of need: it
// waits for a bundle path (one line) on fd 3, a socket, answers there,
// and exits quietly if the socket closes first (the daemon went away).
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: berth shim BUNDLE|--spare")
		return 2
	}
	ready := os.NewFile(3, "ready")
	// The container is made by a child (see creator_linux.go), started
	// now so that it warms up while a spare waits for its bundle.
	cr, err := startCreator()
	if err != nil {
		json.NewEncoder(ready).Encode(failure(err))
		return 1
	}
	bundle := args[0]
	if bundle == SpareFlag {
		go warmShim()
		line, err := bufio.NewReader(ready).ReadString('\n')
		if err != nil {
			cr.abandon()
			return 0
		}
		bundle = strings.TrimSuffix(line, "\n")
		if logf, err := os.OpenFile(filepath.Join(bundle, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
			_ = unix.Dup2(int(logf.Fd()), 1)
			_ = unix.Dup2(int(logf.Fd()), 2)
			logf.Close()
		}
	}
	s, err := newServer(bundle)
	if err == nil {
		s.creator = cr
		err = s.create()
	}
	if err != nil {
		json.NewEncoder(ready).Encode(failure(err))
		ready.Close()
		cr.abandon() // destroys what it made, if it has not answered yet
		if s != nil {
			s.abort()
		}
		return 1
	}
	json.NewEncoder(ready).Encode(Response{Pid: s.initPid})
	ready.Close()
	// A shim lives as long as its container: give back what setting up
	// took, a little later (not while the container is being started).
	s.trim = time.AfterFunc(time.Second, debug.FreeOSMemory)
	s.serve()
	return 0
}

type server struct {
	bundle string
	opts   Options
	ln     net.Listener

	creator     *creator    // exits once it has made the container
	creatorGone bool        // it died without answering
	init        *os.Process // a pidfd handle; our child once the creator exited
	initPid     int
	io          *stdio
	cgroups     map[string]string // the container's cgroup paths, from the creator

	trim *time.Timer // gives freed memory back to the system, after a quiet second

	ctrOnce sync.Once
	// sweepOnce starts watching for runc's stray stage processes (strays_linux.go).
	sweepOnce sync.Once
	ctr       *libcontainer.Container // loaded when first needed (exec, pause, stats, top)
	ctrErr    error

	mu      sync.Mutex
	status  string // created, running, paused, stopped
	exit    *ExitStatus
	waiters []chan struct{}
	exited  chan struct{} // init exited (closed before done)
	done    chan struct{}
	execs   map[string]*execProc
}

type execProc struct {
	proc *libcontainer.Process
	io   *stdio
	code int
	done chan struct{}
}

func newServer(bundle string) (*server, error) {
	s := &server{bundle: bundle, status: "created", exited: make(chan struct{}), done: make(chan struct{}), execs: map[string]*execProc{}}
	b, err := os.ReadFile(filepath.Join(bundle, OptionsFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s.opts); err != nil {
		return nil, fmt.Errorf("shim options: %w", err)
	}
	if s.opts.Version > Version {
		return nil, fmt.Errorf("shim options: written by a newer berth (format %d, this shim reads up to %d)", s.opts.Version, Version)
	}
	// The container's init becomes our child when the creator exits, and
	// orphaned processes of exec sessions are reparented to us.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	_ = os.WriteFile(filepath.Join(bundle, PidFile), []byte(strconv.Itoa(os.Getpid())), 0o600)
	_ = os.Remove(s.opts.Socket)
	ln, err := net.Listen("unix", s.opts.Socket)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	return s, nil
}

// create has the creator make the container and its init process,
// stopped before exec, with stdio that we own.
func (s *server) create() error {
	var log *logs.Writer
	if s.opts.LogPath != "" {
		var err error
		log, err = logs.NewWriter(s.opts.LogPath, logs.Config{MaxSize: s.opts.LogMaxSize, MaxFiles: s.opts.LogMaxFiles, Compress: s.opts.LogCompress, Attrs: s.opts.LogAttrs})
		if err != nil {
			return err
		}
	}
	sio, err := newStdio(s.opts.Terminal, s.opts.OpenStdin, log)
	if err != nil {
		return err
	}
	made, err := s.creator.create(createRequest{Bundle: s.bundle, Terminal: s.opts.Terminal}, sio.childEnds)
	sio.closeChildEnds()
	if err != nil {
		s.creatorGone = errors.Is(err, errCreatorGone)
		return err
	}
	pid := made.Pid
	s.cgroups = made.CgroupPaths
	if s.init, err = os.FindProcess(pid); err != nil {
		return err
	}
	if err := sio.afterStart(); err != nil {
		return err
	}
	sio.run()
	s.io, s.initPid = sio, pid
	if b := s.opts.ConsoleSize; b != nil {
		sio.resize(uint16(b.Height), uint16(b.Width))
	}
	go s.reap()
	return nil
}

// abort undoes a create that failed. The creator has exited (abandon):
// if it made the container, its init is ours now.
func (s *server) abort() {
	s.ln.Close()
	if s.init != nil {
		_ = s.init.Kill()
		_, _ = s.init.Wait()
		s.remove()
		return
	}
	// A creator that died after making the container, before answering,
	// left it in libcontainer's state: destroy it from there. (One that
	// answered with an error destroyed what it made itself.)
	if s.creatorGone {
		if ctr, err := s.container(); err == nil {
			_ = ctr.Destroy()
		}
	}
}

// container is libcontainer's handle on the container, loaded from its
// state on first use: a shim that only watches its container never pays
// for it.
func (s *server) container() (*libcontainer.Container, error) {
	s.ctrOnce.Do(func() {
		s.ctr, s.ctrErr = libcontainer.Load(s.opts.StateRoot, s.opts.ID)
	})
	return s.ctr, s.ctrErr
}

// reap waits for init, drains its output, records the exit and shuts down.
func (s *server) reap() {
	// Init is the creator's child until the creator exits, which it does
	// once it has made the container; then it is ours.
	_ = s.creator.cmd.Wait()
	st, err := s.init.Wait()
	close(s.exited)
	code := exitCode(st, err)
	s.io.drain(2 * time.Second)
	exit := &ExitStatus{Version: Version, Code: code, ExitedAt: time.Now().UTC(), OOMKilled: s.oomKilled()}
	if b, err := json.Marshal(exit); err == nil {
		tmp := filepath.Join(s.bundle, ExitFile+".tmp")
		if os.WriteFile(tmp, b, 0o600) == nil {
			_ = os.Rename(tmp, filepath.Join(s.bundle, ExitFile))
		}
	}
	s.io.closeClients()
	s.remove()
	// The socket goes before anyone learns of the exit: once the daemon
	// knows, it may start the container again, and the new shim listens
	// on the same path. Removed later, it was the new shim's socket that
	// went (a start right after a stop failed: "shim is not running").
	// Connections already open stay; a new one finds the exit file.
	s.ln.Close() // unlinks the socket
	s.mu.Lock()
	s.status, s.exit = "stopped", exit
	for _, w := range s.waiters {
		close(w)
	}
	s.waiters = nil
	s.mu.Unlock()
	close(s.done)
}

func exitCode(st *os.ProcessState, err error) int {
	if st == nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			st = ee.ProcessState
		} else {
			return 255
		}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
	return st.ExitCode()
}

func (s *server) serve() {
	go func() {
		for {
			conn, err := s.ln.Accept()
			if err != nil {
				return
			}
			go s.handle(conn)
		}
	}()
	<-s.done
	// Let in-flight wait answers go out, then leave.
	time.Sleep(50 * time.Millisecond)
}

func (s *server) handle(conn net.Conn) {
	r := bufio.NewReader(conn)
	line, err := r.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(conn, Response{Error: "bad request: " + err.Error()})
		conn.Close()
		return
	}
	switch req.Op {
	case "attach":
		s.attach(conn, r, req)
		return
	case "exec":
		s.execStart(conn, r, req)
		return
	}
	defer conn.Close()
	var resp Response
	switch req.Op {
	case "start":
		resp = s.start()
	case "state":
		s.mu.Lock()
		resp = Response{Pid: s.initPid, Status: s.status, Exit: s.exit}
		s.mu.Unlock()
	case "wait":
		resp = s.wait()
	case "kill":
		if err := s.init.Signal(unix.Signal(req.Signal)); err != nil && !errors.Is(err, os.ErrProcessDone) {
			resp.Error = err.Error()
		}
	case "resize":
		if req.Exec == "" {
			s.io.resize(req.Height, req.Width)
		} else if e := s.exec(req.Exec); e == nil {
			resp.Error = "no such exec"
		} else {
			e.io.resize(req.Height, req.Width)
		}
	case "closestdin":
		if req.Exec == "" {
			if s.opts.StdinOnce {
				s.io.closeInput()
			}
		} else if e := s.exec(req.Exec); e == nil {
			resp.Error = "no such exec"
		} else {
			e.io.closeInput()
		}
	case "pause":
		if ctr, err := s.container(); err != nil {
			resp.Error = err.Error()
		} else if err := ctr.Pause(); err != nil {
			resp.Error = err.Error()
		} else {
			s.setStatus("paused")
		}
	case "resume":
		if ctr, err := s.container(); err != nil {
			resp.Error = err.Error()
		} else if err := ctr.Resume(); err != nil {
			resp.Error = err.Error()
		} else {
			s.setStatus("running")
		}
	case "pids":
		if ctr, err := s.container(); err != nil {
			resp.Error = err.Error()
		} else if resp.Pids, err = ctr.Processes(); err != nil {
			resp.Error = err.Error()
		}
	case "stats":
		if ctr, err := s.container(); err != nil {
			resp.Error = err.Error()
		} else if st, err := ctr.Stats(); err != nil {
			resp.Error = err.Error()
		} else if st.CgroupStats != nil {
			resp.Stats, _ = json.Marshal(st.CgroupStats)
		}
	case "update":
		if ctr, err := s.container(); err != nil {
			resp.Error = err.Error()
		} else if err := update(ctr, req.Resources); err != nil {
			resp.Error = err.Error()
		}
	case "execstate":
		e := s.exec(req.Exec)
		if e == nil {
			resp.Error = "no such exec"
			break
		}
		select {
		case <-e.done:
			resp.ExitCode = e.code
		default:
			resp.Running = true
			resp.Pid, _ = e.proc.Pid()
		}
	default:
		resp.Error = "unknown op " + req.Op
	}
	reply(conn, resp)
}

func (s *server) exec(id string) *execProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execs[id]
}

func reply(w io.Writer, resp Response) {
	b, _ := json.Marshal(resp)
	w.Write(append(b, '\n'))
}

func (s *server) setStatus(st string) {
	s.mu.Lock()
	if s.status != "stopped" {
		s.status = st
	}
	s.mu.Unlock()
}

func (s *server) start() Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "created" {
		return Response{Error: "container is " + s.status}
	}
	if err := s.releaseInit(); err != nil {
		return failure(err)
	}
	s.status = "running"
	return Response{Pid: s.initPid}
}

// releaseInit lets the container's init exec the container's process.
// Init waits in open(2) of libcontainer's exec fifo for a reader, writes a
// byte and goes on. This is libcontainer's Container.Exec (what `runc
// start` does), done here because that needs the container loaded from
// its state, which costs ~10 ms on the start of every container.
func (s *server) releaseInit() error {
	path := filepath.Join(s.opts.StateRoot, s.opts.ID, "exec.fifo")
	opened := make(chan *os.File, 1)
	failed := make(chan error, 1)
	go func() {
		// Blocks until init opens its end; if init died first, until we exit.
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			failed <- fmt.Errorf("exec fifo: %w", err)
			return
		}
		opened <- f
	}()
	var f *os.File
	select {
	case f = <-opened:
	case err := <-failed:
		return err
	case <-s.exited:
		// Init may have opened the fifo, been released, run and exited
		// (echo does it in a millisecond) while our open was returning:
		// give the opener a moment before calling it dead. (It never
		// returns if init died before opening its end.)
		select {
		case f = <-opened:
		case err := <-failed:
			return err
		case <-time.After(200 * time.Millisecond):
			return errors.New("container process is already dead")
		}
	}
	defer f.Close()
	if b, err := io.ReadAll(f); err != nil {
		return err
	} else if len(b) == 0 {
		return errors.New("cannot start an already running container")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (s *server) wait() Response {
	s.mu.Lock()
	if s.exit != nil {
		defer s.mu.Unlock()
		return Response{Exit: s.exit, Status: s.status}
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	<-ch
	s.mu.Lock()
	defer s.mu.Unlock()
	return Response{Exit: s.exit, Status: s.status}
}

// attach streams output to conn and copies conn's bytes to stdin.
func (s *server) attach(conn net.Conn, r *bufio.Reader, req Request) {
	s.mu.Lock()
	stopped := s.exit != nil
	s.mu.Unlock()
	if stopped {
		reply(conn, Response{Error: "container is not running"})
		conn.Close()
		return
	}
	s.io.serveClient(conn, r, req.Stdin, req.Stdout, req.Stderr, func() { reply(conn, Response{}) })
}

// execStart runs an extra process in the container; conn carries its
// stream until it exits, then is closed. Its exit code is kept for execstate.
func (s *server) execStart(conn net.Conn, r *bufio.Reader, req Request) {
	fail := func(err error) {
		reply(conn, failure(err))
		conn.Close()
	}
	if req.Process == nil {
		fail(errors.New("exec: no process"))
		return
	}
	proc, err := newProcess(req.Process, false)
	if err != nil {
		fail(err)
		return
	}
	sio, err := newStdio(req.Process.Terminal, req.Stdin, nil)
	if err != nil {
		fail(err)
		return
	}
	if err := giveStdio(proc, sio.tty, sio.childEnds); err != nil {
		sio.closeAll()
		fail(err)
		return
	}
	e := &execProc{proc: proc, io: sio, done: make(chan struct{})}
	ctr, err := s.container()
	if err != nil {
		sio.closeChildEnds()
		fail(err)
		return
	}
	if s.opts.SeccompDir != "" {
		// The creator's program for the container's profile, if it is
		// still there: the exec's init then need not compile it.
		if prog, _ := seccompcache.Find(s.opts.SeccompDir, ctr.Config().Seccomp); prog != nil {
			defer prog.Close()
			proc.ExtraFiles = []*os.File{prog}
		}
	}
	// Only an exec leaves runc's stage processes as our children: watch
	// for strays from the first one on (a container without exec pays
	// nothing; watching from the start cost ~4 ms per run --rm).
	s.sweepOnce.Do(func() { s.sweepStrays(s.done) })
	if err := ctr.Run(proc); err != nil {
		sio.closeChildEnds()
		fail(err)
		return
	}
	if err := sio.afterStart(); err != nil {
		fail(err)
		return
	}
	if b := req.Process.ConsoleSize; b != nil {
		sio.resize(uint16(b.Height), uint16(b.Width))
	}
	s.mu.Lock()
	s.execs[req.Exec] = e
	s.mu.Unlock()
	pid, _ := proc.Pid()
	sio.serveClient(conn, r, req.Stdin, true, true, func() { reply(conn, Response{Pid: pid}) })
	sio.run()
	go func() {
		st, err := proc.Wait()
		e.code = exitCode(st, err)
		sio.drain(time.Second)
		close(e.done)
		s.trim.Reset(time.Second) // an exec's buffers and libcontainer's state are garbage now
		sio.closeClients()
	}()
}

// newProcess converts an OCI process as runc does.
func newProcess(p *specs.Process, init bool) (*libcontainer.Process, error) {
	nnp := p.NoNewPrivileges
	lp := &libcontainer.Process{
		Args: p.Args, Env: p.Env, Cwd: p.Cwd,
		UID: int(p.User.UID), GID: int(p.User.GID),
		NoNewPrivileges: &nnp, Init: init,
	}
	if p.ConsoleSize != nil {
		lp.ConsoleWidth, lp.ConsoleHeight = uint16(p.ConsoleSize.Width), uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{Bounding: c.Bounding, Effective: c.Effective, Permitted: c.Permitted, Inheritable: c.Inheritable, Ambient: c.Ambient}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, rl := range p.Rlimits {
		t, ok := rlimitTypes[rl.Type]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit %s", rl.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	return lp, nil
}

var rlimitTypes = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// frameHeader builds a stdcopy frame header (stream 1 stdout, 2 stderr).
func frameHeader(stream byte, n int) []byte {
	h := make([]byte, 8)
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(n))
	return h
}

// oomKilled tells whether the kernel's OOM killer killed a process of the
// container: the cgroup's oom_kill counter (memory.events on v2,
// memory.oom_control on v1), read before the cgroup is removed.
func (s *server) oomKilled() bool {
	var n uint64
	var err error
	if cgroups.IsCgroup2UnifiedMode() {
		n, err = fs2.OOMKillCount(s.cgroups[""])
	} else {
		n, err = fs.OOMKillCount(s.cgroups["memory"])
	}
	return err == nil && n > 0
}

// remove deletes the container's cgroups and libcontainer's state
// directory, which is what libcontainer's Destroy does for a container
// whose init is gone, without loading that state first (~10 ms here).
// If something is left (a process still in a cgroup), libcontainer does it.
func (s *server) remove() {
	if cgroups.RemovePaths(maps.Clone(s.cgroups)) == nil &&
		os.RemoveAll(filepath.Join(s.opts.StateRoot, s.opts.ID)) == nil {
		return
	}
	ctr, err := s.container()
	if err == nil {
		err = ctr.Destroy()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "remove the container: %v\n", err)
	}
}
