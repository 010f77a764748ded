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
for tool in wrk nginx taskset curl openssl; do
    command -v "$tool" > /dev/null || { echo "$tool not installed (apt-get install wrk nginx-light curl)" >&2; exit 1; }
done
[[ -x .build-release/release/axinova-mcp-server ]] || scripts/release-build > /dev/null  # bench/lib.sh runs that build
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
source bench/lib.sh   # free_port, cpu_ticks, rss_kib, curl_post, start_*, sse_rss, run_wrk, median, ratio

# --- ours (lib.sh lifts the per-client limits; the rate limiter still decides on every request) ---
start_ours ours
ours="https://127.0.0.1:$ours_port"
curl_post "$ours/mcp" "$ours_list_body" "$ours_list_h" > "$work/list.json"
curl_post "$ours/mcp" "$ours_call_body" "$ours_call_h" > "$work/call.json"
curl_post "$ours/api/mcp/v1/call" "$call_body" "$api_h" > "$work/api-call.json"
grep -q '"result"' "$work/list.json" && grep -q '"result"' "$work/call.json" \
    || { echo "ours did not answer: $(head -c 300 "$work/list.json") $(head -c 300 "$work/call.json")" >&2; exit 1; }

# --- nginx: static bodies of exactly our response sizes, answered to the same POSTs ---
cp "$work/list.json" "$work/list"; cp "$work/call.json" "$work/call"
start_nginx "$work/list" "$work/call"
nginx_url="https://127.0.0.1:$nginx_port"
cmp -s <(curl_post "$nginx_url/list" "$list_body" "$common") "$work/list.json" \
    || { echo "nginx does not answer POST with the static body" >&2; exit 1; }

# --- python SDK ---
start_py py
py_url="https://127.0.0.1:$py_port"
curl_post "$py_url/mcp" "$call_body" "$py_h" > "$work/py-call.json"
grep -q '"result"' "$work/py-call.json" || { echo "python server did not answer: $(cat "$work/py-call.json" "$work/py.log")" >&2; exit 1; }
curl_post "$py_url/mcp" "$list_body" "$py_h" > "$work/py-list.json"

# --- RSS per open SSE stream, first: on a fresh process (after the load runs the allocator
# keeps freed memory, and new streams would reuse it, hiding their cost) ---
sse_rss ours "$ours_pid" "$ours_port" "$token"
sse_rss py "$py_pid" "$py_port"

# --- load: ROUNDS rounds of every configuration, interleaved so that load from other
# processes on the machine hits all servers alike; the table shows the median per figure ---
declare -A rps p50 p99 cpu note all
for round in $(seq "$rounds"); do
    echo "round $round of $rounds" >&2
    run_wrk nginx-list "$nginx_worker" "$nginx_url/list" "$list_body" "$common"
    run_wrk ours-list "$ours_pid" "$ours/mcp" "$ours_list_body" "$ours_list_h"
    run_wrk py-list "$py_pid" "$py_url/mcp" "$list_body" "$py_h"
    run_wrk nginx-call "$nginx_worker" "$nginx_url/call" "$call_body" "$common"
    run_wrk ours-call "$ours_pid" "$ours/mcp" "$ours_call_body" "$ours_call_h"
    run_wrk api-call "$ours_pid" "$ours/api/mcp/v1/call" "$call_body" "$api_h"
    run_wrk py-call "$py_pid" "$py_url/mcp" "$call_body" "$py_h"
done
for key in "${!rps[@]}"; do
    all[$key]="req/s ${rps[$key]}| p99 ${p99[$key]}| µs ${cpu[$key]}"
    rps[$key]="$(printf "%.0f" "$(echo "${rps[$key]}" | median)")"; p50[$key]="$(echo "${p50[$key]}" | median)"
    p99[$key]="$(echo "${p99[$key]}" | median)"; cpu[$key]="$(echo "${cpu[$key]}" | median)"
done

declare -A rss_end
rss_end[nginx]="$(rss_kib "$nginx_worker")"; rss_end[ours]="$(rss_kib "$ours_pid")"; rss_end[py]="$(rss_kib "$py_pid")"

# --- table ---
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
