package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.BoolVar(&o.withDocker, "with-docker", false, "also start a dockerd (Debian's docker.io) and measure it")
	flag.StringVar(&o.berth, "berth", "./berth", "the berth binary to measure")
	flag.StringVar(&o.docker, "docker", "docker", "the docker CLI")
	flag.StringVar(&o.dockerd, "dockerd", "dockerd", "the dockerd to start")
	flag.IntVar(&o.runs, "runs", 30, "runs of each short command")
	flag.IntVar(&o.containers, "containers", 100, "containers for the run -d / ps / PSS rows")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of each long scenario (100 containers, Debian import)")
	flag.IntVar(&o.cycles, "cycles", 1000, "run --rm -p cycles of the leak row (berth)")
	flag.DurationVar(&o.netTime, "net-time", 2*time.Second, "duration of each throughput and connection-rate measurement")
	flag.BoolVar(&o.heavy, "heavy", true, "include the rows with the debootstrap'ed Debian image")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "also write the table here (empty: don't)")
	flag.BoolVar(&o.favorDynMods, "favordynmods", false, "start berth with --cgroup-favordynmods (host-wide; from Linux 6.18 irreversible until reboot): bench once without, once with, for both ways")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root (it starts container engines)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	withDocker, heavy, favorDynMods  bool
	berth, docker, dockerd, out      string
	runs, containers, rounds, cycles int
	netTime                          time.Duration
}

// row is one line of the table; a nil side was not measured.
type row struct {
	figure        string
	berth, docker *summary
}

type summary struct {
	med, min, max float64
	unit          string
}

func summarize(unit string, xs []float64) *summary {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &summary{med: m, min: s[0], max: s[len(s)-1], unit: unit}
}

func (s *summary) String() string {
	if s == nil {
		return "–"
	}
	f := func(x float64) string {
		switch s.unit {
		case "s":
			return fmt.Sprintf("%.3f", x)
		default:
			return fmt.Sprintf("%.1f", x)
		}
	}
	if s.min == s.max {
		return f(s.med) + " " + s.unit
	}
	return fmt.Sprintf("%s %s (%s–%s)", f(s.med), s.unit, f(s.min), f(s.max))
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "bb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	berthBin, err := filepath.Abs(o.berth)
	if err != nil {
		return err
	}
	if _, err := os.Stat(berthBin); err != nil {
		return fmt.Errorf("%s: %w (run `make build` first)", o.berth, err)
	}
	engines := []*engine{}
	b, err := startBerth(ctx, berthBin, filepath.Join(tmp, "b"), o.favorDynMods)
	if b != nil {
		defer b.stop()
	}
	if err != nil {
		return fmt.Errorf("start berth: %w", err)
	}
	engines = append(engines, b)
	var d *engine
	if o.withDocker {
		d, err = startDocker(ctx, o.dockerd, o.docker, filepath.Join(tmp, "d"))
		if d != nil {
			defer d.stop()
		}
		if err != nil {
			return fmt.Errorf("start dockerd: %w", err)
		}
		engines = append(engines, d)
	}
	var debTar string
	if o.heavy {
		if debTar, err = debianTarball(ctx); err != nil {
			return fmt.Errorf("debian image: %w", err)
		}
	}

	var rows []row
	add := func(figure string, res map[*engine]*summary) {
		r := row{figure: figure, berth: res[b]}
		if d != nil {
			r.docker = res[d]
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "bench: %s: berth %s, docker %s\n", figure, r.berth, r.docker)
	}

	// Idle memory, right after start-up.
	time.Sleep(time.Second)
	add("daemon idle RSS (dockerd + containerd for Docker)", each(engines, func(e *engine) *summary {
		return summarize("MB", []float64{float64(sumMem(e.daemonPids(), "Rss")) / 1024})
	}))

	for _, e := range engines {
		if err := e.importBusybox(ctx); err != nil {
			return fmt.Errorf("%s: import busybox: %w", e.name, err)
		}
	}

	res, err := interleave(ctx, engines, o.runs, func(e *engine) []string { return e.cmd("run", "--rm", "busybox", "true") })
	if err != nil {
		return err
	}
	add(fmt.Sprintf("`run --rm busybox true`, CLI to exit, %d runs (each on its default bridge)", o.runs), res)

	if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string { return e.cmd("run", "--rm", "--network", "none", "busybox", "true") }); err != nil {
		return err
	}
	add(fmt.Sprintf("`run --rm --network none busybox true`, %d runs", o.runs), res)

	if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string { return e.cmd("ps") }); err != nil {
		return err
	}
	add(fmt.Sprintf("`ps`, no container, %d runs", o.runs), res)

	for _, e := range engines {
		if _, err := e.do(ctx, "run", "-d", "--name", "bench-exec", "busybox", "sleep", "3600"); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string { return e.cmd("exec", "bench-exec", "true") }); err != nil {
		return err
	}
	add(fmt.Sprintf("`exec bench-exec true` into a running container, %d runs", o.runs), res)
	shares := 0
	if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string {
		shares++
		return e.cmd("update", "--cpu-shares", fmt.Sprint(512+shares%2*512), "bench-exec")
	}); err != nil {
		return err
	}
	add(fmt.Sprintf("`update --cpu-shares` of that running container, %d runs", o.runs), res)
	for _, e := range engines {
		_, _ = e.do(ctx, "rm", "-f", "bench-exec")
	}
	// A volume: the same run with an existing named volume mounted.
	for _, e := range engines {
		if _, err := e.do(ctx, "volume", "create", "benchvol"); err != nil {
			return err
		}
	}
	if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string {
		return e.cmd("run", "--rm", "-v", "benchvol:/data", "busybox", "true")
	}); err != nil {
		return err
	}
	add(fmt.Sprintf("`run --rm -v benchvol:/data busybox true` (an existing volume), %d runs", o.runs), res)
	if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string { return e.cmd("run", "--rm", "busybox", "true") }); err != nil {
		return err
	}
	add(fmt.Sprintf("`run --rm busybox true` again, right after (to compare with the row above), %d runs", o.runs), res)
	netRows, err := benchNetwork(ctx, o, engines, tmp, b)
	if err != nil {
		return err
	}
	for _, r := range netRows {
		add(r.figure, r.res)
	}

	// N containers: run -d in sequence, ps and memory while they run,
	// then rm -f of all of them.
	runD, rmF, psN, pss := map[*engine][]float64{}, map[*engine][]float64{}, map[*engine]*summary{}, map[*engine]*summary{}
	for round := 0; round < o.rounds; round++ {
		for _, e := range engines {
			before := sumMem(e.daemonPids(), "Pss")
			start := time.Now()
			ids := make([]string, 0, o.containers)
			for i := 0; i < o.containers; i++ {
				id, err := e.do(ctx, "run", "-d", "busybox", "sleep", "3600")
				if err != nil {
					e.removeAll(ids)
					return fmt.Errorf("%s: run -d #%d: %w", e.name, i+1, err)
				}
				ids = append(ids, strings.TrimSpace(id))
			}
			runD[e] = append(runD[e], time.Since(start).Seconds())
			if round == 0 {
				time.Sleep(2 * time.Second) // let shims settle (and free their set-up memory)
				shims, err := e.shimPids(ctx, ids)
				if err != nil {
					e.removeAll(ids)
					return fmt.Errorf("%s: find shims: %w", e.name, err)
				}
				after := sumMem(e.daemonPids(), "Pss")
				per := float64(after-before+sumMem(shims, "Pss")) / float64(len(ids)) / 1024
				pss[e] = summarize("MB", []float64{per})
				xs, err := timeRuns(ctx, o.runs, e.cmd("ps"))
				if err != nil {
					e.removeAll(ids)
					return err
				}
				psN[e] = summarize("s", xs)
			}
			start = time.Now()
			if _, err := e.do(ctx, append([]string{"rm", "-f"}, ids...)...); err != nil {
				return fmt.Errorf("%s: rm -f: %w", e.name, err)
			}
			rmF[e] = append(rmF[e], time.Since(start).Seconds())
		}
	}
	add(fmt.Sprintf("`run -d busybox sleep 3600` × %d in sequence, total, %d rounds", o.containers, o.rounds), sums("s", runD))
	add(fmt.Sprintf("`rm -f` of those %d (one command), %d rounds", o.containers, o.rounds), sums("s", rmF))
	add(fmt.Sprintf("`ps` with %d running, %d runs", o.containers, o.runs), psN)
	add(fmt.Sprintf("PSS per running container, %d running (daemon growth + shims)", o.containers), pss)

	if o.heavy {
		fi, _ := os.Stat(debTar)
		imp := map[*engine][]float64{}
		for round := 0; round < o.rounds; round++ {
			for _, e := range engines {
				ref := fmt.Sprintf("debian-bench:%d", round)
				start := time.Now()
				if _, err := e.do(ctx, "import", debTar, ref); err != nil {
					return fmt.Errorf("%s: import debian: %w", e.name, err)
				}
				imp[e] = append(imp[e], time.Since(start).Seconds())
				if round < o.rounds-1 {
					if _, err := e.do(ctx, "rmi", ref); err != nil {
						return fmt.Errorf("%s: rmi: %w", e.name, err)
					}
				}
			}
		}
		add(fmt.Sprintf("`import` of a debootstrap'ed Debian (%d MB tar), %d rounds", fi.Size()>>20, o.rounds), sums("s", imp))
		ref := fmt.Sprintf("debian-bench:%d", o.rounds-1)
		if res, err = interleave(ctx, engines, o.runs, func(e *engine) []string { return e.cmd("run", "--rm", ref, "true") }); err != nil {
			return err
		}
		add(fmt.Sprintf("`run --rm debian true`, %d runs", o.runs), res)
		for _, e := range engines { // so that pulls below find no layer in place
			if _, err := e.do(ctx, "rmi", ref); err != nil {
				return err
			}
		}
		push, pull, err := pushPull(ctx, engines, berthBin, debTar, tmp, o.rounds)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("`push` of that Debian image to a local registry (berth's), %d rounds", o.rounds), sums("s", push))
		add(fmt.Sprintf("`pull` of it back after `rmi`, %d rounds", o.rounds), sums("s", pull))
	}

	table := render(rows)
	fmt.Print(table)
	if o.out != "" {
		head, err := header(ctx, o, b, d)
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(head+table), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "bench: wrote", o.out)
	}
	return nil
}

func each(engines []*engine, f func(*engine) *summary) map[*engine]*summary {
	m := map[*engine]*summary{}
	for _, e := range engines {
		m[e] = f(e)
	}
	return m
}

func sums(unit string, m map[*engine][]float64) map[*engine]*summary {
	out := map[*engine]*summary{}
	for e, xs := range m {
		out[e] = summarize(unit, xs)
	}
	return out
}

// interleave times runs of each engine's command, alternating engines so
// that drift of this shared machine hits both alike. One untimed warm-up
// run each first.
func interleave(ctx context.Context, engines []*engine, runs int, argv func(*engine) []string) (map[*engine]*summary, error) {
	xs := map[*engine][]float64{}
	for i := -1; i < runs; i++ {
		for _, e := range engines {
			t, err := timeRun(ctx, argv(e))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
			if i >= 0 {
				xs[e] = append(xs[e], t)
			}
		}
	}
	return sums("s", xs), nil
}

func timeRuns(ctx context.Context, runs int, argv []string) ([]float64, error) {
	var xs []float64
	for i := 0; i < runs; i++ {
		t, err := timeRun(ctx, argv)
		if err != nil {
			return nil, err
		}
		xs = append(xs, t)
	}
	return xs, nil
}

// timeRun is the wall time of one command, start to exit.
func timeRun(ctx context.Context, argv []string) (float64, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return d, nil
}

func render(rows []row) string {
	var sb strings.Builder
	sb.WriteString("| figure | berth | Docker | berth/Docker |\n|---|---|---|---|\n")
	for _, r := range rows {
		ratio := "–"
		if r.berth != nil && r.docker != nil && r.docker.med > 0 {
			ratio = fmt.Sprintf("%.2f", r.berth.med/r.docker.med)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", r.figure, r.berth, r.docker, ratio)
	}
	return sb.String()
}

func header(ctx context.Context, o options, b, d *engine) (string, error) {
	var sb strings.Builder
	sb.WriteString("# berth and Docker, side by side\n\n")
	sb.WriteString("Written by `make bench` (`go run ./bench --with-docker`); see bench/main.go for what each row does.\n")
	sb.WriteString("Times are wall clock, command start to exit, medians with (min–max). Memory is read from\n")
	sb.WriteString("/proc (VmRSS; Pss of smaps_rollup). Both engines ran on private sockets and data roots, with\n")
	sb.WriteString("the same images, in the same run. Each engine's default network is a bridge of its own\n")
	sb.WriteString("(berth: `berthbench0` with its nftables table; Docker: `dockbench0`, `--iptables=false`, so its\n")
	sb.WriteString("published ports go through docker-proxy, as host-loopback traffic does with Docker's defaults).\n\n")
	uname, _ := exec.Command("uname", "-srm").Output()
	mem := memTotal()
	fmt.Fprintf(&sb, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "- machine: %s, %d CPUs, %d GiB RAM, %s\n", strings.TrimSpace(string(uname)), runtime.NumCPU(), mem>>20, cgroupLayout())
	bv, _ := exec.CommandContext(ctx, b.cli, "--version").Output()
	rev, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	fmt.Fprintf(&sb, "- berth: %s, commit %s\n", strings.TrimSpace(string(bv)), strings.TrimSpace(string(rev)))
	if d != nil {
		dv, _ := d.do(ctx, "version", "--format", "server {{.Server.Version}} (API {{.Server.APIVersion}}), CLI {{.Client.Version}}")
		fmt.Fprintf(&sb, "- Docker: %s\n", strings.TrimSpace(dv))
	} else {
		sb.WriteString("- Docker: not measured (run with --with-docker)\n")
	}
	favor := "off"
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), "favordynmods") {
		favor = "on"
	}
	fmt.Fprintf(&sb, "- cgroup2 favordynmods: %s during the run (berth's --cgroup-favordynmods, opt-in, turns it on; it applies to Docker's containers too)\n", favor)
	fmt.Fprintf(&sb, "- settings: --runs %d --containers %d --rounds %d --cycles %d --net-time %s --favordynmods=%v\n\n", o.runs, o.containers, o.rounds, o.cycles, o.netTime, o.favorDynMods)
	return sb.String(), nil
}

func memTotal() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

func cgroupLayout() string {
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 {
		return "cgroup v2"
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
		return "cgroup hybrid (v1 + v2)"
	}
	return "cgroup v1"
}

// sumMem adds a field (kB) of /proc/PID/smaps_rollup ("Rss", "Pss") over pids.
func sumMem(pids []int, field string) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb
			}
		}
	}
	return total
}

// children lists the PIDs whose parent is pid.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

var errNotReady = errors.New("daemon did not answer")
