#!/usr/bin/env bash
# The request path's floor: bench/http/floor.sh [ROUNDS]
# Server CPU per keep-alive request (wrk -t1 -c32 on core 1, servers on core 0, the same
# certificate) for: nginx serving our tools/list body as a file; NIO + our TLS handler
# answering each read with a static response of that size ("floor raw"); the same with
# NIOHTTP1's decoder and encoder ("floor http"); and our server answering server/discover and tools/list.
# What separates "floor http" from ours is our HTTP layer, router, middleware and MCP work.
# Builds bench/http/floor (its own package) with the shipped flags (bench/lib.sh floor_binary;
# a plain release build until 2026-12-05). Loopback only.
# Env: SECONDS_PER_RUN (5).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$root"
rounds="${1:-2}"
source bench/lib.sh
bench_setup
[[ -x "$bin" ]] || scripts/release-build > /dev/null
floor="$(floor_binary)"
seconds="${SECONDS_PER_RUN:-5}"; conns=32
declare -A rps p50 p99 cpu note
discover_body='{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{'"$meta"'}}'
discover_h="$common|Authorization: Bearer $token|MCP-Protocol-Version: 2026-07-28|Mcp-Method: server/discover"
start_ours ours
curl_post "https://127.0.0.1:$ours_port/mcp" "$ours_list_body" "$ours_list_h" > "$work/mcp"
size="$(wc -c < "$work/mcp")"
start_nginx "$work/mcp"
for mode in raw http; do
    port="$(free_port)"
    taskset -c 0 "$floor" "$port" "$work/server.pem" "$work/server-key.pem" "$mode" "$size" > "$work/floor-$mode.log" 2>&1 &
    pids+=($!); printf -v "${mode}_pid" %s $!; printf -v "${mode}_port" %s "$port"
    wait_for "https://127.0.0.1:$port/" --cacert "$ca"
done
log "tools/list body: $size bytes"
for r in $(seq "$rounds"); do
    run_wrk nginx "$nginx_worker" "https://127.0.0.1:$nginx_port/mcp" "$list_body" "$api_h"
    run_wrk "floor raw" "$raw_pid" "https://127.0.0.1:$raw_port/mcp" "$list_body" "$api_h"
    run_wrk "floor http" "$http_pid" "https://127.0.0.1:$http_port/mcp" "$list_body" "$api_h"
    run_wrk "ours discover" "$ours_pid" "https://127.0.0.1:$ours_port/mcp" "$discover_body" "$discover_h"
    run_wrk "ours list" "$ours_pid" "https://127.0.0.1:$ours_port/mcp" "$ours_list_body" "$ours_list_h"
done
echo "| server | CPU µs/request (median of $rounds) | requests/s |"
echo "|---|---:|---:|"
for k in nginx "floor raw" "floor http" "ours discover" "ours list"; do
    echo "| $k | $(echo "${cpu[$k]}" | median) | $(echo "${rps[$k]}" | median) |"
done
