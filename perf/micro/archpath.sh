#!/usr/bin/env bash
# usage: archpath.sh BIN [python] [members]
# Issue 16's figure: an `archpath` read of a 16 KiB member from a 1 GiB tar shard (65,536
# members by default) against a GET of a 16 KiB object, on one 2-core node: the first
# archpath read (index built), then interleaved rounds of random member reads and random
# object GETs, one keep-alive client (latency p50/p99) and 16 (throughput), with the node's
# CPU per request from /proc/PID/stat.
set -e
BIN=${1:-target/release/aisnode}; PY=${2:-.venv/bin/python}; MEMBERS=${3:-65536}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/archpath.XXXX)
PORT=18520
$BIN --port $PORT --core-port-base 18530 --data-dir $D/node --cores 2 --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/ap" >/dev/null
"$PY" - $D/shard.tar $MEMBERS <<'PYEOF'
import io, os, sys, tarfile
path, n = sys.argv[1], int(sys.argv[2])
with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
    for i in range(n):
        ti = tarfile.TarInfo(f"{i:06d}.bin"); ti.size = 16384; ti.mtime = 1
        tf.addfile(ti, io.BytesIO(os.urandom(16384)))
PYEOF
ls -l $D/shard.tar | awk '{printf "shard: %.2f GiB\n", $5/2^30}'
curl -sfL -XPUT -T $D/shard.tar "http://127.0.0.1:$PORT/v1/objects/ap/shard.tar" -o /dev/null
rm -f $D/shard.tar
head -c 16384 /dev/urandom > $D/x
seq -f "o-%04g" 0 999 | xargs -P 8 -I{} curl -sfL -XPUT -T $D/x "http://127.0.0.1:$PORT/v1/objects/ap/{}" -o /dev/null
"$PY" - ap $PID $PORT $MEMBERS <<'PYEOF'
import os, random, sys, threading, time, requests
B, pid, port, M = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ep = f"http://127.0.0.1:{port}"
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
s = requests.Session()
t0 = time.time()
r = s.get(f"{ep}/v1/objects/{B}/shard.tar", params={"archpath": "000000.bin"}, timeout=600)
assert r.status_code == 200 and len(r.content) == 16384, r.status_code
print(f"first archpath read (index built): {(time.time() - t0) * 1000:.0f} ms")
def url(kind, rng):
    if kind == "archpath":
        return f"{ep}/v1/objects/{B}/shard.tar?archpath={rng.randrange(M):06d}.bin"
    return f"{ep}/v1/objects/{B}/o-{rng.randrange(1000):04d}"
def one_client(kind, n=2000):
    rng = random.Random(7); lat = []
    for _ in range(n):
        u = url(kind, rng); t = time.perf_counter()
        r = s.get(u, timeout=30); lat.append(time.perf_counter() - t)
        assert r.status_code == 200 and len(r.content) == 16384, (u, r.status_code)
    lat.sort()
    return n, lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6
def sixteen(kind, n=4000):
    ss = [requests.Session() for _ in range(16)]
    def w(k):
        rng = random.Random(k)
        for _ in range(n // 16):
            r = ss[k].get(url(kind, rng), timeout=30)
            assert r.status_code == 200 and len(r.content) == 16384
    ts = [threading.Thread(target=w, args=(k,)) for k in range(16)]
    [t.start() for t in ts]; [t.join() for t in ts]
    return n, None, None
res = {}
for rnd in range(3):
    for mode, fn in [("1 client", one_client), ("16 clients", sixteen)]:
        for kind in ("GET", "archpath"):
            c0 = cpu(); t0 = time.time(); n, p50, p99 = fn(kind); t = time.time() - t0; c = cpu() - c0
            res.setdefault((mode, kind), []).append(n / t)
            extra = f", p50 {p50:.0f} us, p99 {p99:.0f} us" if p50 else ""
            print(f"round {rnd}: {mode}: {kind}: {n / t:.0f} req/s{extra}, node CPU {c * 1e6 / n:.0f} us/req")
for mode in ("1 client", "16 clients"):
    a, g = res[(mode, "archpath")], res[(mode, "GET")]
    print(f"{mode}: archpath / GET throughput, per round: " + ", ".join(f"{x / y:.2f}" for x, y in zip(a, g)))
PYEOF
