package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startRegistry runs `berth registry serve` on a free loopback port with
// its own root; stop it with the returned function.
func startRegistry(ctx context.Context, berthBin, root string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, berthBin, "registry", "serve", "--root", root, "--addr", addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		os.RemoveAll(root)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("registry on %s did not come up", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pushPull times, for each engine and round, a push of a freshly imported
// Debian image (so every push compresses it, as a first push does) to an
// empty registry, and a pull of it back after removing it.
func pushPull(ctx context.Context, engines []*engine, berthBin, debTar, tmp string, rounds int) (push, pull map[*engine][]float64, err error) {
	push, pull = map[*engine][]float64{}, map[*engine][]float64{}
	for round := 0; round < rounds; round++ {
		for _, e := range engines {
			addr, stop, err := startRegistry(ctx, berthBin, filepath.Join(tmp, fmt.Sprintf("reg-%s-%d", e.name, round)))
			if err != nil {
				return nil, nil, err
			}
			ref := fmt.Sprintf("%s/bench/debian:%d", addr, round)
			step := func(args ...string) (float64, error) {
				start := time.Now()
				if _, err := e.do(ctx, args...); err != nil {
					return 0, fmt.Errorf("%s: %v: %w", e.name, args, err)
				}
				return time.Since(start).Seconds(), nil
			}
			_, err = step("import", debTar, ref)
			var tp, tl float64
			if err == nil {
				tp, err = step("push", ref)
			}
			if err == nil {
				_, err = step("rmi", ref)
			}
			if err == nil {
				tl, err = step("pull", ref)
			}
			if err == nil {
				_, err = step("rmi", ref)
			}
			stop()
			if err != nil {
				return nil, nil, err
			}
			push[e] = append(push[e], tp)
			pull[e] = append(pull[e], tl)
		}
	}
	return push, pull, nil
}
