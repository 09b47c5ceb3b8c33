package network

import (
	"net"
	"strings"
	"testing"
)

func cidr(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestChooseSubnet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		routed []string
		want   string
	}{
		{"nothing routed", nil, "172.17.0.0/16"},
		{"the default route does not count", []string{"0.0.0.0/0"}, "172.17.0.0/16"},
		{"docker0 has 172.17", []string{"172.17.0.0/16", "10.0.0.0/8"}, "172.18.0.0/16"},
		{"a /24 inside the first pool", []string{"172.17.5.0/24"}, "172.18.0.0/16"},
		{"a wider route covers the 172 pools", []string{"172.16.0.0/12"}, "192.168.0.0/20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var routed []*net.IPNet
			for _, r := range tc.routed {
				routed = append(routed, cidr(t, r))
			}
			got, err := ChooseSubnet(DefaultPools(), routed)
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := ChooseSubnet(DefaultPools(), []*net.IPNet{cidr(t, "172.16.0.0/12"), cidr(t, "192.168.0.0/16")}); err == nil {
		t.Fatal("every pool routed: want an error")
	}
}

func TestPool(t *testing.T) {
	p := NewPool(cidr(t, "10.9.0.0/29"), net.ParseIP("10.9.0.1")) // .1 gateway, .2-.6 usable, .7 broadcast
	var got []string
	for i := 0; i < 5; i++ {
		ip, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	if want := "10.9.0.2 10.9.0.3 10.9.0.4 10.9.0.5 10.9.0.6"; joined(got) != want {
		t.Fatalf("allocated %s, want %s", joined(got), want)
	}
	if ip, err := p.Allocate(); err == nil {
		t.Fatalf("a full pool gave %s", ip)
	}
	p.Release(net.ParseIP("10.9.0.3"))
	if ip, err := p.Allocate(); err != nil || ip.String() != "10.9.0.3" {
		t.Fatalf("after a release: %v %v", ip, err)
	}
	// Round-robin: an address just freed is not the next one given while
	// others are free.
	q := NewPool(cidr(t, "10.9.0.0/24"), net.ParseIP("10.9.0.1"))
	a, _ := q.Allocate()
	q.Release(a)
	if b, _ := q.Allocate(); b.Equal(a) {
		t.Fatalf("%s given again at once", a)
	}
	q.Take(net.ParseIP("10.9.0.4")) // a restored endpoint's
	if c, _ := q.Allocate(); c.String() != "10.9.0.5" {
		t.Fatalf("after taking .4: %s", c)
	}
}

func joined(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestMACFor(t *testing.T) {
	if got := MACFor(net.ParseIP("172.17.0.2")).String(); got != "02:42:ac:11:00:02" {
		t.Fatalf("got %s", got)
	}
}

func TestPoolRequest(t *testing.T) {
	p := NewPool(cidr(t, "10.9.0.0/29"), net.ParseIP("10.9.0.1"))
	for _, tc := range []struct {
		ip string
		ok bool
	}{
		{"10.9.0.4", true}, {"10.9.0.4", false}, // taken now
		{"10.9.0.0", false}, {"10.9.0.7", false}, {"10.9.0.1", false}, // network, broadcast, gateway
		{"10.9.1.4", false}, // outside
	} {
		if err := p.Request(net.ParseIP(tc.ip)); (err == nil) != tc.ok {
			t.Errorf("Request(%s): %v, want ok %v", tc.ip, err, tc.ok)
		}
	}
	for i := 0; i < 4; i++ { // .2 .3 .5 .6: allocation skips the requested .4
		if ip, err := p.Allocate(); err != nil || ip.String() == "10.9.0.4" {
			t.Fatalf("Allocate after a request: %v %v", ip, err)
		}
	}
}

func TestPoolRange(t *testing.T) {
	p := NewPool(cidr(t, "10.0.0.0/24"), net.ParseIP("10.0.0.1").To4())
	var err error
	if p.Range, err = SubRange("10.0.0.64/30", p.Subnet); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		ip, err := p.Allocate()
		if err != nil {
			break
		}
		got = append(got, ip.String())
	}
	if joined(got) != "10.0.0.64 10.0.0.65 10.0.0.66 10.0.0.67" {
		t.Fatalf("allocated from the range: %v", got)
	}
	if err := p.Request(net.ParseIP("10.0.0.200")); err != nil { // --ip: anywhere in the subnet
		t.Fatalf("request outside the range: %v", err)
	}
	for _, tc := range []struct{ cidr, subnet, err string }{
		{"10.0.0.128/25", "10.0.0.0/24", ""},
		{"10.0.0.0/24", "10.0.0.0/24", ""},
		{"10.0.1.0/25", "10.0.0.0/24", "not inside the subnet"},
		{"10.0.0.0/23", "10.0.0.0/24", "not inside the subnet"},
		{"10.0.0.300/25", "10.0.0.0/24", "invalid CIDR"},
	} {
		_, err := SubRange(tc.cidr, cidr(t, tc.subnet))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("SubRange(%s, %s): %v, want %q", tc.cidr, tc.subnet, err, tc.err)
		}
	}
}

func TestSplitPools(t *testing.T) {
	got, err := SplitPools([]AddressPool{{Base: "10.10.0.0/16", Size: 24}, {Base: "192.168.64.0/20", Size: 22}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 256+4 || got[0].String() != "10.10.0.0/24" || got[1].String() != "10.10.1.0/24" || got[255].String() != "10.10.255.0/24" ||
		got[256].String() != "192.168.64.0/22" || got[259].String() != "192.168.76.0/22" {
		t.Fatalf("split: %d networks, %v ... %v", len(got), got[:2], got[len(got)-2:])
	}
	for _, tc := range []struct {
		p   AddressPool
		err string
	}{
		{AddressPool{Base: "10.0.0.0/8", Size: 24}, ""}, // capped, not refused
		{AddressPool{Base: "10.10.0.0/16", Size: 12}, "want a prefix between 16 and 30"},
		{AddressPool{Base: "10.10.0.0/16", Size: 31}, "want a prefix between 16 and 30"},
		{AddressPool{Base: "nope", Size: 24}, "want an IPv4 CIDR"},
	} {
		_, err := SplitPools([]AddressPool{tc.p})
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("SplitPools(%+v): %v, want %q", tc.p, err, tc.err)
		}
	}
}

func TestPool6(t *testing.T) {
	_, subnet, _ := net.ParseCIDR("fd42:1::/64")
	p := NewPool6(subnet, net.ParseIP("fd42:1::1"))
	a, _ := p.Allocate()
	b, _ := p.Allocate()
	if a.String() != "fd42:1::2" || b.String() != "fd42:1::3" {
		t.Fatalf("first addresses: %s %s", a, b)
	}
	if err := p.Request(net.ParseIP("fd42:1::4")); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Allocate(); c.String() != "fd42:1::5" {
		t.Fatalf("after a requested ::4: %s", c)
	}
	for ip, want := range map[string]string{"fd42:1::4": "already in use", "fd42:2::9": "does not belong", "fd42:1::": "the network's", "10.0.0.1": "does not belong"} {
		if err := p.Request(net.ParseIP(ip)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("request %s: %v, want %q", ip, err, want)
		}
	}
	p.Release(a)
	if err := p.Request(a); err != nil {
		t.Errorf("a released address: %v", err)
	}
	_, small, _ := net.ParseCIDR("fd42:3::/126") // ::0 network, ::1 gateway, ::2 ::3
	q := NewPool6(small, net.ParseIP("fd42:3::1"))
	var got []string
	for {
		ip, err := q.Allocate()
		if err != nil {
			break
		}
		got = append(got, ip.String())
	}
	if joined(got) != "fd42:3::2 fd42:3::3" {
		t.Fatalf("a /126: %v", got)
	}
}
