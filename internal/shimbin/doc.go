// Package shimbin carries the shim program inside the berth binary. The
// shim and libcontainer's init run once per container, so they are built
// as a program of their own (cmd/berth-shim: the shim, the init and
// nothing of the CLI or the daemon): it starts faster and each running
// shim holds about a megabyte less memory than the whole berth binary
// would. `make build` embeds it (build tag shimembed); the daemon copies
// it into a sealed memfd once and starts every shim from there, which
// also spares libcontainer its per-container copy of the binary (see
// runc's exeseal, CVE-2019-5736). Built without the tag, berth starts
// itself as the shim, as before.
package shimbin
