"""Hostile-input catalogue over real TLS sockets on loopback (issue 7, section 2).

Every case is one parametrized test that states the answer it expects: an HTTP status (and the
JSON-RPC error code where there is a body), or a TLS alert / close. All cases run against ONE
server process; the last test checks that this process still serves and that its descriptor
count and memory are back near the baseline taken before the first case.

Clauses: RFC 9112 §2.2 (bare CR invalid), §3 (414/431 for long request lines), §3.2.2
(absolute-form MUST be accepted), §5.2 (obs-fold rejected with 400), §6.3 (CL+TE and duplicate
Content-Length are framing errors), §7.1 (chunk-size is hex); RFC 9110 §5.5 (NUL in a field
value), §9.3.6 (CONNECT), §15.5.14 (413); RFC 6585 §5 (431); RFC 6750 §3.1 (401
invalid_request/invalid_token); RFC 9113 §3.4 (HTTP/2 preface sent to an HTTP/1.1 server);
JSON-RPC 2.0 §4-§6 (-32700, -32600, null id, batches); RFC 3629 §3 (invalid UTF-8);
RFC 8996 (no TLS 1.0/1.1); RFC 6176 (no SSLv2); RFC 7301 §3.2 (no_application_protocol);
RFC 5746 / RFC 8446 §4.1 (renegotiation); RFC 8446 §5 / §6.1 (records, truncation).
"""
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("the catalogue runs once, in the mcp 2.x environment", allow_module_level=True)

from conftest import CA_FILE, TOKEN, start_server, tls_context  # noqa: E402

ACCEPT = "application/json, text/event-stream"
LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()
JSON_HEADERS = f"Accept: {ACCEPT}\r\nContent-Type: application/json\r\n".encode()
IO_TIMEOUT = 10
# Tolerances for "back near baseline" after the whole catalogue.
FD_TOLERANCE = 4
RSS_TOLERANCE_MIB = 32


def post(path: bytes, body: bytes, auth: bytes = AUTH, extra: bytes = b"") -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\n" + auth + JSON_HEADERS + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def batch(count: int) -> bytes:
    return b"[" + b",".join(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}' % i for i in range(count)) + b"]"


@dataclass
class Reply:
    status: int | None      # None: no status line before the close/timeout
    headers: dict
    body: bytes
    closed: bool            # the server closed the connection after its answer
    timed_out: bool         # nothing more arrived within IO_TIMEOUT and no close


def exchange(port: int, raw: bytes, source: str, io_timeout: float = IO_TIMEOUT, close_wait: float = 1.0) -> Reply:
    """Sends raw bytes over TLS and reads one framed answer, then waits up to `close_wait`
    seconds to see whether the server closes the connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=io_timeout, source_address=(source, 0))
    conn = tls_context().wrap_socket(sock, server_hostname="localhost")
    try:
        try:
            conn.sendall(raw)
        except (OSError, ssl.SSLError):
            pass  # the server may answer and close before reading everything (a 431 mid-upload)
        data, closed, timed_out = b"", False, False
        head, body, length = None, b"", None
        deadline = time.monotonic() + io_timeout
        while time.monotonic() < deadline and len(data) < 16 << 20:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                timed_out = True
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
            if head is None and b"\r\n\r\n" in data:
                head, _, _ = data.partition(b"\r\n\r\n")
            if head is not None:
                body = data[len(head) + 4:]
                headers = parse_headers(head)
                length = int(headers["content-length"]) if "content-length" in headers else None
                if length is not None and len(body) >= length:
                    if close_wait <= 0:
                        break
                    # Framed answer complete: does the server close now?
                    conn.settimeout(close_wait)
                    try:
                        closed = conn.recv(1) == b""
                    except (socket.timeout, ssl.SSLError, OSError) as e:
                        closed = not isinstance(e, socket.timeout)
                    break
        if head is None:
            return Reply(None, {}, data, closed, timed_out)
        status = int(head.split(b" ", 2)[1])
        return Reply(status, parse_headers(head), body[:length] if length is not None else body, closed, timed_out)
    finally:
        conn.close()


def parse_headers(head: bytes) -> dict:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def tools_list_ok(port: int) -> bool:
    r = exchange(port, post(b"/api/mcp/v1/call", LIST), "127.0.0.1", close_wait=0)
    return r.status == 200 and "tools" in json.loads(r.body)["result"]


@pytest.fixture(scope="module")
def target(server_bin):
    """One server for the whole catalogue, with a baseline taken after a short warm-up."""
    # Backend URLs only register their tools (a large tools/list); no case calls a backend.
    backends = [arg for b in ("grafana", "portainer", "silverbullet", "vikunja", "prometheus")
                for arg in ("--set", f"{b}.url=http://127.0.0.1:9")]
    s = start_server(server_bin, *backends)
    for _ in range(20):
        assert tools_list_ok(s.port)
    time.sleep(0.5)
    s.baseline = {"fds": open_fds(s.proc.pid), "rss_kib": rss_kib(s.proc.pid)}
    yield s
    s.stop()


# (id, request bytes (a callable of the port where the port matters), expected status,
#  expected JSON-RPC error code or None, must the server close the connection)
HTTP_CASES = [
    # HTTP framing (RFC 9112). Every framing error is a 400 and the connection is closed:
    # after a framing error the server cannot know where the next request starts.
    ("cl-and-te", post(b"/mcp", b"0\r\n\r\n", extra=b"Transfer-Encoding: chunked\r\n"), 400, None, True),
    ("two-content-lengths",
     b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400, None, True),
    ("bad-chunk-size",
     b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, None, True),
    ("obs-fold", b"GET /mcp HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n folded\r\n\r\n", 400, None, True),
    ("bare-cr-in-value", b"GET /mcp HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n", 400, None, True),
    ("bare-cr-as-line-end", b"GET /mcp HTTP/1.1\r\nHost: localhost\rX-A: b\r\n\r\n", 400, None, True),
    ("nul-in-header", b"GET /mcp HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n", 400, None, True),
    # A request line over its 8 KiB cap: 414 URI Too Long (RFC 9112 §3, RFC 9110 §15.5.15),
    # then the connection closes; the field section has its own cap (431, RFC 6585 §5).
    ("oversized-request-line", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, None, True),
    ("oversized-headers", b"GET /mcp HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 431, None, True),
    ("too-many-headers",
     b"GET /mcp HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
     431, None, True),
    # RFC 9110 §8.6: Content-Length is 1*DIGIT; "-1", "+5" and a list are framing errors.
    ("negative-content-length", post(b"/api/mcp/v1/call", b"", extra=b"Content-Length: -1\r\n"), 400, None, True),
    ("signed-content-length",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Content-Length: +5\r\n\r\n{}   ", 400, None, True),
    ("content-length-list",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Content-Length: %d, %d\r\n\r\n" % (len(LIST), len(LIST)) + LIST, 400, None, True),
    # RFC 9112 §7.1: a chunk size that overflows 64 bits is refused: 400 with the parser's
    # reason as an Invalid Request (-32600; until 2026-12-05 a "Parse error", -32700), closed.
    ("chunk-size-overflow",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n", 400, -32600, True),
    # RFC 9112 §7.1.1: chunk extensions are skipped by the parser, not buffered: a 16,000-byte
    # one costs no memory, and the request is served; past limits.max_header_bytes (16 KiB) in
    # one chunk line the body is refused (a server "ought to limit" them), with that reason.
    ("chunk-extension-16000",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Transfer-Encoding: chunked\r\n\r\n%x;" % len(LIST) + b"e" * 16000 + b"\r\n" + LIST + b"\r\n0\r\n\r\n",
     200, None, False),
    ("chunk-extension-100k",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Transfer-Encoding: chunked\r\n\r\n%x;" % len(LIST) + b"e" * 100000 + b"\r\n" + LIST + b"\r\n0\r\n\r\n",
     400, -32600, True),
    # RFC 9112 §6.1: only "chunked" is a transfer coding we know; RFC 9112 §5.1: no space before the colon.
    ("transfer-encoding-identity", post(b"/api/mcp/v1/call", LIST, extra=b"Transfer-Encoding: identity\r\n"),
     400, None, True),
    ("space-before-colon", post(b"/api/mcp/v1/call", LIST, extra=b"Transfer-Encoding : chunked\r\n"), 400, None, True),
    # RFC 9112 §6.1: a transfer coding the server does not understand, before the final chunked
    # (so the framing itself is sound), SHOULD be 501 Not Implemented; chunked not last is 400 (§6.3).
    ("transfer-coding-gzip-then-chunked",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, -32600, True),
    ("transfer-coding-chunked-then-gzip",
     b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: localhost\r\n" + AUTH + JSON_HEADERS
     + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, -32600, True),
    ("space-in-field-name", b"GET /mcp HTTP/1.1\r\nHost: localhost\r\nX A: b\r\n\r\n", 400, None, True),
    # RFC 9112 §2.2: a bare LF line end MAY be accepted; this server refuses it.
    ("lf-only-line-ends", post(b"/api/mcp/v1/call", LIST).replace(b"\r\n", b"\n"), 400, None, True),
    # RFC 9112 §2.3 / §3: HTTP/0.9 and unknown versions are refused; HTTP/1.0 is served.
    ("http-0.9-request", b"GET /mcp\r\n\r\n", 400, None, True),
    # RFC 9110 §15.6.6: another major version is 505 HTTP Version Not Supported.
    ("http-3.0-version", b"GET /mcp HTTP/3.0\r\nHost: localhost\r\n\r\n", 505, None, True),
    # RFC 9112 §9.3: without the keep-alive option an HTTP/1.0 connection closes after the response.
    ("http-1.0-request", post(b"/api/mcp/v1/call", LIST).replace(b"HTTP/1.1", b"HTTP/1.0", 1), 200, None, True),
    # RFC 9110 §9.1: methods are case-sensitive; "post" is not POST.
    ("lowercase-method", post(b"/api/mcp/v1/call", LIST).replace(b"POST", b"post", 1), 400, None, True),
    # RFC 9113 §3.4: an HTTP/1.1-only server sees "PRI * HTTP/2.0" as a request of another
    # major version: 505 (RFC 9110 §15.6.6), and the connection closes.
    ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, None, True),
    # RFC 9112 §3.2.2: absolute-form MUST be accepted; it is routed like the origin form.
    ("absolute-form", lambda port: (b"POST https://localhost:%d/api/mcp/v1/call HTTP/1.1\r\nHost: localhost:%d\r\n"
                                    % (port, port)) + AUTH + JSON_HEADERS
     + b"Content-Length: %d\r\n\r\n" % len(LIST) + LIST, 200, None, False),
    ("absolute-form-unauthenticated", b"GET http://evil.example/mcp HTTP/1.1\r\nHost: evil.example\r\n\r\n",
     401, -32000, False),
    # Auth abuse (RFC 6750 §3.1). The 1 MB token passes the 16 KiB head cap: 431 before auth runs.
    ("token-1mb", post(b"/api/mcp/v1/call", LIST, auth=b"Authorization: Bearer " + b"a" * (1 << 20) + b"\r\n"),
     431, None, True),
    ("two-authorization-headers", post(b"/api/mcp/v1/call", LIST, extra=b"Authorization: Bearer other\r\n"),
     401, -32000, False),
    ("two-identical-authorization-headers", post(b"/api/mcp/v1/call", LIST, extra=AUTH), 401, -32000, False),
    ("non-ascii-token", post(b"/api/mcp/v1/call", LIST, auth=b"Authorization: Bearer t\xc3\xa9st\xff\r\n"),
     401, -32000, False),
    ("empty-bearer", post(b"/api/mcp/v1/call", LIST, auth=b"Authorization: Bearer \r\n"), 401, -32000, False),
    ("bearer-without-credentials", post(b"/api/mcp/v1/call", LIST, auth=b"Authorization: Bearer\r\n"),
     401, -32000, False),
    # JSON-RPC abuse (JSON-RPC 2.0 §5.1), under server.max_json_depth=64 and server.max_body=4MiB.
    ("nesting-10000-deep", post(b"/api/mcp/v1/call", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":'
                                + b"[" * 10000 + b"]" * 10000 + b"}"), 400, -32700, False),
    ("nesting-10000-deep-streamable", post(b"/mcp", b"[" * 10000 + b"]" * 10000), 400, -32700, False),
    ("string-over-body-cap", post(b"/api/mcp/v1/call", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"'
                                  + b"a" * (5 << 20) + b'"}}'), 413, -32600, False),
    ("string-under-body-cap", post(b"/api/mcp/v1/call", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"'
                                   + b"a" * (3 << 20) + b'"}}'), 200, None, False),
    ("invalid-utf8", post(b"/api/mcp/v1/call", b'{"jsonrpc":"2.0","id":1,"method":"tools/list\xff\xfe"}'),
     400, -32700, False),
    ("wrong-jsonrpc-version", post(b"/api/mcp/v1/call", b'{"jsonrpc":"1.0","id":1,"method":"tools/list"}'),
     200, -32600, False),
    ("object-as-id", post(b"/api/mcp/v1/call", b'{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}'),
     200, -32600, False),
]


@pytest.mark.parametrize("name,raw,status,rpc_code,must_close", HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
def test_http_case(target, name, raw, status, rpc_code, must_close):
    index = [c[0] for c in HTTP_CASES].index(name)
    # Each case from its own address, so auth failures of one case never lock out the next.
    source = f"127.3.{index // 200}.{1 + index % 200}"
    r = exchange(target.port, raw(target.port) if callable(raw) else raw, source)
    assert r.status == status, (r.status, r.body[:200])
    assert not r.timed_out, "the server neither finished its answer nor closed the connection"
    if must_close:
        assert r.closed
    if rpc_code is not None:
        error = json.loads(r.body)["error"]
        assert error["code"] == rpc_code and error["message"]
    if name == "object-as-id":
        assert json.loads(r.body)["id"] is None  # JSON-RPC 2.0 §5: id unknown -> null
    if name == "wrong-jsonrpc-version":
        assert json.loads(r.body)["id"] == 1


HOST_CASES = {
    "no-host": b"",
    "two-host-fields": b"Host: localhost\r\nHost: evil.example\r\n",
    "invalid-host-value": b"Host: a b\r\n",
}


@pytest.mark.parametrize("case", list(HOST_CASES))
def test_host_field_errors_refused(target, case):
    """RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request that lacks Host, has more
    than one Host field line, or a Host with an invalid value."""
    raw = b"POST /api/mcp/v1/call HTTP/1.1\r\n" + HOST_CASES[case] + AUTH + JSON_HEADERS + \
        b"Content-Length: %d\r\n\r\n" % len(LIST) + LIST
    index = list(HOST_CASES).index(case)
    assert exchange(target.port, raw, f"127.3.9.{10 + index}").status == 400


@pytest.mark.parametrize("auth", [b"", AUTH], ids=["unauthenticated", "authenticated"])
def test_connect_refused(target, auth):
    """RFC 9110 §9.3.6: we are not a proxy. Any final status will do, framed and promptly closed."""
    r = exchange(target.port, b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n" + auth + b"\r\n",
                 "127.3.9.1" if auth else "127.3.9.2", io_timeout=3)
    assert r.status in (400, 401, 403, 404, 405, 501)
    assert not r.timed_out and ("content-length" in r.headers or r.closed)


def test_batch_10000(target):
    """JSON-RPC 2.0 §6 sets no limit on a batch; the server caps batches (server.max_batch,
    64): a 10,000-element batch (440 KB body, under max_body) is refused with a clear error,
    400 / -32600, before any element runs (FrameReader); never a silent close."""
    r = exchange(target.port, post(b"/api/mcp/v1/call", batch(10000)), "127.3.9.3")
    assert r.status is not None, "connection closed without an answer"
    assert r.status == 400, (r.status, r.body[:200])
    error = json.loads(r.body)["error"]
    assert error["code"] == -32600 and "batch" in error["message"], error


def test_batch_at_cap_answered(target):
    """A batch at the cap (64) is answered in full, one answer per request (JSON-RPC 2.0 §6)."""
    r = exchange(target.port, post(b"/api/mcp/v1/call", batch(64)), "127.3.9.4")
    assert r.status == 200
    answers = json.loads(r.body)
    assert sorted(a["id"] for a in answers) == list(range(64)) and all(a["result"] == {} for a in answers)


def test_answer_over_256kib_delivered(target):
    """16 tools/list in one batch (under the cap) with every backend's tools registered make a
    ~340 KB answer. It must arrive whole: a slow reader is handled by backpressure, not by
    dropping a legitimate answer (the same path carries tool results up to 1 MiB)."""
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(16)]).encode()
    r = exchange(target.port, post(b"/api/mcp/v1/call", body), "127.3.9.6")
    assert r.status == 200, "connection closed without an answer"
    answers = json.loads(r.body)
    assert len(r.body) > 256 * 1024 and sorted(a["id"] for a in answers) == list(range(16))


def test_pipelined_after_413_not_smuggled(target):
    """RFC 9112 §6.3 / RFC 9110 §15.5.14: after a 413 the server either closes or discards the
    rest of the declared body; a request hidden in that body is never answered, the next
    pipelined request is answered normally (what this server does: it answers 413 with
    `Connection: close` and closes, without reading the rest)."""
    hidden = b"GET /api/mcp/v1/tools HTTP/1.1\r\nHost: localhost\r\n" + AUTH + b"\r\n"
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * (5 << 20) + hidden + b'"}}'
    follow = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "ping"}).encode()
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=IO_TIMEOUT, source_address=("127.3.9.5", 0))
    with tls_context().wrap_socket(sock, server_hostname="localhost") as c:
        out = b""
        try:
            c.sendall(post(b"/api/mcp/v1/call", big) + post(b"/api/mcp/v1/call", follow))
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass  # the server closed after its 413: the rest of the body was never read
        c.settimeout(3)
        try:
            while len(out) < 1 << 20:
                chunk = c.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ssl.SSLError, ConnectionResetError):
            pass
    statuses = [line.split(b" ")[1] for line in out.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert statuses in ([b"413"], [b"413", b"200"]), statuses
    assert b'"tools"' not in out  # the hidden GET /api/mcp/v1/tools was never run
    if statuses == [b"413", b"200"]:
        assert b'"id":77' in out


# ---------------------------------------------------------------------------- TLS abuse

def client_context(alpn=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CA_FILE)
    if version is not None:
        # Let the client offer the old version at all (OpenSSL 3 refuses it at level 1+):
        # the refusal under test must come from the server's alert.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def handshake_error(port, ctx) -> str | None:
    try:
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT),
                             server_hostname="localhost"):
            return None
    except ssl.SSLError as e:
        return str(e)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("tls_version", ["TLSv1", "TLSv1_1"])
def test_tls_old_version_refused(target, tls_version):
    """RFC 8996 §2-3: a TLS 1.0 / 1.1-only ClientHello gets a protocol_version alert."""
    error = handshake_error(target.port, client_context(version=getattr(ssl.TLSVersion, tls_version)))
    assert error is not None and "ALERT_PROTOCOL_VERSION" in error.upper().replace(" ", "_")


def test_tls_sslv2_hello_closed(target):
    """RFC 6176 §3: an SSLv2-format ClientHello is refused: fatal protocol_version alert, then close."""
    hello = (b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"  # v2 header, CLIENT-HELLO, version 0x0002
             + bytes.fromhex("0700c00500800300800100800800800600400400800200") [:21] + b"A" * 16)
    with socket.create_connection(("127.0.0.1", target.port), timeout=IO_TIMEOUT) as s:
        s.sendall(hello)
        received = b""
        deadline = time.monotonic() + IO_TIMEOUT
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(1024)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    assert received in (b"", b"\x15\x03\x03\x00\x02\x02\x46", b"\x15\x03\x01\x00\x02\x02\x46")
    assert b"HTTP" not in received


def test_tls_h2_only_alpn_refused(target):
    """RFC 7301 §3.2: no protocol in common -> no_application_protocol alert (we speak http/1.1 only)."""
    error = handshake_error(target.port, client_context(alpn=["h2"]))
    assert error is not None and "no application protocol" in error.lower()
    # http/1.1 among the offers is selected.
    with client_context(alpn=["h2", "http/1.1"]).wrap_socket(
            socket.create_connection(("127.0.0.1", target.port), timeout=IO_TIMEOUT), server_hostname="localhost") as c:
        assert c.selected_alpn_protocol() == "http/1.1"


def test_tls_renegotiation_refused(target):
    """RFC 5746 / RFC 8446 §4.1: a client-initiated TLS 1.2 renegotiation is refused (no_renegotiation)."""
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{target.port}", "-tls1_2", "-servername", "localhost",
         "-CAfile", CA_FILE],
        input=b"R\n", capture_output=True, timeout=30)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert "Protocol  : TLSv1.2" in out and "RENEGOTIATING" in out
    assert "no renegotiation" in out.lower()
    assert proc.returncode != 0


def test_tls_abrupt_close_mid_record(target):
    """RFC 8446 §5 / §6.1: half an application-data record, then TCP close: the server drops the
    connection (a truncation, not a request) and releases its descriptor."""
    before = open_fds(target.proc.pid)
    for _ in range(5):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = tls_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        sock = socket.create_connection(("127.0.0.1", target.port), timeout=IO_TIMEOUT)
        for _ in range(20):
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "server closed during the handshake"
                incoming.write(data)
        sock.sendall(outgoing.read())
        tls.write(post(b"/api/mcp/v1/call", LIST))
        record = outgoing.read()
        sock.sendall(record[: len(record) // 2])
        sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and open_fds(target.proc.pid) > before:
        time.sleep(0.1)
    assert open_fds(target.proc.pid) <= before


# ------------------------------------------------------------------ after the catalogue

def test_same_process_still_serves_near_baseline(target):
    """Runs last: the process that took every case above still serves, with fds back to the
    baseline (+FD_TOLERANCE) and RSS within RSS_TOLERANCE_MIB of it (allocator arenas keep some
    of the memory the 3-5 MB bodies used; a leak per case would show up over the catalogue)."""
    assert target.proc.poll() is None
    assert tools_list_ok(target.port)
    with urllib.request.urlopen(f"{target.ops}/health", timeout=5) as r:
        assert r.status == 200
    pid = target.proc.pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and open_fds(pid) > target.baseline["fds"] + FD_TOLERANCE:
        time.sleep(0.2)
    fds, rss = open_fds(pid), rss_kib(pid)
    print(f"baseline fds={target.baseline['fds']} rss={target.baseline['rss_kib'] // 1024} MiB; "
          f"after fds={fds} rss={rss // 1024} MiB")
    assert fds <= target.baseline["fds"] + FD_TOLERANCE
    assert rss <= target.baseline["rss_kib"] + RSS_TOLERANCE_MIB * 1024


def test_input_caps_answered_and_counted(server_bin):
    """Every input cap has a key and a metric (README "Limits"): with server.max_batch=4,
    max_json_values=1000, max_json_depth=8 and max_body=64KiB, one request over each cap is
    refused with its clear error (JSON-RPC 2.0 §5.1 -32700/-32600; RFC 9110 §15.5.14 413) and
    counted once under its own `mcp_input_refused_total{cap}`; requests at the caps pass and
    count nothing."""
    s = start_server(server_bin, "--set", "server.max_batch=4", "--set", "server.max_json_values=1000",
                     "--set", "server.max_json_depth=8", "--set", "server.max_body=64KiB")
    try:
        def refused() -> dict:
            with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as r:
                text = r.read().decode()
            return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines()
                    if line.startswith("mcp_input_refused_total{")}

        assert refused() == {"body": 0, "json_depth": 0, "json_values": 0, "batch": 0, "batch_answer": 0}
        call = b"/api/mcp/v1/call"
        values = lambda n: b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":[' + b",".join([b"1"] * n) + b"]}}"
        nested = lambda d: b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":' + b"[" * d + b"]" * d + b"}}"
        padded = lambda n: b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"' + b"a" * n + b'"}}'
        cases = [  # (body, status, JSON-RPC code, the cap it is over or None)
            (batch(4), 200, None, None),
            (batch(5), 400, -32600, "batch"),
            (nested(6), 200, None, None),       # depth 8 with the message and params objects
            (nested(7), 400, -32700, "json_depth"),
            (values(990), 200, None, None),
            (values(1000), 400, -32700, "json_values"),
            (padded(60_000), 200, None, None),
            (padded(70_000), 413, -32600, "body"),
        ]
        for index, (body, status, code, cap) in enumerate(cases):
            before = refused()
            r = exchange(s.port, post(call, body), f"127.3.10.{index + 1}")
            assert r.status == status, (index, r.status, r.body[:200])
            if code is not None:
                assert json.loads(r.body)["error"]["code"] == code
            expected = dict(before)
            if cap:
                expected[cap] += 1
            assert refused() == expected, (index, cap)
    finally:
        s.stop()


def test_a_batch_answer_past_its_cap_refuses_the_rest(server_bin):
    """A batch's answers are held until the last is ready and sent as one array (JSON-RPC 2.0
    §6), so together they are capped (server.max_batch_answer_bytes; 64 KiB here, about 50
    tools/list answers without backends): once the answers so far pass it, each request left
    gets -32000 and is not run, counted as mcp_input_refused_total{cap="batch_answer"}; a batch
    under it is answered in full. The server counts an answer's size without serializing it
    (numbers as 20 bytes), so the edge is checked within 10 %."""
    s = start_server(server_bin, "--set", "server.max_batch_answer_bytes=64KiB")
    try:
        body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(64)]).encode()
        r = exchange(s.port, post(b"/api/mcp/v1/call", body), "127.3.11.1")
        assert r.status == 200, (r.status, r.body[:200])
        answers = json.loads(r.body)
        assert [a["id"] for a in answers] == list(range(64))
        answered = [a for a in answers if "result" in a]
        refused = answers[len(answered):]
        sizes = [len(json.dumps(a, separators=(",", ":"))) for a in answered]
        assert refused and sum(sizes[:-1]) <= 65536 * 1.1 and sum(sizes) > 65536 * 0.9, (len(answered), sizes[0])
        assert all(a["error"]["code"] == -32000 and a["error"]["message"].startswith(
            "Batch answer too large: the answers before this request passed 65536 bytes") for a in refused)
        with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as m:
            text = m.read().decode()
        assert f'mcp_input_refused_total{{cap="batch_answer"}} {len(refused)}' in text.replace(".0\n", "\n"), len(refused)
        body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(len(answered) - 2)]).encode()
        r = exchange(s.port, post(b"/api/mcp/v1/call", body), "127.3.11.2")
        assert all("result" in a for a in json.loads(r.body))
    finally:
        s.stop()
