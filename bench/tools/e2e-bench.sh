#!/usr/bin/env bash
# Added latency of the whole server over a direct backend call (issue 6), side by side in
# one run: N sequential `tools/call prometheus_query {"query":"up"}` through our server
# (HTTPS keep-alive, the Go-compatible API POST /api/mcp/v1/call, bearer auth, rate limits
# on their defaults but raised so the bench is not throttled) against the same query sent
# straight to Prometheus (plain HTTP keep-alive, GET /api/v1/query?query=up). Requests are
# interleaved A/B so both see the same machine load. Prints p50/p90/p99 of each and the
# median of the per-pair difference (target: < 1 ms). A third series, JSON-RPC `ping` on the
# same connection, shows what the front of the server (TLS, HTTP, auth, JSON-RPC) costs alone.
#
#   bench/tools/e2e-bench.sh                 # N=2000, release build (built if missing)
#   N=5000 LOG_LEVEL=warning bench/tools/e2e-bench.sh
#   SERVER_BIN=/path/to/axinova-mcp-server bench/tools/e2e-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${N:-2000}
WARMUP=${WARMUP:-200}
LOG_LEVEL=${LOG_LEVEL:-info}
SERVER_BIN=${SERVER_BIN:-$ROOT/.build-release/release/axinova-mcp-server}
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
[ -x "$PROMETHEUS" ] || { echo "prometheus not installed (apt-get install -y prometheus)" >&2; exit 1; }
if [ ! -x "$SERVER_BIN" ]; then
    echo "building the release binary (scripts/release-build) ..." >&2
    "$ROOT/scripts/release-build" > /dev/null
fi

WORK=$(mktemp -d /tmp/mcp-e2e-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() { # url, what: bounded wait (30 s) for HTTP 200
    for _ in $(seq 300); do
        if python3 -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('$1', timeout=1).status == 200 else 1)" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$2 not ready within 30 s" >&2; exit 1
}

"$ROOT/certs/make-dev-certs.sh" "$WORK/certs" >/dev/null 2>&1
TOKEN=bench-token-0123456789abcdef0123456789abcdef
PROM_PORT=$(free_port); PORT=$(free_port); OPS_PORT=$(free_port)

cat > "$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$PROM_PORT']
EOF
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=error >/dev/null 2>&1 &
PIDS+=($!)

APP_SERVER__API_TOKEN=$TOKEN "$SERVER_BIN" --config-dir "$ROOT/config" \
    --set server.port="$PORT" --set server.http_port="$OPS_PORT" \
    --set tls.cert_file="$WORK/certs/server.pem" --set tls.key_file="$WORK/certs/server-key.pem" \
    --set log.level="$LOG_LEVEL" --set log.format=json \
    --set limits.request_rate=100000 --set limits.request_burst=100000 \
    --set prometheus.url="http://127.0.0.1:$PROM_PORT" >/dev/null 2>"$WORK/server.log" &
PIDS+=($!)

wait_ok "http://127.0.0.1:$PROM_PORT/-/ready" prometheus
wait_ok "http://127.0.0.1:$OPS_PORT/ready" server

echo "server: $SERVER_BIN (log.level=$LOG_LEVEL); prometheus $("$PROMETHEUS" --version 2>&1 | head -1 | awk '{print $3}'); N=$N, warm-up $WARMUP; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$PORT" "$PROM_PORT" "$TOKEN" "$WORK/certs/ca.pem" "$N" "$WARMUP" <<'EOF'
import http.client, json, ssl, statistics, sys, time

port, prom_port, token, ca, n, warmup = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
tls = ssl.create_default_context(cafile=ca)
ours = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls)
direct = http.client.HTTPConnection("127.0.0.1", prom_port, timeout=10)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}

def via_server(i):
    body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                       "params": {"name": "prometheus_query", "arguments": {"query": "up"}}})
    t = time.perf_counter_ns()
    ours.request("POST", "/api/mcp/v1/call", body=body, headers=headers)
    r = ours.getresponse()
    payload = r.read()
    elapsed = time.perf_counter_ns() - t
    assert r.status == 200, (r.status, payload[:300])
    result = json.loads(payload)["result"]
    assert not result.get("isError") and '"success"' in result["content"][0]["text"], payload[:300]
    return elapsed

def ping(i):
    # The same path without a tool or backend: what TLS + HTTP + auth + JSON-RPC cost alone.
    body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "ping"})
    t = time.perf_counter_ns()
    ours.request("POST", "/api/mcp/v1/call", body=body, headers=headers)
    r = ours.getresponse()
    payload = r.read()
    elapsed = time.perf_counter_ns() - t
    assert r.status == 200 and "result" in json.loads(payload), payload[:300]
    return elapsed

def straight(i):
    t = time.perf_counter_ns()
    direct.request("GET", "/api/v1/query?query=up")
    r = direct.getresponse()
    payload = r.read()
    elapsed = time.perf_counter_ns() - t
    assert r.status == 200 and b'"success"' in payload, payload[:300]
    return elapsed

for i in range(warmup):
    via_server(i); straight(i); ping(i)
a, b, c = [], [], []
for i in range(n):  # interleaved, alternating which goes first
    if i % 2:
        a.append(via_server(i)); b.append(straight(i)); c.append(ping(i))
    else:
        c.append(ping(i)); b.append(straight(i)); a.append(via_server(i))

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] / 1e6

print(f"{'':34} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
for name, xs in (("MCP tools/call via server (HTTPS)", a), ("direct Prometheus (HTTP)", b), ("JSON-RPC ping via server (HTTPS)", c)):
    print(f"{name:34} {pct(xs, 50):8.3f} {pct(xs, 90):8.3f} {pct(xs, 99):8.3f}")
diffs = [x - y for x, y in zip(a, b)]
added = statistics.median(diffs) / 1e6
print(f"added latency: median of per-pair differences {added:.3f} ms; p50(server) - p50(direct) {pct(a, 50) - pct(b, 50):.3f} ms; "
      f"target < 1 ms: {'met' if added < 1 else 'NOT met'}")
tool = statistics.median(x - y for x, y in zip(a, c)) / 1e6
print(f"of which the server's front (ping: TLS, HTTP, auth, JSON-RPC, client included) {pct(c, 50):.3f} ms p50; "
      f"tool call over ping, median per-pair {tool:.3f} ms (tool + outbound request + Prometheus)")
EOF
