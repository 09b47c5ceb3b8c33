package containers

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/berthproject/berth/internal/api/httputil"
	ctr "github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/logs"
)

func handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return httputil.Handle(h)
}

func (rt *Router) create(w http.ResponseWriter, r *http.Request) error {
	var req container.CreateRequest
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return errdefs.ErrInvalidArgument.WithMessage("config cannot be empty in order to create a container")
	}
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	createDefaults(r, req.HostConfig)
	if err := hostPlatform(r.FormValue("platform")); err != nil {
		return err
	}
	res, err := rt.b.Create(r.FormValue("name"), req.Config, req.HostConfig, req.NetworkingConfig)
	if err != nil {
		return err
	}
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	httputil.WriteJSON(w, http.StatusCreated, container.CreateResponse{ID: res.ID, Warnings: res.Warnings})
	return nil
}

func (rt *Router) list(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task",
		"label", "name", "network", "publish", "since", "status", "volume")
	if err != nil {
		return err
	}
	before, since, err := httputil.BeforeSince(f, func(ref string) (time.Time, error) {
		rec, err := rt.b.Get(ref)
		return rec.Created, err
	})
	if err != nil {
		return err
	}
	limit, err := httputil.IntValue(r, "limit", -1)
	if err != nil {
		return err
	}
	all := httputil.BoolValue(r, "all") || limit > 0
	size := httputil.BoolValue(r, "size")
	out := []container.Summary{}
	for _, rec := range rt.b.List() {
		if !all && !rec.Running() {
			continue
		}
		if !matchFilters(f, &rec) || !before.IsZero() && !rec.Created.Before(before) || !since.IsZero() && !rec.Created.After(since) {
			continue
		}
		sum := summary(&rec)
		if size {
			if sum.SizeRw, sum.SizeRootFs, err = rt.b.Size(rec.ID); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
		}
		out = append(out, sum)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *Router) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := httputil.Filters(r, "until", "label", "label!")
	if err != nil {
		return err
	}
	sel, err := httputil.PruneSelector(f)
	if err != nil {
		return err
	}
	deleted, reclaimed, err := rt.b.Prune(func(rec ctr.Record) bool { return sel(rec.Created, rec.Config.Labels) })
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []string{}
	}
	httputil.WriteJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: deleted, SpaceReclaimed: uint64(reclaimed)})
	return nil
}

func (rt *Router) inspect(w http.ResponseWriter, r *http.Request) error {
	rec, err := rt.b.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	out := inspect(&rec)
	if httputil.BoolValue(r, "size") {
		rw, rootfs, err := rt.b.Size(rec.ID)
		if err != nil {
			return err
		}
		out.SizeRw, out.SizeRootFs = &rw, &rootfs
	}
	httputil.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (rt *Router) start(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Start(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func timeoutParam(r *http.Request) (*int, error) {
	if r.FormValue("t") == "" {
		return nil, nil
	}
	t, err := httputil.IntValue(r, "t", 0)
	return &t, err
}

func (rt *Router) stop(w http.ResponseWriter, r *http.Request) error {
	t, err := timeoutParam(r)
	if err != nil {
		return err
	}
	// As Docker: a stop whose client went away still completes.
	if err := rt.b.Stop(context.WithoutCancel(r.Context()), r.PathValue("id"), t, r.FormValue("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) restart(w http.ResponseWriter, r *http.Request) error {
	t, err := timeoutParam(r)
	if err != nil {
		return err
	}
	// As Docker: a restart whose client went away still completes (and
	// says so in its event).
	if err := rt.b.Restart(context.WithoutCancel(r.Context()), r.PathValue("id"), t, r.FormValue("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) kill(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Kill(r.PathValue("id"), r.FormValue("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) remove(w http.ResponseWriter, r *http.Request) error {
	if httputil.BoolValue(r, "link") {
		return errdefs.ErrInvalidArgument.WithMessage("berth: rm --link is not supported yet (it removes a legacy link)")
	}
	if err := rt.b.Remove(r.PathValue("id"), httputil.BoolValue(r, "force"), httputil.BoolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) rename(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Rename(r.PathValue("id"), r.FormValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// hostPlatform accepts a create's platform ("os/arch[/variant]") only if
// it is the host's: berth runs no emulation, and keeps one image per
// reference.
func hostPlatform(p string) error {
	if p == "" {
		return nil
	}
	parts := strings.Split(strings.ToLower(p), "/")
	arch := ""
	if len(parts) > 1 {
		arch = parts[1]
	}
	if arch == "x86_64" || arch == "x86-64" {
		arch = "amd64"
	}
	if arch == "aarch64" {
		arch = "arm64"
	}
	if parts[0] != "linux" || len(parts) < 2 || arch != goruntime.GOARCH {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: create --platform %s is not supported: only the host's platform, linux/%s", p, goruntime.GOARCH))
	}
	return nil
}

func (rt *Router) update(w http.ResponseWriter, r *http.Request) error {
	var u container.UpdateConfig
	if err := httputil.DecodeJSON(r, &u); err != nil {
		return err
	}
	warnings, err := rt.b.Update(r.PathValue("id"), u)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	httputil.WriteJSON(w, http.StatusOK, container.UpdateResponse{Warnings: warnings})
	return nil
}

func (rt *Router) pause(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Pause(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rt *Router) unpause(w http.ResponseWriter, r *http.Request) error {
	if err := rt.b.Unpause(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait sends the headers as soon as the waiter is registered, then the
// result when the condition holds.
func (rt *Router) wait(w http.ResponseWriter, r *http.Request) error {
	fw := httputil.NewFlushWriter(w)
	sent := false
	res, err := rt.b.Wait(r.Context(), r.PathValue("id"), waitCondition(r), func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fw.Write(nil)
		sent = true
	})
	if err != nil && !sent {
		return err
	}
	resp := container.WaitResponse{StatusCode: int64(res.StatusCode)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	} else if res.Error != "" {
		resp.Error = &container.WaitExitError{Message: res.Error}
	}
	httputil.WriteJSONBody(fw, resp)
	return nil
}

func (rt *Router) attach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	rec, err := rt.b.Get(id)
	if err != nil {
		return err
	}
	if !httputil.BoolValue(r, "stream") && !httputil.BoolValue(r, "logs") {
		return errdefs.ErrInvalidArgument.WithMessage("Bad parameters: you must choose at least one stream")
	}
	keys, err := detachKeys(r.FormValue("detachKeys"))
	if err != nil {
		return err
	}
	conn, buffered, err := httputil.Hijack(w, r, rec.Config.Tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	if httputil.BoolValue(r, "logs") {
		// What the container logged so far first, as Docker does.
		opts := logs.ReadOptions{Stdout: httputil.BoolValue(r, "stdout"), Stderr: httputil.BoolValue(r, "stderr"), Tail: -1}
		_, err := rt.b.Logs(r.Context(), rec.ID, opts, func(e logs.Entry) error {
			return writeLogLine(conn, rec.Config.Tty, e, e.Log)
		})
		if err != nil || !httputil.BoolValue(r, "stream") {
			return nil
		}
	}
	stdin := httputil.BoolValue(r, "stdin")
	st, err := rt.b.Attach(r.Context(), id, stdin, httputil.BoolValue(r, "stdout"), httputil.BoolValue(r, "stderr"))
	if err != nil {
		fmt.Fprintf(conn, "Error attaching: %s\n", err)
		return nil
	}
	if !rec.Config.Tty {
		keys = nil // as Docker: detach keys need the container's terminal
	}
	relay(conn, buffered, st, stdin && rec.Config.OpenStdin, keys)
	return nil
}

// relay copies the client's input to the stream and the stream's output
// to the client until the output ends, or the client types the detach
// keys (nil: none), which closes the hijacked connection.
func relay(client net.Conn, clientIn io.Reader, st *ctr.Stream, stdin bool, keys []byte) {
	defer st.Conn.Close()
	if stdin {
		go func() {
			detached := false
			in := clientIn
			if len(keys) > 0 {
				in = &detachReader{r: clientIn, keys: keys, onDetach: func() { detached = true; client.Close(); st.Conn.Close() }}
			}
			_, err := io.Copy(st.Conn, in)
			if err == nil && !detached && st.CloseStdin != nil {
				// The client's input ended (EOF, not a detach): let the shim
				// see the end of the bytes, then close the process's stdin.
				if cw, ok := st.Conn.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				_ = st.CloseStdin()
			}
		}()
	}
	io.Copy(client, st.Reader)
}

func detachKeys(s string) ([]byte, error) {
	if s == "" {
		return []byte{16, 17}, nil // ctrl-p ctrl-q
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch {
		case len(k) == 6 && strings.HasPrefix(k, "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				out = append(out, c-'['+27)
			default:
				return nil, errdefs.ErrInvalidArgument.WithMessage("Invalid detach keys (" + s + ") provided")
			}
		case len(k) == 1:
			out = append(out, k[0])
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage("Invalid detach keys (" + s + ") provided")
		}
	}
	return out, nil
}

// detachReader passes input through until the detach sequence is seen.
type detachReader struct {
	r        io.Reader
	keys     []byte
	matched  int
	onDetach func()
}

func (d *detachReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.onDetach()
				return 0, io.EOF
			}
		} else {
			d.matched = 0
		}
	}
	return n, err
}

func (rt *Router) logs(w http.ResponseWriter, r *http.Request) error {
	stdout, stderr := httputil.BoolValue(r, "stdout"), httputil.BoolValue(r, "stderr")
	if !stdout && !stderr {
		return errdefs.ErrInvalidArgument.WithMessage("Bad parameters: you must choose at least one stream")
	}
	opts := logs.ReadOptions{Stdout: stdout, Stderr: stderr, Tail: -1, Follow: httputil.BoolValue(r, "follow")}
	if t := r.FormValue("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return errdefs.ErrInvalidArgument.WithMessage("invalid value for tail: " + t)
		}
		opts.Tail = n
	}
	var err error
	if opts.Since, err = httputil.ParseTime(r.FormValue("since")); err != nil {
		return err
	}
	if opts.Until, err = httputil.ParseTime(r.FormValue("until")); err != nil {
		return err
	}
	rec, err := rt.b.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	timestamps := httputil.BoolValue(r, "timestamps")
	ct := "application/vnd.docker.multiplexed-stream"
	if rec.Config.Tty {
		ct = "application/vnd.docker.raw-stream"
	}
	fw := httputil.NewFlushWriter(w)
	sent := false
	opts.Ready = func() { // the log can be read: the headers go at once
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		fw.Write(nil)
		sent = true
	}
	details := httputil.BoolValue(r, "details")
	_, err = rt.b.Logs(r.Context(), rec.ID, opts, func(e logs.Entry) error {
		line := e.Log
		if details {
			line = logs.Details(e.Attrs) + line
		}
		if timestamps {
			line = e.Time.Format(rfc3339NanoFixed) + " " + line
		}
		return writeLogLine(fw, rec.Config.Tty, e, line)
	})
	if err != nil && !sent {
		return err
	}
	return nil // after the headers, nothing more can be said
}

func sizeParams(r *http.Request) (uint16, uint16, error) {
	h, err := httputil.IntValue(r, "h", 0)
	if err != nil {
		return 0, 0, err
	}
	wd, err := httputil.IntValue(r, "w", 0)
	if err != nil {
		return 0, 0, err
	}
	if h < 0 || wd < 0 || h > 65535 || wd > 65535 {
		return 0, 0, errdefs.ErrInvalidArgument.WithMessage("invalid terminal size")
	}
	return uint16(h), uint16(wd), nil
}

func (rt *Router) resize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	if err := rt.b.Resize(r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) top(w http.ResponseWriter, r *http.Request) error {
	titles, procs, err := rt.b.Top(r.PathValue("id"), r.FormValue("ps_args"))
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusOK, container.TopResponse{Titles: titles, Processes: procs})
	return nil
}

func (rt *Router) execCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecOptions
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	if _, err := detachKeys(req.DetachKeys); err != nil {
		return err
	}
	cfg := ctr.ExecConfig{Cmd: req.Cmd, Env: req.Env, WorkingDir: req.WorkingDir, User: req.User, Tty: req.Tty,
		AttachStdin: req.AttachStdin, AttachStdout: req.AttachStdout, AttachStderr: req.AttachStderr, Privileged: req.Privileged,
		ConsoleSize: req.ConsoleSize, DetachKeys: req.DetachKeys}
	id, err := rt.b.ExecCreate(r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
	return nil
}

func (rt *Router) execStart(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecStartOptions
	if err := httputil.DecodeJSON(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	info, err := rt.b.ExecInspect(id)
	if err != nil {
		return err
	}
	if req.Detach {
		if _, err := rt.b.ExecStart(id, true, req.ConsoleSize); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	keys, err := detachKeys(info.Config.DetachKeys)
	if err != nil {
		return err
	}
	// As Docker: the framing follows exec *start*'s Tty; whether the
	// process has a terminal is exec create's.
	conn, buffered, err := httputil.Hijack(w, r, req.Tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := rt.b.ExecStart(id, false, req.ConsoleSize)
	if err != nil {
		// Like moby: after the hijack the error goes into the stream.
		msg := err.Error() + "\r\n"
		if req.Tty {
			io.WriteString(conn, msg)
		} else {
			conn.Write(frame(1, []byte(msg)))
		}
		return nil
	}
	// (Before API 1.42 only the content type says raw; the frames stay.)
	if framed := !req.Tty; framed != !st.Tty {
		st = reframe(st, framed)
	}
	if !info.Config.Tty {
		keys = nil // as Docker: detach keys need the exec's terminal
	}
	relay(conn, buffered, st, info.Config.AttachStdin, keys)
	return nil
}

// writeLogLine writes line, the text of log entry e, as a container's
// stream carries it: raw with a TTY, else in a stdcopy frame of its stream.
// rfc3339NanoFixed is Docker's log timestamp: always nine digits of
// fraction, so that lines align.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

func writeLogLine(w io.Writer, tty bool, e logs.Entry, line string) error {
	if tty {
		_, err := io.WriteString(w, line)
		return err
	}
	stream := byte(1)
	if e.Stream == "stderr" {
		stream = 2
	}
	_, err := w.Write(frame(stream, []byte(line)))
	return err
}

// frame wraps p in one stdcopy frame of stream (1 stdout, 2 stderr).
func frame(stream byte, p []byte) []byte {
	hdr := make([]byte, 8, 8+len(p))
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	return append(hdr, p...)
}

// reframe converts st's output to what the client asked for: raw bytes
// (a terminal's) into stdout frames, or frames into raw bytes.
func reframe(st *ctr.Stream, framed bool) *ctr.Stream {
	pr, pw := io.Pipe()
	src := st.Reader
	go func() {
		if framed {
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					if _, werr := pw.Write(frame(1, buf[:n])); werr != nil {
						return
					}
				}
				if err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
		hdr := make([]byte, 8)
		for {
			if _, err := io.ReadFull(src, hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.CopyN(pw, src, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	out := *st
	out.Reader = bufio.NewReader(pr)
	out.Tty = !framed
	// Closing the stream (the client went away) also ends the converter,
	// which may be blocked writing to a pipe nobody reads any more.
	out.Conn = pipeClosingConn{Conn: st.Conn, pipe: pr}
	return &out
}

// pipeClosingConn closes a pipe's read end with the connection.
type pipeClosingConn struct {
	net.Conn
	pipe *io.PipeReader
}

func (c pipeClosingConn) Close() error {
	c.pipe.Close()
	return c.Conn.Close()
}

// CloseWrite passes the client's end of input on.
func (c pipeClosingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (rt *Router) execResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	if err := rt.b.ExecResize(r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (rt *Router) execInspect(w http.ResponseWriter, r *http.Request) error {
	info, err := rt.b.ExecInspect(r.PathValue("id"))
	if err != nil {
		return err
	}
	httputil.WriteJSON(w, http.StatusOK, execInspect(info))
	return nil
}
