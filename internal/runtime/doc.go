// Package runtime drives containers from OCI specs through shims: it
// writes a container's bundle (spec and shim options) under the exec
// root, starts its shim in a new session, waits for the shim to report the
// container created, and then talks to the shim over its socket (start,
// wait, kill, attach, exec, resize, pause, stats). A daemon that restarts
// gets the same Task back for a container whose shim still runs.
package runtime
