// Package initproc is the tiny init that `run --init` puts in front of a
// container's command (the berth binary itself, bind-mounted read-only at
// /sbin/berth-init, as docker-init/tini is for Docker): it starts the
// command, forwards every catchable signal to it, reaps zombies, and exits
// with the command's exit status.
package initproc
