#!/usr/bin/env bash
# New TLS 1.3 connections side by side in one run on this machine (issue 3, "Done when"):
#   server    the real release binary as it ships (scripts/release-build, limits lifted)
#   nginx     Debian nginx, one worker
#   baseline  (BASELINE=/path/to/an/older/axinova-mcp-server only) the same, another build: A/B in one run
#   handler   (HANDLER=1 only) our TLSHandler alone in the TLSTests echo server (runs under Swift
#             Testing, which records a backtrace for every thrown error: an upper bound)
#   floor     OpenSSL's own server-side CPU per handshake (bench/tls/handshake_floor.c, memory BIOs)
#   in-process (HANDLER=1 only) the same through our TLSHandler over EmbeddedChannels
#             (Tests/TLSTests/HandshakeCostBenchmark.swift): floor + what handler, BIO and connection add
# Same certificate (ECDSA P-256 from certs/make-dev-certs.sh) and the same TLS settings for all:
# TLS 1.2+1.3, Mozilla intermediate suites, X25519:P-256:P-384, no tickets, no session cache.
# Every server is pinned to core 0, the load generator (openssl s_time -new, one process) to core 1.
# Like nginx's one worker, our server runs one event loop there (NIO_SINGLETON_GROUP_LOOP_COUNT=1,
# which the server would also pick from its affinity mask; NIO's own default is one per core of
# the machine, i.e. two loops taking turns on the one core); DEFAULT_LOOPS=1 adds a row with
# NIO's default (the variable set to the machine's core count, which the server obeys).
# PLAIN=1 adds plain-TCP rows (server with tls.enabled=false, nginx on a second non-TLS port; the
# client connects and closes, bench/tls/tcp_connects.py): the cost of a connection without TLS, so
# that "TLS row - plain row" is what TLS adds in each server.
# Per run: connections/s and the server's CPU time per new connection (utime+stime from
# /proc/<pid>/stat before/after, over the connections s_time completed), and of it the user-space
# part (utime: OpenSSL and the server's own code, apart from the kernel's TCP work, which is about
# the same for both servers). ROUNDS interleaved rounds,
# medians shown. RSS per idle TLS connection is measured first: IDLE handshaken connections held open
# on the fresh process (the load runs' freed memory would be reused by the allocator), after a
# warm-up of 16: (RSS with them - RSS before) / IDLE.
# Env: SECONDS_PER_RUN (5), ROUNDS (3), IDLE (500), BIN (the release binary), BASELINE (unset), PLAIN (0), HANDLER (0; 1 needs
# `swift build -c release --build-tests -Xswiftc -enable-testing` and SWIFT_TEST_FLAGS="-c release"), PERF (unset; a file
# name: perf record -g on the real server (or PERF_NAME) during its first load run, report written there).
# Everything stays on 127.0.0.1; every run is bounded in time.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
seconds="${SECONDS_PER_RUN:-5}"
rounds="${ROUNDS:-3}"
idle="${IDLE:-500}"
handler="${HANDLER:-0}"
hz="$(getconf CLK_TCK)"
token="bench-token-0123456789abcdef0123456789abcdef"
bin="${BIN:-$root/.build-release/release/axinova-mcp-server}"
for tool in nginx taskset openssl curl python3 cc; do
    command -v "$tool" > /dev/null || { echo "$tool not installed (apt-get install nginx-light curl)" >&2; exit 1; }
done
[[ -x "$bin" ]] || scripts/release-build > /dev/null

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ "$handler" == 1 ]]; then stop_tls_test_server "$work" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
certs/make-dev-certs.sh "$work" > /dev/null 2>&1
ca="$work/ca.pem"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wait_tls() { # PORT: up to 30 s for a completed handshake
    local i
    for i in $(seq 300); do
        echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$ca" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "no TLS on port $1" >&2; return 1
}

# --- the real server (and a baseline build) ---
start_server() { # BINARY [LOOPS] [plain] -> sets started_pid, started_port
    local port ops loops="${2:-1}" tls
    tls=(--set tls.cert_file="$work/server.pem" --set tls.key_file="$work/server-key.pem")
    [[ "${3:-}" == plain ]] && tls=(--set tls.enabled=false)
    port="$(free_port)"; ops="$(free_port)"
    if [[ "$loops" == default ]]; then loops="$(nproc)"; fi
    NIO_SINGLETON_GROUP_LOOP_COUNT="$loops" APP_SERVER__API_TOKEN="$token" taskset -c 0 "$1" --config-dir config \
        --set server.port="$port" --set server.http_port="$ops" \
        "${tls[@]}" --set log.level=warning \
        --set limits.connection_rate_per_ip=0 --set limits.connection_rate_global=0 \
        --set limits.max_connections_per_ip=8192 --set limits.max_connections=8192 \
        --set limits.header_timeout=5m --set limits.idle_timeout=5m \
        > "$work/server-$port.log" 2>&1 &
    started_pid=$!; started_port="$port"; pids+=("$started_pid")
    if [[ "${3:-}" == plain ]]; then
        for _ in $(seq 300); do curl -s -o /dev/null -m 2 "http://127.0.0.1:$ops/ready" && return 0; sleep 0.1; done
        cat "$work/server-$port.log" >&2; exit 1
    fi
    wait_tls "$port" || { cat "$work/server-$port.log" >&2; exit 1; }
}
start_server "$bin"
server_pid="$started_pid"; server_port="$started_port"

# --- nginx ---
nginx_port="$(free_port)"; nginx_plain_port="$(free_port)"
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
worker_rlimit_nofile 16384;
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
        include $root/bench/nginx-tls.conf;
        keepalive_timeout 300s;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$nginx_plain_port;
        keepalive_timeout 300s;
        location / { return 200 "ok\n"; }
    }
}
CONF
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" 2> "$work/nginx/stderr" &
nginx_pid=$!; pids+=("$nginx_pid")
wait_tls "$nginx_port" || { cat "$work/nginx/stderr" "$work/nginx/error.log" >&2; exit 1; }
nginx_worker="$(pgrep -P "$nginx_pid" | head -1)"

# --- TLSHandler alone (optional) ---
names=(server nginx)
declare -A pid_of port_of
pid_of[server]="$server_pid"; port_of[server]="$server_port"
pid_of[nginx]="$nginx_worker"; port_of[nginx]="$nginx_port"
if [[ "${DEFAULT_LOOPS:-0}" == 1 ]]; then
    start_server "$bin" default
    pid_of[server-nproc-loops]="$started_pid"; port_of[server-nproc-loops]="$started_port"
    names+=(server-nproc-loops)
fi
if [[ -n "${BASELINE:-}" ]]; then
    start_server "$BASELINE"
    pid_of[baseline]="$started_pid"; port_of[baseline]="$started_port"
    names+=(baseline)
fi
declare -A plain
if [[ "${PLAIN:-0}" == 1 ]]; then
    start_server "$bin" 1 plain
    pid_of[server-plain]="$started_pid"; port_of[server-plain]="$started_port"; plain[server-plain]=1
    pid_of[nginx-plain]="$nginx_worker"; port_of[nginx-plain]="$nginx_plain_port"; plain[nginx-plain]=1
    names+=(server-plain nginx-plain)
fi
if [[ "$handler" == 1 ]]; then
    source scripts/tls-test-server.sh
    start_tls_test_server "$work"
    taskset -a -p -c 0 "$SERVER_PID" > /dev/null
    pid_of[handler]="$SERVER_PID"; port_of[handler]="$SERVER_PORT"
    names+=(handler)
fi

# --- RSS per idle connection, on the fresh processes ---
declare -A rss rss_detail
idle_rss() { # NAME
    local name="$1" pid="${pid_of[$1]}" port="${port_of[$1]}" rss0 rss1 ready
    echo | timeout 60 python3 bench/tls/idle_connections.py 127.0.0.1 "$port" 16 "$ca" > /dev/null 2>&1 || true  # warm-up
    sleep 0.5
    rss0="$(rss_kib "$pid")"
    coproc IDLEC { timeout 150 taskset -c 1 python3 bench/tls/idle_connections.py 127.0.0.1 "$port" "$idle" "$ca"; }
    read -r _ ready <&"${IDLEC[0]}" || true
    sleep 1
    rss1="$(rss_kib "$pid")"
    echo >&"${IDLEC[1]}" || true
    wait "$IDLEC_PID" 2>/dev/null || true
    rss[$name]="$(awk -v a="$rss0" -v b="$rss1" -v n="$idle" 'BEGIN {printf "%.1f", (b - a) / n}')"
    [[ "$ready" == "$idle" ]] || rss[$name]="n/a (held $ready)"
    rss_detail[$name]="$rss0 -> $rss1"
    printf "%-8s %s idle held: RSS %s -> %s KiB = %s KiB/conn\n" "$name" "$ready" "$rss0" "$rss1" "${rss[$name]}" >&2
    sleep 1   # let the server notice the closes
}
for name in "${names[@]}"; do [[ -n "${plain[$name]:-}" ]] || idle_rss "$name"; done

# --- new connections: ROUNDS interleaved rounds ---
declare -A rate cpu user all
perf_done=0
run() { # NAME
    local name="$1" pid="${pid_of[$1]}" port="${port_of[$1]}" before after ubefore uafter out conns r c perf_pid=""
    if [[ -n "${plain[$name]:-}" ]]; then
        timeout 30 taskset -c 1 python3 bench/tls/tcp_connects.py 127.0.0.1 "$port" 1 > /dev/null || true  # warm-up
        before="$(cpu_ticks "$pid")"; ubefore="$(user_ticks "$pid")"
        conns="$(timeout $((seconds + 30)) taskset -c 1 python3 bench/tls/tcp_connects.py 127.0.0.1 "$port" "$seconds")"
        after="$(cpu_ticks "$pid")"; uafter="$(user_ticks "$pid")"
        record "$name" "$conns" $((after - before)) $((uafter - ubefore))
        return
    fi
    timeout 30 taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time 1 > /dev/null 2>&1 || true  # warm-up
    if [[ -n "${PERF:-}" && "$name" == "${PERF_NAME:-server}" && "$perf_done" == 0 ]]; then
        perf record -F 2999 -g -o "$work/perf.data" -p "$pid" -- sleep "$seconds" > /dev/null 2>&1 &
        perf_pid=$!
    fi
    before="$(cpu_ticks "$pid")"; ubefore="$(user_ticks "$pid")"
    out="$(timeout $((seconds + 30)) taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time "$seconds" 2>&1)"
    after="$(cpu_ticks "$pid")"; uafter="$(user_ticks "$pid")"
    if [[ -n "$perf_pid" ]]; then
        wait "$perf_pid" || true
        perf report -i "$work/perf.data" --no-children --stdio --sort dso,sym 2> /dev/null > "$PERF" || true
        cp "$work/perf.data" "$PERF.data"
        perf_done=1
        echo "perf report written to $PERF" >&2
    fi
    conns="$(echo "$out" | awk '/connections in [0-9.]+ real seconds/ {print $1; exit}')"
    [[ -n "$conns" && "$conns" -gt 0 ]] || { echo "$name: s_time failed: $out" >&2; return 1; }
    record "$name" "$conns" $((after - before)) $((uafter - ubefore))
}
record() { # NAME CONNECTIONS TICKS USER_TICKS
    local name="$1" conns="$2" ticks="$3" uticks="$4" r c u
    r="$(awk -v c="$conns" -v s="$seconds" 'BEGIN {printf "%.0f", c / s}')"
    c="$(awk -v t="$ticks" -v hz="$hz" -v c="$conns" 'BEGIN {printf "%.0f", t / hz * 1e6 / c}')"
    u="$(awk -v t="$uticks" -v hz="$hz" -v c="$conns" 'BEGIN {printf "%.0f", t / hz * 1e6 / c}')"
    rate[$name]+="$r "; cpu[$name]+="$c "; user[$name]+="$u "
    printf "%-8s %6s conn/s  %5s us CPU/conn (%s user)  (%s conns in %ss)\n" "$name" "$r" "$c" "$u" "$conns" "$seconds" >&2
}
for round in $(seq "$rounds"); do
    echo "round $round of $rounds" >&2
    for name in "${names[@]}"; do run "$name"; done
done
for name in "${names[@]}"; do
    all[$name]="conn/s ${rate[$name]}| µs ${cpu[$name]}| user µs ${user[$name]}"
    rate[$name]="$(echo "${rate[$name]}" | median)"; cpu[$name]="$(echo "${cpu[$name]}" | median)"; user[$name]="$(echo "${user[$name]}" | median)"
done

cc -O2 -o "$work/handshake_floor" bench/tls/handshake_floor.c -lssl -lcrypto
floor="$(taskset -c 1 "$work/handshake_floor" "$work" 2000)"
inprocess="n/a"
if [[ "$handler" == 1 ]]; then
    TLS_HANDSHAKE_BENCH=2000 TLS_HANDSHAKE_BENCH_OUT="$work/inprocess" timeout 300 taskset -c 1 \
        swift test --skip-build ${SWIFT_TEST_FLAGS:-} --filter HandshakeCostBenchmark > "$work/inprocess.log" 2>&1 || true
    inprocess="$(cat "$work/inprocess" 2>/dev/null || echo "n/a")"
fi

tls_of() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$ca" 2>/dev/null | awk '/^New, / {sub(/,$/, "", $2); printf "%s %s", $2, $5} /^Server Temp Key/ {printf " %s", $4}'; }
echo "# TLS new-connection benchmark $(date -u '+%F %H:%M UTC')"
echo
echo "Commit $(git rev-parse --short HEAD); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo "openssl s_time -new (one process, core 1) for ${seconds}s per run, $rounds interleaved rounds, medians; servers on core 0."
echo "TLS: server $(tls_of "$server_port"); nginx $(tls_of "$nginx_port")"
echo
echo "| | connections/s | server CPU µs/connection | of which user space | RSS KiB/idle connection ($idle) |"
echo "|---|---:|---:|---:|---:|"
for name in "${names[@]}"; do
    echo "| $name | ${rate[$name]} | ${cpu[$name]} | ${user[$name]} | ${rss[$name]:-} |"
done
echo "| floor: OpenSSL alone (handshake_floor.c, memory BIOs, core 1) | | $floor | | |"
[[ "$handler" == 1 ]] && echo "| in-process: TLSHandler over EmbeddedChannel, server side only (core 1) | | $inprocess | | |"
echo
for name in "${names[@]}"; do echo "- $name: ${all[$name]}| RSS ${rss_detail[$name]:-n/a} KiB"; done
