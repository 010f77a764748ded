#!/usr/bin/env bash
# Checks the Dockerfile's runtime stage without a Docker engine (none is available where this
# was written): builds the release binary with the static Swift runtime and LTO, as the
# builder stage does (scripts/release-build), makes a Debian 12 minimal root file system with exactly the runtime stage's
# packages (debootstrap), installs the binary, config and a user like the Dockerfile, and
# runs the server in a chroot as uid 10001: /health over the ops listener and an
# authenticated tools/call over TLS must answer, then SIGTERM must stop it with exit 0.
# The builder stage itself (the swift image) is not exercised. Needs root, debootstrap and
# network access to a Debian mirror; takes 10-20 minutes (the static release build).
#
#   deploy/check-runtime.sh [rootfs-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rootfs="${1:-/tmp/axinova-runtime-rootfs}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cd "$root"
command -v debootstrap > /dev/null || apt-get install -y debootstrap > /dev/null

bin="$(scripts/release-build)"

if [[ ! -x "$rootfs/bin/sh" ]]; then
    # The runtime stage's packages (deploy/Dockerfile) plus curl-free minbase.
    debootstrap --variant=minbase --include=libssl3,libyaml-0-2,libstdc++6,ca-certificates,tzdata \
        bookworm "$rootfs" "$mirror" > "$rootfs.debootstrap.log" 2>&1
fi
work="$(mktemp -d)"
cleanup() {
    pkill -TERM -f "$rootfs-marker" 2>/dev/null || true
    umount "$rootfs/proc" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
certs/make-dev-certs.sh "$work" > /dev/null 2>&1

install -D -m 0755 "$bin" "$rootfs/usr/local/bin/axinova-mcp-server"
chroot "$rootfs" sh -c 'getent group axinova-mcp > /dev/null || { groupadd --system --gid 10001 axinova-mcp &&
    useradd --system --uid 10001 --gid axinova-mcp --home-dir /var/lib/axinova-mcp --shell /usr/sbin/nologin axinova-mcp; } 2> /dev/null
    install -d -m 0750 -o axinova-mcp -g axinova-mcp /var/lib/axinova-mcp
    install -d -m 0750 -o root -g axinova-mcp /etc/axinova-mcp /etc/axinova-mcp/tls /etc/axinova-mcp/tokens'
install -m 0640 -g 10001 config/base.yaml config/prod.yaml "$rootfs/etc/axinova-mcp/"
install -m 0640 -g 10001 "$work/server.pem" "$rootfs/etc/axinova-mcp/tls/server.crt"
install -m 0640 -g 10001 "$work/server-key.pem" "$rootfs/etc/axinova-mcp/tls/server.key"
token="check-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf %s "$token" > "$rootfs/etc/axinova-mcp/tokens/ops"
chown root:10001 "$rootfs/etc/axinova-mcp/tokens/ops"; chmod 0640 "$rootfs/etc/axinova-mcp/tokens/ops"
mount -t proc proc "$rootfs/proc"

echo "libraries the binary needs inside the runtime file system:"
chroot "$rootfs" ldd /usr/local/bin/axinova-mcp-server | sed 's/^/  /'
if chroot "$rootfs" ldd /usr/local/bin/axinova-mcp-server | grep -q "not found"; then
    echo "FAIL: a shared library is missing from the runtime stage" >&2; exit 1
fi

port=18743; ops=19743
chroot --userspec=10001:10001 "$rootfs" env -i ENV=prod HOME=/var/lib/axinova-mcp MCP_TOKEN_CI="ci-$token" \
    /usr/local/bin/axinova-mcp-server serve --config-dir /etc/axinova-mcp --env prod \
    --set server.host=127.0.0.1 --set server.port=$port --set server.http_port=$ops \
    --set "server.name=$rootfs-marker" > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$ops/ready" && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$ops/health" | grep -q '"healthy"' || { cat "$work/server.log" >&2; echo "FAIL: /health" >&2; exit 1; }
answer="$(curl -sS --cacert "$work/ca.pem" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: tools/call' -H 'Mcp-Name: server_status' \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"server_status","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' \
    "https://localhost:$port/mcp")"
grep -q '"result"' <<< "$answer" || { echo "FAIL: tools/call answered: $answer" >&2; exit 1; }
user="$(ps -o user= -p "$(pgrep -f "$rootfs-marker" | tail -1)")"
[[ "$user" == "10001" || "$user" == "axinova-mcp" ]] || { echo "FAIL: runs as $user" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid" && rc=0 || rc=$?
[[ $rc -eq 0 ]] || { echo "FAIL: exit status $rc after SIGTERM" >&2; exit 1; }
echo "OK: the runtime stage's packages run the static binary as uid 10001 (health, TLS tools/call, SIGTERM -> exit 0)"
