//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/nftables"

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
