//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestNetworkConnect: a running container joins a second network (an
// interface of its own, its names and aliases in that network's DNS, no
// second default route) and leaves it; a stopped one is connected at its
// next starts; the docker CLI's `run --network a --network b` makes a
// container on both; Docker's errors for what cannot be; nothing is left
// on either bridge after.
func TestNetworkConnect(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	d.Must("network", "create", "--subnet", userSubnet(t, d, 0), "front")
	d.Must("network", "create", "--subnet", userSubnet(t, d, 1), "back")
	frontBr := "br-" + d.Must("network", "inspect", "-f", "{{.Id}}", "front")[:12]
	backBr := "br-" + d.Must("network", "inspect", "-f", "{{.Id}}", "back")[:12]
	d.Must("run", "-d", "--name", "web", "--network", "front", "busybox", "sleep", "300")
	d.Must("run", "-d", "--name", "db", "--network", "back", "busybox", "sleep", "300")
	dbIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "db")
	if res := d.Berth("exec", "web", "ping", "-c1", "-W1", dbIP); res.Code == 0 {
		t.Fatalf("web reaches db across networks before connecting: %s", res)
	}

	if res := docker("network", "connect", "--alias", "store", "back", "web"); res.Code != 0 {
		t.Fatalf("docker network connect: %s", res)
	}
	webBackIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "web")
	if webBackIP == "" || !strings.HasPrefix(webBackIP, strings.TrimSuffix(userSubnet(t, d, 1), "0/24")) {
		t.Fatalf("web's address on back: %q", webBackIP)
	}
	if got := d.Must("exec", "web", "sh", "-c", "ip -o -4 addr show eth1 | awk '{print $4}'; ip route | grep -c default"); got != webBackIP+"/24\n1" {
		t.Fatalf("web's eth1 and default routes: %q", got)
	}
	if got := d.Must("exec", "web", "ping", "-c1", "-W2", "db"); !strings.Contains(got, dbIP) {
		t.Fatalf("web reaching db by name after connecting: %q", got)
	}
	for _, name := range []string{"web", "store"} {
		if got := lookup(d, "db", name); got != webBackIP {
			t.Errorf("db resolving %s: %q, want %s", name, got, webBackIP)
		}
	}
	if got := d.Must("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "back"); !strings.Contains(got, "web") || !strings.Contains(got, "db") {
		t.Errorf("back's containers: %q", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "connect", "back", "web"}, "endpoint with name web already exists in network back"},
		{[]string{"network", "connect", "front", "web"}, "endpoint with name web already exists in network front"},
		{[]string{"network", "connect", "host", "web"}, "container cannot be disconnected from host network or connected to host network"},
		{[]string{"network", "connect", "nosuch", "web"}, "network nosuch not found"},
		{[]string{"run", "--rm", "--network", "front", "--network", "nosuch", "busybox", "true"}, "network nosuch not found"},
		{[]string{"run", "--rm", "--network", "nosuch", "busybox", "true"}, "network nosuch not found"},
		{[]string{"network", "disconnect", "front", "web"}, "its network mode's network (front) is not supported yet"},
		{[]string{"network", "disconnect", "back", "db2"}, "No such container"},
	} {
		// (Not a 404 from create: the CLI would take it for a missing
		// image and try to pull it.)
		if res := docker(tc.args...); res.Code == 0 || !strings.Contains(res.Stderr, tc.want) || strings.Contains(res.Stderr, "Unable to find image") {
			t.Errorf("docker %v: %s, want %q", tc.args, res, tc.want)
		}
	}

	if res := docker("network", "disconnect", "back", "web"); res.Code != 0 {
		t.Fatalf("docker network disconnect: %s", res)
	}
	if res := d.Berth("exec", "web", "ip", "link", "show", "eth1"); res.Code == 0 {
		t.Fatalf("eth1 still in web after disconnect: %s", res)
	}
	if got := lookup(d, "db", "store"); got != "" {
		t.Errorf("db still resolves web's alias after disconnect: %q", got)
	}
	if got := d.Must("inspect", "-f", "{{len .NetworkSettings.Networks}}", "web"); got != "1" {
		t.Errorf("web's networks after disconnect: %s", got)
	}
	if res := docker("network", "disconnect", "back", "web"); res.Code == 0 || !strings.Contains(res.Stderr, "is not connected to network back") {
		t.Errorf("disconnecting twice: %s", res)
	}
	if ports := settledPorts(t, backBr, 1); len(ports) != 1 {
		t.Errorf("back's bridge after disconnect: %v", ports)
	}

	// A stopped container: connected at its next start, and every start.
	d.Must("stop", "-t", "0", "web")
	d.Must("network", "connect", "back", "web")
	d.Must("start", "web")
	if got := d.Must("exec", "web", "ping", "-c1", "-W2", "db"); !strings.Contains(got, dbIP) {
		t.Fatalf("web reaching db after connect while stopped and start: %q", got)
	}
	d.Must("restart", "-t", "0", "web")
	if got := d.Must("inspect", "-f", "{{len .NetworkSettings.Networks}} {{.NetworkSettings.Networks.back.IPAddress}}", "web"); !strings.HasPrefix(got, "2 ") || got == "2 " {
		t.Errorf("web's networks after a restart: %q", got)
	}

	// The docker CLI sends both networks at create.
	if res := docker("run", "-d", "--name", "both", "--network", "front", "--network", "back", "busybox", "sleep", "300"); res.Code != 0 {
		t.Fatalf("docker run --network front --network back: %s", res)
	}
	frontGW := d.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "front")
	if got := d.Must("exec", "both", "sh", "-c", "ip route | grep default"); !strings.Contains(got, frontGW) {
		t.Errorf("both's default route: %q, want via front's gateway %s", got, frontGW)
	}
	if got := lookup(d, "db", "both"); got == "" {
		t.Errorf("db cannot resolve a container created on two networks")
	}
	if res := docker("run", "--rm", "--network", "host", "--network", "back", "busybox", "true"); res.Code == 0 {
		t.Errorf("host networking with a second network: %s", res)
	}

	d.Must("rm", "-f", "web", "db", "both")
	if ports := settledPorts(t, frontBr, 0); len(ports) != 0 {
		t.Errorf("veths left on front: %v", ports)
	}
	if ports := settledPorts(t, backBr, 0); len(ports) != 0 {
		t.Errorf("veths left on back: %v", ports)
	}
}
