#!/usr/bin/env bash
# A/B of two builds of the server, for CPU work: bench/ab.sh BIN_A BIN_B [ROUNDS] [list|call|api|tls]
# Starts both binaries (core 0, the limits of bench/run.sh), then in each round measures each
# one's server CPU time per request (tools/list or tools/call on /mcp, or tools/call on the Go
# server's POST /api/mcp/v1/call, over keep-alive HTTPS, wrk -c32 on
# core 1) or per new TLS 1.3 connection (openssl s_time -new), alternating which goes first, and
# prints every round and the medians. A difference smaller than the spread of the rounds is noise.
# Env: SECONDS_PER_RUN (5); NGINX=1 adds nginx (one worker on core 0, the same certificate and
# TLS settings, a static body of our response's size) at the start of every round, for the
# ratio on the same host at the same time. PAIRED=1 (keep-alive modes): in each round both
# builds are loaded at the same time, each by its own wrk, so both see the same phase of the
# host; each round prints B's CPU per request over A's, whose median is the figure (both share
# core 0, so the absolute figures are above a lone run's; the ratio held within ±1 % between
# rounds where lone runs moved ±10 %; but A against A gave 1.000 once and 0.990 another time, and
# one pair of builds 1.004 and, swapped, 1/1.026: the two process instances differ by up to
# 1.5 % for as long as they run. RESTART=1 starts both afresh every round (A against A: 1.005;
# that pair: 0.983 and, swapped, 1/1.016); use it for a difference of a few per cent). PAIRED=nginx (keep-alive
# modes): the same, with A and nginx (serving our response's bytes) loaded at once in each
# round; prints A/nginx per round for CPU per request, requests/s and p99, and their medians
# (B is started but not measured: pass the same binary twice). Both servers then share core 0
# and both clients core 1, so each sees half the machine: CPU per request is the fair figure,
# requests/s and p99 are each under the other's load. Loopback only; every server stopped on
# exit. In `tls` mode PAIRED=1 and PAIRED=nginx do the same with new connections: the two
# servers each get their own `openssl s_time -new` on core 1 at once, and each round prints
# the CPU per connection of both and their ratio (B/A, or A/nginx), whose median is the figure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"; cd "$root"
binA="$1"; binB="$2"; rounds="${3:-4}"; what="${4:-list}"
for b in "$binA" "$binB"; do [[ -x "$b" ]] || { echo "not an executable: $b" >&2; exit 1; }; done
source bench/lib.sh
bench_setup
seconds="${SECONDS_PER_RUN:-5}"; conns=32; tls_seconds=5
h="$ours_list_h"; body="$ours_list_body"
path=/mcp
if [[ $what == call ]]; then h="$ours_call_h"; body="$ours_call_body"; fi
if [[ $what == api ]]; then h="$api_h"; body="$call_body"; path=/api/mcp/v1/call; fi
declare -A rps p50 p99 cpu note
bin="$binA"; start_ours A; bin="$binB"; start_ours B
[[ "${PAIRED:-0}" != nginx ]] || NGINX=1
if [[ "${NGINX:-0}" == 1 ]]; then
  # nginx answers /mcp with the file of that name: our response to this mode's request.
  curl_post "https://127.0.0.1:$A_port$path" "$body" "$h" > "$work/mcp"
  start_nginx "$work/mcp"
fi
# s_time's connection count (its output on stdin), and CPU µs per connection from ticks.
s_time_conns() { awk '/connections in [0-9.]+ real seconds/ {print $1; exit}'; }
us_per_conn() { awk -v t="$1" -v hz="$hz" -v c="${2:-0}" 'BEGIN { if (c > 0) printf "%.0f", t / hz * 1e6 / c; else print "n/a" }'; }
hs() { local key=$1 pid=$2 port=$3 before after n c
  before="$(cpu_ticks "$pid")"
  n="$(timeout 40 taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time "$tls_seconds" 2>&1 | s_time_conns || true)"
  after="$(cpu_ticks "$pid")"
  c="$(us_per_conn $((after - before)) "$n")"
  cpu[$key]+="$c "; log "hs $key $n conns $c us"; }
# Both builds under load at once; prints and collects each round's B/A.
pair() { local ta tb ta2 tb2 na nb ca cb wa wb r
  ta="$(cpu_ticks "$A_pid")"; tb="$(cpu_ticks "$B_pid")"
  BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" -s bench/http/post.lua "https://127.0.0.1:$A_port$path" > "$work/wa" & wa=$!
  BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" -s bench/http/post.lua "https://127.0.0.1:$B_port$path" > "$work/wb" & wb=$!
  wait "$wa" "$wb"
  ta2="$(cpu_ticks "$A_pid")"; tb2="$(cpu_ticks "$B_pid")"
  na="$(awk '/requests in/ {print $1; exit}' "$work/wa")"; nb="$(awk '/requests in/ {print $1; exit}' "$work/wb")"
  ca="$(awk -v t=$((ta2 - ta)) -v hz="$hz" -v n="${na:-0}" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')"
  cb="$(awk -v t=$((tb2 - tb)) -v hz="$hz" -v n="${nb:-0}" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')"
  r="$(awk -v a="$ca" -v b="$cb" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3f", b / a; else print "n/a" }')"
  cpu[A]+="$ca "; cpu[B]+="$cb "; cpu[BA]+="$r "
  log "paired: A $ca us ($na requests), B $cb us ($nb requests), B/A $r"; }
# New TLS connections to two servers at once (PAIRED modes of `tls`): each gets its own
# `openssl s_time -new` on core 1 for the same seconds; collects CPU per connection of both
# and their ratio (second/first) under key R.
pair_tls() { local k1=$1 p1=$2 port1=$3 k2=$4 p2=$5 port2=$6 t1 t2 u1 u2 w1 w2 n1 n2 c1 c2
  t1="$(cpu_ticks "$p1")"; t2="$(cpu_ticks "$p2")"
  timeout 40 taskset -c 1 openssl s_time -connect "127.0.0.1:$port1" -new -time "$tls_seconds" > "$work/t1" 2>&1 & w1=$!
  timeout 40 taskset -c 1 openssl s_time -connect "127.0.0.1:$port2" -new -time "$tls_seconds" > "$work/t2" 2>&1 & w2=$!
  wait "$w1" "$w2" || true
  u1="$(cpu_ticks "$p1")"; u2="$(cpu_ticks "$p2")"
  n1="$(s_time_conns < "$work/t1")"; n2="$(s_time_conns < "$work/t2")"
  c1="$(us_per_conn $((u1 - t1)) "$n1")"; c2="$(us_per_conn $((u2 - t2)) "$n2")"
  cpu[$k1]+="$c1 "; cpu[$k2]+="$c2 "
  cpu[R]+="$(awk -v a="$c2" -v b="$c1" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else print "n/a" }') "
  log "paired TLS: $k1 $c1 us ($n1 connections), $k2 $c2 us ($n2 connections), $k2/$k1 $(echo "${cpu[R]}" | awk '{print $NF}')"; }
# A and nginx under load at once; prints and collects each round's A/nginx.
pair_nginx() { local ta tn ta2 tn2 wa wn ca cn
  ta="$(cpu_ticks "$A_pid")"; tn="$(cpu_ticks "$nginx_worker")"
  BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/http/post.lua "https://127.0.0.1:$A_port$path" > "$work/wa" & wa=$!
  BODY="$body" HEADERS="$api_h" taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/http/post.lua "https://127.0.0.1:$nginx_port/mcp" > "$work/wn" & wn=$!
  wait "$wa" "$wn"
  ta2="$(cpu_ticks "$A_pid")"; tn2="$(cpu_ticks "$nginx_worker")"
  for k in A nginx; do
    local f="$work/wa" t=$((ta2 - ta)); [[ $k == A ]] || { f="$work/wn"; t=$((tn2 - tn)); }
    local n r q c
    n="$(awk '/requests in/ {print $1; exit}' "$f")"
    r="$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$f")"
    q="$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")"
    c="$(awk -v t="$t" -v hz="$hz" -v n="${n:-0}" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')"
    rps[$k]+="$r "; p99[$k]+="$q "; cpu[$k]+="$c "
  done
  ca="$(echo "${cpu[A]}" | awk '{print $NF}')"; cn="$(echo "${cpu[nginx]}" | awk '{print $NF}')"
  cpu[R]+="$(ratio "$ca" "$cn") "
  rps[R]+="$(ratio "$(echo "${rps[A]}" | awk '{print $NF}')" "$(echo "${rps[nginx]}" | awk '{print $NF}')") "
  p99[R]+="$(ratio "$(echo "${p99[A]}" | awk '{print $NF}')" "$(echo "${p99[nginx]}" | awk '{print $NF}')") "
  log "paired with nginx: A $ca us, nginx $cn us; A/nginx CPU $(echo "${cpu[R]}" | awk '{print $NF}'), req/s $(echo "${rps[R]}" | awk '{print $NF}'), p99 $(echo "${p99[R]}" | awk '{print $NF}')"; }
if [[ "${PAIRED:-0}" == nginx && $what == tls ]]; then
  for r in $(seq "$rounds"); do pair_tls nginx "$nginx_worker" "$nginx_port" A "$A_pid" "$A_port"; done
  echo "A: ${cpu[A]} median $(echo "${cpu[A]}" | median); nginx: ${cpu[nginx]} median $(echo "${cpu[nginx]}" | median)"
  echo "A/nginx CPU per new TLS connection: ${cpu[R]} median $(echo "${cpu[R]}" | median)"
  exit 0
fi
if [[ "${PAIRED:-0}" == nginx ]]; then
  BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c"$conns" -d2s -s bench/http/post.lua "https://127.0.0.1:$A_port$path" > /dev/null
  BODY="$body" HEADERS="$api_h" taskset -c 1 wrk -t1 -c"$conns" -d2s -s bench/http/post.lua "https://127.0.0.1:$nginx_port/mcp" > /dev/null
  for r in $(seq "$rounds"); do pair_nginx; done
  for k in A nginx; do echo "$k: CPU us ${cpu[$k]} median $(echo "${cpu[$k]}" | median); req/s ${rps[$k]}; p99 ms ${p99[$k]}"; done
  echo "A/nginx CPU: ${cpu[R]} median $(echo "${cpu[R]}" | median)"
  echo "A/nginx req/s: ${rps[R]} median $(echo "${rps[R]}" | median)"
  echo "A/nginx p99: ${p99[R]} median $(echo "${p99[R]}" | median)"
  exit 0
fi
if [[ "${PAIRED:-0}" == 1 && $what == tls ]]; then
  for r in $(seq "$rounds"); do pair_tls A "$A_pid" "$A_port" B "$B_pid" "$B_port"; done
  echo "A: ${cpu[A]}  median $(echo "${cpu[A]}" | median)"
  echo "B: ${cpu[B]}  median $(echo "${cpu[B]}" | median)"
  echo "B/A: ${cpu[R]}  median $(echo "${cpu[R]}" | median)"
  exit 0
fi
# RESTART=1 (PAIRED=1, keep-alive modes): both servers are started afresh before every round
# after the first, B first in even rounds, so a difference between two process instances (heap
# layout, start order) is not carried through every round.
warm_pair() { local k pv w=()
  for k in A B; do pv=${k}_port; BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c"$conns" -d2s -s bench/http/post.lua "https://127.0.0.1:${!pv}$path" > /dev/null & w+=($!); done
  wait "${w[@]}"; }
restart_pair() { local r=$1 k pv order="A B"
  (( r % 2 == 0 )) && order="B A"
  for k in A B; do pv=${k}_pid; kill "${!pv}" 2> /dev/null || true; wait "${!pv}" 2> /dev/null || true; done
  for k in $order; do if [[ $k == A ]]; then bin="$binA"; else bin="$binB"; fi; start_ours "$k"; done
  warm_pair; }
if [[ "${PAIRED:-0}" == 1 ]]; then
  warm_pair
  for r in $(seq "$rounds"); do
    if [[ "${RESTART:-0}" == 1 ]] && (( r > 1 )); then restart_pair "$r"; fi
    pair
  done
  echo "A: ${cpu[A]}  median $(echo "${cpu[A]}" | median)"
  echo "B: ${cpu[B]}  median $(echo "${cpu[B]}" | median)"
  echo "B/A: ${cpu[BA]}  median $(echo "${cpu[BA]}" | median)"
  exit 0
fi
for r in $(seq "$rounds"); do
  order="A B"; (( r % 2 == 0 )) && order="B A"
  if [[ "${NGINX:-0}" == 1 ]]; then
    if [[ $what == tls ]]; then hs nginx "$nginx_worker" "$nginx_port"; else run_wrk nginx "$nginx_worker" "https://127.0.0.1:$nginx_port/mcp" "$body" "$api_h"; fi
  fi
  for k in $order; do
    pv=${k}_pid; pt=${k}_port
    if [[ $what == tls ]]; then hs $k ${!pv} ${!pt}; else run_wrk $k ${!pv} "https://127.0.0.1:${!pt}$path" "$body" "$h"; fi
  done
done
echo "A: ${cpu[A]}  median $(echo "${cpu[A]}" | median)"
echo "B: ${cpu[B]}  median $(echo "${cpu[B]}" | median)"
if [[ "${NGINX:-0}" == 1 ]]; then
  n="$(echo "${cpu[nginx]}" | median)"
  echo "nginx: ${cpu[nginx]}  median $n  (A $(ratio "$(echo "${cpu[A]}" | median)" "$n")x, B $(ratio "$(echo "${cpu[B]}" | median)" "$n")x)"
  [[ $what == tls ]] || echo "requests/s medians: A $(echo "${rps[A]}" | median), B $(echo "${rps[B]}" | median), nginx $(echo "${rps[nginx]}" | median); p99 ms: A $(echo "${p99[A]}" | median), B $(echo "${p99[B]}" | median), nginx $(echo "${p99[nginx]}" | median)"
fi
