//go:build integration

package integration

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/berthproject/berth/internal/testutil"
)

// execOutput runs cmd in ctr with create's and start's Tty and returns the
// raw bytes of the hijacked stream.
func execOutput(t *testing.T, cli *client.Client, ctr string, createTty, startTty bool, size *[2]uint, user string, cmd ...string) []byte {
	t.Helper()
	ctx := context.Background()
	x, err := cli.ContainerExecCreate(ctx, ctr, container.ExecOptions{Cmd: cmd, Tty: createTty, AttachStdout: true, AttachStderr: true, ConsoleSize: size, User: user})
	if err != nil {
		t.Fatal(err)
	}
	hr, err := cli.ContainerExecAttach(ctx, x.ID, container.ExecAttachOptions{Tty: startTty})
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Close()
	out, _ := io.ReadAll(hr.Reader)
	return out
}

func TestExecAndAttachFraming(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	cli, err := client.NewClientWithOpts(client.WithHost(d.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	since := time.Now()
	d.Must("run", "-d", "--name", "fr", "--group-add", "3000", "busybox", "sh", "-c", "echo hello; sleep 0.3; echo oops >&2; sleep 100")

	// The framing follows exec start's Tty, not exec create's.
	if out := execOutput(t, cli, "fr", false, true, nil, "", "echo", "hi"); string(out) != "hi\n" {
		t.Errorf("create without tty, start with: %q, want raw %q", out, "hi\n")
	}
	if out := execOutput(t, cli, "fr", true, false, nil, "", "echo", "hi"); !bytes.Equal(out, append([]byte{1, 0, 0, 0, 0, 0, 0, 4}, "hi\r\n"...)) {
		t.Errorf("create with tty, start without: %q, want one stdout frame of %q", out, "hi\r\n")
	}
	// The console size of exec create is the terminal's before the process runs.
	if out := execOutput(t, cli, "fr", true, true, &[2]uint{33, 77}, "", "stty", "size"); strings.TrimSpace(string(out)) != "33 77" {
		t.Errorf("stty size: %q", out)
	}
	// --user uid:gid keeps the primary group, with the container's --group-add.
	if out := execOutput(t, cli, "fr", true, true, nil, "1000:1000", "id", "-G"); strings.TrimSpace(string(out)) != "1000 3000" {
		t.Errorf("id -G as 1000:1000: %q", out)
	}
	if out := d.Must("run", "--rm", "--user", "1000:1000", "--group-add", "3000", "busybox", "id", "-G"); out != "1000 3000" {
		t.Errorf("run: id -G as 1000:1000: %q", out)
	}

	// exec_create, exec_start and exec_die are published.
	execOutput(t, cli, "fr", false, false, nil, "", "sh", "-c", "exit 3")
	msgs, errs := cli.Events(ctx, events.ListOptions{Since: since.Format(time.RFC3339Nano), Until: time.Now().Add(time.Second).Format(time.RFC3339Nano),
		Filters: filters.NewArgs(filters.Arg("container", "fr"))})
	seen := map[string]string{}
	for done := false; !done; {
		select {
		case m := <-msgs:
			seen[strings.SplitN(string(m.Action), ":", 2)[0]] = m.Actor.Attributes["exitCode"]
		case <-errs:
			done = true
		}
	}
	if _, ok := seen["exec_create"]; !ok || seen["exec_die"] != "3" {
		t.Errorf("events: %v, want exec_create, exec_start and exec_die with exitCode 3", seen)
	}
	if _, ok := seen["exec_start"]; !ok {
		t.Errorf("events: %v, no exec_start", seen)
	}

	// attach with logs=1&stream=0 returns the logs and ends.
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hr, err := cli.ContainerAttach(actx, "fr", container.AttachOptions{Logs: true, Stream: false, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(hr.Reader)
	hr.Close()
	want := append(append([]byte{1, 0, 0, 0, 0, 0, 0, 6}, "hello\n"...), append([]byte{2, 0, 0, 0, 0, 0, 0, 5}, "oops\n"...)...)
	if err != nil || actx.Err() != nil || !bytes.Equal(out, want) {
		t.Errorf("attach logs=1 stream=0: %q (%v), want %q", out, err, want)
	}

	// Detach keys close the hijacked stream of an exec; the process runs on.
	x, err := cli.ContainerExecCreate(ctx, "fr", container.ExecOptions{Cmd: []string{"sh", "-c", "sleep 30"}, Tty: true, AttachStdin: true, AttachStdout: true, DetachKeys: "ctrl-a"})
	if err != nil {
		t.Fatal(err)
	}
	hr, err = cli.ContainerExecAttach(ctx, x.ID, container.ExecAttachOptions{Tty: true})
	if err != nil {
		t.Fatal(err)
	}
	hr.Conn.Write([]byte{1})
	ended := make(chan error, 1)
	go func() { _, err := io.ReadAll(hr.Reader); ended <- err }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Errorf("the detach keys did not close the stream")
	}
	hr.Close()
	if xi, err := cli.ContainerExecInspect(ctx, x.ID); err != nil || !xi.Running {
		t.Errorf("after detaching, the exec: %+v %v", xi, err)
	}
}
