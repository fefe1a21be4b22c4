#!/usr/bin/env python3
"""Redirect overhead: GET throughput through a proxy (following its 301) vs straight to the
owning target core, for small (4 KiB) and large (8 MiB) objects, on a running cluster.

    scripts/cluster.sh start -d /tmp/ais-bench --port 8480
    .venv/bin/python scripts/redirect_overhead.py --endpoint http://127.0.0.1:8480
    scripts/cluster.sh stop -d /tmp/ais-bench

For each size it PUTs a set of objects through the proxy, then asks the proxy once per object
for the redirect (GET without following it) and keeps that Location: the owning core's URL
with the `pid`/`utm` query the proxy adds. Then, per repetition, it runs the same closed loop
of GETs (N threads, one keep-alive `requests.Session` each, every body read in full and its
length checked) for a fixed duration in both modes, alternating the order:

    proxy:  GET <proxy>/v1/objects/<bucket>/<name>   -> 301 -> GET <core URL>?...&pid=..&utm=..
    direct: GET <core URL>?...&pid=..&utm=..          (the Location taken above)

It prints ops/s, MiB/s and latency percentiles per mode (median over repetitions) and the
ratio proxy/direct. The client is Python, so for small objects the client's per-request CPU
cost is part of what a redirect costs; run it on an otherwise idle machine.
"""

import argparse
import concurrent.futures
import os
import statistics
import sys
import threading
import time
from urllib.parse import quote

import requests

KiB, MiB = 1024, 1024 * 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("AIS_ENDPOINT", "http://127.0.0.1:8080"),
                   help="proxy URL (default $AIS_ENDPOINT or http://127.0.0.1:8080)")
    p.add_argument("--bucket", default="redirect-overhead")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--reps", type=int, default=5, help="repetitions per mode and size")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per repetition")
    p.add_argument("--small-objects", type=int, default=256)
    p.add_argument("--large-objects", type=int, default=24)
    p.add_argument("--sizes", default="small,large", help="which sizes: small (4 KiB), large (8 MiB), or both")
    p.add_argument("--keep", action="store_true", help="keep the bucket afterwards")
    return p.parse_args()


def obj_url(endpoint, bucket, name):
    return f"{endpoint}/v1/objects/{bucket}/{quote(name)}?provider=ais"


def setup(args, size, count):
    names = [f"{size}/obj-{i:04d}" for i in range(count)]
    data = os.urandom(size)
    s = requests.Session()

    def put(name):
        r = s_local().put(obj_url(args.endpoint, args.bucket, name), data=data, timeout=60)
        r.raise_for_status()

    local = threading.local()

    def s_local():
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, names))
    direct = []
    for name in names:
        r = s.get(obj_url(args.endpoint, args.bucket, name), allow_redirects=False, timeout=30)
        if r.status_code != 301 or "pid=" not in r.headers.get("Location", "") or "utm=" not in r.headers["Location"]:
            sys.exit(f"GET {name} via the proxy: want 301 with pid/utm in Location, got {r.status_code} {r.headers}")
        direct.append(r.headers["Location"])
    proxied = [obj_url(args.endpoint, args.bucket, n) for n in names]
    return proxied, direct


def run(urls, size, threads, duration):
    """Closed loop for `duration` seconds; returns (ops, bytes, latencies_s, elapsed_s)."""
    stop_at = time.monotonic() + duration
    results = []
    lock = threading.Lock()

    def worker(k):
        s = requests.Session()
        lat, n, nbytes, i = [], 0, 0, k
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            r = s.get(urls[i % len(urls)], timeout=60)
            body = r.content
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200 or len(body) != size:
                raise RuntimeError(f"GET {urls[i % len(urls)]}: {r.status_code}, {len(body)} bytes")
            n += 1
            nbytes += len(body)
            i += threads
        with lock:
            results.append((n, nbytes, lat))

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker, k) for k in range(threads)]:
            f.result()
    elapsed = time.monotonic() - t0
    ops = sum(r[0] for r in results)
    nbytes = sum(r[1] for r in results)
    lats = sorted(x for r in results for x in r[2])
    return ops, nbytes, lats, elapsed


def pct(sorted_vals, q):
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def main():
    args = parse_args()
    r = requests.post(f"{args.endpoint}/v1/buckets/{args.bucket}?provider=ais",
                      json={"action": "create-bck", "name": "", "value": None}, timeout=30)
    if r.status_code not in (200, 409):
        sys.exit(f"create bucket: {r.status_code} {r.text}")
    smap = requests.get(f"{args.endpoint}/v1/daemon?what=smap", timeout=10).json()
    print(f"cluster at {args.endpoint}: {len(smap['pmap'])} proxies, {len(smap['tmap'])} targets; "
          f"{args.threads} client threads, {args.reps} x {args.duration:.0f}s per mode, host has {os.cpu_count()} CPUs")
    summary = []
    try:
        wanted = set(args.sizes.split(","))
        for key, label, size, count in (("small", "4 KiB", 4 * KiB, args.small_objects),
                                        ("large", "8 MiB", 8 * MiB, args.large_objects)):
            if key not in wanted:
                continue
            proxied, direct = setup(args, size, count)
            run(proxied, size, args.threads, 0.5)  # warm up connections on both paths
            run(direct, size, args.threads, 0.5)
            per_mode = {"proxy": [], "direct": []}
            lats = {"proxy": [], "direct": []}
            for rep in range(args.reps):
                order = ("proxy", "direct") if rep % 2 == 0 else ("direct", "proxy")
                for mode in order:
                    ops, nbytes, lat, el = run(proxied if mode == "proxy" else direct, size, args.threads, args.duration)
                    per_mode[mode].append((ops / el, nbytes / el / MiB))
                    lats[mode] += lat
                    print(f"  {label} rep {rep + 1} {mode:6s}: {ops / el:9.1f} ops/s {nbytes / el / MiB:9.1f} MiB/s")
            row = {}
            for mode in ("proxy", "direct"):
                l = sorted(lats[mode])
                row[mode] = (statistics.median(x[0] for x in per_mode[mode]),
                             statistics.median(x[1] for x in per_mode[mode]),
                             pct(l, 0.5) * 1e3, pct(l, 0.99) * 1e3)
            summary.append((label, row))
    finally:
        if not args.keep:
            requests.delete(f"{args.endpoint}/v1/buckets/{args.bucket}?provider=ais",
                            json={"action": "destroy-bck", "name": "", "value": None}, timeout=60)

    print()
    print(f"{'size':6s} {'mode':7s} {'ops/s':>10s} {'MiB/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for label, row in summary:
        for mode in ("proxy", "direct"):
            ops, mib, p50, p99 = row[mode]
            print(f"{label:6s} {mode:7s} {ops:10.1f} {mib:10.1f} {p50:8.2f} {p99:8.2f}")
        ratio = row["proxy"][0] / row["direct"][0]
        print(f"{label:6s} proxy/direct throughput ratio: {ratio:.2f}; "
              f"p50 latency proxy - direct: {row['proxy'][2] - row['direct'][2]:+.2f} ms")


if __name__ == "__main__":
    main()
