package spec

import (
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func gen(t *testing.T, hc container.HostConfig, cfg container.Config) *specs.Spec {
	t.Helper()
	s, err := Generate(Input{Config: &cfg, HostConfig: &hc, Rootfs: "/r", Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hasNS(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == typ {
			return true
		}
	}
	return false
}

func TestGenerate(t *testing.T) {
	pids := int64(10)
	for _, tc := range []struct {
		name  string
		hc    container.HostConfig
		cfg   container.Config
		check func(*specs.Spec) bool
	}{
		{"default caps", container.HostConfig{}, container.Config{}, func(s *specs.Spec) bool {
			return len(s.Process.Capabilities.Bounding) == len(DefaultCapabilities) && !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		}},
		{"cap-add and drop", container.HostConfig{CapAdd: []string{"net_admin"}, CapDrop: []string{"CHOWN"}}, container.Config{}, func(s *specs.Spec) bool {
			b := s.Process.Capabilities.Bounding
			return slices.Contains(b, "CAP_NET_ADMIN") && !slices.Contains(b, "CAP_CHOWN")
		}},
		{"drop all add one", container.HostConfig{CapAdd: []string{"KILL"}, CapDrop: []string{"ALL"}}, container.Config{}, func(s *specs.Spec) bool {
			return slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_KILL"})
		}},
		{"privileged: all caps, no seccomp, no masks", container.HostConfig{Privileged: true}, container.Config{}, func(s *specs.Spec) bool {
			return len(s.Process.Capabilities.Bounding) == len(AllCapabilities) && s.Linux.Seccomp == nil && len(s.Linux.MaskedPaths) == 0
		}},
		{"default seccomp and masks", container.HostConfig{}, container.Config{}, func(s *specs.Spec) bool {
			return s.Linux.Seccomp != nil && s.Linux.Seccomp.DefaultAction == specs.ActErrno && slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") && slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys")
		}},
		{"seccomp without the x32 ABI", container.HostConfig{}, container.Config{}, func(s *specs.Spec) bool {
			a := s.Linux.Seccomp.Architectures
			return !slices.Contains(a, specs.ArchX32) && (goruntime.GOARCH != "amd64" || slices.Contains(a, specs.ArchX86_64) && slices.Contains(a, specs.ArchX86))
		}},
		{"seccomp unconfined", container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}, container.Config{}, func(s *specs.Spec) bool { return s.Linux.Seccomp == nil }},
		{"no-new-privileges", container.HostConfig{SecurityOpt: []string{"no-new-privileges"}}, container.Config{}, func(s *specs.Spec) bool { return s.Process.NoNewPrivileges }},
		{"host network", container.HostConfig{NetworkMode: "host"}, container.Config{}, func(s *specs.Spec) bool { return !hasNS(s, specs.NetworkNamespace) && hasNS(s, specs.PIDNamespace) }},
		{"none network", container.HostConfig{NetworkMode: "none"}, container.Config{}, func(s *specs.Spec) bool { return hasNS(s, specs.NetworkNamespace) && hasNS(s, specs.CgroupNamespace) }},
		{"memory, default swap doubles it", container.HostConfig{Resources: container.Resources{Memory: 64 << 20}}, container.Config{}, func(s *specs.Spec) bool {
			m := s.Linux.Resources.Memory
			return *m.Limit == 64<<20 && *m.Swap == 128<<20
		}},
		{"cpus to quota", container.HostConfig{Resources: container.Resources{NanoCPUs: 1500000000}}, container.Config{}, func(s *specs.Spec) bool {
			c := s.Linux.Resources.CPU
			return *c.Quota == 150000 && *c.Period == 100000
		}},
		{"pids limit", container.HostConfig{Resources: container.Resources{PidsLimit: &pids}}, container.Config{}, func(s *specs.Spec) bool { return *s.Linux.Resources.Pids.Limit == 10 }},
		{"ulimit", container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}}}, container.Config{}, func(s *specs.Spec) bool {
			return len(s.Process.Rlimits) == 1 && s.Process.Rlimits[0].Type == "RLIMIT_NOFILE" && s.Process.Rlimits[0].Hard == 20
		}},
		{"read-only rootfs", container.HostConfig{ReadonlyRootfs: true}, container.Config{}, func(s *specs.Spec) bool { return s.Root.Readonly }},
		{"tty and cwd", container.HostConfig{}, container.Config{Tty: true, WorkingDir: "/srv"}, func(s *specs.Spec) bool { return s.Process.Terminal && s.Process.Cwd == "/srv" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := gen(t, tc.hc, tc.cfg); !tc.check(s) {
				t.Fatalf("spec does not hold: %+v", s.Linux)
			}
		})
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	for _, hc := range []container.HostConfig{
		{CapAdd: []string{"CAP_NOPE"}},
		{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nope"}}}},
	} {
		if _, err := Generate(Input{Config: &container.Config{}, HostConfig: &hc, Args: []string{"sh"}}); err == nil {
			t.Errorf("%+v: want an error", hc)
		}
	}
	if _, err := Generate(Input{Config: &container.Config{}, HostConfig: &container.HostConfig{}}); err == nil {
		t.Error("no command: want an error")
	}
}

func TestCapabilitiesFromMask(t *testing.T) {
	if got := CapabilitiesFromMask(0xa80425fb); !slices.Equal(got, []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}) {
		t.Fatalf("docker's default mask decodes to %v", got)
	}
}
