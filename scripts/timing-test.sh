#!/usr/bin/env bash
# Statistical timing test of bearer-token verification (issue 5). Run on demand, not in CI:
# the result depends on machine load. Usage:
#   scripts/timing-test.sh            # debug build, 200k samples per class
#   CONFIG=release TIMING_SAMPLES=300000 scripts/timing-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
config="${CONFIG:-debug}"
extra=()
if [[ "$config" == "release" ]]; then
    # The tests use @testable import; release builds need testability switched on.
    extra=(-Xswiftc -enable-testing)
fi
TIMING_TEST=1 swift test -c "$config" "${extra[@]}" --filter 'AuthTests.TimingTests' 2>&1 \
    | grep -E 'timing |✘|✔ Test run|Test run with|error:'
