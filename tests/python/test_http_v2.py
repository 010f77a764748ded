"""Every HTTP transport against the official Python SDK 2.x client (PyPI `mcp` 2.x).

Spec: 2025-11-25 basic/transports.mdx "Streamable HTTP"; 2026-07-28
basic/transports/streamable-http.mdx; 2024-11-05 basic/transports.mdx "HTTP with SSE".
"""
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("needs mcp 2.x", allow_module_level=True)

import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from conftest import tls_context  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:ping is removed")]


def http_client(server):
    return httpx2.AsyncClient(headers=server.headers, timeout=httpx2.Timeout(30, read=300), verify=tls_context())


async def exercise(client, legacy: bool):
    # 2025-11-25 server/utilities/pagination.mdx: follow nextCursor to the end.
    names, cursor = [], None
    for _ in range(20):
        page = await client.list_tools(cursor=cursor)
        names += [t.name for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(names) > 3 and len(names) == len(set(names))  # more than one page of 3, no repeats
    assert {"server_status", "server_check_backends", "grafana_get_health"} <= set(names)
    # 2025-11-25 basic/utilities/progress.mdx: progress for a request with a progressToken.
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    checked = await client.call_tool("server_check_backends", {}, progress_callback=on_progress)
    assert checked.is_error is False and checked.structured_content["healthy"] is True
    assert updates and updates[-1][0] == updates[-1][1] == 1.0 and "grafana" in updates[-1][2]
    result = await client.call_tool("server_status", {})
    assert result.is_error is False
    assert result.structured_content["name"] == "axinova-mcp-server"
    if legacy:
        await client.send_ping()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("which", ["server", "sse_server"])
async def test_streamable_http(request, which, mode):
    server = request.getfixturevalue(which)
    async with http_client(server) as http:
        transport = streamable_http_client(f"{server.base}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            expected = "2026-07-28" if mode == "auto" else "2025-11-25"
            assert client.session.protocol_version == expected
            await exercise(client, legacy=mode == "legacy")


@pytest.mark.parametrize("path", ["/sse", "/api/mcp/v1/sse"])
async def test_legacy_sse(server, path):
    transport = sse_client(f"{server.base}{path}", headers=server.headers,
                           httpx_client_factory=lambda headers=None, timeout=None, auth=None: httpx2.AsyncClient(
                               headers=headers, timeout=timeout, auth=auth, verify=tls_context()))
    async with Client(transport, mode="legacy") as client:
        await exercise(client, legacy=True)


async def test_wrong_token_is_refused(server):
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer wrong"}, verify=tls_context()) as http:
        r = await http.post(f"{server.base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                            headers={"Accept": "application/json, text/event-stream"})
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
