#!/usr/bin/env bash
# speed.sh [OLD_BINARY] — every figure of the speed issue (16) in one run:
# instructions (callgrind) and CPU (alternating runs) of the default format
# against tcpdump -r FILE -w /dev/null, on a keep-alive and a
# close-per-request capture; live rounds (none / tcpdump / sniffer) of
# both kinds of traffic; and with OLD_BINARY, interleaved live CPU of the
# old binary against this tree's.
#
#   sudo bench/speed.sh /tmp/sniffer-old    # KA=… CLOSE_PCAP=… reuse captures
#
# Needs what mkcapture.sh, instructions.sh, file.sh, live.sh and abcpu.sh
# need (root, nginx, wrk, tcpdump, valgrind, GNU time, python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
old=${1:-}
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
(cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer)
ka=${KA:-$work/ka.pcap}
cl=${CLOSE_PCAP:-$work/close.pcap}
[ -s "$ka" ] || "$here/mkcapture.sh" "$ka" 3 2>/dev/null
[ -s "$cl" ] || CLOSE=1 PORT=18581 "$here/mkcapture.sh" "$cl" 3 2>/dev/null
head -c 20000000 "$ka" >"$work/ka20.pcap"
head -c 20000000 "$cl" >"$work/close20.pcap"
chmod 644 "$work"/*.pcap
export SNIFFER_BIN=$work/sniffer
for c in ka20 close20; do
    echo "== instructions, $c (first 20 MB)"
    "$here/instructions.sh" "$work/$c.pcap"
    if [ -n "$old" ]; then echo "-- old binary:"; SNIFFER_BIN=$old "$here/instructions.sh" "$work/$c.pcap" | sed -n 2,3p; fi
done
for c in "$ka" "$cl"; do
    echo "== CPU, sniffer -f against tcpdump -r -w /dev/null, $c"
    ROUNDS=${FILE_ROUNDS:-9} "$here/file.sh" "$c"
done
echo "== live, keep-alive"
ROUNDS=${LIVE_ROUNDS:-5} "$here/live.sh"
echo "== live, a connection per request"
CLOSE=1 ROUNDS=${LIVE_ROUNDS:-5} "$here/live.sh"
if [ -n "$old" ]; then
    echo "== live CPU, A = old, B = this tree, keep-alive"
    PAIRS=${PAIRS:-6} "$here/abcpu.sh" "$old" "$work/sniffer"
    echo "== live CPU, A = old, B = this tree, a connection per request"
    CLOSE=1 PAIRS=${PAIRS:-6} "$here/abcpu.sh" "$old" "$work/sniffer"
fi
