#!/usr/bin/env python3
"""Start-up time of a server: runs COMMAND, polls URL every 2 ms until it answers, prints the
milliseconds from just before exec to the first answer, then stops the server (SIGTERM, then
SIGKILL after 10 s). "Answers" means an HTTP status: any status, or exactly EXPECT when given
(ours: /ready is 503 while starting). Gives up after 30 s (prints "n/a").
Usage: startup.py URL CAFILE EXPECT -- COMMAND...   (EXPECT 0 = any status; CAFILE for https)"""
import http.client
import ssl
import subprocess
import sys
import time
from urllib.parse import urlsplit

url, cafile, expect = sys.argv[1], sys.argv[2], int(sys.argv[3])
command = sys.argv[sys.argv.index("--") + 1:]
parts = urlsplit(url)
context = ssl.create_default_context(cafile=cafile) if parts.scheme == "https" else None


def answers() -> bool:
    try:
        if context:
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=1, context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
        conn.request("GET", parts.path or "/")
        status = conn.getresponse().status
        conn.close()
        return expect == 0 or status == expect
    except (OSError, http.client.HTTPException):
        return False


start = time.perf_counter()
proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
result = "n/a"
try:
    while time.perf_counter() - start < 30 and proc.poll() is None:
        if answers():
            result = f"{(time.perf_counter() - start) * 1000:.1f}"
            break
        time.sleep(0.002)
finally:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
print(result)
