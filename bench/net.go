package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/berthproject/berth/internal/network/bridge"
)

// netpeerImage builds bench/netpeer (static) and returns an image tarball
// of it alone.
func netpeerImage(ctx context.Context, tmp string) ([]byte, error) {
	bin := filepath.Join(tmp, "netpeer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/netpeer")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build bench/netpeer: %v: %s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "netpeer", Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), tw.Close()
}

// startNetpeer imports the netpeer image and runs it with ports 9000 and
// 9001 published on 127.0.0.1; it returns their host ports.
func (e *engine) startNetpeer(ctx context.Context, image []byte) (sink, hello string, err error) {
	argv := e.cmd("import", "--change", `ENTRYPOINT ["/netpeer"]`, "-", "netpeer")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(image)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("import netpeer: %v: %s", err, out)
	}
	if _, err := e.do(ctx, "run", "-d", "--name", "bench-netpeer", "-p", "127.0.0.1::9000", "-p", "127.0.0.1::9001", "netpeer"); err != nil {
		return "", "", err
	}
	port := func(p string) (string, error) {
		out, err := e.do(ctx, "port", "bench-netpeer", p)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(strings.Split(out, "\n")[0]), nil
	}
	if sink, err = port("9000/tcp"); err != nil {
		return "", "", err
	}
	hello, err = port("9001/tcp")
	// Ready when it answers.
	for deadline := time.Now().Add(10 * time.Second); err == nil; time.Sleep(50 * time.Millisecond) {
		c, derr := net.DialTimeout("tcp", hello, time.Second)
		if derr == nil {
			n, _ := c.Read(make([]byte, 1))
			c.Close()
			if n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("%s: netpeer does not answer on %s", e.name, hello)
		}
	}
	return sink, hello, err
}

// parallel runs f in n goroutines and returns the first error.
func parallel(n int, f func() error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// throughput sends to addr over streams connections for d and returns
// MB/s: counted when the peer has read all of it (it closes after EOF).
func throughput(addr string, streams int, d time.Duration) (float64, error) {
	var total atomic.Int64
	start := time.Now()
	err := parallel(streams, func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 128<<10)
		for time.Since(start) < d {
			n, err := c.Write(buf)
			total.Add(int64(n))
			if err != nil {
				return err
			}
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c) // the peer's close: it has read everything
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds() / 1e6, nil
}

// connRate opens connections to addr from workers loops for d, each read
// to the peer's close, and returns connections per second.
func connRate(addr string, workers int, d time.Duration) (float64, error) {
	var done atomic.Int64
	start := time.Now()
	err := parallel(workers, func() error {
		b := make([]byte, 1)
		for time.Since(start) < d {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			n, err := c.Read(b)
			c.Close()
			if n != 1 {
				return fmt.Errorf("read from %s: %v", addr, err)
			}
			done.Add(1)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

type netRow struct {
	figure string
	res    map[*engine]*summary
}

// benchNetwork measures published ports (throughput host loopback →
// container, one and eight streams; connections per second), interleaving
// the engines, and berth's leak count over o.cycles `run --rm -p` cycles.
func benchNetwork(ctx context.Context, o options, engines []*engine, tmp string, b *engine) ([]netRow, error) {
	img, err := netpeerImage(ctx, tmp)
	if err != nil {
		return nil, err
	}
	sinks, hellos := map[*engine]string{}, map[*engine]string{}
	for _, e := range engines {
		if sinks[e], hellos[e], err = e.startNetpeer(ctx, img); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, e := range engines {
			_, _ = e.do(context.Background(), "rm", "-f", "bench-netpeer")
		}
	}()
	const runs = 3
	measure := func(unit string, f func(e *engine) (float64, error)) (map[*engine]*summary, error) {
		xs := map[*engine][]float64{}
		for i := 0; i < runs; i++ {
			for _, e := range engines {
				x, err := f(e)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", e.name, err)
				}
				xs[e] = append(xs[e], x)
			}
		}
		return sums(unit, xs), nil
	}
	var rows []netRow
	for _, streams := range []int{1, 8} {
		res, err := measure("MB/s", func(e *engine) (float64, error) { return throughput(sinks[e], streams, o.netTime) })
		if err != nil {
			return nil, err
		}
		rows = append(rows, netRow{fmt.Sprintf("TCP throughput through a published port, host 127.0.0.1 → container, %d stream(s), %s × %d (higher is better; Docker: docker-proxy)", streams, o.netTime, runs), res})
	}
	res, err := measure("conn/s", func(e *engine) (float64, error) { return connRate(hellos[e], 8, o.netTime) })
	if err != nil {
		return nil, err
	}
	rows = append(rows, netRow{fmt.Sprintf("connections per second through a published port, 8 clients, %s × %d (higher is better)", o.netTime, runs), res})
	// The same straight to the container's address, no port publishing:
	// the ceiling of this machine's veth path, and what publishing costs.
	ip, err := b.do(ctx, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "bench-netpeer")
	if err != nil {
		return nil, err
	}
	ip = strings.TrimSpace(ip)
	var direct []float64
	for i := 0; i < runs; i++ {
		x, err := throughput(net.JoinHostPort(ip, "9000"), 8, o.netTime)
		if err != nil {
			return nil, err
		}
		direct = append(direct, x)
	}
	rows = append(rows, netRow{fmt.Sprintf("the same 8 streams straight to the container's address (no publishing: the veth path's ceiling here), berth, %s × %d", o.netTime, runs),
		map[*engine]*summary{b: summarize("MB/s", direct)}})

	if o.cycles > 0 {
		before, err := b.netObjects(ctx)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		for i := 0; i < o.cycles; i++ {
			if _, err := b.do(ctx, "run", "--rm", "-p", "0:80", "busybox", "true"); err != nil {
				return nil, err
			}
		}
		took := time.Since(start).Seconds()
		time.Sleep(2 * time.Second) // veths go with their namespace in the kernel's time
		after, err := b.netObjects(ctx)
		if err != nil {
			return nil, err
		}
		var parts []string
		total := 0
		for _, k := range []string{"veths", "netns files", "DNAT rules", "endpoints"} {
			parts = append(parts, fmt.Sprintf("%d %s", after[k]-before[k], k))
			total += after[k] - before[k]
		}
		rows = append(rows, netRow{fmt.Sprintf("%d `run --rm -p 0:80 busybox true` cycles (%.0f s): left behind, berth: %s", o.cycles, took, strings.Join(parts, ", ")),
			map[*engine]*summary{b: summarize("leaked", []float64{float64(total)})}})
	}
	return rows, nil
}

// netObjects counts what berth's bench daemon has made for its
// containers' networking: veths on its bridge, namespace files, rules in
// the prerouting chain of its nftables table, endpoints of its default
// network.
func (e *engine) netObjects(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	if _, err := netlink.LinkByName("berthbench0"); err != nil {
		return nil, err
	}
	ports, err := bridge.Ports("berthbench0")
	if err != nil {
		return nil, err
	}
	out["veths"] = len(ports)
	files, _ := os.ReadDir(filepath.Join(e.root, "exec", "netns"))
	out["netns files"] = len(files)
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Name: "berth-berthbench0", Family: nftables.TableFamilyIPv4}
	rules, err := c.GetRules(t, &nftables.Chain{Name: "prerouting", Table: t})
	if err != nil {
		return nil, err
	}
	out["DNAT rules"] = len(rules)
	n, err := e.do(ctx, "network", "inspect", "-f", "{{len .Containers}}", "bridge")
	if err != nil {
		return nil, err
	}
	var eps int
	if _, err := fmt.Sscan(n, &eps); err != nil {
		return nil, fmt.Errorf("endpoints of bridge: %q: %w", n, err)
	}
	out["endpoints"] = eps
	return out, nil
}
