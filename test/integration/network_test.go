//go:build integration

package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/berthproject/berth/internal/testutil"
)

// bridgePorts are the veths attached to the bridge named br.
func bridgePorts(t *testing.T, br string) []string {
	t.Helper()
	l, err := netlink.LinkByName(br)
	if err != nil {
		t.Fatalf("bridge %s: %v", br, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range links {
		if x.Attrs().MasterIndex == l.Attrs().Index {
			out = append(out, x.Attrs().Name)
		}
	}
	return out
}

// outsideHost makes a namespace joined to the host by a veth (10.x.y.1 on
// the host, .2 inside) with no route back to the containers' subnet: a
// container reaches it only if its traffic is masqueraded as the host's.
func outsideHost(t *testing.T, name, subnet string) (addr string) {
	t.Helper()
	prefix := strings.TrimSuffix(subnet, "0/24")
	hostEnd, nsEnd := name+"h", name+"n"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		_ = exec.Command("ip", "link", "del", hostEnd).Run()
	})
	run("netns", "add", name)
	run("link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd)
	run("link", "set", nsEnd, "netns", name)
	run("addr", "add", prefix+"1/24", "dev", hostEnd)
	run("link", "set", hostEnd, "up")
	run("netns", "exec", name, "ip", "addr", "add", prefix+"2/24", "dev", nsEnd)
	run("netns", "exec", name, "ip", "link", "set", nsEnd, "up")
	return prefix + "2"
}

// TestDefaultBridge: a container of the default network gets an address
// of the daemon's bridge subnet with Docker's MAC, a default route, its
// name in /etc/hosts; containers reach each other; traffic out is
// masqueraded; inspect shows it as docker-py and compose read it; a stop
// and a removal leave no namespace, veth or address behind; a running
// container keeps its network across a daemon killed with SIGKILL.
func TestDefaultBridge(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	_, subnet, _ := net.ParseCIDR(d.Subnet)
	gw := strings.TrimSuffix(d.Subnet, "0/24") + "1"

	d.Must("run", "-d", "--name", "web", "-h", "webhost", "busybox", "sleep", "300")
	ip := d.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")
	if !subnet.Contains(net.ParseIP(ip)) {
		t.Fatalf("address %q not in the bridge's subnet %s", ip, d.Subnet)
	}
	v4 := net.ParseIP(ip).To4()
	wantMAC := fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", v4[0], v4[1], v4[2], v4[3])
	if got := d.Must("inspect", "-f", "{{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}}", "web"); got != gw+" "+wantMAC+" 24 "+ip+" "+gw {
		t.Fatalf("inspect's network settings: %q", got)
	}
	inside := d.Must("exec", "web", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'; ip route | awk '/default/ {print $3}'; cat /sys/class/net/eth0/address; grep webhost /etc/hosts")
	if want := ip + "/24\n" + gw + "\n" + wantMAC + "\n" + ip + "\twebhost"; inside != want {
		t.Fatalf("inside the container:\n%s\nwant:\n%s", inside, want)
	}
	if got := d.Must("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", ip); !strings.Contains(got, "1 packets received") {
		t.Fatalf("container to container: %s", got)
	}
	out := outsideHost(t, "bo"+d.Bridge[2:], strings.Replace(d.Subnet, "10.2", "10.1", 1))
	if got := d.Must("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", out); !strings.Contains(got, "1 packets received") {
		t.Fatalf("container to a host outside (masqueraded): %s", got)
	}
	if len(bridgePorts(t, d.Bridge)) != 1 {
		t.Fatalf("bridge ports with one container running: %v", bridgePorts(t, d.Bridge))
	}

	// A daemon killed with SIGKILL: the container keeps its address and
	// stays reachable; the new daemon knows its network.
	d.Kill()
	d.Start()
	if got := d.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"); got != ip {
		t.Fatalf("address after a daemon restart: %q, want %q", got, ip)
	}
	if got := d.Must("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", ip); !strings.Contains(got, "1 packets received") {
		t.Fatalf("reaching the container after a daemon restart: %s", got)
	}
	other := d.Must("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'")
	if strings.HasPrefix(other, ip+"/") {
		t.Fatalf("a new container got the running one's address %s", ip)
	}

	// Stop: the namespace, veth and address go; inspect keeps the network.
	d.Must("stop", "-t", "0", "web")
	if got := d.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}|{{.NetworkSettings.Networks.bridge.IPAddress}}|{{.NetworkSettings.SandboxKey}}", "web"); got != "||" {
		t.Fatalf("a stopped container's network settings: %q", got)
	}
	if ports := bridgePorts(t, d.Bridge); len(ports) != 0 {
		t.Fatalf("veths left on the bridge after the stop: %v", ports)
	}
	if ns, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(ns) != 0 {
		t.Fatalf("network namespaces left after the stop: %v", ns)
	}
	d.Must("start", "web")
	if got := d.Must("exec", "web", "ip", "-o", "-4", "addr", "show", "eth0"); !strings.Contains(got, strings.TrimSuffix(d.Subnet, "0/24")) {
		t.Fatalf("after a start again: %q", got)
	}
	d.Must("rm", "-f", "web")

	// Many short-lived containers leave nothing.
	for i := 0; i < 10; i++ {
		d.Must("run", "--rm", "busybox", "true")
	}
	if ports := bridgePorts(t, d.Bridge); len(ports) != 0 {
		t.Fatalf("veths left on the bridge: %v", ports)
	}
	if ns, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(ns) != 0 {
		t.Fatalf("network namespaces left: %v", ns)
	}
	// --network none and host stay what they were.
	if got := d.Must("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"); got != "lo" {
		t.Fatalf("--network none: %q", got)
	}
}
