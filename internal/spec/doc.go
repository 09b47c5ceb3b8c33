// Package spec turns a Docker container configuration into an OCI runtime
// spec: namespaces, mounts, Docker's default capability set and seccomp
// profile, masked and read-only /proc paths, cgroup limits, rlimits. It is
// pure: it reads no files and starts nothing, so every rule is table-tested.
// It is the one low-level package that reads the Engine API's container
// config types.
package spec
