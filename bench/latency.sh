#!/usr/bin/env bash
# Latency distributions side by side: bench/latency.sh [BIN] [list|call] [ROUNDS]
# Starts our server (BIN, default the release build) and nginx (serving our response's bytes,
# the same certificate and TLS settings) on core 0, and in each round loads each alone with
# `wrk -t1 -c32` on core 1 for SECONDS_PER_RUN (5) seconds, printing the latency percentiles
# (ms) of both. The p99 that bench/run.sh reports is one point of these; this shows where it
# comes from (our responses leave at the end of a loop tick, so a request waits one tick or
# two; nginx answers each at its turn). Loopback only; every server stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"; cd "$root"
source bench/lib.sh
[[ -n "${1:-}" ]] && bin="$1"
what="${2:-call}"; rounds="${3:-2}"; seconds="${SECONDS_PER_RUN:-5}"
[[ -x "$bin" ]] || { echo "not an executable: $bin (scripts/release-build first)" >&2; exit 1; }
bench_setup
h="$ours_list_h"; body="$ours_list_body"
[[ $what == call ]] && { h="$ours_call_h"; body="$ours_call_body"; }
start_ours A
curl_post "https://127.0.0.1:$A_port/mcp" "$body" "$h" > "$work/mcp"
start_nginx "$work/mcp"
run() { # NAME URL HEADERS SECONDS
    BODY="$body" HEADERS="$3" taskset -c 1 wrk -t1 -c32 -d"$4s" -s bench/http/percentiles.lua "$2" | tail -1 | sed "s/^/$1  /"; }
run ours "https://127.0.0.1:$A_port/mcp" "$h" 2 > /dev/null
run nginx "https://127.0.0.1:$nginx_port/mcp" "$api_h" 2 > /dev/null
for r in $(seq "$rounds"); do
    run "ours " "https://127.0.0.1:$A_port/mcp" "$h" "$seconds"
    run "nginx" "https://127.0.0.1:$nginx_port/mcp" "$api_h" "$seconds"
done
