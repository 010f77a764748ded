"""Local stand-ins for the backends that cannot be installed here (Grafana, Portainer,
SilverBullet, Vikunja): one ThreadingHTTPServer each, answering the documented response
shapes of every endpoint in the tool catalogue and recording every request (method, path,
query, headers, body) so a test can assert exactly what a tool sent.

Shapes follow each product's HTTP API docs: Grafana (developers/http_api: search,
dashboard, data_source, ds/query, alerting_provisioning, other#health), Portainer (its
API plus the Docker Engine API under /api/endpoints/{id}/docker; logs use Docker's
multiplexed stream: 8-byte header [stream, 0, 0, 0, size (big-endian u32)] per frame),
SilverBullet (HTTP file API `/.fs`, `X-Sync-Mode`), Vikunja (API v1: PUT creates, POST
updates, tasks at /api/v1/tasks/{id}).

Each fake checks its auth header and answers 401 when it is wrong, so a test that passes
also proves the tool authenticated. `fail(method, path, status, body)` makes the next
matching requests fail (backend error cases). Bodies are bounded (1 MiB) and every
server thread is a daemon.
"""
import json
import re
import select
import socket
import ssl
import struct
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 8 << 20  # a page of several MB is put straight in (put_long_page)


class _QuietServer(ThreadingHTTPServer):
    """Peers that hang up (the server's pool closing an idle connection, a client that
    gave up on a slow answer, a refused TLS handshake) are normal here, not errors."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Request:
    """One request as the fake saw it."""

    def __init__(self, method, raw_path, headers, body):
        parts = urlsplit(raw_path)
        self.method = method
        self.raw_path = raw_path
        self.path = unquote(parts.path)
        self.raw_query = parts.query
        self.query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self.received = time.monotonic()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.method} {self.raw_path}>"


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        self.status, self.body, self.content_type, self.headers = status, bytes(body), content_type, headers or {}


def _json(value, status=200):
    return Response(status, value)


class FakeBackend:
    """A recording HTTP(S) server with a route table: (method, regex) -> handler(request, match)."""

    def __init__(self, name, check_auth, routes, ssl_context=None, host="127.0.0.1"):
        self.name = name
        self._check_auth = check_auth
        self._routes = [(m, re.compile(p + r"\Z"), h) for m, p, h in routes]
        self._lock = threading.Lock()
        self.requests = []
        self._failures = {}
        self.delay = 0.0
        self.hangups = []  # (request, seconds after it arrived) the client gave up on
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real backends do

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, self.headers, body)
                response = backend._respond(request)
                if backend.delay and not self._wait_or_hangup(backend.delay):
                    backend._record_hangup(request)
                    self.close_connection = True
                    return
                self.send_response(response.status)
                if response.status not in (204, 304):
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(response.body)))
                for k, v in response.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if response.status not in (204, 304):
                    self.wfile.write(response.body)

            def _wait_or_hangup(self, seconds):
                """Sleeps up to `seconds` in 20 ms steps; False as soon as the client has
                closed the connection (a cancelled call), so a test can see it stop."""
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0.02)
                    if readable:
                        try:
                            if self.connection.recv(1, socket.MSG_PEEK) == b"":
                                return False
                        except ssl.SSLWantReadError:
                            pass  # TLS record (e.g. a close_notify in progress): look again
                        except (ConnectionError, ssl.SSLError, ValueError, OSError):
                            return False
                return True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *args):
                pass

        self.server = _QuietServer((host, 0), Handler)
        scheme = "http"
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{scheme}://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, name=f"fake-{name}", daemon=True).start()

    # -- used by tests -------------------------------------------------------------------
    def fail(self, method, path, status, body=None, content_type="application/json"):
        """Answers `status` (with `body`) to every later `method path` until `reset()`
        (also used for hostile 200 answers: oversized or not JSON)."""
        with self._lock:
            self._failures[(method, path)] = Response(
                status, body if body is not None else {"message": f"fake {self.name} failure"}, content_type)

    def reset(self):
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.hangups.clear()
        self.delay = 0.0

    def _record_hangup(self, request):
        with self._lock:
            self.hangups.append((request, time.monotonic() - request.received))

    def take(self):
        """The requests recorded since the last take()/reset(), oldest first."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def last(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    def shutdown(self):
        self.server.shutdown()
        self.server.server_close()

    # -- request handling ----------------------------------------------------------------
    def _respond(self, request):
        with self._lock:
            self.requests.append(request)
            if len(self.requests) > 10_000:  # bounded even if a test never takes
                del self.requests[:5_000]
            failure = self._failures.get((request.method, request.path))
        if not self._check_auth(request.headers):
            return _json({"message": "Unauthorized"}, 401)
        if failure is not None:
            return failure
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, match)
        return _json({"message": "Not found"}, 404)


# ---------------------------------------------------------------------------------------
# Grafana (Authorization: Bearer <service-account token>)
GRAFANA_TOKEN = "glsa_fake_grafana_token"


def grafana_routes():
    dashboards = {"abc123": {"uid": "abc123", "title": "Node exporter", "panels": [], "schemaVersion": 39, "version": 3}}
    datasources = [{"id": 1, "uid": "prom1", "orgId": 1, "name": "Prometheus", "type": "prometheus", "access": "proxy",
                    "url": "http://prometheus:9090", "isDefault": True, "readOnly": False}]

    def search(req, m):
        hits = [{"id": 7, "uid": uid, "title": d["title"], "uri": f"db/{uid}", "url": f"/d/{uid}/x", "type": "dash-db",
                 "tags": [], "isStarred": False, "folderUid": "", "folderTitle": "General"} for uid, d in dashboards.items()]
        q = req.query.get("query", "").lower()
        return _json([h for h in hits if q in h["title"].lower()])

    def get_dashboard(req, m):
        d = dashboards.get(m[1])
        if d is None:
            return _json({"message": "Dashboard not found"}, 404)
        return _json({"dashboard": d, "meta": {"type": "db", "slug": "x", "url": f"/d/{m[1]}/x", "folderUid": "", "version": d["version"]}})

    def create_dashboard(req, m):
        body = req.json()
        uid = body["dashboard"].get("uid") or "new0001"
        dashboards[uid] = dict(body["dashboard"], uid=uid, version=1)
        return _json({"id": 8, "uid": uid, "url": f"/d/{uid}/new", "status": "success", "version": 1, "slug": "new"})

    def delete_dashboard(req, m):
        d = dashboards.pop(m[1], None)
        if d is None:
            return _json({"message": "Dashboard not found"}, 404)
        return _json({"title": d["title"], "message": f"Dashboard {d['title']} deleted", "id": 7})

    def get_datasource(req, m):
        for ds in datasources:
            if ds["uid"] == m[1]:
                return _json(ds)
        return _json({"message": "Data source not found"}, 404)

    def create_datasource(req, m):
        body = req.json()
        ds = dict(body, id=2, uid="new-ds", orgId=1)
        return _json({"datasource": ds, "id": 2, "message": "Datasource added", "name": body.get("name")})

    def ds_query(req, m):
        body = req.json()
        ref = body["queries"][0]["refId"]
        frame = {"schema": {"name": "up", "refId": ref, "fields": [
            {"name": "Time", "type": "time", "typeInfo": {"frame": "time.Time"}},
            {"name": "Value", "type": "number", "labels": {"job": "prometheus"}}]},
            "data": {"values": [[1700000000000, 1700000060000], [1, 1]]}}
        return _json({"results": {ref: {"status": 200, "frames": [frame]}}})

    return [
        ("GET", r"/api/search", search),
        ("GET", r"/api/dashboards/uid/([^/]+)", get_dashboard),
        ("POST", r"/api/dashboards/db", create_dashboard),
        ("DELETE", r"/api/dashboards/uid/([^/]+)", delete_dashboard),
        ("GET", r"/api/datasources", lambda r, m: _json(datasources)),
        ("GET", r"/api/datasources/uid/([^/]+)", get_datasource),
        ("POST", r"/api/datasources", create_datasource),
        ("POST", r"/api/ds/query", ds_query),
        ("GET", r"/api/v1/provisioning/alert-rules", lambda r, m: _json([{
            "uid": "rule1", "title": "High CPU", "folderUID": "f1", "ruleGroup": "cpu", "condition": "B",
            "for": "5m", "noDataState": "NoData", "execErrState": "Error", "data": []}])),
        ("GET", r"/api/health", lambda r, m: _json({"commit": "abc", "database": "ok", "version": "11.0.0"})),
    ]


class SilentBackend:
    """A backend that accepts connections and never answers: `url` to point a tool at, `held`
    the connections it accepted (in order), to answer or close by hand. A context manager:
    leaving it stops accepting and closes them all."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.stopping.set()
        self.thread.join()
        self.listener.close()
        for connection in self.held:
            connection.close()


def start_fake_grafana_backend(ssl_context=None, token=GRAFANA_TOKEN, host="127.0.0.1"):
    return FakeBackend("grafana", lambda h: h.get("authorization") == f"Bearer {token}", grafana_routes(), ssl_context, host)


# ---------------------------------------------------------------------------------------
# Portainer (X-API-Key)
PORTAINER_KEY = "ptr_fake_portainer_key"
LOG_FRAMES = [(1, b"server started on :80\n"), (2, b"warning: low disk\n"), (1, b"GET / 200\n")]


def docker_multiplexed(frames):
    """Docker's attach/logs stream for a container without a TTY: per frame, 1 byte stream
    (1 stdout, 2 stderr), 3 zero bytes, payload size as big-endian u32, then the payload."""
    return b"".join(struct.pack(">BxxxI", stream, len(payload)) + payload for stream, payload in frames)


def portainer_routes():
    state = {"web": "running"}
    containers = [{"Id": "c0ffee1234", "Names": ["/web"], "Image": "nginx:1.27", "State": "running",
                   "Status": "Up 2 hours", "Created": 1700000000, "Ports": [], "Labels": {}}]

    def action(req, m):
        verb, cid = m[3], m[2]
        target = "running" if verb in ("start", "restart") else "exited"
        if verb != "restart" and state.get(cid) == target:
            return Response(304)
        state[cid] = target
        return Response(204)

    def inspect(req, m):
        return _json({"Id": "c0ffee1234", "Name": "/" + m[2], "Image": "sha256:abc",
                      "State": {"Status": state.get(m[2], "running"), "Running": state.get(m[2], "running") == "running",
                                "Pid": 42, "ExitCode": 0, "StartedAt": "2026-11-30T00:00:00Z"},
                      "Config": {"Image": "nginx:1.27", "Env": ["PATH=/usr/bin"]}, "RestartCount": 0})

    def logs(req, m):
        return Response(200, docker_multiplexed(LOG_FRAMES), "application/vnd.docker.multiplexed-stream")

    stack = {"Id": 3, "Name": "monitoring", "Type": 2, "EndpointId": 1, "Status": 1, "EntryPoint": "docker-compose.yml"}
    return [
        ("GET", r"/api/endpoints", lambda r, m: _json([{"Id": 1, "Name": "local", "Type": 1, "URL": "unix:///var/run/docker.sock", "Status": 1}])),
        ("GET", r"/api/endpoints/(\d+)/docker/containers/json", lambda r, m: _json(containers)),
        ("POST", r"/api/endpoints/(\d+)/docker/containers/([^/]+)/(start|stop|restart)", action),
        ("GET", r"/api/endpoints/(\d+)/docker/containers/([^/]+)/logs", logs),
        ("GET", r"/api/endpoints/(\d+)/docker/containers/([^/]+)/json", inspect),
        ("GET", r"/api/stacks", lambda r, m: _json([stack])),
        ("GET", r"/api/stacks/3", lambda r, m: _json(stack)),
        ("GET", r"/api/stacks/3/file", lambda r, m: _json({"StackFileContent": "services:\n  web:\n    image: nginx\n"})),
        ("GET", r"/api/system/status", lambda r, m: _json({"Version": "2.21.0", "InstanceID": "0f1e2d3c"})),
    ]


def start_fake_portainer(ssl_context=None, key=PORTAINER_KEY):
    return FakeBackend("portainer", lambda h: h.get("x-api-key") == key, portainer_routes(), ssl_context)


# ---------------------------------------------------------------------------------------
# SilverBullet (Bearer, always X-Sync-Mode: true)
SILVERBULLET_TOKEN = "sb_fake_token"


def put_long_page(fake, name, lines):
    """Stores a page of `lines` numbered lines (25 bytes each) in a fake SilverBullet."""
    page = b"".join(b"line %07d of a long page\n" % i for i in range(lines))
    put = urllib.request.Request(f"{fake.url}/.fs/{name}.md", data=page, method="PUT",
                                 headers={"Authorization": f"Bearer {SILVERBULLET_TOKEN}"})
    urllib.request.urlopen(put, timeout=10).read()


def silverbullet_routes():
    pages = {"index.md": b"# Welcome\nThis is the index.\n", "Notes/Today.md": b"# Today\nDeploy grafana upgrade\nbuy milk\n"}

    def listing(req, m):
        return _json([{"name": n, "lastModified": 1700000000000, "created": 1700000000000, "contentType": "text/markdown",
                       "size": len(b), "perm": "rw"} for n, b in sorted(pages.items())])

    def get(req, m):
        body = pages.get(m[1])
        if body is None:
            return Response(404, b"Not found", "text/plain")
        return Response(200, body, "text/markdown", {"X-Permission": "rw", "X-Last-Modified": "1700000000000"})

    def put(req, m):
        pages[m[1]] = req.body
        return Response(200, b"OK", "text/plain", {"X-Last-Modified": "1700000000001"})

    def delete(req, m):
        if pages.pop(m[1], None) is None:
            return Response(404, b"Not found", "text/plain")
        return Response(200, b"OK", "text/plain")

    return [("GET", r"/\.fs/?", listing), ("GET", r"/\.fs/(.+)", get), ("PUT", r"/\.fs/(.+)", put), ("DELETE", r"/\.fs/(.+)", delete)]


def start_fake_silverbullet(ssl_context=None, token=SILVERBULLET_TOKEN):
    return FakeBackend("silverbullet", lambda h: h.get("authorization") == f"Bearer {token}", silverbullet_routes(), ssl_context)


# ---------------------------------------------------------------------------------------
# Vikunja (Bearer). `views_api=True` behaves like Vikunja >= 0.24: tasks are listed per view.
VIKUNJA_TOKEN = "tk_fake_vikunja_token"


def vikunja_routes(views_api=False):
    projects = {1: {"id": 1, "title": "Ops", "description": "", "is_archived": False, "created": "2026-01-01T00:00:00Z"}}
    tasks = {42: {"id": 42, "project_id": 1, "title": "Rotate certs", "description": "", "done": False, "priority": 2,
                  "due_date": "0001-01-01T00:00:00Z", "labels": None}}

    def get_project(req, m):
        p = projects.get(int(m[1]))
        return _json(p) if p else _json({"code": 3001, "message": "The project does not exist."}, 404)

    def create_project(req, m):
        body = req.json()
        pid = max(projects) + 1
        projects[pid] = dict(body, id=pid, is_archived=False)
        return _json(projects[pid], 201)

    def list_tasks(req, m):
        return _json([t for t in tasks.values() if t["project_id"] == int(m[1])])

    def create_task(req, m):
        body = req.json()
        tid = max(tasks) + 1
        tasks[tid] = dict({"done": False, "priority": 0, "description": ""}, **body, id=tid, project_id=int(m[1]))
        return _json(tasks[tid], 201)

    def get_task(req, m):
        t = tasks.get(int(m[1]))
        return _json(t) if t else _json({"code": 4002, "message": "The task does not exist."}, 404)

    def update_task(req, m):
        tid = int(m[1])
        if tid not in tasks:
            return _json({"code": 4002, "message": "The task does not exist."}, 404)
        tasks[tid] = dict(req.json(), id=tid)
        return _json(tasks[tid])

    def delete_task(req, m):
        if tasks.pop(int(m[1]), None) is None:
            return _json({"code": 4002, "message": "The task does not exist."}, 404)
        return _json({"message": "Successfully deleted."})

    routes = [
        ("GET", r"/api/v1/projects", lambda r, m: _json(list(projects.values()))),
        ("GET", r"/api/v1/projects/(\d+)", get_project),
        ("PUT", r"/api/v1/projects", create_project),
        ("PUT", r"/api/v1/projects/(\d+)/tasks", create_task),
        ("GET", r"/api/v1/tasks/(\d+)", get_task),
        ("POST", r"/api/v1/tasks/(\d+)", update_task),
        ("DELETE", r"/api/v1/tasks/(\d+)", delete_task),
    ]
    if views_api:
        routes += [
            ("GET", r"/api/v1/projects/(\d+)/views", lambda r, m: _json([
                {"id": 11, "project_id": int(m[1]), "title": "List", "view_kind": "list"},
                {"id": 12, "project_id": int(m[1]), "title": "Kanban", "view_kind": "kanban"}])),
            ("GET", r"/api/v1/projects/(\d+)/views/11/tasks", list_tasks),
        ]
    else:
        routes.append(("GET", r"/api/v1/projects/(\d+)/tasks", list_tasks))
    return routes


def start_fake_vikunja(ssl_context=None, token=VIKUNJA_TOKEN, views_api=False):
    return FakeBackend("vikunja", lambda h: h.get("authorization") == f"Bearer {token}", vikunja_routes(views_api), ssl_context)


def server_tls_context(cert_file, key_file):
    """A server-side TLS context for a fake backend (the test CA's 127.0.0.1 certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


# ---------------------------------------------------------------------------------------
# The original minimal Grafana health stand-in (conftest.py's fake_grafana fixture).
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/api/health":
            body = json.dumps({"commit": "abc", "database": "ok", "version": "11.0.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


def start_fake_grafana():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
