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


class Stream(asyncio.Protocol):
    """One SSE stream. A plain protocol, not a StreamReader task: a ping costs one callback,
    no coroutine wake-up, so one client process keeps up with thousands of pings per second."""

    def __init__(self, request, state, opened):
        self.request, self.state, self.opened = request, state, opened
        self.seen, self.tail, self.transport = b"", b"", None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        if not self.opened.done():
            self.seen += data
            if b"\r\n" in self.seen and not self.seen.startswith(b"HTTP/1.1 200"):
                status = self.seen.split(b"\r\n", 1)[0].decode(errors="replace")
                self.opened.set_exception(RuntimeError(f"refused: {status}"))
                self.transport.abort()
            elif b"event: endpoint" in self.seen:
                self.opened.set_result(None)
                self.state["open"] += 1
                self.seen = b""
            return
        chunk = self.tail + data
        self.state["pings"] += chunk.count(b"ping")
        self.tail = chunk[-3:]

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(RuntimeError(f"closed before the endpoint event: {self.seen[:160]!r}"))
        else:
            self.state["closed"] += 1


async def hold(port, path, token, context, gate, state):
    loop = asyncio.get_running_loop()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: text/event-stream\r\n\r\n".encode()
    async with gate:
        opened = loop.create_future()
        transport, _ = await asyncio.wait_for(loop.create_connection(
            lambda: Stream(request, state, opened), "127.0.0.1", port, ssl=context, server_hostname="localhost"), 30)
        try:
            await asyncio.wait_for(asyncio.shield(opened), 30)
        except BaseException:
            transport.abort()
            raise
    return transport


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
        if t.done() and not t.cancelled() and not t.exception():
            t.result().abort()
        else:
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
