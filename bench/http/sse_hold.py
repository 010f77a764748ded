#!/usr/bin/env python3
"""Opens N SSE streams over TLS (asyncio, not threads) to https://127.0.0.1:PORT/PATH, waits
for each stream's `endpoint` event, keeps reading (so pings flow), prints "ready <n>" and
holds them until a line arrives on stdin (or 120 s pass). Used by bench.sh to measure the
server's RSS per open SSE stream.
Usage: sse_hold.py PORT PATH COUNT CAFILE [TOKEN]"""
import asyncio
import ssl
import sys

port, path, count, cafile = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
token = sys.argv[5] if len(sys.argv) > 5 else ""


async def hold(context, gate, ready, stop):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 20)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: text/event-stream\r\n\r\n".encode())
        seen = b""
        while b"event: endpoint" not in seen:
            chunk = await asyncio.wait_for(reader.read(4096), 20)
            if not chunk:
                raise RuntimeError(f"closed before endpoint event: {seen[:200]!r}")
            seen += chunk
    ready.append(writer)
    while not stop.is_set():
        if not await reader.read(4096):
            break


async def main():
    context = ssl.create_default_context(cafile=cafile)
    gate, stop, ready = asyncio.Semaphore(64), asyncio.Event(), []
    tasks = [asyncio.create_task(hold(context, gate, ready, stop)) for _ in range(count)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while len(ready) < count and loop.time() < deadline and not any(t.done() and t.exception() for t in tasks):
        await asyncio.sleep(0.1)
    failed = [t.exception() for t in tasks if t.done() and t.exception()]
    print(f"ready {len(ready)}" + (f" (failed: {failed[0]!r})" if failed else ""), flush=True)
    line = loop.run_in_executor(None, sys.stdin.readline)
    await asyncio.wait([line], timeout=120)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in ready:
        w.transport.abort()


asyncio.run(main())
