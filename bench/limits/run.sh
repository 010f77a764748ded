#!/usr/bin/env bash
# Limiter and verifier decision costs (issue 5 benchmarks), release build. Takes a few minutes
# the first time (release build of the package). Prints one "bench ...: N ns/op" line per figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
# -enable-testing: the test targets use @testable import.
BENCH=1 swift test -c release -Xswiftc -enable-testing --filter 'BenchTests' 2>&1 \
    | grep -E '^bench |✘|Test run with|error:'
