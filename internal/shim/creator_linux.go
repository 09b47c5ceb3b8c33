package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/seccompcache"
)

// The creator is the short-lived child of a shim that makes the container
// with libcontainer (its init set up and waiting to exec the container's
// process), as `runc create` does for containerd's shim. Building libcontainer's configuration (the spec, the
// seccomp profile, encoding/json's codecs for all of them) leaves a Go
// process with about a megabyte more memory that it never gives back; in a
// process that exits, that costs nothing. When the creator exits, the
// container's init is reparented to the shim (a child subreaper), which
// waits for it as for any child.
//
// Its life: started with the spare shim (CreatorMode, fd 3 a SEQPACKET
// socket), it warms up, receives one createRequest with the child ends
// of the container's stdio, creates the container (init waits on
// libcontainer's exec fifo), answers a createReply and exits. The shim
// starts the container itself (releaseInit).

// CreatorMode is the shim program's argument that runs the creator.
const CreatorMode = "shim-create"

// DestroyMode is the shim program's argument that destroys what a killed
// shim left of a container: `shim-destroy STATE-ROOT ID` (see removeStale).
const DestroyMode = "shim-destroy"

// DestroyMain runs DestroyMode.
func DestroyMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: berth-shim shim-destroy STATE-ROOT ID")
		return 2
	}
	if err := removeStale(args[0], args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type createRequest struct {
	Bundle   string
	Terminal bool // the one fd is the console socket; else stdout, stderr[, stdin]
}

type createReply struct {
	Pid         int               `json:",omitempty"`
	CgroupPaths map[string]string `json:",omitempty"` // libcontainer's, by subsystem ("" on v2)
	Error       string            `json:",omitempty"`
}

// CreatorMain runs the creator; fd 3 is its socket to the shim.
func CreatorMain() int {
	// Started as /proc/self/exe, the kernel named it "exe".
	_ = os.WriteFile("/proc/self/comm", []byte("berth-create"), 0)
	sock := os.NewFile(3, "shim")
	go warmUp()
	var req createRequest
	fds, err := recvMsg(sock, &req)
	if err != nil {
		return 0 // the shim left before it had a container to make
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "stdio")
	}
	ctr, pid, err := createContainer(req, files)
	for _, f := range files {
		f.Close()
	}
	var st *libcontainer.State
	if err == nil {
		st, err = ctr.State()
	}
	if err != nil {
		if ctr != nil {
			_ = ctr.Destroy()
		}
		_ = sendMsg(sock, createReply{Error: err.Error()}, nil)
		return 1
	}
	if err := sendMsg(sock, createReply{Pid: pid, CgroupPaths: st.CgroupPaths}, nil); err != nil {
		_ = ctr.Destroy()
		return 1
	}
	return 0
}

// InitMain runs libcontainer's init (the shim program's "init" argument),
// with the seccomp program the creator passed it, if any. Never returns.
func InitMain() {
	seccompcache.Adopt()
	libcontainer.Init()
}

// createContainer makes the container from the bundle's spec and starts
// its init, which waits for Exec. files are the init's stdio (see createRequest).
func createContainer(req createRequest, files []*os.File) (*libcontainer.Container, int, error) {
	if err := os.Chdir(req.Bundle); err != nil {
		return nil, 0, err
	}
	b, err := os.ReadFile(OptionsFile)
	if err != nil {
		return nil, 0, err
	}
	var opts Options
	if err := json.Unmarshal(b, &opts); err != nil {
		return nil, 0, fmt.Errorf("shim options: %w", err)
	}
	if b, err = os.ReadFile(SpecFile); err != nil {
		return nil, 0, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, 0, fmt.Errorf("spec: %w", err)
	}
	if spec.Process == nil {
		return nil, 0, errors.New("spec: no process")
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: opts.ID, Spec: &spec})
	if err != nil {
		return nil, 0, err
	}
	proc, err := newProcess(spec.Process, true)
	if err != nil {
		return nil, 0, err
	}
	if err := giveStdio(proc, req.Terminal, files); err != nil {
		return nil, 0, fmt.Errorf("creator: %w", err)
	}
	if opts.SeccompDir != "" {
		prog, err := seccompcache.Open(opts.SeccompDir, cfg.Seccomp)
		if err != nil { // the init compiles the filter itself, as runc does
			fmt.Fprintln(os.Stderr, "creator: seccomp filter not precompiled:", err)
		} else if prog != nil {
			defer prog.Close()
			proc.ExtraFiles = []*os.File{prog}
		}
	}
	if err := removeStale(opts.StateRoot, opts.ID); err != nil {
		return nil, 0, fmt.Errorf("remove what a killed shim left of the container: %w", err)
	}
	ctr, err := libcontainer.Create(opts.StateRoot, opts.ID, cfg)
	if err != nil {
		return nil, 0, err
	}
	if err := ctr.Start(proc); err != nil {
		_ = ctr.Destroy()
		return nil, 0, err
	}
	pid, err := proc.Pid()
	if err != nil {
		_ = ctr.Destroy()
		return nil, 0, err
	}
	return ctr, pid, nil
}

// errCreatorGone: the creator died before it answered, perhaps after
// making the container.
var errCreatorGone = errors.New("the shim's creator exited without an answer")

// removeStale destroys what a killed shim left of the container: its
// state in libcontainer's root and any process still running in it (an
// orphan now: nobody reaps it or keeps its log). The daemon starts a shim
// only for a container it holds stopped, so what is there is stale; left
// alone, libcontainer would refuse to create the container again, as runc
// does ("container with given ID already exists").
func removeStale(root, id string) error {
	ctr, err := libcontainer.Load(root, id)
	if err != nil {
		return nil // the usual case: nothing there
	}
	_ = ctr.Signal(unix.SIGKILL) // init of its own PID namespace: they all go
	// Destroy refuses while init runs; its new parent reaps it soon.
	for i := 0; ; i++ {
		err := ctr.Destroy()
		if err == nil || i == 200 {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// creator is the shim's handle on its creator child.
type creator struct {
	cmd  *exec.Cmd
	sock *os.File
}

// startCreator starts the creator child; it warms up while the shim waits.
func startCreator() (*creator, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "creator"), os.NewFile(uintptr(fds[1]), "shim")
	defer theirs.Close()
	cmd := exec.Command("/proc/self/exe", CreatorMode)
	cmd.Args[0] = "berth-shim"
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr // the shim's log, once it has a bundle
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("start the creator: %w", err)
	}
	return &creator{cmd: cmd, sock: ours}, nil
}

// create asks for the container; stdio are the child ends of its stdio,
// which the caller may close once this returns.
func (c *creator) create(req createRequest, stdio []*os.File) (*createReply, error) {
	fds := make([]int, len(stdio))
	for i, f := range stdio {
		fds[i] = int(f.Fd())
	}
	if err := sendMsg(c.sock, req, fds); err != nil {
		return nil, fmt.Errorf("creator: %w", err)
	}
	var reply createReply
	if _, err := recvMsg(c.sock, &reply); err != nil {
		return nil, fmt.Errorf("%w (see %s): %v", errCreatorGone, LogFile, err)
	}
	if reply.Error != "" {
		return nil, errors.New(reply.Error)
	}
	return &reply, nil
}

// abandon hangs up (a creator that has not answered yet destroys what it
// made) and waits for the creator to exit.
func (c *creator) abandon() {
	c.sock.Close()
	_ = c.cmd.Wait()
}

// sendMsg sends v as one JSON message with fds attached.
func sendMsg(sock *os.File, v any, fds []int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(int(sock.Fd()), b, oob, nil, 0)
}

// recvMsg receives one message into v and returns the fds it carried.
func recvMsg(sock *os.File, v any) ([]int, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			got, err := unix.ParseUnixRights(&msgs[i])
			if err != nil {
				return nil, err
			}
			fds = append(fds, got...)
		}
	}
	if n == 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New("hung up")
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	return fds, nil
}
