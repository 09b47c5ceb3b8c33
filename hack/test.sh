#!/bin/sh
# The test command: installs what the tests need, then vets and runs every
# test, end-to-end ones included (they need root and start private daemons).
set -eu
cd "$(dirname "$0")/.."
./hack/deps.sh test
go mod download
# The OCI distribution-spec conformance suite, pinned, for TestRegistryConformance.
GOFLAGS=-mod=mod go install github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111
go vet ./...
go vet -tags integration ./...
# The real half of internal/seccompcache builds only against runc with
# berth's hook (hack/runc-overlay.sh), as the shim program is built.
runc=$(mktemp -d)
trap 'rm -rf "$runc"' EXIT
modfile=$(./hack/runc-overlay.sh "$runc")
go vet -modfile "$modfile" -tags seccomp,seccompcache ./internal/seccompcache ./cmd/berth-shim
go test -count=1 -modfile "$modfile" -tags seccomp,seccompcache ./internal/seccompcache
# The packages whose state is shared between goroutines, under the race
# detector (the daemon itself is, in TestConcurrentLifecycleStress).
go test -race -count=1 ./internal/container ./internal/runtime ./internal/shim ./internal/image
BERTH_INTEGRATION=1 go test -count=1 -tags integration -timeout 20m ./...
