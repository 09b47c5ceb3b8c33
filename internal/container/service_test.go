package container

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

func TestStartStopRecordsTheExit(t *testing.T) {
	w := newWorld(t)
	id := w.create("web", container.HostConfig{}, "serve")
	if r := w.get("web"); r.State.Status != "created" || !w.layers.has(id) {
		t.Fatalf("after create: %+v", r.State)
	}
	if err := w.svc.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	r := w.get("web")
	if r.State.Status != "running" || r.State.Pid == 0 || !w.layers.mounted[id] {
		t.Fatalf("after start: %+v", r.State)
	}
	if err := w.svc.Start(context.Background(), "web"); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second start: %v, want not modified", err)
	}
	if err := w.svc.Stop(context.Background(), "web", nil, ""); err != nil {
		t.Fatal(err)
	}
	r = w.get("web")
	if r.State.Status != "exited" || r.State.ExitCode != 143 || !r.ManualStop || r.State.Pid != 0 {
		t.Fatalf("after stop: %+v manual %v", r.State, r.ManualStop)
	}
	if w.layers.mounted[id] || w.rt.task(id) != nil {
		t.Fatal("stopped container's root still mounted or its bundle kept")
	}
	if err := w.svc.Stop(context.Background(), "web", nil, ""); !errors.Is(err, ErrNotModified) {
		t.Fatalf("stop of a stopped container: %v", err)
	}
}

func TestStopKillsWhatIgnoresTheSignal(t *testing.T) {
	w := newWorld(t)
	w.create("stubborn", container.HostConfig{}, "ignore-term")
	if err := w.svc.Start(context.Background(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	id := w.get("stubborn").ID
	task := w.rt.task(id)
	zero := 0
	if err := w.svc.Stop(context.Background(), "stubborn", &zero, ""); err != nil {
		t.Fatal(err)
	}
	if r := w.get("stubborn"); r.State.ExitCode != 137 {
		t.Fatalf("exit %d, want 137 (SIGKILL after the timeout)", r.State.ExitCode)
	}
	if len(task.signals) != 2 || task.signals[0] != syscall.SIGTERM || task.signals[1] != syscall.SIGKILL {
		t.Fatalf("signals %v, want TERM then KILL", task.signals)
	}
}

func TestStartFailureKeepsItsKind(t *testing.T) {
	w := newWorld(t)
	id := w.create("nope", container.HostConfig{}, "missing")
	err := w.svc.Start(context.Background(), "nope")
	if err == nil || !errdefs.IsUnknown(err) {
		t.Fatalf("start: %v", err)
	}
	r := w.get("nope")
	if r.State.Status != "exited" || r.State.ExitCode != 127 || r.State.Error == "" || w.layers.mounted[id] {
		t.Fatalf("after a failed start: %+v", r.State)
	}
}

func TestRestartPolicies(t *testing.T) {
	w := newWorld(t)
	w.create("flaky", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}}, "exit", "3")
	w.create("fine", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure"}}, "exit", "0")
	w.create("forever", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}, "exit", "0")
	for _, n := range []string{"flaky", "fine", "forever"} {
		if err := w.svc.Start(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	// on-failure:2: the first run and two restarts, then it stays exited.
	w.eventually("flaky", "two restarts, then exited", func(r Record) bool {
		return r.RestartCount == 2 && r.State.Status == "exited" && r.State.ExitCode == 3
	})
	if r := w.eventually("fine", "exited", func(r Record) bool { return r.State.Status == "exited" }); r.RestartCount != 0 {
		t.Fatalf("on-failure restarted a container that exited 0: %d", r.RestartCount)
	}
	w.eventually("forever", "restarted twice", func(r Record) bool { return r.RestartCount >= 2 })
	// A stop ends "always": no more restarts.
	if err := w.svc.Stop(context.Background(), "forever", nil, ""); err != nil && !errors.Is(err, ErrNotModified) {
		t.Fatal(err)
	}
	r := w.eventually("forever", "stopped", func(r Record) bool { return r.State.Status == "exited" && r.ManualStop })
	n := r.RestartCount
	if r := w.eventually("forever", "still stopped", func(r Record) bool { return r.State.Status == "exited" }); r.RestartCount != n {
		t.Fatalf("restarted after a stop: %d → %d", n, r.RestartCount)
	}
}

func TestRemove(t *testing.T) {
	w := newWorld(t)
	id := w.create("busy", container.HostConfig{}, "serve")
	if err := w.svc.Start(context.Background(), "busy"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Remove("busy", false, false); !errdefs.IsConflict(err) {
		t.Fatalf("rm of a running container: %v, want a conflict", err)
	}
	if err := w.svc.Pause("busy"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Remove("busy", true, false); err != nil {
		t.Fatalf("rm -f of a paused container: %v", err)
	}
	if _, err := w.svc.Get("busy"); !errdefs.IsNotFound(err) {
		t.Fatalf("after rm -f: %v", err)
	}
	if w.layers.has(id) || w.rt.task(id) != nil {
		t.Fatal("rm -f left the container's layer or bundle")
	}
	if _, err := os.Stat(w.svc.root + "/" + id); !os.IsNotExist(err) {
		t.Fatalf("rm -f left the container's directory: %v", err)
	}
	// --rm: gone once it exits.
	w.create("once", container.HostConfig{AutoRemove: true}, "exit", "0")
	if err := w.svc.Start(context.Background(), "once"); err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.Wait(context.Background(), "once", "removed", nil)
	if err != nil || res.StatusCode != 0 {
		t.Fatalf("wait removed: %+v %v", res, err)
	}
	if _, err := w.svc.Get("once"); !errdefs.IsNotFound(err) {
		t.Fatalf("--rm container after its exit: %v", err)
	}
}

// TestRestoreDecisions: what a daemon started again does with each
// container it finds.
func TestRestoreDecisions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	start := func(name string, hc container.HostConfig, cmd ...string) string {
		id := w.create(name, hc, cmd...)
		if err := w.svc.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		return id
	}
	start("alive", container.HostConfig{}, "serve")
	exited := start("exited-away", container.HostConfig{}, "serve")
	lost := start("lost", container.HostConfig{}, "serve")
	always := start("always", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}, "serve")
	rm := start("autorm", container.HostConfig{AutoRemove: true}, "serve")
	w.create("stopped-always", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}, "serve")
	if err := w.svc.Start(ctx, "stopped-always"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Stop(ctx, "stopped-always", nil, ""); err != nil {
		t.Fatal(err)
	}
	w.create("stopped-unless", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "unless-stopped"}}, "serve")
	if err := w.svc.Start(ctx, "stopped-unless"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Stop(ctx, "stopped-unless", nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.layers.PrepareRW("orphan"); err != nil { // a crash mid-create
		t.Fatal(err)
	}

	// The daemon dies. Meanwhile: one container exits (its shim leaves an
	// exit file and goes), one's shim dies without a word, the always
	// and --rm ones exit.
	w.rt.daemonDied()
	for _, id := range []string{exited, always, rm} {
		task := w.rt.task(id)
		task.mu.Lock()
		task.exitLocked(7)
		task.gone = true
		task.mu.Unlock()
	}
	lt := w.rt.task(lost)
	lt.mu.Lock()
	lt.gone = true
	lt.mu.Unlock()
	w.restartDaemon()

	if r := w.get("alive"); r.State.Status != "running" {
		t.Fatalf("alive: %+v, want re-adopted", r.State)
	}
	if r := w.get("exited-away"); r.State.Status != "exited" || r.State.ExitCode != 7 {
		t.Fatalf("exited while away: %+v, want its real exit code", r.State)
	}
	if r := w.get("lost"); r.State.Status != "exited" || r.State.ExitCode != 255 || r.State.Error == "" {
		t.Fatalf("shim lost: %+v, want 255 and why", r.State)
	}
	w.eventually("always", "restarted", func(r Record) bool { return r.State.Status == "running" })
	w.eventually("stopped-always", "restarted at daemon start, as Docker", func(r Record) bool { return r.State.Status == "running" })
	if r := w.get("stopped-unless"); r.State.Status != "exited" {
		t.Fatalf("unless-stopped, stopped by hand: %+v, want left stopped", r.State)
	}
	w.gone("autorm", rm)
	if w.layers.has("orphan") {
		t.Fatal("an orphan read-write layer survived Restore")
	}
	// The re-adopted container is managed as before.
	if err := w.svc.Kill("alive", "KILL"); err != nil {
		t.Fatal(err)
	}
	if r := w.get("alive"); r.State.Status != "exited" || r.State.ExitCode != 137 {
		t.Fatalf("re-adopted container after kill: %+v", r.State)
	}
}

func TestInterruptedRemovalFinishesAtRestore(t *testing.T) {
	w := newWorld(t)
	id := w.create("doomed", container.HostConfig{}, "serve")
	e, _ := w.svc.lookup("doomed")
	e.mu.Lock()
	e.rec.State.Status = "removing" // what rm persists before it removes anything
	if err := w.svc.persist(&e.rec); err != nil {
		t.Fatal(err)
	}
	e.mu.Unlock()
	w.restartDaemon()
	w.gone("doomed", id)
}

func TestUpdateAppliesToTheRunningContainerOrNothing(t *testing.T) {
	w := newWorld(t)
	id := w.create("upd", container.HostConfig{Resources: container.Resources{Memory: 64 << 20}}, "serve")
	if err := w.svc.Start(context.Background(), "upd"); err != nil {
		t.Fatal(err)
	}
	task := w.rt.task(id)
	if _, err := w.svc.Update("upd", container.UpdateConfig{Resources: container.Resources{CPUShares: 512}}); err != nil {
		t.Fatal(err)
	}
	if len(task.updates) != 1 || *task.updates[0].CPU.Shares != 512 || *task.updates[0].Memory.Limit != 64<<20 {
		t.Fatalf("limits sent to the running container: %+v", task.updates)
	}
	task.updErr = errors.New("cgroup says no")
	if _, err := w.svc.Update("upd", container.UpdateConfig{Resources: container.Resources{CPUShares: 1024}}); err == nil {
		t.Fatal("an update the cgroup refused succeeded")
	}
	if r := w.get("upd"); r.HostConfig.CPUShares != 512 {
		t.Fatalf("a refused update was recorded: %d", r.HostConfig.CPUShares)
	}
	if _, err := w.svc.Update("upd", container.UpdateConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile"}}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("update of a field update does not change: %v", err)
	}
}
