package bridge

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// PortRule publishes a container's port on the host: traffic to HostPort
// (on HostIP, or on any local address when HostIP is nil) goes to
// CtrIP:CtrPort.
type PortRule struct {
	Proto    string // "tcp" or "udp"
	HostIP   net.IP
	HostPort uint16
	CtrIP    net.IP
	CtrPort  uint16
}

// Net is one of berth's bridges, as the table sees it.
type Net struct {
	Bridge   string
	Subnet   *net.IPNet
	Internal bool // no traffic in or out but among its own containers
}

// SetupNAT (re)writes berth's own nftables table, name, in one
// transaction: traffic from a network's subnet that leaves through
// another interface than its bridge is masqueraded (the containers reach
// out as the host), and the published ports are DNATed to their
// containers — from outside (prerouting), from the host itself (output,
// loopback included), and back from a container to the host's address
// (hairpin: masqueraded so the reply returns the same way). Networks do
// not forward to each other, internal ones to nothing outside. No other
// table is read or touched.
func SetupNAT(table string, nets []Net, ports []PortRule) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	// add + delete + add: the table is replaced whole, whether it existed
	// or not, in one batch.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
	for _, p := range ports {
		for _, ch := range []*nftables.Chain{pre, out} {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: dnat(p)})
		}
	}
	loopback := &net.IPNet{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}
	for _, n := range nets {
		if !n.Internal {
			// Out of the subnet, not to its bridge: as the host.
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append(saddrIn(n.Subnet),
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(n.Bridge)},
				&expr.Masq{},
			)})
		}
		// DNATed into the bridge from the host's loopback or from a
		// container (hairpin): as the bridge's address, so that replies
		// come back here.
		for _, src := range []*net.IPNet{loopback, n.Subnet} {
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append(append(saddrIn(src),
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n.Bridge)},
			), append(ctDNATed(), &expr.Masq{})...)})
		}
		for _, o := range nets {
			if o.Bridge != n.Bridge { // no network forwards to another
				c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
					&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n.Bridge)},
					&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(o.Bridge)},
					&expr.Verdict{Kind: expr.VerdictDrop},
				}})
			}
		}
		if n.Internal { // nothing in or out but its own
			for _, k := range [][2]expr.MetaKey{{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME}, {expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME}} {
				c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
					&expr.Meta{Key: k[0], Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n.Bridge)},
					&expr.Meta{Key: k[1], Register: 1},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(n.Bridge)},
					&expr.Verdict{Kind: expr.VerdictDrop},
				}})
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", table, err)
	}
	return nil
}

// saddrIn matches an IPv4 source address in n.
func saddrIn(n *net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: n.Mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4()},
	}
}

// ctDNATed matches a connection whose destination was NATed.
func ctDNATed() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(0x20), Xor: binaryutil.NativeEndian.PutUint32(0)}, // IPS_DST_NAT
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// dnat is one published port's rule.
func dnat(p PortRule) []expr.Any {
	proto := byte(unix.IPPROTO_TCP)
	if p.Proto == "udp" {
		proto = unix.IPPROTO_UDP
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.HostPort)},
	}
	if p.HostIP != nil && !p.HostIP.IsUnspecified() {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.HostIP.To4()})
	} else { // any address of the host
		e = append(e,
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	}
	return append(e,
		&expr.Immediate{Register: 1, Data: p.CtrIP.To4()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.CtrPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}

// DeleteTable removes berth's table name, if it exists (in the network
// namespace opts name, if any: nftables.WithNetNSFd).
func DeleteTable(table string, opts ...nftables.ConnOption) error {
	c, err := nftables.New(opts...)
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	return c.Flush()
}

// ifname is an interface name as nftables compares it (NUL-padded).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
