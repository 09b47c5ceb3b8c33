package network

import (
	"encoding/binary"
	"fmt"
	"net"
)

// DefaultPools are where Docker looks for a default bridge subnet: the
// first /16 of 172.17-31 that nothing on the host routes, then /20s of
// 192.168.
func DefaultPools() []*net.IPNet {
	var out []*net.IPNet
	for b := 17; b <= 31; b++ {
		out = append(out, &net.IPNet{IP: net.IPv4(172, byte(b), 0, 0).To4(), Mask: net.CIDRMask(16, 32)})
	}
	for c := 0; c < 256; c += 16 {
		out = append(out, &net.IPNet{IP: net.IPv4(192, 168, byte(c), 0).To4(), Mask: net.CIDRMask(20, 32)})
	}
	return out
}

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

// ChooseSubnet is the first pool that overlaps none of the routed
// destinations (ignoring the default route and the bridge's own).
func ChooseSubnet(pools, routed []*net.IPNet) (*net.IPNet, error) {
next:
	for _, p := range pools {
		for _, r := range routed {
			if ones, _ := r.Mask.Size(); ones == 0 {
				continue
			}
			if overlaps(p, r) {
				continue next
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("no free subnet for the default bridge among Docker's default pools: give one with --bip")
}

func ipToU32(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func u32ToIP(n uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, n)
	return ip
}

// Pool hands out the addresses of a subnet: not the network's, the
// broadcast's or the gateway's, and not one in use; round-robin after the
// last given, as Docker's IPAM (an address just freed is not reused at
// once).
type Pool struct {
	Subnet  *net.IPNet
	Gateway net.IP
	// Range, when set, is the part of Subnet Allocate hands out from
	// (--ip-range, --fixed-cidr); --ip may still ask for any address.
	Range *net.IPNet
	used  map[uint32]bool
	last  uint32
}

// NewPool returns the pool of subnet with gateway reserved.
func NewPool(subnet *net.IPNet, gateway net.IP) *Pool {
	return &Pool{Subnet: subnet, Gateway: gateway, used: map[uint32]bool{}}
}

// Take marks ip as used (a restored endpoint's).
func (p *Pool) Take(ip net.IP) { p.used[ipToU32(ip)] = true }

// Release frees ip.
func (p *Pool) Release(ip net.IP) { delete(p.used, ipToU32(ip)) }

// Allocate returns a free address.
func (p *Pool) Allocate() (net.IP, error) {
	ones, bits := p.Subnet.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	base := ipToU32(p.Subnet.IP)
	gw := ipToU32(p.Gateway)
	for i := uint32(1); i <= size; i++ {
		off := (p.last + i) % size
		if off == 0 || off == size-1 { // network, broadcast
			continue
		}
		n := base + off
		if n == gw || p.used[n] || p.Range != nil && !p.Range.Contains(u32ToIP(n)) {
			continue
		}
		p.used[n], p.last = true, off
		return u32ToIP(n), nil
	}
	return nil, fmt.Errorf("no available IPv4 address on network %s", p.Subnet)
}

// SubRange parses cidr as a range of subnet's addresses (--ip-range,
// --fixed-cidr): a network of its own, inside subnet.
func SubRange(cidr string, subnet *net.IPNet) (*net.IPNet, error) {
	ip, r, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("invalid CIDR address: %s", cidr)
	}
	rOnes, _ := r.Mask.Size()
	sOnes, _ := subnet.Mask.Size()
	if !subnet.Contains(r.IP) || rOnes < sOnes {
		return nil, fmt.Errorf("the range %s is not inside the subnet %s", cidr, subnet)
	}
	return r, nil
}

// AddressPool is one --default-address-pool: Base cut into networks of
// prefix Size.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

// maxSplit bounds the networks a pool is cut into (a /8 in /24s is 65536).
const maxSplit = 1 << 16

// SplitPools cuts the pools into the networks they offer, in order, as
// Docker does with default-address-pools.
func SplitPools(pools []AddressPool) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range pools {
		ip, base, err := net.ParseCIDR(p.Base)
		if err != nil || ip.To4() == nil {
			return nil, fmt.Errorf("invalid default address pool base %q: want an IPv4 CIDR", p.Base)
		}
		ones, _ := base.Mask.Size()
		if p.Size < ones || p.Size > 30 {
			return nil, fmt.Errorf("invalid default address pool %s size %d: want a prefix between %d and 30", p.Base, p.Size, ones)
		}
		n := uint32(1) << uint(p.Size-ones)
		if n > maxSplit {
			n = maxSplit
		}
		step := uint32(1) << uint(32-p.Size)
		for i := uint32(0); i < n; i++ {
			out = append(out, &net.IPNet{IP: u32ToIP(ipToU32(base.IP) + i*step), Mask: net.CIDRMask(p.Size, 32)})
		}
	}
	return out, nil
}

// MACFor is Docker's MAC for an IPv4 address: 02:42 and its four bytes.
func MACFor(ip net.IP) net.HardwareAddr {
	v4 := ip.To4()
	return net.HardwareAddr{0x02, 0x42, v4[0], v4[1], v4[2], v4[3]}
}

// Request takes ip for an endpoint that asked for it (--ip): in the
// subnet, not its network, broadcast or gateway address, and free.
func (p *Pool) Request(ip net.IP) error {
	v4 := ip.To4()
	if v4 == nil || !p.Subnet.Contains(v4) {
		return fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets", ip)
	}
	ones, bits := p.Subnet.Mask.Size()
	off := ipToU32(v4) - ipToU32(p.Subnet.IP)
	if off == 0 || off == uint32(1)<<uint(bits-ones)-1 || v4.Equal(p.Gateway) {
		return fmt.Errorf("Address %s is not available: it is the network's, its broadcast or its gateway", ip)
	}
	if p.used[ipToU32(v4)] {
		return fmt.Errorf("Address already in use")
	}
	p.used[ipToU32(v4)] = true
	return nil
}

// Pool6 hands out the IPv6 addresses of a network's IPv6 subnet: from
// its ::2 up (the gateway is ::1 unless given), as Docker's IPAM does,
// not one in use; --ip6 may take any other.
type Pool6 struct {
	Subnet  *net.IPNet
	Gateway net.IP
	used    map[string]bool
	next    uint64
}

// NewPool6 returns the pool of subnet with gateway reserved.
func NewPool6(subnet *net.IPNet, gateway net.IP) *Pool6 {
	return &Pool6{Subnet: subnet, Gateway: gateway, used: map[string]bool{gateway.String(): true}, next: 2}
}

// add6 is ip plus n (in its last 64 bits).
func add6(ip net.IP, n uint64) net.IP {
	out := make(net.IP, 16)
	copy(out, ip.To16())
	lo := binary.BigEndian.Uint64(out[8:]) + n
	binary.BigEndian.PutUint64(out[8:], lo)
	return out
}

// size6 is how many addresses the pool hands out from (at most 2^32).
func (p *Pool6) size6() uint64 {
	ones, bits := p.Subnet.Mask.Size()
	if bits-ones >= 32 {
		return 1 << 32
	}
	return 1 << uint(bits-ones)
}

// Take marks ip as used (a restored endpoint's).
func (p *Pool6) Take(ip net.IP) { p.used[ip.String()] = true }

// Release frees ip.
func (p *Pool6) Release(ip net.IP) {
	if !ip.Equal(p.Gateway) {
		delete(p.used, ip.String())
	}
}

// Allocate returns a free address.
func (p *Pool6) Allocate() (net.IP, error) {
	size := p.size6()
	for i := uint64(0); i < size && i < 1<<16; i++ {
		off := p.next + i
		if off >= size {
			off = off%size + 1 // past the end: from ::1 again
		}
		ip := add6(p.Subnet.IP, off)
		if p.used[ip.String()] || !p.Subnet.Contains(ip) {
			continue
		}
		p.used[ip.String()], p.next = true, off+1
		return ip, nil
	}
	return nil, fmt.Errorf("no available IPv6 address on network %s", p.Subnet)
}

// Request takes ip for an endpoint that asked for it (--ip6).
func (p *Pool6) Request(ip net.IP) error {
	if ip.To4() != nil || !p.Subnet.Contains(ip) {
		return fmt.Errorf("Invalid address %s: It does not belong to any of this network's subnets", ip)
	}
	if ip.Equal(p.Subnet.IP) {
		return fmt.Errorf("Address %s is not available: it is the network's", ip)
	}
	if p.used[ip.String()] {
		return fmt.Errorf("Address already in use")
	}
	p.used[ip.String()] = true
	return nil
}
