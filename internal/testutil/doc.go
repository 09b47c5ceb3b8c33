// Package testutil is for tests only: it builds the berth binary once per
// test process, starts daemons with private data roots, exec roots and
// sockets, makes the busybox test image from Debian's busybox-static, and
// registers cleanup (daemon, shims, mounts, cgroups, directories) before
// it creates anything, so a failing test leaves nothing behind.
package testutil
