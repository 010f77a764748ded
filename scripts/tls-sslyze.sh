#!/usr/bin/env bash
# Checks the server's TLS configuration with sslyze (PyPI) against Mozilla's "intermediate"
# profile: the server under test is our TLSHandler on 127.0.0.1 with dev certificates.
# Exits non-zero if sslyze finds the configuration not compliant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/tls-test-server.sh

venv="$root/.venv"
if [[ ! -x "$venv/bin/sslyze" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q sslyze
fi

work="$(mktemp -d)"
trap 'stop_tls_test_server "$work" || true; rm -rf "$work"' EXIT
certs/make-dev-certs.sh "$work" > /dev/null 2>&1
swift build --build-tests > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
start_tls_test_server "$work"

# The dev CA is passed so that certificate path validation can succeed.
timeout 300 "$venv/bin/sslyze" --mozilla_config=intermediate --certinfo_ca_file="$work/ca.pem" \
    "127.0.0.1:$SERVER_PORT" | tee "$work/sslyze.out" | sed -n '/COMPLIANCE AGAINST/,$p'
status=${PIPESTATUS[0]}
if [[ $status -eq 0 ]]; then echo "sslyze: 1 passed, 0 failed"; else echo "sslyze: 0 passed, 1 failed"; fi
exit "$status"
