"""stdio transport against the official Python SDK 1.x client (PyPI `mcp` 1.x, ClientSession).

Spec: 2025-11-25 basic/transports.mdx "stdio", basic/lifecycle.mdx "Initialization".
"""
import pytest

from importlib.metadata import version

if not version("mcp").startswith("1."):
    pytest.skip("needs mcp 1.x", allow_module_level=True)

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

pytestmark = pytest.mark.anyio


async def test_list_call_ping(server_bin):
    server = StdioServerParameters(command=server_bin, args=["--stdio"])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.serverInfo.name == "axinova-mcp-server"
            assert init.protocolVersion in ("2025-11-25", "2025-06-18")
            tools = await session.list_tools()
            assert "server_status" in [t.name for t in tools.tools]
            result = await session.call_tool("server_status", {})
            assert result.isError is False
            assert result.structuredContent["version"]
            await session.send_ping()
