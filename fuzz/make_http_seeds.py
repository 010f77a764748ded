#!/usr/bin/env python3
"""Writes the http_pipeline seed corpus (fuzz/corpus/http_pipeline/): raw HTTP/1.1 requests,
valid ones with the harness's token and the framing attacks of tests/python/test_http_raw.py
and the issue 7 catalogue. Each file is 2 option bytes (see the harness header) + the bytes
the client sends."""
import json
import os

TOKEN = "fuzz-token-5f2a9c0d"  # the harness's token (fuzz/targets/http_pipeline)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "http_pipeline")
ACCEPT = "application/json, text/event-stream"


def post(path, body, extra="", version=None, token=TOKEN):
    data = body.encode() if isinstance(body, str) else body
    head = f"POST {path} HTTP/1.1\r\nHost: localhost:8443\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    head += f"Accept: {ACCEPT}\r\nContent-Type: application/json\r\n"
    if version:
        head += f"MCP-Protocol-Version: {version}\r\n"
        # 2026-07-28 "Server Validation": Mcp-Method (and Mcp-Name for tools/call) must
        # repeat the body's values.
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if isinstance(message, dict) and isinstance(message.get("method"), str):
            head += f"Mcp-Method: {message['method']}\r\n"
            name = (message.get("params") or {}).get("name")
            if isinstance(name, str):
                head += f"Mcp-Name: {name}\r\n"
    head += extra + f"Content-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def get(path, extra="", token=TOKEN):
    head = f"GET {path} HTTP/1.1\r\nHost: localhost:8443\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    return (head + extra + "\r\n").encode()


def rpc(method, id=1, params=None):
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message, separators=(",", ":"))


initialize = rpc("initialize", 0, {"protocolVersion": "2025-11-25", "capabilities": {},
                                   "clientInfo": {"name": "fuzz", "version": "1"}})
call_echo = rpc("tools/call", 2, {"name": "echo", "arguments": {"message": "hi"}})
auth = f"Authorization: Bearer {TOKEN}\r\nAccept: {ACCEPT}\r\nContent-Type: application/json\r\n"

seeds = {
    # Valid requests on every route.
    "initialize": (0x01, post("/mcp", initialize)),
    "initialize-sse-mode-split": (0x22, post("/mcp", initialize)),
    "stateless-tools-call": (0x01, post("/mcp", call_echo, version="2026-07-28")),
    "stateless-discover": (0x01, post("/mcp", rpc("server/discover"), version="2026-07-28")),
    "stateless-tools-list-split3": (0x43, post("/mcp", rpc("tools/list"), version="2026-07-28")),
    "batch": (0x01, post("/mcp", "[" + initialize + "," + rpc("ping", 7) + "]")),
    "notification": (0x01, post("/mcp", '{"jsonrpc":"2.0","method":"notifications/initialized"}')),
    "go-api-call": (0x01, post("/api/mcp/v1/call", rpc("tools/list"))),
    "go-api-tools": (0x01, get("/api/mcp/v1/tools")),
    "go-sse-rpc": (0x01, post("/api/mcp/v1/sse/rpc", call_echo)),
    "legacy-sse-open": (0x01, get("/sse", "Accept: text/event-stream\r\n")),
    "go-sse-open": (0x01, get("/api/mcp/v1/sse", "Accept: text/event-stream\r\n")),
    "legacy-message-unknown-session": (0x01, post("/messages?sessionId=abc", call_echo)),
    "get-stream": (0x01, get("/mcp", "Accept: text/event-stream\r\nMcp-Session-Id: 0123\r\n")),
    "delete-session": (0x01, f"DELETE /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nMcp-Session-Id: 0123\r\n\r\n".encode()),
    "keepalive-two": (0x01, post("/mcp", rpc("ping"), version="2026-07-28") + get("/api/mcp/v1/tools")),
    "chunked-body": (0x01, (f"POST /mcp HTTP/1.1\r\nHost: x\r\n{auth}MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: ping\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n").encode()
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(rpc("ping")), rpc("ping").encode())),
    "idle-timeout": (0x11, post("/mcp", rpc("ping"), version="2026-07-28")),
    "abrupt-close": (0x05, post("/mcp", call_echo, version="2026-07-28")),
    "header-timeout-partial-head": (0x09, b"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthor"),
    "body-short": (0x01, post("/mcp", initialize)[:-10]),
    # Authentication abuse.
    "no-token": (0x01, post("/mcp", initialize, token=None)),
    "wrong-token": (0x01, post("/mcp", initialize, token="fuzz-token-5f2a9c0e")),
    "empty-bearer": (0x01, post("/mcp", initialize, token="")),
    "two-authorization": (0x01, post("/mcp", initialize, extra=f"Authorization: Bearer {TOKEN}\r\n")),
    "basic-auth": (0x01, get("/api/mcp/v1/tools", "Authorization: Basic Zm9vOmJhcg==\r\n", token=None)),
    "bad-origin": (0x01, post("/mcp", initialize, extra="Origin: https://evil.example\r\n")),
    # JSON-RPC abuse.
    "deep-nesting": (0x01, post("/mcp", "[" * 200 + "]" * 200, version="2026-07-28")),
    "bad-json": (0x01, post("/api/mcp/v1/call", "{oops")),
    "wrong-jsonrpc": (0x01, post("/mcp", '{"jsonrpc":"1.0","id":1,"method":"ping"}', version="2026-07-28")),
    "object-id": (0x01, post("/mcp", '{"jsonrpc":"2.0","id":{},"method":"ping"}', version="2026-07-28")),
    "invalid-utf8": (0x01, post("/mcp", b'{"jsonrpc":"2.0","id":1,"method":"p\xff\xfeng"}', version="2026-07-28")),
    "oversized-length": (0x01, (f"POST /mcp HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 99999999\r\n\r\n{{").encode()),
    # HTTP framing attacks (tests/python/test_http_raw.py, issue 7 §2).
    "cl-and-te": (0x01, b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "two-cl": (0x01, b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
    "te-gzip-chunked": (0x01, b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    "bad-chunk-size": (0x01, b"POST /mcp HTTP/1.1\r\nHost: x\r\n" + auth.encode() + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    "obs-fold": (0x01, b"GET /mcp HTTP/1.1\r\nHost: x\r\n X-Folded: obs-fold\r\n\r\n"),
    "bare-cr": (0x01, b"GET /mcp HTTP/1.1\rHost: x\r\n\r\n"),
    "nul-in-header": (0x01, b"GET /mcp HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    "two-hosts": (0x01, b"GET /mcp HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
    "no-host": (0x01, b"GET /mcp HTTP/1.1\r\n\r\n"),
    "absolute-form": (0x01, b"GET http://localhost:8443/mcp HTTP/1.1\r\nHost: localhost:8443\r\n\r\n"),
    "connect": (0x01, b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n"),
    "h2-preface": (0x01, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    "http10": (0x01, b"GET /api/mcp/v1/tools HTTP/1.0\r\n\r\n"),
    "many-headers": (0x01, b"GET /mcp HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(60)) + b"\r\n"),
    "long-header": (0x01, b"GET /mcp HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 3000 + b"\r\n\r\n"),
    "upgrade-websocket": (0x01, b"GET /mcp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
}

os.makedirs(OUT, exist_ok=True)
for name, (mode, data) in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([mode, 0x80]) + data)
print(f"{len(seeds)} seeds in {OUT}")
