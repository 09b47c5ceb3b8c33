#!/bin/sh
# Builds berth as `make build` does: static (so it can be any container's
# --init), with seccomp, and with the shim program (cmd/berth-shim) embedded.
# Usage: hack/build.sh OUTPUT [race]
# With "race", berth itself (daemon and CLI) is built with the race
# detector instead: dynamically linked, so run --init is unavailable (the
# stress test's daemon uses it); the embedded shim stays as always.
set -eu
out=${1:-berth}
mode=${2:-}
cd "$(dirname "$0")/.."
tags=seccomp,netgo,osusergo
ldflags=-extldflags=-static
# Built to a private name and renamed: concurrent builds (test packages)
# never embed a half-written file.
tmp=internal/shimbin/berth-shim.bin.$$
runc=$(mktemp -d)
trap 'rm -f "$tmp"; rm -rf "$runc"' EXIT
# The shim program (the init) is built against runc with the hook for
# precompiled seccomp filters (internal/seccompcache).
modfile=$(./hack/runc-overlay.sh "$runc")
go build -modfile "$modfile" -tags "$tags,seccompcache" -ldflags "$ldflags" -o "$tmp" ./cmd/berth-shim
mv -f "$tmp" internal/shimbin/berth-shim.bin
# /version's GitCommit and BuildTime (the toolchain's own stamp may be
# turned off, GOFLAGS=-buildvcs=false).
stamp=""
if commit=$(git rev-parse --short=7 HEAD 2>/dev/null); then
	[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit-dirty"
	stamp="-X github.com/berthproject/berth/internal/daemon.GitCommit=$commit -X github.com/berthproject/berth/internal/daemon.BuildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
if [ "$mode" = race ]; then
	go build -race -tags "$tags,shimembed" -ldflags "$stamp" -o "$out" ./cmd/berth
else
	go build -tags "$tags,shimembed" -ldflags "$ldflags $stamp" -o "$out" ./cmd/berth
fi
