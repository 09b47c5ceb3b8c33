package dns

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// Format is the version of the records file and of the process that reads
// it; a daemon replaces a resolver of another format.
const Format = 1

// Records is everything the resolver serves.
type Records struct {
	Format   int
	Clients  map[string]Client  // by container ID
	Networks map[string]Network // by network ID
}

// Client is a container that asks: where its namespace is, what it may
// see, and where its other questions go.
type Client struct {
	Netns    string   // its network namespace file
	Networks []string // the IDs of the networks whose names it resolves
	Upstream []string // "IP" or "IP:PORT"; loopback ones are asked from the host's namespace
	Internal bool     // on internal networks only: nothing is forwarded
}

// Network is a user-defined network's name and members.
type Network struct {
	Name    string
	Members []Member
}

// Member is a container's address on a network and the names it answers
// to there.
type Member struct {
	IP    string
	IP6   string `json:",omitempty"` // on a network with IPv6
	Names []string
}

const recordsFile = "records.json"

// Write replaces dir's records in one rename: a reader sees the old
// records or the new, never half.
func Write(dir string, r *Records) error {
	r.Format = Format
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, recordsFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, recordsFile))
}

// Read reads dir's records; none written yet reads as empty.
func Read(dir string) (*Records, error) {
	r := &Records{}
	b, err := os.ReadFile(filepath.Join(dir, recordsFile))
	if os.IsNotExist(err) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, recordsFile), err)
	}
	return r, nil
}

// ttl is the time to live of the answers the resolver makes (Docker's).
const ttl = 600

// Answer answers q for client id from the records: handled is false when
// the name is none of the client's networks' (the question is then
// forwarded). A known name asked for a type it has no record of (AAAA
// on a network without IPv6) gets an empty answer, not a forward, as
// with Docker.
func (r *Records) Answer(id string, q dns.Question) (rrs []dns.RR, handled bool) {
	c, ok := r.Clients[id]
	if !ok {
		return nil, false
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if q.Qtype == dns.TypePTR {
		ip := reverseIP(name)
		if ip == nil {
			return nil, false
		}
		for _, nid := range c.Networks {
			n := r.Networks[nid]
			for _, m := range n.Members {
				if net.ParseIP(m.IP).Equal(ip) && len(m.Names) > 0 {
					return []dns.RR{&dns.PTR{Hdr: hdr(q.Name, dns.TypePTR), Ptr: dns.Fqdn(m.Names[0] + "." + n.Name)}}, true
				}
			}
		}
		return nil, false
	}
	seen := map[string]bool{}
	for _, nid := range c.Networks {
		n := r.Networks[nid]
		for _, m := range n.Members {
			if seen[m.IP] || !answersTo(m, name, strings.ToLower(n.Name)) {
				continue
			}
			seen[m.IP] = true
			handled = true
			if ip := net.ParseIP(m.IP).To4(); ip != nil && q.Qtype == dns.TypeA {
				rrs = append(rrs, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: ip})
			}
			if ip := net.ParseIP(m.IP6); ip != nil && q.Qtype == dns.TypeAAAA {
				rrs = append(rrs, &dns.AAAA{Hdr: hdr(q.Name, dns.TypeAAAA), AAAA: ip})
			}
		}
	}
	return rrs, handled
}

// answersTo reports whether m is name on network netName (NAME or
// NAME.NETWORK).
func answersTo(m Member, name, netName string) bool {
	for _, n := range m.Names {
		n = strings.ToLower(n)
		if n == name || n+"."+netName == name {
			return true
		}
	}
	return false
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// reverseIP is the IPv4 address of a name in in-addr.arpa, or nil.
func reverseIP(name string) net.IP {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return nil
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return nil
	}
	return net.ParseIP(p[3] + "." + p[2] + "." + p[1] + "." + p[0]).To4()
}
