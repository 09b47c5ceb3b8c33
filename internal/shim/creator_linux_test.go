package shim

import (
	"io"
	"os"
	"testing"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

func seqpacketPair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// The shim hands the creator the child ends of the container's stdio with
// its request: what the creator's side writes must reach the shim's pipe.
func TestMessageCarriesFiles(t *testing.T) {
	shimEnd, creatorEnd := seqpacketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sent := createRequest{Bundle: "/run/x/bundle", Terminal: false}
	if err := sendMsg(shimEnd, sent, []int{int(w.Fd()), int(w.Fd())}); err != nil {
		t.Fatal(err)
	}
	w.Close() // in flight, the message holds its own reference
	var got createRequest
	fds, err := recvMsg(creatorEnd, &got)
	if err != nil {
		t.Fatal(err)
	}
	if got != sent {
		t.Errorf("request = %+v, want %+v", got, sent)
	}
	if len(fds) != 2 {
		t.Fatalf("got %d fds, want 2", len(fds))
	}
	for i, fd := range fds {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("received fd %d is not close-on-exec (flags %#x, %v)", i, flags, err)
		}
		f := os.NewFile(uintptr(fd), "stdio")
		if _, err := f.Write([]byte{'a' + byte(i)}); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "ab" {
		t.Errorf("read %q (%v) through the passed pipe, want \"ab\"", b, err)
	}
}

// A creator whose shim went away (or a shim whose creator died) sees the
// hang-up as an error, not as an empty request.
func TestRecvHangUp(t *testing.T) {
	shimEnd, creatorEnd := seqpacketPair(t)
	shimEnd.Close()
	var req createRequest
	if _, err := recvMsg(creatorEnd, &req); err == nil {
		t.Fatalf("recvMsg after hang-up: no error, got %+v", req)
	}
}

func TestRecvBadMessage(t *testing.T) {
	shimEnd, creatorEnd := seqpacketPair(t)
	if _, err := shimEnd.Write([]byte("{not json")); err != nil {
		t.Fatal(err)
	}
	var req createRequest
	if _, err := recvMsg(creatorEnd, &req); err == nil {
		t.Fatal("recvMsg of a malformed message: no error")
	}
}

func TestGiveStdio(t *testing.T) {
	a, b, c := os.Stdin, os.Stdout, os.Stderr
	for _, tc := range []struct {
		tty   bool
		files []*os.File
		ok    bool
		check func(p *libcontainer.Process) bool
	}{
		{true, []*os.File{a}, true, func(p *libcontainer.Process) bool { return p.ConsoleSocket == a && p.Stdout == nil }},
		{false, []*os.File{a, b}, true, func(p *libcontainer.Process) bool { return p.Stdout == a && p.Stderr == b && p.Stdin == nil }},
		{false, []*os.File{a, b, c}, true, func(p *libcontainer.Process) bool { return p.Stdout == a && p.Stderr == b && p.Stdin == c }},
		{true, []*os.File{a, b}, false, nil},
		{false, []*os.File{a}, false, nil},
		{false, nil, false, nil},
	} {
		p := &libcontainer.Process{}
		err := giveStdio(p, tc.tty, tc.files)
		if (err == nil) != tc.ok {
			t.Errorf("tty=%v, %d files: err = %v, want ok=%v", tc.tty, len(tc.files), err, tc.ok)
			continue
		}
		if tc.ok && !tc.check(p) {
			t.Errorf("tty=%v, %d files: wrong fields %+v", tc.tty, len(tc.files), p)
		}
	}
}
