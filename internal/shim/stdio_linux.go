package shim

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/logs"
)

const maxLogLine = 16 << 10

// stdio owns one process's stdio: pipes, or a TTY master received over a
// console socket; it fans output out to the log and to attached clients.
type stdio struct {
	tty bool
	log *logs.Writer // nil: output is not logged (exec)

	childEnds []*os.File // given to the process, closed by us after start
	console   *os.File   // our end of the console socket
	stdin     *os.File   // write end of stdin (or the TTY master)
	outputs   []output

	readers sync.WaitGroup
	mu      sync.Mutex
	clients map[*client]bool
	partial [3][]byte
	stdinMu sync.Mutex
	inputs  sync.WaitGroup // clients' input copies in flight
}

type output struct {
	f      *os.File
	stream byte // 1 stdout, 2 stderr
}

type client struct {
	conn           net.Conn
	stdout, stderr bool
}

// newStdio makes the pipes (or the console socket) of a process. Its
// childEnds are, in order, the console socket, or stdout, stderr and, with
// openStdin, stdin: the creator relies on that order.
func newStdio(tty, openStdin bool, log *logs.Writer) (*stdio, error) {
	s := &stdio{tty: tty, log: log, clients: map[*client]bool{}}
	if tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		s.console = os.NewFile(uintptr(fds[0]), "console-parent")
		s.childEnds = append(s.childEnds, os.NewFile(uintptr(fds[1]), "console-child"))
		return s, nil
	}
	for _, stream := range []byte{1, 2} {
		r, w, err := os.Pipe()
		if err != nil {
			s.closeAll()
			return nil, err
		}
		s.outputs = append(s.outputs, output{f: r, stream: stream})
		s.childEnds = append(s.childEnds, w)
	}
	if openStdin {
		r, w, err := os.Pipe()
		if err != nil {
			s.closeAll()
			return nil, err
		}
		s.stdin = w
		s.childEnds = append(s.childEnds, r)
	}
	return s, nil
}

// giveStdio hands a process the child ends of its stdio, in newStdio's
// order: the console socket, or stdout, stderr[, stdin].
func giveStdio(p *libcontainer.Process, tty bool, files []*os.File) error {
	switch {
	case tty && len(files) == 1:
		p.ConsoleSocket = files[0]
	case !tty && (len(files) == 2 || len(files) == 3):
		p.Stdout, p.Stderr = files[0], files[1]
		if len(files) == 3 {
			p.Stdin = files[2]
		}
	default:
		return fmt.Errorf("%d stdio files for terminal=%v", len(files), tty)
	}
	return nil
}

// closeAll closes what newStdio made, for a process that never started.
func (s *stdio) closeAll() {
	s.closeChildEnds()
	for _, o := range s.outputs {
		o.f.Close()
	}
	if s.stdin != nil {
		s.stdin.Close()
	}
	if s.console != nil {
		s.console.Close()
	}
}

func (s *stdio) closeChildEnds() {
	for _, f := range s.childEnds {
		f.Close()
	}
	s.childEnds = nil
}

// afterStart closes the process's ends and, for a TTY, receives the master.
func (s *stdio) afterStart() error {
	s.closeChildEnds()
	if !s.tty {
		return nil
	}
	defer s.console.Close()
	master, err := recvFile(s.console)
	if err != nil {
		return fmt.Errorf("receive console: %w", err)
	}
	s.stdin = master
	s.outputs = []output{{f: master, stream: 1}}
	return nil
}

func recvFile(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("expected one control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("expected one fd: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// run starts copying output; call it once clients that must see the first
// bytes are registered.
func (s *stdio) run() {
	for _, o := range s.outputs {
		s.readers.Add(1)
		go func(o output) {
			defer s.readers.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := o.f.Read(buf)
				if n > 0 {
					s.emit(o.stream, buf[:n])
				}
				if err != nil {
					return // EOF, or EIO on a TTY master once the slave is gone
				}
			}
		}(o)
	}
}

func (s *stdio) emit(stream byte, p []byte) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log != nil {
		s.logLines(stream, p, now)
	}
	for c := range s.clients {
		if stream == 1 && !c.stdout || stream == 2 && !c.stderr {
			continue
		}
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		var err error
		if s.tty {
			_, err = c.conn.Write(p)
		} else {
			_, err = c.conn.Write(append(frameHeader(stream, len(p)), p...))
		}
		if err != nil {
			c.conn.Close()
			delete(s.clients, c)
		}
	}
}

func streamName(stream byte) string {
	if stream == 2 {
		return "stderr"
	}
	return "stdout"
}

func (s *stdio) logLines(stream byte, p []byte, now time.Time) {
	buf := append(s.partial[stream], p...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		_ = s.log.Write(streamName(stream), buf[:i+1], now)
		buf = buf[i+1:]
	}
	if len(buf) >= maxLogLine {
		_ = s.log.Write(streamName(stream), buf, now)
		buf = nil
	}
	s.partial[stream] = append([]byte(nil), buf...)
}

// drain waits (at most timeout) for the outputs to end, then flushes
// partial log lines.
func (s *stdio) drain(timeout time.Duration) {
	done := make(chan struct{})
	go func() { s.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		for _, o := range s.outputs {
			o.f.Close()
		}
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log != nil {
		for stream, b := range s.partial {
			if len(b) > 0 {
				_ = s.log.Write(streamName(byte(stream)), b, time.Now())
			}
		}
		_ = s.log.Close()
	}
	for _, o := range s.outputs {
		o.f.Close()
	}
	s.closeStdin()
}

func (s *stdio) closeStdin() {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil && !s.tty {
		s.stdin.Close()
		s.stdin = nil
	}
}

// closeClients ends every attached stream.
func (s *stdio) closeClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.conn.Close()
	}
	s.clients = map[*client]bool{}
}

// serveClient registers conn for output and, if asked, copies its bytes
// to stdin. The end of the client's input does not close stdin: a client
// that detaches also stops sending. Stdin closes on an explicit request
// (closeInput), which the daemon makes when its client's input really ended.
func (s *stdio) serveClient(conn net.Conn, r *bufio.Reader, stdin, stdout, stderr bool, answer func()) {
	if stdin {
		// Counted before the answer, so a close request that follows
		// the answer waits for this client's input.
		s.inputs.Add(1)
	}
	answer() // before any output frame reaches the connection
	s.mu.Lock()
	s.clients[&client{conn: conn, stdout: stdout, stderr: stderr}] = true
	s.mu.Unlock()
	if !stdin {
		return
	}
	go func() {
		defer s.inputs.Done()
		s.stdinMu.Lock()
		w := s.stdin
		s.stdinMu.Unlock()
		if w == nil {
			io.Copy(io.Discard, r)
			return
		}
		io.Copy(w, r)
	}()
}

// closeInput ends the process's input. With a TTY it does nothing, as in
// Docker: a client's end of input (or a client that detached by closing
// its connection) must not hang up the terminal; the user types ^D.
// The input a client sent before it ended is delivered first.
func (s *stdio) closeInput() {
	if s.tty {
		return
	}
	done := make(chan struct{})
	go func() { s.inputs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // another client still sends
	}
	s.closeStdin()
}

func (s *stdio) resize(h, w uint16) {
	if !s.tty || s.stdin == nil || h == 0 || w == 0 {
		return
	}
	_ = unix.IoctlSetWinsize(int(s.stdin.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
}
