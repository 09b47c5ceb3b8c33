package bridge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// EnsureBridge makes the bridge name (if it is missing) with gw as its
// address and brings it up. A bridge that exists keeps its other
// addresses.
func EnsureBridge(name string, gw *net.IPNet) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: 1500, TxQLen: -1}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return err
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s exists and is not a bridge (%s)", name, link.Type())
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return err
	}
	has := false
	for _, a := range addrs {
		has = has || a.IPNet.String() == gw.String()
	}
	if !has {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: gw}); err != nil {
			return fmt.Errorf("address %s on %s: %w", gw, name, err)
		}
	}
	// Published ports answer on the host's loopback too: packets from
	// 127.0.0.1 DNATed to a container leave through the bridge, which the
	// kernel allows only with route_localnet on it (this bridge's setting,
	// not the host's).
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+name+"/route_localnet", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("route_localnet on %s: %w", name, err)
	}
	return netlink.LinkSetUp(link)
}

// EnsureAddr6 gives the bridge name the IPv6 address gw (a network's
// gateway), without duplicate address detection (it would keep the
// address unusable for a second or two).
func EnsureAddr6(name string, gw *net.IPNet) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_V6) })
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.IPNet.String() == gw.String() {
			return nil
		}
	}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: gw, Flags: unix.IFA_F_NODAD}); err != nil {
		return fmt.Errorf("address %s on %s: %w", gw, name, err)
	}
	return nil
}

// Routes6 are the IPv6 destinations the host routes now.
func Routes6() ([]*net.IPNet, error) {
	rs, err := dump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V6) })
	if err != nil {
		return nil, err
	}
	var out []*net.IPNet
	for _, r := range rs {
		if r.Dst != nil && !r.Dst.IP.IsLinkLocalUnicast() && !r.Dst.IP.IsMulticast() {
			out = append(out, r.Dst)
		}
	}
	return out, nil
}

// Delete removes the link name if it exists.
func Delete(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(link)
}

// DeleteLater deletes the link name as it is now (by its index) in the
// background, if it exists.
func DeleteLater(name string) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return
	}
	go func() { _ = netlink.LinkDel(link) }()
}

// Ports are the names of the links attached to the bridge name (none if
// it does not exist).
func Ports(name string) ([]string, error) {
	br, err := netlink.LinkByName(name)
	if err != nil {
		return nil, nil
	}
	links, err := dump(netlink.LinkList)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// Reattach attaches the veth name to the bridge br (up, hairpin on) if it
// exists and is not attached to it: a bridge deleted and made again
// loses its ports. It reports whether it did.
func Reattach(name, br string) (bool, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return false, nil // gone with its namespace, or never made
	}
	b, err := netlink.LinkByName(br)
	if err != nil {
		return false, err
	}
	if l.Attrs().MasterIndex == b.Attrs().Index {
		return false, nil
	}
	if err := netlink.LinkSetMasterByIndex(l, b.Attrs().Index); err != nil {
		return false, fmt.Errorf("attach %s to %s: %w", name, br, err)
	}
	_ = netlink.LinkSetHairpin(l, true)
	return true, netlink.LinkSetUp(l)
}

// NewNetns makes a network namespace that lives in the file path (a bind
// mount of it), with its loopback up: it outlives the process that made
// it, and the daemon.
func NewNetns(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			_ = unix.Unmount(path, unix.MNT_DETACH)
			_ = os.Remove(path)
		}
	}()
	done := make(chan error, 1)
	go func() {
		// A thread of its own, never given back to the Go scheduler: it
		// leaves the host's namespace and dies with its goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare a network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("bind the network namespace to %s: %w", path, err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		done <- err
	}()
	return <-done
}

// DeleteNetns releases the namespace file at path (the namespace goes
// with its last user, and its veths with it).
func DeleteNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("release network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Endpoint is one container's interface on a bridge.
type Endpoint struct {
	HostVeth string           // the host's end, attached to the bridge
	Addr     *net.IPNet       // the container's address (eth0)
	Gateway  net.IP           // its default route; nil: none (a second network)
	MAC      net.HardwareAddr // the container's interface's
	Ifname   string           // the container's interface ("" is eth0)
	Addr6    *net.IPNet       // its IPv6 address, if its network has IPv6
	Gateway6 net.IP           // its IPv6 default route; nil: none
}

// Connect makes a veth pair between the bridge and the namespace at
// nsPath (named ep.Ifname there), with ep's address, MAC and default
// route.
func Connect(bridge, nsPath string, ep Endpoint) error {
	ifname := ep.Ifname
	if ifname == "" {
		ifname = "eth0"
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: ep.HostVeth, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU, TxQLen: -1},
		PeerName:         ifname,
		PeerHardwareAddr: ep.MAC,
		PeerNamespace:    netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", ep.HostVeth, err)
	}
	fail := func(err error) error {
		_ = Delete(ep.HostVeth)
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	eth0, err := h.LinkByName(ifname)
	if err != nil {
		return fail(err)
	}
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ep.Addr}); err != nil {
		return fail(fmt.Errorf("address %s: %w", ep.Addr, err))
	}
	if ep.Addr6 != nil {
		if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ep.Addr6, Flags: unix.IFA_F_NODAD}); err != nil {
			return fail(fmt.Errorf("address %s: %w", ep.Addr6, err))
		}
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fail(err)
	}
	if ep.Gateway != nil {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: ep.Gateway}); err != nil {
			return fail(fmt.Errorf("default route via %s: %w", ep.Gateway, err))
		}
	}
	if ep.Gateway6 != nil {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: ep.Gateway6}); err != nil {
			return fail(fmt.Errorf("IPv6 default route via %s: %w", ep.Gateway6, err))
		}
	}
	host, err := netlink.LinkByName(ep.HostVeth)
	if err != nil {
		return fail(err)
	}
	// Hairpin: a container reaching its own published port through the
	// host's address gets its packets back through its own port.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fail(err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fail(err)
	}
	return nil
}

// Routes are the IPv4 destinations the host routes now, but through the
// link skip (to choose a subnet nobody else uses).
func Routes(skip string) ([]*net.IPNet, error) {
	rs, err := dump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	skipIndex := -1
	if l, err := netlink.LinkByName(skip); err == nil {
		skipIndex = l.Attrs().Index
	}
	var out []*net.IPNet
	for _, r := range rs {
		if r.Dst != nil && r.LinkIndex != skipIndex {
			out = append(out, r.Dst)
		}
	}
	return out, nil
}

// dump runs a netlink dump again when the kernel's table changed while it
// was read (ErrDumpInterrupted: other links or routes come and go on a
// busy host); after a few tries it takes the last, possibly inconsistent,
// result rather than fail.
func dump[T any](f func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for i := 0; i < 5; i++ {
		if out, err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, nil
}
