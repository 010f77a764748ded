"""stdio transport against the official Python SDK 2.x client (PyPI `mcp` 2.x).

Spec: 2025-11-25 basic/transports.mdx "stdio"; 2026-07-28 basic/transports/stdio.mdx
"Backward Compatibility" (the 2.x client probes `server/discover` first in its default mode).
"""
import pytest

mcp = pytest.importorskip("mcp")
from importlib.metadata import version
if not version("mcp").startswith("2."):
    pytest.skip("needs mcp 2.x", allow_module_level=True)

from mcp import Client, StdioServerParameters  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:ping is removed")]


def params(server_bin, *extra):
    return StdioServerParameters(command=server_bin, args=["--stdio", *extra])


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_list_call_ping(server_bin, mode):
    async with Client(params(server_bin), mode=mode) as client:
        if mode == "auto":
            # The probe succeeded: the client speaks the stateless 2026-07-28 revision.
            assert client.session.protocol_version == "2026-07-28"
        else:
            assert client.session.protocol_version == "2025-11-25"
        tools = await client.list_tools(cache_mode="refresh") if mode == "auto" else await client.list_tools()
        names = [t.name for t in tools.tools]
        assert "server_status" in names
        status = next(t for t in tools.tools if t.name == "server_status")
        assert status.annotations.read_only_hint is True
        result = await client.call_tool("server_status", {})
        assert result.is_error is False
        assert result.structured_content["name"] == "axinova-mcp-server"
        assert "2025-11-25" in result.structured_content["protocol_versions"]
        if mode == "legacy":
            # ping exists in the session era only (removed in 2026-07-28, changelog §5).
            await client.send_ping()


async def test_unknown_tool_is_protocol_error(server_bin):
    # 2025-11-25 server/tools.mdx "Error Handling": unknown tool -> JSON-RPC error -32602.
    from mcp.shared.exceptions import MCPError

    async with Client(params(server_bin), mode="legacy") as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("no_such_tool", {})
        assert info.value.error.code == -32602


async def test_bad_arguments_are_tool_errors(server_bin):
    # Argument validation failures are results with isError: true, naming the argument.
    async with Client(params(server_bin), mode="legacy") as client:
        result = await client.call_tool("server_status", {"bogus": 1})
        assert result.is_error is True
        assert "bogus" in result.content[0].text


# Raw stdio, line by line: what a client SDK would not send, or how it would not behave.

import json  # noqa: E402
import select  # noqa: E402
import subprocess  # noqa: E402


class RawStdio:
    """The server run with --stdio, driven one JSON line at a time."""

    def __init__(self, server_bin, *extra):
        # Unbuffered: `receive` waits with select on the descriptor, which cannot see lines a
        # buffered reader already took in with an earlier one (two answers close together).
        self.proc = subprocess.Popen([server_bin, "--stdio", *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def send(self, message):
        text = message if isinstance(message, str) else json.dumps(message)
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout=10):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"no answer within {timeout} s"
        return json.loads(self.proc.stdout.readline())

    def initialize(self, version="2025-11-25", expect=None):
        self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
        assert self.receive()["result"]["protocolVersion"] == (expect or version)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self, timeout=10):
        self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)


def test_client_closing_stdout_ends_the_server_cleanly(server_bin):
    """A client that stops reading (closes its end of the server's stdout) must not kill the
    server with SIGPIPE: the next answer fails with EPIPE, the session ends, and the process
    exits 0 (2025-11-25 basic/lifecycle.mdx "Shutdown", stdio: the client closes the streams)."""
    raw = RawStdio(server_bin)
    raw.initialize()
    raw.proc.stdout.close()
    raw.send({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    try:
        raw.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
    except BrokenPipeError:
        pass  # the server already ended, as it should
    try:
        code = raw.close()
    except BrokenPipeError:
        code = raw.proc.wait(timeout=10)
    assert code == 0


@pytest.mark.parametrize("version,allowed", [("2025-03-26", True), ("2025-06-18", False), ("2025-11-25", False)])
def test_batches_follow_the_negotiated_revision(server_bin, version, allowed):
    """2025-03-26 basic/index.mdx "Batching" (receivers MUST support batches); 2025-06-18
    changelog.mdx "Major changes" 1 removed them: over stdio as over Streamable HTTP."""
    raw = RawStdio(server_bin)
    raw.initialize(version)
    raw.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}])
    answer = raw.receive()
    if allowed:
        assert sorted(a["id"] for a in answer) == [1, 2]
    else:
        assert answer["id"] is None and answer["error"]["code"] == -32600
    assert raw.close() == 0


def test_initialize_in_a_batch_is_refused(server_bin):
    """2025-03-26 basic/lifecycle.mdx: "The initialize request MUST NOT be part of a JSON-RPC batch"."""
    raw = RawStdio(server_bin)
    raw.send([{"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}])
    assert raw.receive()["error"]["code"] == -32600
    raw.initialize("2025-03-26")  # the session is still new
    assert raw.close() == 0


def test_unpaired_surrogate_in_an_argument_is_answered_with_its_id(server_bin):
    """RFC 8259 §8.2 allows an escaped lone surrogate (JSON.stringify writes one for a cut
    string); the message is answered with its own id, not -32700 with id null."""
    raw = RawStdio(server_bin)
    raw.initialize()
    raw.send('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"server_status","arguments":{"x":"\\ud800"}}}')
    answer = raw.receive()
    assert answer["id"] == 7 and answer["result"]["isError"] is True  # x is not an argument of server_status
    assert raw.close() == 0


def test_protocol_version_setting_caps_negotiation(server_bin):
    """server.protocol_version is the newest revision initialize negotiates (2025-11-25
    basic/lifecycle.mdx "Version Negotiation": else another the server supports, its latest);
    server_status and server/discover list nothing newer."""
    raw = RawStdio(server_bin, "--set", "server.protocol_version=2025-06-18")
    raw.initialize("2025-11-25", expect="2025-06-18")
    raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "server_status", "arguments": {}}})
    versions = raw.receive()["result"]["structuredContent"]["protocol_versions"]
    assert "2025-11-25" not in versions and "2025-06-18" in versions
    raw.send({"jsonrpc": "2.0", "id": 2, "method": "server/discover"})
    assert raw.receive()["result"]["supportedVersions"] == versions
    assert raw.close() == 0


def test_requests_at_once_are_capped_by_max_inflight_per_token(server_bin):
    """Over stdio the one client's requests run at most limits.max_inflight_per_token at once
    (it was a fixed 32); the next waits for a running one to end. Here the cap is 1, and a
    call hangs on a Prometheus that accepts and never answers (timeout.http=2s): the ping sent
    after it is answered only after the call's timeout. With the default cap it is not."""
    import time
    from fake_backends import SilentBackend
    with SilentBackend() as silent:
        for cap, waits in (("1", True), ("32", False)):
            raw = RawStdio(server_bin, "--set", f"limits.max_inflight_per_token={cap}", "--set", "timeout.http=2s",
                           "--set", f"prometheus.url={silent.url}")
            raw.initialize()
            raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "prometheus_query", "arguments": {"query": "up"}}})
            time.sleep(0.3)  # the call is running
            started = time.monotonic()
            raw.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
            first = raw.receive()
            if waits:
                assert first["id"] == 1 and first["result"]["isError"] is True, first
                assert raw.receive()["id"] == 2
                assert time.monotonic() - started > 1.0
            else:
                assert first["id"] == 2 and time.monotonic() - started < 1.0
                assert raw.receive()["id"] == 1
            assert raw.close() == 0
