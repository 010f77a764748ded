#!/bin/sh
# Added latency of the prometheus_query tool over a direct Prometheus query, in-process:
# the same BackendHTTPClient request with and without the tool layer (argument handling,
# JSON parse, result serialization), A/B interleaved against a real Prometheus on loopback.
# The end-to-end figure (MCP tools/call through the server vs. a direct query) needs the
# server; this measures the part the Tools module adds.
#   TOOLS_BENCH_N=5000 bench/tools/bench.sh
set -eu
cd "$(dirname "$0")/../.."
command -v prometheus >/dev/null || { echo "prometheus not installed (apt-get install -y prometheus)" >&2; exit 1; }
swift build --build-tests -c "${CONFIG:-debug}" >/dev/null
TOOLS_BENCH=1 TOOLS_BENCH_N="${TOOLS_BENCH_N:-2000}" \
    swift test --skip-build -c "${CONFIG:-debug}" --filter ToolsBenchmark 2>&1 | grep -E '^BENCH|✘|error' || true
