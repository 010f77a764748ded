# Shared shell functions and requests of bench/run.sh, bench/http/bench.sh, bench/ab.sh and bench/http/floor.sh: measuring a process (CPU ticks, RSS), starting the
# three servers (ours, nginx, the Python SDK server) with the same certificate and TLS
# settings, and the statistics the table needs. Sourced, not run. Expects $root, and then
# $work (a private temp dir with server.pem, server-key.pem, ca.pem), $py (a Python with mcp
# 2.x) and a `pids` array that the caller's EXIT trap kills: set by the caller, or by
# bench_setup (below).

hz="$(getconf CLK_TCK)"
token="bench-token-0123456789abcdef0123456789abcdef"
bin="$root/.build-release/release/axinova-mcp-server"  # scripts/release-build: the shipped build

# --- requests (the same bytes for every server, apart from the protocol headers) ---
list_body='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
call_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"server_status","arguments":{}}}'
# Ours speaks 2026-07-28, whose requests carry the per-request fields in _meta (basic/index.mdx).
meta='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
ours_list_body='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{'"$meta"'}}'
ours_call_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"server_status","arguments":{},'"$meta"'}}'
common="Content-Type: application/json|Accept: application/json, text/event-stream"
ours_list_h="$common|Authorization: Bearer $token|MCP-Protocol-Version: 2026-07-28|Mcp-Method: tools/list"
ours_call_h="$common|Authorization: Bearer $token|MCP-Protocol-Version: 2026-07-28|Mcp-Method: tools/call|Mcp-Name: server_status"
api_h="$common|Authorization: Bearer $token"
py_h="$common|MCP-Protocol-Version: 2025-11-25"

# The set-up of a script that needs nothing more: the Python venv (for free_port and the SSE
# clients), a private temp dir with a fresh CA and server certificate, and an EXIT trap that
# stops every server in `pids` and removes the dir. Sets py, work, ca, pids.
bench_setup() {
    scripts/setup-python > /dev/null
    py="$root/.venv/mcp2/bin/python"
    work="$(mktemp -d)"; pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; rm -rf "$work"' EXIT
    certs/make-dev-certs.sh "$work" > /dev/null 2>&1; ca="$work/ca.pem"
}

# The floor servers of bench/http/floor (its own package), built as the server ships
# (scripts/release-build's flags: static Swift runtime, full LTO) into its .build-release, so
# a floor is compared with the shipped server on equal terms; the first build takes minutes.
# Prints the binary's path.
floor_binary() {
    local flags=(-c release --static-swift-stdlib --experimental-lto-mode=full --package-path "$root/bench/http/floor"
                 --scratch-path "$root/bench/http/floor/.build-release")
    swift build "${flags[@]}" > /dev/null 2>&1
    echo "$(swift build "${flags[@]}" --show-bin-path 2> /dev/null)/floor"
}

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

wait_for() { # URL CURL-ARGS...: polls for up to 30 s
    local url="$1" i; shift
    for i in $(seq 300); do curl -fsS -m 5 -o /dev/null "$@" "$url" 2> /dev/null && return 0; sleep 0.1; done
    echo "not up: $url" >&2; return 1
}

# Stops one server started below and forgets its pid.
stop_pid() {
    local pid="$1" i
    kill "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    for i in "${!pids[@]}"; do [[ "${pids[$i]}" == "$pid" ]] && unset 'pids[i]'; done
    return 0
}

# --- ours: the release binary, every per-client limit lifted so that one loopback client
# can drive it (the limiter still decides on every request: request_rate is huge, not 0) ---
ours_limits=(
    --set limits.request_rate=1000000 --set limits.request_burst=1000000
    --set limits.max_inflight_per_token=4096 --set limits.idle_timeout=5m --set limits.header_timeout=5m
    --set limits.max_connections=30000 --set limits.max_connections_per_ip=30000
    --set limits.connection_rate_per_ip=0 --set limits.connection_rate_global=0 --set limits.max_handshakes=4096
    --set limits.max_sse_streams=30000 --set limits.max_sse_streams_per_token=30000
    --set limits.max_sessions=30000 --set limits.max_sessions_per_token=30000
)
ours_cmd() { # PORT OPS-PORT EXTRA-SET-ARGS...: prints nothing, sets the array OURS_CMD
    local port="$1" ops="$2" per_ip=() config="$root/config"; shift 2
    # A binary older than the config's keys refuses it: bench/ab.sh then takes the config
    # directory saved beside it (BIN.config, e.g. `git show REV:config/base.yaml`).
    [[ -d "$bin.config" ]] && config="$bin.config"
    # limits.max_handshakes_per_ip (16) would refuse part of a load generator's opening burst
    # from one address; a binary older than the key refuses to start with it (bench/ab.sh), so
    # only a binary that knows it gets it.
    "$bin" check-config --config-dir "$config" "${ours_limits[@]}" --set limits.max_handshakes_per_ip=4096 \
        > /dev/null 2>&1 && per_ip=(--set limits.max_handshakes_per_ip=4096)
    OURS_CMD=(env APP_SERVER__API_TOKEN="$token" taskset -c 0 "$bin" --config-dir "$config"
        --set server.port="$port" --set server.http_port="$ops"
        --set tls.cert_file="$work/server.pem" --set tls.key_file="$work/server-key.pem"
        --set log.level=warning --set server.sse_enabled=true "${ours_limits[@]}" "${per_ip[@]}" "$@")
}
start_ours() { # NAME EXTRA-SET-ARGS...: sets ${NAME}_pid ${NAME}_port ${NAME}_ops
    local name="$1" port ops pid; shift
    port="$(free_port)"; ops="$(free_port)"
    ours_cmd "$port" "$ops" "$@"
    "${OURS_CMD[@]}" > "$work/$name.log" 2>&1 &
    pid=$!; pids+=("$pid")
    wait_for "http://127.0.0.1:$ops/ready" || { cat "$work/$name.log" >&2; return 1; }
    printf -v "${name}_pid" %s "$pid"; printf -v "${name}_port" %s "$port"; printf -v "${name}_ops" %s "$ops"
}

# --- nginx: one worker on core 0, the same certificate, protocols, suites and groups as ours,
# no tickets and no session cache (ours has neither by default); answers POSTs with static files ---
nginx_conf() { # PORT DIR: writes DIR/nginx.conf, serving DIR/www
    local port="$1" dir="$2"
    mkdir -p "$dir/www"
    chmod 711 "$work" "$dir"   # nginx workers run unprivileged: traverse only
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile 20000;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16000; }
http {
    access_log off;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_header_timeout 300s;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server-key.pem;
        include $root/bench/nginx-tls.conf;
        root $dir/www;
        default_type application/json;
        # The static module refuses POST (405); answer it with the file instead.
        error_page 405 =200 \$uri;
    }
}
CONF
    echo ok > "$dir/www/ready"
    chmod -R a+rX "$dir/www"
}
nginx_cmd() { NGINX_CMD=(taskset -c 0 nginx -p "$1" -c "$1/nginx.conf"); } # DIR
start_nginx() { # sets nginx_pid (master) nginx_worker nginx_port; www files must be in $work/nginx/www
    nginx_port="$(free_port)"
    nginx_conf "$nginx_port" "$work/nginx"
    cp "$@" "$work/nginx/www/" 2> /dev/null || true
    chmod -R a+rX "$work/nginx/www"
    nginx_cmd "$work/nginx"
    "${NGINX_CMD[@]}" 2> "$work/nginx/stderr" &
    nginx_pid=$!; pids+=("$nginx_pid")
    wait_for "https://127.0.0.1:$nginx_port/ready" --cacert "$ca" || { cat "$work/nginx/stderr" "$work/nginx/error.log" >&2; return 1; }
    nginx_worker="$(pgrep -P "$nginx_pid" | head -1)"
}

# --- python: mcp 2.x MCPServer on uvicorn + TLS, one worker on core 0 ---
py_cmd() { PY_CMD=(env SSE_PING="${SSE_PING_PY:-}" taskset -c 0 "$py" "$root/bench/http/py_server.py" "$1" "$work/server.pem" "$work/server-key.pem"); } # PORT
start_py() { # NAME: sets ${NAME}_pid ${NAME}_port
    local name="$1" port pid i
    port="$(free_port)"
    py_cmd "$port"
    "${PY_CMD[@]}" > "$work/$name.log" 2>&1 &
    pid=$!; pids+=("$pid")
    # Any HTTP answer means it is up (GET /mcp would open a stream: probe another path).
    for i in $(seq 300); do curl -s -o /dev/null -m 2 --cacert "$ca" "https://127.0.0.1:$port/up" 2> /dev/null && break; sleep 0.1; done
    printf -v "${name}_pid" %s "$pid"; printf -v "${name}_port" %s "$port"
}

# --- statistics ---
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0; else printf "%.3f", v * 1000 }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
per() { awk -v a="$1" -v n="$2" 'BEGIN { if (n + 0 > 0) printf "%.1f", a / n; else print "n/a" }'; } # A / N, one decimal

curl_post() { # URL BODY HEADERS(name: value|name: value) -> response body
    local url="$1" body="$2" args=() h hs
    IFS='|' read -ra hs <<< "$3"
    for h in "${hs[@]}"; do args+=(-H "$h"); done
    curl -fsS -m 10 --cacert "$ca" -X POST "${args[@]}" --data-binary "$body" "$url"
}

# --- memory: RSS per open SSE stream (GET /sse, SSE_STREAMS held, client on core 1); sets
# sse[KEY] (KiB per stream, or "n/a (why)") and sse_detail[KEY] ---
declare -A sse sse_detail
sse_rss() { # KEY PID PORT [TOKEN]: RSS per open SSE stream (GET /sse, pings every 30 s / 15 s)
    local key="$1" pid="$2" port="$3" tok="${4:-}" rss0 rss1 ready=""
    echo | timeout 60 "$py" "$root/bench/http/sse_hold.py" "$port" /sse 16 "$ca" "$tok" > /dev/null 2>&1 || true  # warm-up
    sleep 1
    rss0="$(rss_kib "$pid")"
    coproc HOLD { timeout 150 taskset -c 1 "$py" "$root/bench/http/sse_hold.py" "$port" /sse "$sse_streams" "$ca" "$tok"; }
    read -r ready <&"${HOLD[0]}" || true
    sleep 3
    rss1="$(rss_kib "$pid")"
    echo >&"${HOLD[1]}" || true
    wait "$HOLD_PID" 2> /dev/null || true
    sse[$key]="$(per $((rss1 - rss0)) "$sse_streams")"
    [[ "$ready" == "ready $sse_streams" ]] || sse[$key]="n/a ($ready)"
    sse_detail[$key]="$rss0 -> $rss1 KiB"
    log "sse $key: $ready, RSS $rss0 -> $rss1 KiB = ${sse[$key]} KiB/stream"
}

# --- keep-alive load: wrk, one thread, CONNS connections, on core 1; appends this run's
# requests/s, p50, p99 (ms) and server CPU µs per request to the arrays rps p50 p99 cpu ---
run_wrk() { # KEY PID URL BODY HEADERS
    local key="$1" pid="$2" url="$3" out before after requests ticks r a b c
    BODY="$4" HEADERS="$5" taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$root/bench/http/post.lua" "$url" > /dev/null 2>&1 || true
    before="$(cpu_ticks "$pid")"
    out="$(BODY="$4" HEADERS="$5" timeout $((seconds + 20)) taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$root/bench/http/post.lua" "$url")"
    after="$(cpu_ticks "$pid")"
    requests="$(echo "$out" | awk '/requests in/ {print $1; exit}')"
    ticks=$((after - before))
    r="$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')"
    a="$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
    b="$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
    c="$(awk -v t="$ticks" -v hz="$hz" -v n="$requests" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')"
    rps[$key]+="$r "; p50[$key]+="$a "; p99[$key]+="$b "; cpu[$key]+="$c "
    note[$key]+="$(echo "$out" | awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}')"
    log "$(printf "%-14s %8s req/s  p50 %7s ms  p99 %7s ms  %7s us CPU/req  %s" "$key" "$r" "$a" "$b" "$c" "${note[$key]}")"
}
