#!/usr/bin/env bash
# Slow-client and flood tests (issue 7 §3) against the built server, then a summary of what the
# legitimate client and the health probe saw during each attack. About 3 minutes.
#   scripts/slow-flood.sh            # builds (debug) unless MCP_SERVER_BIN is set
#   MCP_SERVER_BIN=.build-release/release/axinova-mcp-server scripts/slow-flood.sh
# Uses Debian's slowhttptest for slowloris / slow body / slow read when installed (else a Python
# stand-in; SLOW_FLOOD_TOOL=python forces it):  apt-get install -y slowhttptest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python
if [ -z "${MCP_SERVER_BIN:-}" ]; then
    swift build --product axinova-mcp-server
    MCP_SERVER_BIN="$PWD/.build/debug/axinova-mcp-server"
fi
export MCP_SERVER_BIN
command -v slowhttptest >/dev/null || echo "note: slowhttptest not installed; slowloris/slow body/slow read use the Python stand-in (300 connections)" >&2
report=$(mktemp /tmp/slow-flood-XXXXXX.jsonl)
trap 'rm -f "$report"' EXIT
status=0
SLOW_FLOOD_REPORT="$report" .venv/mcp2/bin/python -m pytest -q -p no:cacheprovider -m slow_flood \
    tests/python/test_slow_flood.py || status=$?
.venv/mcp2/bin/python - "$report" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print()
print("| attack | legit ok / sent | legit p50 ms | legit p99 ms | legit failures | health ok | server peak conns | server held @5s/@15s/end |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    l, h = r["legit"], r["health"]
    held = r.get("server_held_connections")
    held = "/".join(str(held[k]) for k in ("5s", "15s", "end")) if held else "-"
    fails = ", ".join(f"{k} x{v}" for k, v in l["failures"].items()) or "-"
    print(f"| {r['test']} | {l['ok']}/{l['requests']} ({l['success_rate']:.1%}) | {l['p50_ms']} | {l['p99_ms']} | {fails} "
          f"| {h['ok']}/{h['requests']} | {r['server_peak']['connections_active']} | {held} |")
for r in rows:
    extra = {k: v for k, v in r.items() if k in ("flood", "one_address", "attack")}
    if extra:
        print(f"\n{r['test']}: " + json.dumps(extra))
EOF
exit $status
