package dns

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestAnswer(t *testing.T) {
	r := &Records{
		Clients: map[string]Client{
			"c1": {Networks: []string{"n1"}},
			"c3": {Networks: []string{"n2"}},
		},
		Networks: map[string]Network{
			"n1": {Name: "app", Members: []Member{
				{IP: "10.0.0.2", IP6: "fd00:1::2", Names: []string{"db", "0123456789ab"}},
				{IP: "10.0.0.3", Names: []string{"api", "backend"}},
				{IP: "10.0.0.4", Names: []string{"api2", "backend"}},
			}},
			"n2": {Name: "other", Members: []Member{{IP: "10.1.0.2", Names: []string{"lone"}}}},
		},
	}
	for _, tc := range []struct {
		client, name string
		qtype        uint16
		want         []string // the answers' data
		handled      bool
	}{
		{"c1", "db.", dns.TypeA, []string{"10.0.0.2"}, true},
		{"c1", "DB.", dns.TypeA, []string{"10.0.0.2"}, true},
		{"c1", "db.app.", dns.TypeA, []string{"10.0.0.2"}, true},
		{"c1", "0123456789ab.", dns.TypeA, []string{"10.0.0.2"}, true},
		{"c1", "backend.", dns.TypeA, []string{"10.0.0.3", "10.0.0.4"}, true}, // an alias of two
		{"c1", "db.", dns.TypeAAAA, []string{"fd00:1::2"}, true},
		{"c1", "api.", dns.TypeAAAA, nil, true}, // known, no IPv6: empty, not forwarded
		{"c1", "db.other.", dns.TypeA, nil, false},
		{"c1", "lone.", dns.TypeA, nil, false}, // another network's
		{"c3", "lone.", dns.TypeA, []string{"10.1.0.2"}, true},
		{"c3", "db.", dns.TypeA, nil, false},
		{"c1", "example.com.", dns.TypeA, nil, false},
		{"nobody", "db.", dns.TypeA, nil, false},
		{"c1", "3.0.0.10.in-addr.arpa.", dns.TypePTR, []string{"api.app."}, true},
		{"c3", "3.0.0.10.in-addr.arpa.", dns.TypePTR, nil, false},
		{"c1", "9.0.0.10.in-addr.arpa.", dns.TypePTR, nil, false},
		{"c1", "x.in-addr.arpa.", dns.TypePTR, nil, false},
	} {
		rrs, handled := r.Answer(tc.client, dns.Question{Name: tc.name, Qtype: tc.qtype, Qclass: dns.ClassINET})
		var got []string
		for _, rr := range rrs {
			if rr.Header().Name != tc.name || rr.Header().Ttl != ttl {
				t.Errorf("%s %s: header %v", tc.client, tc.name, rr.Header())
			}
			got = append(got, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
		if handled != tc.handled || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s asking %s (%s): %v handled=%v, want %v handled=%v", tc.client, tc.name, dns.TypeToString[tc.qtype], got, handled, tc.want, tc.handled)
		}
	}
}

func TestRecordsFile(t *testing.T) {
	dir := t.TempDir()
	if r, err := Read(dir); err != nil || len(r.Clients) != 0 {
		t.Fatalf("no file: %v %v", r, err)
	}
	want := &Records{Clients: map[string]Client{"c": {Netns: "/x", Networks: []string{"n"}, Upstream: []string{"1.1.1.1"}}},
		Networks: map[string]Network{"n": {Name: "app", Members: []Member{{IP: "10.0.0.2", Names: []string{"c"}}}}}}
	if err := Write(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil || !reflect.DeepEqual(got, want) || got.Format != Format {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	if err := os.WriteFile(dir+"/"+recordsFile, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), recordsFile) {
		t.Fatalf("a torn file: %v", err)
	}
}
