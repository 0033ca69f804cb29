#!/usr/bin/env bash
# file.sh [CAPTURE] — time sniffer -f against tcpdump -r on the same capture.
#
# Reports the median of ROUNDS runs (default 5) of each, and their ratio.
# Without CAPTURE it makes one with mkcapture.sh (nginx + wrk on loopback).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cap=${1:-}
if [ -z "$cap" ]; then
    cap=$work/nginx-wrk.pcap
    "$here/mkcapture.sh" "$cap" 5 2>"$work/mkcapture.log"
fi
(cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# secs CMD... — wall seconds of one run (output discarded).
secs() {
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}
: >"$work/t.tcpdump"; : >"$work/t.sniffer"
for _ in $(seq "$rounds"); do
    secs tcpdump -r "$cap" -w /dev/null >>"$work/t.tcpdump"
    secs "$work/sniffer" -f "$cap" >>"$work/t.sniffer"
done
packets=$(tcpdump -r "$cap" 2>/dev/null | wc -l)
entries=$("$work/sniffer" -f "$cap" | wc -l)
td=$(median <"$work/t.tcpdump")
sn=$(median <"$work/t.sniffer")
printf 'capture: %s (%s bytes, %s packets, %s entries)\n' "$cap" "$(stat -c %s "$cap")" "$packets" "$entries"
printf 'tcpdump -r FILE -w /dev/null: median %.3f s of %d\n' "$td" "$rounds"
printf 'sniffer -f FILE >/dev/null:   median %.3f s of %d\n' "$sn" "$rounds"
printf 'ratio sniffer/tcpdump: %.2f\n' "$(echo "$sn / $td" | bc -l)"
printf 'sniffer packets/s: %.0f\n' "$(echo "$packets / $sn" | bc -l)"
