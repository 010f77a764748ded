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
