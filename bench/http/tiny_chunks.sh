#!/usr/bin/env bash
# A body in 1-byte chunks, two builds side by side: bench/http/tiny_chunks.sh BIN_A BIN_B [ROUNDS]
# Server CPU per request for a `tools/list` POST /mcp whose 1 MiB body (the request padded
# with a long `_meta` string) is sent chunked, one byte per chunk (6 MiB on the wire), over
# TLS, answered in full (the run stops if one is not answered 200); the two servers take
# turns, ROUNDS requests each (3), medians printed. An authenticated client can send any body
# this way within `server.max_body` and `server.body_timeout`: this is what each such request
# costs the server. Loopback only; each request bounded by 120 s.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$root"
binA="$(realpath "$1")"; binB="$(realpath "$2")"; rounds="${3:-3}"
for b in "$binA" "$binB"; do [[ -x "$b" ]] || { echo "not an executable: $b" >&2; exit 1; }; done
source bench/lib.sh
bench_setup
bin="$binA"; start_ours A
bin="$binB"; start_ours B
declare -A cpu
send() { # PORT: one request, prints the status line
    "$py" - "$1" "$ca" "$token" <<'PY'
import signal, socket, ssl, sys
signal.alarm(120)  # the whole request, not each socket operation
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"pad":"'
head = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{' + meta
body = (head + "x" * (1024 * 1024 - len(head) - 4) + '"}}}').encode()
wire = b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body))) + b"0\r\n\r\n"
request = ("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
           "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
           f"Authorization: Bearer {token}\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\n"
           "Connection: close\r\n\r\n").encode() + wire
context = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=60) as raw, context.wrap_socket(raw, server_hostname="localhost") as s:
    s.sendall(request)
    answer = b""
    while chunk := s.recv(65536):
        answer += chunk
print(answer.split(b"\r\n", 1)[0].decode())
PY
}
for _ in $(seq "$rounds"); do
    for k in A B; do
        pv=${k}_pid; pp=${k}_port
        before="$(cpu_ticks "${!pv}")"
        status="$(send "${!pp}")" || status="no answer"
        after="$(cpu_ticks "${!pv}")"
        ms="$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.0f", t / hz * 1000 }')"
        [[ $status == "HTTP/1.1 200 OK" ]] || { echo "$k: not answered 200: $status" >&2; exit 1; }
        cpu[$k]+="$ms "; log "$k: $status, $ms ms of server CPU"
    done
done
for k in A B; do echo "$k: server CPU ms per 1 MiB body in 1-byte chunks: ${cpu[$k]} median $(echo "${cpu[$k]}" | median)"; done
