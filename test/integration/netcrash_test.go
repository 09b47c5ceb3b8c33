//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/berthproject/berth/internal/network/bridge"
	"github.com/berthproject/berth/internal/testutil"
)

// TestNetworkCrashLeavesNothing: the daemon killed (SIGKILL) at each step
// of attaching a container — endpoint recorded, namespace made, veth made
// — leaves nothing its next start does not clean: no veth, namespace
// file, endpoint, DNAT rule or DNS resolver, the address and the host
// port free again, the container not running.
func TestNetworkCrashLeavesNothing(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("network", "create", "--subnet", userSubnet(t, d, 0), "app")
	appBr := "br-" + d.Must("network", "inspect", "-f", "{{.Id}}", "app")[:12]
	port := testutil.FreePort(t)
	prerouting := func() int {
		c, err := nftables.New()
		if err != nil {
			t.Fatal(err)
		}
		tb := &nftables.Table{Name: "berth-" + d.Bridge, Family: nftables.TableFamilyIPv4}
		rules, _ := c.GetRules(tb, &nftables.Chain{Name: "prerouting", Table: tb})
		return len(rules)
	}
	for _, point := range []string{"network-recorded", "network-netns", "network-veth"} {
		for _, netw := range []string{"bridge", "app"} {
			name := strings.TrimPrefix(point, "network-") + "-" + netw
			d.Kill()
			d.Env = []string{"BERTH_CRASHPOINT=" + point}
			d.Start()
			if res := d.Berth("run", "-d", "--name", name, "--network", netw, "-p", "127.0.0.1:"+strconv.Itoa(port)+":80", "busybox", "sleep", "300"); res.Code == 0 {
				t.Fatalf("%s: run survived the crash point: %s", name, res)
			}
			d.Kill() // reaps it
			d.Env = nil
			d.Start()
			if got := d.Must("inspect", "-f", "{{.State.Running}}", name); got != "false" {
				t.Errorf("%s: running after the crash: %s", name, got)
			}
			for br, want := range map[string]int{d.Bridge: 0, appBr: 0} {
				if ports := settledPorts(t, br, want); len(ports) != want {
					t.Errorf("%s: veths on %s: %v", name, br, ports)
				}
			}
			if files, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(files) != 0 {
				t.Errorf("%s: namespace files left: %d", name, len(files))
			}
			for _, n := range []string{"bridge", "app"} {
				if got := d.Must("network", "inspect", "-f", "{{len .Containers}}", n); got != "0" {
					t.Errorf("%s: endpoints left on %s: %s", name, n, got)
				}
			}
			if n := prerouting(); n != 0 {
				t.Errorf("%s: DNAT rules left: %d", name, n)
			}
			if pid := d.Resolver(); pid != 0 {
				t.Errorf("%s: a DNS resolver runs for nobody (pid %d)", name, pid)
			}
			// The host port, and the address, are free again.
			d.Must("start", name)
			if got := d.Must("port", name, "80"); got != "127.0.0.1:"+strconv.Itoa(port) {
				t.Errorf("%s: port after restart: %q", name, got)
			}
			d.Must("rm", "-f", name)
		}
	}
}

// TestNetworkReconcile: what the kernel lost or gained while the daemon
// was down is set right at its start: its bridge deleted (the running
// containers' veths fall off it) and its nftables table deleted — the
// bridge is made again, the veths put back, the rules rewritten, so the
// published port and the containers answer again; a veth on the bridge
// that no record names is deleted.
func TestNetworkReconcile(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	port := testutil.FreePort(t)
	serve := "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"
	d.Must("run", "-d", "--name", "web", "-h", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox", "sh", "-c", serve)
	d.Must("run", "-d", "--name", "peer", "busybox", "sleep", "300")
	webIP := d.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")
	loop := fmt.Sprintf("127.0.0.1:%d", port)
	testutil.Eventually(t, 5*time.Second, "the published port to answer", func() bool {
		got, _ := httpGet(loop, "/index.html")
		return got == "hello-web"
	})

	d.Kill()
	if err := bridge.Delete(d.Bridge); err != nil {
		t.Fatal(err)
	}
	if err := bridge.DeleteTable("berth-" + d.Bridge); err != nil {
		t.Fatal(err)
	}
	if got, _ := httpGet(loop, "/index.html"); got == "hello-web" {
		t.Fatal("the port still answers without the bridge and rules")
	}
	d.Start()
	testutil.Eventually(t, 5*time.Second, "the published port to answer after the restart", func() bool {
		got, _ := httpGet(loop, "/index.html")
		return got == "hello-web"
	})
	if got := d.Must("exec", "peer", "ping", "-c1", "-W2", webIP); !strings.Contains(got, "1 packets received") {
		t.Errorf("peer reaching web after the restart: %q", got)
	}
	if ports := settledPorts(t, d.Bridge, 2); len(ports) != 2 {
		t.Errorf("the bridge's ports after the restart: %v", ports)
	}

	// A veth on the bridge that no record names.
	d.Kill()
	stray := fmt.Sprintf("veth%06x", os.Getpid()%0xffffff)
	if out, err := exec.Command("ip", "link", "add", stray, "type", "veth", "peer", "name", stray+"p").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = bridge.Delete(stray) })
	if out, err := exec.Command("ip", "link", "set", stray, "master", d.Bridge).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d.Start()
	if ports := settledPorts(t, d.Bridge, 2); len(ports) != 2 || slices.Contains(ports, stray) {
		t.Errorf("the bridge's ports after a restart with a stray veth: %v", ports)
	}
}
