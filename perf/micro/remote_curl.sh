#!/usr/bin/env bash
# usage: remote_curl.sh BIN [python] [objects] [size_kib] [parallel]
# Issue 17's cold-GET ratio with a client that is not the bottleneck: curl (C, keep-alive,
# --parallel) reads N objects straight from moto_server (presigned URLs), then the same N
# objects, never read before, through one 2-core aisnode in front of that moto (cold GETs:
# the node follows its proxy redirect, reads moto once per object and stores the copy).
# Both passes run back to back in one run, the direct one first and again last, so
# the ratio is cold / mean(direct). Node CPU per cold GET from /proc/PID/stat.
# SPLIT=1: moto on CPU 1 and a 1-core node on CPU 0 (a remote that does not share the node's
# CPU, as a real backend would not; on 2 CPUs moto, Python, is the busiest process).
set -e
BIN=${1:-target/release/aisnode}; PY=${2:-.venv/bin/python}; N=${3:-400}; KIB=${4:-1024}; PAR=${5:-8}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/remotec.XXXX)
MOTO_PORT=18541; PORT=18550
PIN=""; CORES=2
if [ "${SPLIT:-0}" = 1 ]; then PIN="taskset -c 1"; CORES=1; fi
$PIN "$(dirname "$PY")/moto_server" -H 127.0.0.1 -p $MOTO_PORT >$D/moto.log 2>&1 &
MOTO=$!
S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y \
    $BIN --port $PORT --core-port-base 18560 --data-dir $D/node --cores $CORES --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID $MOTO 2>/dev/null; wait $PID $MOTO 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && curl -s http://127.0.0.1:$MOTO_PORT >/dev/null && break; sleep 0.1; done
# Objects in moto (two buckets: one read directly, one through the node), presigned URLs.
"$PY" - $PORT $MOTO_PORT $N $KIB $D <<'PYEOF'
import os, sys, threading, boto3
from botocore.config import Config
port, mport, N, KIB, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{mport}", aws_access_key_id="x",
                  aws_secret_access_key="y", region_name="us-east-1", config=Config(max_pool_connections=16))
data = os.urandom(KIB * 1024)
names = [f"o{i:05d}" for i in range(N)]
for b in ("direct", "cold"):
    s3.create_bucket(Bucket=b)
    def put(j):
        for n in names[j::8]:
            s3.put_object(Bucket=b, Key=n, Body=data)
    ts = [threading.Thread(target=put, args=(j,)) for j in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
with open(f"{d}/direct.cfg", "w") as f:
    for n in names:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "direct", "Key": n}, ExpiresIn=3600)
        f.write(f'url = "{url}"\noutput = "/dev/null"\n')
with open(f"{d}/cold.cfg", "w") as f:
    for n in names:
        f.write(f'url = "http://127.0.0.1:{port}/v1/objects/cold/{n}?provider=aws"\noutput = "/dev/null"\n')
PYEOF
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
run() { # label cfg -> MiB/s
    local t0 t1 c0 c1 bytes
    c0=$(ticks); t0=$(date +%s.%N)
    bytes=$(curl -s --fail -L -Z --parallel-max $PAR --parallel-immediate -K "$2" -w '%{size_download}\n' | awk '{s+=$1} END {print s}')
    t1=$(date +%s.%N); c1=$(ticks)
    [ "$bytes" = "$((N * KIB * 1024))" ] || { echo "$1: got $bytes bytes, expected $((N * KIB * 1024))" >&2; exit 1; }
    echo "$1: $N x $KIB KiB, $(echo "$N * $KIB / 1024 / ($t1 - $t0)" | bc -l | cut -c1-6) MiB/s, node CPU $(echo "($c1 - $c0) * 10000 / $N" | bc -l | cut -c1-6) us/GET" >&2
    echo "$N * $KIB / 1024 / ($t1 - $t0)" | bc -l
}
d1=$(run "direct GET from moto (curl, presigned)" $D/direct.cfg)
c=$(run "cold GET through the node (curl -L)" $D/cold.cfg)
d2=$(run "direct GET from moto again" $D/direct.cfg)
w=$(run "warm GET through the node (same objects)" $D/cold.cfg)
echo "cold / direct: $(echo "$c / (($d1 + $d2) / 2)" | bc -l | cut -c1-4); warm / direct: $(echo "$w / (($d1 + $d2) / 2)" | bc -l | cut -c1-4)"
grep -c "\"GET /cold/" $D/moto.log | sed "s/^/moto GETs of the cold bucket (expect N): /"; grep -o "\"[A-Z]* /cold[^ ]*" $D/moto.log | cut -c2-5 | sort | uniq -c | sed "s/^/moto requests on the cold bucket by method: /"
