package hello

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestProgramPrintsMessage(t *testing.T) {
	prog, err := Program(runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	p := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(p, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p).Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if string(out) != Message {
		t.Fatalf("output = %q, want the message", out)
	}
}

func TestProgramRejectsUnknownArch(t *testing.T) {
	if _, err := Program("mips"); err == nil {
		t.Fatal("want an error for an unknown architecture")
	}
}
