"""The tool catalogue end to end (issue 6): the official Python SDK 2.x client -> TLS ->
our server -> tool -> backend. Prometheus is the real one (Debian's `prometheus`, on a
loopback port, scraping itself and our server's ops /metrics); Grafana (over HTTPS with the
test CA), Portainer, SilverBullet and Vikunja are the recording fakes of fake_backends.py.

Clauses: 2025-11-25 server/tools.mdx ("Listing Tools": inputSchema, annotations;
"Error Handling": tool execution errors are results with isError true, not protocol
errors); 2025-11-25 server/utilities/pagination.mdx (nextCursor).
Catalogue: shared/reference/tools-catalogue.md (names, arguments, backend calls).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import asynccontextmanager
from importlib.metadata import version

import pytest

if not version("mcp").startswith("2."):
    pytest.skip("tool e2e tests run once, in the mcp 2.x environment", allow_module_level=True)

import anyio  # noqa: E402
import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

import fake_backends as fb  # noqa: E402
from conftest import CA_FILE, CERTS, ROOT, free_port, start_server, tls_context  # noqa: E402

pytestmark = [pytest.mark.anyio]

# Every tool of tools-catalogue.md: the Go server's 38 plus the additions, and the two
# built-in tools the server always offers.
CATALOGUE = {
    "grafana": ["grafana_list_dashboards", "grafana_get_dashboard", "grafana_create_dashboard", "grafana_delete_dashboard",
                "grafana_list_datasources", "grafana_create_datasource", "grafana_query_datasource",
                "grafana_list_alert_rules", "grafana_get_health", "grafana_search", "grafana_get_datasource"],
    "prometheus": ["prometheus_query", "prometheus_query_range", "prometheus_list_label_names",
                   "prometheus_list_label_values", "prometheus_find_series", "prometheus_list_targets",
                   "prometheus_get_metadata", "prometheus_list_alerts", "prometheus_list_rules",
                   "prometheus_build_info", "prometheus_health"],
    "portainer": ["portainer_list_containers", "portainer_start_container", "portainer_stop_container",
                  "portainer_restart_container", "portainer_get_container_logs", "portainer_inspect_container",
                  "portainer_list_stacks", "portainer_get_stack", "portainer_list_endpoints",
                  "portainer_get_stack_file", "portainer_get_status"],
    "silverbullet": ["silverbullet_list_pages", "silverbullet_get_page", "silverbullet_create_page",
                     "silverbullet_update_page", "silverbullet_delete_page", "silverbullet_search_pages"],
    "vikunja": ["vikunja_list_projects", "vikunja_get_project", "vikunja_create_project", "vikunja_list_tasks",
                "vikunja_create_task", "vikunja_get_task", "vikunja_update_task", "vikunja_delete_task"],
}
BUILTIN = {"server_status", "server_check_backends"}
ALL_TOOLS = {name for names in CATALOGUE.values() for name in names}
# The tools that change something: hidden by tools.read_only, readOnlyHint false.
WRITING = {"grafana_create_dashboard", "grafana_delete_dashboard", "grafana_create_datasource",
           "portainer_start_container", "portainer_stop_container", "portainer_restart_container",
           "silverbullet_create_page", "silverbullet_update_page", "silverbullet_delete_page",
           "vikunja_create_project", "vikunja_create_task", "vikunja_update_task", "vikunja_delete_task"}
DESTRUCTIVE = {"grafana_delete_dashboard", "portainer_stop_container", "portainer_restart_container",
               "silverbullet_delete_page", "silverbullet_update_page", "vikunja_delete_task"}
assert len(ALL_TOOLS) == 47 and WRITING <= ALL_TOOLS and DESTRUCTIVE <= WRITING


# -- fixtures -----------------------------------------------------------------------------
class Prometheus:
    """Debian's prometheus on a loopback port, scraping itself and `extra_targets` every 1 s."""

    def __init__(self, port, extra_targets):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="mcp-e2e-prom-"))
        targets = ", ".join(f"'{t}'" for t in extra_targets)
        (self.dir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            f"  - job_name: mcp\n    static_configs:\n      - targets: [{targets}]\n")
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.dir / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("prometheus was not ready within 30 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def fakes():
    https = fb.server_tls_context(str(CERTS / "server.pem"), str(CERTS / "server-key.pem"))
    backends = {
        "grafana": fb.start_fake_grafana_backend(ssl_context=https),
        "portainer": fb.start_fake_portainer(),
        "silverbullet": fb.start_fake_silverbullet(),
        "vikunja": fb.start_fake_vikunja(),
    }
    yield backends
    for backend in backends.values():
        backend.shutdown()


def backend_args(fakes, prometheus_url):
    return [
        "--set", f"grafana.url={fakes['grafana'].url}", "--set", f"grafana.ca_file={CA_FILE}",
        "--set", f"portainer.url={fakes['portainer'].url}",
        "--set", f"silverbullet.url={fakes['silverbullet'].url}",
        "--set", f"vikunja.url={fakes['vikunja'].url}",
        "--set", f"prometheus.url={prometheus_url}",
        "--set", "timeout.http=5s",
    ]


# Secrets through the environment overlay (APP_<SECTION>__<KEY>), as an operator would.
BACKEND_ENV = {"APP_GRAFANA__TOKEN": fb.GRAFANA_TOKEN, "APP_PORTAINER__TOKEN": fb.PORTAINER_KEY,
               "APP_SILVERBULLET__TOKEN": fb.SILVERBULLET_TOKEN, "APP_VIKUNJA__TOKEN": fb.VIKUNJA_TOKEN}


@pytest.fixture(scope="module")
def stack(server_bin, fakes):
    """Our server with all five backends, and a real Prometheus scraping it. Prometheus'
    port is chosen first so the server can be given its URL before it runs."""
    if not shutil.which("prometheus") and not os.path.exists("/usr/bin/prometheus"):
        pytest.fail("prometheus is not installed (apt-get install -y prometheus)")
    prom_port = free_port()
    server = start_server(server_bin, *backend_args(fakes, f"http://127.0.0.1:{prom_port}"), env=BACKEND_ENV)
    try:
        prometheus = Prometheus(prom_port, [f"127.0.0.1:{server.ops_port}"])
    except Exception:
        server.stop()
        raise
    yield server, prometheus
    prometheus.stop()
    server.stop()


@pytest.fixture
def server(stack, fakes):
    for backend in fakes.values():
        backend.reset()
    return stack[0]


@asynccontextmanager
async def connect(server):
    async with httpx2.AsyncClient(headers=server.headers, timeout=httpx2.Timeout(30), verify=tls_context()) as http:
        async with Client(streamable_http_client(f"{server.base}/mcp", http_client=http)) as client:
            yield client


async def list_all_tools(client):
    tools, cursor = [], None
    for _ in range(50):  # bounded: 50 pages
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools
    raise AssertionError("tools/list did not end within 50 pages")


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def json_of(result):
    assert not result.is_error, text_of(result)
    return json.loads(result.content[0].text)


def only(backend):
    """The single request a tool sent to `backend` since the last take()."""
    requests = backend.take()
    assert len(requests) == 1, requests
    return requests[0]


# -- tools/list ---------------------------------------------------------------------------
async def test_all_backends_list_every_catalogue_tool_with_schema_and_annotations(server):
    async with connect(server) as client:
        tools = await list_all_tools(client)
    names = [t.name for t in tools]
    assert len(names) == len(set(names))
    assert set(names) == ALL_TOOLS | BUILTIN, (set(names) ^ (ALL_TOOLS | BUILTIN))
    for tool in tools:
        schema = tool.input_schema
        assert schema["type"] == "object", tool.name
        assert isinstance(schema.get("properties", {}), dict), tool.name
        for required in schema.get("required", []):
            assert required in schema["properties"], (tool.name, required)
        for prop, spec in schema.get("properties", {}).items():
            assert "type" in spec and spec.get("description"), (tool.name, prop)
        if tool.name in BUILTIN:
            continue
        assert tool.description, tool.name
        hints = tool.annotations
        assert hints is not None, tool.name
        assert hints.read_only_hint is (tool.name not in WRITING), tool.name
        if tool.name in WRITING:
            assert hints.destructive_hint is (tool.name in DESTRUCTIVE), tool.name
            # idempotentHint may be omitted (spec default false); creating is never idempotent.
            if "_create_" in tool.name:
                assert not hints.idempotent_hint, tool.name
    by_name = {t.name: t for t in tools}
    # Arguments and requirements of the catalogue.
    assert by_name["grafana_query_datasource"].input_schema["required"] == ["datasource_uid", "query"]
    assert set(by_name["vikunja_create_task"].input_schema["properties"]) == {"project_id", "title", "description", "priority", "due_date"}
    assert by_name["portainer_get_container_logs"].input_schema["properties"]["tail"]["default"] == 100
    assert by_name["prometheus_query_range"].input_schema["required"] == ["query", "start"]


REFERENCE = pathlib.Path(os.environ.get("MCP_TOOLS_CATALOGUE", "/work/shared/reference/tools-catalogue.md"))


def catalogue_names(markdown):
    """Tool names from the catalogue's tables: `add: x`, and `a_start_b / _stop_ / _restart_`
    or `a_create_page / _update_page` rows that name several tools."""
    names = set()
    for line in markdown.splitlines():
        cell = line.split("|")[1].strip() if line.startswith("| ") else ""
        cell = cell.removeprefix("add:").strip()
        if not re.fullmatch(r"[a-z]+_[a-z_]+( / _[a-z_]+)*", cell):
            continue
        first, *others = [part.strip() for part in cell.split(" / ")]
        names.add(first)
        prefix, verb, rest = first.split("_", 2) if first.count("_") >= 2 else (first.split("_")[0], "", "")
        for other in others:
            names.add(f"{prefix}{other}{rest}" if other.endswith("_") else f"{prefix}{other}")
    return names


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference catalogue is not on this machine")
def test_expected_names_match_the_reference_catalogue():
    assert catalogue_names(REFERENCE.read_text()) == ALL_TOOLS


async def test_check_backends_reaches_all_five(server):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    async with connect(server) as client:
        result = await client.call_tool("server_check_backends", {}, progress_callback=on_progress)
    report = result.structured_content
    assert not result.is_error and report["healthy"] is True, report
    assert {b["backend"] for b in report["backends"]} == set(CATALOGUE)
    assert all(b["ok"] for b in report["backends"])
    assert len(updates) == 5 and updates[-1][:2] == (5.0, 5.0)


async def test_no_backend_configured_lists_only_builtin_tools(server_bin):
    s = start_server(server_bin)
    try:
        async with connect(s) as client:
            names = {t.name for t in await list_all_tools(client)}
    finally:
        s.stop()
    assert names == BUILTIN


async def test_read_only_mode_hides_every_writing_tool(server_bin, fakes):
    s = start_server(server_bin, *backend_args(fakes, "http://127.0.0.1:9"), "--set", "tools.read_only=true", env=BACKEND_ENV)
    try:
        async with connect(s) as client:
            names = {t.name for t in await list_all_tools(client)}
            status = (await client.call_tool("server_status", {})).structured_content
            # 2025-11-25 server/tools.mdx "Error Handling": an unknown tool is a protocol error.
            with pytest.raises(MCPError) as hidden:
                await client.call_tool("vikunja_delete_task", {"task_id": 42})
    finally:
        s.stop()
    assert names == (ALL_TOOLS - WRITING) | BUILTIN
    # server_status counts the tools offered, not the catalogue before read_only applied.
    assert status["tools"] == len(names)
    # A hidden tool cannot be called either (and nothing reaches the backend).
    assert hidden.value.error.code == -32602 and "vikunja_delete_task" in hidden.value.error.message
    assert not [r for r in fakes["vikunja"].take() if r.method == "DELETE"]


# -- every tool once ----------------------------------------------------------------------
async def test_grafana_tools(server, fakes):
    g = fakes["grafana"]
    bearer = f"Bearer {fb.GRAFANA_TOKEN}"
    async with connect(server) as client:
        hits = json_of(await client.call_tool("grafana_list_dashboards", {}))
        r = only(g)
        assert (r.method, r.path, r.query) == ("GET", "/api/search", {"type": "dash-db", "limit": "5000"})
        assert r.headers["authorization"] == bearer
        assert hits[0]["uid"] == "abc123"

        board = await client.call_tool("grafana_get_dashboard", {"uid": "abc123"})
        assert json_of(board)["dashboard"]["title"] == "Node exporter"
        assert board.structured_content["meta"]["slug"] == "x"
        assert (lambda r: (r.method, r.path))(only(g)) == ("GET", "/api/dashboards/uid/abc123")

        created = json_of(await client.call_tool("grafana_create_dashboard", {"title": "E2E", "folder_uid": "f1",
                                                                                "dashboard": {"uid": "e2e1", "panels": [{"id": 1}]}}))
        r = only(g)
        assert (r.method, r.path) == ("POST", "/api/dashboards/db")
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert body["dashboard"]["title"] == "E2E" and body["dashboard"]["panels"] == [{"id": 1}]
        assert body["folderUid"] == "f1" and body["overwrite"] is False
        assert created["status"] == "success" and created["uid"] == "e2e1"

        deleted = json_of(await client.call_tool("grafana_delete_dashboard", {"uid": "e2e1"}))
        r = only(g)
        assert (r.method, r.path) == ("DELETE", "/api/dashboards/uid/e2e1")
        assert deleted["message"] == "Dashboard E2E deleted"

        assert json_of(await client.call_tool("grafana_list_datasources", {}))[0]["uid"] == "prom1"
        assert (lambda r: (r.method, r.path))(only(g)) == ("GET", "/api/datasources")

        assert json_of(await client.call_tool("grafana_get_datasource", {"uid": "prom1"}))["type"] == "prometheus"
        assert only(g).path == "/api/datasources/uid/prom1"

        added = json_of(await client.call_tool("grafana_create_datasource", {"name": "Loki", "type": "loki", "url": "http://loki:3100", "is_default": False}))
        r = only(g)
        assert (r.method, r.path) == ("POST", "/api/datasources")
        assert r.json() == {"name": "Loki", "type": "loki", "url": "http://loki:3100", "access": "proxy", "isDefault": False}
        assert added["message"] == "Datasource added"

        # The Go server's defect: no time range and a wrong datasource field.
        # The data source's type is looked up first: a query in a language that writes
        # (Flux, SQL) needs a caller that may write.
        frames = json_of(await client.call_tool("grafana_query_datasource", {"datasource_uid": "prom1", "query": "up", "from": "now-6h"}))
        lookup, r = g.take()
        assert (lookup.method, lookup.path) == ("GET", "/api/datasources/uid/prom1")
        assert (r.method, r.path) == ("POST", "/api/ds/query")
        body = r.json()
        assert body["from"] == "now-6h" and body["to"] == "now"
        assert body["queries"][0]["refId"] == "A" and body["queries"][0]["datasource"] == {"uid": "prom1"}
        assert body["queries"][0]["expr"] == "up" and "datasourceId" not in body["queries"][0]
        assert frames["results"]["A"]["status"] == 200

        assert json_of(await client.call_tool("grafana_list_alert_rules", {}))[0]["uid"] == "rule1"
        assert only(g).path == "/api/v1/provisioning/alert-rules"

        assert json_of(await client.call_tool("grafana_get_health", {}))["database"] == "ok"
        assert only(g).path == "/api/health"

        found = json_of(await client.call_tool("grafana_search", {"query": "node exp"}))
        r = only(g)
        assert (r.path, r.query) == ("/api/search", {"query": "node exp", "limit": "5000"})
        assert [h["uid"] for h in found] == ["abc123"]


async def test_portainer_tools(server, fakes):
    p = fakes["portainer"]
    async with connect(server) as client:
        assert json_of(await client.call_tool("portainer_list_endpoints", {}))[0]["Name"] == "local"
        r = only(p)
        assert (r.method, r.path) == ("GET", "/api/endpoints")
        assert r.headers["x-api-key"] == fb.PORTAINER_KEY and "authorization" not in r.headers

        containers = json_of(await client.call_tool("portainer_list_containers", {}))
        r = only(p)
        assert (r.path, r.query) == ("/api/endpoints/1/docker/containers/json", {"all": "1"})  # endpoint_id defaults to 1
        assert containers[0]["Names"] == ["/web"]

        inspect = json_of(await client.call_tool("portainer_inspect_container", {"endpoint_id": 2, "container_id": "web"}))
        assert only(p).path == "/api/endpoints/2/docker/containers/web/json"
        assert inspect["State"]["Running"] is True

        stopped = await client.call_tool("portainer_stop_container", {"container_id": "web"})
        r = only(p)
        assert (r.method, r.path) == ("POST", "/api/endpoints/1/docker/containers/web/stop")
        assert stopped.structured_content == {"container_id": "web", "action": "stop", "result": "stopped"}
        again = await client.call_tool("portainer_stop_container", {"container_id": "web"})  # Docker: 304
        assert again.structured_content["result"] == "already stopped"
        only(p)
        started = await client.call_tool("portainer_start_container", {"container_id": "web"})
        assert only(p).path == "/api/endpoints/1/docker/containers/web/start"
        assert started.structured_content["result"] == "started"
        restarted = await client.call_tool("portainer_restart_container", {"container_id": "web"})
        assert only(p).path == "/api/endpoints/1/docker/containers/web/restart"
        assert restarted.structured_content["result"] == "restarted"

        # The Go server's defect: the 8-byte frame headers of Docker's stream were kept.
        logs = await client.call_tool("portainer_get_container_logs", {"container_id": "web", "tail": 20})
        r = only(p)
        assert (r.path, r.query) == ("/api/endpoints/1/docker/containers/web/logs", {"stdout": "1", "stderr": "1", "tail": "20"})
        assert not logs.is_error
        assert text_of(logs) == "".join(payload.decode() for _, payload in fb.LOG_FRAMES)

        assert json_of(await client.call_tool("portainer_list_stacks", {}))[0]["Name"] == "monitoring"
        assert only(p).path == "/api/stacks"
        assert json_of(await client.call_tool("portainer_get_stack", {"stack_id": 3}))["Id"] == 3
        assert only(p).path == "/api/stacks/3"
        assert "image: nginx" in json_of(await client.call_tool("portainer_get_stack_file", {"stack_id": 3}))["StackFileContent"]
        assert only(p).path == "/api/stacks/3/file"
        assert json_of(await client.call_tool("portainer_get_status", {}))["Version"] == "2.21.0"
        assert only(p).path == "/api/system/status"


async def test_silverbullet_tools(server, fakes):
    sb = fakes["silverbullet"]
    async with connect(server) as client:
        listing = json_of(await client.call_tool("silverbullet_list_pages", {}))
        r = only(sb)
        assert (r.method, r.path) == ("GET", "/.fs")
        assert r.headers["x-sync-mode"] == "true" and r.headers["authorization"] == f"Bearer {fb.SILVERBULLET_TOKEN}"
        assert {f["name"] for f in listing} >= {"index.md", "Notes/Today.md"}

        page = await client.call_tool("silverbullet_get_page", {"page_name": "Notes/Today"})
        assert only(sb).raw_path == "/.fs/Notes/Today.md"
        assert text_of(page).startswith("# Today")

        created = await client.call_tool("silverbullet_create_page", {"page_name": "E2E page", "content": "# E2E\nhello grafana\n"})
        assert created.structured_content == {"page_name": "E2E page", "result": "created", "bytes": 20}
        requests = sb.take()
        assert [(r.method, r.raw_path) for r in requests] == [("GET", "/.fs/E2E%20page.md"), ("PUT", "/.fs/E2E%20page.md")]
        assert requests[1].body == b"# E2E\nhello grafana\n"
        assert requests[1].headers["content-type"].startswith("text/markdown")
        assert all(r.headers.get("x-sync-mode") == "true" for r in requests)

        exists = await client.call_tool("silverbullet_create_page", {"page_name": "E2E page", "content": "x"})
        assert exists.is_error and "page_name" in text_of(exists)
        assert [r.method for r in sb.take()] == ["GET"]  # no PUT over an existing page

        updated = await client.call_tool("silverbullet_update_page", {"page_name": "E2E page", "content": "# E2E v2\n"})
        r = only(sb)
        assert (r.method, r.body) == ("PUT", b"# E2E v2\n")
        assert updated.structured_content["result"] == "updated"

        # The Go server called /.client/search.json, which SilverBullet does not have.
        found = json_of(await client.call_tool("silverbullet_search_pages", {"query": "GRAFANA"}))
        requests = sb.take()
        assert requests[0].path == "/.fs" and all(r.method == "GET" and r.path.startswith("/.fs") for r in requests)
        assert not [r for r in requests if "search" in r.path]
        assert [x["page_name"] for x in found["results"]] == ["Notes/Today"]
        assert found["results"][0]["snippets"] == ["Deploy grafana upgrade"] and found["complete"] is True

        deleted = await client.call_tool("silverbullet_delete_page", {"page_name": "E2E page"})
        r = only(sb)
        assert (r.method, r.raw_path) == ("DELETE", "/.fs/E2E%20page.md")
        assert deleted.structured_content == {"page_name": "E2E page", "result": "deleted"}

        escape = await client.call_tool("silverbullet_get_page", {"page_name": "../secrets"})
        assert escape.is_error and "page_name" in text_of(escape)
        assert sb.take() == []


async def test_vikunja_tools(server, fakes):
    v = fakes["vikunja"]
    async with connect(server) as client:
        assert json_of(await client.call_tool("vikunja_list_projects", {}))[0]["title"] == "Ops"
        r = only(v)
        assert (r.method, r.path) == ("GET", "/api/v1/projects")
        assert r.headers["authorization"] == f"Bearer {fb.VIKUNJA_TOKEN}"

        assert json_of(await client.call_tool("vikunja_get_project", {"project_id": 1}))["id"] == 1
        assert only(v).path == "/api/v1/projects/1"

        # The Go server sent POST; Vikunja creates with PUT.
        project = json_of(await client.call_tool("vikunja_create_project", {"title": "E2E", "description": "made by a test"}))
        r = only(v)
        assert (r.method, r.path, r.json()) == ("PUT", "/api/v1/projects", {"title": "E2E", "description": "made by a test"})
        assert project["id"] == 2

        tasks = json_of(await client.call_tool("vikunja_list_tasks", {"project_id": 1}))
        assert only(v).path == "/api/v1/projects/1/tasks"
        assert [t["id"] for t in tasks] == [42]

        task = json_of(await client.call_tool("vikunja_create_task", {"project_id": 1, "title": "Renew", "priority": 3,
                                                                       "due_date": "2026-12-01T09:00:00Z"}))
        r = only(v)
        assert (r.method, r.path) == ("PUT", "/api/v1/projects/1/tasks")
        assert r.json() == {"title": "Renew", "priority": 3, "due_date": "2026-12-01T09:00:00Z"}
        new_id = task["id"]

        # The Go server used project-scoped task paths.
        assert json_of(await client.call_tool("vikunja_get_task", {"task_id": new_id}))["title"] == "Renew"
        assert only(v).path == f"/api/v1/tasks/{new_id}"

        done = json_of(await client.call_tool("vikunja_update_task", {"task_id": new_id, "done": True}))
        requests = v.take()
        assert [(r.method, r.path) for r in requests] == [("GET", f"/api/v1/tasks/{new_id}"), ("POST", f"/api/v1/tasks/{new_id}")]
        sent = requests[1].json()
        assert sent["done"] is True and sent["title"] == "Renew" and sent["priority"] == 3  # other fields kept
        assert done["done"] is True

        deleted = json_of(await client.call_tool("vikunja_delete_task", {"task_id": new_id}))
        assert (lambda r: (r.method, r.path))(only(v)) == ("DELETE", f"/api/v1/tasks/{new_id}")
        assert deleted["message"] == "Successfully deleted."


async def test_vikunja_list_tasks_falls_back_to_views_on_newer_servers(server_bin):
    v = fb.start_fake_vikunja(views_api=True)
    s = start_server(server_bin, "--set", f"vikunja.url={v.url}", env={"APP_VIKUNJA__TOKEN": fb.VIKUNJA_TOKEN})
    try:
        async with connect(s) as client:
            tasks = json_of(await client.call_tool("vikunja_list_tasks", {"project_id": 1}))
    finally:
        s.stop()
        v.shutdown()
    assert [r.path for r in v.take()] == ["/api/v1/projects/1/tasks", "/api/v1/projects/1/views", "/api/v1/projects/1/views/11/tasks"]
    assert [t["id"] for t in tasks] == [42]


# -- Prometheus (the real one) ------------------------------------------------------------
async def wait_for(client, query, predicate, seconds=30):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = await client.call_tool("prometheus_query", {"query": query})
        if not last.is_error and predicate(json_of(last)):
            return json_of(last)
        await anyio.sleep(0.25)
    raise AssertionError(f"{query!r} not satisfied within {seconds} s: {text_of(last)[:500]}")


async def test_prometheus_tools_against_real_prometheus(server):
    async with connect(server) as client:
        health = await client.call_tool("prometheus_health", {})
        assert not health.is_error and health.structured_content["healthy"] is True and health.structured_content["ready"] is True
        # Both targets scraped at least once (bounded wait), then our own server's metric,
        # scraped by Prometheus from the ops listener.
        await wait_for(client, "count by (job) (up)", lambda j: len(j["data"]["result"]) == 2)
        mine = await wait_for(client, 'mcp_rpc_requests_total{job="mcp"}', lambda j: j["data"]["result"])
        assert mine["status"] == "success"
        assert all(r["metric"]["job"] == "mcp" for r in mine["data"]["result"])
        assert sum(float(r["value"][1]) for r in mine["data"]["result"]) >= 1

        query = await client.call_tool("prometheus_query", {"query": "up", "time": "now"})
        assert query.structured_content["status"] == "success"
        assert {r["metric"]["job"] for r in query.structured_content["data"]["result"]} == {"prometheus", "mcp"}

        matrix = json_of(await client.call_tool("prometheus_query_range", {"query": "up", "start": "5m", "step": "1s"}))
        assert matrix["data"]["resultType"] == "matrix" and matrix["data"]["result"][0]["values"]

        assert "job" in json_of(await client.call_tool("prometheus_list_label_names", {}))["data"]
        assert set(json_of(await client.call_tool("prometheus_list_label_values", {"label": "job"}))["data"]) == {"prometheus", "mcp"}
        series = json_of(await client.call_tool("prometheus_find_series", {"match": "up", "lookback": "10m"}))
        assert {s["__name__"] for s in series["data"]} == {"up"}
        targets = json_of(await client.call_tool("prometheus_list_targets", {}))["data"]["activeTargets"]
        assert {t["labels"]["job"] for t in targets} == {"prometheus", "mcp"}
        assert json_of(await client.call_tool("prometheus_get_metadata", {"metric": "mcp_rpc_requests_total"}))["status"] == "success"
        assert json_of(await client.call_tool("prometheus_list_alerts", {}))["data"]["alerts"] == []
        assert json_of(await client.call_tool("prometheus_list_rules", {}))["data"]["groups"] == []
        assert json_of(await client.call_tool("prometheus_build_info", {}))["data"]["version"]

        # Bad PromQL: Prometheus' 400 bad_data becomes an isError result that keeps the reason.
        bad = await client.call_tool("prometheus_query", {"query": "up{"})
        assert bad.is_error and "400" in text_of(bad) and "parse error" in text_of(bad)


# -- error cases --------------------------------------------------------------------------
async def test_missing_argument_is_named_and_reaches_no_backend(server, fakes):
    async with connect(server) as client:
        result = await client.call_tool("vikunja_get_task", {})
        wrong_type = await client.call_tool("portainer_get_stack", {"stack_id": "three"})
    assert result.is_error and "task_id" in text_of(result)
    assert wrong_type.is_error and "stack_id" in text_of(wrong_type)
    assert fakes["vikunja"].take() == [] and fakes["portainer"].take() == []


async def test_backend_500_is_an_error_result_with_the_status(server, fakes):
    fakes["grafana"].fail("GET", "/api/health", 500, {"message": "database is locked"})
    async with connect(server) as client:
        result = await client.call_tool("grafana_get_health", {})
        status = await client.call_tool("server_status", {})  # the server carries on
    assert result.is_error
    assert "500" in text_of(result) and "database is locked" in text_of(result)
    assert not status.is_error


async def test_backend_401_says_so(server, fakes):
    # The fake refuses a wrong key: the tool says the backend refused, not a crash.
    fakes["portainer"].fail("GET", "/api/system/status", 401, {"message": "Invalid API key"})
    async with connect(server) as client:
        result = await client.call_tool("portainer_get_status", {})
    assert result.is_error and "401" in text_of(result)


async def test_untrusted_backend_certificate_fails_clearly(server_bin, fakes, tmp_path):
    """Grafana over HTTPS with a CA that did not sign its certificate: a clear TLS error."""
    other = tmp_path / "other-ca"
    subprocess.run([str(ROOT / "certs" / "make-dev-certs.sh"), str(other)], check=True, stdout=subprocess.DEVNULL)
    s = start_server(server_bin, "--set", f"grafana.url={fakes['grafana'].url}", "--set", f"grafana.ca_file={other / 'ca.pem'}",
                     env={"APP_GRAFANA__TOKEN": fb.GRAFANA_TOKEN})
    try:
        fakes["grafana"].reset()
        async with connect(s) as client:
            result = await client.call_tool("grafana_get_health", {})
    finally:
        s.stop()
    assert result.is_error
    message = text_of(result).lower()
    assert "tls" in message or "certificate" in message, message
    assert fakes["grafana"].take() == []  # no request was sent over the unverified connection


async def test_unreachable_backend_fails_clearly(server_bin):
    port = free_port()  # nothing listens there
    s = start_server(server_bin, "--set", f"vikunja.url=http://127.0.0.1:{port}")
    try:
        async with connect(s) as client:
            result = await client.call_tool("vikunja_list_projects", {})
    finally:
        s.stop()
    assert result.is_error
    message = text_of(result).lower()
    assert "cannot connect" in message and str(port) in message and ("unreachable" in message or "refused" in message), message


async def test_wrong_host_name_fails_clearly(server_bin, tmp_path):
    """The test CA's certificate names 127.0.0.1, ::1 and localhost; served on 127.0.0.2 the
    name does not match (RFC 6125 §6.4.4, IP address SAN), so the handshake is refused."""
    https = fb.server_tls_context(str(CERTS / "server.pem"), str(CERTS / "server-key.pem"))
    g = fb.start_fake_grafana_backend(ssl_context=https, host="127.0.0.2")
    s = start_server(server_bin, "--set", f"grafana.url={g.url}", "--set", f"grafana.ca_file={CA_FILE}",
                     env={"APP_GRAFANA__TOKEN": fb.GRAFANA_TOKEN})
    try:
        async with connect(s) as client:
            result = await client.call_tool("grafana_get_health", {})
    finally:
        s.stop()
        g.shutdown()
    assert result.is_error
    message = text_of(result).lower()
    assert "tls" in message or "certificate" in message or "host" in message, message
    assert g.take() == []


async def test_skip_verify_works_and_warns(server_bin, fakes):
    """tls.skip_verify: an unverifiable backend (no CA configured for it) is reached, and the
    server says at start that verification is off."""
    s = start_server(server_bin, "--set", f"grafana.url={fakes['grafana'].url}", "--set", "tls.skip_verify=true",
                     env={"APP_GRAFANA__TOKEN": fb.GRAFANA_TOKEN})
    try:
        fakes["grafana"].reset()
        async with connect(s) as client:
            result = await client.call_tool("grafana_get_health", {})
    finally:
        s.stop()
    assert json_of(result)["database"] == "ok"
    assert only(fakes["grafana"]).path == "/api/health"
    log = open(s.proc.log_path).read()
    assert "skip_verify" in log and "warn" in log.lower()


@pytest.fixture(scope="module")
def tight_server(server_bin, fakes):
    """Grafana with a 1 s deadline and 1 KiB results (responses over 4 KiB are refused)."""
    s = start_server(server_bin, "--set", f"grafana.url={fakes['grafana'].url}", "--set", f"grafana.ca_file={CA_FILE}",
                     "--set", "grafana.timeout=1s", "--set", "tools.max_result_bytes=1KiB",
                     "--set", f"portainer.url={fakes['portainer'].url}", env=BACKEND_ENV)
    yield s
    s.stop()


async def test_slow_backend_times_out_with_a_clear_result(tight_server, fakes):
    fakes["grafana"].reset()
    fakes["grafana"].delay = 3.0
    try:
        async with connect(tight_server) as client:
            started = time.monotonic()
            result = await client.call_tool("grafana_get_health", {})
            elapsed = time.monotonic() - started
    finally:
        fakes["grafana"].reset()
    message = text_of(result).lower()
    assert result.is_error and ("within 1.0 seconds" in message or "timed out" in message), message
    assert elapsed < 2.5  # the 1 s deadline, not the backend's 3 s


def tool_limits(server) -> dict:
    with urllib.request.urlopen(f"{server.ops}/metrics", timeout=5) as r:
        return {line.split()[0]: float(line.split()[-1]) for line in r.read().decode().splitlines()
                if line.startswith("mcp_tool_limits_total{")}


async def test_oversized_and_malformed_answers(tight_server, fakes):
    g = fakes["grafana"]
    g.reset()
    before = tool_limits(tight_server)
    big = [{"uid": f"ds{i:04}", "name": f"data source {i}"} for i in range(40)]  # ~1.5 KiB: truncated
    huge = [{"uid": f"ds{i:04}", "name": "x" * 100} for i in range(100)]  # ~12 KiB: refused
    g.fail("GET", "/api/datasources", 200, big)
    g.fail("GET", "/api/v1/provisioning/alert-rules", 200, huge)
    g.fail("GET", "/api/health", 200, b"<html>login</html>", "text/html")
    try:
        async with connect(tight_server) as client:
            cut = await client.call_tool("grafana_list_datasources", {})
            refused = await client.call_tool("grafana_list_alert_rules", {})
            html = await client.call_tool("grafana_get_health", {})
    finally:
        g.reset()
    assert not cut.is_error
    assert len(cut.content[0].text.encode()) <= 1024 and "[truncated:" in text_of(cut)
    assert refused.is_error and ("large" in text_of(refused).lower() or "limit" in text_of(refused).lower()), text_of(refused)
    assert html.is_error and "json" in text_of(html).lower(), text_of(html)
    # Each cap reached is counted by tool and cap; the malformed answer reached none.
    after = tool_limits(tight_server)
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {
        'mcp_tool_limits_total{tool="grafana_list_datasources",limit="result_bytes"}': 1,
        'mcp_tool_limits_total{tool="grafana_list_alert_rules",limit="backend_response_bytes"}': 1}, (before, after)


async def test_container_logs_report_progress(tight_server, fakes):
    """2025-11-25 basic/utilities/progress.mdx: progress for a request with a progressToken."""
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    async with connect(tight_server) as client:
        logs = await client.call_tool("portainer_get_container_logs", {"container_id": "web"}, progress_callback=on_progress)
    assert not logs.is_error and "server started" in text_of(logs)
    assert updates and updates[-1][0] == updates[-1][1] == 1.0


async def call_and_give_up(server, backend, mode, wait=2.5, legacy_sse=False):
    """Calls portainer_get_container_logs on a backend that answers only after 3 s, gives
    up after 0.3 s, and returns the fake's hang-ups seen within `wait` seconds (over
    Streamable HTTP, or over legacy HTTP+SSE with `legacy_sse`)."""
    backend.reset()
    backend.delay = 3.0
    try:
        async with httpx2.AsyncClient(headers=server.headers, timeout=httpx2.Timeout(30), verify=tls_context()) as http:
            transport = sse_client(f"{server.base}/sse", headers=server.headers,
                                   httpx_client_factory=lambda headers=None, timeout=None, auth=None: httpx2.AsyncClient(
                                       headers=headers, timeout=timeout, auth=auth, verify=tls_context())) \
                if legacy_sse else streamable_http_client(f"{server.base}/mcp", http_client=http)
            async with Client(transport, mode=mode) as client:
                with pytest.raises(MCPError, match="timed out"):
                    await client.call_tool("portainer_get_container_logs", {"container_id": "web"}, read_timeout_seconds=0.3)
                deadline = time.monotonic() + wait
                while not backend.hangups and time.monotonic() < deadline:
                    await anyio.sleep(0.05)
                return list(backend.hangups)
    finally:
        backend.reset()


async def test_cancelled_call_stops_the_backend_request(tight_server, fakes):
    """2025-11-25 basic/utilities/cancellation.mdx: on `notifications/cancelled` the server
    SHOULD stop processing. The SDK (2025-11-25 session) sends it when it gives up after
    0.3 s; the fake sees the server drop the backend request well before its 3 s answer."""
    hangups = await call_and_give_up(tight_server, fakes["portainer"], "legacy")
    assert hangups, "the backend request went on after the client cancelled"
    request, after = hangups[0]
    assert request.path == "/api/endpoints/1/docker/containers/web/logs" and after < 2.5


async def test_cancelled_call_stops_the_backend_request_over_legacy_sse(tight_server, fakes):
    """The same over HTTP+SSE (2024-11-05): the SDK POSTs `notifications/cancelled` to
    /messages, which the server acts on before answering 202, so the cancel takes effect in
    the order the client posted it."""
    hangups = await call_and_give_up(tight_server, fakes["portainer"], "legacy", legacy_sse=True)
    assert hangups, "the backend request went on after the client cancelled"
    request, after = hangups[0]
    assert request.path == "/api/endpoints/1/docker/containers/web/logs" and after < 2.5


@pytest.mark.parametrize("response_mode", ["json", "sse"])
async def test_client_disconnect_cancels_the_call(server_bin, fakes, response_mode):
    """2026-07-28 basic/transports/streamable-http.mdx "Cancellation": closing the response
    stream MUST be treated as cancellation; the server SHOULD stop work as soon as practical."""
    s = start_server(server_bin, "--set", f"portainer.url={fakes['portainer'].url}",
                     "--set", f"server.response_mode={response_mode}", env=BACKEND_ENV)
    try:
        hangups = await call_and_give_up(s, fakes["portainer"], "auto")
    finally:
        s.stop()
    assert hangups, "the backend request went on after the client closed the stream"


async def test_client_disconnect_cancels_with_short_keepalive(server_bin, fakes):
    """With a 1 s ping interval too, a closed stream stops the backend work well within 2.5 s."""
    s = start_server(server_bin, "--set", f"portainer.url={fakes['portainer'].url}", "--set", "server.response_mode=sse",
                     "--set", "server.sse_ping_interval=1s", env=BACKEND_ENV)
    try:
        hangups = await call_and_give_up(s, fakes["portainer"], "auto")
    finally:
        s.stop()
    assert hangups and hangups[0][1] < 2.5


@pytest.mark.parametrize("response_mode", ["json", "sse"])
async def test_session_call_outlives_a_dropped_connection(server_bin, fakes, response_mode):
    """2025-11-25 basic/transports.mdx "Sending Messages to the Server": "Disconnection SHOULD
    NOT be interpreted as the client cancelling its request" (a 2025 client cancels with
    notifications/cancelled; 2026-07-28, above, is the other way round). The backend request
    of a call whose connection dropped runs to its answer."""
    import http.client
    backend = fakes["portainer"]
    s = start_server(server_bin, "--set", f"portainer.url={backend.url}",
                     "--set", f"server.response_mode={response_mode}", env=BACKEND_ENV)
    backend.reset()
    try:
        h = {**s.headers, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                                 "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}), h)
        r = conn.getresponse()
        h = {**h, "Mcp-Session-Id": r.getheader("Mcp-Session-Id"), "MCP-Protocol-Version": "2025-11-25"}
        r.read()
        conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), h)
        conn.getresponse().read()
        backend.delay = 1.0
        call = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=tls_context())
        call.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "portainer_get_container_logs", "arguments": {"container_id": "web"}}}), h)
        await anyio.sleep(0.3)
        call.close()
        await anyio.sleep(1.5)
        paths = [request.path for request in backend.requests]
        assert any(p.startswith("/api/endpoints/1/docker/containers/web/logs") for p in paths), paths
        assert backend.hangups == [], "the backend request was cancelled when the connection dropped"
    finally:
        backend.reset()
        s.stop()
