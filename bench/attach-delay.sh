#!/usr/bin/env bash
# attach-delay.sh — how long after a container's start event its capture is
# live, under sniffer attach --label.
#
# Starts ROUNDS containers (default 11) of the keep-alive example's app, one
# after another, with a label that a running "sniffer attach --label" selects,
# and reads the delay each attach line reports ("(24ms after its start
# event)"). The reference, measured in the same run: how long "docker run -d"
# of the same container takes. Prints both medians and their ratio. Needs
# root and a Docker engine; builds what it runs, removes what it creates.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-11}
work=$(mktemp -d)
label=sniffer-bench-$$
image=sniffer-bench-app:$$
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null
    docker rmi -f "$image" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$here/.."
CGO_ENABLED=0 go build -trimpath -o "$work/sniffer" ./cmd/sniffer
mkdir -p "$work/img/bin"
CGO_ENABLED=0 go build -trimpath -o "$work/img/bin/app" ./examples/keepalive/app
docker build -q -f examples/keepalive/Dockerfile --build-arg BIN=app -t "$image" "$work/img" >/dev/null 2>&1

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
"$work/sniffer" attach --label "$label=1" -l '%request.line' >/dev/null 2>"$work/err" &
pid=$!
until grep -q "waiting for a container" "$work/err"; do sleep 0.1; done
: >"$work/run"
for i in $(seq "$rounds"); do
    s=$(date +%s%N)
    docker run -d --label "$label=1" "$image" >/dev/null
    e=$(date +%s%N)
    echo "($e - $s) / 1000000" | bc -l >>"$work/run"
    sleep 1
done
sleep 1
kill -INT "$pid"; wait "$pid" || true; pid=
# Delays in ms, from "(12ms after", "(950µs after" or "(1.2s after".
grep -o '([0-9.]*[mµ]*s after its start event)' "$work/err" | tr -d '(' | awk '{
    v = $1
    if (v ~ /ms$/) { sub(/ms$/, "", v); print v }
    else if (v ~ /µs$/) { sub(/µs$/, "", v); print v / 1000 }
    else { sub(/s$/, "", v); print v * 1000 }
}' >"$work/delay"
n=$(wc -l <"$work/delay")
d=$(median <"$work/delay")
r=$(median <"$work/run")
echo "attach delay: median ${d} ms of $n starts (all: $(sort -n "$work/delay" | tr '\n' ' '))"
echo "docker run -d: median $(printf %.0f "$r") ms"
echo "ratio delay / docker run -d: $(echo "$d / $r" | bc -l | xargs printf %.3f)"
