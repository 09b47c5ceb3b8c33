// Package integration holds the end-to-end tests: they build the real
// berth binary, start private daemons (own data root, exec root and
// socket) and act as users do, with berth's CLI and the official docker
// CLI. They need root and run with `-tags integration`.
package integration
