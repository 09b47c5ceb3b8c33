//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// getJSON requests path on the daemon and decodes the JSON answer.
func getJSON(t *testing.T, d *testutil.Daemon, method, path string, v any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://berth"+path, nil)
	resp, err := unixClient(d.Socket).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestSetUpEndpointsAnswerAsDocker: what clients touch at set-up answers
// as a Docker engine without plugins, swarm, networks or volumes does.
func TestSetUpEndpointsAnswerAsDocker(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	const swarm = `{"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}`
	for _, tc := range []struct {
		method, path string
		status       int
		body         string // exact, or a prefix when it ends in "*"
	}{
		{"GET", "/v1.47/plugins", 200, "[]"},
		{"GET", "/v1.47/plugins/foo/json", 404, `{"message":"plugin \"foo\" not found"}`},
		{"POST", "/v1.47/plugins/pull", 501, `{"message":"berth: plugins are not supported yet"}`},
		{"POST", "/v1.47/plugins/foo/enable", 404, `{"message":"plugin \"foo\" not found"}`},
		{"DELETE", "/v1.47/plugins/foo", 404, `{"message":"plugin \"foo\" not found"}`},
		{"GET", "/v1.47/swarm", 503, swarm},
		{"GET", "/v1.47/nodes", 503, swarm},
		{"GET", "/v1.47/nodes/abc", 503, swarm},
		{"GET", "/v1.47/services", 503, swarm},
		{"GET", "/v1.47/tasks", 503, swarm},
		{"GET", "/v1.47/secrets", 503, swarm},
		{"GET", "/v1.47/configs", 503, swarm},
		{"POST", "/v1.47/swarm/init", 501, `{"message":"berth: swarm mode is not supported yet"}`},
		{"GET", "/v1.47/nope", 404, `{"message":"page not found"}`},
		{"GET", "/nope/deeper", 404, `{"message":"page not found"}`},
		{"PUT", "/v1.47/containers/json", 404, `{"message":"page not found"}`},
		{"GET", "/v1.47/volumes", 200, `{"Volumes":[],"Warnings":[]}`},
		{"GET", "/v1.47/volumes/data", 404, `{"message":"get data: no such volume"}`},
		{"DELETE", "/v1.47/volumes/data", 404, `{"message":"get data: no such volume"}`},
		{"POST", "/v1.47/networks/create", 400, `{"message":"network name cannot be empty"}`},
		{"GET", "/v1.47/networks/nope", 404, `{"message":"network nope not found"}`},
		{"GET", `/v1.47/networks?filters={"foo":{"x":true}}`, 400, `{"message":"invalid filter 'foo'"}`},
		{"GET", `/v1.47/containers/json?filters={"foo":{"x":true}}`, 400, `{"message":"invalid filter 'foo'"}`},
		{"GET", `/v1.47/images/json?filters={"foo":{"x":true}}`, 400, `{"message":"invalid filter 'foo'"}`},
		{"GET", `/v1.47/containers/json?filters={"volume":{"x":true}}`, 200, `[]`},
		{"POST", "/v1.47/build", 501, `{"message":"berth: building images (docker build) is not supported yet"}`},
		{"GET", "/v1.47/system/df", 501, `{"message":"berth: system df is not supported yet"}`},
		{"GET", "/v1.47/containers/x/changes", 404, `{"message":"No such container: x"}`},
	} {
		status, body := getJSON(t, d, tc.method, tc.path, nil)
		want := tc.body
		ok := body == want
		if p, prefix := strings.CutSuffix(want, "*"); prefix {
			ok = strings.HasPrefix(body, p)
		}
		if status != tc.status || !ok {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, status, body, tc.status, want)
		}
	}
	var nets []struct{ Name, Driver, Id string }
	getJSON(t, d, "GET", "/v1.47/networks", &nets)
	var names []string
	for _, n := range nets {
		names = append(names, n.Name+"/"+n.Driver)
	}
	if strings.Join(names, " ") != "bridge/bridge host/host none/null" {
		t.Fatalf("networks: %v", names)
	}
	var byID struct{ Name string }
	getJSON(t, d, "GET", "/v1.47/networks/"+nets[1].Id[:12], &byID)
	if byID.Name != "host" {
		t.Fatalf("network by ID prefix: %+v", byID)
	}
	// The docker CLI lists them.
	out := testutil.Run(t, "", []string{"DOCKER_HOST=" + d.Host()}, "docker", "network", "ls", "--format", "{{.Name}}")
	if out.Code != 0 || strings.Fields(out.Stdout)[0] != "bridge" {
		t.Fatalf("docker network ls: %s", out)
	}
}

// cgroupHas reports whether the host's v1 hierarchy or v2 root offers a
// controller, read here independently of the daemon.
func cgroupHas(v1file, v2controller string) bool {
	if _, err := os.Stat("/sys/fs/cgroup/" + v1file); err == nil {
		return true
	}
	b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return strings.Contains(" "+string(b)+" ", " "+v2controller+" ") && !strings.Contains(v1file, "memsw") && !strings.Contains(v1file, "oom")
}

func TestInfoAndVersionComplete(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	var info map[string]any
	getJSON(t, d, "GET", "/v1.47/info", &info)
	st, err := time.Parse(time.RFC3339Nano, info["SystemTime"].(string))
	if err != nil || time.Since(st).Abs() > time.Minute || !strings.Contains(info["SystemTime"].(string), ".") {
		t.Errorf("SystemTime %v (%v)", info["SystemTime"], err)
	}
	for field, has := range map[string]bool{
		"MemoryLimit":    cgroupHas("memory/memory.limit_in_bytes", "memory"),
		"SwapLimit":      cgroupHas("memory/memory.memsw.limit_in_bytes", "memory"),
		"OomKillDisable": cgroupHas("memory/memory.oom_control", "-"),
		"CpuCfsPeriod":   cgroupHas("cpu/cpu.cfs_period_us", "cpu"),
		"CpuCfsQuota":    cgroupHas("cpu/cpu.cfs_quota_us", "cpu"),
		"CPUShares":      cgroupHas("cpu/cpu.shares", "cpu"),
		"CPUSet":         cgroupHas("cpuset/cpuset.cpus", "cpuset"),
		"PidsLimit":      cgroupHas("pids/cgroup.procs", "pids"),
	} {
		if info[field] != has {
			t.Errorf("%s = %v, the host has it: %v", field, info[field], has)
		}
	}
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if info["IPv4Forwarding"] != (strings.TrimSpace(string(fwd)) == "1") {
		t.Errorf("IPv4Forwarding = %v, ip_forward is %q", info["IPv4Forwarding"], fwd)
	}
	host, _ := os.Hostname()
	uname, _ := exec.Command("uname", "-m").Output()
	for field, want := range map[string]any{
		"Driver": "overlay2", "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "DefaultRuntime": "runc",
		"Name": host, "Architecture": strings.TrimSpace(string(uname)), "OSType": "linux",
	} {
		if info[field] != want {
			t.Errorf("%s = %v, want %v", field, info[field], want)
		}
	}
	for _, field := range []string{"ID", "CgroupVersion", "KernelVersion", "OperatingSystem", "ServerVersion"} {
		if s, _ := info[field].(string); s == "" {
			t.Errorf("%s is empty", field)
		}
	}
	if n, _ := info["NCPU"].(float64); n < 1 {
		t.Errorf("NCPU %v", info["NCPU"])
	}
	if m, _ := info["MemTotal"].(float64); m < 1<<20 {
		t.Errorf("MemTotal %v", info["MemTotal"])
	}
	if rts, _ := info["Runtimes"].(map[string]any); rts["runc"] == nil {
		t.Errorf("Runtimes %v", info["Runtimes"])
	}
	if so, _ := info["SecurityOptions"].([]any); len(so) == 0 || so[0] != "name=seccomp,profile=builtin" {
		t.Errorf("SecurityOptions %v", info["SecurityOptions"])
	}
	var version struct {
		Components []struct {
			Name    string
			Details map[string]string
		}
	}
	getJSON(t, d, "GET", "/v1.47/version", &version)
	if len(version.Components) == 0 || version.Components[0].Name != "Engine" {
		t.Fatalf("components %+v", version.Components)
	}
	det := version.Components[0].Details
	for _, k := range []string{"GitCommit", "GoVersion", "KernelVersion", "BuildTime"} {
		if det[k] == "" || det[k] == "unknown" {
			t.Errorf("Engine %s = %q", k, det[k])
		}
	}
	if det["Experimental"] != "false" {
		t.Errorf("Engine Experimental = %q", det["Experimental"])
	}
	// Docker's Python SDK reads the same.
	py := testutil.Run(t, "", nil, "/usr/bin/python3", "-c", `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
i = c.info()
print(i["Driver"], len(c.networks.list()), len(c.volumes.list()), len(c.plugins.list()))`, d.Host())
	if py.Code != 0 || strings.TrimSpace(py.Stdout) != "overlay2 3 0 0" {
		t.Fatalf("python3-docker: %s", py)
	}
}

// postJSON sends body to path and returns the status and answer.
func postJSON(t *testing.T, d *testutil.Daemon, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://berth"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := unixClient(d.Socket).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestCreateValidationAsDocker(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("create", "--name", "exists", "busybox", "true")
	id := d.Must("image", "inspect", "-f", "{{.Id}}", "busybox")
	for _, tc := range []struct{ name, body, want string }{
		{"link to nothing", `{"Image":"busybox","HostConfig":{"Links":["nope:x"]}}`, "could not get container for nope: No such container: nope"},
		{"link with host networking", `{"Image":"busybox","HostConfig":{"NetworkMode":"host","Links":["exists:x"]}}`, "conflicting options: host type networking can't be used with links"},
		{"empty env name", `{"Image":"busybox","Env":["=x"]}`, "invalid environment variable: =x"},
		{"relative tmpfs", `{"Image":"busybox","HostConfig":{"Tmpfs":{"tmp":""}}}`, "invalid mount path: 'tmp' mount path must be absolute"},
		{"tmpfs twice", `{"Image":"busybox","HostConfig":{"Tmpfs":{"/x":""},"Mounts":[{"Type":"tmpfs","Target":"/x/"}]}}`, "Duplicate mount point: /x"},
		{"mount target twice", `{"Image":"busybox","HostConfig":{"Binds":["/a:/d","/b:/d"]}}`, "Duplicate mount point: /d"},
		{"bind on /", `{"Image":"busybox","HostConfig":{"Binds":["/a:/"]}}`, "invalid specification: destination can't be '/'"},
		{"bind of a relative path", `{"Image":"busybox","HostConfig":{"Binds":["a/b:/d"]}}`, "create a/b: \"a/b\" includes invalid characters for a local volume name"},
		{"host port out of range", `{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"99999"}]}}}`, "invalid port specification: \"99999\""},
		{"publishing with host networking", `{"Image":"busybox","HostConfig":{"NetworkMode":"host","PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}}`, "berth: -p/-P (HostConfig.PortBindings) publish on the default bridge only"},
		{"digest algorithm as tag", `{"Image":"busybox:` + id + `"}`, "invalid reference format"},
		{"restart policy", `{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}`, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{"negative retries", `{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}`, "invalid restart policy: maximum retry count cannot be negative"},
		{"cpus", `{"Image":"busybox","HostConfig":{"NanoCpus":999000000000}}`, "Range of CPUs is from 0.01 to"},
		{"cpu quota", `{"Image":"busybox","HostConfig":{"CpuQuota":10}}`, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{"memory", `{"Image":"busybox","HostConfig":{"Memory":1024}}`, "Minimum memory limit allowed is 6MB"},
		{"relative working dir", `{"Image":"busybox","WorkingDir":"rel"}`, "the working directory 'rel' is invalid, it needs to be an absolute path"},
		{"runtime", `{"Image":"busybox","HostConfig":{"Runtime":"kata"}}`, "unknown or invalid runtime name: kata"},
	} {
		status, body := postJSON(t, d, "/v1.47/containers/create?name=c-"+strings.ReplaceAll(tc.name, " ", "-"), tc.body)
		var msg struct{ Message string }
		_ = json.Unmarshal([]byte(body), &msg)
		if status != 400 || !strings.HasPrefix(msg.Message, tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.name, status, body, tc.want)
		}
	}
	if out := d.Must("ps", "-aq"); len(strings.Fields(out)) != 1 {
		t.Fatalf("a refused create left a container: %q", out)
	}
}

func TestContainerDefaultsAsDocker(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	dockerEnv := []string{"DOCKER_HOST=" + d.Host()}
	docker := func(args ...string) string {
		t.Helper()
		res := testutil.Run(t, "", dockerEnv, "docker", args...)
		if res.Code != 0 {
			t.Fatalf("docker %v: %s", args, res)
		}
		return strings.TrimSpace(res.Stdout)
	}
	docker("run", "-d", "--name", "cc", "-w", "/tmp/", "--domainname", "example.org", "busybox", "sleep", "100")
	if got := docker("inspect", "-f", "{{.Config.WorkingDir}} {{.HostConfig.IpcMode}} {{.HostConfig.Runtime}}", "cc"); got != "/tmp private runc" {
		t.Errorf("WorkingDir IpcMode Runtime = %q", got)
	}
	if got := docker("exec", "cc", "sh", "-c", "pwd; cat /proc/sys/kernel/domainname"); got != "/tmp\nexample.org" {
		t.Errorf("cwd and NIS domain name in the container: %q", got)
	}
	// A client older than API 1.32 gets shareable IPC.
	status, body := postJSON(t, d, "/v1.30/containers/create", `{"Image":"busybox","Cmd":["true"]}`)
	var created struct{ Id string }
	if json.Unmarshal([]byte(body), &created); status != 201 {
		t.Fatalf("create at 1.30: %d %s", status, body)
	}
	if got := docker("inspect", "-f", "{{.HostConfig.IpcMode}}", created.Id); got != "shareable" {
		t.Errorf("IpcMode at API 1.30 = %q", got)
	}
	// inspect --size: what the container wrote, and that plus the image.
	imgSize := docker("image", "inspect", "-f", "{{.Size}}", "busybox")
	docker("exec", "cc", "sh", "-c", "head -c 100000 /dev/zero > /big")
	if got := docker("inspect", "--size", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "cc"); got != fmt.Sprintf("100000 %d", 100000+atoi(t, imgSize)) {
		t.Errorf("SizeRw SizeRootFs = %q (image %s)", got, imgSize)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLifecycleAsDocker(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	inspect := func(format, name string) string { return d.Must("inspect", "-f", format, name) }

	// kill with SIGKILL returns once the container has exited.
	d.Must("run", "-d", "--name", "kk", "busybox", "sleep", "100")
	d.Must("kill", "kk")
	if got := inspect("{{.State.Running}} {{.State.ExitCode}}", "kk"); got != "false 137" {
		t.Errorf("right after kill: %q", got)
	}

	// ...a paused one too.
	d.Must("run", "-d", "--name", "frozen", "busybox", "sleep", "100")
	d.Must("pause", "frozen")
	d.Must("kill", "frozen")
	if got := inspect("{{.State.Status}} {{.State.ExitCode}}", "frozen"); got != "exited 137" {
		t.Errorf("right after kill of a paused container: %q", got)
	}

	// rm of a restarting container needs force.
	d.Must("run", "-d", "--name", "rr", "--restart", "always", "busybox", "sh", "-c", "exit 1")
	testutil.Eventually(t, 20*time.Second, "the container to be restarting, with a long delay", func() bool {
		// From the 5th restart on, it waits 3.2 s and more between runs.
		f := strings.Fields(inspect("{{.State.Restarting}} {{.RestartCount}}", "rr"))
		return f[0] == "true" && atoi(t, f[1]) >= 5
	})
	res := d.Berth("rm", "rr")
	if res.Code == 0 || !strings.Contains(res.Stderr, `cannot remove container "/rr": container is restarting: stop the container before removing or force remove`) {
		t.Errorf("rm of a restarting container: %s", res)
	}
	d.Must("rm", "-f", "rr")

	// A --rm container can be restarted and stays.
	d.Must("run", "-d", "--rm", "--name", "auto", "busybox", "sleep", "100")
	d.Must("restart", "-t", "1", "auto")
	if got := inspect("{{.State.Running}}", "auto"); got != "true" {
		t.Errorf("--rm container after restart: running %q", got)
	}

	// A stop whose client goes away still completes (SIGKILL at the timeout).
	// It says when it ignores SIGTERM (in /dev/shm: new at every start),
	// so that no signal comes before its trap.
	d.Must("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; touch /dev/shm/ready; while true; do sleep 1; done")
	trapped := func() {
		testutil.Eventually(t, 10*time.Second, "the container to ignore SIGTERM", func() bool {
			return d.Berth("exec", "stubborn", "test", "-e", "/dev/shm/ready").Code == 0
		})
	}
	trapped()
	since := fmt.Sprint(time.Now().Unix())
	abandon := func(verb string) {
		req, _ := http.NewRequest("POST", "http://berth/v1.47/containers/stubborn/"+verb+"?t=2", nil)
		c := unixClient(d.Socket)
		c.Timeout = 300 * time.Millisecond
		if _, err := c.Do(req); err == nil {
			t.Fatalf("%s answered within 300ms: the container does not ignore SIGTERM?", verb)
		}
	}
	abandon("stop")
	testutil.Eventually(t, 10*time.Second, "the abandoned stop to kill the container at its timeout", func() bool {
		return inspect("{{.State.Status}} {{.State.ExitCode}}", "stubborn") == "exited 137"
	})
	d.Must("start", "stubborn")
	trapped()
	abandon("restart")
	testutil.Eventually(t, 15*time.Second, "the abandoned restart to complete, with its event", func() bool {
		out := d.Must("events", "--since", since, "--until", fmt.Sprint(time.Now().Unix()), "--filter", "container=stubborn", "--format", "{{.Action}}")
		return strings.Contains(out, "restart") && inspect("{{.State.Running}}", "stubborn") == "true"
	})
}

func TestLogDrivers(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	// local: rotated, compressed, readable by logs.
	d.Must("run", "--name", "loc", "--log-driver", "local", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
		"busybox", "sh", "-c", "i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); done")
	out := d.Must("logs", "loc")
	lines := strings.Fields(out)
	if len(lines) < 20 || lines[len(lines)-1] != "line-59" {
		t.Errorf("logs of a local-driver container: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	dir := filepath.Join(d.DataRoot, "containers", d.Must("inspect", "-f", "{{.Id}}", "loc"), "local-logs")
	if gz, _ := filepath.Glob(filepath.Join(dir, "container.log.*.gz")); len(gz) == 0 {
		entries, _ := os.ReadDir(dir)
		t.Errorf("no compressed rotated file in %s: %v", dir, entries)
	}
	if got := d.Must("inspect", "-f", "{{.HostConfig.LogConfig.Type}}:{{.LogPath}}", "loc"); got != "local:" {
		t.Errorf("inspect of a local-driver container: %q", got)
	}
	// none: no log; logs says so as Docker does.
	d.Must("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
	res := d.Berth("logs", "quiet")
	if res.Code == 0 || !strings.Contains(res.Stderr, "configured logging driver does not support reading") {
		t.Errorf("logs with the none driver: %s", res)
	}
	// json-file takes max-file without max-size, as Docker does.
	d.Must("run", "--rm", "--log-opt", "max-file=3", "busybox", "true")
	// An unknown driver gets Docker's error.
	res = testutil.Run(t, "", []string{"DOCKER_HOST=" + d.Host()}, "docker", "run", "--log-driver", "nosuch", "busybox", "true")
	if res.Code != 125 || !strings.Contains(res.Stderr, "logger: no log driver named 'nosuch' is registered") {
		t.Errorf("unknown log driver: %s", res)
	}
}

func TestStatsPruneAndLoadAsDocker(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "st", "--pids-limit", "50", "busybox", "sleep", "100")
	// stream=0 without one-shot: two samples a second apart, the first as precpu.
	var st struct {
		PidsStats  struct{ Current, Limit uint64 } `json:"pids_stats"`
		BlkioStats map[string]json.RawMessage      `json:"blkio_stats"`
		PreCPU     struct {
			SystemUsage uint64 `json:"system_cpu_usage"`
		} `json:"precpu_stats"`
		CPU struct {
			SystemUsage uint64 `json:"system_cpu_usage"`
		} `json:"cpu_stats"`
	}
	getJSON(t, d, "GET", "/v1.47/containers/st/stats?stream=0", &st)
	if st.PidsStats.Current != 1 || st.PidsStats.Limit != 50 {
		t.Errorf("pids_stats %+v", st.PidsStats)
	}
	if st.PreCPU.SystemUsage == 0 || st.CPU.SystemUsage <= st.PreCPU.SystemUsage {
		t.Errorf("precpu_stats %+v, cpu_stats %+v", st.PreCPU, st.CPU)
	}
	for _, k := range []string{"io_service_bytes_recursive", "io_serviced_recursive"} {
		if v := string(st.BlkioStats[k]); v == "" || v == "null" {
			t.Errorf("blkio_stats[%s] = %q, want a list", k, v)
		}
	}

	// Prunes report what they freed.
	d.Must("run", "--name", "writer", "busybox", "sh", "-c", "head -c 200000 /dev/zero > /big")
	var cp struct {
		ContainersDeleted []string
		SpaceReclaimed    int64
	}
	status, body := postJSON(t, d, `/v1.47/containers/prune?filters={"label":{"keep":true}}`, "")
	if status != 200 || !strings.Contains(body, `"ContainersDeleted":[]`) {
		t.Errorf("prune with a label no container has: %d %s", status, body)
	}
	status, body = postJSON(t, d, "/v1.47/containers/prune", "")
	if json.Unmarshal([]byte(body), &cp); status != 200 || len(cp.ContainersDeleted) != 1 || cp.SpaceReclaimed < 200000 {
		t.Errorf("container prune: %d %s", status, body)
	}
	if status, body := postJSON(t, d, `/v1.47/containers/prune?filters={"bogus":{"x":true}}`, ""); status != 400 {
		t.Errorf("container prune with an unknown filter: %d %s", status, body)
	}
	// With no container left, prune of unused images (dangling=false)
	// removes busybox and frees its layer.
	d.Must("rm", "-f", "st")
	var ip struct {
		ImagesDeleted  []map[string]string
		SpaceReclaimed int64
	}
	status, body = postJSON(t, d, `/v1.47/images/prune?filters={"dangling":{"false":true}}`, "")
	if json.Unmarshal([]byte(body), &ip); status != 200 || len(ip.ImagesDeleted) == 0 || ip.SpaceReclaimed < 500000 {
		t.Errorf("image prune: %d %s", status, body)
	}

	// load of something that is not an image archive: an error in the stream.
	py := testutil.Run(t, "", nil, "/usr/bin/python3", "-c", `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
try:
    c.images.load(b"not an image archive" * 100)
    print("loaded")
except docker.errors.ImageLoadError as e:
    print("ImageLoadError")`, d.Host())
	if strings.TrimSpace(py.Stdout) != "ImageLoadError" {
		t.Errorf("python3-docker load of garbage: %s", py)
	}
}

func TestWaitConditionsAsDocker(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id := d.Must("create", "busybox", "sh", "-c", "exit 7")
	// not-running: a created container is not running, so at once.
	if status, body := postJSON(t, d, "/v1.47/containers/"+id+"/wait?condition=not-running", ""); status != 200 || body != `{"StatusCode":0}` {
		t.Errorf("not-running on a created container: %d %s", status, body)
	}
	if status, body := postJSON(t, d, "/v1.47/containers/"+id+"/wait?condition=bogus", ""); status != 400 || body != `{"message":"invalid condition: \"bogus\""}` {
		t.Errorf("bogus condition: %d %s", status, body)
	}
	// next-exit waits for the run that comes; removed for the removal.
	type answer struct {
		status int
		body   string
	}
	wait := func(cond string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			s, b := postJSON(t, d, "/v1.47/containers/"+id+"/wait?condition="+cond, "")
			ch <- answer{s, b}
		}()
		return ch
	}
	next, removed := wait("next-exit"), wait("removed")
	time.Sleep(200 * time.Millisecond)
	select {
	case a := <-next:
		t.Fatalf("next-exit answered before any run: %+v", a)
	default:
	}
	d.Must("start", id)
	if a := <-next; a.status != 200 || a.body != `{"StatusCode":7}` {
		t.Errorf("next-exit: %+v", a)
	}
	select {
	case a := <-removed:
		t.Fatalf("removed answered before the removal: %+v", a)
	case <-time.After(200 * time.Millisecond):
	}
	d.Must("rm", id)
	if a := <-removed; a.status != 200 || a.body != `{"StatusCode":7}` {
		t.Errorf("removed: %+v", a)
	}
}

func TestListFiltersBeforeSinceUntil(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	for _, n := range []string{"first", "second", "third"} {
		// (berth's CLI has no --expose yet; the docker CLI's sends ExposedPorts.)
		if res := testutil.Run(t, "", []string{"DOCKER_HOST=" + d.Host()}, "docker", "create", "--name", n, "--expose", "80", "busybox", "true"); res.Code != 0 {
			t.Fatalf("docker create: %s", res)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for filter, want := range map[string]string{
		"before=third": "second first", "since=first": "third second", "before=third,since=first": "second",
		"expose=80": "third second first", "expose=81": "", "network=bridge": "third second first", "network=none": "", "health=healthy": "",
	} {
		args := []string{"ps", "-a", "--format", "{{.Names}}"}
		for _, kv := range strings.Split(filter, ",") {
			args = append(args, "--filter", kv)
		}
		if got := strings.Join(strings.Fields(d.Must(args...)), " "); got != want {
			t.Errorf("ps --filter %s: %q, want %q", filter, got, want)
		}
	}
	d.Must("tag", "busybox", "later:1")
	if out := d.Must("images", "--filter", "until=1h", "--format", "{{.Repository}}"); out != "" {
		t.Errorf("images made more than an hour ago: %q", out)
	}
	if out := d.Must("images", "--filter", "since=busybox", "--format", "{{.Repository}}"); out != "" {
		t.Errorf("images made after busybox: %q (a tag is no new image)", out)
	}
}

// TestSecurityOptsAndDNSOptions: what is honoured shows in the container,
// what is not is refused, by the docker CLI's requests.
func TestSecurityOptsAndDNSOptions(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	env := []string{"DOCKER_HOST=" + d.Host()}
	// A seccomp profile in Docker's format: everything allowed but mkdir.
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := testutil.Run(t, "", env, "docker", "run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "sh", "-c", "mkdir /x; echo rc=$?")
	if !strings.Contains(res.Stdout, "rc=1") || !strings.Contains(res.Stderr+res.Stdout, "Operation not permitted") {
		t.Errorf("mkdir under a profile that denies it: %s", res)
	}
	res = testutil.Run(t, "", env, "docker", "run", "--rm", "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c", "grep -c ' /proc/kcore ' /proc/mounts")
	if strings.TrimSpace(res.Stdout) != "0" {
		t.Errorf("systempaths=unconfined still masks /proc/kcore: %s", res)
	}
	res = testutil.Run(t, "", env, "docker", "run", "--rm", "--dns", "192.0.2.1", "--dns-search", "example.org", "--dns-option", "ndots:2", "busybox", "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 192.0.2.1\n", "search example.org\n", "options ndots:2\n"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("resolv.conf lacks %q: %s", want, res)
		}
	}
	if strings.Count(res.Stdout, "nameserver") != 1 {
		t.Errorf("--dns does not replace the host's nameservers: %s", res)
	}
	for _, tc := range []struct{ args, want string }{
		{"--security-opt apparmor=docker-default", "berth: --security-opt apparmor=docker-default is not supported"},
		{"--gpus all", "berth: --gpus (HostConfig.DeviceRequests) is not supported yet"},
		{"--cpu-rt-runtime 100", "berth: --cpu-rt-runtime (HostConfig.CPURealtimeRuntime) is not supported yet"},
		{"--health-cmd true", "berth: --health-cmd (Config.Healthcheck) is not supported yet"},
		{"--volumes-from nope", "No such container: nope"},
	} {
		args := append(append([]string{"create"}, strings.Fields(tc.args)...), "busybox")
		res := testutil.Run(t, "", env, "docker", args...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("docker %s: %s, want %q", strings.Join(args, " "), res, tc.want)
		}
	}
	if out := d.Must("ps", "-aq"); out != "" {
		t.Errorf("refused creates left containers: %q", out)
	}
}
