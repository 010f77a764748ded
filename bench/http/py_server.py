#!/usr/bin/env python3
"""The Python SDK's side of bench.sh: mcp 2.x `MCPServer` with one tool equivalent to our
`server_status`, Streamable HTTP (stateless, JSON answers) at /mcp and legacy SSE at /sse,
served by uvicorn with TLS on one worker. No bearer auth (the SDK has no static-token
option): that makes its per-request work slightly smaller than ours.
SSE_PING (seconds, optional) sets sse_starlette's keep-alive ping interval (default 15 s).
Usage: py_server.py PORT CERT KEY"""
import os
import sys
import time

import uvicorn
from mcp.server.mcpserver import MCPServer
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette

port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
started = time.time()
if os.environ.get("SSE_PING"):
    EventSourceResponse.DEFAULT_PING_INTERVAL = float(os.environ["SSE_PING"])
server = MCPServer("bench-python", version="0.1.0", log_level="WARNING")


@server.tool(name="server_status", description="Report this MCP server's name, version, uptime, supported protocol versions and registered tool count. Takes no arguments.")
def server_status() -> dict:
    return {"name": "bench-python", "version": "0.1.0", "uptime_seconds": round(time.time() - started, 3),
            "protocol_versions": ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"], "tools": 1}


http_app = server.streamable_http_app(stateless_http=True, json_response=True)
sse_app = server.sse_app()
app = Starlette(routes=list(http_app.routes) + list(sse_app.routes), lifespan=http_app.router.lifespan_context)
uvicorn.run(app, host="127.0.0.1", port=port, ssl_certfile=cert, ssl_keyfile=key,
            log_level="warning", access_log=False, timeout_keep_alive=300)
