// Package container holds the container commands (run, create, start, ps,
// logs, wait, stop, kill, restart, rm, exec, attach, top, pause, unpause,
// rename, stats, inspect), one file per verb group.
package container
