#!/usr/bin/env bash
# RSS per open connection, split by layer (issue 4: <= 32 KiB per open SSE stream with TLS):
#   tls    idle TLS connections (handshake done, no request; bench/tls/idle_connections.py)
#   ka     keep-alive connections that were answered one GET /api/mcp/v1/tools
#   sse    GET /sse streams (bench/http/sse_hold.py)
#   gosse  GET /api/mcp/v1/sse streams
# Each kind on a fresh release server (freed memory would be reused and hide the cost):
# warm-up with 16, then RSS before and with N open, over N. RSS noise is about ±2 KiB per
# connection at N=300 and a few tenths at N=1000.
# Usage: bench/http/rss_split.sh [N (1000)] [kinds (tls ka sse gosse)]. Env SERVER_ENV: extra
# environment for the server (e.g. MALLOC_ARENA_MAX=1). Loopback only; bounded waits.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
n="${1:-1000}"; kinds="${2:-tls ka sse gosse}"
bin="${BIN:-$root/.build-release/release/axinova-mcp-server}"
[[ -x "$bin" ]] || scripts/release-build > /dev/null
scripts/setup-python > /dev/null
py="$root/.venv/mcp2/bin/python"
token="bench-token-0123456789abcdef0123456789abcdef"
work="$(mktemp -d)"
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
certs/make-dev-certs.sh "$work" > /dev/null 2>&1
ca="$work/ca.pem"
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
start() {
    port="$(free_port)"; ops="$(free_port)"
    env ${SERVER_ENV:-} APP_SERVER__API_TOKEN="$token" "$bin" --config-dir config \
        --set server.port="$port" --set server.http_port="$ops" \
        --set tls.cert_file="$work/server.pem" --set tls.key_file="$work/server-key.pem" \
        --set log.level=warning --set server.sse_enabled=true \
        --set limits.request_rate=1000000 --set limits.request_burst=1000000 \
        --set limits.max_inflight_per_token=4096 --set limits.idle_timeout=5m \
        --set limits.max_connections_per_ip=4096 --set limits.connection_rate_per_ip=0 \
        --set limits.max_handshakes_per_ip=256 \
        --set limits.max_sse_streams_per_token=4096 --set limits.max_sessions_per_token=8192 \
        > "$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$ops/ready" 2>/dev/null && return 0; sleep 0.1; done
    echo "server not up" >&2; return 1
}
holder() { # KIND COUNT
    case $1 in
        tls) echo "$py bench/tls/idle_connections.py 127.0.0.1 $port $2 $ca" ;;
        ka) echo "$py bench/http/keepalive_hold.py $port /api/mcp/v1/tools $2 $ca $token" ;;
        sse) echo "$py bench/http/sse_hold.py $port /sse $2 $ca $token" ;;
        gosse) echo "$py bench/http/sse_hold.py $port /api/mcp/v1/sse $2 $ca $token" ;;
    esac
}
for kind in $kinds; do
    start || exit 1
    echo | timeout 60 $(holder "$kind" 16) > /dev/null 2>&1; sleep 1   # warm-up
    r0="$(rss "$pid")"
    coproc HOLD { timeout 150 $(holder "$kind" "$n"); }
    read -r ready <&"${HOLD[0]}" || true
    sleep 3
    r1="$(rss "$pid")"
    echo >&"${HOLD[1]}" || true
    wait "$HOLD_PID" 2>/dev/null
    awk -v k="$kind" -v a="$r0" -v b="$r1" -v n="$n" -v r="$ready" \
        'BEGIN { printf "%-6s %-10s RSS %d -> %d KiB = %.1f KiB per connection\n", k, r, a, b, (b - a) / n }'
    kill "$pid"; wait "$pid" 2>/dev/null; pid=
done
