package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Version is the format of what the daemon and the shim exchange through
// files and the socket (shim.json, exit.json, requests and responses).
// Fields are only ever added, with defaults that mean the old behaviour,
// so a newer daemon keeps talking to older shims (upgrades with running
// containers); a shim or daemon given a newer version than its own refuses
// with the reason.
//
//	(absent) berth up to 0.1.0 (commit bdcf924)
//	1        Options.LogCompress, Response.Kind
//	2        the "update" op (Request.Resources), Options.LogAttrs
const Version = 2

// Options is what the daemon writes to shim.json in the bundle.
type Options struct {
	Version     int `json:",omitempty"`
	ID          string
	Socket      string // unix socket the shim serves on
	StateRoot   string // libcontainer state root
	SeccompDir  string // precompiled seccomp programs (internal/seccompcache)
	LogPath     string // the container's log ("": none is kept)
	LogMaxSize  int64
	LogMaxFiles int
	LogCompress bool              // gzip rotated files
	LogAttrs    map[string]string `json:",omitempty"` // with every json-file entry
	OpenStdin   bool
	StdinOnce   bool
	// From the spec's process, so that the shim need not read the spec
	// (its creator does): a TTY, and its size at start.
	Terminal    bool
	ConsoleSize *specs.Box `json:",omitempty"`
}

// SpareFlag starts a shim that waits for its bundle (see Main).
const SpareFlag = "--spare"

// Files in the bundle directory.
const (
	OptionsFile = "shim.json"
	SpecFile    = "config.json"
	ExitFile    = "exit.json"
	PidFile     = "shim.pid"
	LogFile     = "shim.log"
)

// Request is one call on the shim socket (a JSON line).
type Request struct {
	Op      string          `json:"op"`
	Signal  int             `json:"signal,omitempty"`
	Exec    string          `json:"exec,omitempty"`
	Process *specs.Process  `json:"process,omitempty"`
	Stdin   bool            `json:"stdin,omitempty"`
	Stdout  bool            `json:"stdout,omitempty"`
	Stderr  bool            `json:"stderr,omitempty"`
	Height  uint16          `json:"h,omitempty"`
	Width   uint16          `json:"w,omitempty"`
	Extra   json.RawMessage `json:"extra,omitempty"`
	// Resources are the new limits of an "update".
	Resources *specs.LinuxResources `json:"resources,omitempty"`
}

// Response is the shim's answer (a JSON line). For attach and exec the
// connection then carries the stream.
type Response struct {
	Error    string          `json:"error,omitempty"`
	Kind     string          `json:"kind,omitempty"` // the Error's kind (errors.go)
	Pid      int             `json:"pid,omitempty"`
	Status   string          `json:"status,omitempty"` // created, running, paused, stopped
	Exit     *ExitStatus     `json:"exit,omitempty"`
	Pids     []int           `json:"pids,omitempty"`
	Stats    json.RawMessage `json:"stats,omitempty"`
	ExitCode int             `json:"exitCode,omitempty"`
	Running  bool            `json:"running,omitempty"`
}

// Err is the response's error (nil if none), with its kind. A shim older
// than format 1 sends no kind: its text is classified here, as that shim
// would have (containers started before an upgrade keep their exit codes).
func (r *Response) Err() error {
	if r.Error == "" {
		return nil
	}
	kind := r.Kind
	if kind == "" {
		kind = errorKind(errors.New(r.Error))
	}
	return &Error{Kind: kind, Msg: r.Error}
}

// ExitStatus is how a container's init ended.
type ExitStatus struct {
	Version   int       `json:"version,omitempty"`
	Code      int       `json:"code"`
	ExitedAt  time.Time `json:"exitedAt"`
	Error     string    `json:"error,omitempty"`
	OOMKilled bool      `json:"oomKilled,omitempty"`
}

// ReadExitFile returns the exit status recorded in bundle, if any.
func ReadExitFile(bundle string) (*ExitStatus, error) {
	b, err := os.ReadFile(filepath.Join(bundle, ExitFile))
	if err != nil {
		return nil, err
	}
	var st ExitStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("exit file: %w", err)
	}
	if st.Version > Version {
		return nil, fmt.Errorf("exit file: written by a newer berth (format %d, this one reads up to %d)", st.Version, Version)
	}
	return &st, nil
}

// Client talks to one shim.
type Client struct {
	Socket string
}

// ErrShimGone means no shim answers on the socket.
var ErrShimGone = errors.New("shim is not running")

// Dial opens a connection and sends req; the caller reads the response
// with ReadResponse and may then use the connection as a stream.
func (c *Client) Dial(req Request) (net.Conn, *bufio.Reader, error) {
	conn, err := net.Dial("unix", c.Socket)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	return conn, bufio.NewReader(conn), nil
}

// ReadResponse reads one response line.
func ReadResponse(r *bufio.Reader) (*Response, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		// The shim closed the connection before answering (EOF, or a reset
		// when it exited with the request unread): it is going away.
		if err == io.EOF {
			return nil, ErrShimGone
		}
		return nil, fmt.Errorf("%w: %v", ErrShimGone, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("shim response: %w", err)
	}
	return &resp, resp.Err()
}

// Call makes a request that needs no stream.
func (c *Client) Call(req Request) (*Response, error) {
	conn, r, err := c.Dial(req)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return ReadResponse(r)
}
