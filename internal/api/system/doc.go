// Package system serves /_ping, /version, /info and /events.
package system
