#!/bin/bash
# Measures, side by side in one run: median/min/max wall time of
# `run --rm busybox true` (CLI to exit) for berth and, if DOCKER_HOST_SOCK
# is set, for a real dockerd; then berth's idle daemon RSS and PSS per
# running container (daemon share + shim, from /proc/PID/smaps_rollup).
# Usage (root): bench/startup.sh BERTH_BIN BERTH_SOCK [RUNS] [CONTAINERS]
set -euo pipefail
bin=$1 sock=$2 runs=${3:-30} n=${4:-20}
berth() { "$bin" -H "unix://$sock" "$@"; }

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f %.3f\n", m, a[1], a[NR]}'; }
timeit() { # prints seconds for each of $runs runs of "$@"
	"$@" >/dev/null 2>&1 # warm-up
	for _ in $(seq "$runs"); do
		s=$EPOCHREALTIME; "$@" >/dev/null; e=$EPOCHREALTIME
		echo "$e - $s" | bc
	done
}
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

read -r bm bmin bmax < <(timeit berth run --rm busybox true | median)
echo "| figure | berth | docker | berth/docker |"
echo "|---|---|---|---|"
if [ -n "${DOCKER_HOST_SOCK:-}" ]; then
	read -r dm dmin dmax < <(timeit docker -H "unix://$DOCKER_HOST_SOCK" run --rm busybox true | median)
	echo "| run --rm busybox true, median (min-max) s, $runs runs | $bm ($bmin-$bmax) | $dm ($dmin-$dmax) | $(echo "scale=3; $bm/$dm" | bc) |"
else
	echo "| run --rm busybox true, median (min-max) s, $runs runs | $bm ($bmin-$bmax) | - | - |"
fi
dpid=$(ss -xlpn | awk -v s="$sock" '$5==s' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
idle_rss=$(rss "$dpid"); idle_pss=$(pss "$dpid")
spare=$(pgrep -f -P "$dpid" "berth shim --spare" | head -1)
[ -n "$spare" ] && spare_mem="$(rss "$spare") / $(pss "$spare")"
ids=()
for i in $(seq "$n"); do ids+=("$(berth run -d busybox sleep 600)"); done
sleep 1
shim_pss=0
# Container shims are the daemon's children that listen on a socket (the
# spare does not listen yet).
listening=" $(ss -xlpn | grep -o 'berth",pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' ') "
for s in $(pgrep -P "$dpid"); do
	case "$listening" in *" $s "*) shim_pss=$((shim_pss + $(pss "$s"))) ;; esac
done
busy_pss=$(pss "$dpid")
per=$(( (shim_pss + busy_pss - idle_pss) / n ))
berth rm -f "${ids[@]}" >/dev/null
echo "| daemon idle RSS (kB) | $idle_rss | | |"
[ -n "${spare_mem:-}" ] && echo "| spare shim kept ready by the idle daemon, RSS / PSS (kB) | $spare_mem | | |"
echo "| PSS per running container, $n running (kB, daemon share + shim) | $per | | |"
