#!/usr/bin/env python3
"""Holds COUNT SSE streams over TLS to https://127.0.0.1:PORT/PATH, spread over PROCS client
processes (asyncio + ssl each, so one core can hold thousands), and counts the keep-alive
pings that arrive. Each stream counts as open once its `endpoint` event has arrived.

Talks to its caller on stdout/stdin, one line each, so the caller can sample the server's CPU
and memory at the same instants:
  -> "ready <open> <wanted> <seconds>[ failed: <first error>]"   all streams up, or SETUP_TIMEOUT passed
  <- "mark"   -> "mark <pings received so far> <monotonic seconds>"   (any number of times)
  <- "stop" (or end of input)  -> closes every stream and exits.
Every wait is bounded: SETUP_TIMEOUT for the streams (default 120 s), 600 s overall.
Usage: sse_swarm.py PORT PATH COUNT PROCS CAFILE [TOKEN]"""
import asyncio
import os
import ssl
import subprocess
import sys
import time

SETUP_TIMEOUT = float(os.environ.get("SETUP_TIMEOUT", "120"))
OVERALL = 600


async def hold(port, path, token, context, gate, state):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 30)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: text/event-stream\r\n\r\n".encode())
        seen = b""
        while b"event: endpoint" not in seen:
            chunk = await asyncio.wait_for(reader.read(4096), 30)
            if not chunk:
                raise RuntimeError(f"closed before the endpoint event: {seen[:160]!r}")
            seen += chunk
    state["open"] += 1
    tail = b""
    while True:
        chunk = await reader.read(4096)
        if not chunk:
            state["closed"] += 1
            return
        data = tail + chunk
        state["pings"] += data.count(b"ping")
        tail = data[-3:]


async def worker(port, path, count, cafile, token):
    """One client process: opens `count` streams, then answers "mark"/"stop" on stdin."""
    context = ssl.create_default_context(cafile=cafile)
    gate = asyncio.Semaphore(32)   # handshakes in flight per process
    state = {"open": 0, "closed": 0, "pings": 0}
    tasks = [asyncio.create_task(hold(port, path, token, context, gate, state)) for _ in range(count)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    while state["open"] < count and loop.time() - start < SETUP_TIMEOUT:
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    failed = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
    print(f"ready {state['open']}" + (f" failed: {failed[0]!r}" if failed else ""), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while loop.time() - start < OVERALL:
        try:
            line = await asyncio.wait_for(reader.readline(), OVERALL)
        except asyncio.TimeoutError:
            break
        if line.strip() != b"mark":
            break
        print(f"mark {state['pings']} {state['open'] - state['closed']}", flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main():
    port, path, count, procs, cafile = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    token = sys.argv[6] if len(sys.argv) > 6 else ""
    if os.environ.get("SSE_SWARM_WORKER"):
        asyncio.run(worker(port, path, count, cafile, token))
        return
    shares = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
    env = dict(os.environ, SSE_SWARM_WORKER="1")
    children = [subprocess.Popen([sys.executable, __file__, str(port), path, str(n), "1", cafile, token],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
                for n in shares]
    start = time.monotonic()
    opened, errors = 0, []
    for child in children:   # each child answers within SETUP_TIMEOUT
        words = (child.stdout.readline() or "ready 0 failed: child exited").split(" ", 2)
        opened += int(words[1])
        if len(words) > 2:
            errors.append(words[2].strip())
    print(f"ready {opened} {count} {time.monotonic() - start:.1f}" + (f" {errors[0]}" if errors else ""), flush=True)
    for line in sys.stdin:
        if line.strip() != "mark":
            break
        pings, alive = 0, 0
        for child in children:
            child.stdin.write("mark\n")
            child.stdin.flush()
        for child in children:
            words = child.stdout.readline().split()
            if len(words) == 3:
                pings += int(words[1]); alive += int(words[2])
        print(f"mark {pings} {alive} {time.monotonic():.3f}", flush=True)
    for child in children:
        try:
            child.stdin.write("stop\n")
            child.stdin.close()
        except OSError:
            pass
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


main()
