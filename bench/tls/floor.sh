#!/usr/bin/env bash
# The floor of the design for a new TLS connection: bench/tls/floor.sh [ROUNDS]
# Server CPU per new TLS 1.3 connection (`openssl s_time -new`: handshake, close) for three
# servers loaded at the same time in each round, each by its own s_time on core 1, all three
# pinned to core 0 with the same certificate and TLS settings:
#   nginx  one worker (bench/lib.sh);
#   floor  NIO's ServerBootstrap on one event loop with our TLSHandler and one handler after
#          it, nothing else (bench/http/floor in raw mode): the least a server built as the
#          design says (TLS as a NIO handler over a ByteBuffer BIO, issue 3) spends, with our
#          handler as it is;
#   ours   the shipped build (scripts/release-build; .build-release as it is, built if
#          missing), limits lifted as in bench/lib.sh.
# Each round prints the three figures and floor/nginx and ours/floor; the medians are the result.
# PLAIN=1 adds the same three without TLS, each loaded by bench/tls/tcp_connects.py (connect,
# 1 ms, close): nginx on a plain port, the floor without the TLS handler (tcp mode), ours with
# tls.enabled=false. The plain floor/nginx is what NIO's connection life cycle alone costs over
# nginx's; the rest of the TLS floor's excess is the TLS handler's work through NIO's pipeline
# (its buffers, events and the runtime under them).
# The floor is built with the shipped build's flags (bench/lib.sh floor_binary); the first
# build takes minutes. Loopback only; every run
# bounded in time. Env: SECONDS_PER_RUN (5), PLAIN (0).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$root"
rounds="${1:-7}"
source bench/lib.sh
bench_setup
[[ -x "$bin" ]] || scripts/release-build > /dev/null
floor="$(floor_binary)"
seconds="${SECONDS_PER_RUN:-5}"
declare -A pid port

start_floor() { # NAME MODE
    local p; p="$(free_port)"
    taskset -c 0 "$floor" "$p" "$work/server.pem" "$work/server-key.pem" "$2" 2 > "$work/$1.log" 2>&1 &
    pid[$1]=$!; port[$1]="$p"; pids+=("$!")
    for _ in $(seq 100); do
        timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2> /dev/null && return 0
        sleep 0.1
    done
    echo "the floor ($2) did not come up" >&2; return 1
}
start_ours ours; pid[ours]="$ours_pid"; port[ours]="$ours_port"
start_nginx; pid[nginx]="$nginx_worker"; port[nginx]="$nginx_port"
start_floor floor raw
tls_names=(nginx floor ours)
plain_names=()
if [[ "${PLAIN:-0}" == 1 ]]; then
    start_ours oursplain --set tls.enabled=false; pid[ours-tcp]="$oursplain_pid"; port[ours-tcp]="$oursplain_port"
    start_floor floor-tcp tcp
    # nginx on a plain port: the same configuration without ssl on its listener.
    plain_port="$(free_port)"
    nginx_conf "$plain_port" "$work/nginx-tcp"
    sed -i "s/listen 127.0.0.1:$plain_port ssl;/listen 127.0.0.1:$plain_port;/" "$work/nginx-tcp/nginx.conf"
    nginx_cmd "$work/nginx-tcp"
    "${NGINX_CMD[@]}" 2> "$work/nginx-tcp/stderr" &
    pids+=("$!"); plain_master=$!
    wait_for "http://127.0.0.1:$plain_port/ready"
    pid[nginx-tcp]="$(pgrep -P "$plain_master" | head -1)"; port[nginx-tcp]="$plain_port"
    plain_names=(nginx-tcp floor-tcp ours-tcp)
fi

declare -A cpu
last() { echo "${cpu[$1]}" | awk '{print $NF}'; }
guarded() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else print "n/a" }'; }
round() { # MODE NAMES...: loads the three at once, collects CPU µs per connection of each
  local mode=$1 k before=() after=() w=() i n c; shift
  for k in "$@"; do before+=("$(cpu_ticks "${pid[$k]}")"); done
  for k in "$@"; do
    if [[ $k == *-tcp ]]; then
      timeout $((seconds + 30)) taskset -c 1 python3 bench/tls/tcp_connects.py 127.0.0.1 "${port[$k]}" "$seconds" > "$work/st-$k" 2>&1 & w+=($!)
    else
      timeout 40 taskset -c 1 openssl s_time -connect "127.0.0.1:${port[$k]}" -new -time "$seconds" > "$work/st-$k" 2>&1 & w+=($!)
    fi
  done
  wait "${w[@]}" || true
  for k in "$@"; do after+=("$(cpu_ticks "${pid[$k]}")"); done
  i=0
  for k in "$@"; do
    if [[ $k == *-tcp ]]; then n="$(head -1 "$work/st-$k")"; else n="$(awk '/connections in [0-9.]+ real seconds/ {print $1; exit}' "$work/st-$k")"; fi
    c="$(awk -v t=$((after[i] - before[i])) -v hz="$hz" -v n="${n:-0}" 'BEGIN { if (n ~ /^[0-9]+$/ && n > 0) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')"
    cpu[$k]+="$c "; i=$((i + 1))
  done
  local fn of
  fn="$(guarded "$(last "$2")" "$(last "$1")")"; of="$(guarded "$(last "$3")" "$(last "$2")")"
  cpu[FN$mode]+="$fn "; cpu[OF$mode]+="$of "
  log "$1 $(last "$1") us, $2 $(last "$2") us, $3 $(last "$3") us; floor/nginx $fn, ours/floor $of"; }
# One short warm-up run each, not counted.
for k in "${tls_names[@]}"; do timeout 20 taskset -c 1 openssl s_time -connect "127.0.0.1:${port[$k]}" -new -time 1 > /dev/null 2>&1 || true; done
for _ in $(seq "$rounds"); do
    round tls "${tls_names[@]}"
    [[ ${#plain_names[@]} == 0 ]] || round tcp "${plain_names[@]}"
done
for k in "${tls_names[@]}" "${plain_names[@]}"; do echo "$k: CPU us per new connection ${cpu[$k]} median $(echo "${cpu[$k]}" | median)"; done
for m in tls tcp; do
    [[ -n "${cpu[FN$m]:-}" ]] || continue
    echo "$m floor/nginx: ${cpu[FN$m]} median $(echo "${cpu[FN$m]}" | median)"
    echo "$m ours/floor: ${cpu[OF$m]} median $(echo "${cpu[OF$m]}" | median)"
done
