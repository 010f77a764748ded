#!/usr/bin/env bash
# Side by side on this machine: our TLSHandler server vs nginx (Debian package), same
# certificate (ECDSA P-256 from certs/make-dev-certs.sh), same TLS settings (TLS 1.2+1.3,
# Mozilla intermediate suites, X25519:P-256:P-384, no tickets, no session cache).
#   - new TLS 1.3 connections per second (openssl s_time -new, one client process)
#   - server CPU time per new connection (utime+stime of the server process / connections)
#   - RSS per idle TLS connection (N held connections, RSS after - RSS before, / N)
# Env: SECONDS_PER_RUN (default 10), IDLE (default 500), SWIFT_TEST_FLAGS (e.g. "-c release"
# after `swift build -c release --build-tests -Xswiftc -enable-testing`).
# Everything stays on 127.0.0.1; every run is bounded in time.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source scripts/tls-test-server.sh
seconds="${SECONDS_PER_RUN:-10}"
idle="${IDLE:-500}"
hz="$(getconf CLK_TCK)"
command -v nginx > /dev/null || { echo "nginx not installed (apt-get install nginx-light)"; exit 1; }

work="$(mktemp -d)"
nginx_pid=""
cleanup() {
    [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null || true
    stop_tls_test_server "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
certs/make-dev-certs.sh "$work" > /dev/null 2>&1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# measure NAME PID PORT: prints one result line
measure() {
    local name="$1" pid="$2" port="$3" before after out conns rate cpu_us rss0 rss1 per_conn
    # warm up (first connections page in code and allocate pools)
    timeout 30 openssl s_time -connect "127.0.0.1:$port" -new -time 1 > /dev/null 2>&1 || true
    before="$(cpu_ticks "$pid")"
    out="$(timeout $((seconds + 30)) openssl s_time -connect "127.0.0.1:$port" -new -time "$seconds" 2>&1)"
    after="$(cpu_ticks "$pid")"
    conns="$(echo "$out" | awk '/connections in [0-9.]+ real seconds/ {print $1; exit}')"
    [[ -n "$conns" && "$conns" -gt 0 ]] || { echo "$name: s_time failed: $out"; return 1; }
    rate="$(awk -v c="$conns" -v s="$seconds" 'BEGIN {printf "%.0f", c / s}')"
    cpu_us="$(awk -v t=$((after - before)) -v hz="$hz" -v c="$conns" 'BEGIN {printf "%.0f", t / hz * 1e6 / c}')"

    rss0="$(rss_kib "$pid")"
    coproc IDLEC { timeout 150 python3 bench/tls/idle_connections.py 127.0.0.1 "$port" "$idle" "$work/ca.pem"; }
    local ready
    read -r _ ready <&"${IDLEC[0]}" || true
    sleep 1
    rss1="$(rss_kib "$pid")"
    echo >&"${IDLEC[1]}" || true
    wait "$IDLEC_PID" 2>/dev/null || true
    per_conn="$(awk -v a="$rss0" -v b="$rss1" -v n="$idle" 'BEGIN {printf "%.1f", (b - a) / n}')"
    printf "%-10s %8s conn/s  %6s us CPU/conn  %6s KiB RSS/idle conn  (%s conns in %ss; %s idle held: RSS %s -> %s KiB)\n" \
        "$name" "$rate" "$cpu_us" "$per_conn" "$conns" "$seconds" "$ready" "$rss0" "$rss1"
}

# --- nginx ---
nginx_port=$((20000 + RANDOM % 20000))
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server-key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers off;
        ssl_session_tickets off;
        ssl_session_cache off;
        keepalive_timeout 300s;
        location / { return 200 "ok\n"; }
    }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
worker=""
for _ in $(seq 50); do
    worker="$(pgrep -P "$nginx_pid" | head -1 || true)"
    [[ -n "$worker" ]] && break
    sleep 0.1
done
[[ -n "$worker" ]] || { echo "nginx did not start"; cat "$work/nginx/error.log"; exit 1; }
sleep 0.3

echo "TLS 1.3 handshakes, ECDSA P-256, X25519, s_time -new for ${seconds}s; $idle idle connections; $(nproc) cores"
measure nginx "$worker" "$nginx_port"
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=""

# --- ours ---
start_tls_test_server "$work"
measure "swift-tls" "$SERVER_PID" "$SERVER_PORT"
