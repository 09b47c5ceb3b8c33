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
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test registry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestRegistryServesTLS: `registry serve --tls-cert/--tls-key` speaks
// HTTPS only, with the given certificate; berth pushes to and pulls from
// it (a loopback registry is insecure, so its self-signed certificate is
// accepted without verification, as Docker does).
func TestRegistryServesTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	reg := testutil.StartRegistry(t, "--tls-cert", certFile, "--tls-key", keyFile)

	verified := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := verified.Get("https://" + reg.Addr + "/v2/")
	if err != nil {
		t.Fatalf("HTTPS with the registry's certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ over HTTPS: %s", resp.Status)
	}
	if resp, err := http.Get("http://" + reg.Addr + "/v2/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
	if _, err := http.Get("https://" + reg.Addr + "/v2/"); err == nil {
		t.Fatal("a client without the certificate accepted it")
	}

	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	ref := reg.Addr + "/tls/bb:1"
	d.Must("tag", "busybox", ref)
	if res := d.Berth("push", ref); res.Code != 0 || !strings.Contains(res.Stdout, "digest: sha256:") {
		t.Fatalf("push over TLS: %s", res)
	}
	d.Must("rmi", ref, "busybox")
	if res := d.Berth("pull", ref); res.Code != 0 {
		t.Fatalf("pull over TLS: %s", res)
	}
	if out := d.Must("run", "--rm", ref, "echo", "over tls"); out != "over tls" {
		t.Fatalf("run: %q", out)
	}
}

// TestRegistryMirror: a daemon with --registry-mirror pulls a Docker Hub
// name from the mirror (this machine has no Docker Hub) and tags it with
// the Hub name.
func TestRegistryMirror(t *testing.T) {
	mirror := testutil.StartRegistry(t)
	d := testutil.StartDaemon(t, "--registry-mirror", "http://"+mirror.Addr)
	d.LoadBusybox()
	id := d.Must("image", "inspect", "-f", "{{.Id}}", "busybox")
	d.Must("tag", "busybox", mirror.Addr+"/library/mirrored:1")
	d.Must("push", mirror.Addr+"/library/mirrored:1")
	d.Must("rmi", mirror.Addr+"/library/mirrored:1", "busybox")
	if res := d.Berth("pull", "mirrored:1"); res.Code != 0 || !strings.Contains(res.Stdout, "Downloaded newer image for mirrored:1") {
		t.Fatalf("pull through the mirror: %s", res)
	}
	if got := d.Must("image", "inspect", "-f", "{{.Id}} {{index .RepoTags 0}}", "mirrored:1"); got != id+" mirrored:1" {
		t.Fatalf("pulled %q, want %q", got, id+" mirrored:1")
	}
	if res := d.Berth("pull", "notonmirror:1"); res.Code == 0 {
		t.Fatalf("a name the mirror lacks (and Docker Hub is unreachable) pulled: %s", res)
	}
}
