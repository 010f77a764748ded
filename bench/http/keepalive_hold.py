#!/usr/bin/env python3
"""Opens N TLS connections to https://127.0.0.1:PORT, sends one keep-alive GET PATH on each,
reads the whole answer, prints "ready <n>" and holds the connections until a line arrives on
stdin (or 120 s pass). Used by rss_split.sh: the HTTP layer's share of a connection's RSS.
Usage: keepalive_hold.py PORT PATH COUNT CAFILE TOKEN"""
import asyncio
import ssl
import sys

port, path, count, cafile, token = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]


async def one(context, gate, held):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 20)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await asyncio.wait_for(reader.readexactly(length), 20)
        held.append(writer)


async def main():
    context = ssl.create_default_context(cafile=cafile)
    gate, held = asyncio.Semaphore(64), []
    await asyncio.gather(*[one(context, gate, held) for _ in range(count)])
    print(f"ready {len(held)}", flush=True)
    line = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.wait([line], timeout=120)
    for writer in held:
        writer.transport.abort()


asyncio.run(main())
