#!/usr/bin/env python3
"""Opens N TLS connections to HOST:PORT, completes each handshake, and holds them open
until a line arrives on stdin (or 120 s pass). Prints "ready <n>" once all are up.
Used by bench.sh to measure the server's memory per idle TLS connection."""
import select
import socket
import ssl
import sys

host, port, count, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
context.minimum_version = ssl.TLSVersion.TLSv1_3
held = []
for _ in range(count):
    raw = socket.create_connection((host, port), timeout=10)
    held.append(context.wrap_socket(raw, server_hostname="localhost"))
print(f"ready {len(held)}", flush=True)
select.select([sys.stdin], [], [], 120)
for s in held:
    s.close()
