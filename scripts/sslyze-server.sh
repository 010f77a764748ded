#!/usr/bin/env bash
# Checks the running server's public TLS listener with sslyze (PyPI) against Mozilla's
# "intermediate" profile (https://wiki.mozilla.org/Security/Server_Side_TLS). Starts the real
# server binary on loopback with test certificates, runs sslyze, stops the server.
# Exits non-zero when sslyze finds the configuration not compliant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="${MCP_SERVER_BIN:-$root/.build/debug/axinova-mcp-server}"
venv="$root/.venv/sslyze"
if [[ ! -x "$venv/bin/sslyze" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "sslyze==6.3.1"
fi
work="$(mktemp -d)"
certs/make-dev-certs.sh "$work" > /dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ops=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APP_SERVER__API_TOKEN=sslyze-check-token-0123456789abcdef012345 "$bin" --config-dir "$root/config" \
    --set server.port="$port" --set server.http_port="$ops" --set log.level=warning \
    --set tls.cert_file="$work/server.pem" --set tls.key_file="$work/server-key.pem" \
    --set limits.connection_rate_per_ip=1000 --set limits.connection_burst_per_ip=1000 \
    > "$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ops/ready" > /dev/null && break; sleep 0.1; done
set +e
timeout 300 "$venv/bin/sslyze" --mozilla_config=intermediate --certinfo_ca_file="$work/ca.pem" "127.0.0.1:$port" > "$work/sslyze.out"
status=$?
set -e
sed -n '/COMPLIANCE AGAINST/,$p' "$work/sslyze.out"
if [[ $status -eq 0 ]]; then echo "sslyze: server is compliant with Mozilla intermediate"; else tail -40 "$work/sslyze.out"; fi
exit "$status"
