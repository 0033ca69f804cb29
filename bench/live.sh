#!/usr/bin/env bash
# live.sh — what live capture costs the application: nginx + wrk on loopback
# in a fresh network namespace, with no capture, with tcpdump -i any -w
# /dev/null, and with sniffer (entries to a file).
#
#   sudo bench/live.sh            # ROUNDS=5 CONNS=50 THREADS=2 DURATION=10s
#   SNIFFER_BIN=path uses that binary instead of building ./cmd/sniffer
#   CLOSE=1 closes the connection after each request (wrk -H 'Connection: close')
#   SNIFFER_ARGS="--keep-acks" passes arguments to the sniffer
#   TCPDUMP_ARGS="-B 8192" passes arguments to tcpdump (its default buffer,
#   2 MiB, drops packets under this load; the sniffer's ring is 8 MiB)
#
# Needs root, ip, nginx, wrk, tcpdump and GNU time (apt-get install -y nginx
# wrk tcpdump time). Prints requests/s (median of ROUNDS, the three ways
# interleaved in a rotating order), the sniffer/tcpdump ratio, entries logged
# against requests completed, and the sniffer's CPU seconds per 100 000
# requests and peak RSS. Traffic stays on the namespace's loopback.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-5}
conns=${CONNS:-50}
threads=${THREADS:-2}
duration=${DURATION:-10s}
size=${SIZE:-612}
sniffer_args=${SNIFFER_ARGS:-}
tcpdump_args=${TCPDUMP_ARGS:-}

for tool in ip nginx wrk tcpdump /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "live.sh: $tool is missing (apt-get install -y nginx wrk tcpdump time)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "live.sh: needs root (network namespaces, capture)" >&2; exit 1; }

# shellcheck source=bench/nginxns.sh
. "$here/nginxns.sh"

if [ -n "${SNIFFER_BIN:-}" ]; then cp "$SNIFFER_BIN" "$work/sniffer"; else (cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer); fi

# wrk_run OUT — run wrk, append "reqs/s requests" to OUT.
wrk_run() {
    inns wrk -c "$conns" -t "$threads" -d "$duration" "${wrk_hdr[@]}" "$url" >"$work/wrk.out"
    local rps reqs
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
    reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    grep -q 'Non-2xx\|Socket errors' "$work/wrk.out" && { echo "live.sh: wrk saw errors:" >&2; cat "$work/wrk.out" >&2; }
    echo "$rps $reqs" >>"$1"
}
# wait_line FILE TEXT — wait until FILE contains TEXT (10 s at most).
wait_line() {
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "live.sh: no \"$2\" in $1:" >&2; cat "$1" >&2; exit 1
}
# stop_timed PID — SIGINT the command GNU time (PID; ip netns exec execs it)
# runs, and wait for both.
stop_timed() {
    local child
    child=$(cat "/proc/$1/task/$1/children")
    kill -INT $child
    wait "$1"
}
# tv FILE KEY — a value of time -v's report.
tv() { awk -F': ' -v k="$2" '$1 ~ k {print $2}' "$1"; }

run_none() { wrk_run "$work/rps.none"; }
run_tcpdump() {
    rm -f "$work/tcpdump.err" # wait_line must not see the last round's
    # shellcheck disable=SC2086
    ip netns exec "$ns" /usr/bin/time -v -o "$work/time.tcpdump" tcpdump -i any $tcpdump_args -w /dev/null 2>"$work/tcpdump.err" &
    local pid=$!
    wait_line "$work/tcpdump.err" "listening on"
    wrk_run "$work/rps.tcpdump"
    stop_timed "$pid"
    local drops
    drops=$(awk '/dropped by kernel/ {print $1}' "$work/tcpdump.err")
    echo "$(tv "$work/time.tcpdump" 'User time') $(tv "$work/time.tcpdump" 'System time') $(tv "$work/time.tcpdump" 'Maximum resident') $drops" >>"$work/tcpdump.res"
}
run_sniffer() {
    rm -f "$work/sniffer.err"
    # shellcheck disable=SC2086
    ip netns exec "$ns" /usr/bin/time -v -o "$work/time.sniffer" "$work/sniffer" $sniffer_args >"$work/entries" 2>"$work/sniffer.err" &
    local pid=$!
    wait_line "$work/sniffer.err" "listening on"
    wrk_run "$work/rps.sniffer"
    stop_timed "$pid"
    local entries reqs line
    entries=$(wc -l <"$work/entries")
    reqs=$(tail -1 "$work/rps.sniffer" | cut -d' ' -f2)
    line=$(grep 'packets captured' "$work/sniffer.err")
    echo "$(tv "$work/time.sniffer" 'User time') $(tv "$work/time.sniffer" 'System time') $(tv "$work/time.sniffer" 'Maximum resident') $entries $reqs $(echo "$line" | awk '{print $2, $5}')" >>"$work/sniffer.res"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

modes=(none tcpdump sniffer)
for r in $(seq "$rounds"); do
    for i in 0 1 2; do
        m=${modes[$(((r + i) % 3))]}
        "run_$m"
    done
    printf 'round %d: none %s  tcpdump %s  sniffer %s req/s\n' "$r" \
        "$(tail -1 "$work/rps.none" | cut -d' ' -f1)" "$(tail -1 "$work/rps.tcpdump" | cut -d' ' -f1)" "$(tail -1 "$work/rps.sniffer" | cut -d' ' -f1)" >&2
done

rn=$(cut -d' ' -f1 "$work/rps.none" | median)
rt=$(cut -d' ' -f1 "$work/rps.tcpdump" | median)
rs=$(cut -d' ' -f1 "$work/rps.sniffer" | median)
ratios=$(paste -d' ' "$work/rps.sniffer" "$work/rps.tcpdump" | awk '{printf "%.3f\n", $1/$3}')
echo "command: CLOSE=${CLOSE:-0} SNIFFER_ARGS='$sniffer_args' TCPDUMP_ARGS='$tcpdump_args' CONNS=$conns THREADS=$threads DURATION=$duration ROUNDS=$rounds SIZE=$size bench/live.sh ($(nproc) CPUs, $(uname -r))"
echo "wrk -c $conns -t $threads -d $duration ${wrk_hdr[*]} $url  (nginx $(nginx -v 2>&1 | sed 's/.*\///'), $size-byte file, $([ "${CLOSE:-0}" = 1 ] && echo connection per request || echo keep-alive))"
printf 'requests/s, median of %d: none %.0f, tcpdump %.0f, sniffer %.0f\n' "$rounds" "$rn" "$rt" "$rs"
printf 'tcpdump/none %.3f, sniffer/none %.3f, sniffer/tcpdump %.3f (median of per-round ratios %.3f; per round: %s)\n' \
    "$(echo "$rt / $rn" | bc -l)" "$(echo "$rs / $rn" | bc -l)" "$(echo "$rs / $rt" | bc -l)" \
    "$(echo "$ratios" | median)" "$(echo $ratios)"
echo "sniffer rounds (user s, sys s, peak RSS KiB, entries, wrk requests, packets captured, dropped):"
sed 's/^/  /' "$work/sniffer.res"
awk '{
    cpu = $1 + $2; per = cpu / $5 * 100000
    printf "  entries - requests: %+d;  CPU %.2f s = %.3f s per 100000 requests;  peak RSS %.1f MiB\n", $4 - $5, cpu, per, $3 / 1024
}' "$work/sniffer.res"
echo "tcpdump rounds (user s, sys s, peak RSS KiB, dropped):"
sed 's/^/  /' "$work/tcpdump.res"
# CPU per 100 000 requests of each, per round, and their ratio: the machine's
# speed cancels out of the ratio (tcpdump only copies packets).
cpu_per() { awk -v col="$2" '{print ($1 + $2) / $col * 100000}' "$1"; }
paste -d' ' "$work/tcpdump.res" "$work/rps.tcpdump" | awk '{print $1, $2, $NF}' >"$work/tcpdump.cpu"
cpu_per "$work/sniffer.res" 5 >"$work/sniffer.per"
cpu_per "$work/tcpdump.cpu" 3 >"$work/tcpdump.per"
printf 'CPU s per 100000 requests, median of %d: sniffer %.3f, tcpdump %.3f; sniffer/tcpdump %.2f (median of per-round ratios)\n' "$rounds" \
    "$(median <"$work/sniffer.per")" "$(median <"$work/tcpdump.per")" \
    "$(paste -d' ' "$work/sniffer.per" "$work/tcpdump.per" | awk '{print $1 / $2}' | median)"
