# Sourced by scripts/tls-*.sh and bench/tls/bench.sh: starts the TLS echo server that lives in
# the TLSTests target (BenchmarkServer, enabled by TLS_BENCH_DIR) and stops it again.
# Needs `swift build --build-tests` to have run. Sets SERVER_PORT and SERVER_PID.

start_tls_test_server() { # dir
    local dir="$1" i
    rm -f "$dir/stop" "$dir/server.port" "$dir/server.handshakes"
    TLS_BENCH_DIR="$dir" timeout 400 swift test --skip-build ${SWIFT_TEST_FLAGS:-} --filter BenchmarkServer \
        > "$dir/server.log" 2>&1 &
    TEST_RUNNER_PID=$!
    for i in $(seq 600); do   # at most 120 s: the first run loads the test bundle
        [[ -s "$dir/server.port" ]] && break
        sleep 0.2
    done
    [[ -s "$dir/server.port" ]] || { echo "server did not start; see $dir/server.log" >&2; return 1; }
    read -r SERVER_PORT SERVER_PID < "$dir/server.port"
}

stop_tls_test_server() { # dir
    touch "$1/stop"
    wait "$TEST_RUNNER_PID" 2>/dev/null || true
}
