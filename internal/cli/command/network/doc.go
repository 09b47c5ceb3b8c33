// Package network is the CLI's network noun: create, ls, inspect, rm,
// prune.
package network
