package dns

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/miekg/dns"

	"github.com/berthproject/berth/internal/network/bridge"
	"golang.org/x/sys/unix"
)

// Address is where containers find the resolver (Docker's).
var Address = net.IPv4(127, 0, 0, 11).To4()

// table is the resolver's nftables table inside each container's
// namespace.
const table = "berth-dns"

const ctlSocket = "ctl.sock"

// forwardTimeout bounds one upstream exchange.
const forwardTimeout = 4 * time.Second

// Main runs the resolver process: `berth dns-resolver DIR`. It serves the
// records in DIR, and takes commands on DIR/ctl.sock (see Resolver).
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: berth dns-resolver DIR (started by the daemon)")
		return 2
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	r := &server{dir: args[0], clients: map[string]*client{}}
	r.recs.Store(&Records{})
	sock := filepath.Join(r.dir, ctlSocket)
	_ = os.Remove(sock) // the daemon starts a resolver only when none answers there
	ln, err := net.Listen("unix", sock)
	if err != nil {
		slog.Error("dns resolver: control socket", "err", err)
		return 1
	}
	_ = os.WriteFile(filepath.Join(r.dir, "pid"), []byte(fmt.Sprint(os.Getpid())), 0o600)
	r.reload()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-term; ln.Close() }()
	for {
		conn, err := ln.Accept()
		if err != nil {
			break
		}
		if r.command(conn) {
			break
		}
	}
	ln.Close()
	_ = os.Remove(filepath.Join(r.dir, "pid"))
	r.mu.Lock()
	for _, c := range r.clients {
		c.close(false)
	}
	r.mu.Unlock()
	return 0
}

// command serves one control connection: one command, one reply. It
// reports whether the resolver is to exit.
func (r *server) command(conn net.Conn) (exit bool) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return false
	}
	switch strings.TrimSpace(line) {
	case "format":
		fmt.Fprintf(conn, "%d\n", Format)
	case "reload":
		for id, err := range r.reload() {
			fmt.Fprintf(conn, "fail %s %s\n", id, strings.ReplaceAll(err.Error(), "\n", " "))
		}
		fmt.Fprintln(conn, "ok")
	case "exit":
		fmt.Fprintln(conn, "ok")
		return true
	default:
		fmt.Fprintln(conn, "error unknown command")
	}
	return false
}

type server struct {
	dir     string
	recs    atomic.Pointer[Records]
	mu      sync.Mutex
	clients map[string]*client
}

// client is a container being served: its namespace (held open) and the
// two servers listening in it.
type client struct {
	netns    string
	ns       *os.File
	udp, tcp *dns.Server
}

// reload reads the records and opens or closes listeners to match; it
// returns what failed, by container.
func (r *server) reload() map[string]error {
	fails := map[string]error{}
	recs, err := Read(r.dir)
	if err != nil {
		fails["*"] = err
		return fails
	}
	r.recs.Store(recs)
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.clients {
		if want, ok := recs.Clients[id]; !ok || want.Netns != c.netns {
			c.close(true)
			delete(r.clients, id)
		}
	}
	for id, want := range recs.Clients {
		if r.clients[id] != nil {
			continue
		}
		c, err := r.open(id, want.Netns)
		if err != nil {
			slog.Warn("dns resolver: serve a container", "id", id, "err", err)
			fails[id] = err
			continue
		}
		r.clients[id] = c
	}
	return fails
}

// open starts serving container id in the namespace at netns.
func (r *server) open(id, netns string) (*client, error) {
	ns, err := os.Open(netns)
	if err != nil {
		return nil, err
	}
	var pc net.PacketConn
	var ln net.Listener
	err = inNetns(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", Address.String()+":0"); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", Address.String()+":0"); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("listen on %s in %s: %w", Address, netns, err)
	}
	uport, tport := pc.LocalAddr().(*net.UDPAddr).Port, ln.Addr().(*net.TCPAddr).Port
	if err := redirect(ns, uint16(uport), uint16(tport)); err != nil {
		pc.Close()
		ln.Close()
		ns.Close()
		return nil, fmt.Errorf("redirect port 53 in %s: %w", netns, err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) { r.serve(id, w, m) })
	c := &client{netns: netns, ns: ns, udp: &dns.Server{PacketConn: pc, Handler: h}, tcp: &dns.Server{Listener: ln, Handler: h}}
	for _, s := range []*dns.Server{c.udp, c.tcp} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
	}
	return c, nil
}

// close stops serving; unredirect also removes the table from the
// namespace (it may live on: a container leaving a network).
func (c *client) close(unredirect bool) {
	_ = c.udp.Shutdown()
	_ = c.tcp.Shutdown()
	if unredirect {
		_ = bridge.DeleteTable(table, nftables.WithNetNSFd(int(c.ns.Fd())))
	}
	c.ns.Close()
}

// serve answers one question of container id.
func (r *server) serve(id string, w dns.ResponseWriter, req *dns.Msg) {
	recs := r.recs.Load()
	m := new(dns.Msg)
	if len(req.Question) != 1 {
		_ = w.WriteMsg(m.SetRcode(req, dns.RcodeFormatError))
		return
	}
	if rrs, ok := recs.Answer(id, req.Question[0]); ok {
		m.SetReply(req)
		m.Authoritative, m.RecursionAvailable = true, true
		rand.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] }) // round robin among a name's containers
		m.Answer = rrs
		_ = w.WriteMsg(m)
		return
	}
	c := recs.Clients[id]
	if c.Internal || len(c.Upstream) == 0 {
		_ = w.WriteMsg(m.SetRcode(req, dns.RcodeServerFailure))
		return
	}
	proto := "udp"
	if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	for _, up := range c.Upstream {
		resp, err := r.forward(id, proto, up, req)
		if err == nil {
			_ = w.WriteMsg(resp)
			return
		}
		slog.Debug("dns resolver: forward", "id", id, "upstream", up, "err", err)
	}
	_ = w.WriteMsg(m.SetRcode(req, dns.RcodeServerFailure))
}

// forward asks upstream (IP or IP:PORT) from the container's namespace,
// or from the host's when the upstream is a loopback address (a resolver
// on the host's loopback, as systemd-resolved's, is not reachable from a
// container: Docker asks it from the host too).
func (r *server) forward(id, proto, upstream string, req *dns.Msg) (*dns.Msg, error) {
	addr := upstream
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		addr = net.JoinHostPort(upstream, "53")
	}
	host, _, _ := net.SplitHostPort(addr)
	dial := func() (net.Conn, error) { return net.DialTimeout(proto, addr, forwardTimeout) }
	var conn net.Conn
	var err error
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		conn, err = dial()
	} else {
		r.mu.Lock()
		c := r.clients[id]
		r.mu.Unlock()
		if c == nil {
			return nil, fmt.Errorf("container %s is no longer served", id)
		}
		err = inNetns(c.ns, func() error {
			var err error
			conn, err = dial()
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cl := &dns.Client{Net: proto, Timeout: forwardTimeout}
	resp, _, err := cl.ExchangeWithConn(req, &dns.Conn{Conn: conn})
	return resp, err
}

// inNetns runs fn on a thread of its own that entered the namespace ns:
// the sockets fn makes belong to that namespace. The thread is never
// handed back to the Go scheduler; it ends with its goroutine.
func inNetns(ns *os.File, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// redirect (re)writes the resolver's table in the namespace ns: traffic
// the container sends to 127.0.0.11:53 goes to the resolver's ports
// (replies are translated back by conntrack).
func redirect(ns *os.File, udpPort, tcpPort uint16) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())))
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t) // replaced whole: a resolver that came before may have left one
	c.AddTable(t)
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	for _, p := range []struct {
		proto byte
		port  uint16
	}{{unix.IPPROTO_UDP, udpPort}, {unix.IPPROTO_TCP, tcpPort}} {
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: Address},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p.proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(53)},
			&expr.Immediate{Register: 1, Data: Address},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}})
	}
	return c.Flush()
}
