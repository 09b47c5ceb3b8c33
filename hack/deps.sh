#!/bin/sh
# Installs the Debian packages berth needs to build (libseccomp headers for
# the seccomp filter, patch for hack/runc-overlay.sh) and, with "test", to
# run its tests (busybox-static for the test image; the docker CLI if none
# is installed; Debian's python3-docker, the Python SDK, as a client;
# openssh-server, not started, for the ssh:// test; iproute2 for the network
# tests' own namespaces; Debian's docker-compose v1 as a client) and,
# with "bench", to run the benchmarks (Debian's docker.io for a real dockerd
# to compare with, debootstrap for the Debian image).
# Skips what is there.
set -eu
need=""
dpkg -s libseccomp-dev >/dev/null 2>&1 || need="$need libseccomp-dev"
dpkg -s pkg-config >/dev/null 2>&1 || need="$need pkg-config"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v patch >/dev/null 2>&1 || need="$need patch"
if [ "${1:-}" = test ]; then
	dpkg -s busybox-static >/dev/null 2>&1 || need="$need busybox-static"
	command -v docker >/dev/null 2>&1 || need="$need docker.io"
	command -v script >/dev/null 2>&1 || need="$need bsdutils"
	command -v ip >/dev/null 2>&1 || need="$need iproute2" # the network tests' outside namespaces
	command -v docker-compose >/dev/null 2>&1 || need="$need docker-compose" # compose v1, a real client
	/usr/bin/python3 -c "import docker" >/dev/null 2>&1 || need="$need python3-docker"
	[ -x /usr/sbin/sshd ] || need_sshd=1
fi
if [ "${1:-}" = bench ]; then
	dpkg -s busybox-static >/dev/null 2>&1 || need="$need busybox-static"
	command -v dockerd >/dev/null 2>&1 || need="$need docker.io"
	command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
fi
if [ -n "${need_sshd:-}" ]; then
	# openssh-server for the ssh:// transport test, which runs its own
	# sshd on loopback: installed, never started as a service (a
	# policy-rc.d forbids it for the install, then goes).
	echo "installing: openssh-server (not started)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	made=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made=1
	fi
	apt-get install -y -qq --no-install-recommends openssh-server >/dev/null || { [ -z "$made" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
	[ -z "$made" ] || rm -f /usr/sbin/policy-rc.d
fi
if [ -n "$need" ]; then
	echo "installing:$need" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
