package berth_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berthproject/berth"

type pkgInfo struct {
	ImportPath   string
	Imports      []string
	Deps         []string // transitive
	TestImports  []string
	XTestImports []string
	Dir          string
	GoFiles      []string
}

// buildTags are the tag sets the builds and tests use: the tests' (with
// the end-to-end ones) and make build's (the berth binary). The shim
// program's extra seccompcache tag needs the patched runc and is vetted
// by hack/test.sh.
var buildTags = []string{"integration", "seccomp,netgo,osusergo,shimembed"}

func listPackages(t *testing.T) []pkgInfo { return listPackagesTags(t, "integration") }

func listPackagesTags(t *testing.T, tags string) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json", "-deps=false", "-tags", tags, "./...").Output()
	if err != nil {
		t.Fatalf("go list -tags %s: %v", tags, err)
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

// layerRule says why self may not depend on dep ("" if it may).
func layerRule(self, dep string) string {
	switch {
	case under(self, lowLevel) != "" && (under(dep, services) != "" || strings.HasPrefix(dep, "internal/api") || dep == "internal/daemon" || strings.HasPrefix(dep, "internal/cli")):
		return "low-level " + self + " depends on " + dep
	case under(self, services) != "" && under(dep, services) != "" && under(dep, services) != under(self, services):
		return "service " + self + " depends on service " + dep
	case strings.HasPrefix(self, "internal/cli") && !strings.HasPrefix(dep, "internal/cli"):
		return "cli package " + self + " depends on engine package " + dep
	case dep == "internal/daemon" && self != "cmd/berth":
		return self + " depends on internal/daemon; only cmd/berth may"
	case under(self, services) != "" && (strings.HasPrefix(dep, "internal/api") || dep == "internal/daemon"):
		return "service " + self + " depends on " + dep
	}
	return ""
}

// TestImportsFollowTheOneWayFlow enforces ARCHITECTURE.md's rules on
// direct and transitive imports, and on the packages' tests, under every
// tag set the build uses.
func TestImportsFollowTheOneWayFlow(t *testing.T) {
	for _, tags := range buildTags {
		for _, p := range listPackagesTags(t, tags) {
			self := rel(p.ImportPath)
			for _, imp := range p.Imports {
				if imp == "github.com/opencontainers/runc/libcontainer/nsenter" && self != "cmd/berth" && self != "cmd/berth-shim" {
					t.Errorf("%s imports nsenter; only cmd/berth and cmd/berth-shim may", self)
				}
				if rel(imp) == "internal/hugeheap" && strings.HasPrefix(imp, module) && !strings.HasPrefix(self, "cmd/") {
					t.Errorf("%s imports internal/hugeheap, whose init acts on the whole process; only the programs in cmd/ may", self)
				}
			}
			seen := map[string]bool{}
			for _, list := range [][]string{p.Deps, p.TestImports, p.XTestImports} {
				for _, imp := range list {
					if !strings.HasPrefix(imp, module+"/") || seen[imp] {
						continue
					}
					seen[imp] = true
					if why := layerRule(self, rel(imp)); why != "" {
						t.Errorf("-tags %s: %s", tags, why)
					}
				}
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
