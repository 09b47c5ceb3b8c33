package container

import (
	"testing"

	"github.com/docker/docker/api/types/container"
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
