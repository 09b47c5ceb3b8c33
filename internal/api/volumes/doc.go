// Package volumes serves the Engine API's volume routes (list, inspect,
// create, remove, prune) over the volume service.
package volumes
