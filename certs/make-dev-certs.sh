#!/usr/bin/env bash
# Makes a local development CA and a server certificate for localhost, 127.0.0.1 and ::1
# (ECDSA P-256, SHA-256) with the openssl CLI. Same files as DevCertificates.ensure() in
# Sources/TLS: ca.pem, ca-key.pem, server.pem (leaf), server-key.pem; plus client.pem /
# client-key.pem for mTLS tests. Output: certs/out/ (gitignored), or the directory given as $1.
# Existing files are kept unless FORCE=1.
set -euo pipefail

out="${1:-$(cd "$(dirname "$0")" && pwd)/out}"
days="${DAYS:-365}"
mkdir -p "$out"
chmod 700 "$out"
cd "$out"

if [[ -f server.pem && -f server-key.pem && -f ca.pem && "${FORCE:-0}" != 1 ]]; then
    echo "certificates already in $out (FORCE=1 to remake)"
    exit 0
fi

umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days $((days * 2)) -subj "/CN=axinova-mcp dev CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out ca.pem

issue() { # name cn eku [san]
    local name="$1" cn="$2" eku="$3" san="${4:-}"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name-key.pem"
    openssl req -new -key "$name-key.pem" -subj "/CN=$cn" -out "$tmp/$name.csr"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=$eku"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid:always"
        [[ -n "$san" ]] && echo "subjectAltName=$san"
    } > "$tmp/$name.ext"
    openssl x509 -req -in "$tmp/$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -CAserial "$tmp/ca.srl" -sha256 -days "$days" -extfile "$tmp/$name.ext" -out "$name.pem"
}

issue server localhost serverAuth "DNS:localhost,IP:127.0.0.1,IP:::1"
issue client test-client clientAuth
chmod 644 ca.pem server.pem client.pem

openssl verify -CAfile ca.pem server.pem client.pem
echo "wrote $out/{ca,server,client}.pem and keys"
