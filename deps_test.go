package berth_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berthproject/berth"

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Dir        string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "-deps=false", "-tags", "integration", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

var (
	services = []string{"internal/container", "internal/image", "internal/build", "internal/network", "internal/volume", "internal/registry", "internal/cluster"}
	lowLevel = []string{"internal/content", "internal/layer", "internal/logs", "internal/archive", "internal/events",
		"internal/db", "internal/spec", "internal/runtime", "internal/shim", "internal/shimbin", "internal/hello", "internal/initproc", "internal/hugeheap", "internal/cgroupmount", "internal/seccompcache", "internal/sysinfo"}
)

func under(p string, roots []string) string {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return r
		}
	}
	return ""
}

// TestImportsFollowTheOneWayFlow enforces ARCHITECTURE.md's rules.
func TestImportsFollowTheOneWayFlow(t *testing.T) {
	for _, p := range listPackages(t) {
		self := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				if imp == "github.com/opencontainers/runc/libcontainer/nsenter" && self != "cmd/berth" && self != "cmd/berth-shim" {
					t.Errorf("%s imports nsenter; only cmd/berth and cmd/berth-shim may", self)
				}
				continue
			}
			dep := rel(imp)
			if dep == "internal/hugeheap" && !strings.HasPrefix(self, "cmd/") {
				t.Errorf("%s imports internal/hugeheap, whose init acts on the whole process; only the programs in cmd/ may", self)
			}
			switch {
			case under(self, lowLevel) != "" && (under(dep, services) != "" || strings.HasPrefix(dep, "internal/api") || dep == "internal/daemon" || strings.HasPrefix(dep, "internal/cli")):
				t.Errorf("low-level %s imports %s", self, dep)
			case under(self, services) != "" && under(dep, services) != "" && under(dep, services) != under(self, services):
				t.Errorf("service %s imports service %s", self, dep)
			case strings.HasPrefix(self, "internal/cli") && !strings.HasPrefix(dep, "internal/cli"):
				t.Errorf("cli package %s imports engine package %s", self, dep)
			case dep == "internal/daemon" && self != "cmd/berth":
				t.Errorf("%s imports internal/daemon; only cmd/berth may", self)
			case under(self, services) != "" && (strings.HasPrefix(dep, "internal/api") || dep == "internal/daemon"):
				t.Errorf("service %s imports %s", self, dep)
			}
		}
	}
}

// TestShimDependenciesStaySmall: the shim program (cmd/berth-shim) starts
// once per container and lives as long as it, so it must not pull in the
// API server, the services or the CLI.
func TestShimDependenciesStaySmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/berth-shim").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{module + "/internal/api", module + "/internal/container", module + "/internal/image",
			module + "/internal/daemon", module + "/internal/cli", "net/http", "github.com/docker/docker/client", "github.com/spf13/cobra"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("the shim depends on %s", dep)
			}
		}
	}
}

// TestEveryPackageHasDocGo: each package says in doc.go what it is for.
func TestEveryPackageHasDocGo(t *testing.T) {
	for _, p := range listPackages(t) {
		if rel(p.ImportPath) == "" {
			continue
		}
		has := false
		for _, f := range p.GoFiles {
			if f == "doc.go" {
				has = true
			}
		}
		if !has && rel(p.ImportPath) != "cmd/berth" {
			t.Errorf("%s has no doc.go", rel(p.ImportPath))
		}
	}
}
