//go:build integration

package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/berthproject/berth/internal/testutil"
)

// TestConcurrentLifecycleStress runs create/start/stop/kill/restart/rm -f/
// wait/exec at once on the same few containers, against a daemon built
// with the race detector, for a bounded time (BERTH_STRESS_SECONDS, 20 by
// default). The daemon must neither panic nor race, answer no request
// with a 500, and be left with nothing once everything is removed.
func TestConcurrentLifecycleStress(t *testing.T) {
	d := testutil.StartDaemonBinary(t, testutil.RaceBinary(t))
	d.LoadBusybox()
	cli, err := client.NewClientWithOpts(client.WithHost(d.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	seconds := 20
	if s, err := strconv.Atoi(os.Getenv("BERTH_STRESS_SECONDS")); err == nil {
		seconds = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()

	names := []string{"s0", "s1", "s2"}
	var mu sync.Mutex
	counts := map[string]int{}
	var failures []string
	record := func(op string, err error) {
		mu.Lock()
		defer mu.Unlock()
		counts[op]++
		if err == nil || errdefs.IsNotFound(err) || errdefs.IsConflict(err) || errdefs.IsNotModified(err) ||
			errdefs.IsInvalidArgument(err) || ctx.Err() != nil {
			return
		}
		// A hijack refused before the upgrade is not typed by the client.
		if op == "exec start" && (strings.Contains(err.Error(), "received 404") || strings.Contains(err.Error(), "received 409")) {
			return
		}
		failures = append(failures, fmt.Sprintf("%s: %v", op, err))
	}
	timeout := 1
	ops := []func(context.Context, string) (string, error){
		func(ctx context.Context, n string) (string, error) {
			hc := &container.HostConfig{AutoRemove: rand.IntN(3) == 0}
			if !hc.AutoRemove && rand.IntN(2) == 0 {
				hc.RestartPolicy = container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}
			}
			res, err := cli.ContainerCreate(ctx, &container.Config{Image: "busybox", Cmd: []string{"sleep", "5"}}, hc, nil, nil, n)
			if err != nil {
				return "create", err
			}
			return "create+start", cli.ContainerStart(ctx, res.ID, container.StartOptions{})
		},
		func(ctx context.Context, n string) (string, error) {
			return "start", cli.ContainerStart(ctx, n, container.StartOptions{})
		},
		func(ctx context.Context, n string) (string, error) {
			return "rm -f", cli.ContainerRemove(ctx, n, container.RemoveOptions{Force: true})
		},
		func(ctx context.Context, n string) (string, error) {
			return "rm", cli.ContainerRemove(ctx, n, container.RemoveOptions{})
		},
		func(ctx context.Context, n string) (string, error) {
			return "kill", cli.ContainerKill(ctx, n, "KILL")
		},
		func(ctx context.Context, n string) (string, error) {
			return "kill TERM", cli.ContainerKill(ctx, n, "TERM")
		},
		func(ctx context.Context, n string) (string, error) {
			return "stop", cli.ContainerStop(ctx, n, container.StopOptions{Timeout: &timeout})
		},
		func(ctx context.Context, n string) (string, error) {
			return "restart", cli.ContainerRestart(ctx, n, container.StopOptions{Timeout: &timeout})
		},
		func(ctx context.Context, n string) (string, error) {
			cond := []container.WaitCondition{container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved}[rand.IntN(3)]
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			okc, errc := cli.ContainerWait(wctx, n, cond)
			select {
			case <-okc:
				return "wait " + string(cond), nil
			case err := <-errc:
				if wctx.Err() != nil {
					err = nil // still waiting when we gave up: fine
				}
				return "wait " + string(cond), err
			}
		},
		func(ctx context.Context, n string) (string, error) {
			x, err := cli.ContainerExecCreate(ctx, n, container.ExecOptions{Cmd: []string{"true"}, AttachStdout: true})
			if err != nil {
				return "exec create", err
			}
			hr, err := cli.ContainerExecAttach(ctx, x.ID, container.ExecAttachOptions{})
			if err != nil {
				return "exec start", err
			}
			defer hr.Close()
			buf := make([]byte, 512)
			for {
				if _, err := hr.Reader.Read(buf); err != nil {
					break
				}
			}
			_, err = cli.ContainerExecInspect(ctx, x.ID)
			return "exec", err
		},
		func(ctx context.Context, n string) (string, error) {
			_, err := cli.ContainerInspect(ctx, n)
			return "inspect", err
		},
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				op, err := ops[rand.IntN(len(ops))](ctx, names[rand.IntN(len(names))])
				record(op, err)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			if pid := d.Pid(); pid > 0 && os.Getenv("BERTH_STRESS_DUMP") != "" {
				syscall.Kill(pid, syscall.SIGQUIT) // the goroutines go to the log
				time.Sleep(time.Second)
				t.Log(d.Log()[strings.LastIndex(d.Log(), "level=")-30:])
			}
			for _, l := range strings.Split(d.Log(), "\n") {
				if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
					t.Log(l)
				}
			}
		}
	})
	t.Logf("operations: %v", counts)
	for _, f := range failures {
		t.Errorf("unexpected error: %s", f)
	}

	// The daemon is alive and every container can be removed.
	bg := context.Background()
	list, err := cli.ContainerList(bg, container.ListOptions{All: true})
	if err != nil {
		t.Fatalf("list after the stress: %v\n%s", err, d.Log())
	}
	for _, c := range list {
		// A removal the stress's last requests began may still be under way
		// (409): the wait below sees it end.
		if err := cli.ContainerRemove(bg, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
			t.Errorf("rm -f %s after the stress: %v", c.Names, err)
		}
	}
	gone := func() bool {
		l, err := cli.ContainerList(bg, container.ListOptions{All: true})
		// A create the stress's client gave up on at its deadline may be
		// finished by the daemon only now (create does not stop with its
		// client): remove what shows up.
		for _, c := range l {
			_ = cli.ContainerRemove(bg, c.ID, container.RemoveOptions{Force: true})
		}
		return err == nil && len(l) == 0 && len(d.Shims()) == 0
	}
	for deadline := time.Now().Add(45 * time.Second); !gone(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			ps, _ := exec.Command("ps", "-eo", "pid,ppid,stat,wchan:32,comm").Output()
			t.Fatalf("containers or shims left after the stress:\n%s\nshims %v\n%s", d.Berth("ps", "-a"), d.Shims(), ps)
		}
	}
	d.Stop() // a race-detector build reports races as it runs and exits 66 at the end
	log := d.Log()
	for _, bad := range []string{"panic", "DATA RACE", "fatal error"} {
		if strings.Contains(log, bad) {
			t.Fatalf("daemon log has %q:\n%s", bad, log)
		}
	}
}

// TestKillDuringExecs kills containers while execs are starting in them:
// runc's stage processes of an exec cut short are zombies of the shim,
// and until the shim reaps them the container's init cannot finish its
// exit (the container stayed "Up" forever, and rm -f failed).
func TestKillDuringExecs(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("k%d", i)
		d.Must("run", "-d", "--name", name, "busybox", "sleep", "100")
		var wg sync.WaitGroup
		for j := 0; j < 4; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); d.Berth("exec", name, "true") }()
		}
		time.Sleep(time.Duration(i%6) * 4 * time.Millisecond)
		d.Berth("kill", name)
		wg.Wait()
	}
	testutil.Eventually(t, 10*time.Second, "every container to have exited", func() bool {
		return d.Must("ps", "-q") == ""
	})
}
