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

// conformanceBinary finds the OCI distribution-spec conformance suite that
// hack/test.sh installs ($BERTH_CONFORMANCE, then $GOBIN/$GOPATH/bin).
func conformanceBinary(t *testing.T) string {
	if p := os.Getenv("BERTH_CONFORMANCE"); p != "" {
		return p
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(string(out), "\n")
		dir := lines[0]
		if dir == "" && len(lines) > 1 {
			dir = filepath.Join(strings.SplitN(lines[1], ":", 2)[0], "bin")
		}
		if p := filepath.Join(dir, "conformance"); fileExists(p) {
			return p
		}
	}
	if os.Getenv("BERTH_INTEGRATION") == "1" {
		t.Fatal("the OCI conformance suite is not installed (hack/test.sh installs it)")
	}
	t.Skip("OCI conformance suite not installed")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestRegistryConformance holds `berth registry serve` to the OCI
// distribution-spec conformance suite with pull, push, content discovery
// and content management on, plus the optional parts berth supports
// (upload cancel, tag parameters, digest headers).
func TestRegistryConformance(t *testing.T) {
	testutil.RequiresRoot(t)
	suite := conformanceBinary(t)
	reg := testutil.StartRegistry(t)
	results := t.TempDir()
	cmd := exec.Command(suite)
	cmd.Dir = results
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+reg.Addr, "OCI_TLS=disabled", "OCI_VERSION=1.1",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+results,
		"OCI_API_PULL=true", "OCI_API_PUSH=true", "OCI_API_REFERRER=true",
		"OCI_API_BLOBS_DELETE=true", "OCI_API_MANIFESTS_DELETE=true", "OCI_API_TAGS_DELETE=true", "OCI_API_TAGS_LIST=true",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_API_MANIFESTS_TAG_PARAM=true",
		"OCI_API_BLOBS_DIGEST_HEADER=true", "OCI_API_MANIFESTS_DIGEST_HEADER=true",
		"OCI_DATA_SHA512=true", "OCI_LOG=warn")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil || !strings.Contains(text, "OCI Conformance Test: Pass") {
		t.Fatalf("conformance suite failed (%v):\n%s", err, lastLines(text, 120))
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, ": FAIL") || strings.Contains(line, ": Skip") {
			t.Errorf("conformance: %s", strings.TrimSpace(line))
		}
	}
	t.Logf("conformance: %d checks passed", strings.Count(text, ": Pass"))
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
