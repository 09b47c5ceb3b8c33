package shim

import (
	"encoding/json"
	"io"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// warmShim runs, in a spare shim waiting for its bundle, what the shim
// itself does on the way to a started container: read its options,
// make stdio, talk to its creator, answer the daemon. Cold, that code
// costs page faults (12-15 µs each on our VMs) while a container waits.
func warmShim() {
	var o Options
	_ = json.Unmarshal([]byte(`{"ID":"x","Socket":"/x","LogMaxSize":1,"OpenStdin":true,"ConsoleSize":{"height":1,"width":1}}`), &o)
	if sio, err := newStdio(false, true, nil); err == nil {
		sio.closeAll()
	}
	b, _ := json.Marshal(createRequest{Bundle: "/x"})
	_ = json.Unmarshal(b, &createRequest{})
	b, _ = json.Marshal(createReply{Pid: 1, CgroupPaths: map[string]string{"": "/x"}})
	_ = json.Unmarshal(b, &createReply{})
	b, _ = json.Marshal(Response{Pid: 1, Exit: &ExitStatus{Code: 1}})
	_ = json.Unmarshal(b, &Response{})
	_ = json.Unmarshal([]byte(`{"op":"start"}`), &Request{})
}

// warmUp runs, in a shim's creator waiting for its request, the code a
// container's creation runs: the JSON decoding of a spec, its conversion
// to libcontainer's configuration and that configuration's encoding (what
// libcontainer sends to its init). A fresh Go process pays for building
// encoding/json's per-type codecs and for faulting in this code the first
// time; a spare pays it before a container waits on it. The spec is a
// made-up one that reaches every type a real one uses.
func warmUp() {
	var limit int64 = 1 << 20
	sp := &specs.Spec{
		Version:  specs.Version,
		Hostname: "warm",
		Root:     &specs.Root{Path: "/", Readonly: true},
		Process: &specs.Process{
			Terminal: true, ConsoleSize: &specs.Box{Height: 1, Width: 1},
			User: specs.User{UID: 1, GID: 1, AdditionalGids: []uint32{1}},
			Args: []string{"true"}, Env: []string{"A=b"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_CHOWN"}, Effective: []string{"CAP_CHOWN"},
				Permitted: []string{"CAP_CHOWN"},
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace}, {Type: specs.IPCNamespace}},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Memory:  &specs.LinuxMemory{Limit: &limit, Swap: &limit},
				Pids:    &specs.LinuxPids{Limit: &limit},
				CPU:     &specs.LinuxCPU{Cpus: "0"},
			},
			CgroupsPath: "/berth-warm-up",
			Seccomp: &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
					Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}},
			},
			MaskedPaths:   []string{"/proc/kcore"},
			ReadonlyPaths: []string{"/proc/sys"},
			Sysctl:        map[string]string{"net.ipv4.ip_forward": "0"},
		},
	}
	sp.Process.OOMScoreAdj = new(int)
	b, err := json.Marshal(sp)
	if err != nil {
		return
	}
	var back specs.Spec
	if json.Unmarshal(b, &back) != nil {
		return
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "warm-up", Spec: &back})
	if err != nil {
		return
	}
	_ = json.NewEncoder(io.Discard).Encode(cfg)
	var o Options
	_ = json.Unmarshal([]byte(`{"ID":"x"}`), &o)
}
