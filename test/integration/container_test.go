//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

func TestRunHelloWorldWithoutRegistry(t *testing.T) {
	d := testutil.StartDaemon(t)
	res := d.Berth("run", "--rm", "hello-world")
	if res.Code != 0 || !strings.Contains(res.Stdout, "Hello from berth!") {
		t.Fatalf("hello-world: %s", res)
	}
	if out := d.Must("ps", "-aq"); out != "" {
		t.Fatalf("--rm left containers: %q", out)
	}
}

func TestRunPropagatesExitCode(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	reg := testutil.StartRegistry(t) // an empty registry: no network needed
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"success", []string{"true"}, 0, ""},
		{"exit code", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"not found", []string{"nosuchcmd"}, 127, "executable file not found"},
		{"not executable", []string{"/etc"}, 126, "is a directory"},
		{"unknown image", nil, 125, "pull access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := "busybox"
			if tc.args == nil {
				img = reg.Addr + "/nosuchimage"
			}
			res := d.Berth(append([]string{"run", "--rm", img}, tc.args...)...)
			if res.Code != tc.code || !strings.Contains(res.Stderr, tc.err) {
				t.Fatalf("want exit %d with %q, got %s", tc.code, tc.err, res)
			}
		})
	}
	testutil.Eventually(t, 5*time.Second, "--rm containers to be removed", func() bool { return d.Must("ps", "-aq") == "" })
}

func TestRunOptionsReachTheProcess(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("FROMFILE=yes\n# comment\n"), 0o644)
	out := d.Must("run", "--rm", "-e", "A=1", "--env-file", envFile, "-w", "/tmp", "-u", "bob", "--hostname", "boxy",
		"busybox", "sh", "-c", `echo "$A $FROMFILE $(pwd) $(id -un):$(id -g) $(hostname)"`)
	if out != "1 yes /tmp bob:1000 boxy" {
		t.Fatalf("got %q", out)
	}
	out = d.Must("run", "--rm", "--entrypoint", "echo", "busybox", "entry", "point")
	if out != "entry point" {
		t.Fatalf("--entrypoint: %q", out)
	}
	if out := d.Must("run", "--rm", "-u", "65534:65534", "busybox", "id", "-u"); out != "65534" {
		t.Fatalf("numeric user: %q", out)
	}
	res := d.Berth("run", "--rm", "-u", "nosuchuser", "busybox", "true")
	if res.Code == 0 || !strings.Contains(res.Stderr, "nosuchuser") {
		t.Fatalf("unknown user must fail naming it: %s", res)
	}
}

func TestRunInteractiveStdin(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	res := d.BerthIn("hello stdin\n", "run", "--rm", "-i", "busybox", "cat")
	if res.Code != 0 || res.Stdout != "hello stdin\n" {
		t.Fatalf("stdin not passed through: %s", res)
	}
}

func TestLogsKeepStreamsApartAndRotate(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "--name", "cc", "busybox", "sh", "-c", "echo out; sleep 0.1; echo err >&2")
	res := d.Berth("logs", "cc")
	if res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Fatalf("logs mixed streams: %s", res)
	}
	if out := d.Must("logs", "--tail", "1", "cc"); out != "" {
		// tail 1 of the merged log is the last line (stderr) → stdout empty
		t.Fatalf("--tail 1 stdout = %q", out)
	}
	d.Must("run", "--name", "rr", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox",
		"sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done")
	lines := strings.Split(d.Must("logs", "rr"), "\n")
	if len(lines) >= 300 || lines[len(lines)-1] != "line-299" {
		t.Fatalf("rotation: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	rec := d.Must("inspect", "-f", "{{.LogPath}}", "rr")
	files, _ := filepath.Glob(rec + "*")
	if len(files) != 2 {
		t.Fatalf("want 2 log files with max-file=2, got %v", files)
	}
	res = d.Berth("run", "--log-opt", "max-size=abc", "busybox", "true")
	if res.Code != 125 || !strings.Contains(res.Stderr, "max-size") {
		t.Fatalf("bad log opt: %s", res)
	}
}

func TestLogsFollowEndsWhenContainerStops(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "ff", "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done")
	res := d.Berth("logs", "-f", "ff")
	if res.Code != 0 || res.Stdout != "n1\nn2\nn3\n" {
		t.Fatalf("logs -f: %s", res)
	}
}

func TestExecExitCodesAndOptions(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "ee", "busybox", "sleep", "60")
	if out := d.Must("exec", "-e", "X=y", "-w", "/etc", "-u", "bob", "ee", "sh", "-c", "echo $X $(pwd) $(id -un)"); out != "y /etc bob" {
		t.Fatalf("exec options: %q", out)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"sh", "-c", "exit 5"}, 5}, {[]string{"nosuchcmd"}, 127}, {[]string{"/etc"}, 126}} {
		if res := d.Berth(append([]string{"exec", "ee"}, tc.args...)...); res.Code != tc.code {
			t.Errorf("exec %v: want %d, got %s", tc.args, tc.code, res)
		}
	}
	d.Must("exec", "-d", "ee", "sh", "-c", "echo detached > /tmp/d")
	testutil.Eventually(t, 5*time.Second, "detached exec", func() bool { return d.Berth("exec", "ee", "cat", "/tmp/d").Stdout == "detached\n" })
	if res := d.BerthIn("piped\n", "exec", "-i", "ee", "cat"); res.Stdout != "piped\n" {
		t.Fatalf("exec -i: %s", res)
	}
}

func TestStopKillRestartPauseRename(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "sv", "--stop-signal", "USR1", "busybox", "sh", "-c", "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.1; done")
	d.Must("stop", "-t", "5", "sv")
	if st := d.Must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "sv"); st != "exited 0" {
		t.Fatalf("stop with image stop signal: %q", st)
	}
	if res := d.Berth("stop", "sv"); res.Code != 0 {
		t.Fatalf("stop of a stopped container is not an error in docker: %s", res)
	}
	if res := d.Berth("kill", "sv"); res.Code == 0 || !strings.Contains(res.Stderr, "is not running") {
		t.Fatalf("kill of stopped: %s", res)
	}
	d.Must("start", "sv")
	d.Must("kill", "-s", "KILL", "sv")
	d.Must("wait", "sv")
	if st := d.Must("inspect", "-f", "{{.State.ExitCode}}", "sv"); st != "137" {
		t.Fatalf("kill exit code: %q", st)
	}
	d.Must("restart", "-t", "1", "sv")
	if st := d.Must("inspect", "-f", "{{.State.Running}}", "sv"); st != "true" {
		t.Fatalf("restart: running=%q", st)
	}
	d.Must("pause", "sv")
	if st := d.Must("inspect", "-f", "{{.State.Status}}", "sv"); st != "paused" {
		t.Fatalf("pause: %q", st)
	}
	d.Must("unpause", "sv")
	d.Must("rename", "sv", "s2")
	if out := d.Must("ps", "--format", "{{.Names}}"); out != "s2" {
		t.Fatalf("rename: %q", out)
	}
	if top := d.Must("top", "s2"); !strings.Contains(top, "PID") || !strings.Contains(top, "sleep") && !strings.Contains(top, "sh") {
		t.Fatalf("top: %q", top)
	}
	if st := d.Must("stats", "--no-stream", "s2"); !strings.Contains(st, "s2") {
		t.Fatalf("stats: %q", st)
	}
}

func TestBadInputGetsClearErrors(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "dup", "busybox", "sleep", "60")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"duplicate name", []string{"run", "--name", "dup", "busybox", "true"}, 125, "is already in use"},
		{"rm running", []string{"rm", "dup"}, 1, "stop the container before removing or force remove"},
		{"bad flag", []string{"run", "--bogus", "busybox"}, 125, "unknown flag"},
		{"unknown subcommand", []string{"network", "nosuch"}, 1, "unknown command: berth network nosuch"},
		{"bad restart", []string{"run", "--restart", "sometimes", "busybox", "true"}, 125, "invalid restart policy"},
		{"rm and restart", []string{"run", "--rm", "--restart", "always", "busybox", "true"}, 125, "conflicting options"},
		{"bad memory", []string{"run", "-m", "lots", "busybox", "true"}, 125, "--memory"},
		{"no such container", []string{"logs", "nope"}, 1, "No such container: nope"},
		{"rmi used image", []string{"rmi", "busybox"}, 1, "container is using its referenced image"},
		{"bad cap", []string{"run", "--rm", "--cap-add", "NOPE", "busybox", "true"}, 125, "invalid capability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := d.Berth(tc.args...)
			if res.Code != tc.code || !strings.Contains(res.Stderr, tc.want) {
				t.Fatalf("want exit %d and %q, got %s", tc.code, tc.want, res)
			}
		})
	}
	d.Must("rm", "-f", "dup")
	if out := d.Must("ps", "-aq"); out != "" {
		t.Fatalf("left containers: %q", out)
	}
}

func TestRestartPolicy(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "onf", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")
	testutil.Eventually(t, 10*time.Second, "two restarts then stop", func() bool {
		return d.Must("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "onf") == "2 exited"
	})
	d.Must("run", "-d", "--name", "alw", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
	testutil.Eventually(t, 10*time.Second, "always restarts", func() bool {
		var n int
		fmt.Sscan(d.Must("inspect", "-f", "{{.RestartCount}}", "alw"), &n)
		return n >= 2
	})
	d.Must("stop", "alw")
	time.Sleep(500 * time.Millisecond)
	if st := d.Must("inspect", "-f", "{{.State.Status}}", "alw"); st != "exited" {
		t.Fatalf("stopped always-container restarted: %q", st)
	}
}

func TestNoLeftoversAfterRemove(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	for i := 0; i < 3; i++ {
		d.Must("run", "-d", "--name", fmt.Sprintf("l%d", i), "busybox", "sleep", "60")
	}
	ids := strings.Fields(d.Must("ps", "-q", "--no-trunc"))
	d.Must("rm", "-f", "l0", "l1", "l2")
	if m := testutil.Mounts(d.Root); len(m) != 0 {
		t.Fatalf("mounts left after rm -f: %v", m)
	}
	testutil.Eventually(t, 5*time.Second, "shims to exit", func() bool { return len(d.Shims()) == 0 })
	for _, id := range ids {
		for _, pattern := range []string{"/sys/fs/cgroup/*/berth/" + id, "/sys/fs/cgroup/berth/" + id} {
			if left, _ := filepath.Glob(pattern); len(left) > 0 {
				t.Fatalf("cgroups left: %v", left)
			}
		}
	}
}

func TestRunInitReapsAndForwardsSignals(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	if out := d.Must("run", "--rm", "--init", "busybox", "sh", "-c", "ps -o pid,comm | awk '$1==1 {print $2}'"); out != "berth-init" {
		t.Fatalf("pid 1 is %q, want berth-init", out)
	}
	if res := d.Berth("run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"); res.Code != 7 {
		t.Fatalf("exit code through init: %s", res)
	}
	// Orphans are reaped: no zombie is left after the background child dies.
	out := d.Must("run", "--rm", "--init", "busybox", "sh", "-c", "(sleep 0.1 &) ; sleep 0.5; ps -o stat | grep -c Z || true")
	if out != "0" {
		t.Fatalf("zombies under --init: %q", out)
	}
	// SIGTERM reaches the command (sleep as PID 1 would ignore it). Once
	// sleep runs, berth-init has its handlers (a stop in the few
	// milliseconds before berth-init's Go runtime has started is lost, as
	// it would be for tini in its shorter window: see the notes).
	d.Must("run", "-d", "--init", "--name", "in", "busybox", "sleep", "60")
	d.Must("exec", "in", "sh", "-c", "until ps -o comm | grep -qx sleep; do sleep 0.05; done")
	start := time.Now()
	d.Must("stop", "-t", "10", "in")
	if time.Since(start) > 5*time.Second {
		t.Fatalf("stop took %s: the signal did not reach the command", time.Since(start))
	}
}

func TestStartAttachAndImageStopSignal(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("create", "--name", "sa", "busybox", "sh", "-c", "echo attached-out; exit 6")
	res := d.Berth("start", "-a", "sa")
	if res.Code != 6 || res.Stdout != "attached-out\n" {
		t.Fatalf("start -a: %s", res)
	}
	res = d.BerthIn("via start -i\n", "start", "-a", "-i", d.Must("create", "-i", "busybox", "cat"))
	if res.Code != 0 || res.Stdout != "via start -i\n" {
		t.Fatalf("start -a -i: %s", res)
	}
	// STOPSIGNAL in the image is what stop sends.
	tarball := filepath.Join(d.Root, "busybox.tar")
	d.Must("import", "--change", "STOPSIGNAL SIGUSR1", "--change", `CMD ["sh"]`, tarball, "usr1box")
	d.Must("run", "-d", "--name", "sig", "usr1box", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
	d.Must("stop", "-t", "5", "sig")
	if code := d.Must("inspect", "-f", "{{.State.ExitCode}}", "sig"); code != "42" {
		t.Fatalf("the image's STOPSIGNAL was not used: exit %s", code)
	}
}

// TestRunRmLeavesNothing: the container is gone when run --rm returns; its
// files go right after (in the background), its mount before.
func TestRunRmLeavesNothing(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	for i := 0; i < 3; i++ {
		d.Must("run", "--rm", "busybox", "true")
	}
	if out := d.Must("ps", "-a", "-q"); out != "" {
		t.Fatalf("containers left after run --rm: %q", out)
	}
	if m := testutil.Mounts(d.DataRoot); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	empty := func(dir string) bool {
		entries, err := os.ReadDir(dir)
		return err == nil && len(entries) == 0
	}
	for _, dir := range []string{filepath.Join(d.DataRoot, "layers", "rw"), filepath.Join(d.DataRoot, "containers"), filepath.Join(d.ExecRoot, "containers")} {
		testutil.Eventually(t, 5*time.Second, dir+" emptied", func() bool { return empty(dir) })
	}
}
