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


def _read_until_eof(sock, limit_s):
    """Reads until the peer closes (returns True) or `limit_s` passes (False)."""
    sock.settimeout(limit_s)
    try:
        while sock.recv(4096):
            pass
        return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True  # reset: closed as well


def test_sigterm_closes_waiting_connections_without_using_the_grace(server_bin):
    """README "Connections": a connection that has shaken hands but sent no request, and a
    keep-alive connection idle after one, are closed at once on SIGTERM (within 5 s; their
    header and idle deadlines are 60 s here); the process exits 0 long before
    `server.shutdown_grace` (30 s) would force it."""
    s = start_server(server_bin, "--set", "server.shutdown_grace=30s",
                     "--set", "limits.header_timeout=60s", "--set", "limits.idle_timeout=60s")
    waiting = tls_context().wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10), server_hostname="127.0.0.1")
    idle = tls_context().wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10), server_hostname="127.0.0.1")
    idle.sendall(f"GET /api/mcp/v1/tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += idle.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    s.proc.send_signal(signal.SIGTERM)
    assert _read_until_eof(waiting, 5), "the connection with no request was not closed"
    assert _read_until_eof(idle, 5), "the idle keep-alive connection was not closed"
    assert s.proc.wait(timeout=20) == 0
    waiting.close()
    idle.close()


def test_sigterm_stops_reading_a_pipelining_client(server_bin):
    """A client that keeps pipelining, faster than it is answered. Reading went on through
    graceful shutdown: the connection closed at a moment its buffer held only part of a
    request, after an answer that did not say so, with requests unread (a reset can destroy
    the answers still on their way); with a whole request always waiting, it would have been
    served to the end of `server.shutdown_grace`. Now reading stops at the signal: the
    requests already read are answered, the last says `Connection: close` (RFC 9112 §9.6),
    what the client still sends is dropped while the connection lingers, and the process
    exits 0 long before the grace (30 s here). Plain TCP, so that one thread can send while
    another reads."""
    s = start_server(server_bin, "--set", "tls.enabled=false", "--set", "server.shutdown_grace=30s")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        request = f"GET /api/mcp/v1/tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        stop = threading.Event()

        def send():
            for _ in range(20000):  # bounded: 160,000 requests at most; faster than the server answers
                if stop.is_set():
                    return
                try:
                    sock.sendall(request * 8)
                except OSError:
                    return  # closed by the server (or by us at the end)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        received, signalled, closed = b"", None, False
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except (socket.timeout, TimeoutError):
                    continue
                except OSError:
                    closed = True  # a reset ends it too; the answers are checked below
                    break
                if not chunk:
                    closed = True
                    break
                received += chunk
                if signalled is None and received.count(b"HTTP/1.1 ") >= 50:
                    s.proc.send_signal(signal.SIGTERM)
                    signalled = time.monotonic()
        finally:
            stop.set()
        assert signalled is not None, "fewer than 50 answers in 20 s"
        assert closed, f"still served {time.monotonic() - signalled:.1f} s after SIGTERM"
        heads = [part.split(b"\r\n\r\n", 1)[0].lower() for part in received.split(b"HTTP/1.1 ")[1:]]
        assert all(h.startswith((b"200", b"429")) for h in heads), "an answer was cut"
        assert b"connection: close" in heads[-1]
        assert not any(b"connection: close" in h for h in heads[:-1])
        assert s.proc.wait(timeout=15) == 0
        assert time.monotonic() - signalled < 15
        sender.join(timeout=5)
    finally:
        sock.close()
        if s.proc.poll() is None:
            s.stop()


def test_half_close_before_any_request_is_closed_at_once(server_bin):
    """A client that sends its FIN before any request byte gets the connection closed at once
    (not at the 10 s header deadline). Plain TCP on loopback, so the half-close is a real FIN."""
    s = start_server(server_bin, "--set", "tls.enabled=false", "--set", "limits.header_timeout=30s")
    try:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.shutdown(socket.SHUT_WR)
        assert _read_until_eof(sock, 10), "a half-closed connection with no request stayed open"
        sock.close()
        # /status names the scheme actually served (it said https with TLS off).
        with urllib.request.urlopen(f"{s.ops}/status", timeout=10) as r:
            assert json.loads(r.read())["mode"] == "http"
        # The server still serves.
        with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/api/mcp/v1/tools", timeout=10) as r:
            pytest.fail(f"unauthenticated request answered {r.status}")
    except urllib.error.HTTPError as e:
        assert e.code == 401
    finally:
        s.stop()


def _post(port, body, headers):
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=tls_context())
    conn.request("POST", "/mcp", body=json.dumps(body), headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream", **headers})
    r = conn.getresponse()
    return r, r.read(), conn


@pytest.mark.parametrize("mode", ["json", "sse"])
def test_calls_in_flight_finish_within_the_grace(server_bin, mode):
    """Issue 4 §8: on SIGTERM, requests in flight finish within server.shutdown_grace, in a
    session and statelessly, answered as JSON or on their own SSE stream; only then are the
    sessions closed. A 2 s backend call started before the signal gets its result."""
    import fake_backends as fb
    grafana = fb.start_fake_grafana_backend()
    grafana.delay = 2.0
    s = start_server(server_bin, "--set", "server.shutdown_grace=10s", "--set", f"grafana.url={grafana.url}",
                     "--set", f"grafana.token={fb.GRAFANA_TOKEN}", "--set", f"server.response_mode={mode}")
    try:
        r, body, conn = _post(s.port, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                       "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}, {})
        sid = r.getheader("Mcp-Session-Id")
        conn.close()
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "grafana_get_health", "arguments": {}}}
        results = {}

        def session_call():
            r, body, c = _post(s.port, call, {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
            results["session"] = (r.status, body)
            c.close()

        def stateless_call():
            meta = dict(call, params=dict(call["params"], _meta={"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                                                      "io.modelcontextprotocol/clientCapabilities": {}}))
            r, body, c = _post(s.port, meta, {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "grafana_get_health"})
            results["stateless"] = (r.status, body)
            c.close()

        threads = [threading.Thread(target=f) for f in (session_call, stateless_call)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=15)
        for kind in ("session", "stateless"):
            status, body = results[kind]
            assert status == 200 and b'"result"' in body and b'"isError":true' not in body, (kind, body[:300])
        assert s.proc.wait(timeout=15) == 0
    finally:
        s.stop()
        grafana.server.shutdown()


def _hold_a_call(port, results):
    """Starts a Go API `tools/call` to the (delayed) fake Grafana in a thread; its outcome
    lands in `results["call"]` (the status and body, or the exception)."""
    import http.client

    def call():
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=tls_context())
        try:
            conn.request("POST", "/api/mcp/v1/call", headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                         body=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                          "params": {"name": "grafana_get_health", "arguments": {}}}))
            r = conn.getresponse()
            results["call"] = (r.status, r.read())
        except Exception as e:  # noqa: BLE001 - the connection closed under it is an outcome too
            results["call"] = e
        finally:
            conn.close()

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def _wait_for(predicate, limit_s):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _log(s):
    with open(s.proc.log_path) as f:
        return f.read()


def _server_holding_a_call(server_bin, grace):
    """A server with `server.shutdown_grace` = `grace` and a call in flight that its backend
    (a fake Grafana answering after 60 s) holds longer than any grace here: (server, backend,
    the calling thread)."""
    import fake_backends as fb
    grafana = fb.start_fake_grafana_backend()
    grafana.delay = 60.0
    s = start_server(server_bin, "--set", f"server.shutdown_grace={grace}", "--set", f"grafana.url={grafana.url}",
                     "--set", f"grafana.token={fb.GRAFANA_TOKEN}")
    thread = _hold_a_call(s.port, {})
    if not _wait_for(lambda: grafana.last() is not None, 10):
        s.stop()
        grafana.server.shutdown()
        raise AssertionError("the call did not reach the backend")
    return s, grafana, thread


def test_every_public_port_stops_accepting_at_once(server_bin):
    """README "Graceful shutdown": at SIGTERM the public listeners stop accepting together.
    ServiceLifecycle stops services one at a time, each once the one after it has returned:
    while a call held the extra port's drain, the main port still accepted connections."""
    import fake_backends as fb
    from conftest import free_port
    grafana = fb.start_fake_grafana_backend()
    grafana.delay = 60.0
    extra = free_port()
    s = start_server(server_bin, "--set", "server.shutdown_grace=30s", "--set", f"grafana.url={grafana.url}",
                     "--set", f"grafana.token={fb.GRAFANA_TOKEN}", "--set", "server.api_enabled=true", "--set", f"server.api_port={extra}")
    try:
        thread = _hold_a_call(extra, {})
        assert _wait_for(lambda: grafana.last() is not None, 10), "the call did not reach the backend"
        socket.create_connection(("127.0.0.1", s.port), timeout=5).close()  # accepting before
        s.proc.send_signal(signal.SIGTERM)

        def refused(port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return False
            except OSError:
                return True
        assert _wait_for(lambda: refused(s.port) and refused(extra), 5), "a public port still accepts during the drain"
        assert s.proc.poll() is None, "the drain should wait for the call in flight"
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(timeout=10)
        thread.join(timeout=10)
    finally:
        s.stop()
        grafana.server.shutdown()


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_cuts_the_drain_short(server_bin, second):
    """Issue 4 §8 (README "Graceful shutdown"): a call that would hold the drain for the whole
    grace (30 s here) keeps the process running after the first SIGTERM; a second SIGTERM or
    SIGINT cancels what is left at once, and the process exits within a few seconds with
    128 + that signal's number (143, 130), one notice per step. ServiceLifecycle alone
    ignored the second signal: the process ran on until the grace was over, then exited 0."""
    s, grafana, thread = _server_holding_a_call(server_bin, "30s")
    try:
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert s.proc.poll() is None, "the drain should wait for the call in flight"
        s.proc.send_signal(second)
        started = time.monotonic()
        status = s.proc.wait(timeout=10)
        assert time.monotonic() - started < 7, "the second signal did not cut the drain short"
        assert status == 128 + second
        thread.join(timeout=10)
        log = _log(s)
        assert "SIGTERM: shutting down gracefully; a second SIGTERM or SIGINT stops at once" in log
        assert f"{signal.Signals(second).name} again: cancelling what is still running" in log
        assert log.count("cancelling what is still running") == 1
    finally:
        s.stop()
        grafana.server.shutdown()


def test_without_a_second_signal_the_grace_ends_the_drain_with_status_zero(server_bin):
    """The grace still ends a drain that a call would hold longer: what is left is cancelled
    when `server.shutdown_grace` (2 s) is over, and the process exits 0, as before."""
    s, grafana, thread = _server_holding_a_call(server_bin, "2s")
    try:
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=10) == 0
        assert 1.9 < time.monotonic() - started < 7
        thread.join(timeout=10)
        assert "shutdown grace over: cancelling what is still running" in _log(s)
    finally:
        s.stop()
        grafana.server.shutdown()
        grafana.server.shutdown()


class _LegacySSE:
    """A legacy HTTP+SSE (2024-11-05) client over http.client: the GET stream, read event by
    event, and POSTs to the endpoint it announces."""

    def __init__(self, port, path):
        import http.client
        self.port = port
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=tls_context())
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        event, self.endpoint = self.next_event()
        while event != "endpoint":
            event, self.endpoint = self.next_event()

    def next_event(self):
        """(event, data) of the next event; (None, None) once the stream has ended."""
        event, data = None, []
        while True:
            line = self.response.readline()
            if not line:
                return None, None
            line = line.decode().rstrip("\r\n")
            if not line:
                if data and event != "ping":  # the Go flavour's keep-alive
                    return event or "message", "\n".join(data)
                event, data = None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())

    def post(self, message):
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=20, context=tls_context())
        conn.request("POST", self.endpoint, body=json.dumps(message),
                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status

    def answer(self, request_id):
        while True:
            event, data = self.next_event()
            assert event is not None, f"the stream ended before the answer to {request_id}"
            if event == "message" and json.loads(data).get("id") == request_id:
                return json.loads(data)


@pytest.mark.parametrize("path", ["/sse", "/api/mcp/v1/sse"])
def test_legacy_sse_calls_in_flight_are_answered_before_the_stream_ends(server_bin, path):
    """Issue 4 §8 for the legacy HTTP+SSE transport (2024-11-05 basic/transports.mdx "HTTP
    with SSE": answers are `message` events on the GET stream): a call in flight at SIGTERM
    gets its answer on the stream, then the `shutdown` event, then the stream ends, and the
    process exits 0. A stream owing nothing ends at once, as before. The drain used to end
    every legacy stream at once, so the 5 s call's answer was lost."""
    import fake_backends as fb
    grafana = fb.start_fake_grafana_backend()
    s = start_server(server_bin, "--set", "server.shutdown_grace=10s", "--set", f"grafana.url={grafana.url}",
                     "--set", f"grafana.token={fb.GRAFANA_TOKEN}")
    try:
        busy, idle = _LegacySSE(s.port, path), _LegacySSE(s.port, path)
        for client in (busy, idle):
            assert client.post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                "params": {"protocolVersion": "2024-11-05", "capabilities": {},
                                           "clientInfo": {"name": "t", "version": "1"}}}) == 202
            assert "result" in client.answer(1)
            assert client.post({"jsonrpc": "2.0", "method": "notifications/initialized"}) == 202
        grafana.delay = 5.0  # the idle stream's end is told apart from the busy call's by a wide margin
        assert busy.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": "grafana_get_health", "arguments": {}}}) == 202
        assert _wait_for(lambda: grafana.last() is not None, 10), "the call did not reach the backend"
        s.proc.send_signal(signal.SIGTERM)

        # The idle stream ends at once with the final event.
        started = time.monotonic()
        assert idle.next_event()[0] == "shutdown"
        assert time.monotonic() - started < 4, "the idle stream was held for the busy one's call"
        # The busy one first delivers the answer, then the final event, then ends.
        answer = busy.answer(2)
        assert "result" in answer and not answer["result"].get("isError"), answer
        assert busy.next_event()[0] == "shutdown"
        assert busy.next_event() == (None, None)
        assert s.proc.wait(timeout=15) == 0
    finally:
        s.stop()
        grafana.server.shutdown()
