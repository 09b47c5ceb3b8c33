//go:build integration

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// pki writes a CA's certificate and, signed by it, certificates and keys.
type pki struct {
	dir  string
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	next int64
}

func newPKI(t *testing.T, dir, name string) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: dir, ca: ca, key: key, next: 2}
	p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue makes name.pem and name-key.pem: a server certificate for
// 127.0.0.1, or a client one.
func (p *pki) issue(t *testing.T, name string, server bool) (cert, key string) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.next), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	p.next++
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

// TestRemoteAccessOverMutualTLS: a daemon on tcp:// with --tlsverify
// serves berth's CLI and the docker CLI that hold a certificate its CA
// signed (attach included: run streams over TLS), and refuses a client
// without one or with one another CA signed.
func TestRemoteAccessOverMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newPKI(t, dir, "berth test CA")
	srvCert, srvKey := ca.issue(t, "server", true)
	cliCert, cliKey := ca.issue(t, "client", false)
	rogueDir := filepath.Join(dir, "rogue")
	os.MkdirAll(rogueDir, 0o700)
	rogue := newPKI(t, rogueDir, "someone else's CA")
	rogueCert, rogueKey := rogue.issue(t, "intruder", false)

	port := testutil.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d := testutil.StartDaemon(t, "-H", "tcp://"+addr, "--tlsverify", "--tlscacert", filepath.Join(dir, "ca.pem"), "--tlscert", srvCert, "--tlskey", srvKey)
	d.LoadBusybox()

	berth := func(cert, key string, args ...string) testutil.Result {
		return testutil.Run(t, "", nil, d.Bin, append([]string{"-H", "tcp://" + addr, "--tlsverify", "--tlscacert", filepath.Join(dir, "ca.pem"),
			"--tlscert", cert, "--tlskey", key}, args...)...)
	}
	if res := berth(cliCert, cliKey, "run", "--rm", "busybox", "echo", "over tls"); res.Code != 0 || strings.TrimSpace(res.Stdout) != "over tls" {
		t.Fatalf("berth over mutual TLS: %s", res)
	}
	// The docker CLI, with its usual certificate directory.
	certDir := filepath.Join(dir, "docker")
	os.MkdirAll(certDir, 0o700)
	for src, dst := range map[string]string{filepath.Join(dir, "ca.pem"): "ca.pem", cliCert: "cert.pem", cliKey: "key.pem"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(certDir, dst), b, 0o600)
	}
	env := []string{"DOCKER_HOST=tcp://" + addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certDir}
	if res := testutil.Run(t, "", env, "docker", "run", "--rm", "busybox", "echo", "docker over tls"); res.Code != 0 || strings.TrimSpace(res.Stdout) != "docker over tls" {
		t.Fatalf("docker CLI over mutual TLS: %s", res)
	}
	// Refused: another CA's certificate, and no certificate at all.
	if res := berth(rogueCert, rogueKey, "version"); res.Code == 0 || !strings.Contains(res.Stderr, "certificate") {
		t.Errorf("a certificate another CA signed: %s, want a TLS certificate error", res)
	} else {
		t.Logf("another CA's certificate: %s", strings.TrimSpace(res.Stderr))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.ca)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err == nil {
		_, err = conn.Write([]byte("GET /_ping HTTP/1.0\r\n\r\n"))
		if err == nil {
			_, err = conn.Read(make([]byte, 64))
		}
		conn.Close()
	}
	if err == nil {
		t.Errorf("a client without a certificate got an answer")
	}
}

// TestPlainTCPOnlyOnLoopback: plain TCP serves on loopback; elsewhere the
// daemon refuses to start unless --insecure-tcp.
func TestPlainTCPOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	d := testutil.StartDaemon(t, "-H", fmt.Sprintf("tcp://127.0.0.1:%d", port))
	if res := testutil.Run(t, "", nil, d.Bin, "-H", fmt.Sprintf("tcp://127.0.0.1:%d", port), "version"); res.Code != 0 {
		t.Fatalf("plain TCP on loopback: %s", res)
	}
	dir := t.TempDir()
	res := testutil.Run(t, "", nil, d.Bin, "daemon", "--data-root", filepath.Join(dir, "d"), "--exec-root", filepath.Join(dir, "e"),
		"-H", "unix://"+filepath.Join(dir, "s.sock"), "-H", fmt.Sprintf("tcp://0.0.0.0:%d", testutil.FreePort(t)))
	if res.Code == 0 || !strings.Contains(res.Stderr, "without TLS") || !strings.Contains(res.Stderr, "--insecure-tcp") {
		t.Fatalf("plain TCP on every address: %s", res)
	}
}

// TestSSHTransport: berth's CLI and the docker CLI reach a daemon through
// an sshd on loopback (berth's `system dial-stdio` on the far side for
// berth; the docker CLI runs its own dial-stdio against berth's socket,
// named in the URL's path).
func TestSSHTransport(t *testing.T) {
	t.Parallel()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Fatal("sshd is not installed (hack/deps.sh test installs openssh-server, not started)")
	}
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	dir := t.TempDir()
	keygen := func(name string) string {
		p := filepath.Join(dir, name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		return p
	}
	hostKey, userKey := keygen("host_key"), keygen("user_key")
	pub, _ := os.ReadFile(userKey + ".pub")
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	// The far side's PATH finds this berth (as "berth") and the docker CLI.
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(d.Bin, filepath.Join(bin, "berth")); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	cfg := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile %s
SetEnv PATH=%s:/usr/local/bin:/usr/bin:/bin BERTH_HOST=%s
`, port, hostKey, filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), bin, d.Host())), 0o600)
	// Debian's sshd wants its privilege separation directory, which only
	// its service would have made.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	srv := exec.Command(sshd, "-D", "-e", "-f", cfg)
	var srvLog strings.Builder
	srv.Stderr = &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	// An ssh on PATH that uses this test's key and trusts any host key.
	sshCfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(sshCfg, []byte(fmt.Sprintf("Host 127.0.0.1\n  IdentityFile %s\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n", userKey)), 0o600)
	wrap := filepath.Join(dir, "clientbin")
	os.MkdirAll(wrap, 0o755)
	os.WriteFile(filepath.Join(wrap, "ssh"), []byte("#!/bin/sh\nexec /usr/bin/ssh -F "+sshCfg+" \"$@\"\n"), 0o755)
	env := []string{"PATH=" + wrap + ":" + os.Getenv("PATH")}
	testutil.Eventually(t, 10*time.Second, "sshd to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	host := fmt.Sprintf("ssh://root@127.0.0.1:%d", port)
	res := testutil.Run(t, "", env, d.Bin, "-H", host, "run", "--rm", "busybox", "echo", "over ssh")
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "over ssh" {
		t.Fatalf("berth -H %s run: %s\nsshd: %s", host, res, srvLog.String())
	}
	// The docker CLI: its dial-stdio on the far side, to berth's socket.
	res = testutil.Run(t, "", env, "docker", "-H", host+d.Socket, "run", "--rm", "busybox", "echo", "docker over ssh")
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "docker over ssh" {
		t.Fatalf("docker -H %s%s run: %s\nsshd: %s", host, d.Socket, res, srvLog.String())
	}
}
