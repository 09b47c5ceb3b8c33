//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/testutil"
)

// TestDaemonKillKeepsContainersRunning kills the daemon with SIGKILL while
// ten containers run and log; they keep running, a new daemon re-adopts
// them (ps, logs -f, exec, stop work), and one that exited meanwhile
// shows its real exit code.
func TestDaemonKillKeepsContainersRunning(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	const n = 10
	for i := 0; i < n; i++ {
		d.Must("run", "-d", "--name", fmt.Sprintf("c%d", i), "busybox", "sh", "-c",
			"trap 'exit 0' TERM; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done")
	}
	d.Must("run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; echo bye; exit 42")
	d.Kill()
	time.Sleep(1500 * time.Millisecond) // quitter exits while no daemon runs
	if shims := d.Shims(); len(shims) != n {
		t.Fatalf("want %d shims alive without the daemon, got %v", n, shims)
	}
	d.Start()
	running := strings.Fields(d.Must("ps", "-q"))
	if len(running) != n {
		t.Fatalf("after restart %d containers running, want %d\n%s", len(running), n, d.Log())
	}
	if st := d.Must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "quitter"); st != "exited 42" {
		t.Fatalf("container that exited while the daemon was down: %q", st)
	}
	if out := d.Must("logs", "quitter"); out != "bye" {
		t.Fatalf("logs of quitter: %q", out)
	}
	// Logging went on while the daemon was away.
	before := len(strings.Split(d.Must("logs", "c0"), "\n"))
	if before < 15 {
		t.Fatalf("c0 logged only %d lines across the restart", before)
	}
	if out := d.Must("exec", "c3", "echo", "still-here"); out != "still-here" {
		t.Fatalf("exec after restart: %q", out)
	}
	// logs -f on a re-adopted container follows until it stops.
	follow := exec.Command(d.Bin, "-H", d.Host(), "logs", "-f", "--tail", "0", "c1")
	var out strings.Builder
	follow.Stdout = &out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	d.Must("stop", "c1")
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		follow.Process.Kill()
		t.Fatal("logs -f did not end when the container stopped")
	}
	if !strings.Contains(out.String(), "tick-") {
		t.Fatalf("logs -f after restart saw nothing: %q", out.String())
	}
	args := []string{"stop"}
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("c%d", i))
	}
	d.Must(args...)
	if out := d.Must("ps", "-q"); out != "" {
		t.Fatalf("still running after stop: %q", out)
	}
}

// TestDaemonRestartAppliesRestartPolicies: after a daemon restart, an
// "always" container starts again even if it was stopped by hand, an
// "unless-stopped" one only if it was not, and "no" stays down.
func TestDaemonRestartAppliesRestartPolicies(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	for _, c := range []struct{ name, policy string }{{"alw", "always"}, {"uns", "unless-stopped"}, {"non", "no"}} {
		d.Must("run", "-d", "--name", c.name, "--restart", c.policy, "busybox", "sleep", "600")
		d.Must("stop", "-t", "0", c.name)
	}
	d.Stop()
	d.Start()
	testutil.Eventually(t, 10*time.Second, "the always container to start", func() bool {
		return d.Must("inspect", "-f", "{{.State.Running}}", "alw") == "true"
	})
	for _, name := range []string{"uns", "non"} {
		if st := d.Must("inspect", "-f", "{{.State.Running}}", name); st != "false" {
			t.Errorf("%s started after a daemon restart", name)
		}
	}
}

// TestRestartSweepsOrphanFiles: files of containers the database does not
// know (a daemon that died while removing one: run --rm removes the
// record first, the files after) go at the next start; a known
// container's stay.
func TestRestartSweepsOrphanFiles(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	kept := d.Must("create", "busybox", "true")
	orphan := strings.Repeat("ab", 32)
	dirs := []string{
		filepath.Join(d.DataRoot, "layers", "rw", orphan, "diff"),
		filepath.Join(d.DataRoot, "containers", orphan),
		filepath.Join(d.ExecRoot, "containers", orphan),
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	d.Kill()
	d.Start()
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", dir, err)
		}
	}
	for _, dir := range []string{filepath.Join(d.DataRoot, "layers", "rw", kept), filepath.Join(d.DataRoot, "containers", kept)} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("a known container's files: %v", err)
		}
	}
	d.Must("start", "-a", kept)
}

// TestInterruptedRemovalFinishesAtStart: a daemon that dies in the middle
// of an rm leaves the record marked "removing" (rm writes that first); the
// next daemon finishes the removal, files included.
func TestInterruptedRemovalFinishesAtStart(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id := d.Must("create", "--name", "half", "busybox", "true")
	d.Stop()
	// What rm had written when the daemon died: the record says removing.
	editRecord(t, d, id, func(rec map[string]any) { rec["State"].(map[string]any)["Status"] = "removing" })
	d.Start()
	testutil.Eventually(t, 10*time.Second, "the interrupted removal to finish", func() bool {
		return d.Must("ps", "-aq") == ""
	})
	for _, dir := range []string{filepath.Join(d.DataRoot, "containers", id), filepath.Join(d.DataRoot, "layers", "rw", id)} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", dir, err)
		}
	}
	// The name is free again.
	d.Must("create", "--name", "half", "busybox", "true")
}

// TestRecordOfANewerBerthIsLeftAlone: after a downgrade, a record written
// in a newer format is neither read nor swept (its files stay), and the
// daemon says why.
func TestRecordOfANewerBerthIsLeftAlone(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id := d.Must("create", "--name", "future", "busybox", "true")
	d.Stop()
	editRecord(t, d, id, func(rec map[string]any) { rec["Version"] = container.RecordVersion + 1 })
	d.Start()
	if out := d.Must("ps", "-aq"); out != "" {
		t.Errorf("a record of a newer format was read: %q", out)
	}
	if _, err := os.Stat(filepath.Join(d.DataRoot, "containers", id)); err != nil {
		t.Errorf("its files were swept: %v", err)
	}
	if !strings.Contains(d.Log(), "leaving alone a container record of a newer berth") {
		t.Errorf("the daemon did not say why:\n%s", d.Log())
	}
}

// editRecord changes a container's record in a stopped daemon's database,
// as a crash or another berth would have left it.
func editRecord(t *testing.T, d *testutil.Daemon, id string, edit func(rec map[string]any)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(d.DataRoot, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(container.Bucket))
		var rec map[string]any
		if err := json.Unmarshal(b.Get([]byte(id)), &rec); err != nil {
			return err
		}
		edit(rec)
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}
