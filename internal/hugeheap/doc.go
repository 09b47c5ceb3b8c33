// Package hugeheap asks, when imported, for transparent huge pages on the
// Go heap of berth's short-lived processes: a CLI command and
// libcontainer's init, both on the critical path of every `berth run`.
//
// A fresh Go process touches a few megabytes of heap in its first
// milliseconds, one 4 KB page fault at a time. Where a fault is costly
// (virtual machines with shadow paging: 12-15 µs each on the machine
// berth is measured on), those faults are a large part of a CLI
// command's run time. With THP in "madvise" mode (Debian's default) the
// Go runtime never asks for huge pages; this package does, for the
// heap arena the process starts in, from a package init that runs before
// most allocations. Long-lived processes (daemon, shims, registry, the
// container's init) are left alone: for them, memory matters more.
package hugeheap
