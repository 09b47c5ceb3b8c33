package container

import (
	"fmt"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

func TestResolvConf(t *testing.T) {
	host := "# comment\nnameserver 10.0.0.53\nnameserver 127.0.0.53\nsearch corp.example\noptions edns0\nsortlist 10.0.0.0/8\n"
	for _, tc := range []struct {
		name string
		hc   container.HostConfig
		want string
	}{
		{"default bridge: the host's, loopback servers dropped", container.HostConfig{NetworkMode: "bridge"},
			"nameserver 10.0.0.53\nsearch corp.example\noptions edns0\nsortlist 10.0.0.0/8\n"},
		{"host network: the host's, loopback kept", container.HostConfig{NetworkMode: "host"},
			"nameserver 10.0.0.53\nnameserver 127.0.0.53\nsearch corp.example\noptions edns0\nsortlist 10.0.0.0/8\n"},
		{"--dns, --dns-search, --dns-option replace", container.HostConfig{NetworkMode: "bridge",
			DNS: []string{"192.0.2.1"}, DNSSearch: []string{"a.example", "b.example"}, DNSOptions: []string{"ndots:2"}},
			"nameserver 192.0.2.1\nsearch a.example b.example\noptions ndots:2\nsortlist 10.0.0.0/8\n"},
		{"--dns-search . : no search", container.HostConfig{NetworkMode: "bridge", DNSSearch: []string{"."}},
			"nameserver 10.0.0.53\noptions edns0\nsortlist 10.0.0.0/8\n"},
		{"user network: the embedded DNS, ndots:0", container.HostConfig{NetworkMode: "app"},
			"nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0 edns0\nsortlist 10.0.0.0/8\n\n# berth's embedded DNS forwards what it does not know to: 10.0.0.53 127.0.0.53\n"},
		{"user network with --dns and ndots", container.HostConfig{NetworkMode: "app", DNS: []string{"192.0.2.1"}, DNSOptions: []string{"ndots:3"}},
			"nameserver 127.0.0.11\nsearch corp.example\noptions ndots:3\nsortlist 10.0.0.0/8\n\n# berth's embedded DNS forwards what it does not know to: 192.0.2.1\n"},
	} {
		if got := resolvConf(host, &tc.hc); got != tc.want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

func TestEndpointAsked(t *testing.T) {
	for _, tc := range []struct {
		net  string
		ep   *network.EndpointSettings
		want string // the error, or what is kept ("aliases ip mac")
	}{
		{"app", nil, "[]  "},
		{"app", &network.EndpointSettings{Aliases: []string{"db", "store"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.0.0.9"}, MacAddress: "02:42:0a:00:00:09"},
			"[db store] 10.0.0.9 02:42:0a:00:00:09"},
		{"bridge", &network.EndpointSettings{Aliases: []string{"db"}}, "network-scoped alias is supported only for containers in user defined networks"},
		{"bridge", &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "172.17.0.9"}}, "user specified IP address is supported on user defined networks only"},
		{"app", &network.EndpointSettings{Aliases: []string{"a b"}}, `invalid network alias "a b"`},
		{"app", &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.0.0"}}, "invalid IPv4 address: 10.0.0"},
		{"app", &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: "fd00::9", IPv4Address: "10.0.0.9"}}, "[] 10.0.0.9 "},
		{"app", &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: "10.0.0.9"}}, "invalid IPv6 address: 10.0.0.9"},
		{"bridge", &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv6Address: "fd00::9"}}, "user defined networks only"},
		{"app", &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{LinkLocalIPs: []string{"169.254.0.9"}}}, "--link-local-ip"},
		{"app", &network.EndpointSettings{MacAddress: "02:42"}, "invalid MAC address: 02:42"},
	} {
		got, err := endpointAsked(tc.net, tc.ep)
		var s string
		if err != nil {
			s = err.Error()
		} else {
			ip := ""
			if got.IPAMConfig != nil {
				ip = got.IPAMConfig.IPv4Address
			}
			s = fmt.Sprintf("%v %s %s", got.Aliases, ip, got.MacAddress)
		}
		if !strings.Contains(s, tc.want) {
			t.Errorf("%s %+v: %q, want %q", tc.net, tc.ep, s, tc.want)
		}
	}
}

func TestDNSServers(t *testing.T) {
	if got := dnsServers(&container.HostConfig{DNS: []string{"192.0.2.1"}}, "app"); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Errorf("--dns on a user network: %v", got)
	}
	if got := dnsServers(&container.HostConfig{}, "bridge"); got != nil {
		t.Errorf("the default bridge has no embedded DNS, nothing to forward to: %v", got)
	}
}
