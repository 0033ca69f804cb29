#!/usr/bin/env bash
# abcpu.sh A B — which of two sniffer binaries costs less CPU live: nginx +
# wrk on a fresh namespace's loopback (as live.sh), the two binaries run in
# turn (A B A B …, PAIRS pairs), each capturing while wrk runs. The CPU of a
# run is the sum over the sniffer's threads of /proc/PID/task/*/schedstat
# (nanoseconds on the CPU) while wrk ran, so start-up and shutdown do not
# count. Prints each pair and the median per binary and of the B/A ratios.
#
#   sudo bench/abcpu.sh /tmp/sniffer-old /tmp/sniffer-new   # PAIRS=6 DURATION=10s
#   SNIFFER_ARGS="-l ..." is passed to both; GOMAXPROCS etc. are inherited.
#   CLOSE=1: a connection per request (wrk -H 'Connection: close').
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$(realpath "${1:?usage: abcpu.sh A B}")
b=$(realpath "${2:?usage: abcpu.sh A B}")
pairs=${PAIRS:-6}
conns=${CONNS:-50}
threads=${THREADS:-2}
duration=${DURATION:-10s}
size=${SIZE:-612}
sniffer_args=${SNIFFER_ARGS:-}
for tool in ip nginx wrk; do
    command -v "$tool" >/dev/null || { echo "abcpu.sh: $tool is missing (apt-get install -y nginx wrk)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "abcpu.sh: needs root (network namespaces, capture)" >&2; exit 1; }

# run is called in a subshell: the running sniffer's PID is kept in a file
# for the cleanup.
extra_cleanup() { [ -s "$work/sniffer.pid" ] && kill "$(cat "$work/sniffer.pid")" 2>/dev/null; return 0; }
# shellcheck source=bench/nginxns.sh
. "$here/nginxns.sh"

# cpu_ns PID — nanoseconds on the CPU so far, summed over PID's threads.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }

# run BIN — one capture under wrk; prints ms of CPU per 100 000 requests.
run() {
    rm -f "$work/err"
    # shellcheck disable=SC2086
    ip netns exec "$ns" "$1" $sniffer_args >"$work/entries" 2>"$work/err" &
    local sniffer_pid=$!
    echo "$sniffer_pid" >"$work/sniffer.pid"
    for _ in $(seq 100); do grep -q "listening on" "$work/err" 2>/dev/null && break; sleep 0.1; done
    grep -q "listening on" "$work/err" || { echo "abcpu.sh: $1 did not start:" >&2; cat "$work/err" >&2; exit 1; }
    local c0 c1 reqs
    c0=$(cpu_ns "$sniffer_pid")
    inns wrk -c "$conns" -t "$threads" -d "$duration" "${wrk_hdr[@]}" "$url" >"$work/wrk.out"
    c1=$(cpu_ns "$sniffer_pid")
    kill -INT "$sniffer_pid"
    wait "$sniffer_pid" || { echo "abcpu.sh: $1 failed:" >&2; cat "$work/err" >&2; exit 1; }
    : >"$work/sniffer.pid"
    reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    awk -v c=$((c1 - c0)) -v r="$reqs" 'BEGIN {printf "%.1f\n", c / r * 100000 / 1e6}'
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "A: $a"
echo "B: $b"
for i in $(seq "$pairs"); do
    ra=$(run "$a")
    rb=$(run "$b")
    echo "$ra $rb" >>"$work/pairs"
    printf 'pair %d: A %s  B %s ms CPU per 100000 requests\n' "$i" "$ra" "$rb"
done
printf 'median of %d: A %s, B %s ms per 100000 requests; B/A %.3f (median of per-pair ratios)\n' "$pairs" \
    "$(cut -d' ' -f1 "$work/pairs" | median)" "$(cut -d' ' -f2 "$work/pairs" | median)" \
    "$(awk '{print $2 / $1}' "$work/pairs" | median)"
