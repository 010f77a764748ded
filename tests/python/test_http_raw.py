"""Raw HTTP checks of every status code and every Go-server API shape.

Clauses: 2025-11-25 basic/transports.mdx (Streamable HTTP: Accept, 202, sessions, 404,
Origin 403, protocol version 400, DELETE); 2026-07-28 basic/transports/streamable-http.mdx
(Mcp-Method/Mcp-Name -32020, 404 for an unknown method); 2024-11-05 basic/transports.mdx
(HTTP+SSE: endpoint event, 202, POST /sse 405); reference/seed-interface.md (Go APIs);
RFC 6750 §3 (401 challenge); RFC 6585 §5 (431); RFC 9110 §15.5.14 (413).
"""
import base64
import http.client
import json
import select
import socket
import ssl
import time
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("raw HTTP checks run once, in the mcp 2.x environment", allow_module_level=True)

from conftest import TOKEN, start_server, tls_context  # noqa: E402

ACCEPT = "application/json, text/event-stream"
# 2026-07-28 basic/index.mdx "Per-request protocol fields": every stateless request carries these.
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
DISCOVER = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": META}}
DISCOVER_H = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}


def request(server, method, path, body=None, headers=None, auth=True):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=tls_context())
    h = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if auth:
        h["Authorization"] = f"Bearer {TOKEN}"
    h.update(headers or {})
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    return r, payload


def rpc(payload):
    return json.loads(payload)


def initialize(server, version="2025-11-25"):
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                              "params": {"protocolVersion": version, "capabilities": {}}})
    assert r.status == 200
    return r.getheader("Mcp-Session-Id")


def test_auth_statuses(server):
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "ping"}, auth=False)
    assert r.status == 401 and r.getheader("WWW-Authenticate") == 'Bearer realm="mcp"'
    assert rpc(body)["error"] == {"code": -32000, "message": "Missing Authorization header"}
    r, body = request(server, "POST", "/mcp", {}, headers={"Authorization": "Basic abc"}, auth=False)
    assert r.status == 401 and rpc(body)["error"]["message"] == "Invalid Authorization header format"
    assert r.getheader("WWW-Authenticate") == 'Bearer realm="mcp", error="invalid_request"'  # RFC 6750 §3.1
    r, body = request(server, "POST", "/mcp", {}, headers={"Authorization": "Bearer nope"}, auth=False)
    assert r.status == 401 and 'error="invalid_token"' in r.getheader("WWW-Authenticate")
    assert rpc(body)["error"]["message"] == "Invalid API token"


def test_unknown_routes(server):
    # Every route is behind the token, an unknown one too: 401 without it, 404 with it
    # (RFC 9110 §15.5.5), also for a method a known path has no handler for.
    r, _ = request(server, "GET", "/nothing-here", auth=False)
    assert r.status == 401
    r, _ = request(server, "GET", "/nothing-here")
    assert r.status == 404
    # RFC 9110 §15.5.6: a routed path asked with another method is 405, with its methods.
    r, _ = request(server, "PUT", "/mcp", {})
    assert r.status == 405 and r.getheader("Allow") == "DELETE, GET, POST"
    for method, path, allow in (("GET", "/api/mcp/v1/sse/rpc", "POST"), ("DELETE", "/api/mcp/v1/call", "POST"),
                                ("GET", "/messages", "POST"), ("POST", "/sse", "GET")):
        r, _ = request(server, method, path)
        assert r.status == 405 and r.getheader("Allow") == allow, (method, path)
    # Empty path segments are ignored, as by Hummingbird's router before.
    r, body = request(server, "POST", "/mcp/", DISCOVER, headers=DISCOVER_H)
    assert r.status == 200 and "result" in rpc(body)


def test_head_answers_like_get_without_a_body(server):
    """RFC 9110 §9.1: a general-purpose server MUST support GET and HEAD; §9.3.2: HEAD gets the
    fields GET would, Content-Length included, and no content. Asked on one kept-alive
    connection, HEAD then GET: the GET's answer is read whole after the bodiless HEAD, so the
    HEAD answer's framing is right. The ops routes answer HEAD too; an event stream's GET has
    none (405, Allow naming GET)."""
    for port, scheme in ((server.port, "https"), (server.ops_port, "http")):
        conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls_context()) if scheme == "https"
                else http.client.HTTPConnection("127.0.0.1", port, timeout=10))
        path = "/api/mcp/v1/tools" if scheme == "https" else "/health"
        h = {"Authorization": f"Bearer {TOKEN}"}
        conn.request("HEAD", path, headers=h)
        head = conn.getresponse()
        assert head.read() == b"" and head.status == 200
        conn.request("GET", path, headers=h)
        get = conn.getresponse()
        body = get.read()
        assert get.status == 200 and len(body) == int(get.getheader("Content-Length")) > 0
        assert head.getheader("Content-Length") == get.getheader("Content-Length")
        assert head.getheader("Content-Type") == get.getheader("Content-Type")
        conn.request("PUT", path, headers=h)
        put = conn.getresponse()
        put.read()
        assert put.status == 405 and put.getheader("Allow") == "GET, HEAD", scheme
        conn.close()
    for path in ("/sse", "/mcp"):
        r, _ = request(server, "HEAD", path)
        assert r.status == 405 and "GET" in r.getheader("Allow") and "HEAD" not in r.getheader("Allow"), path


def test_allow_without_the_get_stream(server_bin):
    """With server.get_stream_enabled=false, GET /mcp is 405 naming what is left, and so is any
    other method's 405 (it listed GET before)."""
    s = start_server(server_bin, "--set", "server.get_stream_enabled=false")
    try:
        for method in ("GET", "PUT"):
            r, _ = request(s, method, "/mcp", headers={"Mcp-Session-Id": "x"})
            assert r.status == 405 and r.getheader("Allow") in ("DELETE, POST", "POST, DELETE"), (method, r.getheader("Allow"))
    finally:
        s.stop()


def test_streamable_statuses(server):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}
    r, _ = request(server, "POST", "/mcp", init, headers={"Accept": "application/json"})
    assert r.status == 406
    r, _ = request(server, "POST", "/mcp", init, headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r, body = request(server, "POST", "/mcp", b'{"jsonrpc":')
    assert r.status == 400 and rpc(body)["error"]["code"] == -32700 and rpc(body)["id"] is None
    # basic/index.mdx: an error response carries its request's id when it could be read.
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert r.status == 400 and rpc(body)["id"] == 2  # no session id
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": "s", "method": "tools/list"}, headers={"Mcp-Session-Id": "unknown"})
    assert r.status == 404 and rpc(body)["id"] == "s"
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers={"MCP-Protocol-Version": "1999-01-01"})
    assert r.status == 400 and rpc(body)["error"]["code"] == -32022 and rpc(body)["id"] == 3
    r, _ = request(server, "POST", "/mcp", init, headers={"Origin": "https://evil.example"})
    assert r.status == 403

    sid = initialize(server)
    assert sid and all(0x21 <= ord(c) <= 0x7E for c in sid) and len(sid) >= 32
    h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
    assert r.status == 202 and body == b""
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers=h)
    assert r.status == 200 and "tools" in rpc(body)["result"]
    r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 4, "method": "nope"}, headers=h)
    assert r.status == 200 and rpc(body)["error"]["code"] == -32601
    r, _ = request(server, "DELETE", "/mcp", headers=h)
    assert r.status == 204
    r, _ = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, headers=h)
    assert r.status == 404
    r, _ = request(server, "DELETE", "/mcp", headers=h)
    assert r.status == 404


def test_body_cap(server_bin):
    s = start_server(server_bin, "--set", "server.max_body=1KiB")
    try:
        big = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 4000}}
        r, body = request(s, "POST", "/mcp", big)
        assert r.status == 413
        # A chunked body is capped while streaming, too.
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        conn.putrequest("POST", "/mcp")
        for k, v in {"Accept": ACCEPT, "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}",
                     "Transfer-Encoding": "chunked"}.items():
            conn.putheader(k, v)
        conn.endheaders()
        chunk = json.dumps(big).encode()
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
        assert conn.getresponse().status == 413
    finally:
        s.stop()


def test_413_reaches_a_client_still_sending(server_bin):
    # RFC 9110 §15.5.14: a 413 answered from Content-Length, while the client goes on sending
    # its 8 MiB body. The server closes after the answer; closing with the body unread would
    # reset the connection and could destroy the 413 before the client read it, so it ends its
    # side and reads and drops the rest (lingering close), as for the codec's refusals.
    s = start_server(server_bin, "--set", "server.max_body=1KiB")
    try:
        total = 8 << 20
        head = (f"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: {ACCEPT}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n").encode()
        for _ in range(3):
            with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10), server_hostname="127.0.0.1") as c:
                c.sendall(head)
                c.setblocking(False)
                pad, sent, got = b"x" * 65536, 0, b""
                deadline = time.monotonic() + 20
                while len(got) < 12 and time.monotonic() < deadline:
                    readable, writable, _ = select.select([c], [c] if sent < total else [], [], 1)
                    if readable:
                        try:
                            data = c.recv(4096)
                        except ssl.SSLWantReadError:
                            data = None
                        if data == b"":
                            break
                        got += data or b""
                    if writable:
                        try:
                            sent += c.send(pad[: total - sent])
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                            pass
                assert got.startswith(b"HTTP/1.1 413"), got
    finally:
        s.stop()


def test_expect_100_continue(server):
    # RFC 9110 §10.1.1: a request that expects 100 (Continue) gets it before sending its body
    # once it passed the checks; one refused before that gets only the final status, and the
    # connection closes after it (the client may or may not send the body). HTTP/1.0 ignores it.
    body = json.dumps(DISCOVER).encode()
    ping_h = DISCOVER_H
    def head(token, version="1.1"):
        fields = {"Host": "x", "Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json",
                  "Expect": "100-continue", "Content-Length": str(len(body)), **ping_h}
        return (f"POST /mcp HTTP/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()
    with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
        s.sendall(head(TOKEN))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" not in answer
        s.sendall(head(TOKEN))  # the connection is kept: a second one works the same way
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
        s.sendall(head("wrong-token"))
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401") and b"\r\nConnection: close\r\n" in answer
    with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
        s.sendall(head(TOKEN, "1.0") + body)
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer


def test_batches_follow_the_revision(server):
    # JSON-RPC 2.0 §6: a batch is answered with an array, even of one. 2025-03-26 allows
    # batches; 2025-06-18 and 2025-11-25 removed them ("The body of the POST request MUST be a
    # single JSON-RPC request, notification, or response"): 400 / -32600.
    for version in ("2025-03-26", "2025-06-18", "2025-11-25"):
        sid = initialize(server, version)
        h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": version}
        r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
        assert r.status == 202
        r, body = request(server, "POST", "/mcp", [{"jsonrpc": "2.0", "id": 5, "method": "ping"}], headers=h)
        if version == "2025-03-26":
            assert r.status == 200 and rpc(body) == [{"jsonrpc": "2.0", "id": 5, "result": {}}]
            r, body = request(server, "POST", "/mcp", [{"jsonrpc": "2.0", "id": 6, "method": "ping"}, {"jsonrpc": "1.0", "id": 7}], headers=h)
            answers = rpc(body)
            assert r.status == 200 and isinstance(answers, list) and len(answers) == 2
            assert {a["id"] for a in answers} == {6, 7} and [a for a in answers if a["id"] == 7][0]["error"]["code"] == -32600
            r, body = request(server, "POST", "/mcp", [{"jsonrpc": "1.0", "id": 8}], headers=h)
            assert r.status == 400 and rpc(body)[0]["error"]["code"] == -32600
        else:
            assert r.status == 400 and rpc(body)["error"]["code"] == -32600, version
        r, body = request(server, "POST", "/mcp", {"jsonrpc": "2.0", "id": 9, "method": "ping"}, headers=h)
        assert r.status == 200 and rpc(body)["id"] == 9  # a single message is answered with an object


def test_a_2025_03_26_batch_answer_past_its_cap_refuses_the_rest(server_bin):
    # JSON-RPC 2.0 §6: a batch's answers go out as one array, so they are held until the last
    # is ready; together they are capped (server.max_batch_answer_bytes, 64 KiB here: about 50
    # tools/list answers without backends). Past it each request left gets -32000, not run.
    s = start_server(server_bin, "--set", "server.max_batch_answer_bytes=64KiB")
    try:
        sid = initialize(s, "2025-03-26")
        h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-03-26"}
        r, body = request(s, "POST", "/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
        assert r.status == 202
        r, body = request(s, "POST", "/mcp", [{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(64)], headers=h)
        answers = rpc(body)
        assert r.status == 200 and sorted(a["id"] for a in answers) == list(range(64))
        answers.sort(key=lambda a: a["id"])
        answered = [a for a in answers if "result" in a]
        refused = answers[len(answered):]
        assert 40 <= len(answered) < 64 and all(a["error"]["code"] == -32000 and "it was not run" in a["error"]["message"] for a in refused)
    finally:
        s.stop()


def test_protocol_version_header_follows_the_pinned_version(server_bin):
    # 2025-06-18 and 2025-11-25 basic/transports.mdx "Protocol Version Header": "If the server
    # receives a request with an invalid or unsupported MCP-Protocol-Version, it MUST respond
    # with 400 Bad Request." Pinned by server.protocol_version to 2025-06-18, the server never
    # negotiates 2025-11-25, so a header naming it is unsupported; the stateless 2026-07-28
    # revision is not negotiated by initialize and stays.
    s = start_server(server_bin, "--set", "server.protocol_version=2025-06-18")
    try:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}
        r, body = request(s, "POST", "/mcp", init)
        assert r.status == 200 and rpc(body)["result"]["protocolVersion"] == "2025-06-18"
        sid = r.getheader("Mcp-Session-Id")
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        r, body = request(s, "POST", "/mcp", ping, headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
        error = rpc(body)["error"]
        assert r.status == 400 and error["code"] == -32022, body
        assert error["message"].startswith("Unsupported MCP-Protocol-Version: 2025-11-25; this server supports 2026-07-28, 2025-06-18")
        assert error["data"]["supported"] == ["2026-07-28", "2025-06-18", "2025-03-26", "2024-11-05"]
        for method in ("GET", "DELETE"):
            r, _ = request(s, method, "/mcp", headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
            assert r.status == 400, method
        r, body = request(s, "POST", "/mcp", ping, headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
        assert r.status == 200 and rpc(body)["id"] == 2
        r, body = request(s, "POST", "/mcp", DISCOVER, headers=DISCOVER_H)
        assert r.status == 200 and "result" in rpc(body)
    finally:
        s.stop()


def test_initialize_in_a_batch_is_refused(server):
    # 2025-03-26 lifecycle.mdx: "The initialization request MUST NOT be part of a JSON-RPC
    # batch", even a batch of one; no session is made.
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-03-26", "capabilities": {}}}
    r, body = request(server, "POST", "/mcp", [init])
    assert r.status == 400 and rpc(body)["error"]["code"] == -32600 and r.getheader("Mcp-Session-Id") is None


def test_header_caps(server):
    r, _ = request(server, "GET", "/mcp", headers={"X-Big": "a" * 40000})
    assert r.status == 431
    # RFC 9110 §6.6.1: Date on every 4xx, the refusals written below the routes too.
    assert r.getheader("Date", "").endswith(" GMT"), r.getheaders()
    many = {f"X-H{i}": "v" for i in range(200)}
    r, _ = request(server, "GET", "/mcp", headers=many)
    assert r.status == 431


def test_refusal_reaches_a_client_still_sending(server):
    # A client refused while it is still sending (a 256 KiB head, over the 16 KiB cap): the
    # server ends its side, then reads and drops the rest until the client closes (lingering
    # close, at most 2 s), so the 431 arrives. Closing with the bytes unread would reset the
    # connection, and this sendall would block or fail before the answer could be read.
    for _ in range(3):
        with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /mcp HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 262144 + b"\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 431")


def test_smuggling_refused(server):
    auth = f"Authorization: Bearer {TOKEN}\r\nAccept: {ACCEPT}\r\nContent-Type: application/json\r\n".encode()
    for raw in [
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        b"POST /mcp HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /mcp HTTP/1.1\r\nHost: x\r\n X-Folded: obs-fold\r\n\r\n",
    ]:
        with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
            s.sendall(raw)
            assert s.recv(100).startswith(b"HTTP/1.1 400")


def test_a_malformed_chunk_in_a_body_being_read_is_answered_with_its_reason(server):
    # The body's framing fails while the route reads it (the head came alone): the answer is
    # the codec's reason as an Invalid Request (-32600), not "Parse error" (-32700), which
    # says the JSON was bad; the connection closes after it.
    head = (f"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: {ACCEPT}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
        s.sendall(head)
        time.sleep(0.2)  # the route is reading the body by now
        s.sendall(b"5\r\n{\"a\":\r\nzz\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head_text, _, body = data.partition(b"\r\n\r\n")
    assert head_text.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"connection: close" in head_text.lower()
    error = json.loads(body)["error"]
    assert error["code"] == -32600 and "invalid chunk size" in error["message"], error


def test_trailers_over_the_header_cap(server):
    # Trailers count against the header caps (RFC 9112 §7.1.2): over them the answer is the
    # 431 a head would get (RFC 6585 §5), not a 400 for an unreadable body.
    head = (f"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: {ACCEPT}\r\n"
            "Content-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: server/discover\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunk = json.dumps(DISCOVER).encode()
    body = b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    with tls_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="127.0.0.1") as s:
        s.sendall(head + body)
        assert s.recv(100).startswith(b"HTTP/1.1 431")


def test_stateless_2026(server):
    meta = META
    h = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "server_status"}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "server_status", "arguments": {}, "_meta": meta}}
    r, body = request(server, "POST", "/mcp", call, headers=h)
    assert r.status == 200 and rpc(body)["result"]["resultType"] == "complete"
    # Base64 sentinel form of Mcp-Name (2026-07-28 "Value Encoding").
    r, body = request(server, "POST", "/mcp", call, headers={**h, "Mcp-Name": "=?base64?c2VydmVyX3N0YXR1cw==?="})
    assert r.status == 200
    r, body = request(server, "POST", "/mcp", call, headers={**h, "Mcp-Name": "other"})
    assert r.status == 400 and rpc(body)["error"]["code"] == -32020
    r, body = request(server, "POST", "/mcp", call, headers={**h, "Mcp-Method": "tools/list"})
    assert r.status == 400 and rpc(body)["error"]["code"] == -32020
    # The name is matched by code units: KELVIN SIGN (U+212A) is canonically "K" but not "K".
    kelvin = {**call, "params": {**call["params"], "name": "K"}}
    sentinel = "=?base64?" + base64.b64encode("\u212a".encode()).decode() + "?="
    r, body = request(server, "POST", "/mcp", kelvin, headers={**h, "Mcp-Name": sentinel})
    assert r.status == 400 and rpc(body)["error"]["code"] == -32020
    r, body = request(server, "POST", "/mcp", call, headers={"MCP-Protocol-Version": "2026-07-28"})
    assert r.status == 400 and rpc(body)["error"]["code"] == -32020
    unknown = {"jsonrpc": "2.0", "id": 2, "method": "nope/nope", "params": {"_meta": meta}}
    r, body = request(server, "POST", "/mcp", unknown, headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "nope/nope"})
    assert r.status == 404 and rpc(body)["error"]["code"] == -32601
    r, _ = request(server, "GET", "/mcp", headers={"MCP-Protocol-Version": "2026-07-28"})
    assert r.status == 405
    # The header alone makes a request stateless, so a body without the per-request fields
    # in _meta is malformed (basic/index.mdx: -32602 and, on HTTP, 400), not a session-era
    # request refused for want of a session.
    bare = {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}
    r, body = request(server, "POST", "/mcp", bare, headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
    assert r.status == 400 and rpc(body)["error"]["code"] == -32602 and rpc(body)["id"] == 3
    no_capabilities = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                       "params": {"name": "server_status", "arguments": {}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}
    r, body = request(server, "POST", "/mcp", no_capabilities, headers=h)
    assert r.status == 400 and rpc(body)["error"]["code"] == -32602
    assert "io.modelcontextprotocol/clientCapabilities" in rpc(body)["error"]["message"]
    # The version in _meta is a string (schema.json): a number is malformed (-32602, 400),
    # not an unsupported version (-32022, whose data.requested is a string).
    numeric = {**call, "id": 6, "params": {**call["params"], "_meta": {**meta, "io.modelcontextprotocol/protocolVersion": 20260728}}}
    r, body = request(server, "POST", "/mcp", numeric, headers=h)
    assert r.status == 400 and rpc(body)["error"]["code"] == -32602 and rpc(body)["id"] == 6
    # changelog item 5: ping and logging/setLevel are gone from 2026-07-28; an unimplemented
    # method is a 404 (streamable-http.mdx "Protocol Version Header").
    for method, params in (("ping", {}), ("logging/setLevel", {"level": "debug"})):
        removed = {"jsonrpc": "2.0", "id": 5, "method": method, "params": {**params, "_meta": META}}
        r, body = request(server, "POST", "/mcp", removed, headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method})
        assert r.status == 404 and rpc(body)["error"]["code"] == -32601, method


def test_stateless_unknown_method_in_sse_mode(sse_server):
    # streamable-http.mdx "Protocol Version Header": an unimplemented method is a 404 with
    # -32601 whatever the response mode, not a 200 event stream carrying the error.
    unknown = {"jsonrpc": "2.0", "id": 7, "method": "prompts/list", "params": {"_meta": META}}
    r, body = request(sse_server, "POST", "/mcp", unknown, headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "prompts/list"})
    assert r.status == 404 and r.getheader("Content-Type").startswith("application/json")
    assert rpc(body)["error"]["code"] == -32601 and rpc(body)["id"] == 7
    r, body = request(sse_server, "POST", "/mcp", DISCOVER, headers=DISCOVER_H)
    assert r.status == 200


def test_session_request_naming_the_stateless_revision(server):
    # 2026-07-28 streamable-http.mdx: the header MUST match the _meta version (-32020), so a
    # session request whose body names 2026-07-28 is refused, not served statelessly; a
    # session-era version there is no stateless request at all and is served as usual.
    sid = initialize(server)
    h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
    named = {"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": {"_meta": META}}
    r, body = request(server, "POST", "/mcp", named, headers=h)
    assert r.status == 400 and rpc(body)["error"]["code"] == -32020 and rpc(body)["id"] == 8
    same_era = {"jsonrpc": "2.0", "id": 9, "method": "tools/list",
                "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2025-11-25"}}}
    r, body = request(server, "POST", "/mcp", same_era, headers=h)
    assert r.status == 200 and rpc(body)["result"]["tools"] and "resultType" not in rpc(body)["result"]


def test_legacy_sse_statuses(server):
    r, _ = request(server, "POST", "/sse", {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status == 405
    r, _ = request(server, "POST", "/messages", {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status == 400
    r, _ = request(server, "POST", "/messages?sessionId=unknown", {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status == 404


def read_events(resp, count):
    events, current = [], {}
    while len(events) < count:
        line = resp.fp.readline().decode().rstrip("\r\n")
        if line == "":
            if current:
                events.append(current)
                current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        current[key] = value
    return events


@pytest.mark.parametrize("path", ["/sse", "/api/mcp/v1/sse"])
def test_sse_stream_events(server, path):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=tls_context())
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/event-stream"
    assert resp.getheader("Cache-Control") == "no-store" and resp.getheader("X-Accel-Buffering") == "no"
    events = read_events(resp, 2 if path.startswith("/api") else 1)
    assert events[0]["event"] == "endpoint" and events[0]["data"].startswith("/messages?sessionId=")
    if path.startswith("/api"):
        assert events[1]["event"] == "connected" and "clientId" in json.loads(events[1]["data"])
    endpoint = events[0]["data"]
    r, body = request(server, "POST", endpoint, {"jsonrpc": "2.0", "id": 7, "method": "initialize",
                                                 "params": {"protocolVersion": "2024-11-05", "capabilities": {}}})
    assert r.status == 202
    message = read_events(resp, 1)[0]
    assert message["event"] == "message" and json.loads(message["data"])["id"] == 7
    conn.close()


def test_go_api_shapes(server):
    r, body = request(server, "GET", "/api/mcp/v1/tools")
    data = rpc(body)
    assert r.status == 200 and data["count"] == len(data["tools"]) and data["count"] >= 1
    r, body = request(server, "POST", "/api/mcp/v1/call", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status == 200 and rpc(body)["result"]["tools"]
    r, body = request(server, "POST", "/api/mcp/v1/call", {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                           "params": {"name": "server_status", "arguments": {}}})
    result = rpc(body)["result"]
    assert r.status == 200 and result["isError"] is False
    assert json.loads(result["content"][0]["text"])["name"] == "axinova-mcp-server"  # real JSON, not %v
    r, body = request(server, "POST", "/api/mcp/v1/call", {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                                           "params": {"name": "server_status", "arguments": {"x": 1}}})
    assert r.status == 200 and rpc(body)["result"]["isError"] is True  # never HTTP 500
    r, body = request(server, "POST", "/api/mcp/v1/call", b"{oops")
    assert r.status == 400 and rpc(body)["error"]["code"] == -32700
    r, _ = request(server, "GET", "/api/mcp/v1/call")
    assert r.status == 405
    r, body = request(server, "POST", "/api/mcp/v1/sse/rpc", {"jsonrpc": "2.0", "id": 4, "method": "tools/list"})
    assert r.status == 200 and rpc(body)["id"] == 4
    r, body = request(server, "POST", "/api/mcp/v1/call", {"jsonrpc": "2.0", "method": "initialized"})
    assert r.status == 202


def test_ops_listener(server):
    import urllib.request
    with urllib.request.urlopen(f"{server.ops}/health") as r:
        h = json.loads(r.read())
        assert h["status"] == "healthy" and h["service"] == "axinova-mcp-server" and isinstance(h["timestamp"], int)
    with urllib.request.urlopen(f"{server.ops}/ready") as r:
        assert json.loads(r.read()) == {"status": "ready"}
    with urllib.request.urlopen(f"{server.ops}/status") as r:
        s = json.loads(r.read())
        assert {"version", "protocol", "mode"} <= s.keys() and s["mode"] == "https"
    with urllib.request.urlopen(f"{server.ops}/metrics") as r:
        text = r.read().decode()
        # A sample of each family, not only its # HELP / # TYPE lines (or another's help text).
        samples = [line for line in text.splitlines() if not line.startswith("#")]
        for name in ["mcp_rpc_requests_total", "mcp_server_uptime_seconds", "mcp_tools_registered_total",
                     "mcp_connections_active", "mcp_sessions_max", "mcp_http_responses_total"]:
            assert any(line.startswith((name + " ", name + "{")) for line in samples), name
        # What deploy/README.md alerts on with increase() is there before its first event:
        # a series that first appears at 1 shows Prometheus no increase (a single failed
        # reload or lockout raised no alert).
        for series in ['mcp_config_reloads_total{what="certificate",result="error"}',
                       'mcp_config_reloads_total{what="tokens",result="error"}',
                       "mcp_auth_lockouts_total", "mcp_auth_lockouts_evicted_total",
                       "mcp_sse_slow_reader_disconnects_total", 'mcp_auth_failures_total{reason="invalid"}',
                       'mcp_connections_rejected_total{reason="rate_ip"}', 'mcp_ratelimit_evictions_total{limiter="request"}']:
            assert any(line.startswith(series + " ") for line in samples), series



def test_pipelined_requests_wait_for_a_slow_reader(server_bin):
    # RFC 9112 §9.3.2: pipelined requests are answered in order. A client sends 12,000
    # (16 MB of answers, more than a socket's send buffer holds) and reads nothing for 3 s.
    # The server answers the next request only once the client has taken most of the one
    # before (NIO's low watermark), so it never holds more than about a response: before,
    # it answered on, met its cap on unsent ciphertext (256 KiB) and closed the connection.
    # One thread, non-blocking: OpenSSL does not allow reading and writing one connection
    # from two threads at once.
    import select
    import ssl
    import time
    s = start_server(server_bin, "--set", "limits.request_rate=0")
    count = 12_000
    one = (f"GET /api/mcp/v1/tools HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").encode()
    out = memoryview(one * count)
    sock = tls_context().wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10), server_hostname="localhost")
    sock.setblocking(False)
    data, at, statuses = bytearray(), 0, []
    start = time.monotonic()
    try:
        while len(statuses) < count and time.monotonic() - start < 60:
            reading = time.monotonic() - start > 3
            readable, writable, _ = select.select([sock] if reading else [], [sock] if out else [], [], 0.2)
            if writable:
                try:
                    out = out[sock.send(out[:1 << 20]):]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            if readable or (reading and sock.pending()):
                try:
                    chunk = sock.recv(262144)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                assert chunk, f"connection closed after {len(statuses)} responses"
                data += chunk
                while (end := data.find(b"\r\n\r\n", at)) >= 0:
                    head = bytes(data[at:end]).decode("latin-1").split("\r\n")
                    length = next(int(l.split(":", 1)[1]) for l in head if l.lower().startswith("content-length:"))
                    if len(data) < end + 4 + length:
                        break
                    statuses.append(int(head[0].split()[1]))
                    at = end + 4 + length
                if at > 1 << 20:
                    del data[:at]
                    at = 0
    finally:
        sock.close()
        s.stop()
    assert len(statuses) == count
    assert set(statuses) == {200}
