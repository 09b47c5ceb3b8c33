package cgroupmount

import (
	"errors"
	"strings"
	"testing"
)

const hybrid = `22 27 0:21 / /proc rw,relatime - proc proc rw
30 29 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
`

func TestMounts(t *testing.T) {
	ms, err := Mounts(strings.NewReader(hybrid + `40 30 0:40 / /tmp/with\040space rw - cgroup2 cgroup2 rw` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Type+" "+m.Point+" "+strings.Join(m.SuperOp, ","))
	}
	want := []string{
		"cgroup2 /sys/fs/cgroup/unified rw,nsdelegate",
		"cgroup /sys/fs/cgroup/systemd rw,xattr,name=systemd",
		"cgroup /sys/fs/cgroup/cpu,cpuacct rw,cpu,cpuacct",
		"cgroup2 /tmp/with space rw",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Mounts(strings.NewReader("garbage without separator\n")); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo   string
		wantPoint, wantOp string
		wantErr           error
	}{
		{"hybrid: the unified mount, nsdelegate kept", hybrid, "/sys/fs/cgroup/unified", "nsdelegate,favordynmods", nil},
		{"v2 with systemd's options",
			"31 29 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			"/sys/fs/cgroup", "nsdelegate,memory_recursiveprot,favordynmods", nil},
		{"already on (on any hierarchy): nothing to do",
			strings.Replace(hybrid, "rw,cpu,cpuacct", "rw,cpu,cpuacct,favordynmods", 1), "", "", nil},
		{"v1 only: cannot be changed at remount",
			"32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "", "", errors.ErrUnsupported},
		{"no cgroup at all", "22 27 0:21 / /proc rw - proc proc rw\n", "", "", errors.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Mounts(strings.NewReader(tc.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			point, op, err := Plan(ms)
			if point != tc.wantPoint || op != tc.wantOp || !errors.Is(err, tc.wantErr) {
				t.Errorf("Plan = %q, %q, %v; want %q, %q, %v", point, op, err, tc.wantPoint, tc.wantOp, tc.wantErr)
			}
		})
	}
}
