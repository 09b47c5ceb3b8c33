// Package daemon is the composition root: it reads flags and daemon.json,
// opens the metadata database and the stores, builds the services with
// explicit arguments, re-adopts running containers, cleans what a crash
// left, and serves the Engine API until it is told to stop. Stopping the
// daemon never stops containers (live restore). Only cmd/berth imports it.
package daemon
