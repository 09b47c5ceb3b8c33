//go:build integration

package integration

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// TestInterruptedPullLeavesNoImageAndResumes: a pull of a two-layer image
// whose second layer stalls half-way is cut by killing the daemon. The
// restarted daemon shows no image and no half-unpacked layer, and keeps
// the first layer; the next pull does not fetch that layer again ("Already
// exists"), fetches the second, and the image runs.
func TestInterruptedPullLeavesNoImageAndResumes(t *testing.T) {
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	base, err := os.ReadFile(filepath.Join(d.Root, "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<20) // incompressible, so the blob is big enough to stall inside
	rand.New(rand.NewSource(1)).Read(big)
	l2 := layerTar(t, []file{{name: "big", body: string(big), typ: tar.TypeReg}})
	d.Must("load", "-i", dockerArchive(t, base, [][]byte{l2}, "two:1"))
	reg := testutil.StartRegistry(t)
	d.Must("tag", "two:1", reg.Addr+"/ip/two:1")
	d.Must("push", reg.Addr+"/ip/two:1")
	d.Must("rmi", "two:1", reg.Addr+"/ip/two:1", "busybox")

	// The layers, as the registry has them.
	req, _ := http.NewRequest("GET", "http://"+reg.Addr+"/v2/ip/two/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var mf struct{ Layers []struct{ Digest string } }
	json.NewDecoder(resp.Body).Decode(&mf)
	resp.Body.Close()
	if len(mf.Layers) != 2 {
		t.Fatalf("manifest has %d layers, want 2", len(mf.Layers))
	}
	first, second := mf.Layers[0].Digest, mf.Layers[1].Digest

	// A proxy in front of the registry that counts blob fetches and, while
	// stall is set, sends half of the second layer and then hangs.
	var mu sync.Mutex
	fetched := map[string]int{}
	stall := true
	stalled := make(chan struct{}, 1)
	release := make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := forward(w, r, reg.Addr)
		if resp == nil {
			return
		}
		defer resp.Body.Close()
		blob := r.Method == "GET" && strings.Contains(r.URL.Path, "/blobs/")
		mu.Lock()
		if blob {
			fetched[filepath.Base(r.URL.Path)]++
		}
		hang := blob && stall && strings.HasSuffix(r.URL.Path, "/"+second)
		mu.Unlock()
		w.WriteHeader(resp.StatusCode)
		if !hang {
			io.Copy(w, resp.Body)
			return
		}
		io.CopyN(w, resp.Body, resp.ContentLength/2)
		w.(http.Flusher).Flush()
		select {
		case stalled <- struct{}{}:
		default:
		}
		<-release
	}))
	defer proxy.Close()
	defer close(release) // before Close, which waits for the hanging handler
	ref := strings.TrimPrefix(proxy.URL, "http://") + "/ip/two:1"

	pull := exec.Command(d.Bin, "-H", d.Host(), "pull", ref)
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { pull.Wait(); close(done) }()
	defer func() {
		pull.Process.Kill()
		<-done
	}()
	select {
	case <-stalled:
	case <-done:
		t.Fatalf("pull ended before the second layer stalled: %v", pull.ProcessState)
	case <-time.After(30 * time.Second):
		t.Fatal("the second layer was never requested")
	}
	// The first layer is unpacked while the second hangs.
	sum := sha256.Sum256(base)
	firstLayer := filepath.Join(d.DataRoot, "layers", hex.EncodeToString(sum[:]))
	testutil.Eventually(t, 20*time.Second, "first layer unpacked", func() bool { return fileExists(filepath.Join(firstLayer, "link")) })

	d.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the pull command did not end when the daemon died")
	}
	d.Start()
	if out := d.Must("images", "-a", "-q"); out != "" {
		t.Fatalf("an interrupted pull left an image: %q", out)
	}
	if !fileExists(filepath.Join(firstLayer, "link")) {
		t.Fatal("the restarted daemon dropped the complete first layer")
	}
	leftovers, _ := filepath.Glob(filepath.Join(d.DataRoot, "layers", "tmp-*"))
	if len(leftovers) != 0 {
		t.Fatalf("half-unpacked layers left: %v", leftovers)
	}

	mu.Lock()
	stall = false
	mu.Unlock()
	res := d.Berth("pull", ref)
	if res.Code != 0 {
		t.Fatalf("second pull: %s", res)
	}
	if !strings.Contains(res.Stdout, first[7:19]+": Already exists") {
		t.Fatalf("second pull did not reuse the first layer:\n%s", res.Stdout)
	}
	mu.Lock()
	n1, n2 := fetched[first], fetched[second]
	mu.Unlock()
	if n1 != 1 || n2 != 2 {
		t.Fatalf("blob fetches: first layer %d (want 1), second %d (want 2)", n1, n2)
	}
	if out := d.Must("run", "--rm", ref, "sh", "-c", "wc -c < /big"); strings.TrimSpace(out) != "4194304" {
		t.Fatalf("run of the pulled image: %q", out)
	}
}
