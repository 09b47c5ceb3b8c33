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

// TestComposeV1: Debian's docker-compose (v1) brings up a two-service app
// on berth: its project network, its services finding each other by
// service name (the aliases compose connects each container with), a
// bind mount of the project directory, and `down` removing containers
// and network.
func TestComposeV1(t *testing.T) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose (v1) is not installed")
	}
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	dir := t.TempDir()
	yml := `version: "3"
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    volumes: ["./site:/www:ro"]
  client:
    image: busybox
    command: sh -c "for i in 1 2 3 4 5; do echo 'GET /index.html HTTP/1.0' | nc -w 2 web 80 | tail -1 | grep . && exit 0; sleep 0.5; done; exit 1"
    depends_on: [web]
`
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	// The page web serves, from a bind mount of the project directory.
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("hello-from-web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DOCKER_HOST=" + d.Host(), "DOCKER_CONFIG=" + t.TempDir(), "COMPOSE_INTERACTIVE_NO_CLI=1"}
	run := func(args ...string) testutil.Result {
		res := testutil.Run(t, "", env, compose, append([]string{"--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "-p", "demo"}, args...)...)
		return res
	}
	t.Cleanup(func() { run("down") })
	res := run("up", "--abort-on-container-exit", "--exit-code-from", "client")
	if res.Code != 0 || !strings.Contains(res.Stdout, "hello-from-web") {
		t.Fatalf("docker-compose up: %s\n%s", res, d.Log())
	}
	if got := d.Must("network", "ls", "--filter", "name=demo_default", "--format", "{{.Name}}"); got != "demo_default" {
		t.Fatalf("compose's project network: %q", got)
	}
	if res := run("down"); res.Code != 0 {
		t.Fatalf("docker-compose down: %s", res)
	}
	if got := d.Must("ps", "-aq"); got != "" {
		t.Fatalf("containers left after down: %q", got)
	}
	if got := d.Must("network", "ls", "--filter", "name=demo_default", "-q"); got != "" {
		t.Fatalf("network left after down: %q", got)
	}
}
