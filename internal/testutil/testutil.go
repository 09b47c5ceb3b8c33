package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/network/bridge"
)

// RequiresRoot skips a test that needs root, unless the run asked for
// integration tests (BERTH_INTEGRATION=1), where it fails instead.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("BERTH_INTEGRATION") == "1" {
		t.Fatal("this test needs root (BERTH_INTEGRATION=1 is set)")
	}
	t.Skip("needs root")
}

// RepoRoot is the module root (found from this file's location).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// build is one build of berth per test process.
type build struct {
	once sync.Once
	path string
	err  error
}

var plainBuild, raceBuild build

// Main runs a test package's tests and then removes the berth binaries
// Binary and RaceBinary built for them. Use it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	for _, b := range []*build{&plainBuild, &raceBuild} {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}
	os.Exit(code)
}

// Binary builds berth (with seccomp support) once per test process; the
// package's TestMain must call Main so the build is removed afterwards.
// It is built as `make build` builds it: static (it serves as the init of
// run --init), with the shim program embedded.
func Binary(t testing.TB) string { return plainBuild.get(t) }

// RaceBinary builds berth with the race detector (see hack/build.sh).
func RaceBinary(t testing.TB) string { return raceBuild.get(t, "race") }

func (b *build) get(t testing.TB, mode ...string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "berth")
		cmd := exec.Command("./hack/build.sh", append([]string{b.path}, mode...)...)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("hack/build.sh: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Daemon is a berth daemon private to one test.
type Daemon struct {
	t        testing.TB
	Bin      string
	Root     string // holds data/, exec/, the socket and the log
	DataRoot string
	ExecRoot string
	Socket   string
	extra    []string // daemon flags given to StartDaemon
	// Env is added to the daemon's environment at its next Start.
	Env []string
	// Bridge and Subnet are the daemon's own default bridge and its
	// subnet (so that daemons of tests that run in parallel do not share
	// one), given to a berth of this tree (older ones have none).
	Bridge, Subnet string
	cmd            *exec.Cmd
	waitErr        chan error
}

var bridges struct {
	sync.Mutex
	n int
}

// nextBridge names a bridge and a /24 for one more test daemon: bt, this
// process's pid and a counter; 10.231-254.x.0/24 (nothing on a test host
// routes those, and a leftover of a crashed run is deleted first).
func nextBridge() (name, subnet string) {
	bridges.Lock()
	n := bridges.n
	bridges.n++
	bridges.Unlock()
	name = fmt.Sprintf("bt%d-%d", os.Getpid()%100000, n)
	_ = bridge.Delete(name)
	k := (os.Getpid()*7 + n) % (24 * 256)
	return name, fmt.Sprintf("10.%d.%d.0/24", 231+k/256, k%256)
}

func (d *Daemon) gateway() string { return strings.TrimSuffix(d.Subnet, "0/24") + "1/24" }

// Host is the -H value for this daemon.
func (d *Daemon) Host() string { return "unix://" + d.Socket }

// StartDaemon starts a daemon with private roots and the extra daemon
// flags; cleanup stops it and removes every container, shim, mount and
// directory it made.
func StartDaemon(t testing.TB, extra ...string) *Daemon {
	t.Helper()
	RequiresRoot(t)
	return StartDaemonBinary(t, Binary(t), extra...)
}

// StartDaemonBinary is StartDaemon with the berth binary bin (RaceBinary's,
// say).
func StartDaemonBinary(t testing.TB, bin string, extra ...string) *Daemon {
	t.Helper()
	RequiresRoot(t)
	root, err := os.MkdirTemp("", "bt-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, Bin: bin, Root: root, DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec"), Socket: filepath.Join(root, "b.sock"), extra: extra}
	d.Bridge, d.Subnet = nextBridge()
	t.Cleanup(d.cleanup)
	d.Start()
	return d
}

// Start (re)starts the daemon process on the same roots.
func (d *Daemon) Start() {
	d.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.Root, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	d.cmd = exec.Command(d.Bin, "daemon", "--data-root", d.DataRoot, "--exec-root", d.ExecRoot, "-H", d.Host(), "--log-level", "debug")
	if d.Bin == plainBuild.path || d.Bin == raceBuild.path {
		d.cmd.Args = append(d.cmd.Args, "--bridge", d.Bridge, "--bip", d.gateway())
	}
	d.cmd.Args = append(d.cmd.Args, d.extra...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.Env = append(os.Environ(), d.Env...)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	logf.Close()
	d.waitErr = make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(d.cmd, d.waitErr)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(d.Socket); err == nil {
			if res := d.Berth("version"); res.Code == 0 {
				return
			}
		}
		select {
		case err := <-d.waitErr:
			d.t.Fatalf("daemon exited at start: %v\n%s", err, d.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	d.t.Fatalf("daemon did not answer\n%s", d.Log())
}

// SetFlags replaces the extra daemon flags for the next Start (flags
// that depend on the daemon's own bridge and subnet, known only once it
// was started).
func (d *Daemon) SetFlags(extra ...string) { d.extra = extra }

// Pid is the daemon process's pid (0 when it is not running).
func (d *Daemon) Pid() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Kill stops the daemon with SIGKILL (containers keep running).
func (d *Daemon) Kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.waitErr
	d.cmd = nil
}

// Stop stops the daemon with SIGTERM.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.waitErr:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.waitErr
	}
	d.cmd = nil
}

// Log returns the daemon's log.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Root, "daemon.log"))
	return string(b)
}

// Result is the outcome of a CLI run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// Run runs a command with a timeout and collects its output and exit code.
func Run(t testing.TB, stdin string, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return res
}

// Berth runs the berth CLI against this daemon.
func (d *Daemon) Berth(args ...string) Result {
	d.t.Helper()
	return Run(d.t, "", nil, d.Bin, append([]string{"-H", d.Host()}, args...)...)
}

// BerthIn runs the berth CLI with stdin.
func (d *Daemon) BerthIn(stdin string, args ...string) Result {
	d.t.Helper()
	return Run(d.t, stdin, nil, d.Bin, append([]string{"-H", d.Host()}, args...)...)
}

// Must runs the berth CLI and fails the test unless it exits 0.
func (d *Daemon) Must(args ...string) string {
	d.t.Helper()
	res := d.Berth(args...)
	if res.Code != 0 {
		d.t.Fatalf("berth %v: %s\ndaemon log tail:\n%s", args, res, tail(d.Log(), 30))
	}
	return strings.TrimSpace(res.Stdout)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LoadBusybox imports the busybox test image (Debian's busybox-static).
func (d *Daemon) LoadBusybox() {
	d.t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		d.t.Fatal("busybox-static is not installed (apt-get install busybox-static)")
	}
	script := filepath.Join(RepoRoot(), "hack", "busybox-image.sh")
	tarball := filepath.Join(d.Root, "busybox.tar")
	f, err := os.Create(tarball)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("%s: %v %s", script, err, stderr.String())
	}
	f.Close()
	d.Must("import", "--change", `CMD ["sh"]`, tarball, "busybox")
}

// cleanup stops the daemon, kills the shims and containers it started,
// unmounts what it mounted and removes its directories.
func (d *Daemon) cleanup() {
	d.Kill()
	// Shims record their pid in their bundle; container processes are
	// their children and die with the shim's SIGKILL to the container init.
	bundles, _ := filepath.Glob(filepath.Join(d.ExecRoot, "containers", "*", "shim.pid"))
	for _, p := range bundles {
		b, _ := os.ReadFile(p)
		if pid, _ := strconv.Atoi(string(b)); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Every container libcontainer knows of, bundle or not (a test may
	// have killed a shim, whose container then runs on, orphaned).
	states, _ := filepath.Glob(filepath.Join(d.ExecRoot, "runtime", "*", "state.json"))
	for _, st := range states {
		killInit(st)
	}
	if pid := d.Resolver(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(100 * time.Millisecond)
	UnmountUnder(d.Root) // the containers' network namespace files too (their veths go with them)
	removeCgroups(d.ExecRoot)
	_ = bridge.Delete(d.Bridge)
	_ = bridge.DeleteTable("berth-" + d.Bridge)
	for _, br := range userBridges(filepath.Join(d.DataRoot, "berth.db")) {
		_ = bridge.Delete(br)
	}
	_ = os.RemoveAll(d.Root)
}

// Resolver is the PID of the daemon's embedded DNS resolver, 0 when none
// runs: the process its pid file names, if that process is still a
// resolver of this daemon's (a pid can be reused).
func (d *Daemon) Resolver() int {
	dir := filepath.Join(d.ExecRoot, "dns")
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(string(b))
	if pid <= 0 {
		return 0
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if !strings.Contains(string(cmdline), "dns-resolver\x00"+dir) || strings.Contains(string(stat), ") Z ") {
		return 0
	}
	return pid
}

// userBridges are the bridges of the user-defined networks a (stopped)
// daemon recorded.
func userBridges(dbPath string) []string {
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil
	}
	defer db.Close()
	var out []string
	_ = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("user-networks"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r struct{ Bridge string }
			if json.Unmarshal(v, &r) == nil && r.Bridge != "" {
				out = append(out, r.Bridge)
			}
			return nil
		})
	})
	return out
}

// killInit kills the init that libcontainer's state.json names, if the
// process with that pid is still the one that started then (a pid can be
// reused).
func killInit(stateFile string) {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		return
	}
	var st struct {
		Pid   int    `json:"init_process_pid"`
		Start uint64 `json:"init_process_start"`
	}
	if json.Unmarshal(b, &st) != nil || st.Pid <= 0 {
		return
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.Pid))
	if err != nil {
		return
	}
	// Field 22, counted after the ")" that ends the command name.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) > 19 && f[19] == strconv.FormatUint(st.Start, 10) {
		_ = syscall.Kill(st.Pid, syscall.SIGKILL)
	}
}

// UnmountUnder detaches every mount below root, deepest first.
func UnmountUnder(root string) {
	targets := Mounts(root)
	for i := len(targets) - 1; i >= 0; i-- {
		_ = unix.Unmount(targets[i], unix.MNT_DETACH)
	}
}

// removeCgroups removes the berth cgroups of containers this daemon ran.
func removeCgroups(execRoot string) {
	var names []string
	for _, dir := range []string{"containers", "runtime"} {
		ids, _ := os.ReadDir(filepath.Join(execRoot, dir))
		for _, id := range ids {
			names = append(names, id.Name())
		}
	}
	for _, id := range names {
		// Under /berth, or under a --cgroup-parent one level down.
		var matches []string
		for _, p := range []string{"/sys/fs/cgroup/*/*/", "/sys/fs/cgroup/*/"} {
			m, _ := filepath.Glob(p + id)
			matches = append(matches, m...)
		}
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
}

// Mounts lists mount points below dir.
func Mounts(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// Shims returns the PIDs of shims serving containers of this daemon: the
// processes holding a socket under <exec-root>/s/. (A shim that started
// as the spare keeps "--spare" in its command line, so that does not tell.)
func (d *Daemon) Shims() []int {
	b, _ := os.ReadFile("/proc/net/unix")
	inodes := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 8 && strings.HasPrefix(f[7], filepath.Join(d.ExecRoot, "s")+"/") {
			inodes["socket:["+f[6]+"]"] = true
		}
	}
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if link, _ := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); inodes[link] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// Registry is a `berth registry serve` started for one test.
type Registry struct {
	Addr string // host:port on loopback
	Root string
	cmd  *exec.Cmd
}

// StartRegistry starts `berth registry serve` on a free loopback port with
// a private root, plus extra flags, and stops it when the test ends.
func StartRegistry(t testing.TB, extra ...string) *Registry {
	t.Helper()
	bin := Binary(t)
	r := &Registry{Root: t.TempDir(), Addr: "127.0.0.1:" + strconv.Itoa(FreePort(t))}
	args := append([]string{"registry", "serve", "--root", r.Root, "--addr", r.Addr, "--log-level", "warn"}, extra...)
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stderr = os.Stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
	})
	Eventually(t, 10*time.Second, "registry listening on "+r.Addr, func() bool {
		c, err := net.Dial("tcp", r.Addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return r
}

// FreePort returns a TCP port on loopback nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
