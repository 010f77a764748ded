#!/usr/bin/env bash
# Allocations per request: bench/allocs.sh BIN [list|call|api|tls]
# Counts calls to malloc and swift_allocObject (and swift_task_alloc, the task allocator's
# slab requests) in the server over one `wrk -c32` run of 3 s, with `perf stat` on uprobes
# (needs perf and root; the probes are added once and kept), and divides by the requests.
# The window covers the whole run, so the figures include wrk's 32 connection set-ups
# (about 0.3 per request). Counts, not time: they hold on a busy host.
# `tls`: per new TLS 1.3 connection under `openssl s_time -new` (3 s), ours and then nginx
# (same certificate and settings), with free, swift_retain/release, epoll_ctl and all
# system calls too. The uprobes slow both servers alike; only the counts mean anything.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"; cd "$root"
bin="$1"; what="${2:-call}"
[[ -x "$bin" ]] || { echo "not an executable: $bin" >&2; exit 1; }
# The probes sit in libswiftCore.so and libswift_Concurrency.so: a binary with the runtime
# linked in (scripts/release-build) would count no Swift allocation at all, silently.
ldd "$bin" | grep -q libswiftCore.so || {
    echo "$bin links the Swift runtime statically, where these probes see nothing: use a plain \`swift build -c release\` binary" >&2; exit 1; }
swiftlib="$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux"
libc="$(ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}')"
perf probe -q -x "$libc" malloc 2> /dev/null || true
perf probe -q -x "$swiftlib/libswiftCore.so" swift_allocObject 2> /dev/null || true
perf probe -q -x "$swiftlib/libswift_Concurrency.so" swift_task_alloc 2> /dev/null || true
source bench/lib.sh  # sets bin to the release build: the one asked for is set after it
bin="$(readlink -f "$1")"
bench_setup
if [[ $what == tls ]]; then
    perf probe -q -x "$libc" free 2> /dev/null || true
    perf probe -q -x "$swiftlib/libswiftCore.so" swift_retain 2> /dev/null || true
    perf probe -q -x "$swiftlib/libswiftCore.so" swift_release 2> /dev/null || true
    start_ours A
    echo ok > "$work/mcp"; start_nginx "$work/mcp"
    events=probe_libc:malloc,probe_libc:free,probe_libswiftCore:swift_allocObject,probe_libswiftCore:swift_retain
    events+=,probe_libswiftCore:swift_release,syscalls:sys_enter_epoll_ctl,raw_syscalls:sys_enter
    for name in ours nginx; do
        if [[ $name == ours ]]; then pid=$A_pid; port=$A_port; else pid=$nginx_worker; port=$nginx_port; fi
        timeout 30 taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time 1 > /dev/null 2>&1 || true
        perf stat -e "$events" -p "$pid" -o "$work/stat.$name" -- sleep 4 > /dev/null 2>&1 &
        sp=$!; sleep 0.2
        out="$(timeout 40 taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time 3 2>&1)"
        wait "$sp" || true
        n="$(echo "$out" | awk '/connections in [0-9.]+ real seconds/ {print $1; exit}')"
        echo "$name: $n new TLS connections"
        awk -v n="$n" '/probe_|syscalls:|raw_syscalls:/ {gsub(",", "", $1); sub(/^[a-z_]*probe_[^:]*:|^(raw_)?syscalls:/, "", $2); printf "  %-22s %.1f per connection\n", $2, $1 / n}' "$work/stat.$name"
    done
    exit 0
fi
h="$ours_list_h"; body="$ours_list_body"; path=/mcp
[[ $what == call ]] && { h="$ours_call_h"; body="$ours_call_body"; }
[[ $what == api ]] && { h="$api_h"; body="$call_body"; path=/api/mcp/v1/call; }
start_ours A
url="https://127.0.0.1:$A_port$path"
BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c32 -d1s -s bench/http/post.lua "$url" > /dev/null
perf stat -e probe_libc:malloc,probe_libswiftCore:swift_allocObject,probe_libswift_Concurrency:swift_task_alloc \
    -p "$A_pid" -o "$work/stat" -- sleep 4 &
sp=$!; sleep 0.3
BODY="$body" HEADERS="$h" taskset -c 1 wrk -t1 -c32 -d3s -s bench/http/post.lua "$url" > "$work/w"
wait "$sp" || true
n="$(awk '/requests in/ {print $1; exit}' "$work/w")"
echo "$what: $n requests"
awk -v n="$n" '/probe_/ {gsub(",", "", $1); sub(/^probe_[^:]*:/, "", $2); printf "  %-18s %.1f per request\n", $2, $1 / n}' "$work/stat"
