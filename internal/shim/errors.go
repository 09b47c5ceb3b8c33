package shim

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Kinds of failure the shim reports with an error (Response.Kind), so that
// the daemon decides exit codes and statuses from kinds, not from text.
const (
	// KindNotFound: the program to run does not exist (exit code 127).
	KindNotFound = "not-found"
	// KindPermission: it exists but cannot be executed (exit code 126).
	KindPermission = "permission"
)

// Error is a failure the shim reported.
type Error struct {
	Kind string // one of the Kind constants, or ""
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// ErrorKind is the kind of a shim's error ("" for others).
func ErrorKind(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// errorKind classifies an error of libcontainer's. Its init's errors
// cross a pipe as text, so that text is read here, once, at the boundary
// (runc's words: "executable file not found in $PATH", "no such file or
// directory", "permission denied", "is a directory").
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return KindNotFound
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOEXEC):
		return KindPermission
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return KindNotFound
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"), strings.Contains(msg, "exec format error"):
		return KindPermission
	}
	return ""
}

// failure is the Response for err, with its kind.
func failure(err error) Response { return Response{Error: err.Error(), Kind: errorKind(err)} }
