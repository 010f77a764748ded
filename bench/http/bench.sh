#!/usr/bin/env bash
# Keep-alive HTTPS side by side, one run, release build (issues 4 and 7 §4):
#   ours    axinova-mcp-server: Streamable HTTP stateless 2026-07-28 (POST /mcp with the
#           MCP-Protocol-Version / Mcp-Method / Mcp-Name headers) and the Go API
#           (POST /api/mcp/v1/call); tools/list and tools/call of `server_status`
#   nginx   Debian nginx, one worker, same certificate and TLS settings, answering the same
#           POSTs with a static body of exactly the size of ours
#   python  mcp 2.x MCPServer with an equivalent tool, uvicorn + TLS, stateless JSON
# Load: wrk, one thread, keep-alive, pinned to core 1; every server pinned to core 0.
# Per run: requests/s, p50/p99 latency (wrk --latency) and the server's CPU time per request
# (utime+stime from /proc/<pid>/stat before/after, divided by the requests wrk completed).
# Then RSS per open SSE stream (GET /sse, N streams held over TLS) for ours and python.
# Env: SECONDS_PER_RUN (5), ROUNDS (3, interleaved; medians shown), CONNS (32), SSE_STREAMS (200). Loopback only; bounded runs.
# Output: a markdown table on stdout, also saved as bench/http/results-<date>.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
seconds="${SECONDS_PER_RUN:-5}"
conns="${CONNS:-32}"
sse_streams="${SSE_STREAMS:-200}"
rounds="${ROUNDS:-3}"
hz="$(getconf CLK_TCK)"
token="bench-token-0123456789abcdef0123456789abcdef"
bin="$root/.build/release/axinova-mcp-server"
for tool in wrk nginx taskset curl openssl; do
    command -v "$tool" > /dev/null || { echo "$tool not installed (apt-get install wrk nginx-light curl)" >&2; exit 1; }
done
[[ -x "$bin" ]] || swift build -c release --product axinova-mcp-server
scripts/setup-python > /dev/null
py="$root/.venv/mcp2/bin/python"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
certs/make-dev-certs.sh "$work" > /dev/null 2>&1
ca="$work/ca.pem"

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
wait_for() { # URL CURL-ARGS...: polls for up to 30 s
    local url="$1" i; shift
    for i in $(seq 300); do curl -fsS -m 5 -o /dev/null "$@" "$url" 2> /dev/null && return 0; sleep 0.1; done
    echo "not up: $url" >&2; return 1
}

# --- requests (the same bytes for every server, apart from the protocol headers) ---
list_body='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
call_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"server_status","arguments":{}}}'
common="Content-Type: application/json|Accept: application/json, text/event-stream"
ours_list_h="$common|Authorization: Bearer $token|MCP-Protocol-Version: 2026-07-28|Mcp-Method: tools/list"
ours_call_h="$common|Authorization: Bearer $token|MCP-Protocol-Version: 2026-07-28|Mcp-Method: tools/call|Mcp-Name: server_status"
api_h="$common|Authorization: Bearer $token"
py_h="$common|MCP-Protocol-Version: 2025-11-25"

curl_post() { # URL BODY HEADERS -> response body
    local url="$1" body="$2" args=() h
    IFS='|' read -ra hs <<< "$3"
    for h in "${hs[@]}"; do args+=(-H "$h"); done
    curl -fsS -m 10 --cacert "$ca" -X POST "${args[@]}" --data-binary "$body" "$url"
}

# --- ours ---
ours_port="$(free_port)"; ops_port="$(free_port)"
APP_SERVER__API_TOKEN="$token" taskset -c 0 "$bin" --config-dir config \
    --set server.port="$ours_port" --set server.http_port="$ops_port" \
    --set tls.cert_file="$work/server.pem" --set tls.key_file="$work/server-key.pem" \
    --set log.level=warning --set server.sse_enabled=true \
    --set limits.request_rate=1000000 --set limits.request_burst=1000000 \
    --set limits.max_inflight_per_token=4096 --set limits.idle_timeout=5m \
    --set limits.max_connections_per_ip=4096 --set limits.connection_rate_per_ip=0 \
    --set limits.max_sse_streams_per_token=4096 --set limits.max_sessions_per_token=8192 \
    > "$work/ours.log" 2>&1 &
ours_pid=$!; pids+=("$ours_pid")
wait_for "http://127.0.0.1:$ops_port/ready"
ours="https://127.0.0.1:$ours_port"
curl_post "$ours/mcp" "$list_body" "$ours_list_h" > "$work/list.json"
curl_post "$ours/mcp" "$call_body" "$ours_call_h" > "$work/call.json"
curl_post "$ours/api/mcp/v1/call" "$call_body" "$api_h" > "$work/api-call.json"
grep -q '"result"' "$work/list.json" && grep -q '"result"' "$work/call.json" \
    || { echo "ours did not answer: $(head -c 300 "$work/list.json") $(head -c 300 "$work/call.json")" >&2; exit 1; }

# --- nginx: static bodies of exactly our response sizes, answered to the same POSTs ---
nginx_port="$(free_port)"
mkdir -p "$work/nginx/www"
cp "$work/list.json" "$work/nginx/www/list"
cp "$work/call.json" "$work/nginx/www/call"
chmod 711 "$work" "$work/nginx"   # nginx workers run unprivileged: traverse only
chmod -R a+rX "$work/nginx/www"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 01;
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
    keepalive_requests 1000000;
    keepalive_timeout 300s;
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
        root $work/nginx/www;
        default_type application/json;
        # The static module refuses POST (405); answer it with the file instead.
        error_page 405 =200 \$uri;
    }
}
CONF
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" 2> "$work/nginx/stderr" &
nginx_pid=$!; pids+=("$nginx_pid")
nginx_url="https://127.0.0.1:$nginx_port"
wait_for "$nginx_url/list" --cacert "$ca" || { cat "$work/nginx/stderr" "$work/nginx/error.log" >&2; exit 1; }
nginx_worker="$(pgrep -P "$nginx_pid" | head -1)"
cmp -s <(curl_post "$nginx_url/list" "$list_body" "$common") "$work/list.json" \
    || { echo "nginx does not answer POST with the static body" >&2; exit 1; }

# --- python SDK ---
py_port="$(free_port)"
taskset -c 0 "$py" bench/http/py_server.py "$py_port" "$work/server.pem" "$work/server-key.pem" > "$work/py.log" 2>&1 &
py_pid=$!; pids+=("$py_pid")
py_url="https://127.0.0.1:$py_port"
# Any HTTP answer means it is up (GET /mcp would open a stream: probe another path).
for _ in $(seq 300); do curl -s -o /dev/null -m 2 --cacert "$ca" "$py_url/up" 2> /dev/null && break; sleep 0.1; done
curl_post "$py_url/mcp" "$call_body" "$py_h" > "$work/py-call.json"
grep -q '"result"' "$work/py-call.json" || { echo "python server did not answer: $(cat "$work/py-call.json" "$work/py.log")" >&2; exit 1; }
curl_post "$py_url/mcp" "$list_body" "$py_h" > "$work/py-list.json"

# --- RSS per open SSE stream, first: on a fresh process (after the load runs the allocator
# keeps freed memory, and new streams would reuse it, hiding their cost) ---
declare -A sse sse_detail
sse_rss() { # KEY PID PORT [TOKEN]
    local key="$1" pid="$2" port="$3" tok="${4:-}" rss0 rss1 ready
    echo | timeout 60 "$py" bench/http/sse_hold.py "$port" /sse 16 "$ca" "$tok" > /dev/null 2>&1 || true  # warm-up
    sleep 1
    rss0="$(rss_kib "$pid")"
    coproc HOLD { timeout 150 "$py" bench/http/sse_hold.py "$port" /sse "$sse_streams" "$ca" "$tok"; }
    read -r ready <&"${HOLD[0]}" || true
    sleep 3   # a few pings flow on every stream
    rss1="$(rss_kib "$pid")"
    echo >&"${HOLD[1]}" || true
    wait "$HOLD_PID" 2>/dev/null || true
    sse[$key]="$(awk -v a="$rss0" -v b="$rss1" -v n="$sse_streams" 'BEGIN {printf "%.1f", (b - a) / n}')"
    printf "%-12s %s; RSS %s -> %s KiB = %s KiB/stream\n" "$key-sse" "$ready" "$rss0" "$rss1" "${sse[$key]}" >&2
    sse_detail[$key]="RSS $rss0 -> $rss1 KiB"
    [[ "$ready" == "ready $sse_streams" ]] || sse[$key]="n/a ($ready)"
}
sse_rss ours "$ours_pid" "$ours_port" "$token"
sse_rss py "$py_pid" "$py_port"

# --- load: ROUNDS rounds of every configuration, interleaved so that load from other
# processes on the machine hits all servers alike; the table shows the median per figure ---
declare -A rps p50 p99 cpu note all
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0; else printf "%.3f", v * 1000 }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() { # KEY PID URL BODY HEADERS
    local key="$1" pid="$2" url="$3" out before after requests ticks r a b c
    BODY="$4" HEADERS="$5" taskset -c 1 wrk -t1 -c"$conns" -d2s -s bench/http/post.lua "$url" > /dev/null 2>&1 || true
    before="$(cpu_ticks "$pid")"
    out="$(BODY="$4" HEADERS="$5" timeout $((seconds + 20)) taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/http/post.lua "$url")"
    after="$(cpu_ticks "$pid")"
    requests="$(echo "$out" | awk '/requests in/ {print $1; exit}')"
    ticks=$((after - before))
    r="$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')"
    a="$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
    b="$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
    c="$(awk -v t="$ticks" -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
    rps[$key]+="$r "; p50[$key]+="$a "; p99[$key]+="$b "; cpu[$key]+="$c "
    note[$key]+="$(echo "$out" | awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}')"
    printf "%-12s %8s req/s  p50 %7s ms  p99 %7s ms  %7s us CPU/req  %s\n" "$key" "$r" "$a" "$b" "$c" "${note[$key]}" >&2
}
for round in $(seq "$rounds"); do
    echo "round $round of $rounds" >&2
    run nginx-list "$nginx_worker" "$nginx_url/list" "$list_body" "$common"
    run ours-list "$ours_pid" "$ours/mcp" "$list_body" "$ours_list_h"
    run py-list "$py_pid" "$py_url/mcp" "$list_body" "$py_h"
    run nginx-call "$nginx_worker" "$nginx_url/call" "$call_body" "$common"
    run ours-call "$ours_pid" "$ours/mcp" "$call_body" "$ours_call_h"
    run api-call "$ours_pid" "$ours/api/mcp/v1/call" "$call_body" "$api_h"
    run py-call "$py_pid" "$py_url/mcp" "$call_body" "$py_h"
done
for key in "${!rps[@]}"; do
    all[$key]="req/s ${rps[$key]}| p99 ${p99[$key]}| µs ${cpu[$key]}"
    rps[$key]="$(printf "%.0f" "$(echo "${rps[$key]}" | median)")"; p50[$key]="$(echo "${p50[$key]}" | median)"
    p99[$key]="$(echo "${p99[$key]}" | median)"; cpu[$key]="$(echo "${cpu[$key]}" | median)"
done

declare -A rss_end
rss_end[nginx]="$(rss_kib "$nginx_worker")"; rss_end[ours]="$(rss_kib "$ours_pid")"; rss_end[py]="$(rss_kib "$py_pid")"

# --- table ---
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
tls_of() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$ca" 2>/dev/null | awk '/^New, / {sub(/,$/, "", $2); printf "%s %s", $2, $5} /^Server Temp Key/ {printf " %s", $4}'; }
size_of() { wc -c < "$1" | tr -d ' '; }
out="bench/http/results-$(date +%F).md"
{
    echo "# HTTP benchmark $(date -u '+%F %H:%M UTC')"
    echo
    echo "Commit $(git rev-parse --short HEAD), release build; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
    echo "load average before the table: $(cut -d' ' -f1-3 /proc/loadavg). Server on core 0, wrk -t1 -c$conns on core 1, ${seconds}s per run after a 2 s warm-up, $rounds interleaved rounds, medians shown."
    echo "Bodies: tools/list $(size_of "$work/list.json") B (python $(size_of "$work/py-list.json") B), tools/call $(size_of "$work/call.json") B (python $(size_of "$work/py-call.json") B); nginx serves exactly our bytes."
    echo "TLS: ours $(tls_of "$ours_port"); nginx $(tls_of "$nginx_port"); python $(tls_of "$py_port")"
    echo
    echo "| measure | nginx | ours | python | ours/nginx | ours/python |"
    echo "|---|---:|---:|---:|---:|---:|"
    for m in list call; do
        o="ours-$m"
        echo "| tools/$m requests/s | ${rps[nginx-$m]} | ${rps[$o]} | ${rps[py-$m]} | $(ratio "${rps[$o]}" "${rps[nginx-$m]}") | $(ratio "${rps[$o]}" "${rps[py-$m]}") |"
        echo "| tools/$m p50 ms | ${p50[nginx-$m]} | ${p50[$o]} | ${p50[py-$m]} | $(ratio "${p50[$o]}" "${p50[nginx-$m]}") | $(ratio "${p50[$o]}" "${p50[py-$m]}") |"
        echo "| tools/$m p99 ms | ${p99[nginx-$m]} | ${p99[$o]} | ${p99[py-$m]} | $(ratio "${p99[$o]}" "${p99[nginx-$m]}") | $(ratio "${p99[$o]}" "${p99[py-$m]}") |"
        echo "| tools/$m server CPU µs/request | ${cpu[nginx-$m]} | ${cpu[$o]} | ${cpu[py-$m]} | $(ratio "${cpu[$o]}" "${cpu[nginx-$m]}") | $(ratio "${cpu[$o]}" "${cpu[py-$m]}") |"
    done
    echo "| tools/call via POST /api/mcp/v1/call: requests/s | ${rps[nginx-call]} | ${rps[api-call]} | ${rps[py-call]} | $(ratio "${rps[api-call]}" "${rps[nginx-call]}") | $(ratio "${rps[api-call]}" "${rps[py-call]}") |"
    echo "| same, p99 ms | ${p99[nginx-call]} | ${p99[api-call]} | ${p99[py-call]} | $(ratio "${p99[api-call]}" "${p99[nginx-call]}") | $(ratio "${p99[api-call]}" "${p99[py-call]}") |"
    echo "| same, server CPU µs/request | ${cpu[nginx-call]} | ${cpu[api-call]} | ${cpu[py-call]} | $(ratio "${cpu[api-call]}" "${cpu[nginx-call]}") | $(ratio "${cpu[api-call]}" "${cpu[py-call]}") |"
    echo "| server RSS KiB after all load runs (${conns} connections) | ${rss_end[nginx]} | ${rss_end[ours]} | ${rss_end[py]} | $(ratio "${rss_end[ours]}" "${rss_end[nginx]}") | $(ratio "${rss_end[ours]}" "${rss_end[py]}") |"
    echo "| RSS KiB per open SSE stream ($sse_streams, TLS) | n/a | ${sse[ours]} | ${sse[py]} | n/a | $(ratio "${sse[ours]}" "${sse[py]}") |"
    echo
    for k in "${!note[@]}"; do [[ -n "${note[$k]}" ]] && echo "- $k: ${note[$k]}"; done
    echo "- RSS per SSE stream: RSS of the server before and with the streams open (after a warm-up of 16 streams), over the stream count: ours ${sse_detail[ours]}, python ${sse_detail[py]}."
    echo "- Every round (per configuration: requests/s | p99 ms | server CPU µs per request):"
    for k in $(printf '%s\n' "${!all[@]}" | sort); do echo "  - $k: ${all[$k]}"; done
    echo "- Python server: no bearer check (the SDK has no static-token option); ours checks the token and the rate limiter on every request."
} | tee "$out"
echo "saved to $out" >&2
