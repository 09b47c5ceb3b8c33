// Package bridge is the kernel side of berth's bridge networks: the Linux
// bridge, network namespaces kept in files, veth pairs with the
// container's address and route, and berth's own nftables table (through
// netlink and nftables, no iptables or ip binaries).
package bridge
