// Package berth is the root of the berth module: a container engine that
// speaks the Docker Engine API. The code lives in cmd/ and internal/; this
// package holds only the tests that keep the structure in ARCHITECTURE.md
// true (import directions, a doc.go per package).
package berth
