# nginxns.sh — sourced by live.sh and abcpu.sh: a fresh network namespace
# ($ns, commands in it with inns) whose loopback serves a $size-byte file
# ($url) from nginx, in the work directory $work; all of it removed on exit.
# The caller sets size and may define extra_cleanup.
work=$(mktemp -d)
chmod 755 "$work" # nginx's worker is not root
ns=sniffer-bench-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
nginx_pid=
cleanup() {
    if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }

mkdir -p "$work/www" "$work/nginx"
head -c "$size" /dev/zero | tr '\0' x >"$work/www/small.txt"
chmod -R a+rX "$work/www"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:8080;
        root $work/www;
    }
}
EOF
ip netns exec "$ns" nginx -c "$work/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 50); do
    inns bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080' 2>/dev/null && break
    sleep 0.1
done
url=http://127.0.0.1:8080/small.txt
# CLOSE=1: every request on a connection of its own (wrk sends
# Connection: close), so each carries a handshake and a close.
wrk_hdr=()
if [ "${CLOSE:-0}" = 1 ]; then wrk_hdr=(-H 'Connection: close'); fi
