#!/usr/bin/env bash
# Memory a held tool call keeps: [BIN=server] [SHAPE=string|zeros|keys|objects] bench/http/held_calls.sh [CALLS] [PAD_MIB]
# Starts the shipped build with Grafana pointed at a local port that accepts and never
# answers, sends CALLS (32: max_inflight_per_token) `tools/call grafana_list_dashboards` on
# POST /mcp, each on its own TLS connection with PAD_MIB (4) of junk in `params._meta`, waits
# until they are all in flight, and prints the server's RSS before and with them, and per call,
# beside what limits.max_inflight_request_bytes charges each (mcp_inflight_request_bytes).
# SHAPE: the junk as one string of PAD_MIB (string), or as many small values as
# server.max_json_values lets through: an array of 99,000 zeros (zeros), an object of 49,000
# keys (keys), an array of 49,000 objects of one key (objects), whose parsed forms hold far
# more than their JSON.
# What it shows: a call's request stays in memory for as long as the call runs. Loopback
# only; every wait bounded.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$root"
calls="${1:-32}"; pad="${2:-4}"
source bench/lib.sh
bin="${BIN:-$bin}"  # another build than the shipped one (a debug build, an older release)
bench_setup
[[ -x "$bin" ]] || scripts/release-build > /dev/null
hang="$(free_port)"
timeout 120 "$py" -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $hang)); s.listen(1024); held = []
end = time.time() + 110
while time.time() < end: held.append(s.accept()[0])
" & pids+=($!)
start_ours A --set grafana.url="http://127.0.0.1:$hang" --set grafana.token=t --set limits.max_inflight_per_token="$calls"
before="$(rss_kib "$A_pid")"
shape="${SHAPE:-string}"
timeout 90 "$py" - "$A_port" "$ca" "$token" "$calls" "$pad" "$shape" <<'PY' &
import json, socket, ssl, sys, time
port, ca, token, n, pad, shape = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
junk = {"string": lambda: "x" * int(pad * 1024 * 1024 - 400), "zeros": lambda: [0] * 99_000,
        "keys": lambda: {str(i): 0 for i in range(49_000)}, "objects": lambda: [{"a": 0}] * 49_000}[shape]()
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
        "pad": junk}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "grafana_list_dashboards", "arguments": {}, "_meta": meta}}).encode()
head = ("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\n"
        f"Mcp-Name: grafana_list_dashboards\r\nContent-Length: {len(body)}\r\n\r\n").encode()
context = ssl.create_default_context(cafile=ca)
held = []
for _ in range(n):
    s = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60), server_hostname="localhost")
    s.sendall(head + body)
    held.append(s)
time.sleep(60)
PY
client=$!; pids+=("$client")
inflight=0
for _ in $(seq 300); do
    inflight="$(curl -fsS -m 5 "http://127.0.0.1:$A_ops/metrics" | awk '/^mcp_inflight_calls / {print int($2)}')"
    [[ "$inflight" == "$calls" ]] && break
    sleep 0.2
done
[[ "$inflight" == "$calls" ]] || { echo "only $inflight of $calls calls in flight" >&2; exit 1; }
sleep 1
with="$(rss_kib "$A_pid")"
charged="$(curl -fsS -m 5 "http://127.0.0.1:$A_ops/metrics" | awk '/^mcp_inflight_request_bytes / {print int($2)}')"
junk="$pad MiB string"; [[ "$shape" == string ]] || junk="$shape"
echo "RSS before: $before KiB; with $calls calls held, each with $junk in _meta: $with KiB; per call: $(( (with - before) / calls )) KiB;" \
     "charged per call (limits.max_inflight_request_bytes): $(( ${charged:-0} / calls / 1024 )) KiB"
