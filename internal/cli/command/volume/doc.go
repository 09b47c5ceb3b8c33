// Package volume is the CLI's `volume` command: create, ls, inspect, rm
// and prune, as the docker CLI has them.
package volume
