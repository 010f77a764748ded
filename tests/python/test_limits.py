"""Security limits at their boundaries, over real sockets (issue 5).

Clauses: RFC 6585 §4 (429 + Retry-After); draft-ietf-httpapi-ratelimit-headers
(RateLimit-Policy / RateLimit); RFC 6750 §3.1 (invalid_token).
"""
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("limit tests run once, in the mcp 2.x environment", allow_module_level=True)

from conftest import CERTS, TOKEN, start_server, tls_context  # noqa: E402

ACCEPT = "application/json, text/event-stream"
CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()


def post(port, token=TOKEN, source="127.0.0.1", path="/api/mcp/v1/call", body=CALL):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, source_address=(source, 0), context=tls_context())
    conn.request("POST", path, body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": ACCEPT})
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    return r, payload


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def health(ops_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/health", timeout=5) as r:
        return r.status


def tokens_config(tmp_path, names):
    """A config dir whose tokens come from environment variables, one per name."""
    lines = ["auth:", "  tokens:"]
    env = {}
    for name in names:
        lines += [f"    - name: {name}", f"      env: TOKEN_{name.upper()}"]
        env[f"TOKEN_{name.upper()}"] = f"{name}-secret-0123456789abcdef0123456789"
    (tmp_path / "base.yaml").write_text("\n".join(lines) + "\n")
    return env


def test_burst_then_429_with_retry_after_then_served_again(server_bin):
    s = start_server(server_bin, "--set", "limits.request_rate=2", "--set", "limits.request_burst=5")
    try:
        statuses = [post(s.port)[0].status for _ in range(5)]
        assert statuses == [200] * 5
        r, body = post(s.port)
        assert r.status == 429
        retry = int(r.getheader("Retry-After"))
        assert 1 <= retry <= 1  # one emission interval (0.5 s) rounds up to 1 s
        assert r.getheader("RateLimit-Policy") == '"request";q=5;w=3'
        assert json.loads(body)["error"]["code"] == -32000
        time.sleep(retry)
        assert post(s.port)[0].status == 200
    finally:
        s.stop()


def test_a_batch_counts_as_its_messages(server_bin):
    """Each message of a JSON-RPC batch is a request (JSON-RPC 2.0 §6): let in as one, a
    batch of 64 made the per-token rate 64 times what it says. The batch passes, and the
    token's next requests wait until its further messages are paid for."""
    s = start_server(server_bin, "--set", "limits.request_rate=0.5", "--set", "limits.request_burst=3")
    batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(1, 4)]).encode()
    try:
        r, body = post(s.port, body=batch)
        assert r.status == 200 and len(json.loads(body)) == 3
        r, body = post(s.port)
        assert r.status == 429, body  # the burst of 3 went to the batch
        assert int(r.getheader("Retry-After")) >= 1
    finally:
        s.stop()


def test_tool_rate_refusal_carries_no_request_quota(server_bin):
    """A tool's own rate (limits.tool_rate) refuses with 429 + Retry-After; the request limiter's
    RateLimit fields ("quota left") are not added to that refusal (RFC 6585 §4)."""
    s = start_server(server_bin, "--set", "limits.tool_rate=0.001", "--set", "limits.tool_burst=1")
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "server_status", "arguments": {}}})
    try:
        r, _ = post(s.port, body=call)
        assert r.status == 200 and r.getheader("RateLimit") is not None
        r, body = post(s.port, body=call)
        assert r.status == 429 and int(r.getheader("Retry-After")) >= 1, body
        assert r.getheader("RateLimit") is None and r.getheader("RateLimit-Policy") is None
    finally:
        s.stop()


def test_other_client_unaffected(server_bin, tmp_path):
    env = tokens_config(tmp_path, ["flooder", "polite"])
    s = start_server(server_bin, "--config-dir", str(tmp_path), "--set", "limits.request_rate=10", "--set", "limits.request_burst=10", env=env)
    try:
        flooder, polite = env["TOKEN_FLOODER"], env["TOKEN_POLITE"]
        limited = 0
        deadline = time.monotonic() + 2.0
        next_polite = time.monotonic()
        polite_statuses = []
        while time.monotonic() < deadline:
            if post(s.port, token=flooder)[0].status == 429:
                limited += 1
            if time.monotonic() >= next_polite:  # half the rate: 5 per second
                polite_statuses.append(post(s.port, token=polite, source="127.0.0.2")[0].status)
                next_polite += 0.2
        assert limited > 0
        assert polite_statuses and set(polite_statuses) == {200}
        # Token names (never values) label the per-token metric.
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            text = r.read().decode()
        assert 'mcp_token_requests_total{token="flooder",outcome="rate_limited"}' in text
        assert 'mcp_token_requests_total{token="polite",outcome="allowed"}' in text
        assert env["TOKEN_FLOODER"] not in text
    finally:
        s.stop()


def test_per_address_connection_cap(server_bin):
    s = start_server(server_bin, "--set", "limits.max_connections_per_ip=5")
    held = []
    try:
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.1", 0))
            held.append(c)
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.1", 0))
        assert refused_at_accept(extra)
        extra.close()
        assert post(s.port, source="127.0.0.3")[0].status == 200
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            assert ops_counter(r.read().decode(), 'mcp_connections_rejected_total{reason="per_ip_cap"}') == 1
    finally:
        for c in held:
            c.close()
        s.stop()


def refused_at_accept(sock):
    """True when the server closed `sock` without a byte (a connection refused at accept)."""
    sock.settimeout(5)
    try:
        sock.sendall(b"\x16\x03\x01\x00\x00")  # a TLS record header: the server would wait for the rest
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_per_address_handshake_cap(server_bin):
    """Silent connections (no ClientHello) from one address hold at most max_handshakes_per_ip
    handshakes: the next from that address is refused at accept, another address still gets
    its handshake, and a closed one gives its place back."""
    s = start_server(server_bin, "--set", "limits.max_handshakes_per_ip=4")
    held = []
    try:
        for _ in range(4):
            held.append(socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=("127.0.0.2", 0)))
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=("127.0.0.2", 0))
        assert refused_at_accept(extra)
        extra.close()
        assert post(s.port, source="127.0.0.3")[0].status == 200
        held.pop().close()
        time.sleep(0.2)
        assert post(s.port, source="127.0.0.2")[0].status == 200
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            text = r.read().decode()
        assert ops_counter(text, 'mcp_connections_rejected_total{reason="handshakes_per_ip"}') == 1
        assert "mcp_tls_handshakes_in_progress 3" in text  # the three silent connections still held
    finally:
        for c in held:
            c.close()
        s.stop()


def test_slowloris_does_not_stop_service(server_bin):
    s = start_server(server_bin, "--set", "limits.header_timeout=2s", "--set", "limits.max_connections_per_ip=2000",
                     "--set", "limits.max_connections=3000")
    pid = s.proc.pid
    baseline = open_fds(pid)
    context = tls_context()
    conns = []
    try:
        for i in range(1000):
            raw = socket.create_connection(("127.0.0.1", s.port), source_address=(f"127.0.{1 + i // 250}.{1 + i % 250}", 0))
            c = context.wrap_socket(raw, server_hostname="127.0.0.1")
            c.sendall(b"GET /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            conns.append(c)
        assert health(s.ops_port) == 200
        assert post(s.port, source="127.9.9.9")[0].status == 200
        # The header deadline answers every slow connection 408 (RFC 9110 §15.5.9) and closes it.
        time.sleep(3)
        closed = answered = 0
        for c in conns:
            c.settimeout(1)
            try:
                data = b""
                while chunk := c.recv(4096):
                    data += chunk
                closed += 1
                answered += data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            except (ConnectionResetError, socket.timeout, ssl.SSLError):
                pass
        assert closed >= 990 and answered >= 990, (closed, answered)
    finally:
        for c in conns:
            c.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and open_fds(pid) > baseline + 5:
        time.sleep(0.2)
    assert open_fds(pid) <= baseline + 5
    with urllib.request.urlopen(f"{s.ops}/metrics") as r:
        assert 'mcp_timeouts_total{phase="header"}' in r.read().decode()
    s.stop()


def test_silent_connections_from_a_few_addresses_do_not_lock_out_new_clients(server_bin):
    """At max_handshakes (4 here) the address holding the most handshakes in progress gives up
    its oldest to a client that would hold fewer (mcp_connections_evicted_total{reason=
    "handshakes"}). Silent connections (no ClientHello) from two addresses, each within
    max_handshakes_per_ip (3), filled the global cap and every other client was refused."""
    s = start_server(server_bin, "--set", "limits.max_handshakes=4", "--set", "limits.max_handshakes_per_ip=3")
    held = []
    try:
        for source in ("127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3"):
            held.append(socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=(source, 0)))
            time.sleep(0.05)
        time.sleep(0.2)
        assert post(s.port, source="127.0.0.4")[0].status == 200
        assert closed_by_server(held[0], 5), "the greediest address's oldest silent connection made room"
        # 127.0.0.3 would hold 2, as many as 127.0.0.2 now: refused, nothing closed for it.
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=("127.0.0.3", 0))
        time.sleep(0.2)
        extra2 = socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=("127.0.0.3", 0))
        assert refused_at_accept(extra2)
        for c in (extra, extra2):
            c.close()
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            text = r.read().decode()
        assert ops_counter(text, 'mcp_connections_evicted_total{reason="handshakes"}') >= 1
        assert ops_counter(text, 'mcp_connections_rejected_total{reason="handshakes"}') >= 1
    finally:
        for c in held:
            c.close()
        s.stop()


def test_trickling_heads_from_a_few_addresses_do_not_fill_the_global_cap(server_bin):
    """At max_connections (3 here) with no idle connection to close, the address holding the
    most connections that serve no request gives up its oldest to a client that would hold
    fewer (mcp_connections_evicted_total{reason="global_cap"}). Connections trickling a head
    from a few addresses, each within max_connections_per_ip, filled the cap for good."""
    s = start_server(server_bin, "--set", "limits.max_connections=3", "--set", "limits.max_connections_per_ip=2",
                     "--set", "limits.header_timeout=60s")
    held = []
    try:
        for source in ("127.0.0.2", "127.0.0.2", "127.0.0.3"):
            raw = socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=(source, 0))
            c = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
            c.sendall(b"GET /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(c)
            time.sleep(0.05)
        time.sleep(0.2)
        assert post(s.port, source="127.0.0.4")[0].status == 200
        assert closed_by_server(held[0], 5), "the greediest address's oldest connection made room"
        assert not closed_by_server(held[1], 0.5) and not closed_by_server(held[2], 0.5)
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            assert ops_counter(r.read().decode(), 'mcp_connections_evicted_total{reason="global_cap"}') == 1
    finally:
        for c in held:
            c.close()
        s.stop()


def test_auth_failures_lock_out(server_bin):
    s = start_server(server_bin, "--set", "auth.failure_max=3", "--set", "auth.lockout=2s")
    try:
        for _ in range(3):
            assert post(s.port, token="wrong-token")[0].status == 401
        r, _ = post(s.port, token="wrong-token")
        assert r.status == 429 and int(r.getheader("Retry-After")) >= 1
        r, _ = post(s.port)  # even the right token waits out the lockout from this address
        assert r.status == 429
        assert post(s.port, source="127.0.0.4")[0].status == 200
        time.sleep(2.2)
        assert post(s.port)[0].status == 200
        # Logged once, when the lockout starts: each refusal at info let a client that
        # pipelines tokenless requests write tens of thousands of lines a second.
        log = open(s.proc.log_path).read()
        assert log.count("address locked out after repeated authentication failures") == 1, log[-2000:]
        assert "authentication refused" not in log
    finally:
        s.stop()


def test_slow_body_is_cut_off(server_bin):
    s = start_server(server_bin, "--set", "limits.body_min_rate=10KiB", "--set", "limits.body_timeout=30s")
    try:
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
        c.sendall(f"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: {ACCEPT}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{\"jsonrpc\"".encode())
        started = time.monotonic()
        try:
            data = c.recv(100)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        elapsed = time.monotonic() - started
        assert data == b"" and 1.5 <= elapsed <= 6, (data, elapsed)  # 10,000 B at 10 KiB/s: the 2 s floor
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            text = r.read().decode()
        assert 'mcp_timeouts_total{phase="body"}' in text
        # Counted once: the route's 400 for the unreadable body never went out.
        assert 'mcp_http_responses_total{code="400"}' not in text, text
        assert post(s.port)[0].status == 200
    finally:
        s.stop()


def other_client_certificate(directory):
    """A second client certificate from the test CA (as certs/make-dev-certs.sh issues
    client.pem): valid for mTLS, but not the one a token is bound to."""
    key, csr, ext, cert = (directory / n for n in ("other-key.pem", "other.csr", "other.ext", "other.pem"))
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
    for args in (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
                 ["req", "-new", "-key", key, "-subj", "/CN=other-client", "-out", csr],
                 ["x509", "-req", "-in", csr, "-CA", CERTS / "ca.pem", "-CAkey", CERTS / "ca-key.pem", "-set_serial", "77",
                  "-sha256", "-days", "2", "-extfile", ext, "-out", cert]):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    return cert, key


def test_certificate_bound_token_needs_its_client_certificate(server_bin, tmp_path):
    """RFC 8705 §3 (certificate-bound access tokens): with tls.client_auth optional, a token
    whose auth.tokens[].client_cert_sha256 names the test client's certificate is accepted on
    a connection that presents that certificate, and refused with 401 invalid_token (counted
    as mcp_auth_failures_total{reason="cert_mismatch"}) on one that presents none or another
    certificate of the same CA, on every route: a leaked secret is of no use without the
    certificate's private key. An unbound token works with a certificate or without."""
    der = ssl.PEM_cert_to_DER_cert((CERTS / "client.pem").read_text())
    thumbprint = subprocess.run([server_bin, "cert-thumbprint", str(CERTS / "client.pem")], check=True,
                                capture_output=True, text=True).stdout.strip()
    assert thumbprint == f"sha256:{hashlib.sha256(der).hexdigest()}"
    (tmp_path / "base.yaml").write_text(
        "auth:\n  tokens:\n    - name: bound\n      env: TOKEN_BOUND\n"
        f"      client_cert_sha256: {thumbprint}\n"
        "    - name: free\n      env: TOKEN_FREE\n")
    env = {"TOKEN_BOUND": "bound-secret-0123456789abcdef0123456789", "TOKEN_FREE": "free-secret-0123456789abcdef0123456789"}
    s = start_server(server_bin, "--config-dir", str(tmp_path), "--set", "tls.client_auth=optional",
                     "--set", f"tls.client_ca_file={CERTS / 'ca.pem'}", env=env)
    try:
        with_certificate = tls_context()
        with_certificate.load_cert_chain(CERTS / "client.pem", CERTS / "client-key.pem")
        with_another = tls_context()
        with_another.load_cert_chain(*other_client_certificate(tmp_path))

        def call(token, context, path="/api/mcp/v1/call"):
            conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=context)
            conn.request("POST", path, body=CALL, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                                           "Accept": ACCEPT, "MCP-Protocol-Version": "2025-11-25"})
            r = conn.getresponse()
            body = r.read()
            conn.close()
            return r, body

        r, body = call(env["TOKEN_BOUND"], with_certificate)
        assert r.status == 200 and "result" in json.loads(body), body
        refusals = 0
        for context in (tls_context(), with_another):
            for path in ("/api/mcp/v1/call", "/mcp", "/messages?sessionId=0123", "/api/mcp/v1/sse/rpc"):
                r, body = call(env["TOKEN_BOUND"], context, path)
                refusals += 1
                assert r.status == 401, (path, body)
                assert r.getheader("WWW-Authenticate") == 'Bearer realm="mcp", error="invalid_token"'
                assert "bound to a client certificate" in json.loads(body)["error"]["message"]
        for context in (tls_context(), with_certificate, with_another):
            assert call(env["TOKEN_FREE"], context)[0].status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{s.ops_port}/metrics", timeout=5) as m:
            assert f'mcp_auth_failures_total{{reason="cert_mismatch"}} {refusals}' in m.read().decode()
    finally:
        s.stop()


def test_stateless_era_refusals_carry_their_status_as_code(server_bin, tmp_path, fake_grafana):
    """2026-07-28 basic/index.mdx "Error Codes": -32000…-32019 is legacy ("new implementations
    SHOULD NOT use codes from this sub-range") and new codes belong outside -32768…-32000. A
    request that declares 2026-07-28 and is refused by authentication, scope or a rate gets the
    HTTP status as its code; a session-era request keeps the Go server's -32000."""
    (tmp_path / "base.yaml").write_text(
        "auth:\n  tokens:\n    - name: reader\n      env: TOKEN_READER\n      scopes: [read]\n"
        "    - name: writer\n      env: TOKEN_WRITER\n")
    env = {"TOKEN_READER": "reader-secret-0123456789abcdef0123456789", "TOKEN_WRITER": "writer-secret-0123456789abcdef0123456789"}
    s = start_server(server_bin, "--config-dir", str(tmp_path), "--set", f"grafana.url={fake_grafana}",
                     "--set", "limits.request_rate=0.2", "--set", "limits.request_burst=2", env=env)
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}

    def stateless(token, method, params, name=None):
        h = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method, "Content-Type": "application/json", "Accept": ACCEPT}
        if name:
            h["Mcp-Name"] = name
        if token:
            h["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        conn.request("POST", "/mcp", body=json.dumps({"jsonrpc": "2.0", "id": 7, "method": method,
                                                      "params": {**params, "_meta": meta}}).encode(), headers=h)
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        return r, body

    try:
        r, body = stateless(None, "tools/list", {})
        assert r.status == 401 and body["error"]["code"] == 401, body
        r, body = post(s.port, token="wrong-secret-0123456789abcdef0123456789", path="/mcp")
        assert r.status == 401 and json.loads(body)["error"]["code"] == -32000
        r, body = stateless(env["TOKEN_READER"], "tools/call", {"name": "grafana_delete_dashboard", "arguments": {"uid": "x"}},
                            name="grafana_delete_dashboard")
        assert r.status == 403 and body["error"]["code"] == 403 and body["id"] == 7, body
        assert [stateless(env["TOKEN_WRITER"], "tools/list", {})[0].status for _ in range(2)] == [200, 200]
        r, body = stateless(env["TOKEN_WRITER"], "tools/list", {})
        assert r.status == 429 and body["error"]["code"] == 429 and r.getheader("Retry-After"), body
        r, body = post(s.port, token=env["TOKEN_WRITER"])
        assert r.status == 429 and json.loads(body)["error"]["code"] == -32000
    finally:
        s.stop()


def test_stateless_era_stream_refusal_carries_its_status_as_code(server_bin):
    """The same clause for a stream refused at its cap: in SSE mode a stateless request is
    answered on a stream of its own, and with the token's one stream held by a session's GET,
    it is refused 429 with code 429 (a session-era POST: -32000)."""
    s = start_server(server_bin, "--set", "server.response_mode=sse", "--set", "limits.max_sse_streams_per_token=1")
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    base = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": ACCEPT}

    def send(conn, method, path, body=None, headers=None):
        conn.request(method, path, body=json.dumps(body).encode() if body else None, headers={**base, **(headers or {})})
        return conn.getresponse()

    held = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
    try:
        r = send(held, "POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                        "params": {"protocolVersion": "2025-11-25", "capabilities": {}}})
        session = r.getheader("Mcp-Session-Id")
        r.read()
        deadline = time.monotonic() + 5
        while True:  # the initialize answer's own stream may still hold the slot a moment
            r = send(held, "GET", "/mcp", headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
            if r.status == 200 or time.monotonic() > deadline:
                break
            r.read()
            time.sleep(0.05)
        assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
        other = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        r2 = send(other, "POST", "/mcp", {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}},
                  headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
        body = json.loads(r2.read())
        assert r2.status == 429 and body["error"]["code"] == 429 and body["id"] == 2, body
        r2 = send(other, "POST", "/mcp", {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
                  headers={"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
        body = json.loads(r2.read())
        assert r2.status == 429 and body["error"]["code"] == -32000, body
        other.close()
    finally:
        held.close()
        s.stop()


def test_read_only_token_gets_403_insufficient_scope(server_bin, tmp_path, fake_grafana):
    (tmp_path / "base.yaml").write_text(
        "auth:\n  tokens:\n    - name: reader\n      env: TOKEN_READER\n      scopes: [read]\n"
        "    - name: writer\n      env: TOKEN_WRITER\n")
    env = {"TOKEN_READER": "reader-secret-0123456789abcdef0123456789", "TOKEN_WRITER": "writer-secret-0123456789abcdef0123456789"}
    s = start_server(server_bin, "--config-dir", str(tmp_path), "--set", f"grafana.url={fake_grafana}", env=env)
    try:
        call = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                           "params": {"name": "grafana_delete_dashboard", "arguments": {"uid": "x"}}}).encode()
        r, body = post(s.port, token=env["TOKEN_READER"], body=call)
        assert r.status == 403
        assert r.getheader("WWW-Authenticate") == 'Bearer realm="mcp", error="insufficient_scope", scope="write"'
        assert json.loads(body)["id"] == 9
        # The same refusal on the Go server's RPC-over-POST route (one FrameReader for every route).
        r, body = post(s.port, token=env["TOKEN_READER"], body=call, path="/api/mcp/v1/sse/rpc")
        assert r.status == 403 and json.loads(body)["id"] == 9, body
        r, body = post(s.port, token=env["TOKEN_READER"], path="/api/mcp/v1/call")
        names = [t["name"] for t in json.loads(body)["result"]["tools"]]
        assert "grafana_get_health" in names and "grafana_delete_dashboard" not in names
        r, body = post(s.port, token=env["TOKEN_WRITER"])
        writer_names = [t["name"] for t in json.loads(body)["result"]["tools"]]
        assert "grafana_delete_dashboard" in writer_names and "nextCursor" not in json.loads(body)["result"]
        # server_status counts the tools its caller sees, as its tools/list shows them.
        status = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "server_status", "arguments": {}}}).encode()
        for token, seen in ((env["TOKEN_READER"], names), (env["TOKEN_WRITER"], writer_names)):
            r, body = post(s.port, token=token, body=status, path="/api/mcp/v1/call")
            assert json.loads(body)["result"]["structuredContent"]["tools"] == len(seen), body
        assert len(names) < len(writer_names)
    finally:
        s.stop()


def test_idle_keepalive_connections_make_room_at_global_cap(server_bin):
    s = start_server(server_bin, "--set", "limits.max_connections=3")
    try:
        idle = []
        for i in range(3):
            conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
            conn.request("POST", "/api/mcp/v1/call", body=CALL, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
            assert conn.getresponse().read() and True
            idle.append(conn)  # kept open: an idle keep-alive connection
        r, _ = post(s.port, source="127.0.0.5")  # a fourth client at the global cap
        assert r.status == 200
        with urllib.request.urlopen(f"{s.ops}/metrics") as m:
            text = m.read().decode()
        assert ops_counter(text, 'mcp_connections_evicted_total{reason="global_cap"}') == 1
        # An eviction admits a client: it is no rejection.
        assert ops_counter(text, 'mcp_connections_rejected_total{reason="global_cap"}') == 0
        for conn in idle:
            conn.close()
    finally:
        s.stop()


def start_with_a_big_page(server_bin, *extra, tls=False):
    """A fake SilverBullet holding the page "Big" (about 6 MB, more than the kernel's send
    buffer takes: 4 MiB at most), and a server using it (plaintext unless `tls`); both to be
    stopped."""
    import fake_backends as fb
    fake = fb.start_fake_silverbullet()
    try:
        fb.put_long_page(fake, "Big", 216_000)
        return fake, start_server(server_bin, "--set", f"tls.enabled={'true' if tls else 'false'}", "--set", f"silverbullet.url={fake.url}",
                                  "--set", "tools.max_result_bytes=8MiB", *extra,
                                  env={"APP_SILVERBULLET__TOKEN": fb.SILVERBULLET_TOKEN})
    except BaseException:
        fake.shutdown()
        raise


def slow_reader_asking_for_big(port, tls=False):
    """A connection (plaintext unless `tls`) with a 64 KiB receive buffer (set before
    connecting, so the window stays small) that has asked POST /api/mcp/v1/call for
    SilverBullet's page "Big"."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    if tls:
        sock = tls_context().wrap_socket(sock, server_hostname="127.0.0.1")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "silverbullet_get_page", "arguments": {"page_name": "Big"}}}).encode()
    sock.sendall(b"POST /api/mcp/v1/call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def read_answer(sock, pause=0.0, seconds=30):
    """Reads one response framed by Content-Length, sleeping `pause` after each read; returns
    (the declared length or None, the body bytes read, the seconds it took)."""
    received, length, body_at, started = bytearray(), None, 0, time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, ssl.SSLError):
            break  # closed under it (a TLS client sees the missing close_notify)
        if not chunk:
            break
        received += chunk
        if length is None and (end := received.find(b"\r\n\r\n")) >= 0:
            head = bytes(received[:end]).decode("latin-1").lower().split("\r\n")
            length = next(int(l.split(":", 1)[1]) for l in head if l.startswith("content-length:"))
            body_at = end + 4
        if length is not None and len(received) - body_at >= length:
            break
        time.sleep(pause)
    return length, bytes(received[body_at:]) if length is not None else bytes(received), time.monotonic() - started


def test_a_client_still_reading_a_large_answer_is_not_the_idle_one_closed_at_global_cap(server_bin):
    """At max_connections the longest-idle keep-alive connection is closed to make room. A
    connection counted as idle from when its answer was queued, so a client still taking a
    6 MB answer through a small receive window was the one closed, its answer cut short.
    It now counts as idle once the server has handed all of the answer to the kernel (which
    still sends it after a close); the connection idle since then is the one closed."""
    fake, s = start_with_a_big_page(server_bin, "--set", "limits.max_connections=2")
    try:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        with slow_reader_asking_for_big(s.port) as slow:
            time.sleep(1.0)  # the answer is queued, most of it still in the server
            idle = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            idle.request("POST", "/api/mcp/v1/call", body=CALL, headers=auth)
            assert idle.getresponse().read()
            # The server lists the connection as idle when its write's promise completes, just
            # after the kernel took the bytes: a client can read them first. On a loaded 2-core
            # CI host the third client once arrived inside that window and was refused.
            time.sleep(0.5)
            # A third client at the cap: one of the two is closed to make room.
            third = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10, source_address=("127.0.0.5", 0))
            third.request("POST", "/api/mcp/v1/call", body=CALL, headers=auth)
            assert third.getresponse().status == 200
            third.close()
            with urllib.request.urlopen(f"{s.ops}/metrics") as r:
                assert ops_counter(r.read().decode(), 'mcp_connections_evicted_total{reason="global_cap"}') == 1
            # The idle one was closed ...
            idle.sock.settimeout(5)
            assert idle.sock.recv(1) == b""
            idle.close()
            # ... and the slow reader gets all of its answer.
            length, answer, _ = read_answer(slow)
            assert length is not None and length > 6_000_000, answer[:400]
            assert len(answer) == length, f"cut after {len(answer)} of {length} bytes"
    finally:
        if s:
            s.stop()
        fake.shutdown()


def metrics_when(s, ready, seconds=10):
    """The ops listener's /metrics text once `ready(text)` holds (polled, bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            text = r.read().decode()
        if ready(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


class SmallWindowConnection(http.client.HTTPConnection):
    """Plaintext, with a 64 KiB receive buffer set before connecting (the window stays small)."""

    def connect(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


def sse_stream_asking_for_big(port, calls=1):
    """A legacy SSE stream (GET /sse) through a 64 KiB receive window, its `endpoint` event
    read, its session initialized, and `calls` calls for SilverBullet's page "Big" posted to it
    (ids 1, 2, ...): their answers (about 6 MB each) are due on the stream. Returns the
    connection and the stream's response."""
    conn = SmallWindowConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/sse", headers={"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"})
    stream = conn.getresponse()
    assert stream.status == 200
    endpoint = None
    while endpoint is None:
        line = stream.readline().decode()
        assert line, "the stream ended before its endpoint event"
        if line.startswith("data: /messages"):
            endpoint = line[len("data: "):].strip()
    def send(message):
        post = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        post.request("POST", endpoint, body=json.dumps(message), headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        assert post.getresponse().status == 202
        post.close()

    send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
          "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert "result" in sse_answer(stream, 0)
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for id in range(1, calls + 1):
        send({"jsonrpc": "2.0", "id": id, "method": "tools/call",
              "params": {"name": "silverbullet_get_page", "arguments": {"page_name": "Big"}}})
    return conn, stream


def sse_answer(stream, id=1):
    """The JSON-RPC message with `id` read from an SSE response, or None when the stream ends
    (or is cut) first."""
    try:
        while line := stream.readline():
            if line.startswith(b"data: {"):
                message = json.loads(line[len(b"data: "):])
                if message.get("id") == id:
                    return message
    except (http.client.IncompleteRead, ConnectionResetError, json.JSONDecodeError):
        pass
    return None


def test_stalled_sse_streams_share_the_budget_of_unsent_bytes(server_bin):
    """limits.max_unsent_bytes counts what an event stream queues. The event being written was
    counted (one write, charged by the codec), but not the events queued behind it: each
    stream's queue is bounded (limits.sse_write_buffer, plus one event that does not fit), yet
    2048 stalled streams, each with a large answer waiting behind another, held gigabytes no
    budget saw. Here the first stream holds two ~6 MB answers (one being written, one queued),
    and the second stream's answer brings the sum past 16 MiB: the first, stalled longest, is
    closed, and the second reads all of its answer."""
    fake, s = start_with_a_big_page(server_bin, "--set", "limits.max_unsent_bytes=16MiB")
    evicted = 'mcp_connections_evicted_total{reason="unsent_bytes"}'
    try:
        first_conn, first = sse_stream_asking_for_big(s.port, calls=2)
        # Both answers are counted: the one being written and the one queued behind it.
        text = metrics_when(s, lambda t: ops_counter(t, "mcp_unsent_bytes") > 12_000_000)
        assert ops_counter(text, "mcp_unsent_bytes") > 12_000_000
        assert ops_counter(text, evicted) == 0
        second_conn, second = sse_stream_asking_for_big(s.port)
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, evicted) > 0), evicted) == 1
        assert sse_answer(first, 2) is None, "the first, stalled longest, was closed"
        answer = sse_answer(second)
        assert answer is not None, "the second takes all of its answer"
        assert answer["result"]["content"][0]["text"].startswith("line 0000000")
        first_conn.close()
        second_conn.close()
        # Both gone: nothing is counted any more.
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, "mcp_unsent_bytes") == 0), "mcp_unsent_bytes") == 0
    finally:
        if s:
            s.stop()
        fake.shutdown()


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
def test_stalled_readers_share_one_budget_of_unsent_bytes(server_bin, tls):
    """limits.max_unsent_bytes: each connection holds at most one answer, but their sum had
    no bound (hundreds of clients asking for a large answer and never reading held hundreds
    of them). Past the budget the connection that has gone longest without taking any of its
    answer is closed: here the first of two stalled readers, when the second's ~6 MB answer
    brings the sum past 8 MiB; the second then reads all of its answer."""
    fake, s = start_with_a_big_page(server_bin, "--set", "limits.max_unsent_bytes=8MiB", tls=tls)
    try:
        def metrics_once(ready):
            return metrics_when(s, ready)

        with slow_reader_asking_for_big(s.port, tls) as first:
            # Its answer is handed down, most of it still in the server.
            text = metrics_once(lambda t: ops_counter(t, "mcp_unsent_bytes") > 1_000_000)
            assert ops_counter(text, "mcp_unsent_bytes") > 1_000_000
            assert ops_counter(text, "mcp_unsent_bytes_max") == 8 << 20
            assert ops_counter(text, 'mcp_connections_evicted_total{reason="unsent_bytes"}') == 0
            with slow_reader_asking_for_big(s.port, tls) as second:
                evicted = 'mcp_connections_evicted_total{reason="unsent_bytes"}'
                assert ops_counter(metrics_once(lambda t: ops_counter(t, evicted) > 0), evicted) == 1
                length, answer, _ = read_answer(first, seconds=10)
                assert length is not None and len(answer) < length, "the first, stalled longest, was closed"
                length, answer, _ = read_answer(second)
                assert length is not None and length > 6_000_000, answer[:400]
                assert len(answer) == length, f"cut after {len(answer)} of {length} bytes"
        # Both gone: nothing is counted any more.
        assert ops_counter(metrics_once(lambda t: ops_counter(t, "mcp_unsent_bytes") == 0), "mcp_unsent_bytes") == 0
    finally:
        if s:
            s.stop()
        fake.shutdown()


def test_calls_in_flight_share_one_budget_of_request_bytes(server_bin):
    """limits.max_inflight_request_bytes: a call's request stays in memory while the call runs,
    and the in-flight counts alone let 1,024 calls with 4 MiB bodies hold 4.5 GiB. Here calls
    with 3 MiB of `_meta` hang on a Grafana that accepts and never answers: two fit an 8 MiB
    budget, the third is refused (503, retry later: it never ran) and counted; once Grafana
    has answered them, calls fit again."""
    from fake_backends import SilentBackend
    silent = SilentBackend()
    held = silent.held
    s = start_server(server_bin, "--set", "tls.enabled=false", "--set", "limits.max_inflight_request_bytes=8MiB",
                     "--set", f"grafana.url={silent.url}", "--set", "grafana.token=t")
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
            "pad": "x" * (3 << 20)}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "grafana_list_dashboards", "arguments": {}, "_meta": meta}}).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": ACCEPT,
               "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "grafana_list_dashboards"}
    rejected = 'mcp_inflight_calls_rejected_total{reason="request_bytes"}'

    def call():
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.request("POST", "/mcp", body=body, headers=headers)
        return conn

    try:
        first, second = call(), call()
        text = metrics_when(s, lambda t: ops_counter(t, "mcp_inflight_calls") == 2)
        assert ops_counter(text, "mcp_inflight_calls") == 2
        assert 6 << 20 < ops_counter(text, "mcp_inflight_request_bytes") <= 8 << 20
        assert ops_counter(text, "mcp_inflight_request_bytes_max") == 8 << 20
        third = call()
        r = third.getresponse()
        answer = json.loads(r.read())
        assert r.status == 503 and r.getheader("Retry-After"), answer
        assert "request data" in answer["error"]["message"]
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, rejected) > 0), rejected) == 1
        third.close()

        def answer_held(calls=2):
            """Grafana answers `calls` calls once they wait on it (404: each ends with an error)."""
            deadline = time.monotonic() + 10
            while len(held) < calls and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(calls):
                backend = held.pop()
                backend.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                backend.close()
        answer_held()
        assert first.getresponse().status == 200 and second.getresponse().status == 200
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, "mcp_inflight_request_bytes") == 0), "mcp_inflight_request_bytes") == 0
        fourth, fifth = call(), call()
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, "mcp_inflight_calls") == 2), "mcp_inflight_calls") == 2
        assert ops_counter(metrics_when(s, lambda t: True), rejected) == 1, "the budget's bytes came back"
        answer_held()
        for conn in (first, second, fourth, fifth):
            conn.close()
    finally:
        s.stop()
        silent.close()


def test_a_client_that_closes_cancels_a_2026_07_28_call_but_not_a_session_call(server_bin):
    """2026-07-28 streamable-http.mdx "Cancellation": closing the response stream cancels the
    request. A call answered as JSON was not cancelled when its client closed: the server
    keeps a half-closed connection open to answer it, and before it writes, a close looks the
    same as a half-close (a FIN), so the call ran its whole `timeout.http` (30 s) against a
    backend that never answers. The end of input now cancels it, as Go's net/http cancels a
    request's context, and so it does a Go API call; a client that only half-closed gets no
    answer (the connection closed), not a 202 with no body. A session-era call is not cancelled
    (2025-11-25 transports.mdx: "Disconnection SHOULD NOT be interpreted as the client
    cancelling its request"): it runs on until the backend answers."""
    from fake_backends import SilentBackend
    silent = SilentBackend()
    s = start_server(server_bin, "--set", "tls.enabled=false", "--set", f"grafana.url={silent.url}", "--set", "grafana.token=t")
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Accept": ACCEPT}
    cancelled = 'mcp_tool_calls_total{tool="grafana_list_dashboards",outcome="cancelled"}'

    def call(path, headers, params=None):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "grafana_list_dashboards", "arguments": {}}}
        if params:
            body["params"].update(params)
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request("POST", path, body=json.dumps(body), headers={**auth, **headers})
        return conn

    def running(n):
        return ops_counter(metrics_when(s, lambda t: ops_counter(t, "mcp_inflight_calls") == n), "mcp_inflight_calls") == n

    try:
        stateless = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "grafana_list_dashboards"}
        meta = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}
        for path, headers, params in (("/mcp", stateless, meta), ("/api/mcp/v1/call", {}, None)):
            conn = call(path, headers, params)
            assert running(1)
            started = time.monotonic()
            conn.close()
            assert running(0), "the call ran on after its client closed"
            assert time.monotonic() - started < 5
        assert ops_counter(metrics_when(s, lambda t: True), cancelled) == 2
        # A client that only half-closes looks the same: its call is cancelled, and it gets no
        # answer (not a 202 with no body), the connection closed.
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "grafana_list_dashboards", "arguments": {}, **meta}}).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in {**auth, **stateless, "Content-Length": len(body)}.items())
        body_request = f"POST /mcp HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body
        half = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        half.sendall(body_request)
        assert running(1)
        half.shutdown(socket.SHUT_WR)
        assert half.recv(1024) == b"", "a half-closed client was answered"
        half.close()
        assert running(0)
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, cancelled) == 3), cancelled) == 3

        def raw(path, message, headers):
            """One POST's bytes: `message` (a dict) to `path` with `headers`."""
            payload = json.dumps(message).encode()
            fields = "".join(f"{k}: {v}\r\n" for k, v in {**auth, **headers, "Content-Length": len(payload)}.items())
            return f"POST {path} HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode() + payload

        def read_all(sock):
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            return received

        # A notification needs no answer: a half-closed client still gets its 202.
        note = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        note.sendall(raw("/api/mcp/v1/call", {"jsonrpc": "2.0", "method": "notifications/initialized"}, {}))
        note.shutdown(socket.SHUT_WR)
        assert read_all(note).startswith(b"HTTP/1.1 202 ")
        note.close()
        # Pipelined: a tools/list, then a call, then the end of input. The list is answered
        # whole; the call, whose end of input came with it, is cancelled and not answered.
        listing = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": meta}
        piped = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        piped.sendall(raw("/mcp", listing, {**stateless, "Mcp-Method": "tools/list"}) + body_request)
        piped.shutdown(socket.SHUT_WR)
        answers = read_all(piped)
        piped.close()
        assert answers.count(b"HTTP/1.1 ") == 1 and answers.startswith(b"HTTP/1.1 200 "), answers[:300]
        length = int(answers.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
        assert len(answers.split(b"\r\n\r\n", 1)[1]) == length, "the list's answer was cut"
        assert ops_counter(metrics_when(s, lambda t: ops_counter(t, cancelled) == 4), cancelled) == 4
        # A session-era call runs on.
        init = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        init.request("POST", "/mcp", headers=auth, body=json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        r = init.getresponse()
        session_id = r.getheader("Mcp-Session-Id")
        assert r.status == 200 and session_id, r.read()
        r.read()
        session = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
        initialized = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        initialized.request("POST", "/mcp", headers={**auth, **session}, body=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        assert initialized.getresponse().status == 202
        conn = call("/mcp", session)
        assert running(1)
        conn.close()
        time.sleep(1.5)
        assert running(1), "a session-era call was cancelled by its client's close"
        deadline = time.monotonic() + 10
        while len(silent.held) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        backend = silent.held[-1]
        backend.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        assert running(0)
        assert ops_counter(metrics_when(s, lambda t: True), cancelled) == 4
    finally:
        s.stop()
        silent.close()


def test_idle_keepalive_connection_closed_and_counted(server_bin):
    s = start_server(server_bin, "--set", "limits.idle_timeout=1s")
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        conn.request("POST", "/api/mcp/v1/call", body=CALL, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        assert conn.getresponse().read()
        started = time.monotonic()
        try:
            assert conn.sock.recv(1) == b""  # closed by the server, no response bytes
        except (ConnectionResetError, ssl.SSLError):
            pass
        assert 0.5 <= time.monotonic() - started <= 4
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            assert 'mcp_timeouts_total{phase="idle"}' in r.read().decode()
    finally:
        s.stop()


def test_a_large_answer_read_slowly_is_not_cut_at_the_idle_timeout(server_bin):
    """The idle time after a response starts when it is queued: a large answer read slowly
    was cut mid-answer. Here 6 MB, more than the kernel's send buffer takes (4 MiB at most),
    read at about 1.5 MB/s through a 64 KiB receive buffer, against a 2 s idle timeout. Now
    the deadline waits while the client keeps taking the bytes; the keep-alive idle time is
    still enforced once the answer is out (closed, counted)."""
    fake, s = start_with_a_big_page(server_bin, "--set", "limits.idle_timeout=2s")
    try:
        with slow_reader_asking_for_big(s.port) as sock:
            length, answer, took = read_answer(sock, pause=0.04)
            assert length is not None and length > 6_000_000, answer[:400]
            assert len(answer) == length, f"cut after {len(answer)} of {length} bytes, {took:.1f} s"
            assert took > 2.5, "read faster than the idle timeout: the test proves nothing"
            assert json.loads(answer)["result"]["content"][0]["text"].startswith("line 0000000")
            # Then idle: closed at the idle timeout, and counted.
            idle_from = time.monotonic()
            assert sock.recv(1) == b""
            assert time.monotonic() - idle_from < 8
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            assert 'mcp_timeouts_total{phase="idle"} 1' in r.read().decode()
    finally:
        if s:
            s.stop()
        fake.shutdown()


def test_missing_credentials_also_lock_out(server_bin):
    s = start_server(server_bin, "--set", "auth.failure_max=3", "--set", "auth.lockout=2s")
    try:
        for _ in range(3):
            conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, source_address=("127.0.0.6", 0), context=tls_context())
            conn.request("POST", "/api/mcp/v1/call", body=CALL, headers={"Content-Type": "application/json"})
            assert conn.getresponse().status == 401
        r, _ = post(s.port, source="127.0.0.6")
        assert r.status == 429
    finally:
        s.stop()


def test_sub_second_header_deadline_is_honoured(server_bin):
    """Durations below a whole second keep their fraction (1500ms is not truncated to 1 s)."""
    s = start_server(server_bin, "--set", "limits.header_timeout=1500ms")
    try:
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
        started = time.monotonic()
        c.sendall(b"GET /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data = b""
        try:
            while chunk := c.recv(4096):
                data += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
        elapsed = time.monotonic() - started
        # Answered 408 (RFC 9110 §15.5.9) and closed, at the deadline.
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"), data
        assert 1.4 <= elapsed <= 5, elapsed
    finally:
        s.stop()


def test_lingering_close_is_bounded_by_linger_timeout(server_bin):
    """After a refusal the server ends its side, then reads and drops what the client still
    sends for at most limits.linger_timeout (the refusal is not destroyed by a reset), and
    counts the cut-off as mcp_timeouts_total{phase="linger"}. The head deadline (1 s here) is
    cancelled by the refusal: it neither cuts the linger short nor counts a header timeout."""
    s = start_server(server_bin, "--set", "limits.linger_timeout=3s", "--set", "limits.header_timeout=1s")
    try:
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
        started = time.monotonic()
        c.sendall(b"GET /mcp HTTP/1.1\r\n\r\n")  # no Host: 400 (RFC 9112 §3.2)
        assert c.recv(4096).startswith(b"HTTP/1.1 400")
        # Keep sending without reading: the server drops it, until the linger is over and the
        # connection is closed, after which a send fails (reset).
        closed_after = None
        while time.monotonic() - started < 8:
            try:
                c.sendall(b"x" * 100)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                closed_after = time.monotonic() - started
                break
            time.sleep(0.1)
        assert closed_after is not None and 2.8 <= closed_after <= 5, closed_after
        with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert 'mcp_timeouts_total{phase="linger"} 1' in text
        assert 'mcp_timeouts_total{phase="header"}' not in text
        c.close()
    finally:
        s.stop()


def open_sse(port, token):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    c = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
    c.sendall(f"GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"event: endpoint" not in head:
        chunk = c.recv(4096)
        assert chunk, head
        head += chunk
    return c


def read_stream(c, seconds):
    """Reads an SSE response until its last chunk, the connection's close or reset, or `seconds`
    of silence: (data, "ended" | "closed" | "open")."""
    c.settimeout(seconds)
    data = b""
    try:
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = c.recv(4096)
            if not chunk:
                return data, "closed"
            data += chunk
    except (TimeoutError, socket.timeout):
        return data, "open"
    except (ConnectionResetError, ssl.SSLError):
        return data, "closed"
    return data, "ended"


def read_until_ended(c, seconds):
    """Reads an SSE response until its last chunk (the stream ended; the connection may stay)."""
    data, state = read_stream(c, seconds)
    return data, state == "ended"


def stays_open(c, seconds):
    """True when the SSE response on `c` neither ends (last chunk) nor has its connection closed
    or reset by the server within `seconds`; what arrives meanwhile is read and dropped."""
    return read_stream(c, seconds)[1] == "open"


def test_removed_token_loses_its_streams_on_reload(server_bin, tmp_path):
    """A token removed by a reload (SIGHUP) can open nothing new, and its open SSE sessions end
    with a final `revoked` event instead of streaming on; other tokens' sessions stay."""
    import signal
    env = tokens_config(tmp_path, ["leaver", "stayer"])
    s = start_server(server_bin, "--config-dir", str(tmp_path), env=env)
    try:
        leaving, staying = open_sse(s.port, env["TOKEN_LEAVER"]), open_sse(s.port, env["TOKEN_STAYER"])
        (tmp_path / "base.yaml").write_text("auth:\n  tokens:\n    - name: stayer\n      env: TOKEN_STAYER\n")
        s.proc.send_signal(signal.SIGHUP)
        data, ended = read_until_ended(leaving, 10)
        assert ended and b"event: revoked" in data, data
        assert post(s.port, token=env["TOKEN_LEAVER"])[0].status == 401
        assert stays_open(staying, 0.5)
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            assert ops_counter(r.read().decode(), "mcp_sessions_revoked_total") == 1
        leaving.close()
        staying.close()
    finally:
        s.stop()


def mcp_post(port, token, body, session=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": ACCEPT}
    if session:
        headers["Mcp-Session-Id"] = session
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls_context())
    conn.request("POST", "/mcp", body=json.dumps(body).encode(), headers=headers)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def reload_tokens(s, count):
    """Sends SIGHUP and waits until the token reload numbered `count` has been applied."""
    import signal
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{s.ops}/metrics") as r:
            if f'mcp_config_reloads_total{{what="tokens",result="ok"}} {count}' in r.read().decode():
                return
        time.sleep(0.05)
    raise AssertionError("the token reload was not applied")


def test_rotated_secret_under_the_same_name_ends_the_old_secrets_sessions(server_bin, tmp_path):
    """Rotating a token's secret and keeping its name ends the sessions the old secret made,
    with the same `revoked` event as a removal; the new secret gets 404 on the old session
    ids (2025-06-18 basic/transports.mdx "Session Management": a session id the server does
    not know for this client is a 404; security_best_practices.mdx "Session Hijacking": the
    session is bound to who made it). A reload that keeps the secret keeps the sessions."""
    old, new = "old-secret-0123456789abcdef0123456789", "new-secret-0123456789abcdef0123456789"
    secret_file = tmp_path / "rotating.token"
    secret_file.write_text(old)
    (tmp_path / "base.yaml").write_text(f"auth:\n  tokens:\n    - name: rotating\n      file: {secret_file}\n")
    s = start_server(server_bin, "--config-dir", str(tmp_path))
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    try:
        stream = open_sse(s.port, old)
        r = mcp_post(s.port, old, initialize)
        assert r.status == 200
        session = r.getheader("Mcp-Session-Id")
        # The same secret again: nothing ends.
        reload_tokens(s, 1)
        assert mcp_post(s.port, old, ping, session).status == 200
        _, ended = read_until_ended(stream, 0.5)
        assert not ended
        # A new secret under the same name.
        secret_file.write_text(new)
        reload_tokens(s, 2)
        data, ended = read_until_ended(stream, 10)
        assert ended and b"event: revoked" in data, data
        assert mcp_post(s.port, old, ping, session).status == 401
        assert mcp_post(s.port, new, ping, session).status == 404
        r = mcp_post(s.port, new, initialize)
        assert r.status == 200 and r.getheader("Mcp-Session-Id") != session
        with urllib.request.urlopen(f"{s.ops}/metrics") as m:
            assert ops_counter(m.read().decode(), "mcp_sessions_revoked_total") == 2
        stream.close()
    finally:
        s.stop()


def ops_metrics(s):
    with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as r:
        return r.read().decode()


def closed_by_server(sock, seconds):
    """Whether the server closes `sock` (EOF or reset) within `seconds`, with nothing sent."""
    sock.settimeout(seconds)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except (TimeoutError, socket.timeout):
        return False


def ops_counter(text, series):
    """The value of one counter series in a /metrics text; 0 while it has not been created."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return int(float(line.split()[1]))
    return 0


def read_response(sock):
    """Reads one response with a Content-Length body from `sock`: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before a response"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "closed inside a response"
        body += chunk
    assert len(body) == length, "only one response was expected"
    return int(head.split(b" ")[1]), body.decode()


def ops_request_then_partial_head(sock, path):
    """Sends a GET for `path` and, in the same segment, the head of a second request without
    its final CRLF; returns the first one's (status, body). Its answer proves the connection
    was admitted, and from before that answer was sent the server is reading the second head
    (HTTPTypesCodec: a partial head after a response starts the header deadline) until the
    test sends the final CRLF: a slowloris that has sent all but the last byte."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    return read_response(sock)


REFUSED = 'mcp_connections_rejected_total{reason="ops_cap"}'
EVICTED = 'mcp_connections_evicted_total{reason="ops_cap"}'


def test_ops_listener_at_its_cap_evicts_silent_and_trickling_connections(server_bin):
    """server.http_max_connections: a connection that sends nothing, or all of a head but its
    last byte, holds its place only until a new connection needs it. With the cap held by one
    silent and two trickling connections, each of three probes is admitted and answered, and
    one of them is closed to make room, counted as
    mcp_connections_evicted_total{reason="ops_cap"}; none is refused. Else a local process
    holding 64 such connections, each within limits.header_timeout, shuts out the liveness
    probe. (The order, longest waiting first, and that a connection serving a request is
    never evicted and a new one refused only when all are: IdleEvictingCapTests,
    OpsAdmissionTests. Here the server may admit the silent connection after the first
    trickling one has been answered: each accepted connection is set up in its own task.)"""
    s = start_server(server_bin, "--set", "server.http_max_connections=3", "--set", "limits.header_timeout=60s")
    try:
        silent = socket.create_connection(("127.0.0.1", s.ops_port), timeout=10)
        trickling = [socket.create_connection(("127.0.0.1", s.ops_port), timeout=10) for _ in range(2)]
        assert ops_request_then_partial_head(trickling[0], "/health")[0] == 200
        # Answered once the cap is full: counts an eviction of start_server's last /ready
        # connection, had it not been closed yet.
        status, text = ops_request_then_partial_head(trickling[1], "/metrics")
        assert status == 200
        before = ops_counter(text, EVICTED)
        probes = []
        for _ in range(3):
            probe = http.client.HTTPConnection("127.0.0.1", s.ops_port, timeout=10)
            probe.request("GET", "/health")
            r = probe.getresponse()
            assert r.status == 200 and r.read()
            probes.append(probe)
        for sock in [silent, *trickling]:
            assert closed_by_server(sock, 10)
        probes[-1].request("GET", "/metrics")
        text = probes[-1].getresponse().read().decode()
        assert ops_counter(text, EVICTED) - before == 3
        assert REFUSED not in text
        for sock in [silent, *trickling, *probes]:
            sock.close()
    finally:
        s.stop()


def test_ops_listener_at_its_cap_closes_the_longest_idle_connection(server_bin):
    """server.http_max_connections: with the cap held by idle keep-alive connections (each has
    completed a request), a new connection is admitted and answered, and the one idle longest
    is closed by the server, counted as mcp_connections_evicted_total{reason="ops_cap"}, not as
    a refusal: a pod that keeps 64 connections alive cannot shut the liveness probe out."""
    s = start_server(server_bin, "--set", "server.http_max_connections=3")
    try:
        idle = []
        for path in ["/health", "/health", "/metrics"]:
            conn = http.client.HTTPConnection("127.0.0.1", s.ops_port, timeout=10)
            conn.request("GET", path)
            body = conn.getresponse().read()
            idle.append(conn)  # kept open, and idle from before its answer was sent
        # Read once the cap is full: counts an eviction of start_server's last /ready
        # connection, had it not been closed yet.
        before = ops_counter(body.decode(), EVICTED)
        probe = http.client.HTTPConnection("127.0.0.1", s.ops_port, timeout=10)
        probe.request("GET", "/health")
        r = probe.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "healthy"
        assert closed_by_server(idle[0].sock, 10)
        # The same keep-alive connection reads the counters: no other connection is opened.
        probe.request("GET", "/metrics")
        text = probe.getresponse().read().decode()
        assert ops_counter(text, EVICTED) - before == 1
        assert REFUSED not in text
        for conn in idle[1:]:
            conn.request("GET", "/health")
            assert conn.getresponse().status == 200
        for conn in [probe, *idle]:
            conn.close()
    finally:
        s.stop()


def test_ops_listener_has_header_and_idle_deadlines(server_bin):
    """The ops listener closes a connection whose request head is not complete within
    limits.header_timeout (slowloris), and a keep-alive connection idle for limits.idle_timeout,
    counted as mcp_timeouts_total{phase="ops_header"} and {phase="ops_idle"}."""
    s = start_server(server_bin, "--set", "limits.header_timeout=1s", "--set", "limits.idle_timeout=1s")
    try:
        slow = socket.create_connection(("127.0.0.1", s.ops_port), timeout=10)
        started = time.monotonic()
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        slow.settimeout(5)
        assert slow.recv(4096).startswith(b"HTTP/1.1 408 Request Timeout\r\n")  # RFC 9110 §15.5.9
        assert closed_by_server(slow, 5)
        assert 0.9 <= time.monotonic() - started <= 4
        idle = http.client.HTTPConnection("127.0.0.1", s.ops_port, timeout=10)
        idle.request("GET", "/health")
        assert idle.getresponse().read()
        started = time.monotonic()
        assert closed_by_server(idle.sock, 5)
        assert 0.9 <= time.monotonic() - started <= 4
        text = ops_metrics(s)
        assert 'mcp_timeouts_total{phase="ops_header"} 1' in text
        assert 'mcp_timeouts_total{phase="ops_idle"} 1' in text
        assert 'mcp_timeouts_total{phase="header"}' not in text
    finally:
        s.stop()


def test_ops_listener_takes_no_body(server_bin):
    """The ops routes take no body: one is refused with 413 and the connection closed, not
    read (RFC 9110 §15.5.14), counted as mcp_ops_requests_refused_total{reason="body"}."""
    s = start_server(server_bin)
    try:
        with socket.create_connection(("127.0.0.1", s.ops_port), timeout=10) as c:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            answer = c.recv(4096)
            assert answer.startswith(b"HTTP/1.1 413") and b"\r\nConnection: close\r\n" in answer, answer
        with socket.create_connection(("127.0.0.1", s.ops_port), timeout=10) as c:
            c.sendall(b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 413")
        assert health(s.ops_port) == 200
        assert ops_counter(ops_metrics(s), 'mcp_ops_requests_refused_total{reason="body"}') == 2
    finally:
        s.stop()


def test_ops_listener_answers_only_for_its_hosts(server_bin):
    """DNS rebinding: a page on a name the attacker points at 127.0.0.1 is same-origin to the
    browser (no Origin to check) and could read the unauthenticated ops routes; its requests
    carry that name as Host. The ops listener answers for localhost, IP literals and
    server.http_allowed_hosts only, and any other Host gets 421 (RFC 9110 §15.5.20), counted
    as mcp_ops_requests_refused_total{reason="host"}."""
    s = start_server(server_bin, "--set", "server.http_allowed_hosts=[scrape.internal]")
    try:
        def status(host):
            with socket.create_connection(("127.0.0.1", s.ops_port), timeout=10) as c:
                c.sendall(f"GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                return int(read_response(c)[0])
        for host in ("evil.example", "evil.example:9001", "127.0.0.1.evil.example", "localhost.evil.example"):
            assert status(host) == 421, host
        for host in ("127.0.0.1", f"127.0.0.1:{s.ops_port}", "localhost", "LOCALHOST:9001", "[::1]:9001",
                     "scrape.internal", "Scrape.Internal.:9001"):
            assert status(host) == 200, host
        assert ops_counter(ops_metrics(s), 'mcp_ops_requests_refused_total{reason="host"}') == 4
    finally:
        s.stop()


BACKENDS = [arg for b in ("grafana", "portainer", "silverbullet", "vikunja", "prometheus")
            for arg in ("--set", f"{b}.url=http://127.0.0.1:9")]  # tools registered, never called


def stall_reading(port, requests):
    """A TLS client with a 4 KiB receive buffer that pipelines `requests` GETs of the whole
    tool list (about 20 KiB each with every backend's tools) and then reads nothing."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    conn = tls_context().wrap_socket(raw, server_hostname="localhost")
    conn.sendall(b"GET /api/mcp/v1/tools HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n" % TOKEN.encode() * requests)
    return conn


@pytest.mark.parametrize("send_timeout", ["2s", "0"])
def test_send_timeout_closes_a_client_that_stopped_reading(server_bin, send_timeout):
    """limits.send_timeout is TCP_USER_TIMEOUT (Linux tcp(7); RFC 5482) on the listening socket,
    which each accepted connection inherits: data the client leaves unacknowledged that long,
    its window shut, ends the connection, counted as mcp_timeouts_total{phase="send"}. It is
    what frees an SSE stream whose client vanished, which the kernel would otherwise keep
    retransmitting to for 15 minutes or more. Here the client asks for about 8 MB and reads
    nothing; the idle timeout, which also bounds a pipelined request waiting for the client
    to read, is 5 minutes, so only the send timeout can close it within the 20 s watched.
    With send_timeout 0 (off) the connection is still open after 8 s: the control."""
    s = start_server(server_bin, "--set", f"limits.send_timeout={send_timeout}", "--set", "limits.idle_timeout=5m",
                     "--set", "limits.request_rate=0", *BACKENDS)
    try:
        conn = stall_reading(s.port, 400)
        deadline = time.monotonic() + (20 if send_timeout != "0" else 8)
        fired, active = 0, 1
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as r:
                text = r.read().decode()
            fired = ops_counter(text, 'mcp_timeouts_total{phase="send"}')
            active = float(next(l.split()[1] for l in text.splitlines() if l.startswith("mcp_connections_active ")))
            if fired:
                break
        if send_timeout == "0":
            assert fired == 0 and active == 1
        else:
            assert fired == 1 and active == 0, (fired, active)
            assert ops_counter(text, 'mcp_timeouts_total{phase="idle"}') == 0
        conn.close()
    finally:
        s.stop()


def test_an_ops_client_that_never_reads_is_not_answered_without_bound(server_bin):
    """A client that sends requests one at a time on the plaintext ops port and never reads the
    answers: each was started as it came, and NIO queued the answers without bound (no TLS
    handler stops reading there). The next request now waits until the client has taken the
    answers before it, and reading stops, so the server's memory stays flat."""
    s = start_server(server_bin)
    request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{s.ops_port}\r\n\r\n".encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(("127.0.0.1", s.ops_port))
        with urllib.request.urlopen(f"http://127.0.0.1:{s.ops_port}/metrics", timeout=5) as r:
            answer = len(r.read())
        before = rss_kib(s.proc.pid)
        sock.settimeout(0.2)
        # One at a time, each after the answer before it was made (requests that arrive
        # together were always held): 3,000 answers of ~6 KB, some 18 MB if queued.
        sent, deadline = 0, time.monotonic() + 10
        while sent < 3000 and time.monotonic() < deadline:
            try:
                sock.sendall(request)
                sent += 1
            except (socket.timeout, BlockingIOError):
                pass  # the buffers are full: the server stopped reading
            except OSError:
                break  # closed at the idle deadline
            time.sleep(0.002)
        time.sleep(0.5)
        grown = rss_kib(s.proc.pid) - before
        assert grown < 6 * 1024, f"RSS grew {grown} KiB after {sent} requests of {answer}-byte answers, none read"
    finally:
        sock.close()
        s.stop()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_legacy_batches_past_the_sessions_announcements_are_refused(server_bin):
    """2025-11-25 basic/utilities/cancellation.mdx: a cancel must reach a request the server
    has accepted. A legacy SSE session takes requests, 202, before they start, and keeps each
    for a cancel until it starts; at max_inflight_per_token + max_batch waiting (2 + 4 here) it
    refuses a POST whose requests would not all fit (429 + Retry-After), where it used to accept it and
    leave the requests past the cap beyond the client's reach (run and answered though
    cancelled)."""
    import re
    import fake_backends as fb
    grafana = fb.start_fake_grafana_backend()
    grafana.delay = 2.0
    s = start_server(server_bin, "--set", f"grafana.url={grafana.url}", "--set", f"grafana.token={fb.GRAFANA_TOKEN}",
                     "--set", "server.max_batch=4", "--set", "limits.max_inflight_per_token=2")
    try:
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        stream = tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
        stream.sendall(f"GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n".encode())
        head = b""
        while not re.search(rb"sessionId=([^\s]+)\n", head):
            chunk = stream.recv(4096)
            assert chunk, head
            head += chunk
        path = "/messages?sessionId=" + re.search(rb"sessionId=([^\s]+)\n", head).group(1).decode()
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        assert post(s.port, path=path, body=json.dumps(init).encode())[0].status == 202
        done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert post(s.port, path=path, body=json.dumps(done).encode())[0].status == 202

        def batch(ids):
            return json.dumps([{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                "params": {"name": "grafana_get_health", "arguments": {}}} for i in ids]).encode()

        # The batch's calls run one after another, each 2 s: the first starts, three wait.
        assert post(s.port, path=path, body=batch([1, 2, 3, 4]))[0].status == 202
        time.sleep(0.5)
        r, body = post(s.port, path=path, body=batch([5, 6, 7, 8]))
        assert r.status == 429 and r.getheader("Retry-After") == "1", (r.status, body)
        assert json.loads(body)["error"]["code"] == -32000 and b"waiting on this session" in body
        assert post(s.port, path=path, body=batch([5, 6, 7]))[0].status == 202, "six waiting fit"
        # An id already in use on the session, or twice in one batch, is refused whole (400,
        # -32600; basic/index.mdx "Requests": ids MUST NOT be reused within a session): one
        # announcement stood for them all, so repeated ids slipped past the cap.
        for ids in ([5], [9, 9]):
            r, body = post(s.port, path=path, body=batch(ids))
            assert r.status == 400 and json.loads(body)["error"]["code"] == -32600 and b"already in use" in body, (r.status, body)
        with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as m:
            assert ops_counter(m.read().decode(), 'mcp_inflight_calls_rejected_total{reason="per_session"}') == 1
        stream.close()
    finally:
        s.stop()
        grafana.server.shutdown()


def test_listen_backlog_is_set_on_both_listeners(server_bin):
    """limits.listen_backlog is the listen(2) backlog of the public and the ops listener
    (the kernel shows it as a listening socket's Send-Q); it was a fixed 256."""
    s = start_server(server_bin, "--set", "limits.listen_backlog=17")
    try:
        for port in (s.port, s.ops_port):
            out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
            assert out.split()[2] == "17", out
    finally:
        s.stop()



def body_held(port, tls, chunked, length, sent):
    """A connection (plaintext unless `tls`) that POSTs /api/mcp/v1/call with a body of
    `length` bytes (spaces, then CALL: leading white space is valid JSON), declared in
    Content-Length or sent `chunked`; it sends the head and then, apart, the body's first
    `sent` bytes, and stops. Returns the socket and a function that sends `count` more bytes
    (the body's last ones end with CALL, and end the chunked body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        sock = tls_context().wrap_socket(sock, server_hostname="127.0.0.1")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    sock.sendall(f"POST /api/mcp/v1/call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                 f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode())
    time.sleep(0.05)  # the head alone first: the body does not come with it
    body, at = b" " * (length - len(CALL)) + CALL, 0

    def send(count):
        nonlocal at
        part, at = body[at:at + count], at + count
        if chunked:
            part = b"%x\r\n" % len(part) + part + b"\r\n" + (b"0\r\n\r\n" if at >= length else b"")
        sock.sendall(part)
    send(sent)
    return sock, send


@pytest.mark.parametrize("tls,chunked", [(False, False), (True, False), (False, True)],
                         ids=["plaintext", "tls", "chunked"])
def test_stalled_bodies_share_one_budget_of_buffered_bytes(server_bin, tls, chunked):
    """limits.max_buffered_body_bytes: each request body is capped (server.max_body), but
    their sum was not: 4,096 connections could each hold 4 MiB less a byte for body_timeout.
    A body counts as the buffer holding it (a power of two: 512 KiB for 256 KiB and a byte,
    a size whose last byte alone brings the buffer to 512 KiB, so the gauge shows it all read). Past the
    budget the connection whose body has gone longest without progress is closed: here the
    second of two, as the first, which started earlier, sent more (its growth passes the
    budget); the first then sends the rest and is answered."""
    s = start_server(server_bin, "--set", f"tls.enabled={'true' if tls else 'false'}",
                     "--set", "server.max_body=600KiB", "--set", "limits.max_buffered_body_bytes=1MiB")
    try:
        def metrics_once(ready, seconds=10):
            """The /metrics text once `ready(text)` holds (polled, bounded)."""
            deadline = time.monotonic() + seconds
            while True:
                text = ops_metrics(s)
                if ready(text) or time.monotonic() > deadline:
                    return text
                time.sleep(0.1)

        held, evicted = "mcp_buffered_body_bytes", 'mcp_connections_evicted_total{reason="body_bytes"}'
        length, sent = 600_000, (256 << 10) + 1
        first, send_first = body_held(s.port, tls, chunked, length, sent)
        text = metrics_once(lambda t: ops_counter(t, held) >= 512 << 10)
        assert ops_counter(text, held) == 512 << 10, "256 KiB and a byte held in a 512 KiB buffer"
        assert ops_counter(text, "mcp_buffered_body_bytes_max") == 1 << 20
        second, _ = body_held(s.port, tls, chunked, length, sent)
        text = metrics_once(lambda t: ops_counter(t, held) >= 1 << 20)
        assert ops_counter(text, held) == 1 << 20, "both, the budget exactly: nobody closed"
        assert ops_counter(text, evicted) == 0
        # The first grows past 512 KiB (a 1 MiB buffer): the second, stalled longest, goes.
        send_first(300_000)
        assert ops_counter(metrics_once(lambda t: ops_counter(t, evicted) > 0), evicted) == 1
        assert closed_by_server(second, 5), "the body stalled longest was closed"
        # The first sends the rest of its body and is answered.
        send_first(length)
        status, answer = read_response(first)
        assert status == 200 and '"tools"' in answer, (status, answer[:300])
        assert ops_counter(ops_metrics(s), evicted) == 1
        first.close()
        assert ops_counter(metrics_once(lambda t: ops_counter(t, held) == 0), held) == 0
    finally:
        s.stop()
