"""SSE at scale over TLS (issue 4, "Done when"): 1,000 concurrent streams with pings flowing
within a stated memory budget, and a reader that stops reading is cut off.

Clauses: reference/mcp-spec/2024-11-05/basic/transports.mdx "HTTP with SSE" (the `endpoint`
event comes first on the stream); WHATWG HTML §9.2.6 (lines starting with ":" are comments,
used here as keep-alive pings); DESIGN.md principle 2 (a slow reader cannot grow memory).

Budget: the issue's target, <= 32 KiB RSS per open stream including its TLS connection
(SSE_SCALE_BUDGET_KIB overrides it). Measured 2026-11-30 at 1,000 streams: 28.6 KiB (debug
build), 28.1 KiB (release, bench/http/rss_split.sh); RSS noise is a few tenths of a KiB at
this count. Before the handler-driven request path (one task per connection reading an
NIOAsyncChannel, RequestDispatcher's doc) it was 36 KiB, and 47.5 KiB before SSE bodies got
a task of their own. The figure is printed (run pytest with -s to see it).
"""
import asyncio
import json
import os
import re
import socket
import ssl
import time
import urllib.request
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("scale tests run once, in the mcp 2.x environment", allow_module_level=True)

from conftest import TOKEN, start_server, tls_context  # noqa: E402

STREAMS = int(os.environ.get("SSE_SCALE_STREAMS", "1000"))
BUDGET_KIB_PER_STREAM = float(os.environ.get("SSE_SCALE_BUDGET_KIB", "32"))
CONNECT_CONCURRENCY = 64  # below limits.max_handshakes (256) and the raised per-IP cap: no handshake is refused

# Caps lifted so that 1,000 streams from one token and one address are admitted.
SCALE_FLAGS = [
    "--set", "server.sse_ping_interval=1s",
    "--set", "limits.max_connections=8192", "--set", "limits.max_connections_per_ip=4096",
    "--set", "limits.connection_rate_per_ip=0", "--set", "limits.connection_rate_global=0",
    "--set", "limits.max_handshakes_per_ip=256",
    "--set", "limits.max_sse_streams=4096", "--set", "limits.max_sse_streams_per_token=4096",
    "--set", "limits.max_sessions=8192", "--set", "limits.max_sessions_per_token=8192",
    "--set", "log.level=warning",
]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(ops, name):
    """Sum of every sample of a Prometheus metric on the ops listener (0 when absent)."""
    with urllib.request.urlopen(f"{ops}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_fds_back(pid, baseline, slack=4, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if open_fds(pid) <= baseline + slack:
            return open_fds(pid)
        time.sleep(0.1)
    return open_fds(pid)


GET_SSE = (f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
           "Accept: text/event-stream\r\n\r\n").encode()


class Stream:
    """One SSE stream held by an asyncio task: counts the endpoint event and pings."""

    def __init__(self):
        self.endpoint = False
        self.pings = 0
        self.error = None
        self.writer = None


async def hold_stream(port, context, stream, gate, stop):
    tail = b""
    try:
        async with gate:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 20)
            stream.writer = writer
            writer.write(GET_SSE)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            if not head.startswith(b"HTTP/1.1 200"):
                raise AssertionError(head.split(b"\r\n", 1)[0])
        while not stop.is_set():
            chunk = await reader.read(4096)
            if not chunk:
                raise AssertionError("server closed the stream")
            data = tail + chunk
            if b"event: endpoint\n" in data:
                stream.endpoint = True
            # Pings are whole SSE comment lines (": ping"); the 7-byte tail avoids double
            # counting across reads and keeps a ping split between reads visible.
            stream.pings += len(re.findall(rb"(?m)^: ping$", data)) - len(re.findall(rb"(?m)^: ping$", tail))
            tail = data[-7:]
    except asyncio.CancelledError:
        pass
    except Exception as error:  # noqa: BLE001 - recorded per stream, asserted below
        stream.error = repr(error)


async def run_streams(server, count):
    context = tls_context()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    stop = asyncio.Event()
    streams = [Stream() for _ in range(count)]
    tasks = [asyncio.create_task(hold_stream(server.port, context, s, gate, stop)) for s in streams]
    figures = {}
    try:
        # All connected, each with its endpoint event and a ping (interval 1 s): bounded.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            failed = [s.error for s in streams if s.error]
            if failed:
                break
            if all(s.endpoint and s.pings >= 1 for s in streams):
                break
            await asyncio.sleep(0.25)
        # Let a few more pings flow so every stream is in its steady state, then measure.
        await asyncio.sleep(2)
        figures["rss_open"] = rss_kib(server.proc.pid)
        figures["fds_open"] = open_fds(server.proc.pid)
        figures["pings_min"] = min(s.pings for s in streams)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in streams:
            if s.writer is not None:
                s.writer.transport.abort()
        await asyncio.sleep(0.1)
    return streams, figures


def test_thousand_sse_streams_with_pings_within_memory_budget(server_bin):
    s = start_server(server_bin, *SCALE_FLAGS)
    try:
        pid = s.proc.pid
        # Warm up: the first streams page in code and grow allocator pools; that one-off
        # cost is not a per-stream cost.
        fds_start = open_fds(pid)
        asyncio.run(run_streams(s, 32))
        fds_before = wait_fds_back(pid, fds_start, seconds=10)
        time.sleep(0.5)
        rss_before = rss_kib(pid)

        started = time.monotonic()
        streams, figures = asyncio.run(run_streams(s, STREAMS))
        elapsed = time.monotonic() - started

        errors = [x.error for x in streams if x.error]
        assert not errors, f"{len(errors)} streams failed, first: {errors[0]}"
        assert all(x.endpoint for x in streams), "a stream got no endpoint event"
        assert figures["pings_min"] >= 1, "a stream got no ping"
        assert figures["fds_open"] >= fds_before + STREAMS

        per_stream = (figures["rss_open"] - rss_before) / STREAMS
        print(f"\nSSE scale: {STREAMS} streams over TLS in {elapsed:.1f}s; RSS {rss_before} -> "
              f"{figures['rss_open']} KiB = {per_stream:.1f} KiB per stream (budget {BUDGET_KIB_PER_STREAM}); "
              f"min pings per stream {figures['pings_min']}")
        assert per_stream <= BUDGET_KIB_PER_STREAM

        # Every stream's connection and session is released again.
        assert wait_fds_back(pid, fds_before) <= fds_before + 4
        with urllib.request.urlopen(f"{s.ops}/health", timeout=5) as r:
            assert r.status == 200
    finally:
        s.stop()


def post_batch(conn, path, body):
    conn.request("POST", path, body=body, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status


def open_legacy_stream(port, receive_buffer):
    """GET /sse over TLS with a receive buffer of `receive_buffer` bytes (set before
    connecting, so the TCP window stays small); returns the socket, the session id of the
    `endpoint` event, and what was read up to it."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    stream = tls_context().wrap_socket(raw, server_hostname="localhost")
    stream.sendall(GET_SSE)
    seen = b""
    deadline = time.monotonic() + 10
    while b"event: endpoint\n" not in seen or not re.search(rb"sessionId=[^\s]+\n", seen):
        assert time.monotonic() < deadline, "no endpoint event"
        seen += stream.recv(4096)
    return stream, re.search(rb"sessionId=([^\s]+)\n", seen).group(1).decode(), seen


def test_reader_that_stops_reading_is_cut_off(server_bin):
    import http.client
    # The request rate is off: each batch below counts as its 60 messages against it.
    s = start_server(server_bin, "--set", "limits.sse_write_buffer=16KiB", "--set", "limits.request_rate=0",
                     "--set", "server.sse_ping_interval=50ms", "--set", "log.level=warning")
    try:
        pid = s.proc.pid
        fds_before = open_fds(pid)
        before = metric(s.ops, "mcp_sse_slow_reader_disconnects_total")

        # A small receive buffer means the kernel absorbs little of what the server sends
        # once we stop reading.
        stalled, session, _ = open_legacy_stream(s.port, 4096)
        fds_stream = open_fds(pid)
        # From here on the client reads nothing.

        # Make the server produce events fast: each POST is a batch of 60 pings (the server
        # takes at most 64 per batch) whose answer, one ~2 KiB `message` event (well below
        # the 16 KiB cap on its own), goes to the stalled stream. The loop ends once the
        # server counts the slow reader (or the session is gone), bounded in count and time.
        batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(60)]).encode()
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        statuses = []
        deadline = time.monotonic() + 20
        posts, cut = 0, False
        while time.monotonic() < deadline and posts < 4000 and not cut:
            status = post_batch(conn, f"/messages?sessionId={session}", batch)
            posts += 1
            statuses.append(status)
            cut = status == 404 or (posts % 25 == 0 and metric(s.ops, "mcp_sse_slow_reader_disconnects_total") > before)
        conn.close()
        assert statuses[0] == 202
        assert metric(s.ops, "mcp_sse_slow_reader_disconnects_total") >= before + 1, \
            f"stream not cut off after {posts} posts of {len(batch)} bytes"

        # The server closes the connection by itself, while the client still reads nothing:
        # its descriptor goes away (reading first would unblock the server's writes).
        assert wait_fds_back(pid, fds_stream - 1, slack=0, seconds=10) <= fds_stream - 1, \
            "the server kept the stalled connection open"

        # The connection really is closed: draining what the kernel holds ends in EOF or reset.
        drained, closed = 0, False
        deadline = time.monotonic() + 10
        stalled.settimeout(2)
        try:
            while time.monotonic() < deadline:
                chunk = stalled.recv(65536)
                if not chunk:
                    closed = True
                    break
                drained += len(chunk)
        except TimeoutError:
            pass  # still open: asserted below
        except (ConnectionResetError, ssl.SSLError, OSError):
            closed = True
        stalled.close()
        print(f"\nslow reader: cut off after {posts} batch posts; {drained} bytes were still buffered for it")
        assert closed, f"connection still open 10 s after the overflow ({drained} bytes drained)"
        # The session went with its stream.
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        assert post_batch(conn, f"/messages?sessionId={session}", batch) == 404
        conn.close()
        assert wait_fds_back(pid, fds_before) <= fds_before + 4
    finally:
        s.stop()


def test_two_large_answers_reach_a_reader_that_keeps_up(server_bin):
    """Two large tool results on one legacy SSE stream, the second ready while the first is
    still being written to a client that reads it (slowly, through a small window). The queue
    holds limits.sse_write_buffer bytes of events and one event that does not fit besides
    them: both arrive, and the reader is not counted as slow. Until 2026-12-05 the second
    answer cut the stream (mcp_sse_slow_reader_disconnects_total)."""
    import http.client
    import fake_backends as fb
    fake = fb.start_fake_silverbullet()
    s = None
    try:
        # Each answer larger than the kernel's send buffer takes (4 MiB at most): else the first
        # is written at once, and the second finds the stream idle.
        fb.put_long_page(fake, "Big", 180_000)  # about 4.9 MB
        s = start_server(server_bin, "--set", f"silverbullet.url={fake.url}", "--set", "tools.max_result_bytes=8MiB",
                         "--set", "log.level=warning", env={"APP_SILVERBULLET__TOKEN": fb.SILVERBULLET_TOKEN})
        before = metric(s.ops, "mcp_sse_slow_reader_disconnects_total")
        stream, session, seen = open_legacy_stream(s.port, 65536)
        initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                      "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        calls = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                  "params": {"name": "silverbullet_get_page", "arguments": {"page_name": "Big"}}} for i in (1, 2)]
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        # Two POSTs, not a batch: a batch is answered in one event.
        for body in (initialize, {"jsonrpc": "2.0", "method": "notifications/initialized"}, *calls):
            assert post_batch(conn, f"/messages?sessionId={session}", json.dumps(body).encode()) == 202
        conn.close()
        # Read slowly: about 3 MB/s, so the first answer is still going out when the second
        # is ready. The body is chunked: its chunks are taken apart before the events.
        raw_body, events, ids = seen[seen.index(b"\r\n\r\n") + 4:], b"", set()
        deadline = time.monotonic() + 30
        while len(ids) < 2 and time.monotonic() < deadline:
            chunk = stream.recv(65536)
            if not chunk:
                break
            raw_body += chunk
            time.sleep(0.02)
            while (line_end := raw_body.find(b"\r\n")) >= 0:
                size = int(raw_body[:line_end], 16)
                if len(raw_body) < line_end + 2 + size + 2:
                    break
                events += raw_body[line_end + 2:line_end + 2 + size]
                raw_body = raw_body[line_end + 2 + size + 2:]
            *complete, events = events.split(b"\n\n")
            for event in complete:
                if event.startswith(b"event: message\ndata: ") and b'"result"' in event:
                    message = json.loads(event[len(b"event: message\ndata: "):])
                    if message["id"] in (1, 2):
                        assert message["result"]["content"][0]["text"].startswith("line 0000000"), event[:300]
                        ids.add(message["id"])
        stream.close()
        assert ids == {1, 2}, f"answers received: {sorted(ids)}"
        assert metric(s.ops, "mcp_sse_slow_reader_disconnects_total") == before
    finally:
        if s:
            s.stop()
        fake.shutdown()
