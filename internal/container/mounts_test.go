package container

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"
)

func TestParseBind(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // "src dst mode rw propagation" or the error
	}{
		{"/h:/c", "/h /c  true rprivate"},
		{"/h/:/c/", "/h /c  true rprivate"},
		{"/h:/c:ro", "/h /c ro false rprivate"},
		{"/h:/c:rw,rshared", "/h /c rw,rshared true rshared"},
		{"/h:/c:z", "/h /c z true rprivate"},
		{"/h:/c:ro,rw", "invalid mode: ro,rw"},
		{"/h:/c:nocopy", "nocopy applies to volumes"},
		{"/h:/c:x", "invalid mode: x"},
		{"/h:c", "must be absolute"},
		{"/h:/", "destination can't be '/'"},
		{"/h:/c/../d", "must not contain '..'"},
		{"rel/dir:/c", "includes invalid characters"},
		{"name:/c", "volume name /c z true "},
		{"name:/c:ro,nocopy", "volume name /c ro,nocopy false "},
		{"name:/c:shared", "propagation applies to host paths"},
		{"n/x:/c", "includes invalid characters"},
		{"/lone", "invalid volume specification"},
		{"/a:/b:ro:x", "invalid volume specification"},
		{":/c", "invalid volume specification"},
	} {
		mp, _, err := parseBind(tc.spec)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = strings.Join([]string{mp.Source, mp.Destination, mp.Mode, map[bool]string{true: "true", false: "false"}[mp.RW], mp.Propagation}, " ")
			if mp.Type == "volume" {
				got = strings.Join([]string{"volume", mp.Name, mp.Destination, mp.Mode, map[bool]string{true: "true", false: "false"}[mp.RW], mp.Propagation}, " ")
			}
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("parseBind(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		m    mount.Mount
		want string
	}{
		{mount.Mount{Type: "bind", Source: dir, Target: "/c"}, "bind " + dir + " /c true rprivate []"},
		{mount.Mount{Type: "bind", Source: dir, Target: "/c", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rslave", NonRecursive: true}}, "bind " + dir + " /c false rslave []"},
		{mount.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}}, "tmpfs  /t true  [size=1024k mode=1777]"},
		{mount.Mount{Type: "bind", Source: dir + "/nope", Target: "/c"}, "bind source path does not exist"},
		{mount.Mount{Type: "bind", Source: "rel", Target: "/c"}, "must be absolute"},
		{mount.Mount{Type: "bind", Source: dir, Target: "/c", TmpfsOptions: &mount.TmpfsOptions{}}, "only bind options"},
		{mount.Mount{Type: "bind", Source: dir, Target: "/c", BindOptions: &mount.BindOptions{CreateMountpoint: true}}, "not supported yet"},
		{mount.Mount{Type: "tmpfs", Source: "x", Target: "/t"}, "must not be specified"},
		{mount.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"exec"}}}}, "tmpfs-option is not supported yet"},
		{mount.Mount{Type: "volume", Source: "v", Target: "/c"}, "invalid volume name \"v\""},
		{mount.Mount{Type: "volume", Source: "data", Target: "/c", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}, "volume  /c true  []"},
		{mount.Mount{Type: "volume", Target: "/c", BindOptions: &mount.BindOptions{}}, "only volume options"},
		{mount.Mount{Type: "volume", Source: "data", Target: "/c", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nfs"}}}, "volume driver \"nfs\" is not supported"},
		{mount.Mount{Type: "npipe", Target: "/c"}, `mount type "npipe" is not supported`},
		{mount.Mount{Target: "/c"}, "mount type unknown"},
		{mount.Mount{Type: "bind", Source: dir}, "invalid volume specification"},
	} {
		mp, err := parseMount(tc.m)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = strings.Join([]string{mp.Type, mp.Source, mp.Destination, map[bool]string{true: "true", false: "false"}[mp.RW], mp.Propagation}, " ") + " " + strings.Join([]string{"[" + strings.Join(mp.TmpfsOpts, " ") + "]"}, "")
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("parseMount(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}
