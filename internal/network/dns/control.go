package dns

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Resolver is the daemon's handle on its resolver process: it writes the
// records and has the process serve them, starting the process when
// there is someone to serve and stopping it when there is no one.
type Resolver struct {
	Dir    string // records, control socket, pid and log
	Binary string // berth, run as `berth dns-resolver DIR`
	mu     sync.Mutex
	known  bool // the running resolver's format was checked
}

// Update makes recs what the resolver serves, and returns the containers
// it could not serve, with why.
func (r *Resolver) Update(recs *Records) (map[string]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := Write(r.Dir, recs); err != nil {
		return nil, fmt.Errorf("write the DNS records: %w", err)
	}
	if len(recs.Clients) == 0 {
		r.stop()
		return nil, nil
	}
	if !r.known {
		format, err := r.call("format")
		if err == nil && strings.TrimSpace(format[0]) != fmt.Sprint(Format) {
			r.stop() // a resolver of another berth: replaced
			err = errors.New("replaced")
		}
		if err != nil {
			if err := r.start(); err != nil {
				return nil, err
			}
		}
		r.known = true
	}
	lines, err := r.call("reload")
	if err != nil {
		r.known = false
		return nil, fmt.Errorf("the DNS resolver: %w", err)
	}
	fails := map[string]string{}
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "fail "); ok {
			id, msg, _ := strings.Cut(rest, " ")
			fails[id] = msg
		}
	}
	if msg, ok := fails["*"]; ok {
		return fails, errors.New(msg)
	}
	return fails, nil
}

// call sends one command and returns the reply's lines up to "ok".
func (r *Resolver) call(cmd string) ([]string, error) {
	conn, err := net.DialTimeout("unix", filepath.Join(r.Dir, ctlSocket), time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintln(conn, cmd); err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		l := sc.Text()
		if l == "ok" {
			return lines, nil
		}
		if cmd == "format" {
			return []string{l}, nil
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("the DNS resolver hung up")
}

// start runs a resolver and waits until it answers.
func (r *Resolver) start() error {
	logf, err := os.OpenFile(filepath.Join(r.Dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(r.Binary, "dns-resolver", r.Dir)
	cmd.Args[0] = "berth-dns"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.Env = []string{"GOMAXPROCS=2"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the daemon
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the DNS resolver: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaped while the daemon lives
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-exited:
			return fmt.Errorf("the DNS resolver exited at start (%v); see %s", err, filepath.Join(r.Dir, "log"))
		default:
		}
		if _, err := r.call("format"); err == nil {
			return nil
		}
	}
	_ = cmd.Process.Kill()
	return errors.New("the DNS resolver did not answer within 10s")
}

// stop has a running resolver exit.
func (r *Resolver) stop() {
	_, _ = r.call("exit")
	r.known = false
}
