#!/bin/sh
# Makes a copy of runc (github.com/opencontainers/runc, the version go.mod
# pins) whose libcontainer/seccomp has berth's precompiled-filter hook
# (internal/seccompcache/_runc: a patch to seccomp_linux.go and two added
# files), and a go.mod that uses it; prints that go.mod's path for
# `go build -modfile`. The shim program is built with it (hack/build.sh,
# build tag seccompcache). The copy is symbolic links to the module cache
# but for the patched file. Usage: hack/runc-overlay.sh DIR
set -eu
dir=$1
cd "$(dirname "$0")/.."
repo=$(pwd)
go mod download github.com/opencontainers/runc
src=$(go list -m -f '{{.Dir}}' github.com/opencontainers/runc)
ours=$repo/internal/seccompcache/_runc
rm -rf "$dir/runc"
mkdir -p "$dir"
cp -rs "$src" "$dir/runc"
# The module cache's directories are read-only, and so are their copies.
find "$dir/runc" -type d -exec chmod u+w {} +
sc=$dir/runc/libcontainer/seccomp
rm "$sc/seccomp_linux.go"
cp "$src/libcontainer/seccomp/seccomp_linux.go" "$sc/seccomp_linux.go"
chmod u+w "$sc/seccomp_linux.go"
if ! patch -s -F0 --no-backup-if-mismatch -r - "$sc/seccomp_linux.go" <"$ours/seccomp_linux.go.patch" >&2; then
	echo "runc's libcontainer/seccomp/seccomp_linux.go changed: update $ours/seccomp_linux.go.patch" >&2
	exit 1
fi
cp "$ours/seccomp_precompiled_linux.go" "$sc/"
cp "$ours/patchbpf_precompiled_linux.go" "$sc/patchbpf/"
cp go.mod "$dir/go.mod"
cp go.sum "$dir/go.sum"
go mod edit -modfile "$dir/go.mod" -replace "github.com/opencontainers/runc=$dir/runc"
echo "$dir/go.mod"
