"""Every HTTP transport against the official Python SDK 1.x client (PyPI `mcp` 1.x)."""
from importlib.metadata import version

import pytest

if not version("mcp").startswith("1."):
    pytest.skip("needs mcp 1.x", allow_module_level=True)

from mcp import ClientSession  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

pytestmark = pytest.mark.anyio


async def exercise(session):
    init = await session.initialize()
    assert init.serverInfo.name == "axinova-mcp-server"
    tools = await session.list_tools()
    assert "server_status" in [t.name for t in tools.tools]
    result = await session.call_tool("server_status", {})
    assert result.isError is False
    await session.send_ping()


@pytest.mark.parametrize("which", ["server", "sse_server"])
async def test_streamable_http(request, which):
    server = request.getfixturevalue(which)
    async with streamablehttp_client(f"{server.base}/mcp", headers=server.headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await exercise(session)


@pytest.mark.parametrize("path", ["/sse", "/api/mcp/v1/sse"])
async def test_legacy_sse(server, path):
    async with sse_client(f"{server.base}{path}", headers=server.headers) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session)
