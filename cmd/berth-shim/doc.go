// Command berth-shim is the per-container part of berth: the shim (`shim
// BUNDLE|--spare`) and libcontainer's init (`init`), without the CLI and
// the daemon. It is not installed on its own: hack/build.sh embeds it in
// berth (internal/shimbin) and the daemon runs it from memory.
package main
