//go:build integration

package integration

import (
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthproject/berth/internal/testutil"
)

// TestPullPicksPlatformFromIndex: a tag that names an image index pulls
// the host's platform, --platform picks another, and a platform the index
// lacks is Docker's "no matching manifest" error.
func TestPullPicksPlatformFromIndex(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	reg := testutil.StartRegistry(t)
	single := reg.Addr + "/multi/bb:single"
	d.Must("tag", "busybox", single)
	d.Must("push", single)

	ref, err := name.ParseReference(single, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	host, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := host.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	cf = cf.DeepCopy()
	cf.Architecture = other
	foreign, err := mutate.ConfigFile(host, cf)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	multi := reg.Addr + "/multi/bb:1"
	mref, _ := name.ParseReference(multi, name.Insecure)
	if err := remote.WriteIndex(mref, idx); err != nil {
		t.Fatal(err)
	}
	d.Must("rmi", single, "busybox")

	if res := d.Berth("pull", multi); res.Code != 0 {
		t.Fatalf("pull of an index: %s", res)
	}
	if got := d.Must("image", "inspect", "-f", "{{.Architecture}}", multi); got != runtime.GOARCH {
		t.Fatalf("default pull took %s, want the host's %s", got, runtime.GOARCH)
	}
	if out := d.Must("run", "--rm", multi, "echo", "host platform"); out != "host platform" {
		t.Fatalf("run: %q", out)
	}
	if res := d.Berth("pull", "--platform", "linux/"+other, multi); res.Code != 0 {
		t.Fatalf("pull --platform linux/%s: %s", other, res)
	}
	if got := d.Must("image", "inspect", "-f", "{{.Architecture}}", multi); got != other {
		t.Fatalf("--platform linux/%s pulled %s", other, got)
	}
	res := d.Berth("pull", "--platform", "linux/s390x", multi)
	if res.Code == 0 || !strings.Contains(res.Stderr, "no matching manifest for linux/s390x") {
		t.Fatalf("pull of a platform the index lacks: %s", res)
	}
}
