"""Every HTTP transport against the official Python SDK 1.x client (PyPI `mcp` 1.x)."""
from importlib.metadata import version

import pytest

if not version("mcp").startswith("1."):
    pytest.skip("needs mcp 1.x", allow_module_level=True)

from mcp import ClientSession  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

import httpx  # noqa: E402
from conftest import tls_context  # noqa: E402


def client_factory(headers=None, timeout=None, auth=None):
    return httpx.AsyncClient(headers=headers, timeout=timeout, auth=auth, verify=tls_context())

pytestmark = pytest.mark.anyio


async def exercise(session):
    init = await session.initialize()
    assert init.serverInfo.name == "axinova-mcp-server"
    names, cursor = [], None
    for _ in range(20):
        page = await session.list_tools(cursor=cursor)
        names += [t.name for t in page.tools]
        cursor = page.nextCursor
        if not cursor:
            break
    assert len(names) > 3 and len(names) == len(set(names))
    assert {"server_status", "server_check_backends", "grafana_get_health"} <= set(names)
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    checked = await session.call_tool("server_check_backends", {}, progress_callback=on_progress)
    assert checked.isError is False and checked.structuredContent["healthy"] is True
    assert updates and updates[-1][0] == 1.0
    result = await session.call_tool("server_status", {})
    assert result.isError is False
    await session.send_ping()


@pytest.mark.parametrize("which", ["server", "sse_server"])
async def test_streamable_http(request, which):
    server = request.getfixturevalue(which)
    async with streamablehttp_client(f"{server.base}/mcp", headers=server.headers, httpx_client_factory=client_factory) as (read, write, _):
        async with ClientSession(read, write) as session:
            await exercise(session)


@pytest.mark.parametrize("path", ["/sse", "/api/mcp/v1/sse"])
async def test_legacy_sse(server, path):
    async with sse_client(f"{server.base}{path}", headers=server.headers, httpx_client_factory=client_factory) as (read, write):
        async with ClientSession(read, write) as session:
            await exercise(session)
