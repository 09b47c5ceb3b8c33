package shim

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind string
	}{
		{nil, ""},
		{exec.ErrNotFound, KindNotFound},
		{fmt.Errorf("start: %w", os.ErrNotExist), KindNotFound},
		{&os.PathError{Op: "exec", Path: "/etc", Err: syscall.EISDIR}, KindPermission},
		{os.ErrPermission, KindPermission},
		// libcontainer's init errors arrive as text.
		{errors.New(`unable to start container process: exec: "nosuch": executable file not found in $PATH`), KindNotFound},
		{errors.New(`exec: "/x": stat /x: no such file or directory`), KindNotFound},
		{errors.New(`exec /etc: permission denied`), KindPermission},
		{errors.New(`exec /etc: is a directory`), KindPermission},
		{errors.New("cgroup: something else"), ""},
	} {
		if got := errorKind(tc.err); got != tc.kind {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.kind)
		}
	}
}

// The kind survives the socket: the daemon reads a *Error with it.
func TestResponseCarriesTheKind(t *testing.T) {
	r, w, _ := os.Pipe()
	reply(w, failure(errors.New(`exec: "nosuch": executable file not found in $PATH`)))
	w.Close()
	_, err := ReadResponse(bufio.NewReader(r))
	if ErrorKind(err) != KindNotFound || err.Error() != `exec: "nosuch": executable file not found in $PATH` {
		t.Fatalf("read back %v (kind %q)", err, ErrorKind(err))
	}
	if ErrorKind(fmt.Errorf("wrapped: %w", err)) != KindNotFound {
		t.Fatal("the kind is lost when wrapped")
	}
}

// A shim older than format 1 sends no kind; its text still gives one.
func TestResponseOfAnOlderShim(t *testing.T) {
	old := Response{Error: `exec: "nosuch": executable file not found in $PATH`}
	if ErrorKind(old.Err()) != KindNotFound {
		t.Fatalf("kind %q", ErrorKind(old.Err()))
	}
	if (&Response{}).Err() != nil {
		t.Fatal("no error, yet Err() is not nil")
	}
}
