package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fifoServer is a server whose container's exec fifo is at the place
// libcontainer makes it (StateRoot/ID/exec.fifo).
func fifoServer(t *testing.T) (*server, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "c1", "exec.fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return &server{opts: Options{ID: "c1", StateRoot: root}, exited: make(chan struct{})}, path
}

// What libcontainer's init does: open the fifo for writing (which waits
// for a reader), write a byte, close it.
func initWaitingOnFifo(t *testing.T, path string) chan error {
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		_, err = f.Write([]byte("0"))
		f.Close()
		done <- err
	}()
	return done
}

func TestReleaseInit(t *testing.T) {
	s, path := fifoServer(t)
	initDone := initWaitingOnFifo(t, path)
	if err := s.releaseInit(); err != nil {
		t.Fatal(err)
	}
	if err := <-initDone; err != nil {
		t.Fatalf("init's side: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the exec fifo is still there (%v); libcontainer reads its absence as \"running\"", err)
	}
}

func TestReleaseInitThatDied(t *testing.T) {
	s, _ := fifoServer(t)
	close(s.exited) // init exited before it opened the fifo
	err := s.releaseInit()
	if err == nil || !strings.Contains(err.Error(), "already dead") {
		t.Fatalf("releaseInit = %v, want \"container process is already dead\"", err)
	}
}

// TestReleaseInitThatRanAndExitedAtOnce: init is released and exits
// (echo) while the shim's open of the fifo is returning, so the shim
// learns of the exit no later than of the open. That is a start, not a
// death before it (the start failed with "container process is already
// dead" although the container had run).
func TestReleaseInitThatRanAndExitedAtOnce(t *testing.T) {
	s, path := fifoServer(t)
	close(s.exited) // the exit is known first...
	initDone := make(chan error, 1)
	go func() { // ...and init's end of the fifo opens a moment later
		time.Sleep(20 * time.Millisecond)
		initDone <- <-initWaitingOnFifo(t, path)
	}()
	if err := s.releaseInit(); err != nil {
		t.Fatalf("releaseInit = %v, want the start to count", err)
	}
	if err := <-initDone; err != nil {
		t.Fatalf("init's side: %v", err)
	}
}

func TestReleaseInitWithoutFifo(t *testing.T) {
	s, path := fifoServer(t)
	os.Remove(path) // started already
	if err := s.releaseInit(); err == nil || !strings.Contains(err.Error(), "exec fifo") {
		t.Fatalf("releaseInit = %v, want an exec fifo error", err)
	}
}
