// Package sysinfo probes what the host offers containers: which cgroup
// limits the kernel supports (cgroup v1, v2 or hybrid), whether IPv4
// forwarding is on, the storage's backing file system. /info reports it,
// as Docker's does.
package sysinfo
