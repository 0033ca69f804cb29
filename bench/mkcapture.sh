#!/usr/bin/env bash
# mkcapture.sh OUT.pcap [SECONDS] — capture nginx + wrk traffic on loopback
# with tcpdump: the large, real capture the file benchmarks read.
# Needs root, nginx, wrk and tcpdump (apt-get install nginx wrk tcpdump).
# CLOSE=1 makes every request close its connection (wrk -H 'Connection:
# close'): one exchange per connection, handshake and close each time.
# SNIFFER_BIN=path captures with that sniffer's -w instead of tcpdump: raw
# IP frames, as a live capture decodes them.
set -euo pipefail
out=${1:?usage: mkcapture.sh OUT.pcap [SECONDS]}
secs=${2:-5}
port=${PORT:-18480}
dir=$(mktemp -d)
tcpdump_pid=
trap 'kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; kill "$tcpdump_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/www" "$dir/logs"
chmod 755 "$dir"
head -c 612 /dev/zero | tr '\0' x > "$dir/www/index.html"
chmod 644 "$dir/www/index.html"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen 127.0.0.1:$port; root $dir/www; }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir"
if [ -n "${SNIFFER_BIN:-}" ]; then
    "$SNIFFER_BIN" -i lo -B 65536 -p "tcp port $port" -w "$out" >/dev/null 2>"$dir/tcpdump.err" &
else
    tcpdump -i lo -s 0 -B 65536 -w "$out" "tcp port $port" 2>"$dir/tcpdump.err" &
fi
tcpdump_pid=$!
sleep 1
hdr=()
[ "${CLOSE:-0}" = 1 ] && hdr=(-H 'Connection: close')
wrk -t 2 -c 20 -d "${secs}s" "${hdr[@]}" "http://127.0.0.1:$port/index.html" >&2
sleep 0.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
cat "$dir/tcpdump.err" >&2
