//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berthproject/berth/internal/testutil"
)

// TestCredentialHelper: with "credsStore" in config.json the CLI asks the
// docker-credential-<name> program (Docker's helper protocol) for
// credentials, hands login's credentials to it instead of writing them to
// config.json, and tells it to erase them on logout.
func TestCredentialHelper(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte("bob:"+string(hash)+"\n"), 0o600)
	reg := testutil.StartRegistry(t, "--htpasswd", htpasswd)

	bin, cfgDir, state := t.TempDir(), t.TempDir(), t.TempDir()
	helper := fmt.Sprintf(`#!/bin/sh
set -e
case "$1" in
get)
	server=$(cat)
	echo "$server" >> %[1]s/asked
	if [ "$server" = "%[2]s" ]; then
		printf '{"ServerURL":"%%s","Username":"bob","Secret":"s3cret"}' "$server"
	else
		echo "credentials not found in native keychain"; exit 1
	fi ;;
store) cat > %[1]s/stored ;;
erase) cat > %[1]s/erased ;;
list) echo '{}' ;;
esac
`, state, reg.Addr)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-berthtest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(cfgDir, "config.json")
	os.WriteFile(cfg, []byte(`{"credsStore":"berthtest"}`), 0o600)
	env := []string{"DOCKER_CONFIG=" + cfgDir, "PATH=" + bin + ":" + os.Getenv("PATH")}
	berth := func(stdin string, args ...string) testutil.Result {
		return testutil.Run(t, stdin, env, d.Bin, append([]string{"-H", d.Host()}, args...)...)
	}

	ref := reg.Addr + "/helped/bb:1"
	d.Must("tag", "busybox", ref)
	if res := berth("", "push", ref); res.Code != 0 || !strings.Contains(res.Stdout, "digest: sha256:") {
		t.Fatalf("push with the helper's credentials: %s", res)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "asked")); !strings.Contains(string(b), reg.Addr) {
		t.Fatalf("the helper was not asked for %s: %q", reg.Addr, b)
	}

	if res := berth("s3cret\n", "login", "-u", "bob", "--password-stdin", reg.Addr); res.Code != 0 {
		t.Fatalf("login: %s", res)
	}
	stored, _ := os.ReadFile(filepath.Join(state, "stored"))
	if !strings.Contains(string(stored), `"Username":"bob"`) || !strings.Contains(string(stored), `"Secret":"s3cret"`) {
		t.Fatalf("login did not hand the credentials to the helper: %q", stored)
	}
	if b, _ := os.ReadFile(cfg); strings.Contains(string(b), "s3cret") || strings.Contains(string(b), `"auth"`) {
		t.Fatalf("config.json holds the secret although a helper is set: %s", b)
	}
	if res := berth("", "logout", reg.Addr); res.Code != 0 {
		t.Fatalf("logout: %s", res)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "erased")); strings.TrimSpace(string(b)) != reg.Addr {
		t.Fatalf("logout did not erase %s from the helper: %q", reg.Addr, b)
	}
}
