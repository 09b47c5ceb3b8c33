//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// TestDockerCLIAgainstBerth drives the official docker CLI through the
// engine's flows against a berth daemon and checks what it prints.
func TestDockerCLIAgainstBerth(t *testing.T) {
	dockerBin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("the docker CLI is not installed")
	}
	d := testutil.StartDaemon(t)
	env := []string{"DOCKER_HOST=" + d.Host(), "DOCKER_CONFIG=" + t.TempDir()}
	docker := func(stdin string, args ...string) testutil.Result {
		return testutil.Run(t, stdin, env, dockerBin, args...)
	}
	must := func(args ...string) string {
		t.Helper()
		res := docker("", args...)
		if res.Code != 0 {
			t.Fatalf("docker %v: %s\n%s", args, res, d.Log())
		}
		return strings.TrimSpace(res.Stdout)
	}
	if v := must("version", "--format", "{{.Server.APIVersion}}"); v != "1.47" {
		t.Fatalf("version: %q", v)
	}
	if v := must("info", "--format", "{{.OSType}} {{.Swarm.LocalNodeState}}"); v != "linux inactive" {
		t.Fatalf("info: %q", v)
	}
	// import, tag, images
	tarball := filepath.Join(t.TempDir(), "bb.tar")
	out, err := exec.Command(filepath.Join(testutil.RepoRoot(), "hack", "busybox-image.sh")).Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tarball, out, 0o644)
	must("import", "--change", `CMD ["sh"]`, tarball, "busybox")
	must("tag", "busybox", "busybox:2")
	if imgs := must("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(imgs, "busybox:latest") || !strings.Contains(imgs, "busybox:2") {
		t.Fatalf("images: %q", imgs)
	}
	must("rmi", "busybox:2")
	// run with the common flags
	if got := must("run", "--rm", "-e", "A=b", "-w", "/tmp", "-u", "1000:1000", "busybox", "sh", "-c", "echo $A $(pwd) $(id -u)"); got != "b /tmp 1000" {
		t.Fatalf("run: %q", got)
	}
	if res := docker("", "run", "--rm", "busybox", "sh", "-c", "exit 9"); res.Code != 9 {
		t.Fatalf("exit code: %s", res)
	}
	if res := docker("from stdin\n", "run", "--rm", "-i", "busybox", "cat"); res.Stdout != "from stdin\n" {
		t.Fatalf("run -i: %s", res)
	}
	if res := docker("", "run", "--rm", "hello-world"); !strings.Contains(res.Stdout, "Hello from berth!") {
		t.Fatalf("hello-world via docker: %s", res)
	}
	// TTY through `script`, which gives the CLI a terminal.
	if _, err := exec.LookPath("script"); err == nil {
		res := testutil.Run(t, "echo tty:$(tty)\nexit 4\n", env, "script", "-qec", dockerBin+" run --rm -it busybox sh", "/dev/null")
		if res.Code != 4 || !strings.Contains(res.Stdout, "tty:/dev/pts/0") {
			t.Fatalf("run -it: %s", res)
		}
	}
	// detached container: ps, logs -f, exec, top, stats, inspect, attach, stop, kill, wait, rm
	id := must("run", "-d", "--name", "web", "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done")
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	if ps := must("ps", "--format", "{{.Names}} {{.Image}}"); ps != "web busybox" {
		t.Fatalf("ps: %q", ps)
	}
	if got := must("exec", "web", "echo", "in-exec"); got != "in-exec" {
		t.Fatalf("exec: %q", got)
	}
	if res := docker("", "exec", "web", "sh", "-c", "exit 6"); res.Code != 6 {
		t.Fatalf("exec exit code: %s", res)
	}
	if _, err := exec.LookPath("script"); err == nil {
		res := testutil.Run(t, "echo in-tty-exec\nexit 3\n", env, "script", "-qec", dockerBin+" exec -it web sh", "/dev/null")
		if res.Code != 3 || !strings.Contains(res.Stdout, "in-tty-exec") {
			t.Fatalf("exec -it: %s", res)
		}
	}
	if top := must("top", "web"); !strings.Contains(top, "PID") {
		t.Fatalf("top: %q", top)
	}
	if st := must("stats", "--no-stream", "--format", "{{.Name}}", "web"); st != "web" {
		t.Fatalf("stats: %q", st)
	}
	if st := must("inspect", "-f", "{{.State.Running}} {{.Name}}", "web"); st != "true /web" {
		t.Fatalf("inspect: %q", st)
	}
	// update: the running container's limits, as docker update sends them.
	if got := must("update", "--memory", "200m", "--memory-swap", "400m", "--cpus", "0.5", "--restart", "unless-stopped", "web"); got != "web" {
		t.Fatalf("update: %q", got)
	}
	if got := must("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCPUs}} {{.HostConfig.RestartPolicy.Name}}", "web"); got != "209715200 500000000 unless-stopped" {
		t.Fatalf("inspect after update: %q", got)
	}
	if got := must("exec", "web", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"); got != "209715200" {
		t.Fatalf("memory limit inside after update: %q", got)
	}
	// Joining the container's PID namespace, with the host's null device
	// at another path, and the log's details.
	if got := must("run", "--rm", "--pid", "container:web", "--device", "/dev/null:/dev/nothing", "busybox", "sh", "-c", "test -c /dev/nothing && ps -o comm | grep -c '^sh$'"); got == "0" {
		t.Fatalf("--pid container:web sees none of web's processes: %q", got)
	}
	if got := must("run", "--name", "detailed", "--label", "team=a", "--log-opt", "labels=team", "busybox", "echo", "hi"); got != "hi" {
		t.Fatalf("run: %q", got)
	}
	if got := must("logs", "--details", "detailed"); got != "team=a hi" {
		t.Fatalf("logs --details: %q", got)
	}
	must("rm", "detailed")
	// Published ports through the docker CLI: -p, docker port, the port
	// answering on the host's loopback.
	if got := must("run", "-d", "--name", "pub", "-p", "127.0.0.1::80", "busybox", "sh", "-c", "mkdir /www && echo published > /www/i && exec httpd -f -p 80 -h /www"); got == "" {
		t.Fatal("run -p printed no ID")
	}
	hostPort := must("port", "pub", "80")
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Fatalf("docker port pub 80: %q", hostPort)
	}
	testutil.Eventually(t, 5*time.Second, "docker run -p's port to answer", func() bool {
		got, _ := httpGet(hostPort, "/i")
		return got == "published"
	})
	must("rm", "-f", "pub")
	// Networks through the docker CLI.
	must("network", "create", "--subnet", "10.99.77.0/24", "clinet")
	if got := must("network", "ls", "--filter", "name=clinet", "--format", "{{.Name}} {{.Driver}}"); got != "clinet bridge" {
		t.Fatalf("docker network ls: %q", got)
	}
	if got := must("run", "--rm", "--network", "clinet", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'"); !strings.HasPrefix(got, "10.99.77.") {
		t.Fatalf("docker run --network clinet: %q", got)
	}
	must("network", "rm", "clinet")
	follow := exec.Command(dockerBin, "logs", "-f", "web")
	follow.Env = append(os.Environ(), env...)
	var logs strings.Builder
	follow.Stdout = &logs
	follow.Start()
	attach := exec.Command(dockerBin, "attach", "web")
	attach.Env = append(os.Environ(), env...)
	var attached strings.Builder
	attach.Stdout = &attached
	attach.Start()
	time.Sleep(700 * time.Millisecond)
	must("stop", "web")
	follow.Wait()
	attach.Wait()
	if !strings.Contains(logs.String(), "tick") || !strings.Contains(attached.String(), "tick") {
		t.Fatalf("logs -f saw %q, attach saw %q", logs.String(), attached.String())
	}
	if code := must("wait", "web"); code != "0" {
		t.Fatalf("wait: %q", code)
	}
	must("start", "web")
	must("kill", "web")
	if code := must("wait", "web"); code != "137" {
		t.Fatalf("wait after kill: %q", code)
	}
	must("rm", "web")
	// events
	ev := exec.Command(dockerBin, "events", "--since", "0", "--until", "1s", "--filter", "type=container", "--format", "{{.Action}}")
	ev.Env = append(os.Environ(), env...)
	evOut, _ := ev.Output()
	for _, a := range []string{"create", "start", "die", "destroy"} {
		if !strings.Contains(string(evOut), a) {
			t.Fatalf("events lack %q: %s", a, evOut)
		}
	}
	// save / load
	archive := filepath.Join(t.TempDir(), "saved.tar")
	must("save", "-o", archive, "busybox")
	must("rmi", "busybox")
	if got := must("load", "-i", archive); !strings.Contains(got, "Loaded image: busybox:latest") {
		t.Fatalf("load: %q", got)
	}
	if got := must("run", "--rm", "busybox", "echo", "after-load"); got != "after-load" {
		t.Fatalf("run after load: %q", got)
	}
	// errors as docker prints them
	if res := docker("", "rm", "nope"); res.Code == 0 || !strings.Contains(res.Stderr, "No such container: nope") {
		t.Fatalf("rm nope: %s", res)
	}
}
