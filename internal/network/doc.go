// Package network is berth's network service: the default bridge network
// and the user-defined bridge networks (subnets, IPAM for IPv4 and IPv6,
// NAT and published ports in berth's own nftables table), and each
// container's endpoints on them — one network namespace per container,
// kept in a file under the exec root that the runtime joins, so that it
// outlives the daemon, with a veth per network. Records live in bbolt and
// are written before the kernel objects they name; start-up reconciles
// the two. The kernel side is in the bridge subpackage, the embedded DNS
// resolver of user-defined networks in the dns subpackage.
package network
