#!/usr/bin/env bash
# usage: remote.sh BIN [python] [objects] [size_kib]
# Issue 17's figures, in one run on one 2-core node in front of moto_server (PyPI moto, the
# S3 server the tests use): cold GET throughput through the node against direct GETs from the
# same moto with the same client (requests, keep-alive); warm GET throughput against GETs of the same objects in an ais:// bucket; 8
# keep-alive Python clients each, node CPU per GET from /proc/PID/stat.
set -e
BIN=${1:-target/release/aisnode}; PY=${2:-.venv/bin/python}; N=${3:-400}; KIB=${4:-1024}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/remote.XXXX)
MOTO_PORT=18541; PORT=18550
"$(dirname "$PY")/moto_server" -H 127.0.0.1 -p $MOTO_PORT >$D/moto.log 2>&1 &
MOTO=$!
S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y \
    $BIN --port $PORT --core-port-base 18560 --data-dir $D/node --cores 2 --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID $MOTO 2>/dev/null; wait $PID $MOTO 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && curl -s http://127.0.0.1:$MOTO_PORT >/dev/null && break; sleep 0.1; done
"$PY" - $PID $PORT $MOTO_PORT $N $KIB <<'PYEOF'
import os, sys, threading, time, boto3, requests
from botocore.config import Config
pid, port, mport, N, KIB = (int(x) for x in sys.argv[1:])
ep, mep = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mport}"
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
s3 = boto3.client("s3", endpoint_url=mep, aws_access_key_id="x", aws_secret_access_key="y",
                  region_name="us-east-1", config=Config(max_pool_connections=16))
s3.create_bucket(Bucket="rbench")
data = os.urandom(KIB * 1024)
names = [f"o{i:05d}" for i in range(N)]
def par(fn, items, k=8):
    ts = [threading.Thread(target=lambda j=j: [fn(x) for x in items[j::k]]) for j in range(k)]
    [t.start() for t in ts]; [t.join() for t in ts]
par(lambda n: s3.put_object(Bucket="rbench", Key=n, Body=data), names)
requests.post(f"{ep}/v1/buckets/abench?provider=ais", json={"action": "create-bck"}, timeout=30)
sess = [requests.Session() for _ in range(8)]
par(lambda n: sess[0].put(f"{ep}/v1/objects/abench/{n}", data=data, timeout=60), names, 1)
def timed(label, fn):
    c0 = cpu(); t0 = time.time(); fn(); t = time.time() - t0; c = cpu() - c0
    mbs = N * KIB / 1024 / t
    print(f"{label}: {N} x {KIB} KiB in {t:.2f} s, {mbs:.1f} MiB/s, node CPU {c * 1e6 / N:.0f} us/GET")
    return mbs
def gets(url_of):
    def run():
        errs = []
        def w(j):
            try:
                for n in names[j::8]:
                    r = sess[j].get(url_of(n), timeout=120)
                    assert r.status_code == 200 and len(r.content) == len(data), (n, r.status_code)
            except Exception as e:
                errs.append(e)
        ts = [threading.Thread(target=w, args=(j,)) for j in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        if errs:
            raise errs[0]
    return run
signed = {n: s3.generate_presigned_url("get_object", Params={"Bucket": "rbench", "Key": n}, ExpiresIn=3600)
          for n in names}
d = timed("direct GET from moto (same client, presigned URLs)", gets(lambda n: signed[n]))
c = timed("cold GET through the node", gets(lambda n: f"{ep}/v1/objects/rbench/{n}?provider=aws"))
w = timed("warm GET through the node", gets(lambda n: f"{ep}/v1/objects/rbench/{n}?provider=aws"))
a = timed("GET of the same objects in ais://", gets(lambda n: f"{ep}/v1/objects/abench/{n}?provider=ais"))
w2 = timed("warm GET again", gets(lambda n: f"{ep}/v1/objects/rbench/{n}?provider=aws"))
a2 = timed("ais:// GET again", gets(lambda n: f"{ep}/v1/objects/abench/{n}?provider=ais"))
print(f"cold / direct: {c / d:.2f}; warm / ais: {w / a:.2f}, {w2 / a2:.2f}")
PYEOF
