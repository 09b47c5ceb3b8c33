//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/sysinfo"
	"github.com/berthproject/berth/internal/testutil"
)

// blockDevice is a block device node of this host (for the device and
// block I/O options), "" if there is none.
func blockDevice() string {
	for _, d := range []string{"/dev/loop0", "/dev/zram0", "/dev/vda", "/dev/sda", "/dev/nvme0n1"} {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
			return d
		}
	}
	return ""
}

func majorMinor(t *testing.T, path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
}

// TestDeviceOptions: --device gives the container the node with only the
// access asked for, --device-cgroup-rule opens the cgroup to a node the
// container makes, and neither is open by default.
func TestDeviceOptions(t *testing.T) {
	t.Parallel()
	dev := blockDevice()
	if dev == "" {
		t.Skip("no block device node on this host")
	}
	mm := strings.Split(majorMinor(t, dev), ":")
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	mknod := fmt.Sprintf("mknod /tmp/b b %s %s && head -c 1 /tmp/b >/dev/null", mm[0], mm[1])

	if res := d.Berth("run", "--rm", "busybox", "sh", "-c", mknod); res.Code == 0 || !strings.Contains(res.Stderr+res.Stdout, "Operation not permitted") {
		t.Fatalf("a block device is open to a container by default: %s", res)
	}
	if res := d.Berth("run", "--rm", "--device-cgroup-rule", fmt.Sprintf("b %s:%s r", mm[0], mm[1]), "busybox", "sh", "-c", mknod); res.Code != 0 {
		t.Fatalf("--device-cgroup-rule did not open the device: %s", res)
	}
	out := d.Must("run", "--rm", "--device", dev+":/dev/mydev:r", "busybox", "sh", "-c",
		"stat -c '%t %T' /dev/mydev; head -c 1 /dev/mydev >/dev/null && echo read; echo x > /dev/mydev || echo write-denied")
	want := fmt.Sprintf("%x %x\nread\nwrite-denied", atoi(t, mm[0]), atoi(t, mm[1]))
	if !strings.HasPrefix(out, want) {
		t.Fatalf("--device %s:/dev/mydev:r: got %q, want %q", dev, out, want)
	}
	if res := d.Berth("run", "--rm", "--device", "/nonexistent:/dev/x", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, `error gathering device information while adding custom device "/nonexistent"`) {
		t.Fatalf("missing device: %s", res)
	}
	// --privileged: the host's device nodes, as in Docker.
	if out := d.Must("run", "--rm", "--privileged", "busybox", "ls", "/dev"); !strings.Contains("\n"+out+"\n", "\n"+filepath.Base(dev)+"\n") {
		t.Fatalf("--privileged does not see %s: %s", dev, out)
	}
}

// TestNamespaceOptions: --pid container:, --ipc shareable/container:/none
// and --uts host do what they say.
func TestNamespaceOptions(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "donor", "--ipc", "shareable", "--shm-size", "8m", "busybox", "sh", "-c", "echo shared > /dev/shm/x; exec sleep 300")
	d.Must("run", "-d", "--name", "private", "busybox", "sleep", "300")
	ns := func(name, kind string) string {
		return d.Must("exec", name, "readlink", "/proc/1/ns/"+kind)
	}

	// PID: the joiner sees the donor's processes, in the same namespace.
	if out := d.Must("run", "--rm", "--pid", "container:donor", "busybox", "sh", "-c", "readlink /proc/self/ns/pid; ps -o comm"); !strings.HasPrefix(out, ns("donor", "pid")) || !strings.Contains(out, "sleep") {
		t.Fatalf("--pid container:donor: %q", out)
	}
	// IPC: same namespace and the donor's /dev/shm, which lives on the
	// host (in the donor's directory) while the donor runs.
	if out := d.Must("run", "--rm", "--ipc", "container:donor", "busybox", "sh", "-c", "readlink /proc/self/ns/ipc; cat /dev/shm/x"); out != ns("donor", "ipc")+"\nshared" {
		t.Fatalf("--ipc container:donor: %q", out)
	}
	if out := d.Must("exec", "donor", "df", "-k", "/dev/shm"); !strings.Contains(out, " 8192 ") {
		t.Fatalf("--shm-size 8m of a shareable container: %q", out)
	}
	donorID := d.Must("inspect", "-f", "{{.Id}}", "donor")
	shm := filepath.Join(d.DataRoot, "containers", donorID, "shm")
	if !isMountPoint(shm) {
		t.Fatalf("no shared /dev/shm mounted at %s: %v", shm, testutil.Mounts(d.Root))
	}
	if res := d.Berth("run", "--rm", "--ipc", "container:private", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "non-shareable IPC (hint: use IpcMode:shareable for the donor container)") {
		t.Fatalf("joining a private IPC namespace: %s", res)
	}
	if out := d.Must("run", "--rm", "--ipc", "none", "busybox", "sh", "-c", "test -e /dev/shm && echo shm || echo no-shm"); out != "no-shm" {
		t.Fatalf("--ipc none: %q", out)
	}
	d.Must("rm", "-f", "donor")
	if isMountPoint(shm) {
		t.Fatalf("%s still mounted after the donor was removed", shm)
	}
	if res := d.Berth("run", "--rm", "--pid", "container:donor", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "No such container: donor") {
		t.Fatalf("--pid container: of a removed container: %s", res)
	}
	d.Must("stop", "-t", "0", "private")
	if res := d.Berth("run", "--rm", "--pid", "container:private", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "cannot join PID of a non running container") {
		t.Fatalf("--pid container: of a stopped container: %s", res)
	}

	// UTS host: the host's name, no namespace of its own.
	host, _ := os.Hostname()
	selfUTS, _ := os.Readlink("/proc/self/ns/uts")
	if out := d.Must("run", "--rm", "--uts", "host", "busybox", "sh", "-c", "hostname; readlink /proc/self/ns/uts"); out != host+"\n"+selfUTS {
		t.Fatalf("--uts host: %q, want %q", out, host+"\n"+selfUTS)
	}
	if res := d.Berth("run", "--rm", "--uts", "host", "-h", "other", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "conflicting options: hostname and the UTS mode") {
		t.Fatalf("--uts host with a hostname: %s", res)
	}
}

func isMountPoint(p string) bool {
	for _, m := range testutil.Mounts(filepath.Dir(p)) {
		if m == p {
			return true
		}
	}
	return false
}

// cgroupFile is the host path of a controller's file for the cgroup at
// path (cgroup v1 hierarchy or v2).
func cgroupFile(controller, path, file string) string {
	if cgroups.IsCgroup2UnifiedMode() {
		return filepath.Join("/sys/fs/cgroup", path, file)
	}
	return filepath.Join("/sys/fs/cgroup", controller, path, file)
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCgroupOptions: --cgroup-parent places the container's cgroup;
// block I/O throttles and --oom-kill-disable reach the cgroup, or are
// refused where the host cannot set them.
func TestCgroupOptions(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	unified := cgroups.IsCgroup2UnifiedMode()
	host := sysinfo.ProbeCgroups("/sys/fs/cgroup", unified)

	parent := fmt.Sprintf("berth-test-parent-%d", os.Getpid())
	t.Cleanup(func() {
		for _, dir := range append([]string{"/sys/fs/cgroup/" + parent}, mustGlob("/sys/fs/cgroup/*/"+parent)...) {
			_ = os.Remove(dir)
		}
	})
	id := d.Must("run", "-d", "--cgroup-parent", parent, "busybox", "sleep", "300")
	if _, err := os.Stat(cgroupFile("pids", parent+"/"+id, "cgroup.procs")); err != nil {
		t.Fatalf("--cgroup-parent %s: %v", parent, err)
	}
	d.Must("rm", "-f", id)

	if dev := blockDevice(); dev != "" {
		mm := majorMinor(t, dev)
		read := `for f in /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/io.max; do [ -f $f ] && cat $f; done`
		out := d.Must("run", "--rm", "--device-read-bps", dev+":1mb", "--device-write-iops", dev+":77", "busybox", "sh", "-c",
			read+`; cat /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device 2>/dev/null || true`)
		if out != mm+" 1048576\n"+mm+" 77" && !strings.Contains(out, mm+" rbps=1048576 wbps=max riops=max wiops=77") {
			t.Fatalf("block I/O throttles on %s (%s): %q", dev, mm, out)
		}
	}
	res := d.Berth("run", "--rm", "--blkio-weight", "300", "busybox", "sh", "-c", "cat /sys/fs/cgroup/blkio/blkio.weight /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/io.bfq.weight /sys/fs/cgroup/io.weight 2>/dev/null")
	if host.BlkioWeight {
		if res.Code != 0 && !strings.Contains(res.Stdout, "300") {
			t.Fatalf("--blkio-weight 300: %s", res)
		}
	} else if res.Code == 0 || !strings.Contains(res.Stderr, "berth: --blkio-weight is not supported on this host") {
		t.Fatalf("--blkio-weight on a host without weights: %s", res)
	}
	res = d.Berth("run", "--rm", "--oom-kill-disable", "--memory", "64m", "busybox", "grep", "oom_kill_disable", "/sys/fs/cgroup/memory/memory.oom_control")
	if unified {
		if res.Code == 0 || !strings.Contains(res.Stderr, "--oom-kill-disable is not supported on this host") {
			t.Fatalf("--oom-kill-disable on cgroup v2: %s", res)
		}
	} else if strings.TrimSpace(res.Stdout) != "oom_kill_disable 1" {
		t.Fatalf("--oom-kill-disable: %s", res)
	}
}

func mustGlob(p string) []string {
	m, _ := filepath.Glob(p)
	return m
}

// TestUpdate: `update` changes a running container's cgroup at once and a
// stopped one's record for its next start; what conflicts is refused and
// nothing of it is kept.
func TestUpdate(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id := d.Must("run", "-d", "--name", "upd", "--memory", "64m", "--cpus", "0.5", "busybox", "sleep", "300")
	cg := "berth/" + id
	memFile := cgroupFile("memory", cg, "memory.limit_in_bytes")
	if cgroups.IsCgroup2UnifiedMode() {
		memFile = cgroupFile("memory", cg, "memory.max")
	}
	pidsFile := cgroupFile("pids", cg, "pids.max")
	if got := d.Must("inspect", "-f", "{{.HostConfig.MemorySwap}}", "upd"); got != "134217728" {
		t.Fatalf("recorded default swap: %s, want twice the memory as Docker records it", got)
	}

	d.Must("update", "--memory", "100m", "--pids-limit", "50", "--restart", "on-failure:3", "upd")
	if got := readTrim(t, memFile) + " " + readTrim(t, pidsFile); got != "104857600 50" {
		t.Fatalf("after update, memory and pids limits: %s", got)
	}
	if got := d.Must("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "upd"); got != "104857600 50 on-failure:3" {
		t.Fatalf("inspect after update: %s", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "200m"}, "Memory limit should be smaller than already set memoryswap limit"},
		{[]string{"--cpu-quota", "20000"}, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"},
		{[]string{"--memory", "1m", "--memory-swap", "2m"}, "Minimum memory limit allowed is 6MB"},
	} {
		res := d.Berth(append(append([]string{"update"}, tc.args...), "upd")...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Fatalf("update %v: %s, want %q", tc.args, res, tc.want)
		}
	}
	if got := readTrim(t, memFile); got != "104857600" {
		t.Fatalf("a refused update changed the limit: %s", got)
	}
	d.Must("update", "--pids-limit", "-1", "upd")
	if got := readTrim(t, pidsFile); got != "max" {
		t.Fatalf("pids limit after --pids-limit -1: %s", got)
	}

	// Stopped: recorded, applied at the next start.
	d.Must("stop", "-t", "0", "upd")
	d.Must("update", "--memory", "300m", "--memory-swap", "600m", "upd")
	d.Must("start", "upd")
	if got := readTrim(t, memFile); got != "314572800" {
		t.Fatalf("limit at the start after an update of the stopped container: %s", got)
	}

	d.Must("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "300")
	if res := d.Berth("update", "--restart", "always", "gone"); res.Code == 0 || !strings.Contains(res.Stderr, "Restart policy cannot be updated because AutoRemove is enabled for the container") {
		t.Fatalf("restart policy of a --rm container: %s", res)
	}
	if res := d.Berth("update", "--memory", "64m", "nonexistent"); res.Code == 0 || !strings.Contains(res.Stderr, "No such container: nonexistent") {
		t.Fatalf("update of no container: %s", res)
	}
}

// TestLogDetails: json-file's labels, env and tag options become each
// line's attributes, which `logs --details` prints before the line as
// Docker does; timestamps have nine digits of fraction.
func TestLogDetails(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "--name", "lgd", "--label", "app=shop", "--label", "skip=1", "-e", "REGION=eu west",
		"--log-opt", "labels=app", "--log-opt", "env=REGION", "--log-opt", "tag={{.Name}}/{{.ImageName}}",
		"busybox", "echo", "hello")
	if out := d.Must("logs", "--details", "lgd"); out != "REGION=eu+west,app=shop,tag=lgd%2Fbusybox hello" {
		t.Fatalf("logs --details: %q", out)
	}
	d.Must("run", "--name", "plain", "busybox", "echo", "hello")
	if out := d.Berth("logs", "--details", "plain").Stdout; out != " hello\n" {
		t.Fatalf("logs --details without attributes: %q, want a lone space before the line", out)
	}
	out := d.Must("logs", "-t", "--details", "plain")
	ts, rest, _ := strings.Cut(out, " ")
	if len(ts) != len("2006-01-02T15:04:05.000000000Z") || rest != " hello" {
		t.Fatalf("logs -t --details: %q", out)
	}
	if res := d.Berth("run", "--log-opt", "tag={{.Bogus}}", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "invalid log tag") {
		t.Fatalf("a tag that cannot run: %s", res)
	}
}

// TestHonouredOptionsTakeEffect: options the field table lists as
// honoured, each seen from inside the container (or in what the runtime
// was given).
func TestHonouredOptionsTakeEffect(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	run := func(args ...string) string { return d.Must(append([]string{"run", "--rm"}, args...)...) }

	if out := run("--add-host", "db.local:192.0.2.7", "busybox", "grep", "db.local", "/etc/hosts"); out != "192.0.2.7\tdb.local" {
		t.Fatalf("--add-host: %q", out)
	}
	if out := run("--oom-score-adj", "321", "busybox", "cat", "/proc/self/oom_score_adj"); out != "321" {
		t.Fatalf("--oom-score-adj: %q", out)
	}
	if out := run("--sysctl", "net.ipv4.ip_local_port_range=40000 40100", "busybox", "cat", "/proc/sys/net/ipv4/ip_local_port_range"); out != "40000\t40100" {
		t.Fatalf("--sysctl: %q", out)
	}
	if out := run("--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c", "df -k /scratch | tail -1 | awk '{print $2}'"); out != "1024" {
		t.Fatalf("--tmpfs size=1m: %q", out)
	}
	if out := run("--shm-size", "2m", "busybox", "sh", "-c", "df -k /dev/shm | tail -1 | awk '{print $2}'"); out != "2048" {
		t.Fatalf("--shm-size 2m: %q", out)
	}

	cli, err := client.NewClientWithOpts(client.WithHost(d.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	// Fields the CLIs have no flag for, or that only the API sends: the
	// container's own cgroup namespace or the host's, masked and
	// read-only paths, annotations, the TTY's size at start.
	hostCgroupNS, _ := os.Readlink("/proc/self/ns/cgroup")
	cases := []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		want func(out string) bool
	}{
		{"cgroupns host", container.Config{Cmd: []string{"readlink", "/proc/self/ns/cgroup"}}, container.HostConfig{CgroupnsMode: "host"},
			func(out string) bool { return out == hostCgroupNS }},
		{"cgroupns private", container.Config{Cmd: []string{"readlink", "/proc/self/ns/cgroup"}}, container.HostConfig{CgroupnsMode: "private"},
			func(out string) bool { return out != hostCgroupNS && strings.HasPrefix(out, "cgroup:") }},
		{"masked paths", container.Config{Cmd: []string{"sh", "-c", "wc -c < /etc/hostname; wc -c < /proc/keys | tr -d ' '"}}, container.HostConfig{MaskedPaths: []string{"/etc/hostname"}},
			func(out string) bool { f := strings.Fields(out); return len(f) == 2 && f[0] == "0" && f[1] != "0" }},
		{"read-only paths", container.Config{Cmd: []string{"sh", "-c", "mkdir /w && touch /w/x && echo writable; touch /tmp/x 2>/dev/null || echo ro"}}, container.HostConfig{ReadonlyPaths: []string{"/tmp"}},
			func(out string) bool { return out == "writable\nro" }},
		{"console size", container.Config{Cmd: []string{"stty", "size"}, Tty: true}, container.HostConfig{ConsoleSize: [2]uint{31, 101}},
			func(out string) bool { return strings.TrimSpace(out) == "31 101" }},
		{"network disabled", container.Config{Cmd: []string{"ls", "/sys/class/net"}, NetworkDisabled: true}, container.HostConfig{},
			func(out string) bool { return strings.TrimSpace(out) == "lo" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Image = "busybox"
			c, err := cli.ContainerCreate(ctx, &tc.cfg, &tc.hc, nil, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
			d.Must("wait", c.ID)
			if out := d.Must("logs", c.ID); !tc.want(out) {
				t.Fatalf("%s: %q", tc.name, out)
			}
		})
	}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: "busybox", Cmd: []string{"sleep", "300"}},
		&container.HostConfig{Annotations: map[string]string{"org.example.team": "shop"}}, nil, nil, "annotated")
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(d.ExecRoot, "containers", c.ID, "config.json"))
	if err != nil || !strings.Contains(string(b), `"org.example.team":"shop"`) {
		t.Fatalf("annotations not in the OCI spec the runtime got: %v", err)
	}
	// exec --privileged: every capability, where a plain exec has the
	// container's.
	plain := d.Must("exec", "annotated", "grep", "CapEff", "/proc/self/status")
	if priv := d.Must("exec", "--privileged", "annotated", "grep", "CapEff", "/proc/self/status"); priv != "CapEff:\t"+hostCapBnd(t) || plain == priv {
		t.Fatalf("exec --privileged: %q (plain exec: %q), want the host's %s", priv, plain, hostCapBnd(t))
	}
	// Query parameters berth cannot honour are refused, not dropped.
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/containers/create?platform=linux/arm64", "berth: create --platform linux/arm64 is not supported: only the host's platform"},
		{"DELETE", "/containers/annotated?link=1", "berth: rm --link is not supported yet"},
		{"GET", "/images/json?shared-size=1", "berth: images shared-size=1 is not supported yet"},
		{"GET", "/images/json?manifests=1", "berth: images manifests=1 is not supported yet"},
	} {
		var code int
		var body string
		if tc.method == "POST" {
			code, body = postJSON(t, d, tc.path, `{"Image":"busybox"}`)
		} else {
			code, body = getJSON(t, d, tc.method, tc.path, nil)
		}
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want 400 %q", tc.method, tc.path, code, body, tc.want)
		}
	}
	if code, body := postJSON(t, d, "/containers/create?platform=linux/"+goruntime.GOARCH, `{"Image":"busybox"}`); code != 201 {
		t.Errorf("create for the host's platform: %d %s", code, body)
	}
	// StopTimeout: the container's own, used by a stop that names none.
	d.Must("run", "-d", "--name", "stubborn", "--stop-timeout", "1", "busybox", "sh", "-c", "trap '' TERM; touch /dev/shm/ready; while :; do sleep 1; done")
	testutil.Eventually(t, 10*time.Second, "the container to ignore SIGTERM", func() bool {
		return d.Berth("exec", "stubborn", "test", "-e", "/dev/shm/ready").Code == 0
	})
	if got := d.Must("inspect", "-f", "{{.Config.StopTimeout}}", "stubborn"); got != "1" {
		t.Fatalf("StopTimeout: %s", got)
	}
	d.Must("stop", "stubborn") // would wait 10 s with the default
	if got := d.Must("inspect", "-f", "{{.State.ExitCode}}", "stubborn"); got != "137" {
		t.Fatalf("stubborn container after stop: exit %s, want 137 (killed after its own 1 s)", got)
	}
}
