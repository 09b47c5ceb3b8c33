// Package dns is berth's embedded DNS server: the resolver a container on
// a user-defined network finds at 127.0.0.11. It answers the names of the
// containers that share a network with the asker (container names, their
// aliases, short IDs and host names, also as NAME.NETWORK, and the reverse
// names of their addresses) and forwards everything else to the asker's
// upstream servers (--dns, else the host's).
//
// It runs as a process of its own (`berth dns-resolver DIR`), started by
// the daemon and outliving it as a shim does, so names keep resolving
// while the daemon is down or restarting. The daemon is its only writer:
// it writes the records to DIR/records.json (atomically) and signals the
// process (SIGHUP) to read them again. For each container the process
// opens a UDP and a TCP socket on 127.0.0.11 (on ports of the kernel's
// choice) inside the container's network namespace, and redirects port 53
// there with a small nftables table of its own in that namespace, so that
// a container may still run its own server on port 53, as with Docker.
package dns
