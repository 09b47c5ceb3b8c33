package hugeheap

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

func TestWanted(t *testing.T) {
	for _, c := range []struct {
		args    []string
		godebug string
		want    bool
	}{
		{[]string{"berth", "run", "--rm", "busybox"}, "", true},
		{[]string{"/usr/bin/berth", "ps"}, "", true},
		{[]string{"berth"}, "", true},
		{[]string{"/proc/self/exe", "init"}, "", true},
		{[]string{"berth", "daemon", "--data-root", "/x"}, "", false},
		{[]string{"berth-shim", "shim", "--spare"}, "", false},
		{[]string{"berth-shim", "shim-create"}, "", false},
		{[]string{"berth", "registry", "serve"}, "", false},
		{[]string{"/usr/local/bin/berth", "logs", "-f", "c1"}, "", true},
		{[]string{"/sbin/berth-init", "--", "sh"}, "", false},
		{[]string{"berth", "ps"}, "madvdontneed=1,disablethp=1", false},
		{[]string{"berth", "ps"}, "disablethp=0", true},
		{nil, "", false},
	} {
		if got := wanted(c.args, c.godebug); got != c.want {
			t.Errorf("wanted(%q, %q) = %v, want %v", c.args, c.godebug, got, c.want)
		}
	}
}

// This test binary is a short-lived process: its heap mapping must carry
// the huge-page advice (VmFlags "hg" in smaps).
func TestHeapIsAdvised(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(b), "[never]") {
		t.Skip("transparent huge pages are off or missing here")
	}
	if !advised {
		t.Fatal("the madvise call failed")
	}
	flags, err := vmFlags(uintptr(unsafe.Pointer(probe)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("the heap mapping lacks the huge-page advice: VmFlags %q", flags)
	}
}

// vmFlags returns the VmFlags line of the mapping that holds addr.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		l := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(l, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(l, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmFlags:")), nil
		}
	}
	return "", fmt.Errorf("no mapping holds %#x", addr)
}
