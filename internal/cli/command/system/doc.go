// Package system holds version, info, events and the generic inspect.
package system
