package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/network/bridge"
)

// engine is a container engine the bench started: its CLI, its socket,
// how to find its daemon processes and the shims of its containers.
type engine struct {
	name string
	cli  string
	sock string
	root string // private directory of everything it stores
	// cgroupParent is the cgroup its containers go under ("berth", "docker").
	cgroupParent string
	daemon       *exec.Cmd
	daemonPids   func() []int
	shimPids     func(ctx context.Context, ids []string) ([]int, error)
}

func (e *engine) cmd(args ...string) []string {
	return append([]string{e.cli, "-H", "unix://" + e.sock}, args...)
}

// do runs the engine's CLI and returns its stdout.
func (e *engine) do(ctx context.Context, args ...string) (string, error) {
	argv := e.cmd(args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", e.name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (e *engine) removeAll(ids []string) {
	if len(ids) > 0 {
		_, _ = e.do(context.Background(), append([]string{"rm", "-f"}, ids...)...)
	}
}

// importBusybox makes the busybox image from Debian's busybox-static,
// the same tarball and the same way for every engine.
func (e *engine) importBusybox(ctx context.Context) error {
	tar, err := exec.CommandContext(ctx, "hack/busybox-image.sh").Output()
	if err != nil {
		return fmt.Errorf("hack/busybox-image.sh: %w", err)
	}
	argv := e.cmd("import", "--change", `CMD ["sh"]`, "-", "busybox")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(tar)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// stop removes every container, stops the daemon, unmounts what is left
// under its root and removes the root.
func (e *engine) stop() {
	if ids, err := e.do(context.Background(), "ps", "-aq"); err == nil {
		e.removeAll(strings.Fields(ids))
	}
	if e.daemon != nil && e.daemon.Process != nil {
		_ = e.daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = e.daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = e.daemon.Process.Kill()
			<-done
		}
	}
	unmountUnder(e.root)
	_ = os.RemoveAll(e.root)
	if e.name == "berth" { // its bench bridge and nftables table
		_ = bridge.Delete("berthbench0")
		_ = bridge.DeleteTable("berth-berthbench0")
	} else {
		_ = bridge.Delete(dockerBridge)
	}
	// The engines' parent cgroups, now empty (rmdir fails if not).
	if e.cgroupParent != "" {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", e.cgroupParent))
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.cgroupParent))
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], dir+"/") {
			points = append(points, fs[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// waitReady polls `version` until the daemon answers.
func (e *engine) waitReady(ctx context.Context, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s daemon exited; see %s", e.name, filepath.Join(e.root, "daemon.log"))
		default:
		}
		if _, err := e.do(ctx, "version"); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%w in %s; see %s", errNotReady, timeout, filepath.Join(e.root, "daemon.log"))
}

func startDaemon(ctx context.Context, e *engine, argv []string) error {
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(e.root, "daemon.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.daemon = cmd
	exited := make(chan struct{})
	go func() {
		// Only to notice an early exit; stop() waits for real.
		for {
			if syscall.Kill(cmd.Process.Pid, 0) != nil {
				close(exited)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return e.waitReady(ctx, exited, 60*time.Second)
}

func startBerth(ctx context.Context, bin, root string, favorDynMods bool) (*engine, error) {
	e := &engine{name: "berth", cli: bin, sock: filepath.Join(root, "berth.sock"), root: root, cgroupParent: "berth"}
	execRoot := filepath.Join(root, "exec")
	e.daemonPids = func() []int { return []int{e.daemon.Process.Pid} }
	e.shimPids = func(_ context.Context, ids []string) ([]int, error) {
		var pids []int
		for _, id := range ids {
			b, err := os.ReadFile(filepath.Join(execRoot, "containers", id, "shim.pid"))
			if err != nil {
				return nil, err
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return nil, fmt.Errorf("shim.pid of %s: %w", id, err)
			}
			pids = append(pids, pid)
		}
		return pids, nil
	}
	// A bridge of its own, so that a berth daemon of the host is not disturbed.
	argv := []string{bin, "daemon", "--data-root", filepath.Join(root, "data"), "--exec-root", execRoot, "-H", "unix://" + e.sock,
		"--bridge", "berthbench0", "--bip", "10.254.254.1/24"}
	if favorDynMods {
		argv = append(argv, "--cgroup-favordynmods")
	}
	return e, startDaemon(ctx, e, argv)
}

// dockerBridge is the bridge of the bench's dockerd.
const dockerBridge = "dockbench0"

// startDocker starts Debian's dockerd (which starts its own containerd)
// with a bridge of its own and no iptables rules, so it touches nothing
// else of the host's network.
func startDocker(ctx context.Context, dockerd, cli, root string) (*engine, error) {
	e := &engine{name: "docker", cli: cli, sock: filepath.Join(root, "docker.sock"), root: root, cgroupParent: "docker"}
	e.daemonPids = func() []int {
		pid := e.daemon.Process.Pid
		return append([]int{pid}, children(pid)...) // dockerd and its containerd
	}
	e.shimPids = func(ctx context.Context, ids []string) ([]int, error) {
		out, err := e.do(ctx, append([]string{"inspect", "-f", "{{.State.Pid}}"}, ids...)...)
		if err != nil {
			return nil, err
		}
		seen := map[int]bool{}
		var pids []int
		for _, f := range strings.Fields(out) {
			pid, _ := strconv.Atoi(f)
			if shim := parentOf(pid); shim > 1 && !seen[shim] {
				seen[shim] = true
				pids = append(pids, shim)
			}
		}
		return pids, nil
	}
	// Its own (empty) configuration, not the host's /etc/docker/daemon.json.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}\n"), 0o600); err != nil {
		return nil, err
	}
	// Its default network on a bridge of its own, made here (dockerd
	// makes only docker0 itself), without iptables rules: published ports
	// go through its docker-proxy, as they do from the host's loopback
	// with its default settings.
	if err := bridge.EnsureBridge(dockerBridge, &net.IPNet{IP: net.IPv4(10, 253, 253, 1), Mask: net.CIDRMask(24, 32)}); err != nil {
		return nil, err
	}
	return e, startDaemon(ctx, e, []string{dockerd,
		"--data-root", filepath.Join(root, "data"), "--exec-root", filepath.Join(root, "exec"),
		"--pidfile", filepath.Join(root, "docker.pid"), "-H", "unix://" + e.sock,
		"--bridge=" + dockerBridge, "--iptables=false", "--ip-masq=false", "--storage-driver=overlay2",
		"--config-file", filepath.Join(root, "daemon.json")})
}

// debianTarball returns a tarball of a debootstrap'ed Debian (minbase),
// made once and kept in bench/out/.
func debianTarball(ctx context.Context) (string, error) {
	out, _ := filepath.Abs("bench/out")
	tar := filepath.Join(out, "debian-bookworm-minbase.tar")
	if _, err := os.Stat(tar); err == nil {
		return tar, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", fmt.Errorf("debootstrap is not installed (apt-get install debootstrap), or run with --heavy=false")
	}
	rootfs := filepath.Join(out, "debian-rootfs")
	_ = os.RemoveAll(rootfs)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintln(os.Stderr, "bench: debootstrap --variant=minbase bookworm (once; a few minutes)")
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "bookworm", rootfs)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap: %v: %s", err, lastLines(b, 5))
	}
	defer os.RemoveAll(rootfs)
	tmp := tar + ".tmp"
	if b, err := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", rootfs, "-cf", tmp, ".").CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("tar: %v: %s", err, b)
	}
	return tar, os.Rename(tmp, tar)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
