package container

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

func TestValidateConfig(t *testing.T) {
	for _, tc := range []struct {
		name, wd string
		env      []string
		wantWD   string
		err      string
	}{
		{name: "trailing slash", wd: "/srv/app/", wantWD: "/srv/app"},
		{name: "dots", wd: "/srv/./app/../x", wantWD: "/srv/x"},
		{name: "relative", wd: "srv", err: "the working directory 'srv' is invalid, it needs to be an absolute path"},
		{name: "empty env name", env: []string{"A=1", "=x"}, err: "invalid environment variable: =x"},
		{name: "env without value", env: []string{"A"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &container.Config{WorkingDir: tc.wd, Env: tc.env}
			err := validateConfig(cfg)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err %v, want %q (invalid argument)", err, tc.err)
				}
				return
			}
			if err != nil || cfg.WorkingDir != tc.wantWD {
				t.Fatalf("err %v, WorkingDir %q, want %q", err, cfg.WorkingDir, tc.wantWD)
			}
		})
	}
}

func TestValidateHostConfig(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
		err  string // "" when valid
	}{
		{"defaults", container.HostConfig{}, ""},
		{"runc runtime", container.HostConfig{Runtime: "runc"}, ""},
		{"other runtime", container.HostConfig{Runtime: "kata"}, "unknown or invalid runtime name: kata"},
		{"ipc shareable", container.HostConfig{IpcMode: "shareable"}, ""},
		{"ipc container", container.HostConfig{IpcMode: "container:x"}, ""},
		{"ipc container without a name", container.HostConfig{IpcMode: "container:"}, "invalid IPC mode: container:"},
		{"ipc none", container.HostConfig{IpcMode: "none"}, ""},
		{"pid container", container.HostConfig{PidMode: "container:x"}, ""},
		{"pid bogus", container.HostConfig{PidMode: "bogus"}, "invalid --pid: bogus"},
		{"uts host", container.HostConfig{UTSMode: "host"}, ""},
		{"uts container", container.HostConfig{UTSMode: "container:x"}, "invalid --uts: container:x"},
		{"device mode", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwx"}}}}, "invalid device mode: rwx"},
		{"device relative path", container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "null", CgroupPermissions: "rw"}}}}, "invalid device path /dev/null:null: both must be absolute"},
		{"device cgroup rule", container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{"c 1:3"}}}, "invalid device cgroup rule format: 'c 1:3'"},
		{"cgroup parent with a colon", container.HostConfig{Resources: container.Resources{CgroupParent: "system.slice:docker:x"}}, "invalid --cgroup-parent"},
		{"ipc bogus", container.HostConfig{IpcMode: "bogus"}, "invalid IPC mode: bogus"},
		{"restart unknown", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}, "invalid restart policy: unknown policy 'sometimes'"},
		{"restart negative", container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1}}, "invalid restart policy: maximum retry count cannot be negative"},
		{"tmpfs relative", container.HostConfig{Tmpfs: map[string]string{"tmp": ""}}, "invalid mount path: 'tmp' mount path must be absolute"},
		{"tmpfs root", container.HostConfig{Tmpfs: map[string]string{"/": ""}}, "invalid specification: destination can't be '/'"},
		{"tmpfs and mount on one target", container.HostConfig{Tmpfs: map[string]string{"/data/": ""}, Mounts: []mount.Mount{{Type: "tmpfs", Target: "/data"}}}, "Duplicate mount point: /data"},
		{"two binds on one target", container.HostConfig{Binds: []string{"/a:/data", "/b:/data:ro"}}, "Duplicate mount point: /data"},
		{"memory too low", container.HostConfig{Resources: container.Resources{Memory: 1 << 20}}, "Minimum memory limit allowed is 6MB"},
		{"reservation above limit", container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemoryReservation: 128 << 20}}, "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{"swappiness", container.HostConfig{Resources: container.Resources{MemorySwappiness: i(101)}}, "Invalid value: 101, valid memory swappiness range is 0-100"},
		{"too many cpus", container.HostConfig{Resources: container.Resources{NanoCPUs: 1 << 50}}, "Range of CPUs is from 0.01 to"},
		{"nano and quota", container.HostConfig{Resources: container.Resources{NanoCPUs: 1e8, CPUQuota: 50000}}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{"nano and period", container.HostConfig{Resources: container.Resources{NanoCPUs: 1e8, CPUPeriod: 50000}}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{"period too small", container.HostConfig{Resources: container.Resources{CPUPeriod: 999}}, "CPU cfs period can not be less than 1ms"},
		{"quota too small", container.HostConfig{Resources: container.Resources{CPUQuota: 999}}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{"blkio weight", container.HostConfig{Resources: container.Resources{BlkioWeight: 5}}, "Range of blkio weight is from 10 to 1000"},
		{"oom score adj", container.HostConfig{OomScoreAdj: 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
		{"cpuset garbage", container.HostConfig{Resources: container.Resources{CpusetCpus: "0-x"}}, "Invalid value 0-x for cpuset cpus"},
		{"cpuset missing cpu", container.HostConfig{Resources: container.Resources{CpusetCpus: "0,4096"}}, "Requested CPUs are not available - requested 0,4096"},
		{"cpuset ok", container.HostConfig{Resources: container.Resources{CpusetCpus: "0"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateHostConfig(&tc.hc)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err %v, want %q (invalid argument)", err, tc.err)
			}
		})
	}
}
