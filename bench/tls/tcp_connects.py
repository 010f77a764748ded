#!/usr/bin/env python3
"""Opens and closes plain TCP connections to HOST:PORT for SECONDS, one at a time, and prints
how many it made. Used by bench.sh for the "plain TCP" rows: the cost of a connection without TLS.
Each close is a normal FIN after a 1 ms pause, so that the server has accepted the connection and
set it up (a reset right after connect lets a server skip most of that: 22 us instead of 100 us
measured for ours)."""
import socket
import sys
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + seconds
count = 0
while time.monotonic() < end:
    s = socket.create_connection((host, port), timeout=10)
    time.sleep(0.001)
    s.close()
    count += 1
print(count)
