// Package network is berth's network service: the default bridge network
// (its subnet, IPAM and NAT), and each container's endpoint on it — a
// network namespace kept in a file under the exec root, which the runtime
// joins, so that it outlives the daemon. Records live in bbolt; the kernel
// side is in the bridge subpackage.
package network
