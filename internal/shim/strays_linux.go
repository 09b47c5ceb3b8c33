package shim

import (
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// An exec's process is started by libcontainer through runc's nsexec,
// whose stage-1 and stage-2 processes are clone(CLONE_PARENT) children:
// children of this shim. When an exec fails half-way (typically because
// the container is being killed at that moment), libcontainer returns
// without reaping them, and they stay zombies of the shim. Those that had
// entered the container's pid namespace then keep its init from ever
// finishing its exit (the kernel's zap_pid_ns_processes waits until every
// process of the namespace is reaped): the container could not be
// stopped or removed. So the shim reaps, at every SIGCHLD from its first
// exec on, the zombies among its children that are runc's stage processes
// and that nobody waits for.

// strayComm reports whether a process named comm is one of runc's
// intermediate stages that libcontainer may leave behind. Stage 0
// ("runc:[0:PARENT]") is always waited for by libcontainer itself.
func strayComm(comm string) bool {
	return strings.HasPrefix(comm, "runc:[1:") || strings.HasPrefix(comm, "runc:[2:")
}

// reapStrays reaps the zombie children of this process that strayComm
// names and keep does not claim. It returns the pids it reaped.
func reapStrays(keep func(pid int) bool) []int {
	var reaped []int
	for _, pid := range children() {
		if keep(pid) {
			continue
		}
		state, comm, ok := procState(pid)
		if !ok || state != 'Z' || !strayComm(comm) {
			continue
		}
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
			reaped = append(reaped, pid)
		}
	}
	return reaped
}

// children lists this process's children (every thread's).
func children() []int {
	var out []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// procState reads a process's state letter and command name.
func procState(pid int) (byte, string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || len(s) < end+3 {
		return 0, "", false
	}
	return s[end+2], s[open+1 : end], true
}

// sweepStrays reaps strays at every SIGCHLD from now until done is
// closed (it returns at once; the sweeping goes on in a goroutine).
func (s *server) sweepStrays(done <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGCHLD)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ch:
				reapStrays(s.waitedFor)
			case <-done:
				return
			}
		}
	}()
}

// waitedFor reports whether pid is a process the shim waits for itself:
// the container's init or an exec's process.
func (s *server) waitedFor(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pid == s.initPid {
		return true
	}
	for _, e := range s.execs {
		if p, err := e.proc.Pid(); err == nil && p == pid {
			return true
		}
	}
	return false
}
