//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/berthproject/berth/internal/network/bridge"

	"github.com/berthproject/berth/internal/testutil"
)

// bridgePorts are the veths attached to the bridge named br.
func bridgePorts(t *testing.T, br string) []string {
	t.Helper()
	if _, err := netlink.LinkByName(br); err != nil {
		t.Fatalf("bridge %s: %v", br, err)
	}
	ports, err := bridge.Ports(br)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// settledPorts waits for the bridge to have want veths (a released
// container's veth goes with its namespace, which the kernel tears down
// in its own time) and returns them.
func settledPorts(t *testing.T, br string, want int) []string {
	t.Helper()
	var ports []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ports = bridgePorts(t, br); len(ports) == want || time.Now().After(deadline) {
			return ports
		}
	}
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
	if ports := settledPorts(t, d.Bridge, 1); len(ports) != 1 {
		t.Fatalf("bridge ports with one container running: %v", ports)
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
	if ports := settledPorts(t, d.Bridge, 0); len(ports) != 0 {
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
	if ports := settledPorts(t, d.Bridge, 0); len(ports) != 0 {
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

// httpGet fetches path from addr with a plain HTTP/1.0 request over TCP
// (no proxy, no DNS), and returns the body's last line.
func httpGet(addr, path string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\n\r\n", path)
	b, err := io.ReadAll(c)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), err
}

// TestPublishedPorts: -p and -P publish through nftables DNAT: a port
// answers on the host's loopback, from another host (a namespace joined by
// a veth), from another container through the host's address (hairpin),
// and during and after a daemon killed with SIGKILL; a port already taken
// fails the start with Docker's words and leaves nothing; a removed
// container's port is free again.
func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	port := testutil.FreePort(t)
	serve := "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"
	d.Must("run", "-d", "--name", "web", "-h", "web", "-p", fmt.Sprintf("%d:80", port), "busybox", "sh", "-c", serve)
	if got := d.Must("port", "web"); got != fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port) {
		t.Fatalf("port: %q", got)
	}
	if got := d.Must("ps", "--format", "{{.Ports}}"); got != fmt.Sprintf("0.0.0.0:%d->80/tcp", port) {
		t.Fatalf("ps ports: %q", got)
	}
	loop := fmt.Sprintf("127.0.0.1:%d", port)
	testutil.Eventually(t, 5*time.Second, "the published port to answer on loopback", func() bool {
		got, _ := httpGet(loop, "/index.html")
		return got == "hello-web"
	})

	// From another host: a namespace joined to the host by a veth.
	outside := "bp" + d.Bridge[2:]
	outAddr := outsideHost(t, outside, strings.Replace(d.Subnet, "10.2", "10.1", 1))
	hostAddr := strings.TrimSuffix(outAddr, "2") + "1" // the host's end of that veth
	fetch := fmt.Sprintf("echo 'GET /index.html HTTP/1.0' | busybox nc -w 3 %s %d | tail -1", hostAddr, port)
	if out, err := exec.Command("ip", "netns", "exec", outside, "sh", "-c", fetch).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "hello-web" {
		t.Fatalf("from another host to %s:%d: %v %q", hostAddr, port, err, out)
	}
	// From another container, and from the container itself, through the
	// host's address (hairpin).
	ncGet := fmt.Sprintf("echo 'GET /index.html HTTP/1.0' | nc -w 3 %s %d | tail -1", hostAddr, port)
	if got := d.Must("run", "--rm", "busybox", "sh", "-c", ncGet); got != "hello-web" {
		t.Fatalf("another container through the host's address: %q", got)
	}
	if got := d.Must("exec", "web", "sh", "-c", ncGet); got != "hello-web" {
		t.Fatalf("the container to itself through the host's address: %q", got)
	}

	// Taken ports: by berth, by another process. Nothing is left of the
	// container that could not start.
	netnsBefore, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns"))
	res := d.Berth("run", "-d", "--name", "clash", "-p", fmt.Sprintf("%d:80", port), "busybox", "sleep", "100")
	if res.Code != 125 || !strings.Contains(res.Stderr, fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", port)) {
		t.Fatalf("a port berth published already: %s", res)
	}
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other := l.Addr().(*net.TCPAddr).Port
	res = d.Berth("run", "-d", "-p", fmt.Sprintf("%d:80", other), "busybox", "sleep", "100")
	if res.Code != 125 || !strings.Contains(res.Stderr, fmt.Sprintf("Bind for 0.0.0.0:%d failed", other)) || !strings.Contains(res.Stderr, "address already in use") {
		t.Fatalf("a port another process holds: %s", res)
	}
	if netnsAfter, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(netnsAfter) != len(netnsBefore) || len(settledPorts(t, d.Bridge, 1)) != 1 {
		t.Fatalf("failed starts left namespaces %v or veths %v", netnsAfter, bridgePorts(t, d.Bridge))
	}
	if got, _ := httpGet(loop, "/index.html"); got != "hello-web" {
		t.Fatalf("the first container's port after the failed ones: %q", got)
	}

	// -P: every exposed port on an ephemeral port.
	d.Must("run", "-d", "--name", "all", "-h", "all", "-P", "--expose", "80", "--expose", "81", "busybox", "sh", "-c", serve)
	lo, hi := ephemeralRange(t)
	for _, p := range []string{"80/tcp", "81/tcp"} {
		hp := d.Must("inspect", "-f", fmt.Sprintf(`{{(index (index .NetworkSettings.Ports "%s") 0).HostPort}}`, p), "all")
		if n := atoi(t, hp); n < lo || n > hi {
			t.Fatalf("-P gave %s host port %d, outside %d-%d", p, n, lo, hi)
		}
	}
	allPort := d.Must("inspect", "-f", `{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, "all")
	testutil.Eventually(t, 5*time.Second, "the -P port to answer", func() bool {
		got, _ := httpGet("127.0.0.1:"+allPort, "/index.html")
		return got == "hello-all"
	})

	// A daemon killed with SIGKILL: the port keeps answering while it is
	// down and after it is back.
	d.Kill()
	if got, _ := httpGet(loop, "/index.html"); got != "hello-web" {
		t.Fatalf("while the daemon is down: %q", got)
	}
	d.Start()
	if got, _ := httpGet(loop, "/index.html"); got != "hello-web" {
		t.Fatalf("after the daemon restarted: %q", got)
	}

	// Removed: the port no longer answers, and is free for the next.
	d.Must("rm", "-f", "web")
	if _, err := httpGet(loop, "/index.html"); err == nil {
		t.Fatal("the removed container's port still answers")
	}
	d.Must("run", "-d", "--name", "next", "-h", "next", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox", "sh", "-c", serve)
	testutil.Eventually(t, 5*time.Second, "the freed port to answer for the next container", func() bool {
		got, _ := httpGet(loop, "/index.html")
		return got == "hello-next"
	})
	// Bad specifications and modes that publish nothing are refused.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "99999:80"}, "invalid"},
		{[]string{"-p", "a:b"}, "invalid"},
		{[]string{"--network", "host", "-p", "8080:80"}, "publish on the default bridge only"},
		{[]string{"--network", "none", "-p", "8080:80"}, "publish on the default bridge only"},
	} {
		res := d.Berth(append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("run %v: %s, want %q", tc.args, res, tc.want)
		}
	}
}

func ephemeralRange(t *testing.T) (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return atoi(t, f[0]), atoi(t, f[1])
}

// TestNetworkContainerMode: --network container:NAME shares that
// container's network (address, hosts, resolv.conf, hostname), refuses
// what that container decides, and needs it running.
func TestNetworkContainerMode(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t, "--ip", "127.0.0.1")
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "web", "-h", "webhost", "-p", "80", "busybox", "sleep", "300")
	ip := d.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")
	if got := d.Must("run", "--rm", "--network", "container:web", "busybox", "sh", "-c", "hostname; ip -o -4 addr show eth0 | awk '{print $4}'; grep -c webhost /etc/hosts"); got != "webhost\n"+ip+"/24\n1" {
		t.Fatalf("--network container:web: %q", got)
	}
	// The daemon's --ip is where -p without an address publishes.
	if got := d.Must("port", "web", "80"); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("-p 80 with the daemon's --ip 127.0.0.1: %q", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "8080:80"}, "conflicting options: port publishing and the container type network mode"},
		{[]string{"-h", "other"}, "conflicting options: hostname and the network mode"},
		{[]string{"--dns", "192.0.2.1"}, "conflicting options: dns and the network mode"},
	} {
		res := d.Berth(append(append([]string{"run", "--rm", "--network", "container:web"}, tc.args...), "busybox", "true")...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("%v: %s, want %q", tc.args, res, tc.want)
		}
	}
	d.Must("stop", "-t", "0", "web")
	if res := d.Berth("run", "--rm", "--network", "container:web", "busybox", "true"); res.Code == 0 || !strings.Contains(res.Stderr, "cannot join network of a non running container") {
		t.Fatalf("joining a stopped container's network: %s", res)
	}
}

// natRules counts the rules in the chains of the daemon's nftables table.
func natRules(t *testing.T, table string) int {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tb := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	n := 0
	for _, ch := range []string{"prerouting", "output"} {
		rs, err := c.GetRules(tb, &nftables.Chain{Name: ch, Table: tb})
		if err != nil {
			t.Fatalf("rules of %s/%s: %v", table, ch, err)
		}
		n += len(rs)
	}
	return n
}

// TestPublishedCyclesLeaveNothing: many run --rm -p cycles leave no veth,
// namespace or DNAT rule (BERTH_NET_CYCLES, default 20; the bench's
// figure is 1000).
func TestPublishedCyclesLeaveNothing(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	cycles := 20
	if n, err := strconv.Atoi(os.Getenv("BERTH_NET_CYCLES")); err == nil {
		cycles = n
	}
	table := "berth-" + d.Bridge
	if n := natRules(t, table); n != 0 {
		t.Fatalf("%d DNAT rules before any container", n)
	}
	d.Must("run", "-d", "--name", "kept", "-p", "80", "busybox", "sleep", "300")
	if n := natRules(t, table); n != 2 { // prerouting and output
		t.Fatalf("%d DNAT rules with one published port, want 2", n)
	}
	for i := 0; i < cycles; i++ {
		d.Must("run", "--rm", "-p", "0:80", "-p", "0:81/udp", "busybox", "true")
	}
	if ports := settledPorts(t, d.Bridge, 1); len(ports) != 1 {
		t.Fatalf("veths on the bridge after %d cycles: %v, want only the kept container's", cycles, ports)
	}
	if ns, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(ns) != 1 {
		t.Fatalf("network namespaces after %d cycles: %d, want 1", cycles, len(ns))
	}
	if n := natRules(t, table); n != 2 {
		t.Fatalf("%d DNAT rules after %d cycles, want the kept container's 2", n, cycles)
	}
	d.Must("rm", "-f", "kept")
	if n := natRules(t, table); n != 0 {
		t.Fatalf("%d DNAT rules after every container is gone", n)
	}
}

// TestLegacyLinks: --link NAME[:ALIAS] on the default bridge gives the
// linked container's address in /etc/hosts and Docker's variables, shows
// in inspect as Docker records it, and needs the linked container running.
func TestLegacyLinks(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	d.Must("run", "-d", "--name", "db", "-h", "dbhost", "--expose", "5432", "-e", "DB_USER=shop", "busybox", "sleep", "300")
	ip := d.Must("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db")
	d.Must("run", "-d", "--name", "app", "--link", "db:data", "busybox", "sleep", "300")
	if got := d.Must("inspect", "-f", "{{json .HostConfig.Links}}", "app"); got != `["/db:/app/data"]` {
		t.Fatalf("inspect's links: %s", got)
	}
	env := d.Must("exec", "app", "env")
	for _, want := range []string{
		"DATA_NAME=/app/data", "DATA_PORT=tcp://" + ip + ":5432", "DATA_PORT_5432_TCP=tcp://" + ip + ":5432",
		"DATA_PORT_5432_TCP_ADDR=" + ip, "DATA_PORT_5432_TCP_PORT=5432", "DATA_PORT_5432_TCP_PROTO=tcp", "DATA_ENV_DB_USER=shop",
	} {
		if !strings.Contains("\n"+env+"\n", "\n"+want+"\n") {
			t.Errorf("link variable %s missing:\n%s", want, env)
		}
	}
	if got := d.Must("exec", "app", "grep", "data", "/etc/hosts"); got != ip+"\tdata dbhost db" {
		t.Fatalf("/etc/hosts line of the link: %q", got)
	}
	if got := d.Must("exec", "app", "sh", "-c", "ping -c1 -W2 data | head -1"); !strings.Contains(got, ip) {
		t.Fatalf("ping by the link's alias: %q", got)
	}
	d.Must("stop", "-t", "0", "app")
	d.Must("stop", "-t", "0", "db")
	if res := d.Berth("start", "app"); res.Code == 0 || !strings.Contains(res.Stderr, "Cannot link to a non running container: /db AS /app/data") {
		t.Fatalf("start with its linked container stopped: %s", res)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--link", "nope"}, "could not get container for nope"},
		{[]string{"--network", "host", "--link", "db"}, "conflicting options: host type networking can't be used with links"},
	} {
		res := d.Berth(append(append([]string{"create"}, tc.args...), "busybox", "true")...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("create %v: %s, want %q", tc.args, res, tc.want)
		}
	}
}

// userSubnet is a /24 for the k-th user network of a test daemon, apart
// from its bridge's, its outside hosts' and other daemons'.
func userSubnet(t *testing.T, d *testutil.Daemon, k int) string {
	var a, b int
	if _, err := fmt.Sscanf(d.Subnet, "10.%d.%d.0/24", &a, &b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("10.%d.%d.0/24", a-150-30*k, b)
}

// TestUserNetworks: network create/ls/inspect/rm as Docker; containers on
// one network reach each other and the outside, not another network's;
// an internal network reaches nothing outside; a network in use cannot
// be removed; bad requests are refused with Docker's errors.
func TestUserNetworks(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	front, back, closed := userSubnet(t, d, 0), userSubnet(t, d, 1), userSubnet(t, d, 2)
	frontID := d.Must("network", "create", "--subnet", front, "--label", "tier=front", "front")
	d.Must("network", "create", "--subnet", back, "back")
	d.Must("network", "create", "--subnet", closed, "--internal", "closed")
	gw := strings.TrimSuffix(front, "0/24") + "1"
	if got := d.Must("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{.Labels.tier}}", "front"); got != "front bridge "+front+" "+gw+" front" {
		t.Fatalf("network inspect: %q", got)
	}
	if got := strings.Fields(d.Must("network", "ls", "--format", "{{.Name}}")); strings.Join(got, " ") != "bridge host none back closed front" {
		t.Fatalf("network ls: %v", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"front"}, "network with name front already exists"},
		{[]string{"--subnet", strings.TrimSuffix(front, "0/24") + "128/25", "overlap"}, "Pool overlaps with other one on this address space"},
		{[]string{"--subnet", "10.0.0.300/24", "bad"}, "invalid CIDR address: 10.0.0.300/24"},
		{[]string{"--subnet", "198.51.100.0/24", "--gateway", "203.0.113.1", "gw"}, "no matching subnet for gateway 203.0.113.1"},
		{[]string{"-d", "overlay", "ov"}, `network driver "overlay" is not supported yet`},
	} {
		res := d.Berth(append([]string{"network", "create"}, tc.args...)...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("network create %v: %s, want %q", tc.args, res, tc.want)
		}
	}

	d.Must("run", "-d", "--name", "web", "--network", "front", "busybox", "sleep", "300")
	ip := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}}", "web")
	_, fnet, _ := net.ParseCIDR(front)
	if !fnet.Contains(net.ParseIP(ip)) {
		t.Fatalf("web's address %q not in %s", ip, front)
	}
	if got := d.Must("network", "inspect", "-f", "{{range .Containers}}{{.IPv4Address}}{{end}}", frontID); got != ip+"/24" {
		t.Fatalf("network inspect's containers: %q", got)
	}
	ping := func(netName, target string) bool {
		return d.Berth("run", "--rm", "--network", netName, "busybox", "ping", "-c", "1", "-W", "1", target).Code == 0
	}
	if !ping("front", ip) {
		t.Fatal("a container on the same network cannot reach web")
	}
	if ping("back", ip) {
		t.Fatal("a container on another network reaches web")
	}
	if ping("bridge", ip) {
		t.Fatal("a container on the default bridge reaches web")
	}
	outside := outsideHost(t, "bu"+d.Bridge[2:], strings.Replace(d.Subnet, "10.2", "10.1", 1))
	if !ping("front", outside) {
		t.Fatal("a container on a user network cannot reach outside")
	}
	if ping("closed", outside) {
		t.Fatal("a container on an internal network reaches outside")
	}

	res := d.Berth("network", "rm", "front")
	if res.Code == 0 || !strings.Contains(res.Stderr, "has active endpoints") {
		t.Fatalf("rm of a network in use: %s", res)
	}
	if res := d.Berth("network", "rm", "bridge"); res.Code == 0 || !strings.Contains(res.Stderr, "bridge is a pre-defined network and cannot be removed") {
		t.Fatalf("rm of the default bridge: %s", res)
	}
	// The networks outlive the daemon.
	d.Kill()
	d.Start()
	if !ping("front", ip) {
		t.Fatal("after a daemon restart, a container on the network cannot reach web")
	}
	d.Must("rm", "-f", "web")
	brName := "br-" + frontID[:12]
	d.Must("network", "rm", "front")
	if _, err := netlink.LinkByName(brName); err == nil {
		t.Fatalf("bridge %s left after network rm", brName)
	}
	if got := d.Must("network", "prune", "-f"); !strings.Contains(got, "back") || !strings.Contains(got, "closed") {
		t.Fatalf("network prune: %q", got)
	}
	if got := d.Must("network", "ls", "-q"); len(strings.Fields(got)) != 3 {
		t.Fatalf("networks left after prune: %q", got)
	}
}

// TestStaticAddresses: --ip on a user-defined network and --mac-address
// (through the docker CLI, which sends them in NetworkingConfig), kept
// across a stop and start; Docker's errors for what cannot be.
func TestStaticAddresses(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	subnet := userSubnet(t, d, 0)
	d.Must("network", "create", "--subnet", subnet, "fixed")
	ip := strings.TrimSuffix(subnet, "0/24") + "42"
	if res := docker("run", "-d", "--name", "pinned", "--network", "fixed", "--ip", ip, "--mac-address", "02:42:de:ad:be:ef", "busybox", "sleep", "300"); res.Code != 0 {
		t.Fatalf("docker run --ip --mac-address: %s", res)
	}
	want := ip + "/24 02:42:de:ad:be:ef"
	inside := func() string {
		return d.Must("exec", "pinned", "sh", "-c", "echo $(ip -o -4 addr show eth0 | awk '{print $4}') $(cat /sys/class/net/eth0/address)")
	}
	if got := inside(); got != want {
		t.Fatalf("inside: %q, want %q", got, want)
	}
	d.Must("stop", "-t", "0", "pinned")
	if got := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.fixed.IPAMConfig.IPv4Address}}", "pinned"); got != ip {
		t.Fatalf("a stopped container's --ip: %q", got)
	}
	d.Must("start", "pinned")
	if got := inside(); got != want {
		t.Fatalf("after stop and start: %q, want %q", got, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "fixed", "--ip", ip}, "Address already in use"},
		{[]string{"--network", "fixed", "--ip", "192.0.2.9"}, "does not belong to any of this network's subnets"},
		{[]string{"--ip", ip}, "user specified IP address is supported on user defined networks only"},
		{[]string{"--network", "host", "--mac-address", "02:42:de:ad:be:ef"}, "conflicting options: mac-address and the network mode"},
	} {
		res := docker(append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")...)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("docker run %v: %s, want %q", tc.args, res, tc.want)
		}
	}
}

// TestAddressRanges: the daemon's --fixed-cidr (the default bridge's
// containers get addresses from that part of its subnet) and
// --default-address-pool (new networks get their subnets from it), and
// network create --ip-range; what is not a range of the subnet is refused.
func TestAddressRanges(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	bridgeNet := strings.TrimSuffix(d.Subnet, "0/24")
	poolBase := userSubnet(t, d, 2)
	poolNet := strings.TrimSuffix(poolBase, "0/24")
	d.Kill()
	d.SetFlags("--fixed-cidr", bridgeNet+"128/25", "--default-address-pool", "base="+poolBase+",size=28")
	d.Start()
	if got := d.Must("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'"); got != bridgeNet+"128/24" {
		t.Errorf("a container's address with --fixed-cidr %s128/25: %q", bridgeNet, got)
	}
	if got := d.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).IPRange}}", "bridge"); got != bridgeNet+"128/25" {
		t.Errorf("the default bridge's IPRange: %q", got)
	}
	d.Must("network", "create", "pooled1")
	d.Must("network", "create", "pooled2")
	for name, want := range map[string]string{"pooled1": poolNet + "0/28", "pooled2": poolNet + "16/28"} {
		if got := d.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name); got != want {
			t.Errorf("%s's subnet from --default-address-pool: %q, want %s", name, got, want)
		}
	}
	sub := userSubnet(t, d, 0)
	subNet := strings.TrimSuffix(sub, "0/24")
	d.Must("network", "create", "--subnet", sub, "--ip-range", subNet+"64/26", "ranged")
	if got := d.Must("run", "--rm", "--network", "ranged", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'"); got != subNet+"64/24" {
		t.Errorf("a container's address with --ip-range %s64/26: %q", subNet, got)
	}
	if got := d.Must("run", "--rm", "--network", "ranged", "--ip", subNet+"9", "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'"); got != subNet+"9/24" {
		t.Errorf("--ip outside the range but in the subnet: %q", got)
	}
	if res := d.Berth("network", "create", "--subnet", userSubnet(t, d, 1), "--ip-range", "192.0.2.0/28", "bad"); res.Code == 0 || !strings.Contains(res.Stderr, "no matching subnet for range 192.0.2.0/28") {
		t.Errorf("an --ip-range outside the subnet (the CLI's check): %s", res)
	}
	// The daemon's own check, for clients that do not pair them.
	cl, err := client.NewClientWithOpts(client.WithHost(d.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.NetworkCreate(context.Background(), "bad", network.CreateOptions{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: userSubnet(t, d, 1), IPRange: "192.0.2.0/28"}}}})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "is not inside the subnet") {
		t.Errorf("an IPRange outside the subnet through the API: %v", err)
	}
	// A daemon whose --fixed-cidr is not in its bridge's subnet does not start.
	d.Kill()
	d.SetFlags("--fixed-cidr", "192.0.2.0/28")
	out, err := exec.Command(d.Bin, "daemon", "--data-root", d.DataRoot, "--exec-root", d.ExecRoot, "-H", d.Host(),
		"--bridge", d.Bridge, "--bip", bridgeNet+"1/24", "--fixed-cidr", "192.0.2.0/28").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "invalid --fixed-cidr") {
		t.Errorf("a daemon with --fixed-cidr outside its subnet: %v\n%s", err, out)
	}
	d.SetFlags()
	d.Start()
}

// TestAddHost: --add-host NAME:IP and NAME:host-gateway (the default
// bridge's gateway, an address of the host the container reaches) in
// /etc/hosts, with host networking too; a bad address is refused.
func TestAddHost(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	gw := strings.TrimSuffix(d.Subnet, "0/24") + "1"
	hosts := d.Must("run", "--rm", "--add-host", "gw:host-gateway", "--add-host", "db=192.0.2.5", "--add-host", "v6:fd00::5", "busybox", "cat", "/etc/hosts")
	for _, want := range []string{gw + "\tgw\n", "192.0.2.5\tdb\n", "fd00::5\tv6\n"} {
		if !strings.Contains(hosts+"\n", want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	if got := d.Must("run", "--rm", "--add-host", "gw:host-gateway", "busybox", "ping", "-c1", "-W2", "gw"); !strings.Contains(got, gw) {
		t.Errorf("pinging host-gateway: %q", got)
	}
	if hosts := d.Must("run", "--rm", "--network", "host", "--add-host", "db:192.0.2.5", "busybox", "cat", "/etc/hosts"); !strings.Contains(hosts, "192.0.2.5\tdb") {
		t.Errorf("--add-host with host networking:\n%s", hosts)
	}
	for _, tc := range []struct{ arg, want string }{
		{"db:nope", `invalid IP address in add-host: "nope"`},
		{"db", `invalid extra host "db": want NAME:IP`},
	} {
		if res := d.Berth("run", "--rm", "--add-host", tc.arg, "busybox", "true"); res.Code != 125 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("--add-host %s: %s, want %q", tc.arg, res, tc.want)
		}
	}
}

// needDocker is the docker CLI's path; the test is skipped without it.
func needDocker(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("the docker CLI is not installed")
	}
	return bin
}

// dockerCLI runs the docker CLI (bin) against d, with a configuration of
// its own.
func dockerCLI(t *testing.T, d *testutil.Daemon, bin string) func(args ...string) testutil.Result {
	env := []string{"DOCKER_HOST=" + d.Host(), "DOCKER_CONFIG=" + t.TempDir()}
	return func(args ...string) testutil.Result { return testutil.Run(t, "", env, bin, args...) }
}

// dockerMust runs docker (a dockerCLI) and fails the test unless it
// succeeds; it returns the trimmed output.
func dockerMust(t *testing.T, docker func(args ...string) testutil.Result) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		res := docker(args...)
		if res.Code != 0 {
			t.Fatalf("docker %v: %s", args, res)
		}
		return strings.TrimSpace(res.Stdout)
	}
}
