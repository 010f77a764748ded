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


import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

TOKEN = "test-token-0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CERTS = pathlib.Path(tempfile.mkdtemp(prefix="mcp-test-certs-"))
subprocess.run([str(ROOT / "certs" / "make-dev-certs.sh"), str(CERTS)], check=True, stdout=subprocess.DEVNULL)
CA_FILE = str(CERTS / "ca.pem")


def tls_context():
    """A client context trusting the test CA (verifies chain and host name)."""
    import ssl
    return ssl.create_default_context(cafile=CA_FILE)


class RunningServer:
    def __init__(self, proc, port, ops_port, scheme="https"):
        self.proc = proc
        self.port = port
        self.ops_port = ops_port
        self.base = f"{scheme}://127.0.0.1:{port}"
        self.ops = f"http://127.0.0.1:{ops_port}"
        self.token = TOKEN
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_server(server_bin, *extra, env=None, while_waiting=None) -> RunningServer:
    """Starts the server on free loopback ports and waits (bounded) for /ready;
    `while_waiting(proc)` is called at each poll until then."""
    port, ops_port = free_port(), free_port()
    args = [server_bin, "--config-dir", str(ROOT / "config"),
            "--set", f"server.port={port}", "--set", f"server.http_port={ops_port}",
            "--set", f"tls.cert_file={CERTS / 'server.pem'}", "--set", f"tls.key_file={CERTS / 'server-key.pem'}",
            "--set", "log.level=info", "--set", "server.sse_enabled=true",
            "--set", "limits.request_rate=1000", "--set", "limits.request_burst=1000",
            "--set", "limits.connection_rate_per_ip=1000", "--set", "limits.connection_burst_per_ip=1000", *extra]
    env = dict(os.environ, APP_SERVER__API_TOKEN=TOKEN, **(env or {}))
    # Logs go to a file: a pipe nobody reads would fill up and stall the server.
    log = tempfile.NamedTemporaryFile(prefix="mcp-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=env)
    proc.log_path = log.name
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if while_waiting:
            while_waiting(proc)
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {open(proc.log_path).read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/ready", timeout=1) as r:
                if r.status == 200:
                    return RunningServer(proc, port, ops_port)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not become ready within 20 s")


@pytest.fixture(scope="session")
def fake_grafana():
    from fake_backends import start_fake_grafana
    server = start_fake_grafana()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def server(server_bin, fake_grafana):
    s = start_server(server_bin, "--set", f"grafana.url={fake_grafana}", "--set", "server.page_size=3")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sse_server(server_bin, fake_grafana):
    s = start_server(server_bin, "--set", "server.response_mode=sse", "--set", f"grafana.url={fake_grafana}", "--set", "server.page_size=3")
    yield s
    s.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow_flood: slow-client and flood tests (about 3 minutes; scripts/slow-flood.sh)")
