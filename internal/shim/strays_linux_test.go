package shim

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// zombie starts a copy of true named name and waits until it is a zombie
// of this process.
func zombie(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	src, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if st, _, ok := procState(cmd.Process.Pid); ok && st == 'Z' {
			return cmd
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not become a zombie", name)
	return nil
}

func TestReapStraysTakesOnlyRuncStagesNobodyWaitsFor(t *testing.T) {
	stage1 := zombie(t, "runc:[1:CHILD]")
	stage2 := zombie(t, "runc:[2:INIT]")
	kept := zombie(t, "runc:[2:INIT]")
	stage0 := zombie(t, "runc:[0:PARENT]")
	other := zombie(t, "true")
	reaped := reapStrays(func(pid int) bool { return pid == kept.Process.Pid })
	slices.Sort(reaped)
	want := []int{stage1.Process.Pid, stage2.Process.Pid}
	slices.Sort(want)
	if !slices.Equal(reaped, want) {
		t.Fatalf("reaped %v, want %v", reaped, want)
	}
	// What it left is still ours to wait for.
	for _, c := range []*exec.Cmd{kept, stage0, other} {
		if err := c.Wait(); err != nil {
			t.Fatalf("%s: %v (reaped by the sweep?)", c.Path, err)
		}
	}
}
