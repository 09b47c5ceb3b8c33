// Package httputil holds what every API handler shares: the one table
// that maps error kinds to HTTP statuses, JSON and error writers, the
// negotiated API version of a request, connection hijacking for attach
// and exec, and writers for Docker's stream formats (flushing writes,
// JSON messages).
package httputil
