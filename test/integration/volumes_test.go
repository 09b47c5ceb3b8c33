//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestVolumes: named and anonymous volumes of the local driver through
// the docker CLI — create/ls/inspect/rm/prune, -v NAME:/path made on
// first use and filled from the image (owners and modes kept) unless
// nocopy, data kept across containers and a daemon restart, -v /path and
// an image's VOLUME as anonymous volumes that rm -v and run --rm remove
// and plain rm keeps, --volumes-from, a volume in use refused (409) and
// never deleted by removing a container, inspect's Mounts as Docker shows
// them.
func TestVolumes(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	must := dockerMust(t, docker)
	// An image with content where volumes go, and a VOLUME of its own:
	// busybox's tree with /srv/app (owned by 1000:1001, mode 750).
	root := t.TempDir()
	tarball := filepath.Join(t.TempDir(), "seeded.tar")
	script := filepath.Join(testutil.RepoRoot(), "hack", "busybox-image.sh")
	for _, c := range []string{
		script + " | tar -C " + root + " -xf -",
		"mkdir -p " + root + "/srv/app " + root + "/cache && echo seeded > " + root + "/srv/app/file && echo c > " + root + "/cache/x",
		"chown -R 1000:1001 " + root + "/srv/app && chmod 750 " + root + "/srv/app && chmod 644 " + root + "/srv/app/file",
		"tar --numeric-owner -C " + root + " -cf " + tarball + " .",
	} {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", c, err, out)
		}
	}
	d.Must("import", "--change", `VOLUME ["/cache"]`, "--change", `CMD ["sh"]`, tarball, "seeded")

	if got := must("volume", "create", "--label", "tier=db", "data"); got != "data" {
		t.Fatalf("volume create: %q", got)
	}
	if got := must("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Labels.tier}} {{.Scope}}", "data"); got != "data local "+filepath.Join(d.DataRoot, "volumes", "data", "_data")+" db local" {
		t.Errorf("volume inspect: %q", got)
	}
	// A new volume is filled from the image, with owners and modes.
	if got := must("run", "--rm", "-v", "fresh:/srv/app", "seeded", "sh", "-c", "cat /srv/app/file; stat -c '%u:%g %a' /srv/app /srv/app/file"); got != "seeded\n1000:1001 750\n1000:1001 644" {
		t.Errorf("copy-up into a new volume: %q", got)
	}
	if got := must("run", "--rm", "-v", "bare:/srv/app:nocopy", "seeded", "ls", "-A", "/srv/app"); got != "" {
		t.Errorf("nocopy: %q", got)
	}
	// Data outlives the container and a daemon restart.
	must("run", "--rm", "-v", "data:/d", "busybox", "sh", "-c", "echo kept > /d/f")
	d.Kill()
	d.Start()
	if got := must("run", "--rm", "--mount", "type=volume,source=data,target=/d,readonly", "busybox", "cat", "/d/f"); got != "kept" {
		t.Errorf("a volume's data after a daemon restart: %q", got)
	}
	if res := docker("run", "--rm", "--mount", "type=volume,source=data,target=/d,readonly", "busybox", "touch", "/d/g"); res.Code == 0 || !strings.Contains(res.Stderr, "Read-only file system") {
		t.Errorf("a readonly volume: %s", res)
	}

	// --volumes-from: the other container's volumes and binds, :ro.
	host := t.TempDir()
	must("create", "--name", "donor", "-v", "data:/d", "-v", host+":/h", "busybox", "true")
	if res := docker("run", "--rm", "--volumes-from", "donor:ro", "busybox", "sh", "-c", "cat /d/f; ls -d /h; touch /d/g"); res.Code == 0 ||
		!strings.HasPrefix(res.Stdout, "kept\n/h") || !strings.Contains(res.Stderr, "Read-only file system") {
		t.Errorf("--volumes-from donor:ro: %s", res)
	}
	if got := must("run", "--rm", "--volumes-from", "donor", "-v", "fresh:/d", "busybox", "ls", "/d"); got != "file" {
		t.Errorf("a mount of the container's own over one of --volumes-from: %q", got)
	}
	if res := docker("run", "--rm", "--volumes-from", "donor:rx", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "invalid mode for volumes-from: rx") {
		t.Errorf("--volumes-from with a bad mode: %s", res)
	}
	must("rm", "donor")

	// In use: refused, then kept by rm of the container.
	must("create", "--name", "user", "-v", "data:/d", "-v", "/anon", "seeded", "true")
	if res := docker("volume", "rm", "data"); res.Code == 0 || !strings.Contains(res.Stderr, "volume is in use") {
		t.Errorf("removing a volume in use: %s", res)
	}
	mounts := must("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.Mode}} {{.RW}};{{end}}", "user")
	for _, want := range []string{"volume data /d local z true;", " /anon local  true;", " /cache local  true;"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("inspect's Mounts lack %q: %s", want, mounts)
		}
	}
	anon := must("inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}`, "user")
	cache := must("inspect", "-f", `{{range .Mounts}}{{if eq .Destination "/cache"}}{{.Name}}{{end}}{{end}}`, "user")
	if len(anon) != 64 || len(cache) != 64 {
		t.Fatalf("anonymous volumes' names: %q %q", anon, cache)
	}
	if got := must("volume", "ls", "-q", "--filter", "dangling=false"); !strings.Contains(got, anon) || !strings.Contains(got, "data") {
		t.Errorf("volumes in use: %q", got)
	}
	must("rm", "user") // without -v: its anonymous volumes stay, dangling
	if got := must("volume", "ls", "-q", "--filter", "dangling=true"); !strings.Contains(got, anon) || !strings.Contains(got, cache) || !strings.Contains(got, "data") {
		t.Errorf("dangling volumes after rm: %q", got)
	}
	must("create", "--name", "user2", "-v", "/anon2", "busybox", "true")
	anon2 := must("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "user2")
	must("rm", "-v", "user2")
	if res := docker("volume", "inspect", anon2); res.Code == 0 {
		t.Errorf("rm -v left the anonymous volume %s", anon2)
	}
	before := must("volume", "ls", "-q")
	must("run", "--rm", "-v", "/anon3", "-v", "data:/d", "busybox", "true")
	if got := must("volume", "ls", "-q"); got != before {
		t.Errorf("run --rm: volumes before\n%s\nafter\n%s", before, got)
	}
	if _, err := os.Stat(filepath.Join(d.DataRoot, "volumes", "data", "_data", "f")); err != nil {
		t.Errorf("a named volume's data after its containers went: %v", err)
	}

	// Prune: anonymous ones by default, all unused with -a.
	out := must("volume", "prune", "-f")
	if !strings.Contains(out, anon) || !strings.Contains(out, cache) || strings.Contains(out, "data") {
		t.Errorf("volume prune: %q", out)
	}
	out = must("volume", "prune", "-f", "-a", "--filter", "label=tier=db")
	if !strings.Contains(out, "data") || strings.Contains(out, "fresh") {
		t.Errorf("volume prune -a --filter label=tier=db: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"volume", "create", "a/b"}, "includes invalid characters for a local volume name"},
		{[]string{"volume", "create", "-d", "nfs", "x1"}, `volume driver "nfs" is not supported`},
		{[]string{"volume", "create", "-o", "color=red", "x2"}, `invalid option key: "color"`},
		{[]string{"volume", "inspect", "nosuch"}, "no such volume"},
		{[]string{"volume", "rm", "nosuch"}, "no such volume"},
		{[]string{"run", "--rm", "--mount", "type=volume,source=x3,target=/d,volume-opt=color=red", "busybox", "true"}, `invalid option key: "color"`},
	} {
		if res := docker(tc.args...); res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("docker %v: %s, want %q", tc.args, res, tc.want)
		}
	}
	// berth's own volume commands.
	if got := d.Must("volume", "create", "--label", "via=berth", "viaberth"); got != "viaberth" {
		t.Errorf("berth volume create: %q", got)
	}
	if got := d.Must("volume", "ls", "--filter", "label=via=berth", "--format", "{{.Driver}} {{.Name}}"); got != "local viaberth" {
		t.Errorf("berth volume ls: %q", got)
	}
	if got := d.Must("volume", "inspect", "-f", "{{.Labels.via}}", "viaberth"); got != "berth" {
		t.Errorf("berth volume inspect: %q", got)
	}
	if res := d.Berth("volume", "rm", "viaberth", "nosuch"); res.Code != 1 || res.Stdout != "viaberth\n" || !strings.Contains(res.Stderr, "no such volume") {
		t.Errorf("berth volume rm of one that exists and one that does not: %s", res)
	}
	if res := docker("volume", "rm", "-f", "nosuch"); res.Code != 0 {
		t.Errorf("volume rm -f of a missing volume: %s", res)
	}
	if got := must("volume", "ls", "-q"); strings.Contains(got, "x3") {
		t.Errorf("a refused run left volume x3: %q", got)
	}
}
