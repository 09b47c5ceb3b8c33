// Package networks serves the Engine API's network routes (list, inspect,
// create, remove, prune) over the network service.
package networks
