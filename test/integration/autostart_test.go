//go:build integration

package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/network/bridge"
	"github.com/berthproject/berth/internal/testutil"
)

// TestCLIStartsDaemonOnDefaultSocket is the README's first command: with no
// daemon on /run/berth/berth.sock, `berth run --rm hello-world` starts one
// in the background, says so on stderr, and prints the greeting. It only
// runs on a machine where nothing uses the default socket and data root,
// and removes what it created.
func TestCLIStartsDaemonOnDefaultSocket(t *testing.T) {
	testutil.RequiresRoot(t)
	const sock, dataRoot, execRoot = "/run/berth/berth.sock", "/var/lib/berth", "/run/berth"
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Skip("a daemon already answers on the default socket")
	}
	for _, p := range []string{dataRoot, execRoot} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists: not touching a machine's real berth state", p)
		}
	}
	// The daemon the CLI starts logs there; a log that was there stays.
	const logPath = "/var/log/berth.log"
	_, err := os.Stat(logPath)
	logWasThere := err == nil
	bin := testutil.Binary(t)
	var pid int
	_, err = net.InterfaceByName("berth0")
	bridgeWasThere := err == nil
	t.Cleanup(func() {
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(200 * time.Millisecond)
		}
		testutil.UnmountUnder(execRoot) // network namespace files
		os.RemoveAll(dataRoot)
		os.RemoveAll(execRoot)
		if !bridgeWasThere { // the default bridge and its table, made by this test's daemon
			_ = bridge.Delete("berth0")
			_ = bridge.DeleteTable("berth")
		}
		if !logWasThere {
			os.Remove(logPath)
		}
	})
	cmd := exec.Command(bin, "run", "--rm", "hello-world")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if m := regexp.MustCompile(`pid (\d+)`).FindStringSubmatch(stderr.String()); m != nil {
		pid, _ = strconv.Atoi(m[1])
	}
	if err != nil || !strings.Contains(stdout.String(), "Hello from berth!") {
		t.Fatalf("run: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "started one in the background") || pid == 0 {
		t.Fatalf("the CLI did not say it started a daemon: %q", stderr.String())
	}
	// The next command finds the running daemon and starts no other.
	cmd = exec.Command(bin, "ps", "-a", "-q")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ps: %v %q", err, out)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("default socket: %v %v", fi, err)
	}
}

// TestPlainBuildDaemonRefusesToStart: a berth from a plain `go build` has
// no seccomp; its daemon says how to build one that works instead of
// starting and failing every container ("seccomp not supported").
func TestPlainBuildDaemonRefusesToStart(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/berth")
	build.Dir = testutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	res := testutil.Run(t, "", nil, bin, "daemon", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+filepath.Join(dir, "s.sock"))
	if res.Code == 0 || !strings.Contains(res.Stderr, "built without seccomp support") || !strings.Contains(res.Stderr, "make build") {
		t.Fatalf("daemon of a plain build: %s", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("it made its data root before refusing (%v)", err)
	}
}
