"""Shared fixtures for the integration tests that drive the real Python MCP SDK clients."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def server_bin() -> str:
    path = os.environ.get("MCP_SERVER_BIN", str(ROOT / ".build" / "debug" / "axinova-mcp-server"))
    if not os.path.exists(path):
        pytest.fail(f"server binary not found at {path}; run `swift build` first")
    return path
