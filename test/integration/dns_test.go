//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/berthproject/berth/internal/testutil"
)

// upstreamDNS is a DNS server the test runs, standing in for the host's
// resolvers: it answers ext.example. with 192.0.2.7 and NXDOMAIN to all
// else, and records who asked what.
type upstreamDNS struct {
	addr string
	mu   sync.Mutex
	seen []string // "QNAME from IP"
}

func startUpstreamDNS(t *testing.T, ip string) *upstreamDNS {
	t.Helper()
	u := &upstreamDNS{addr: ip}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		from, _, _ := net.SplitHostPort(w.RemoteAddr().String())
		u.mu.Lock()
		u.seen = append(u.seen, req.Question[0].Name+" from "+from)
		u.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Name == "ext.example." && q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")}}
		} else if q.Name != "ext.example." {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp4", ip+":53")
	if err != nil {
		t.Fatalf("upstream DNS on %s: %v", ip, err)
	}
	ln, err := net.Listen("tcp4", ip+":53")
	if err != nil {
		pc.Close()
		t.Fatalf("upstream DNS on %s: %v", ip, err)
	}
	us, ts := &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { _ = us.Shutdown(); _ = ts.Shutdown(); pc.Close(); ln.Close() })
	return u
}

// asked reports the questions for name the upstream saw.
func (u *upstreamDNS) asked(name string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, s := range u.seen {
		if strings.HasPrefix(s, name+" ") {
			out = append(out, s)
		}
	}
	return out
}

// lookup is what busybox nslookup in container ctr makes of name: the
// addresses it printed after the server's lines ("" for none).
func lookup(d *testutil.Daemon, ctr, name string) string {
	res := d.Berth("exec", ctr, "nslookup", "-type=a", name)
	return answers(res.Stdout)
}

func answers(out string) string {
	var addrs []string
	_, after, ok := strings.Cut(out, "\nName:")
	if !ok {
		return ""
	}
	for _, l := range strings.Split(after, "\n") {
		if a, ok := strings.CutPrefix(strings.TrimSpace(l), "Address:"); ok {
			addrs = append(addrs, strings.TrimSpace(a))
		}
	}
	return strings.Join(addrs, " ")
}

// TestEmbeddedDNS: on user-defined networks, containers ask 127.0.0.11
// (berth's resolver, in a process of its own): names, aliases, short IDs
// and NAME.NETWORK resolve within the network only, addresses resolve
// back; other names go to the container's --dns servers (a loopback one
// asked from the host, another from the container's namespace), not
// from internal networks; the container's own port 53 stays its own;
// names keep resolving while the daemon is killed and after it restarts;
// a renamed container answers to its new name; a stopped container's
// name goes; the resolver goes with the last
// container it served.
func TestEmbeddedDNS(t *testing.T) {
	t.Parallel()
	d := testutil.StartDaemon(t)
	d.LoadBusybox()
	loop := startUpstreamDNS(t, fmt.Sprintf("127.77.%d.%d", rand.IntN(250)+1, rand.IntN(250)+1))
	d.Must("network", "create", "--subnet", userSubnet(t, d, 0), "app")
	d.Must("network", "create", "--subnet", userSubnet(t, d, 1), "other")
	d.Must("network", "create", "--internal", "--subnet", userSubnet(t, d, 2), "closed")
	d.Must("run", "-d", "--name", "db", "--network", "app", "--dns", loop.addr, "busybox", "sleep", "300")
	d.Must("run", "-d", "--name", "api", "--network", "app", "--network-alias", "backend", "--network-alias", "svc",
		"--dns", loop.addr, "busybox", "sleep", "300")
	dbIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "db")
	apiIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "api")
	apiID := d.Must("inspect", "-f", "{{.Id}}", "api")[:12]

	resolv := d.Must("exec", "db", "cat", "/etc/resolv.conf")
	if !strings.HasPrefix(resolv, "nameserver 127.0.0.11\n") || strings.Count(resolv, "nameserver") != 1 || !strings.Contains(resolv, "options ndots:0") {
		t.Fatalf("/etc/resolv.conf on a user network:\n%s", resolv)
	}
	if names := d.Must("inspect", "-f", "{{json .NetworkSettings.Networks.app.DNSNames}}", "api"); names != fmt.Sprintf(`["api","%s","backend","svc"]`, apiID) {
		t.Errorf("DNSNames: %s", names)
	}
	for _, tc := range []struct{ ctr, name, want string }{
		{"api", "db", dbIP}, {"db", "api", apiIP}, {"db", "backend", apiIP}, {"db", "svc", apiIP},
		{"db", apiID, apiIP}, {"db", "api.app", apiIP}, {"db", "API", apiIP}, {"db", "db", dbIP},
		{"db", "ext.example", "192.0.2.7"}, // forwarded to the loopback upstream, from the host
		{"db", "nosuch", ""},
	} {
		if got := lookup(d, tc.ctr, tc.name); got != tc.want {
			t.Errorf("%s resolving %s: %q, want %q", tc.ctr, tc.name, got, tc.want)
		}
	}
	if got := d.Berth("exec", "db", "nslookup", apiIP).Stdout; !strings.Contains(got, "api.app") {
		t.Errorf("db resolving %s back: %q", apiIP, got)
	}
	if got := loop.asked("db."); len(got) != 0 {
		t.Errorf("a name of the network was forwarded: %v", got)
	}
	// The container's own port 53 (a server of its own on 0.0.0.0:53)
	// does not clash with the resolver, which listens elsewhere.
	// (The listener still running after the lookup proves it bound;
	// busybox has no UDP listener.)
	if got := d.Berth("exec", "db", "sh", "-c", "nc -l -p 53 & a=$!; sleep 0.3; nslookup -type=a api; kill $a && echo bound").Stdout; answers(got) != apiIP || !strings.Contains(got, "bound") {
		t.Errorf("resolving with the container's own port 53 bound: %q", got)
	}

	// Another network: its own names only; its upstream, on that
	// network's gateway, is asked from the container's namespace.
	otherGW := d.Must("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "other")
	gw := startUpstreamDNS(t, otherGW)
	d.Must("run", "-d", "--name", "stranger", "--network", "other", "--dns", otherGW, "busybox", "sleep", "300")
	strangerIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.other.IPAddress}}", "stranger")
	if got := lookup(d, "stranger", "db"); got != "" {
		t.Errorf("a container on another network resolves db: %q", got)
	}
	if got := lookup(d, "stranger", "ext.example"); got != "192.0.2.7" {
		t.Errorf("forwarded from the container's namespace: %q", got)
	}
	if got := gw.asked("ext.example."); len(got) == 0 || !strings.HasSuffix(got[0], " from "+strangerIP) {
		t.Errorf("the upstream on the gateway saw %v, want questions from %s", got, strangerIP)
	}
	// An internal network: its names, nothing forwarded.
	d.Must("run", "-d", "--name", "inside", "--network", "closed", "--dns", loop.addr, "busybox", "sleep", "300")
	d.Must("run", "-d", "--name", "inside2", "--network", "closed", "--dns", loop.addr, "busybox", "sleep", "300")
	if got := lookup(d, "inside", "inside2"); got == "" {
		t.Errorf("inside resolving inside2 on an internal network: nothing")
	}
	before := len(loop.asked("ext.example."))
	if got := lookup(d, "inside", "ext.example"); got != "" || len(loop.asked("ext.example.")) != before {
		t.Errorf("an internal network's container had ext.example resolved (%q) or forwarded", got)
	}

	// The daemon killed: the resolver answers on; restarted: it is kept.
	pid := d.Resolver()
	if pid == 0 {
		t.Fatal("no resolver runs")
	}
	sandbox := d.Must("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "db")
	d.Kill()
	out, err := exec.Command("nsenter", "--net="+sandbox, "busybox", "nslookup", "-type=a", "api", "127.0.0.11").CombinedOutput()
	if answers(string(out)) != apiIP {
		t.Fatalf("resolving api while the daemon is down: %v %s", err, out)
	}
	d.Start()
	if got := d.Resolver(); got != pid {
		t.Errorf("the resolver after a daemon restart: pid %d, was %d", got, pid)
	}
	d.Must("run", "-d", "--name", "late", "--network", "app", "busybox", "sleep", "300")
	lateIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "late")
	if got := lookup(d, "api", "late"); got != lateIP {
		t.Errorf("api resolving a container started after the restart: %q, want %s", got, lateIP)
	}
	d.Must("rename", "late", "later")
	if got, gone := lookup(d, "api", "later"), lookup(d, "api", "late"); got != lateIP || gone != "" {
		t.Errorf("after a rename, api resolves the new name to %q (want %s), the old to %q", got, lateIP, gone)
	}
	d.Must("stop", "-t", "0", "db")
	if got := lookup(d, "api", "db"); got != "" {
		t.Errorf("a stopped container still resolves: %q", got)
	}
	d.Must("rm", "-f", "api", "later", "stranger", "inside", "inside2")
	testutil.Eventually(t, 5*time.Second, "the resolver to exit with its last container", func() bool { return d.Resolver() == 0 })
}
