// Package root assembles the berth command tree (global flags, every
// noun's commands) and runs it, turning errors into Docker's messages and
// exit codes.
package root
