package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/moby/sys/signal"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/internal/initproc"
	"github.com/berthproject/berth/internal/logs"
	"github.com/berthproject/berth/internal/runtime"
	"github.com/berthproject/berth/internal/shim"
	"github.com/berthproject/berth/internal/spec"
)

// ErrNotModified is returned for a start of a running container or a stop
// of a stopped one (HTTP 304).
var ErrNotModified = errdefs.ErrNotModified

// Start starts a created or exited container.
func (s *Service) Start(ctx context.Context, ref string) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.rec.Running() || e.starting {
		e.mu.Unlock()
		return ErrNotModified.WithMessage("container already started")
	}
	if e.removing || e.removed || e.rec.State.Status == "removing" || e.rec.State.Status == "dead" {
		e.mu.Unlock()
		return errdefs.ErrConflict.WithMessage("container is marked for removal and cannot be started")
	}
	e.beginStart()
	e.rec.ManualStop = false
	e.mu.Unlock()
	err = s.start(ctx, e)
	e.mu.Lock()
	e.endStart()
	autoRemove := e.rec.HostConfig.AutoRemove && !e.userRestart
	e.mu.Unlock()
	if err != nil && autoRemove {
		_ = s.remove(e, true)
	}
	return err
}

func (s *Service) start(ctx context.Context, e *entry) (retErr error) {
	rec := e.snapshot()
	volumesMounted := false // by buildSpec
	fail := func(err error) error {
		if volumesMounted {
			s.unmountVolumes(rec.MountPoints)
		}
		code := 128
		msg := err.Error()
		switch shim.ErrorKind(err) { // the shim says what kind of failure it was
		case shim.KindNotFound:
			code = 127
		case shim.KindPermission:
			code = 126
		}
		_ = s.layers.Unmount(rec.ID)
		s.releaseShm(&rec)
		s.releaseNetwork(rec.ID)
		_ = s.rt.Delete(rec.ID)
		e.mu.Lock()
		e.rec.State.Status = "exited"
		e.rec.detach()
		e.rec.State.ExitCode = code
		e.rec.State.Error = msg
		_ = s.persist(&e.rec)
		pend := e.pending
		e.pending = nil
		e.mu.Unlock()
		for _, p := range pend {
			p.ready <- err
		}
		if errdefs.IsInvalidArgument(err) || errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
			return err // what berth refused before the runtime saw it
		}
		return errdefs.ErrUnknown.WithMessage("failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: " + msg + ": unknown")
	}
	t0 := time.Now()
	rootfs, err := s.layers.Mount(rec.ID, rec.ImageTop)
	if err != nil {
		return fail(err)
	}
	var linked []link
	if s.bridged(&rec) {
		if linked, err = s.resolveLinks(&rec); err != nil {
			return fail(err)
		}
		netName := rec.NetworkName()
		netns, ep, bound, err := s.networks.Attach(rec.ID, netName, publishedPorts(&rec), endpointWanted(&rec, netName, rec.Endpoint), dnsServers(rec.HostConfig, netName))
		if err != nil {
			return fail(err)
		}
		rec.Networks, rec.SandboxKey, rec.Ports = map[string]*network.EndpointSettings{netName: ep}, netns, bound
		if err := s.connectExtra(&rec); err != nil {
			return fail(err)
		}
		if err := s.writeHosts(rec.Dir, ep.IPAddress, rec.Config.Hostname, rec.Config.Domainname, rec.HostConfig, linkHosts(linked)); err != nil {
			return fail(err)
		}
	}
	t1 := time.Now()
	if len(linked) > 0 { // the links' variables, then the container's own (which win)
		cfg := *rec.Config
		cfg.Env = mergeEnv(linkEnv(rec.Name, linked), cfg.Env)
		rec.Config = &cfg
	}
	sp, err := s.buildSpec(&rec, rootfs)
	if err != nil {
		return fail(err)
	}
	volumesMounted = true
	t2 := time.Now()
	lc, err := logs.ParseConfig(rec.HostConfig.LogConfig.Type, rec.HostConfig.LogConfig.Config)
	if err != nil {
		return fail(err)
	}
	attrs, err := logs.Attributes(rec.HostConfig.LogConfig.Config, logInfo(&rec))
	if err != nil {
		return fail(errdefs.ErrInvalidArgument.WithMessage(err.Error()))
	}
	task, err := s.rt.Create(ctx, runtime.CreateOpts{
		ID: rec.ID, Spec: sp, LogPath: rec.LogPath, LogMaxSize: lc.MaxSize, LogMaxFiles: lc.MaxFiles, LogCompress: lc.Compress,
		LogAttrs: attrs, OpenStdin: rec.Config.OpenStdin, StdinOnce: rec.Config.StdinOnce,
	})
	if err != nil {
		return fail(err)
	}
	t3 := time.Now()
	// Let attachers that came before start connect before the process runs.
	e.mu.Lock()
	pend := e.pending
	e.pending = nil
	e.mu.Unlock()
	for _, p := range pend {
		p.ready <- nil
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	pid, err := task.Start()
	if err != nil {
		_ = task.Kill(syscall.SIGKILL)
		return fail(err)
	}
	slog.Debug("container started", "id", rec.ID[:12], "mount", t1.Sub(t0), "spec", t2.Sub(t1), "shim", t3.Sub(t2), "exec", time.Since(t3))
	e.mu.Lock()
	e.rec.State = State{Status: "running", Pid: pid, StartedAt: time.Now().UTC()} // OOMKilled resets, as in Docker
	e.rec.Networks, e.rec.SandboxKey, e.rec.Ports = rec.Networks, rec.SandboxKey, rec.Ports
	_ = s.persist(&e.rec)
	rec = e.rec
	e.mu.Unlock()
	s.event(&rec, "start", nil)
	go s.monitor(e, task)
	return nil
}

// buildSpec resolves the user inside the rootfs and generates the spec.
func (s *Service) buildSpec(rec *Record, rootfs string) (*specs.Spec, error) {
	uid, gid, groups, err := resolveUser(rootfs, rec.Config.User, rec.HostConfig.GroupAdd)
	if err != nil {
		return nil, err
	}
	etcDir := rec.Dir
	var netJoin string
	if m := rec.HostConfig.NetworkMode; m.IsContainer() {
		d, ns, err := s.networkDonor(m.ConnectedContainer())
		if err != nil {
			return nil, err
		}
		etcDir, netJoin = d.Dir, ns // its network, and its hosts, resolv.conf and hostname
		cfg := *rec.Config          // the record's own stays as created
		cfg.Hostname, cfg.Domainname = d.Config.Hostname, d.Config.Domainname
		rec.Config = &cfg
	}
	etc := map[string]string{
		"/etc/hostname":    filepath.Join(etcDir, "hostname"),
		"/etc/hosts":       filepath.Join(etcDir, "hosts"),
		"/etc/resolv.conf": filepath.Join(etcDir, "resolv.conf"),
	}
	env := rec.Config.Env
	if rec.Config.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	if !hasEnv(env, "HOSTNAME") {
		env = append(env, "HOSTNAME="+rec.Config.Hostname)
	}
	joins, shm, err := s.joinedNamespaces(rec.HostConfig)
	if err != nil {
		return nil, err
	}
	if rec.SandboxKey != "" {
		joins[specs.NetworkNamespace] = rec.SandboxKey
	}
	if netJoin != "" {
		joins[specs.NetworkNamespace] = netJoin
	}
	if rec.HostConfig.IpcMode.IsShareable() {
		if shm, err = mountShm(rec.Dir, rec.HostConfig); err != nil {
			return nil, err
		}
	}
	mounts, rootProp, err := s.mountSpecs(rec.MountPoints, rootfs)
	if err != nil {
		return nil, err
	}
	return spec.Generate(spec.Input{
		Mounts: mounts, RootfsPropagation: rootProp,
		Config: rec.Config, HostConfig: rec.HostConfig, Rootfs: rootfs,
		Args: append([]string{rec.Path}, rec.Args...), Env: env,
		UID: uid, GID: gid, Groups: groups, EtcFiles: etc,
		CgroupsPath: cgroupsPath(rec.HostConfig.CgroupParent, rec.ID), HostCapabilities: s.hostCaps,
		InitBinary: s.initBinary, InitPath: initproc.Path,
		JoinNamespaces: joins, ShmPath: shm,
	})
}

// bridged reports whether the container joins the default bridge: the
// daemon has one, the container is of the default network, and its
// network is not disabled (NetworkDisabled: loopback only).
func (s *Service) bridged(rec *Record) bool {
	switch m := rec.HostConfig.NetworkMode; {
	case m == "", m == "default", m == "bridge", userNetwork(m):
		return s.networks != nil && !rec.Config.NetworkDisabled
	}
	return false
}

// publishedPorts are the ports to publish: -p's, and with -P every
// exposed port (the image's too) on a host port of the ephemeral range.
func publishedPorts(rec *Record) nat.PortMap {
	out := nat.PortMap{}
	for p, bs := range rec.HostConfig.PortBindings {
		out[p] = append([]nat.PortBinding(nil), bs...)
	}
	if rec.HostConfig.PublishAllPorts {
		for p := range rec.Config.ExposedPorts {
			if _, ok := out[p]; !ok {
				out[p] = []nat.PortBinding{{}}
			}
		}
	}
	return out
}

// releaseNetwork gives back a container's endpoint (logged, not fatal: a
// restart reconciles what is left).
func (s *Service) releaseNetwork(id string) {
	if s.networks == nil {
		return
	}
	if err := s.networks.Release(id); err != nil {
		slog.Warn("release the container's network", "id", id[:12], "err", err)
	}
}

// logInfo is what the log options' attributes and tag are made of.
func logInfo(rec *Record) logs.Info {
	return logs.Info{
		ContainerID: rec.ID, ContainerName: rec.Name, ImageID: rec.Image.String(), ImageName: rec.Config.Image,
		Hostname: rec.Config.Hostname, Command: strings.Join(append([]string{rec.Path}, rec.Args...), " "),
		Labels: rec.Config.Labels, Env: rec.Config.Env,
	}
}

// networkDonor is the running container whose network --network
// container:REF joins, and the path of its network namespace.
func (s *Service) networkDonor(ref string) (Record, string, error) {
	d, err := s.runningDonor(ref, "network")
	if err != nil {
		return Record{}, "", err
	}
	switch m := d.HostConfig.NetworkMode; {
	case m.IsHost():
		return Record{}, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: --network container:%s is not supported yet: that container uses the host's network", ref))
	case m.IsContainer():
		return Record{}, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: --network container:%s is not supported yet: that container joins another's network", ref))
	}
	if d.SandboxKey != "" {
		return d, d.SandboxKey, nil
	}
	return d, fmt.Sprintf("/proc/%d/ns/net", d.State.Pid), nil
}

// runningDonor is the container REF whose namespace (what: PID, IPC,
// network) a starting container joins: it must run.
func (s *Service) runningDonor(ref, what string) (Record, error) {
	e, err := s.lookup(ref)
	if err != nil {
		return Record{}, err
	}
	d := e.snapshot()
	if d.State.Status != "running" || d.State.Pid == 0 {
		return Record{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot join %s of a non running container: %s", what, d.ID))
	}
	return d, nil
}

// cgroupsPath is the container's cgroup: under /berth, or under
// --cgroup-parent, which is taken from the root of each hierarchy (a
// relative parent too: Docker's would be relative to its shim's cgroup).
func cgroupsPath(parent, id string) string {
	if parent == "" {
		parent = "berth"
	}
	return filepath.Join("/", parent, id)
}

// joinedNamespaces resolves --pid and --ipc container:NAME to the
// namespaces of that container's init (which must run), and the IPC
// donor's /dev/shm. As Docker, a donor of IPC must be shareable.
func (s *Service) joinedNamespaces(hc *container.HostConfig) (map[specs.LinuxNamespaceType]string, string, error) {
	joins := map[specs.LinuxNamespaceType]string{}
	var shm string
	if m := hc.PidMode; m.IsContainer() {
		d, err := s.runningDonor(m.Container(), "PID")
		if err != nil {
			return nil, "", err
		}
		if d.HostConfig.PidMode.IsHost() || d.HostConfig.PidMode.IsContainer() {
			return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: --pid container:%s is not supported yet: that container shares another's PID namespace", m.Container()))
		}
		joins[specs.PIDNamespace] = fmt.Sprintf("/proc/%d/ns/pid", d.State.Pid)
	}
	if m := hc.IpcMode; m.IsContainer() {
		d, err := s.runningDonor(m.Container(), "IPC")
		if err != nil {
			return nil, "", err
		}
		if !d.HostConfig.IpcMode.IsShareable() {
			return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot join IPC of container %s: non-shareable IPC (hint: use IpcMode:shareable for the donor container)", d.ID[:12]))
		}
		joins[specs.IPCNamespace] = fmt.Sprintf("/proc/%d/ns/ipc", d.State.Pid)
		shm = shmPath(d.Dir)
	}
	return joins, shm, nil
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, k+"=") {
			return true
		}
	}
	return false
}

// resolveUser maps "user[:group]" to IDs with the container's passwd and
// group files (numeric IDs need no entry).
func resolveUser(rootfs, u string, groupAdd []string) (uint32, uint32, []uint32, error) {
	defaults := user.ExecUser{Uid: 0, Gid: 0, Home: "/"}
	pf, _ := os.Open(filepath.Join(rootfs, "etc/passwd"))
	gf, _ := os.Open(filepath.Join(rootfs, "etc/group"))
	defer func() {
		if pf != nil {
			pf.Close()
		}
		if gf != nil {
			gf.Close()
		}
	}()
	eu, err := user.GetExecUser(u, &defaults, nilIfNil(pf), nilIfNil(gf))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("unable to find user %s: %w", u, err)
	}
	// As Docker: the primary group is also a supplementary one.
	groups := []uint32{uint32(eu.Gid)}
	for _, g := range eu.Sgids {
		groups = append(groups, uint32(g))
	}
	if len(groupAdd) > 0 {
		gf2, _ := os.Open(filepath.Join(rootfs, "etc/group"))
		ids, err := user.GetAdditionalGroups(groupAdd, nilIfNil(gf2))
		if gf2 != nil {
			gf2.Close()
		}
		if err != nil {
			return 0, 0, nil, err
		}
		for _, g := range ids {
			groups = append(groups, uint32(g))
		}
	}
	return uint32(eu.Uid), uint32(eu.Gid), groups, nil
}

// nilIfNil keeps a nil *os.File from becoming a non-nil io.Reader.
func nilIfNil(f *os.File) interface{ Read([]byte) (int, error) } {
	if f == nil {
		return nil
	}
	return f
}

// monitor waits for the container to exit and applies the restart policy.
func (s *Service) monitor(e *entry, task Task) {
	st, err := task.Wait(context.Background())
	if err != nil {
		slog.Error("wait for container", "id", e.rec.ID, "err", err)
		return
	}
	id := e.rec.ID
	_ = s.layers.Unmount(id)
	s.releaseShm(&e.rec)
	s.releaseNetwork(id)
	s.unmountVolumes(e.rec.MountPoints)
	s.forgetExecs(id) // they ended with the container
	e.mu.Lock()
	e.rec.detach()
	e.rec.State.Status = "exited"
	e.rec.State.Pid = 0
	e.rec.State.ExitCode = st.Code
	e.rec.State.Error = st.Error
	e.rec.State.FinishedAt = st.ExitedAt
	e.rec.State.OOMKilled = st.OOMKilled
	restart, delay := s.shouldRestart(&e.rec)
	if restart {
		e.rec.State.Status = "restarting"
		e.rec.RestartCount++
	}
	autoRemove := e.rec.HostConfig.AutoRemove && !restart && !e.userRestart
	if !autoRemove {
		// --rm: the record is deleted next; should the daemon die before,
		// Restore finds the container's shim gone and removes it then.
		_ = s.persist(&e.rec)
	}
	// The bundle, with the exit file the shim left there, goes once the
	// exit is recorded (a daemon dying before still finds the real exit
	// code), and under e.mu: a start cannot have written a new one yet.
	// A --rm container's goes with its other files, after its record.
	if !autoRemove {
		_ = s.rt.Delete(id)
	}
	rec := e.rec
	close(e.exitCh)
	e.exitCh = make(chan struct{})
	e.mu.Unlock()
	if st.OOMKilled {
		s.event(&rec, "oom", nil)
	}
	s.event(&rec, "die", map[string]string{"exitCode": fmt.Sprint(st.Code)})
	if autoRemove {
		_ = s.removeWith(e, true, true, true)
		return
	}
	if restart {
		go func() {
			time.Sleep(delay)
			e.mu.Lock()
			still := e.rec.State.Status == "restarting" && !e.rec.ManualStop && !e.starting && !e.removing && !e.removed
			if still {
				e.beginStart()
			}
			e.mu.Unlock()
			if still {
				err := s.start(context.Background(), e)
				e.mu.Lock()
				e.endStart()
				e.mu.Unlock()
				if err != nil {
					slog.Error("restart container", "id", rec.ID, "err", err)
				} else {
					s.event(&rec, "restart", nil)
				}
			}
		}()
	}
}

// shouldRestart applies the restart policy to an exit; callers hold e.mu.
func (s *Service) shouldRestart(r *Record) (bool, time.Duration) {
	if r.ManualStop {
		return false, 0
	}
	delay := time.Duration(100<<min(r.RestartCount, 10)) * time.Millisecond
	if delay > time.Minute {
		delay = time.Minute
	}
	switch p := r.HostConfig.RestartPolicy; p.Name {
	case "always", "unless-stopped":
		return true, delay
	case "on-failure":
		if r.State.ExitCode == 0 {
			return false, 0
		}
		if p.MaximumRetryCount > 0 && r.RestartCount >= p.MaximumRetryCount {
			return false, 0
		}
		return true, delay
	}
	return false, 0
}

// Stop sends the stop signal, then SIGKILL after timeout (nil: the
// container's StopTimeout, else 10s; negative: wait forever).
func (s *Service) Stop(ctx context.Context, ref string, timeout *int, sig string) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.waitStarts()
	if e.rec.State.Status == "restarting" {
		// Waiting out its restart delay: no process to signal.
		e.rec.ManualStop = true
		e.rec.State.Status = "exited"
		_ = s.persist(&e.rec)
		rec := e.rec
		e.mu.Unlock()
		s.event(&rec, "stop", nil)
		return nil
	}
	if !e.rec.Running() {
		e.mu.Unlock()
		return ErrNotModified.WithMessage("container already stopped")
	}
	e.rec.ManualStop = true
	_ = s.persist(&e.rec)
	rec := e.rec
	exitCh := e.exitCh
	e.mu.Unlock()
	if sig == "" {
		sig = rec.Config.StopSignal
	}
	stopSig := syscall.SIGTERM
	if sig != "" {
		ps, err := signal.ParseSignal(sig)
		if err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
		stopSig = ps
	}
	t := 10
	if rec.Config.StopTimeout != nil {
		t = *rec.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	task := s.rt.Task(rec.ID)
	if rec.State.Status == "paused" {
		_ = task.Resume()
	}
	if err := task.Kill(stopSig); err != nil {
		slog.Debug("stop signal", "id", rec.ID, "err", err)
	}
	var timer <-chan time.Time
	if t >= 0 {
		timer = time.After(time.Duration(t) * time.Second)
	}
	select {
	case <-exitCh:
	case <-timer:
		_ = task.Kill(syscall.SIGKILL)
		select {
		case <-exitCh:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("container %s did not exit after SIGKILL", rec.ID[:12])
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	s.event(&rec, "stop", nil)
	return nil
}

// Kill sends a signal (default SIGKILL) to a running container.
func (s *Service) Kill(ref, sig string) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ks := syscall.SIGKILL
	if sig != "" {
		if ks, err = signal.ParseSignal(sig); err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
	}
	e.mu.Lock()
	rec := e.rec
	if !rec.Running() || rec.State.Status == "restarting" || e.starting {
		e.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot kill container: %s: container %s is not running", ref, rec.ID))
	}
	if ks == syscall.SIGKILL {
		e.rec.ManualStop = rec.HostConfig.RestartPolicy.Name != "always" && rec.HostConfig.RestartPolicy.Name != "on-failure"
	}
	exitCh := e.exitCh
	e.mu.Unlock()
	task := s.rt.Task(rec.ID)
	if err := task.Kill(ks); err != nil {
		if errors.Is(err, shim.ErrShimGone) {
			// It exited meanwhile: its shim is leaving.
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot kill container: %s: container %s is not running", ref, rec.ID))
		}
		return err
	}
	s.event(&rec, "kill", map[string]string{"signal": fmt.Sprint(int(ks))})
	if ks == syscall.SIGKILL {
		// As Docker: a SIGKILL returns once the container has exited.
		return awaitKill(task, rec, exitCh)
	}
	return nil
}

// awaitKill waits, after a SIGKILL was sent, for the exit (exitCh), first
// thawing a paused container: a frozen process takes its SIGKILL only
// once thawed.
func awaitKill(task Task, rec Record, exitCh <-chan struct{}) error {
	if rec.State.Status == "paused" {
		_ = task.Resume()
	}
	select {
	case <-exitCh:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s did not exit after SIGKILL", rec.ID[:12])
	}
}

// Restart stops (if running) and starts the container.
// A --rm container stays: its exit here is no reason to remove it.
func (s *Service) Restart(ctx context.Context, ref string, timeout *int, sig string) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.userRestart = true
	id := e.rec.ID
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.userRestart = false
		e.mu.Unlock()
	}()
	if err := s.Stop(ctx, id, timeout, sig); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	if err := s.Start(ctx, id); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	rec := e.snapshot()
	s.event(&rec, "restart", nil)
	return nil
}

// Pause freezes a running container; Unpause thaws it.
func (s *Service) Pause(ref string) error   { return s.setPaused(ref, true) }
func (s *Service) Unpause(ref string) error { return s.setPaused(ref, false) }

func (s *Service) setPaused(ref string, pause bool) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	name := strings.TrimPrefix(e.rec.Name, "/")
	switch {
	case !e.rec.Running():
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", e.rec.ID))
	case pause && e.rec.State.Status == "paused":
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is already paused", e.rec.ID))
	case !pause && e.rec.State.Status != "paused":
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not paused", name))
	}
	task := s.rt.Task(e.rec.ID)
	action := "pause"
	if pause {
		err = task.Pause()
		e.rec.State.Status = "paused"
	} else {
		err = task.Resume()
		e.rec.State.Status = "running"
		action = "unpause"
	}
	if err != nil {
		return err
	}
	_ = s.persist(&e.rec)
	s.event(&e.rec, action, nil)
	return nil
}

// Remove deletes a container; a running one needs force (then it is killed).
func (s *Service) Remove(ref string, force, volumes bool) error {
	e, err := s.lookup(ref)
	if err != nil {
		return err
	}
	return s.removeWith(e, force, false, volumes)
}

// remove removes a container that goes by itself (run --rm, a restore
// finishing a removal): its anonymous volumes with it, as Docker's --rm.
func (s *Service) remove(e *entry, force bool) error { return s.removeWith(e, force, false, true) }

// removeWith removes a container. With lazyFiles (--rm after an exit) its
// files go after its record, in the background: the record is what `wait
// --condition removed` (docker run --rm) waits for, and a daemon that dies
// in between leaves files that Restore's sweep removes. Errors there are
// only logged, where `rm` reports them.
func (s *Service) removeWith(e *entry, force, lazyFiles, volumes bool) error {
	e.mu.Lock()
	e.waitStarts()
	rec := e.rec
	if e.removing || e.removed {
		e.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("removal of container %s is already in progress", rec.ID[:12]))
	}
	if rec.Running() && !force {
		e.mu.Unlock()
		why := "is " + rec.State.Status + ": stop the container before removing or force remove"
		if rec.State.Status == "paused" {
			why = "is paused and must be unpaused first"
		}
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot remove container %q: container %s", rec.Name, why))
	}
	// From here no start may begin (Start checks e.removing).
	e.removing = true
	if rec.Running() {
		e.rec.ManualStop = true
		if rec.State.Status == "restarting" {
			// Waiting out its restart delay: there is no process.
			e.rec.State.Status = "exited"
		} else {
			exitCh := e.exitCh
			e.mu.Unlock()
			task := s.rt.Task(rec.ID)
			_ = task.Kill(syscall.SIGKILL)
			if err := awaitKill(task, rec, exitCh); err != nil {
				e.mu.Lock()
				e.removing = false
				e.mu.Unlock()
				return err
			}
			e.mu.Lock()
		}
	}
	prev := e.rec.State.Status
	e.rec.State.Status = "removing"
	if !lazyFiles {
		// Recorded, so that a daemon dying before the end finishes the
		// removal at its next start (Restore). A --rm container's record
		// goes next, before its files.
		if err := s.persist(&e.rec); err != nil {
			e.rec.State.Status, e.removing = prev, false
			e.mu.Unlock()
			return err
		}
	}
	rec = e.rec
	e.mu.Unlock()
	removeFiles := func() error {
		s.releaseShm(&rec)
		s.releaseNetwork(rec.ID)
		s.releaseVolumes(rec.ID, rec.MountPoints, volumes)
		if err := s.layers.RemoveRW(rec.ID); err != nil {
			return fmt.Errorf("remove container filesystem: %w", err)
		}
		_ = s.rt.Delete(rec.ID)
		return nil
	}
	if !lazyFiles {
		if err := removeFiles(); err != nil {
			e.mu.Lock()
			e.rec.State.Status = "dead"
			e.removing = false // a later rm tries again
			e.mu.Unlock()
			return err
		}
	}
	if err := s.deleteRecord(rec.ID); err != nil {
		e.mu.Lock()
		e.rec.State.Status = "dead"
		e.removing = false
		e.mu.Unlock()
		return err
	}
	if lazyFiles {
		go func() {
			if err := removeFiles(); err != nil {
				slog.Warn("removing a --rm container's files; the next daemon start retries", "id", rec.ID[:12], "err", err)
			}
			_ = os.RemoveAll(rec.Dir)
		}()
	} else {
		_ = os.RemoveAll(rec.Dir)
	}
	s.mu.Lock()
	delete(s.byID, rec.ID)
	if s.names[rec.Name] == rec.ID {
		delete(s.names, rec.Name)
	}
	s.mu.Unlock()
	s.event(&rec, "destroy", nil)
	e.mu.Lock()
	e.removed = true
	e.removing = false
	close(e.rmCh)
	e.mu.Unlock()
	return nil
}

// Prune removes every container that is not running and that selects
// (nil: all) picks, and returns their IDs and the bytes their read-write
// layers held.
func (s *Service) Prune(selects func(Record) bool) ([]string, int64, error) {
	var deleted []string
	var reclaimed int64
	for _, r := range s.List() {
		if r.Running() || r.State.Status == "removing" || selects != nil && !selects(r) {
			continue
		}
		size, _ := s.layers.RWSize(r.ID)
		if err := s.Remove(r.ID, false, false); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				continue // removed or started meanwhile
			}
			return deleted, reclaimed, err
		}
		deleted = append(deleted, r.ID)
		reclaimed += size
	}
	return deleted, reclaimed, nil
}

// Wait blocks until the condition holds: "not-running" (default),
// "next-exit" or "removed". ready is called once the waiter is
// registered, so a caller can send headers before the container starts.
func (s *Service) Wait(ctx context.Context, ref, condition string, ready func()) (WaitResult, error) {
	switch condition {
	case "", "not-running", "next-exit", "removed":
	default:
		return WaitResult{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid condition: %q", condition))
	}
	e, err := s.lookup(ref)
	if err != nil {
		return WaitResult{}, err
	}
	e.mu.Lock()
	exitCh, rmCh := e.exitCh, e.rmCh
	running := e.rec.Running() || e.starting
	e.mu.Unlock()
	if ready != nil {
		ready()
	}
	result := func() WaitResult {
		r := e.snapshot()
		return WaitResult{StatusCode: r.State.ExitCode, Error: r.State.Error}
	}
	var until <-chan struct{}
	switch condition {
	case "", "not-running":
		if !running {
			return result(), nil
		}
		until = exitCh
	case "next-exit":
		until = exitCh
	case "removed":
		until = rmCh
	}
	select {
	case <-until:
	case <-rmCh:
	case <-ctx.Done():
		return WaitResult{}, ctx.Err()
	}
	return result(), nil
}
