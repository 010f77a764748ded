#!/usr/bin/env bash
# The floor of the design for a new TLS connection: bench/tls/floor.sh [ROUNDS]
# Server CPU per new TLS 1.3 connection (`openssl s_time -new`: handshake, close) for three
# servers loaded at the same time in each round, each by its own s_time on core 1, all three
# pinned to core 0 with the same certificate and TLS settings:
#   nginx  one worker (bench/lib.sh);
#   floor  NIO's ServerBootstrap on one event loop with our TLSHandler and one handler after
#          it, nothing else (bench/http/floor in raw mode): the least a server built as the
#          design says (TLS as a NIO handler, issue 3) can spend;
#   ours   the shipped build (scripts/release-build), limits lifted as in bench/lib.sh.
# Each round prints the three figures and floor/nginx and ours/floor; the medians are the result.
# floor/nginx is what NIO's per-connection machinery and the Swift runtime cost over nginx's
# own code; ours/floor is what our admission, deadlines, metrics and lazily installed HTTP
# layer add. The floor is built with the shipped build's flags (static Swift runtime, full
# LTO) into bench/http/floor/.build-release; the first build takes minutes. Loopback only;
# every run bounded in time. Env: SECONDS_PER_RUN (5).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$root"
rounds="${1:-7}"
source bench/lib.sh
bench_setup
[[ -x "$bin" ]] || scripts/release-build > /dev/null
flags=(-c release --static-swift-stdlib --experimental-lto-mode=full --package-path bench/http/floor
       --scratch-path bench/http/floor/.build-release)
swift build "${flags[@]}" > /dev/null
floor="$(swift build "${flags[@]}" --show-bin-path)/floor"
seconds="${SECONDS_PER_RUN:-5}"

start_ours ours
start_nginx
floor_port="$(free_port)"
taskset -c 0 "$floor" "$floor_port" "$work/server.pem" "$work/server-key.pem" raw 2 > "$work/floor.log" 2>&1 &
floor_pid=$!; pids+=("$floor_pid")
for _ in $(seq 300); do openssl s_client -connect "127.0.0.1:$floor_port" < /dev/null > /dev/null 2>&1 && break; sleep 0.1; done

declare -A cpu
names=(nginx floor ours)
declare -A pid=([nginx]="$nginx_worker" [floor]="$floor_pid" [ours]="$ours_pid")
declare -A port=([nginx]="$nginx_port" [floor]="$floor_port" [ours]="$ours_port")
round() { local k before=() after=() w=() i n c
  for k in "${names[@]}"; do before+=("$(cpu_ticks "${pid[$k]}")"); done
  for k in "${names[@]}"; do
    timeout 40 taskset -c 1 openssl s_time -connect "127.0.0.1:${port[$k]}" -new -time "$seconds" > "$work/st-$k" 2>&1 & w+=($!)
  done
  wait "${w[@]}" || true
  for k in "${names[@]}"; do after+=("$(cpu_ticks "${pid[$k]}")"); done
  i=0
  for k in "${names[@]}"; do
    n="$(awk '/connections in [0-9.]+ real seconds/ {print $1; exit}' "$work/st-$k")"
    c="$(awk -v t=$((after[i] - before[i])) -v hz="$hz" -v n="${n:-0}" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')"
    cpu[$k]+="$c "; i=$((i + 1))
  done
  local fn of
  fn="$(awk -v a="$(echo "${cpu[floor]}" | awk '{print $NF}')" -v b="$(echo "${cpu[nginx]}" | awk '{print $NF}')" 'BEGIN { printf "%.3f", a / b }')"
  of="$(awk -v a="$(echo "${cpu[ours]}" | awk '{print $NF}')" -v b="$(echo "${cpu[floor]}" | awk '{print $NF}')" 'BEGIN { printf "%.3f", a / b }')"
  cpu[FN]+="$fn "; cpu[OF]+="$of "
  log "nginx $(echo "${cpu[nginx]}" | awk '{print $NF}') us, floor $(echo "${cpu[floor]}" | awk '{print $NF}') us, ours $(echo "${cpu[ours]}" | awk '{print $NF}') us; floor/nginx $fn, ours/floor $of"; }
# One short warm-up run each, not counted.
for k in "${names[@]}"; do timeout 20 taskset -c 1 openssl s_time -connect "127.0.0.1:${port[$k]}" -new -time 1 > /dev/null 2>&1 || true; done
for _ in $(seq "$rounds"); do round; done
for k in "${names[@]}"; do echo "$k: CPU us per new TLS connection ${cpu[$k]} median $(echo "${cpu[$k]}" | median)"; done
echo "floor/nginx: ${cpu[FN]} median $(echo "${cpu[FN]}" | median)"
echo "ours/floor: ${cpu[OF]} median $(echo "${cpu[OF]}" | median)"
