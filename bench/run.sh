#!/usr/bin/env bash
# One command, one run, one table (issue 7 §4): our release server vs nginx (Debian, same
# certificate and TLS settings, static bodies of exactly our sizes) vs the Python SDK server
# (mcp 2.x MCPServer on uvicorn + TLS). Every server runs on core 0, every client on core 1, so
# the server's CPU time per unit of work is the fair figure (on 2 cores the client saturates
# first); rates are shown too. Measures:
#   1. start-up: exec to the first answer of /ready (ours) or any URL (nginx, python), median of STARTS
#   2. TLS 1.3 new connections/s and server CPU µs per new connection (openssl s_time -new)
#   3. keep-alive HTTPS tools/list and tools/call: requests/s, p99, server CPU µs/request (wrk)
#   4. limiter cost: the same ours binary with the per-client GCRA limiter on (rate 10^6/s: it
#      decides on every request, never refuses) vs off (request_rate 0), CPU µs/request of
#      tools/call via POST /api/mcp/v1/call, interleaved rounds. Bearer auth cannot be turned
#      off (the server refuses a network listener without a token), so it is on in both.
#   5. RSS per idle TLS connection (IDLE held) and per open SSE stream (SSE_STREAMS held, GET /sse)
#   6. SWARM (10,000) concurrent SSE streams with a 1 s ping interval, held SWARM_HOLD seconds:
#      streams open, peak RSS, RSS per stream, server CPU %, pings received per stream per second
# Memory figures are taken on freshly started servers (a server that has served load reuses
# freed memory, which would hide a new connection's cost).
# Env: SECONDS_PER_RUN (5), ROUNDS (3), CONNS (32), TLS_SECONDS (5), IDLE (1000),
#      SSE_STREAMS (200), SWARM (10000), SWARM_PROCS (4), SWARM_HOLD (10), SWARM_SETUP (180 s to open them),
#      PY_SWARM_SETUP (90: the Python server gets less time, it slows down as streams add up),
#      PY_SWARM (1; 0 skips python's swarm), STARTS (5).
# Loopback only, every step bounded in time, everything stopped on exit. About 10 minutes.
# Output: the table on stdout, also saved as bench/results/<date>.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${SECONDS_PER_RUN:-5}"
rounds="${ROUNDS:-3}"
conns="${CONNS:-32}"
tls_seconds="${TLS_SECONDS:-5}"
idle="${IDLE:-1000}"
sse_streams="${SSE_STREAMS:-200}"
swarm="${SWARM:-10000}"
swarm_procs="${SWARM_PROCS:-4}"
swarm_hold="${SWARM_HOLD:-10}"
swarm_setup="${SWARM_SETUP:-180}"
py_swarm_setup="${PY_SWARM_SETUP:-90}"
py_swarm="${PY_SWARM:-1}"
starts="${STARTS:-5}"

for tool in wrk nginx taskset curl openssl; do
    command -v "$tool" > /dev/null || { echo "$tool not installed (apt-get install wrk nginx-light curl openssl util-linux)" >&2; exit 1; }
done
# 10,000 streams need 10,000 descriptors in the server and as many in the clients.
hard="$(ulimit -Hn)"
[[ "$hard" == unlimited ]] && hard=65536
ulimit -n "$((hard < 65536 ? hard : 65536))"
(( $(ulimit -n) > swarm + 1000 )) || { echo "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)): too low for SWARM=$swarm" >&2; exit 1; }
[[ -x .build-release/release/axinova-mcp-server ]] || scripts/release-build > /dev/null  # bench/lib.sh runs that build
scripts/setup-python > /dev/null
py="$root/.venv/mcp2/bin/python"

work="$(mktemp -d)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
certs/make-dev-certs.sh "$work" > /dev/null 2>&1
ca="$work/ca.pem"
source bench/lib.sh
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
log "bench/run.sh: load average $load_before"

# ---------------------------------------------------------------- 1. start-up
declare -A start_ms start_all
log "start-up: $starts starts of each, interleaved"
for i in $(seq "$starts"); do
    p="$(free_port)"; o="$(free_port)"
    ours_cmd "$p" "$o"
    start_all[ours]+="$("$py" bench/startup.py "http://127.0.0.1:$o/ready" "$ca" 200 -- "${OURS_CMD[@]}") "
    p="$(free_port)"
    nginx_conf "$p" "$work/nginx-start"
    nginx_cmd "$work/nginx-start"
    start_all[nginx]+="$("$py" bench/startup.py "https://127.0.0.1:$p/ready" "$ca" 200 -- "${NGINX_CMD[@]}") "
    p="$(free_port)"
    py_cmd "$p"
    start_all[py]+="$("$py" bench/startup.py "https://127.0.0.1:$p/up" "$ca" 0 -- "${PY_CMD[@]}") "
done
for k in ours nginx py; do start_ms[$k]="$(echo "${start_all[$k]}" | median)"; log "start-up $k: ${start_all[$k]}ms"; done

# ---------------------------------------------------------------- 2. memory, fresh servers
declare -A idle_kib idle_detail
idle_rss() { # KEY PID PORT: RSS per idle TLS connection (handshake done, no request)
    local key="$1" pid="$2" port="$3" rss0 rss1 ready=""
    timeout 60 "$py" bench/tls/idle_connections.py 127.0.0.1 "$port" 16 "$ca" < /dev/null > /dev/null 2>&1 || true  # warm-up
    sleep 1
    rss0="$(rss_kib "$pid")"
    coproc IDLEC { timeout 150 taskset -c 1 "$py" bench/tls/idle_connections.py 127.0.0.1 "$port" "$idle" "$ca"; }
    read -r _ ready <&"${IDLEC[0]}" || true
    sleep 2
    rss1="$(rss_kib "$pid")"
    echo >&"${IDLEC[1]}" || true
    wait "$IDLEC_PID" 2> /dev/null || true
    idle_kib[$key]="$(per $((rss1 - rss0)) "${ready:-0}")"
    [[ "$ready" == "$idle" ]] || idle_kib[$key]="n/a (${ready:-0} of $idle held)"
    idle_detail[$key]="$rss0 -> $rss1 KiB"
    log "idle $key: $ready held, RSS $rss0 -> $rss1 KiB = ${idle_kib[$key]} KiB/conn"
}
start_ours m1; idle_rss ours "$m1_pid" "$m1_port"; stop_pid "$m1_pid"
start_ours m2; sse_rss ours "$m2_pid" "$m2_port" "$token"; stop_pid "$m2_pid"
start_nginx; idle_rss nginx "$nginx_worker" "$nginx_port"; stop_pid "$nginx_pid"
start_py m3; idle_rss py "$m3_pid" "$m3_port"; stop_pid "$m3_pid"
start_py m4; sse_rss py "$m4_pid" "$m4_port"; stop_pid "$m4_pid"

# ---------------------------------------------------------------- 3. 10,000 SSE streams, 1 s pings
declare -A sw_open sw_setup sw_peak sw_per sw_cpu sw_pings sw_ping_us sw_note
swarm_run() { # KEY PID PORT SETUP-TIMEOUT [TOKEN]
    local key="$1" pid="$2" port="$3" setup="$4" tok="${5:-}" rss0 rss1 ready open c0 c1 m0 m1
    rss0="$(rss_kib "$pid")"
    coproc SWARMC { SETUP_TIMEOUT="$setup" timeout $((setup + swarm_hold + 120)) taskset -c 1 \
        "$py" bench/sse_swarm.py "$port" /sse "$swarm" "$swarm_procs" "$ca" "$tok" 2> "$work/swarm-$key.err"; }
    read -r ready <&"${SWARMC[0]}" || ready="ready 0 $swarm 0 swarm client died"
    open="$(echo "$ready" | awk '{print $2}')"
    sw_open[$key]="$open"; sw_setup[$key]="$(echo "$ready" | awk '{print $4}')"
    sw_note[$key]="$(echo "$ready" | cut -d' ' -f5-)"
    log "swarm $key: $ready"
    if (( open > 0 )) && kill -0 "$pid" 2> /dev/null; then
        sleep 2
        echo mark >&"${SWARMC[1]}"; read -r _ p0 a0 t0 <&"${SWARMC[0]}"; c0="$(cpu_ticks "$pid")"
        sleep "$swarm_hold"
        echo mark >&"${SWARMC[1]}"; read -r _ p1 a1 t1 <&"${SWARMC[0]}"; c1="$(cpu_ticks "$pid")"
        rss1="$(rss_kib "$pid")"
        sw_peak[$key]="$(awk -v k="$(hwm_kib "$pid")" 'BEGIN {printf "%.0f", k / 1024}')"
        sw_per[$key]="$(per $((rss1 - rss0)) "$a1")"
        sw_ping_us[$key]="$(awk -v t=$((c1 - c0)) -v hz="$hz" -v p=$((p1 - p0)) 'BEGIN { if (p > 0) printf "%.1f", t / hz * 1e6 / p; else print "n/a" }')"
        sw_cpu[$key]="$(awk -v t=$((c1 - c0)) -v hz="$hz" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" 'BEGIN {printf "%.1f", t / hz / s * 100}')"
        sw_pings[$key]="$(awk -v p=$((p1 - p0)) -v n="$a1" -v a="$t0" -v b="$t1" 'BEGIN { if (n > 0) printf "%.2f", p / n / (b - a); else print "n/a" }')"
        log "swarm $key: alive $a0 -> $a1, RSS $rss0 -> $rss1 KiB, peak ${sw_peak[$key]} MiB, CPU ${sw_cpu[$key]} %, ${sw_pings[$key]} pings/stream/s"
        (( a1 == open && a0 == open )) || sw_note[$key]+=" streams open: $open at set-up's end, $a0 and $a1 at the start and end of the hold (late ones still opening, or closed)"
    else
        for v in sw_peak sw_per sw_cpu sw_pings sw_ping_us; do printf -v "$v[$key]" %s "n/a"; done
    fi
    echo stop >&"${SWARMC[1]}" 2> /dev/null || true
    wait "$SWARMC_PID" 2> /dev/null || true
}
log "swarm: $swarm SSE streams, $swarm_procs client processes, 1 s pings, held ${swarm_hold}s"
start_ours s1 --set server.sse_ping_interval=1s
swarm_run ours "$s1_pid" "$s1_port" "$swarm_setup" "$token"; stop_pid "$s1_pid"
if [[ "$py_swarm" == 1 ]]; then
    SSE_PING_PY=1 start_py s2
    swarm_run py "$s2_pid" "$s2_port" "$py_swarm_setup"; stop_pid "$s2_pid"
else
    sw_open[py]="skipped"
fi
sleep 2   # let TIME_WAIT sockets and freed memory settle before the load runs

# ---------------------------------------------------------------- 4. load: long-lived servers
start_ours ours
start_ours nolim --set limits.request_rate=0
ours_url="https://127.0.0.1:$ours_port"; nolim_url="https://127.0.0.1:$nolim_port"
curl_post "$ours_url/mcp" "$ours_list_body" "$ours_list_h" > "$work/list"
curl_post "$ours_url/mcp" "$ours_call_body" "$ours_call_h" > "$work/call"
grep -q '"result"' "$work/list" && grep -q '"result"' "$work/call" \
    || { echo "ours did not answer: $(head -c 300 "$work/list") $(head -c 300 "$work/call")" >&2; exit 1; }
curl_post "$nolim_url/api/mcp/v1/call" "$call_body" "$api_h" | grep -q '"result"' || { echo "ours (limiter off) did not answer" >&2; exit 1; }
start_nginx "$work/list" "$work/call"
nginx_url="https://127.0.0.1:$nginx_port"
cmp -s <(curl_post "$nginx_url/list" "$list_body" "$common") "$work/list" \
    || { echo "nginx does not answer POST with the static body" >&2; exit 1; }
start_py py
py_url="https://127.0.0.1:$py_port"
curl_post "$py_url/mcp" "$call_body" "$py_h" > "$work/py-call"
grep -q '"result"' "$work/py-call" || { echo "python server did not answer: $(cat "$work/py-call" "$work/py.log")" >&2; exit 1; }
curl_post "$py_url/mcp" "$list_body" "$py_h" > "$work/py-list"

# per_round "A1 A2 .." "B1 B2 ..": each round's A/B, then their median in brackets. Where the
# host changes speed between rounds, this compares like with like; a ratio of medians can
# take ours from a slow round and nginx from a fast one.
per_round() {
    local ratios
    ratios="$(paste -d' ' <(echo "$1" | tr -s ' ' '\n' | grep -v '^$') <(echo "$2" | tr -s ' ' '\n' | grep -v '^$') \
        | awk '$2 > 0 { printf "%.2f ", $1 / $2 }')"
    echo "${ratios}[$(echo "$ratios" | median)]"
}

# TLS 1.3 new connections (s_time negotiates TLS 1.3 with all three; checked in the table header),
# ROUNDS interleaved rounds of TLS_SECONDS each, medians shown
declare -A hs_rate hs_cpu hs_all
handshakes() { # KEY PID PORT
    local key="$1" pid="$2" port="$3" before after out n r c
    timeout 30 taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time 1 > /dev/null 2>&1 || true
    before="$(cpu_ticks "$pid")"
    out="$(timeout $((tls_seconds + 30)) taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time "$tls_seconds" 2>&1 || true)"
    after="$(cpu_ticks "$pid")"
    n="$(echo "$out" | awk '/connections in [0-9.]+ real seconds/ {print $1; exit}')"
    r="$(awk -v c="${n:-0}" -v s="$tls_seconds" 'BEGIN { if (c > 0) printf "%.0f", c / s; else print "n/a" }')"
    c="$(awk -v t=$((after - before)) -v hz="$hz" -v c="${n:-0}" 'BEGIN { if (c > 0) printf "%.0f", t / hz * 1e6 / c; else print "n/a" }')"
    hs_rate[$key]+="$r "; hs_cpu[$key]+="$c "; hs_all[$key]+="$r/s ${c}µs; "
    log "handshakes $key: $r/s, $c us CPU/conn (${n:-0} in ${tls_seconds}s)"
}
for round in $(seq "$rounds"); do
    handshakes nginx "$nginx_worker" "$nginx_port"
    handshakes ours "$ours_pid" "$ours_port"
    handshakes py "$py_pid" "$py_port"
done
hs_cpu_rounds="$(per_round "${hs_cpu[ours]}" "${hs_cpu[nginx]}")"
for key in nginx ours py; do
    hs_rate[$key]="$(echo "${hs_rate[$key]}" | median)"; hs_cpu[$key]="$(echo "${hs_cpu[$key]}" | median)"
done

# keep-alive rounds, interleaved so that load from other processes hits all servers alike
declare -A rps p50 p99 cpu note all
lim_diffs=""
for round in $(seq "$rounds"); do
    log "keep-alive round $round of $rounds"
    run_wrk nginx-list "$nginx_worker" "$nginx_url/list" "$list_body" "$common"
    run_wrk ours-list "$ours_pid" "$ours_url/mcp" "$ours_list_body" "$ours_list_h"
    run_wrk py-list "$py_pid" "$py_url/mcp" "$list_body" "$py_h"
    run_wrk nginx-call "$nginx_worker" "$nginx_url/call" "$call_body" "$common"
    run_wrk ours-call "$ours_pid" "$ours_url/mcp" "$ours_call_body" "$ours_call_h"
    # limiter on/off, ABBA within the round (on, off, off, on) so that a drift in the machine's
    # load hits both alike; the round's difference is mean(on) - mean(off)
    run_wrk api-call "$ours_pid" "$ours_url/api/mcp/v1/call" "$call_body" "$api_h"
    run_wrk api-nolim "$nolim_pid" "$nolim_url/api/mcp/v1/call" "$call_body" "$api_h"
    run_wrk api-nolim "$nolim_pid" "$nolim_url/api/mcp/v1/call" "$call_body" "$api_h"
    run_wrk api-call "$ours_pid" "$ours_url/api/mcp/v1/call" "$call_body" "$api_h"
    lim_diffs+="$(echo "${cpu[api-call]}|${cpu[api-nolim]}" | awk -F'|' '{ n = split($1, a, " "); m = split($2, b, " "); printf "%.1f", (a[n] + a[n - 1]) / 2 - (b[m] + b[m - 1]) / 2 }') "
    run_wrk py-call "$py_pid" "$py_url/mcp" "$call_body" "$py_h"
done
# ours/nginx within each round (adjacent runs, the same phase of the host), before the medians
declare -A by_round
for m in list call; do
    by_round[$m]="CPU $(per_round "${cpu[ours-$m]}" "${cpu[nginx-$m]}"), requests/s $(per_round "${rps[ours-$m]}" "${rps[nginx-$m]}"), p99 $(per_round "${p99[ours-$m]}" "${p99[nginx-$m]}")"
done
for key in "${!rps[@]}"; do
    all[$key]="req/s ${rps[$key]}| p99 ${p99[$key]}| µs ${cpu[$key]}"
    rps[$key]="$(echo "${rps[$key]}" | median)"; rps[$key]="$(printf "%.0f" "${rps[$key]}" 2> /dev/null || echo n/a)"
    p50[$key]="$(echo "${p50[$key]}" | median)"; p99[$key]="$(echo "${p99[$key]}" | median)"; cpu[$key]="$(echo "${cpu[$key]}" | median)"
done
lim_delta="$(echo "$lim_diffs" | median)"
tls_of() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$ca" 2> /dev/null | awk '/^New, / {sub(/,$/, "", $2); printf "%s %s", $2, $5} /^Server Temp Key/ {printf " %s", $4}'; }
tls_line="ours $(tls_of "$ours_port"); nginx $(tls_of "$nginx_port"); python $(tls_of "$py_port")"

# ---------------------------------------------------------------- table
size_of() { wc -c < "$1" | tr -d ' '; }
row() { # LABEL NGINX OURS PY
    echo "| $1 | $2 | $3 | $4 | $(ratio "$3" "$2") | $(ratio "$3" "$4") |"
}
mkdir -p bench/results
out="bench/results/$(date +%F).md"
{
    echo "# Benchmark $(date -u '+%F %H:%M UTC') (\`bench/run.sh\`)"
    echo
    echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' (+ uncommitted changes)'), release build; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem/ {print $2}') GiB."
    echo "Load average at the start: $load_before; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other builds share these 2 cores: rates and latencies suffer first; CPU per unit of work much less)."
    echo "Every server on core 0, every client on core 1. TLS: $tls_line."
    echo "Bodies: tools/list $(size_of "$work/list") B (python $(size_of "$work/py-list") B), tools/call $(size_of "$work/call") B (python $(size_of "$work/py-call") B); nginx serves exactly our bytes."
    echo
    echo "| measure | nginx | ours | python | ours/nginx | ours/python |"
    echo "|---|---:|---:|---:|---:|---:|"
    row "start-up, exec to first answer, ms (median of $starts)" "${start_ms[nginx]}" "${start_ms[ours]}" "${start_ms[py]}"
    row "TLS 1.3 new connections/s (openssl s_time -new, 1 client, ${tls_seconds}s x $rounds)" "${hs_rate[nginx]}" "${hs_rate[ours]}" "${hs_rate[py]}"
    row "server CPU µs per new TLS connection" "${hs_cpu[nginx]}" "${hs_cpu[ours]}" "${hs_cpu[py]}"
    for m in list call; do
        row "tools/$m keep-alive requests/s (POST /mcp)" "${rps[nginx-$m]}" "${rps[ours-$m]}" "${rps[py-$m]}"
        row "tools/$m p99 ms" "${p99[nginx-$m]}" "${p99[ours-$m]}" "${p99[py-$m]}"
        row "tools/$m server CPU µs/request" "${cpu[nginx-$m]}" "${cpu[ours-$m]}" "${cpu[py-$m]}"
    done
    row "tools/call via POST /api/mcp/v1/call: requests/s" "${rps[nginx-call]}" "${rps[api-call]}" "${rps[py-call]}"
    row "same, p99 ms" "${p99[nginx-call]}" "${p99[api-call]}" "${p99[py-call]}"
    row "same, server CPU µs/request" "${cpu[nginx-call]}" "${cpu[api-call]}" "${cpu[py-call]}"
    row "RSS KiB per idle TLS connection ($idle held)" "${idle_kib[nginx]}" "${idle_kib[ours]}" "${idle_kib[py]}"
    row "RSS KiB per open SSE stream ($sse_streams, TLS, GET /sse)" "n/a" "${sse[ours]}" "${sse[py]}"
    row "$swarm SSE streams, 1 s pings: streams held" "n/a" "${sw_open[ours]}" "${sw_open[py]}"
    row "same: seconds to open them (bounded at ${swarm_setup}s, python ${py_swarm_setup}s)" "n/a" "${sw_setup[ours]:-n/a}" "${sw_setup[py]:-n/a}"
    row "same: peak RSS MiB" "n/a" "${sw_peak[ours]:-n/a}" "${sw_peak[py]:-n/a}"
    row "same: RSS KiB per stream" "n/a" "${sw_per[ours]:-n/a}" "${sw_per[py]:-n/a}"
    row "same: server CPU % while holding (${swarm_hold}s)" "n/a" "${sw_cpu[ours]:-n/a}" "${sw_cpu[py]:-n/a}"
    row "same: pings received per stream per second (1.00 = all)" "n/a" "${sw_pings[ours]:-n/a}" "${sw_pings[py]:-n/a}"
    row "same: server CPU µs per ping received" "n/a" "${sw_ping_us[ours]:-n/a}" "${sw_ping_us[py]:-n/a}"
    echo
    echo "Limiter cost (ours only; tools/call via POST /api/mcp/v1/call, same binary, two processes, on-off-off-on in each of $rounds rounds, medians of $((2 * rounds)) runs each):"
    echo
    echo "| limiter | server CPU µs/request | requests/s | p99 ms |"
    echo "|---|---:|---:|---:|"
    echo "| GCRA per-client limiter on (request_rate 10^6/s: decides, never refuses) + bearer auth | ${cpu[api-call]} | ${rps[api-call]} | ${p99[api-call]} |"
    echo "| limiter off (request_rate 0) + bearer auth | ${cpu[api-nolim]} | ${rps[api-nolim]} | ${p99[api-nolim]} |"
    echo "| difference (on - off), median of the per-round differences ($lim_diffs) | $lim_delta | | |"
    echo
    echo "Notes:"
    echo "- Start-up: ours is ready when its ops listener's /ready answers 200; nginx and python when their TLS port answers HTTP. Every start: ours ${start_all[ours]}, nginx ${start_all[nginx]}, python ${start_all[py]} (ms)."
    echo "- TLS handshakes, every round: ours ${hs_all[ours]} nginx ${hs_all[nginx]} python ${hs_all[py]}"
    echo "- Ours/nginx within each round (the same phase of the host; median in brackets): new TLS connection CPU $hs_cpu_rounds; tools/list ${by_round[list]}; tools/call ${by_round[call]}."
    echo "- Memory: RSS of a freshly started server before and with the connections held (after a warm-up of 16): idle TLS ours ${idle_detail[ours]}, nginx ${idle_detail[nginx]}, python ${idle_detail[py]}; SSE ours ${sse_detail[ours]}, python ${sse_detail[py]}. nginx has no SSE endpoint (n/a)."
    echo "- Swarm: $swarm streams over $swarm_procs asyncio client processes on core 1 (GET /sse, ours with server.sse_ping_interval=1s, python with sse_starlette's ping at 1 s), held ${swarm_hold}s after all opened; set-up bounded at ${swarm_setup}s (python ${py_swarm_setup}s). RSS per stream = (RSS while holding - RSS before) / streams open at the end of the hold; CPU % and pings over the hold. ${sw_note[ours]:+ours: ${sw_note[ours]}.} ${sw_note[py]:+python: ${sw_note[py]}.}"
    echo "- Limiter: the difference is the whole rate-limit step of RequestGate (key string, locked GCRA decision, its metrics, the RateLimit response headers); it is noise where it is smaller than the spread of the rounds below. For the decision alone see bench/limits/run.sh (micro-benchmark: 56-310 ns)."
    echo "- Keep-alive: wrk -t1 -c$conns, ${seconds}s per run after a 2 s warm-up, $rounds rounds, medians shown. Every round (requests/s | p99 ms | server CPU µs/request):"
    for k in $(printf '%s\n' "${!all[@]}" | sort); do echo "  - $k: ${all[$k]}"; done
    for k in "${!note[@]}"; do [[ -n "${note[$k]}" ]] && echo "- $k: ${note[$k]}"; done
    echo "- The Python server does no bearer check (the SDK has no static-token option); ours checks the token and the rate limiter on every request."
} > "$work/table.md"
cp "$work/table.md" "$out"
cat "$out"
log "saved to $out"
