// Package shim is the per-container monitor process and its client. A
// shim is started by the daemon for each container start, in its own
// session so it outlives the daemon. A short-lived child of it, the
// creator, makes the container through libcontainer from the OCI spec in
// the bundle and exits (as `runc create` does under containerd's shim);
// the container's init is then the shim's child, and the shim never holds
// the memory that building libcontainer's configuration takes. The shim
// owns the container's stdio (pipes or the TTY master), releases init
// (libcontainer's exec fifo), writes the json-file log, serves attach,
// exec, resize, kill, pause, stats and wait on a unix socket (loading
// libcontainer's state of the container only for exec, pause and stats),
// and when init exits it records the exit status in exit.json, removes
// the container's cgroups and state and exits. The daemon is only ever a
// client, so it can die and come back at will.
package shim
