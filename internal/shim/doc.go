// Package shim is the per-container monitor process and its client. A
// shim is started by the daemon for each container start, in its own
// session so it outlives the daemon. It creates the container through
// libcontainer from the OCI spec in its bundle, owns the container's stdio
// (pipes or the TTY master), writes the json-file log, serves attach,
// exec, resize, kill, pause, stats and wait on a unix socket, and when the
// container's init exits it records the exit status in exit.json, removes
// the container's cgroups and exits. The daemon is only ever a client, so
// it can die and come back at will.
package shim
