// Package containers serves /containers/... and /exec/...: it decodes
// requests, makes one call on the container service, and encodes Docker's
// wire types (convert.go) and stream formats (attach, logs, wait, stats).
package containers
