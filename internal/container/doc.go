// Package container is the container service: records (persisted in its
// own bbolt bucket), names, the state machine (created, running, paused,
// restarting, exited, dead), the lifecycle (create, start, stop, kill,
// restart, remove), restart policies, waiters, attach (including attach
// before start, so a fast process's first bytes are not lost), logs, exec
// sessions, and re-adoption of running containers after a daemon restart.
// It declares the small interfaces it needs from the image service and
// knows nothing of HTTP.
package container
