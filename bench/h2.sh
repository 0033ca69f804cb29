#!/usr/bin/env bash
# h2.sh [CAPTURE] — CPU of sniffer -f on an h2c capture of many streams,
# against tcpdump -r FILE -w /dev/null (pass-through) and tshark decoding
# http2, in alternating rounds (ROUNDS, default 7); medians and ratios.
# CPU is user+system seconds of each run (GNU time's %U+%S through bash's
# TIMEFORMAT). Without CAPTURE it makes one: nghttpd --no-tls and h2load
# (REQUESTS, default 200000; CLIENTS 10, STREAMS 10 concurrent per client)
# on loopback, captured with tcpdump. Needs root, tcpdump, tshark, nghttpd,
# h2load (apt-get install tcpdump tshark nghttp2-server nghttp2-client).
#   sudo bench/h2.sh                 # ROUNDS=7 REQUESTS=200000
#   sudo bench/h2.sh /tmp/h2.pcap
#   SNIFFER_BIN=path times that binary instead of building ./cmd/sniffer
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-7}
port=${PORT:-18491}
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
    [ -s "$work/nghttpd.pid" ] && kill "$(cat "$work/nghttpd.pid")" 2>/dev/null
    [ -s "$work/tcpdump.pid" ] && kill "$(cat "$work/tcpdump.pid")" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cap=${1:-}
if [ -z "$cap" ]; then
    for tool in tcpdump nghttpd h2load; do
        command -v "$tool" >/dev/null || { echo "h2.sh: $tool is missing" >&2; exit 1; }
    done
    cap=$work/h2.pcap
    mkdir -p "$work/www"
    head -c "${SIZE:-612}" /dev/zero | tr '\0' x >"$work/www/index.html"
    chmod -R a+rX "$work/www"
    nghttpd --no-tls -d "$work/www" "$port" >"$work/nghttpd.log" 2>&1 &
    echo $! >"$work/nghttpd.pid"
    tcpdump -i lo -s 0 -B 65536 -w "$cap" "tcp port $port" 2>"$work/tcpdump.err" &
    echo $! >"$work/tcpdump.pid"
    for _ in $(seq 50); do grep -q listening "$work/tcpdump.err" && break; sleep 0.1; done
    sleep 0.5
    h2load -n "${REQUESTS:-200000}" -c "${CLIENTS:-10}" -m "${STREAMS:-10}" "http://127.0.0.1:$port/index.html" >"$work/h2load.out"
    grep -E '^requests:' "$work/h2load.out"
    sleep 0.5
    kill -INT "$(cat "$work/tcpdump.pid")"
    wait "$(cat "$work/tcpdump.pid")" || true
    : >"$work/tcpdump.pid"
    grep -E 'captured|dropped' "$work/tcpdump.err"
fi
cap=$(realpath "$cap")
if [ -n "${SNIFFER_BIN:-}" ]; then cp "$SNIFFER_BIN" "$work/sniffer"; else (cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer); fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# cpu CMD... — user+system CPU seconds of one run, output discarded.
cpu() {
    local TIMEFORMAT='%U %S' t
    t=$({ time "$@" >/dev/null 2>&1; } 2>&1)
    awk '{printf "%.4f\n", $1 + $2}' <<<"$t"
}
dport=$(tcpdump -r "$cap" -n -c 1 2>/dev/null | sed -n 's/.* > [0-9.]*\.\([0-9]*\):.*/\1/p')
tsharkport=${TSHARK_PORT:-$port}
for _ in $(seq "$rounds"); do
    cpu tcpdump -r "$cap" -w /dev/null >>"$work/t.tcpdump"
    cpu "$work/sniffer" -f "$cap" >>"$work/t.sniffer"
    cpu tshark -r "$cap" -d "tcp.port==$tsharkport,http2" -Y http2.headers.status -T fields -e http2.streamid -e http2.headers.status >>"$work/t.tshark"
done
entries=$("$work/sniffer" -f "$cap" | wc -l)
td=$(median <"$work/t.tcpdump"); sn=$(median <"$work/t.sniffer"); ts=$(median <"$work/t.tshark")
printf 'capture: %s (%s bytes, %s entries; first packet port %s)\n' "$cap" "$(stat -c %s "$cap")" "$entries" "$dport"
printf 'tcpdump -r -w /dev/null   median %.3f s CPU of %d\n' "$td" "$rounds"
printf 'sniffer -f                median %.3f s CPU of %d   sniffer/tcpdump %.2f\n' "$sn" "$rounds" "$(echo "$sn / $td" | bc -l)"
printf 'tshark -d http2           median %.3f s CPU of %d   sniffer/tshark  %.3f\n' "$ts" "$rounds" "$(echo "$sn / $ts" | bc -l)"
printf 'per-round sniffer/tcpdump ratio, median: %.2f\n' "$(paste "$work/t.sniffer" "$work/t.tcpdump" | awk '{print $1 / $2}' | median)"
