//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// upgradeFrom are the earlier berths an upgrade is tested from: the engine
// as issue 2 left it (no record or shim format versions yet), and the last
// before shim format 2 (the update op, log attributes).
var upgradeFrom = []string{"bdcf924", "bdd58a8"}

// buildOld builds berth as it was at commit rev (from git archive: the
// repository's history, which CI's clone has).
func buildOld(t *testing.T, rev string) string {
	t.Helper()
	src := t.TempDir()
	archive := exec.Command("sh", "-c", "git archive "+rev+" | tar -x -C "+src)
	archive.Dir = testutil.RepoRoot()
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", rev, err, out)
	}
	bin := filepath.Join(src, "berth")
	build := exec.Command("./hack/build.sh", bin)
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", rev, err, out)
	}
	return bin
}

// TestUpgradeAdoptsRunningContainers: containers started by an older
// berth are adopted by this one when it replaces the older daemon: running
// ones keep running and answer logs, exec (through the older shim program,
// still running) and stop; one that exits after the upgrade gets its real
// exit code; stopped ones stay as they were; new ones run beside them.
func TestUpgradeAdoptsRunningContainers(t *testing.T) {
	for _, rev := range upgradeFrom {
		t.Run("from "+rev, func(t *testing.T) { testUpgradeFrom(t, rev) })
	}
}

func testUpgradeFrom(t *testing.T, rev string) {
	oldBin := buildOld(t, rev)
	newBin := testutil.Binary(t)
	d := testutil.StartDaemonBinary(t, oldBin)
	d.LoadBusybox()
	n := 20
	if v, err := strconv.Atoi(os.Getenv("BERTH_UPGRADE_CONTAINERS")); err == nil {
		n = v
	}
	for i := 0; i < n; i++ {
		d.Must("run", "-d", "--name", fmt.Sprintf("u%d", i), "busybox", "sh", "-c",
			"trap 'exit 0' TERM; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done")
	}
	d.Must("run", "-d", "--name", "later", "busybox", "sh", "-c", "sleep 3; exit 7")
	if res := d.Berth("run", "--name", "done", "busybox", "sh", "-c", "exit 3"); res.Code != 3 {
		t.Fatalf("run exit 3: %s", res)
	}

	d.Stop() // the old daemon goes; its shims and containers stay
	d.Bin = newBin
	t0 := time.Now()
	d.Start()
	running := strings.Fields(d.Must("ps", "-q"))
	adopt := time.Since(t0)
	if len(running) != n+1 {
		t.Fatalf("after the upgrade %d running, want %d\n%s", len(running), n+1, d.Log())
	}
	t.Logf("the new daemon adopted %d running containers in %v (start to ps)", len(running), adopt)

	if out := d.Must("logs", "--tail", "2", "u0"); !strings.Contains(out, "tick-") {
		t.Errorf("logs of an adopted container: %q", out)
	}
	if out := d.Must("exec", "u1", "echo", "through the old shim"); out != "through the old shim" {
		t.Errorf("exec in an adopted container: %q", out)
	}
	if res := d.Berth("exec", "u1", "nosuchcmd"); res.Code != 127 {
		t.Errorf("exec of a missing command through the old shim: %s, want 127", res)
	}
	testutil.Eventually(t, 10*time.Second, "the container that exits after the upgrade to be recorded", func() bool {
		return d.Must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "later") == "exited 7"
	})
	if st := d.Must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "done"); st != "exited 3" {
		t.Errorf("a container stopped before the upgrade: %q", st)
	}
	d.Must("stop", "-t", "5", "u2")
	if st := d.Must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "u2"); st != "exited 0" {
		t.Errorf("stop of an adopted container: %q", st)
	}
	// update needs the shim's "update" op (format 2): an old shim cannot,
	// and says so; nothing is recorded. Restarted under a new shim, it can.
	if res := d.Berth("update", "--cpu-shares", "512", "u3"); res.Code == 0 || !strings.Contains(res.Stderr, "predates `update`") {
		t.Errorf("update through the old shim: %s", res)
	}
	if got := d.Must("inspect", "-f", "{{.HostConfig.CPUShares}}", "u3"); got != "0" {
		t.Errorf("a refused update was recorded: CPUShares %s", got)
	}
	d.Must("start", "u2") // now under a shim of the new berth
	d.Must("update", "--cpu-shares", "512", "u2")
	if out := d.Must("run", "--rm", "busybox", "echo", "new"); out != "new" {
		t.Errorf("a new container beside the adopted ones: %q", out)
	}
	for i := 0; i < n; i++ {
		d.Must("rm", "-f", fmt.Sprintf("u%d", i))
	}
	if out := d.Must("ps", "-q"); out != "" {
		t.Errorf("left running: %q", out)
	}
}
