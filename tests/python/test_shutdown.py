"""Graceful shutdown on SIGTERM (issue 4 §8): open SSE streams end with a final
`shutdown` event and the process exits 0."""
import json
import signal
import socket
import threading
import time
import urllib.request
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("runs once, in the mcp 2.x environment", allow_module_level=True)

from conftest import TOKEN, start_server, tls_context  # noqa: E402


def test_sigterm_drains_and_exits_zero(server_bin):
    s = start_server(server_bin, "--set", "server.shutdown_grace=5s")
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    stream = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
    stream.sendall(f"GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n".encode())
    received = b""
    while b"event: endpoint" not in received:
        received += stream.recv(4096)
    s.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b"event: shutdown" not in received:
        chunk = stream.recv(4096)
        if not chunk:
            break
        received += chunk
    assert b"event: shutdown" in received
    assert s.proc.wait(timeout=15) == 0
    stream.close()
