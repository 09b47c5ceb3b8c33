//go:build integration

package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// TestShimRunsTheEmbeddedProgram: a container's shim is the small
// program embedded in berth (not the whole berth binary), run from a
// sealed memfd that neither the container nor anyone else can rewrite.
func TestShimRunsTheEmbeddedProgram(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	id := d.Must("run", "-d", "busybox", "sleep", "60")
	shims := d.Shims()
	if len(shims) != 1 {
		t.Fatalf("want 1 shim, got %v", shims)
	}
	pid := shims[0]
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "berth-shim" {
		t.Errorf("shim's comm = %q, want berth-shim", comm)
	}
	exe, err := os.Open(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	link, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if !strings.HasPrefix(link, "/memfd:") {
		t.Errorf("shim runs %s, want a memfd", link)
	}
	seals, err := unix.FcntlInt(exe.Fd(), unix.F_GET_SEALS, 0)
	const want = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if err != nil || seals&want != want {
		t.Errorf("shim's program seals = %#x (%v), want at least %#x", seals, err, want)
	}
	shimInfo, _ := exe.Stat()
	berthInfo, err := os.Stat(d.Bin)
	if err != nil {
		t.Fatal(err)
	}
	if shimInfo.Size() >= berthInfo.Size()/2 {
		t.Errorf("shim program is %d bytes, berth %d: the shim is not the small program", shimInfo.Size(), berthInfo.Size())
	}
	// exec goes through libcontainer's init of the same program.
	if out := d.Must("exec", id, "echo", "in"); out != "in" {
		t.Errorf("exec: %q", out)
	}
}
