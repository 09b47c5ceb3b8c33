//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// TestShimRunsTheEmbeddedProgram: a container's shim is the small
// program embedded in berth (not the whole berth binary), run from a
// sealed memfd that neither the container nor anyone else can rewrite.
func TestShimRunsTheEmbeddedProgram(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id, pid := runWithShim(t, d)
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "berth-shim" {
		t.Errorf("shim's comm = %q, want berth-shim", comm)
	}
	exe, err := os.Open(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	link, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if !strings.HasPrefix(link, "/memfd:") {
		t.Errorf("shim runs %s, want a memfd", link)
	}
	seals, err := unix.FcntlInt(exe.Fd(), unix.F_GET_SEALS, 0)
	const want = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if err != nil || seals&want != want {
		t.Errorf("shim's program seals = %#x (%v), want at least %#x", seals, err, want)
	}
	shimInfo, _ := exe.Stat()
	berthInfo, err := os.Stat(d.Bin)
	if err != nil {
		t.Fatal(err)
	}
	if shimInfo.Size() >= berthInfo.Size()/2 {
		t.Errorf("shim program is %d bytes, berth %d: the shim is not the small program", shimInfo.Size(), berthInfo.Size())
	}
	// exec goes through libcontainer's init of the same program.
	if out := d.Must("exec", id, "echo", "in"); out != "in" {
		t.Errorf("exec: %q", out)
	}
}

// TestShimAdoptsInit: the container is made by a creator child of the
// shim that exits once it has made it; the container's init is then the
// shim's child (the shim is a child subreaper), and no creator is left.
// Exit codes, exec, pause and stop still go through the shim.
func TestShimAdoptsInit(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id, shim := runWithShim(t, d)
	initPid, err := strconv.Atoi(d.Must("inspect", "-f", "{{.State.Pid}}", id))
	if err != nil {
		t.Fatal(err)
	}
	if ppid := parentOf(t, initPid); ppid != shim {
		t.Errorf("init %d has parent %d, want the shim %d", initPid, ppid, shim)
	}
	for _, child := range childrenOf(shim) {
		if isCreator(child) {
			t.Errorf("the shim's creator %d is still there", child)
		}
	}
	if out := d.Must("exec", id, "echo", "in"); out != "in" {
		t.Errorf("exec: %q", out)
	}
	d.Must("pause", id)
	d.Must("unpause", id)
	d.Must("kill", id)
	if code := d.Must("wait", id); code != "137" {
		t.Errorf("wait = %s, want 137 (128+SIGKILL)", code)
	}
}

func isCreator(pid int) bool {
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.Contains(string(cmd), "shim-create")
}

func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// childrenOf lists pid's children, from every thread.
func childrenOf(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// runWithShim runs a sleeping container and returns it and its shim.
func runWithShim(t *testing.T, d *testutil.Daemon) (id string, shim int) {
	t.Helper()
	id = d.Must("run", "-d", "busybox", "sleep", "60")
	shims := d.Shims()
	if len(shims) != 1 {
		t.Fatalf("want 1 shim, got %v", shims)
	}
	return id, shims[0]
}

// runAndKillShim runs a sleeping container and kills its shim with
// SIGKILL; it returns the container and its process, an orphan now.
func runAndKillShim(t *testing.T, d *testutil.Daemon) (id string, orphan int) {
	t.Helper()
	id, shim := runWithShim(t, d)
	orphan, err := strconv.Atoi(d.Must("inspect", "-f", "{{.State.Pid}}", id))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(shim, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return id, orphan
}

func checkOrphanGone(t *testing.T, pid int) {
	t.Helper()
	if unix.Kill(pid, 0) == nil {
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmd), "sleep") {
			t.Errorf("the orphaned process %d of the killed shim still runs", pid)
		}
	}
}

// TestStartAfterShimWasKilled: a shim killed with SIGKILL leaves its
// container's process running with nobody to reap it, and libcontainer's
// state behind. The container shows as exited (255) and the orphan is
// gone; starting the container again works.
func TestStartAfterShimWasKilled(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id, orphan := runAndKillShim(t, d)
	if code := d.Must("wait", id); code != "255" {
		t.Errorf("wait after the shim was killed = %s, want 255", code)
	}
	checkOrphanGone(t, orphan)
	d.Must("start", id)
	if st := d.Must("inspect", "-f", "{{.State.Running}}", id); st != "true" {
		t.Fatalf("running after start = %s", st)
	}
	if pid, _ := strconv.Atoi(d.Must("inspect", "-f", "{{.State.Pid}}", id)); pid == orphan || pid == 0 {
		t.Errorf("the restarted container's pid is %d (the orphan was %d)", pid, orphan)
	}
	d.Must("rm", "-f", id)
}

// TestRemoveAfterShimWasKilled: removing a container whose shim was
// killed leaves neither its process, nor its cgroups, nor libcontainer's
// state.
func TestRemoveAfterShimWasKilled(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id, orphan := runAndKillShim(t, d)
	d.Must("wait", id)
	d.Must("rm", id)
	checkOrphanGone(t, orphan)
	if _, err := os.Stat(filepath.Join(d.ExecRoot, "runtime", id)); !os.IsNotExist(err) {
		t.Errorf("libcontainer's state of the removed container: %v", err)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/berth/" + id); len(m) > 0 {
		t.Errorf("cgroups of the removed container are left: %v", m)
	}
}

// TestStartRightAfterExit: a container started again as soon as its exit
// is known gets a new shim on the same socket path while the old shim is
// still finishing; the old one must not take the new one's socket with it
// (it did: "shim is not running", and the container then ran on with a
// shim nobody could reach, so that even rm -f failed).
func TestStartRightAfterExit(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "again", "busybox", "sleep", "100")
	for i := 0; i < 5; i++ {
		d.Must("kill", "again")
		d.Must("wait", "again")
		d.Must("start", "again")
		if st := d.Must("inspect", "-f", "{{.State.Status}}", "again"); st != "running" {
			t.Fatalf("round %d: status %q after start", i, st)
		}
	}
	d.Must("rm", "-f", "again")
}
