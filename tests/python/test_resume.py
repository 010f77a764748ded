"""Resumability (2025-11-25 basic/transports.mdx "Resumability and Redelivery"), on with
`server.resumability: true`: a priming event with an id and `retry`, a dropped POST stream
does not cancel its request, and a GET with Last-Event-ID replays what followed on that
stream only, then ends with the response."""
import http.client
import json
import time
import urllib.request
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("runs once, in the mcp 2.x environment", allow_module_level=True)

from conftest import TOKEN, start_server, tls_context  # noqa: E402
from fake_backends import GRAFANA_TOKEN, start_fake_grafana_backend  # noqa: E402

ACCEPT = "application/json, text/event-stream"


def connect(port):
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=tls_context())


def headers(sid=None, **extra):
    h = {"Authorization": f"Bearer {TOKEN}", "Accept": ACCEPT, "Content-Type": "application/json"}
    if sid:
        h.update({"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"})
    h.update(extra)
    return h


def read_event(resp):
    event = {}
    while True:
        line = resp.readline().decode()
        if line == "":
            return event or None
        line = line.rstrip("\r\n")
        if line == "":
            if event:
                return event
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        event[key] = value[1:] if value.startswith(" ") else value


def open_session(conn, version="2025-11-25"):
    """initialize and notifications/initialized on `conn`; returns the session id."""
    conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                             "params": {"protocolVersion": version, "capabilities": {}}}), headers())
    r = conn.getresponse()
    sid = r.getheader("Mcp-Session-Id")
    r.read()
    conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                 headers(sid, **{"MCP-Protocol-Version": version}))
    assert conn.getresponse().read() == b""
    return sid


@pytest.fixture
def resumable_server(server_bin):
    grafana = start_fake_grafana_backend()
    s = start_server(server_bin, "--set", "server.resumability=true", "--set", "server.response_mode=sse",
                     "--set", f"grafana.url={grafana.url}", env={"APP_GRAFANA__TOKEN": GRAFANA_TOKEN})
    yield s, grafana
    s.stop()
    grafana.shutdown()


def test_dropped_stream_is_resumed_with_last_event_id(resumable_server):
    s, grafana = resumable_server
    conn = connect(s.port)
    sid = open_session(conn)
    conn.close()

    grafana.delay = 1.5  # the backend answers after the client has gone
    call = connect(s.port)
    call.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                             "params": {"name": "grafana_get_health", "arguments": {}}}), headers(sid))
    resp = call.getresponse()
    assert resp.getheader("Content-Type") == "text/event-stream"
    priming = read_event(resp)
    assert priming["data"] == "" and priming["retry"] == "1000" and priming["id"].endswith("-1")
    call.close()  # the connection drops before the answer

    time.sleep(2.0)
    resume = connect(s.port)
    resume.request("GET", "/mcp", headers=headers(sid, **{"Last-Event-ID": priming["id"], "Accept": "text/event-stream"}))
    r = resume.getresponse()
    assert r.status == 200
    message = read_event(r)
    assert message["event"] == "message"
    body = json.loads(message["data"])
    assert body["id"] == 7 and body["result"]["isError"] is False  # the request was not cancelled
    assert read_event(r) is None  # the stream ends after the response
    resume.close()

    # An id from no stream of this session is refused with 400, not 404: a client MUST start
    # a new session on 404 (transports.mdx "Session Management"), and the session is fine.
    bad = connect(s.port)
    bad.request("GET", "/mcp", headers=headers(sid, **{"Last-Event-ID": "99-1", "Accept": "text/event-stream"}))
    r = bad.getresponse()
    assert r.status == 400
    r.read()
    bad.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 8, "method": "ping"}), headers(sid))
    r = bad.getresponse()
    assert r.status == 200
    r.read()
    # An unsupported MCP-Protocol-Version is a 400 on GET and DELETE too ("Protocol Version Header").
    for method in ("GET", "DELETE"):
        bad.request(method, "/mcp", headers=headers(sid, **{"MCP-Protocol-Version": "1999-01-01", "Accept": "text/event-stream"}))
        r = bad.getresponse()
        assert r.status == 400, method
        r.read()


def test_no_priming_event_before_2025_11_25(resumable_server):
    # The priming event (an id and empty data) is 2025-11-25's; a 2025-03-26 client expects
    # only JSON-RPC messages on the stream.
    s, _ = resumable_server
    conn = connect(s.port)
    sid = open_session(conn, "2025-03-26")
    h = headers(sid, **{"MCP-Protocol-Version": "2025-03-26"})
    conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}), h)
    resp = conn.getresponse()
    assert resp.getheader("Content-Type") == "text/event-stream"
    first = read_event(resp)
    assert first["event"] == "message" and json.loads(first["data"])["id"] == 2
    assert first["id"].endswith("-1")  # still resumable: the message has the stream's first id
    conn.close()


@pytest.mark.anyio
async def test_sdk_client_works_with_resumable_streams(resumable_server):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    s, _ = resumable_server
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, verify=tls_context()) as http:
        async with Client(streamable_http_client(f"{s.base}/mcp", http_client=http), mode="legacy") as client:
            result = await client.call_tool("grafana_get_health", {})
            assert result.is_error is False


def test_delete_during_a_call_answers_it_404_and_ends_the_listening_stream(server_bin):
    # 2025-11-25 transports.mdx "Session Management": after termination the server MUST answer
    # requests with the session's id with 404. A call running when the DELETE came used to
    # get 202 with no body, and a resumable GET stream went on with pings for ever.
    grafana = start_fake_grafana_backend()
    s = start_server(server_bin, "--set", "server.resumability=true", "--set", "server.response_mode=json",
                     "--set", f"grafana.url={grafana.url}", env={"APP_GRAFANA__TOKEN": GRAFANA_TOKEN})
    try:
        conn = connect(s.port)
        sid = open_session(conn)

        listen = connect(s.port)
        listen.request("GET", "/mcp", headers=headers(sid, Accept="text/event-stream"))
        stream = listen.getresponse()
        assert stream.status == 200
        assert read_event(stream)["data"] == ""  # the priming event

        grafana.delay = 1.5
        call = connect(s.port)
        call.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                                 "params": {"name": "grafana_get_health", "arguments": {}}}), headers(sid))
        time.sleep(0.3)
        conn.request("DELETE", "/mcp", headers=headers(sid))
        r = conn.getresponse()
        assert r.status == 204
        r.read()
        r = call.getresponse()
        assert r.status == 404, r.status
        r.read()
        listen.sock.settimeout(5)
        assert read_event(stream) is None  # the listening stream ended with the session
    finally:
        s.stop()
        grafana.shutdown()


def test_open_streams_are_capped_per_session_and_all_end_with_it(server_bin):
    # A session remembers server.replay_max_streams streams, and never forgets one a
    # connection carries: forgotten, it would outlive the session's DELETE (which ends the
    # streams it knows). So with all of them open a new one is refused, 429 and counted.
    s = start_server(server_bin, "--set", "server.resumability=true", "--set", "server.replay_max_streams=2")
    try:
        conn = connect(s.port)
        sid = open_session(conn)
        listeners = []
        for _ in range(2):
            c = connect(s.port)
            c.request("GET", "/mcp", headers=headers(sid, Accept="text/event-stream"))
            r = c.getresponse()
            assert r.status == 200
            assert read_event(r)["data"] == ""  # the priming event
            listeners.append((c, r))
        c = connect(s.port)
        c.request("GET", "/mcp", headers=headers(sid, Accept="text/event-stream"))
        r = c.getresponse()
        assert r.status == 429
        assert r.getheader("Retry-After") == "1"
        assert json.loads(r.read())["error"]["message"] == "Too many open streams for this session"
        with urllib.request.urlopen(f"{s.ops}/metrics", timeout=5) as m:
            assert 'mcp_sse_streams_rejected_total{reason="per_session"} 1' in m.read().decode()

        conn.request("DELETE", "/mcp", headers=headers(sid))
        r = conn.getresponse()
        assert r.status == 204
        r.read()
        for c, stream in listeners:
            c.sock.settimeout(5)
            assert read_event(stream) is None  # every open stream ended with the session
    finally:
        s.stop()
