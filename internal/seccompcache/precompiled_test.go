//go:build linux && cgo && seccomp && seccompcache

package seccompcache

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"

	"github.com/berthproject/berth/internal/spec"
)

// dockerDefault is libcontainer's config of Docker's default profile, as
// a container's creator gets it.
func dockerDefault(t *testing.T) *configs.Seccomp {
	t.Helper()
	s, err := spec.Generate(spec.Input{Config: &container.Config{}, HostConfig: &container.HostConfig{}, Rootfs: "/r", Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := specconv.SetupSeccomp(s.Linux.Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The init computes the key from the config libcontainer sent it as JSON;
// it must match the creator's, or no program is ever used.
func TestKeySurvivesTheTripToInit(t *testing.T) {
	cfg := dockerDefault(t)
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var back configs.Seccomp
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	k1, err1 := key(cfg)
	k2, err2 := key(&back)
	if err1 != nil || err2 != nil || k1 != k2 {
		t.Fatalf("key before %x (%v), after the JSON trip %x (%v)", k1, err1, k2, err2)
	}
	back.Syscalls = back.Syscalls[1:]
	if k3, _ := key(&back); k3 == k1 {
		t.Error("a different config has the same key")
	}
}

func TestOpenCompilesOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "seccomp")
	cfg := dockerDefault(t)
	if f, err := Find(dir, cfg); f != nil || err != nil {
		t.Fatalf("Find before Open = %v, %v; want nothing", f, err)
	}
	f, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := Find(dir, cfg); g == nil || err != nil || g.Name() != f.Name() {
		t.Fatalf("Find after Open = %v, %v; want %s", g, err, f.Name())
	} else {
		g.Close()
	}
	b, err := os.ReadFile(f.Name())
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	k, _, prog, err := decode(b)
	if want, _ := key(cfg); err != nil || k != want || len(prog) < 100 {
		t.Fatalf("stored program: %v, key %x, %d instructions", err, k, len(prog))
	}
	st, _ := os.Stat(f.Name())
	if st.Mode().Perm() != 0o600 {
		t.Errorf("program file mode %v, want 0600", st.Mode().Perm())
	}
	// Found, not compiled again: a marker written into the file stays.
	if err := os.WriteFile(f.Name(), append(b[:len(b):len(b)], 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(g.Name())
	g.Close()
	if len(again) != len(b)+1 {
		t.Error("the second Open compiled the program again")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in %s, want 1 (no temporary left)", len(entries), dir)
	}
	if f, err := Open(dir, nil); f != nil || err != nil {
		t.Errorf("no seccomp: Open = %v, %v", f, err)
	}
}
