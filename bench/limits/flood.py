#!/usr/bin/env python3
"""Throughput of an authenticated client while another client floods at 10x its limit,
compared with no flood (issue 5). Starts the server binary over TLS on loopback with two
tokens and a per-token request rate, then for each phase runs the polite client at its own
rate limit for DURATION seconds (keep-alive HTTPS, Go API tools/list) and reports its
requests/s, success rate and p50/p99; the flooder (another token, another loopback address)
sends as fast as it can with 4 connections, which is far above 10x its limit.

    python3 bench/limits/flood.py [--bin .build-release/release/axinova-mcp-server] [--duration 10]
"""
import argparse
import http.client
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from conftest import start_server, tls_context  # noqa: E402

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()


def client_loop(port, token, source, stop, rate, stats):
    conn = None
    interval = 1.0 / rate if rate else 0
    next_at = time.monotonic()
    while not stop.is_set():
        if interval:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
        try:
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, source_address=(source, 0), context=tls_context())
            t0 = time.perf_counter()
            conn.request("POST", "/api/mcp/v1/call", body=BODY, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            stats.append((r.status, time.perf_counter() - t0))
        except Exception:
            stats.append((0, 0.0))
            conn = None


def phase(port, tokens, duration, flood):
    stop = threading.Event()
    polite, flooder = [], []
    threads = [threading.Thread(target=client_loop, args=(port, tokens["polite"], "127.0.0.2", stop, 20, polite))]
    if flood:
        threads += [threading.Thread(target=client_loop, args=(port, tokens["flooder"], "127.0.0.3", stop, 0, flooder)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    ok = [lat for status, lat in polite if status == 200]
    lat = sorted(ok) or [0.0]
    return {
        "polite_rps": len(ok) / duration,
        "polite_success": len(ok) / max(1, len(polite)),
        "polite_p50_ms": statistics.median(lat) * 1000,
        "polite_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "flood_rps": len(flooder) / duration,
        "flood_429": sum(1 for s, _ in flooder if s == 429) / max(1, len(flooder)),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / ".build-release" / "release" / "axinova-mcp-server"))
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()
    cfg = pathlib.Path(tempfile.mkdtemp())
    (cfg / "base.yaml").write_text("auth:\n  tokens:\n    - name: polite\n      env: T_POLITE\n    - name: flooder\n      env: T_FLOODER\n")
    tokens = {"polite": "polite-secret-0123456789abcdef0123456789", "flooder": "flooder-secret-0123456789abcdef012345678"}
    s = start_server(args.bin, "--config-dir", str(cfg), "--set", "limits.request_rate=20", "--set", "limits.request_burst=20",
                     "--set", "log.level=error", env={"T_POLITE": tokens["polite"], "T_FLOODER": tokens["flooder"]})
    try:
        quiet = phase(s.port, tokens, args.duration, flood=False)
        flooded = phase(s.port, tokens, args.duration, flood=True)
    finally:
        s.stop()
    print("| phase | polite req/s (limit 20) | polite success | polite p50 ms | polite p99 ms | flooder req/s | flooder 429 share |")
    print("|---|---|---|---|---|---|---|")
    for name, r in (("no flood", quiet), ("flood", flooded)):
        print(f"| {name} | {r['polite_rps']:.1f} | {r['polite_success']:.3f} | {r['polite_p50_ms']:.2f} | {r['polite_p99_ms']:.2f} | {r['flood_rps']:.0f} | {r['flood_429']:.3f} |")


if __name__ == "__main__":
    main()
