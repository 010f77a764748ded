#!/usr/bin/env bash
# bench/json/run.sh [document.json] [rounds]: time MCPCore's JSON parser and writer against
# Foundation's JSONSerialization on one document (default: our tools/list answer, 1,353 B),
# built with -O like a release build. Prints nanoseconds per operation.
# REF=<git revision> also times that revision's parser and writer, in the same run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
build() { # output sources-dir
    swiftc -O -wmo -module-name JSONBench -o "$1" "$root/bench/json/main.swift" "$2"/{JSONValue,JSONParser,JSONWriter}.swift
}
build "$work/json-bench" "$root/Sources/MCPCore"
if [[ -n "${REF:-}" ]]; then
    mkdir -p "$work/ref"
    for f in JSONValue JSONParser JSONWriter; do git -C "$root" show "$REF:Sources/MCPCore/$f.swift" > "$work/ref/$f.swift"; done
    build "$work/json-bench-ref" "$work/ref"
fi
cd "$root"
"$work/json-bench" "${1:-bench/json/tools-list.json}" "${2:-100000}"
if [[ -n "${REF:-}" ]]; then
    JSON_BENCH_LABEL="MCPCore at $REF" JSON_BENCH_ONLY_OURS=1 "$work/json-bench-ref" "${1:-bench/json/tools-list.json}" "${2:-100000}" | tail -n +2
fi
