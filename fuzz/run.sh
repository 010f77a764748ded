#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (issue 7 §1).
#
#   fuzz/run.sh <target|all> [seconds]      e.g. fuzz/run.sh all 60
#
# Most targets are one harness in fuzz/targets/<target>.swift compiled by swiftc together
# with the sources of the module it exercises (no SwiftPM build), with
# -sanitize=fuzzer,address, into fuzz/out/. The targets that need NIO and Hummingbird
# (tls_server, http_parser, http_pipeline) are products of the package in fuzz/Package.swift, built by
# SwiftPM with -sanitize=fuzzer,address for every Swift module of the graph into
# fuzz/out/spm; the first build takes several minutes. Each target runs for <seconds> (default 60) from a
# working copy of the committed seeds in fuzz/corpus/<target>/ (new inputs go to
# fuzz/out/corpus/<target>/, so the committed corpus stays small). Crash, leak, timeout
# and out-of-memory reproducers land in fuzz/out/artifacts/<target>/.
# Exits non-zero when any target fails to build or finds a crash.
#
# Reproduce a crash:  fuzz/out/<target> fuzz/out/artifacts/<target>/crash-...
# Minimize it:        fuzz/out/<target> -minimize_crash=1 -runs=10000 <crash file>
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/out"
targets=(json_rpc yaml_config config_layers authorization sse_format tls_server http_parser http_pipeline)
# Built by SwiftPM from fuzz/Package.swift rather than by plain swiftc.
package_targets=" tls_server http_parser http_pipeline "

usage() { echo "usage: $0 <$(IFS='|'; echo "${targets[*]}")|all> [seconds]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
seconds="${2:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

swiftc_flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6
              -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
              -use-ld=lld)

sources_for() {
    case "$1" in
        json_rpc)
            printf '%s\n' "$root"/Sources/MCPCore/{JSONValue,JSONParser,JSONWriter,JSONRPC,String+CodeUnits,InputCap}.swift ;;
        yaml_config|config_layers)
            find "$root/Sources/Config" -name '*.swift' | sort ;;
        authorization)
            find "$root/Sources/Auth" -name '*.swift' | sort ;;
        sse_format)
            printf '%s\n' "$root/Sources/Server/SSEEventFormat.swift" ;;
        tls_server|http_parser|http_pipeline) ;;
        *) usage ;;
    esac
}

extra_flags_for() {
    case "$1" in
        yaml_config|config_layers) echo "-I $root/Sources/CLibYAML -lyaml" ;;
        authorization) echo "-I $root/Sources/COpenSSL -lssl -lcrypto" ;;
        *) echo "" ;;
    esac
}

# Largest input the fuzzer generates: enough for a real message or config file, small
# enough to keep executions fast.
max_len_for() {
    case "$1" in
        json_rpc) echo 4096 ;;
        yaml_config|config_layers) echo 4096 ;;
        authorization) echo 1024 ;;
        sse_format) echo 2048 ;;
        tls_server) echo 4096 ;;
        http_parser) echo 4096 ;;
        http_pipeline) echo 4096 ;;
    esac
}

build() {
    local target="$1" module
    if [[ "$package_targets" == *" $target "* ]]; then
        # Not `--sanitize=fuzzer --sanitize=address`: SwiftPM passes those to swiftc as two
        # flags and the last one wins, so nothing got coverage instrumentation (libFuzzer then
        # sees only the C shims' counters). One combined flag instruments every Swift module
        # of the graph and links libFuzzer's main. -enable-testing: the http_pipeline harness
        # reaches internal seams of MCPServerKit (the child channel and router the public
        # listener uses).
        swift build --package-path "$here" -c release --scratch-path "$out/spm" --product "$target" \
            -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing || return 1
        cp "$out/spm/release/$target" "$out/$target" || return 1
        return
    fi
    module="Fuzz_${target}"
    mkdir -p "$out/build/$target" || return 1
    mapfile -t srcs < <(sources_for "$target")
    # shellcheck disable=SC2046
    swiftc "${swiftc_flags[@]}" -module-name "$module" \
        -module-cache-path "$out/module-cache" \
        $(extra_flags_for "$target") \
        "$here/targets/$target.swift" "${srcs[@]}" -o "$out/$target"
}

run() {
    # The Swift runtime backtracer would fork a helper that outlives the crash and holds
    # the output pipe open; libFuzzer and ASan report crashes themselves.
    export SWIFT_BACKTRACE=enable=no
    local target="$1" work="$out/corpus/$1" artifacts="$out/artifacts/$1"
    mkdir -p "$work" "$artifacts"
    echo "== $target: ${seconds}s"
    # -timeout: one input may take at most 5 s; -rss_limit_mb: a leak or blow-up fails.
    "$out/$target" "$work" "$here/corpus/$target" \
        -max_total_time="$seconds" -max_len="$(max_len_for "$target")" \
        -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" 2>&1 | tee "$out/$target.log" \
        | { grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==[0-9]+==ERROR|SUMMARY|stat::)|Fatal error' || true; }
    return "${PIPESTATUS[0]}"
}

# Everything runs from main, so editing this file during a run cannot change what runs.
main() {
    case "$1" in
        all) selected=("${targets[@]}") ;;
        *) selected=("$1"); sources_for "$1" >/dev/null ;;
    esac

    status=0
    for target in "${selected[@]}"; do
        if ! build "$target"; then
            echo "!! $target: build failed" >&2; status=1; continue
        fi
        if ! run "$target"; then
            echo "!! $target: fuzzer found a failure, see $out/$target.log and $out/artifacts/$target/" >&2
            status=1
        fi
    done
    return "$status"
}

main "$@"
exit $?
