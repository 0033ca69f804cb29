#!/usr/bin/env bash
# file.sh [CAPTURE] — time sniffer -f against tcpdump -r on the same capture.
#
# Reports the median of ROUNDS runs (default 5) of each, alternating, and
# their ratio, in wall time and in CPU time (user + system, from
# getrusage: finer than time(1)'s hundredths). Without CAPTURE it makes one
# with mkcapture.sh (nginx + wrk on loopback). SNIFFER_BIN=path times that
# binary instead of building ./cmd/sniffer.
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
if [ -n "${SNIFFER_BIN:-}" ]; then cp "$SNIFFER_BIN" "$work/sniffer"; else (cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer); fi

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# secs CMD... — "wall CPU" seconds of one run (output discarded).
secs() {
    python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
w = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.6f %.6f" % (w, r.ru_utime + r.ru_stime))' "$@"
}
: >"$work/t.tcpdump"; : >"$work/t.sniffer"
for _ in $(seq "$rounds"); do
    secs tcpdump -r "$cap" -w /dev/null >>"$work/t.tcpdump"
    secs "$work/sniffer" -f "$cap" >>"$work/t.sniffer"
done
packets=$(tcpdump -r "$cap" 2>/dev/null | wc -l)
entries=$("$work/sniffer" -f "$cap" | wc -l)
td=$(cut -d' ' -f1 "$work/t.tcpdump" | median)
sn=$(cut -d' ' -f1 "$work/t.sniffer" | median)
tdc=$(cut -d' ' -f2 "$work/t.tcpdump" | median)
snc=$(cut -d' ' -f2 "$work/t.sniffer" | median)
ratios=$(paste -d' ' "$work/t.sniffer" "$work/t.tcpdump" | awk '{printf "%.2f\n", $2 / $4}')
printf 'capture: %s (%s bytes, %s packets, %s entries)\n' "$cap" "$(stat -c %s "$cap")" "$packets" "$entries"
printf 'tcpdump -r FILE -w /dev/null: median %.3f s of %d\n' "$td" "$rounds"
printf 'sniffer -f FILE >/dev/null:   median %.3f s of %d\n' "$sn" "$rounds"
printf 'ratio sniffer/tcpdump: %.2f\n' "$(echo "$sn / $td" | bc -l)"
printf 'CPU: tcpdump median %.3f s, sniffer median %.3f s, ratio %.2f; median of per-pair ratios %.2f (%s)\n' "$tdc" "$snc" \
    "$(echo "$snc / $tdc" | bc -l)" "$(echo "$ratios" | median)" "$(echo $ratios)"
printf 'sniffer packets/s: %.0f\n' "$(echo "$packets / $sn" | bc -l)"
