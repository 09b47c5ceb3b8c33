//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestIPv6Network: a user-defined network with --ipv6 and an IPv6
// subnet (through the docker CLI): containers get an IPv6 address (the
// next free, or --ip6), an IPv6 default route, reach each other over
// IPv6 and find each other's AAAA records in the embedded DNS; inspect
// shows it as Docker does; bad requests are refused.
func TestIPv6Network(t *testing.T) {
	dockerBin := needDocker(t)
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	docker := dockerCLI(t, d, dockerBin)
	prefix := fmt.Sprintf("fd42:%x:%x::", rand.IntN(0xffff), rand.IntN(0xffff))
	if res := docker("network", "create", "--ipv6", "--subnet", userSubnet(t, d, 0), "--subnet", prefix+"/64", "six"); res.Code != 0 {
		t.Fatalf("docker network create --ipv6: %s", res)
	}
	if got := d.Must("network", "inspect", "-f", "{{.EnableIPv6}} {{len .IPAM.Config}} {{(index .IPAM.Config 1).Subnet}} {{(index .IPAM.Config 1).Gateway}}", "six"); got != "true 2 "+prefix+"/64 "+prefix+"1" {
		t.Fatalf("network inspect: %q", got)
	}
	d.Must("run", "-d", "--name", "one", "--network", "six", "busybox", "sleep", "300")
	if res := docker("run", "-d", "--name", "two", "--network", "six", "--ip6", prefix+"99", "busybox", "sleep", "300"); res.Code != 0 {
		t.Fatalf("docker run --ip6: %s", res)
	}
	if got := d.Must("inspect", "-f", "{{with .NetworkSettings.Networks.six}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} via {{.IPv6Gateway}}{{end}}", "one"); got != prefix+"2/64 via "+prefix+"1" {
		t.Errorf("one's IPv6 settings: %q", got)
	}
	if got := d.Must("exec", "one", "sh", "-c", "ip -6 -o addr show eth0 scope global | awk '{print $4}'; ip -6 route show default | awk '{print $3}'"); got != prefix+"2/64\n"+prefix+"1" {
		t.Errorf("one's IPv6 address and default route inside: %q", got)
	}
	if got := d.Must("exec", "one", "ping", "-c1", "-W2", prefix+"99"); !strings.Contains(got, "1 packets received") {
		t.Errorf("one pinging two over IPv6: %q", got)
	}
	if got := answers(d.Berth("exec", "one", "nslookup", "-type=aaaa", "two").Stdout); got != prefix+"99" {
		t.Errorf("one resolving two's AAAA: %q", got)
	}
	if got := d.Must("network", "inspect", "-f", "{{range .Containers}}{{.IPv6Address}} {{end}}", "six"); !strings.Contains(got, prefix+"99/64") {
		t.Errorf("network inspect's containers: %q", got)
	}
	d.Must("restart", "-t", "0", "two")
	if got := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}", "two"); got != prefix+"99" {
		t.Errorf("--ip6 after a restart: %q", got)
	}
	d.Must("network", "create", "--subnet", userSubnet(t, d, 1), "four")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rm", "--network", "six", "--ip6", prefix + "99", "busybox", "true"}, "Address already in use"},
		{[]string{"run", "--rm", "--network", "six", "--ip6", "fd43::9", "busybox", "true"}, "does not belong to any of this network's subnets"},
		{[]string{"run", "--rm", "--network", "four", "--ip6", prefix + "5", "busybox", "true"}, "network four has no IPv6"},
		{[]string{"network", "create", "--ipv6", "nov6"}, "--ipv6 needs an IPv6 --subnet"},
		{[]string{"network", "create", "--ipv6", "--subnet", prefix + "/80", "clash"}, "Pool overlaps"},
		{[]string{"network", "create", "--subnet", "fd44::/64", "nov6flag"}, "needs --ipv6"},
	} {
		if res := docker(tc.args...); res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("docker %v: %s, want %q", tc.args, res, tc.want)
		}
	}
	d.Must("rm", "-f", "two")
	d.Must("run", "-d", "--name", "three", "--network", "six", "--ip6", prefix+"99", "busybox", "sleep", "300") // freed by rm
}
