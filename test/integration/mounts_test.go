//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestBindMounts: -v and --mount binds (files show on the host with the
// container's owner, :ro and readonly hold, a missing -v source is made,
// propagation is checked against the host's mount), --mount tmpfs with
// size and mode, inspect's Mounts as Docker shows them; bad specs are
// refused and leave the host as it was.
func TestBindMounts(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := d.Must("run", "--rm", "-v", dir+":/data", "busybox", "sh", "-c", "cat /data/in && echo from-ctr > /data/out && chown 1000:1001 /data/out"); got != "from-host" {
		t.Fatalf("reading a bind: %q", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	fi, _ := os.Stat(filepath.Join(dir, "out"))
	if err != nil || string(b) != "from-ctr\n" || fi.Sys().(*syscall.Stat_t).Uid != 1000 || fi.Sys().(*syscall.Stat_t).Gid != 1001 {
		t.Fatalf("the file the container wrote, on the host: %q %v %+v", b, err, fi.Sys())
	}
	for _, args := range [][]string{{"-v", dir + ":/data:ro"}, {"--mount", "type=bind,source=" + dir + ",target=/data,readonly"}} {
		res := d.Berth(append(append([]string{"run", "--rm"}, args...), "busybox", "touch", "/data/nope")...)
		if res.Code == 0 || !strings.Contains(res.Stderr, "Read-only file system") {
			t.Errorf("writing to a read-only bind %v: %s", args, res)
		}
	}
	missing := filepath.Join(dir, "made", "by", "v")
	d.Must("run", "--rm", "-v", missing+":/m", "busybox", "true")
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Errorf("-v with a missing host path: %v", err)
	}
	if got := d.Must("run", "--rm", "--mount", "type=tmpfs,destination=/scratch,tmpfs-size=1m,tmpfs-mode=1770", "busybox", "sh", "-c", "stat -c %a /scratch; df -k /scratch | tail -1 | awk '{print $2}'"); got != "1770\n1024" {
		t.Errorf("a --mount tmpfs with size and mode: %q", got)
	}
	d.Must("create", "--name", "shown", "-v", dir+":/data:ro", "--mount", "type=bind,src="+dir+",dst=/other,bind-propagation=rslave", "busybox", "true")
	want := `[{"Type":"bind","Source":"` + dir + `","Destination":"/data","Mode":"ro","RW":false,"Propagation":"rprivate"},{"Type":"bind","Source":"` + dir + `","Destination":"/other","Mode":"","RW":true,"Propagation":"rslave"}]`
	if got := d.Must("inspect", "-f", "{{json .Mounts}}", "shown"); got != want {
		t.Errorf("inspect's Mounts:\n%s\nwant\n%s", got, want)
	}
	if res := docker("run", "--rm", "-v", dir+":/data:z", "busybox", "true"); res.Code != 0 || !strings.Contains(res.Stderr, "SELinux relabel option \"z\" is ignored") {
		t.Errorf("-v ...:z through the docker CLI: %s", res)
	}

	// Propagation: shared needs a shared host mount.
	priv := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", priv).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(priv, syscall.MNT_DETACH) })
	_ = exec.Command("mount", "--make-private", priv).Run()
	if res := d.Berth("run", "--rm", "-v", priv+":/p:shared", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "is not a shared mount") {
		t.Errorf("shared propagation from a private mount: %s", res)
	}
	_ = exec.Command("mount", "--make-shared", priv).Run()
	d.Must("run", "--rm", "-v", priv+":/p:shared", "busybox", "true")

	// Bad specs: refused, the host unchanged.
	file := filepath.Join(dir, "in")
	before, _ := os.ReadDir(dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-v", file + ":/bin"}, "cannot mount " + file + " (a file) on /bin (a directory in the image)"},
		{[]string{"-v", dir + ":/bin/busybox"}, "(a directory) on /bin/busybox (a file in the image)"},
		{[]string{"-v", "./rel:/data"}, "includes invalid characters for a local volume name"},
		{[]string{"-v", dir + ":/"}, "destination can't be '/'"},
		{[]string{"-v", dir + ":/a/../etc"}, "must not contain '..'"},
		{[]string{"-v", dir + ":data"}, "must be absolute"},
		{[]string{"-v", dir + ":/data:bogus"}, "invalid mode: bogus"},
		{[]string{"-v", dir + ":/data:ro,rw"}, "invalid mode: ro,rw"},
		{[]string{"--mount", "type=bind,source=" + dir + "/nope,target=/data"}, "bind source path does not exist: " + dir + "/nope"},
		{[]string{"--mount", "type=bind,target=/data"}, "field Source must not be empty"},
		{[]string{"--mount", "type=bind,source=" + dir + ",target=/data,bind-propagation=weird"}, "invalid propagation mode: weird"},
		{[]string{"--mount", "type=bind,source=" + dir + ",target=/data,color=red"}, "unexpected key 'color'"},
		{[]string{"--mount", "type=tmpfs,source=x,target=/t"}, "field Source must not be specified"},
		{[]string{"-v", "no/pe:/data"}, "includes invalid characters for a local volume name"},
	} {
		res := d.Berth(append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")...)
		if res.Code != 125 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("%v: %s, want exit 125 and %q", tc.args, res, tc.want)
		}
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("a refused mount changed the host directory: %d entries, were %d", len(after), len(before))
	}
	if b, _ := os.ReadFile(file); string(b) != "from-host\n" {
		t.Errorf("the host file after refused mounts: %q", b)
	}
}
