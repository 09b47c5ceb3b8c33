package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Path is where the init is mounted inside containers.
const Path = "/sbin/berth-init"

// early receives every signal from the moment this package initialises
// when the process is berth-init. As PID 1 of its namespace it would lose
// a signal (a quick `stop`) that arrives before it has a handler, and in
// the whole berth binary main runs only after every package has
// initialised (~15 ms). This package depends on the standard library only
// (not even x/sys), so Go initialises it among the first.
var early chan os.Signal

func init() {
	if filepath.Base(os.Args[0]) == filepath.Base(Path) {
		early = notifyAll()
	}
}

func notifyAll() chan os.Signal {
	c := make(chan os.Signal, 64)
	signal.Notify(c)
	return c
}

// Main runs `berth-init [--] CMD [ARG...]` and returns the exit code.
func Main(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "berth-init: no command given")
		return 2
	}
	sigs := early
	if sigs == nil { // not started as berth-init
		sigs = notifyAll()
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "berth-init:", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	child := cmd.Process.Pid
	for {
		sig := <-sigs
		if sig != syscall.SIGCHLD {
			if s, ok := sig.(syscall.Signal); ok && s != syscall.SIGURG {
				_ = syscall.Kill(child, s)
			}
			continue
		}
		// Reap everything that exited; stop when the command itself has.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
}
