#!/usr/bin/env bash
# instructions.sh CAPTURE.pcap — instructions executed (valgrind callgrind,
# repeatable whatever else the machine is doing) by sniffer -f with the
# default format, against tcpdump -r on the same file: copying it
# (-w /dev/null) and printing it (-n). Needs valgrind and tcpdump.
#   bench/mkcapture.sh /tmp/nginx.pcap 5 && head -c 20000000 /tmp/nginx.pcap > /tmp/nginx20.pcap
#   bench/instructions.sh /tmp/nginx20.pcap
set -euo pipefail
cap=${1:?usage: instructions.sh CAPTURE.pcap}
cap=$(realpath "$cap")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
# SNIFFER_BIN=path measures that binary instead of building ./cmd/sniffer.
if [ -n "${SNIFFER_BIN:-}" ]; then cp "$SNIFFER_BIN" "$work/sniffer"; else (cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer); fi
ir() { # instructions of a command, its stdout discarded (a capture cut
    # short makes tcpdump exit 1: its count still stands)
    { valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" 2>&1 >/dev/null || true; } |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
entries=$("$work/sniffer" -f "$cap" 2>/dev/null | wc -l)
# No asynchronous preemption: its signals sometimes crash callgrind
# (threads.c: vgCallgrind_post_signal assertion).
sn=$(GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 ir "$work/sniffer" -f "$cap")
empty=$(GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 ir "$work/sniffer" -f "$here/../testdata/oracle/refused.pcap")
td=$(ir tcpdump -Z root -r "$cap" -w /dev/null)
tdn=$(ir tcpdump -Z root -n -r "$cap")
printf 'entries                    %12d\n' "$entries"
printf 'sniffer -f (default fmt)   %12d instructions, %6.0f per entry (start-up: %d)\n' "$sn" "$(echo "($sn-$empty)/$entries" | bc -l)" "$empty"
printf 'tcpdump -r -w /dev/null    %12d instructions  sniffer/tcpdump %.2f\n' "$td" "$(echo "$sn/$td" | bc -l)"
printf 'tcpdump -n -r (printing)   %12d instructions  sniffer/tcpdump %.2f\n' "$tdn" "$(echo "$sn/$tdn" | bc -l)"
