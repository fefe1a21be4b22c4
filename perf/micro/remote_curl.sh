#!/usr/bin/env bash
# usage: remote_curl.sh BIN [python] [objects] [size_kib] [parallel]
# Issue 17's cold-GET ratio with a client that is not the bottleneck: curl (C, keep-alive,
# --parallel) reads N objects straight from an S3 server (presigned URLs; one pass to warm the
# server up, not counted), then the same N objects through one aisnode in front of that
# server, never read by the node before (cold GETs: curl follows the proxy's redirect, the
# node reads the remote once per object and stores the copy), then directly again, then
# through the node again (warm). The ratio is cold / mean(the two direct passes). Node and
# remote CPU from /proc/PID/stat.
# REMOTE=moto (default) or rclone (see below).
# SPLIT=0 (default): a 2-core node, the remote and curl share both CPUs.
# SPLIT=1: the remote on CPU 1, a 1-core node on CPU 0 (a remote that does not share the
#   node's CPU, as a real backend would not); curl runs where the scheduler puts it.
# SPLIT=2: as SPLIT=1, and curl on CPU 0 with the node: the remote has CPU 1 to itself in
#   every pass, so the passes differ only in the path.
# Then GETs of the same bytes in an ais:// bucket between two warm passes: warm / ais.
# PROFILE=FILE: record the node's cold pass with `perf record -g` into FILE.
# BENCH_DIR: where the node's mountpaths go (default /var/tmp). Not a loop device over a file:
#   its buffered write path bounds O_DIRECT writes (fio: 476 MiB/s at 16 ms per 256 KiB write
#   on one here, against 1.8 GiB/s on the disk under it), so the cold pass measures the loop.
set -e
BIN=${1:-target/release/aisnode}; PY=${2:-.venv/bin/python}; N=${3:-400}; KIB=${4:-1024}; PAR=${5:-8}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/remotec.XXXX)
MOTO_PORT=18541; PORT=18550
PIN=""; CORES=2
CPIN=""
if [ "${SPLIT:-0}" = 1 ]; then PIN="taskset -c 1"; CORES=1; fi
if [ "${SPLIT:-0}" = 2 ]; then PIN="taskset -c 1"; CORES=1; CPIN="taskset -c 0"; fi
# REMOTE=rclone: `rclone serve s3` (Go, over a directory on the same file system) instead of
# moto_server (Python, one interpreter lock), with AWS-shaped keys (rclone checks them).
KEY=x; SECRET=y
if [ "${REMOTE:-moto}" = rclone ]; then
    KEY=AKIARCLONEBENCH01; SECRET=rclone/bench/secret/0123456789
    mkdir -p $D/rclone-root
    $PIN "$(dirname "$PY")/rclone" serve s3 --addr 127.0.0.1:$MOTO_PORT --auth-key "$KEY,$SECRET" \
        --config /dev/null $D/rclone-root >$D/moto.log 2>&1 &
else
    $PIN "$(dirname "$PY")/moto_server" -H 127.0.0.1 -p $MOTO_PORT >$D/moto.log 2>&1 &
fi
MOTO=$!
S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET \
    $BIN --port $PORT --core-port-base 18560 --data-dir $D/node --cores $CORES --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID $MOTO 2>/dev/null; wait $PID $MOTO 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && curl -s http://127.0.0.1:$MOTO_PORT >/dev/null && break; sleep 0.1; done
# Objects in the remote's bucket `cold` (read directly with presigned URLs and through the node).
"$PY" - $PORT $MOTO_PORT $N $KIB $D $KEY $SECRET <<'PYEOF'
import os, sys, threading, boto3
from botocore.config import Config
port, mport, N, KIB, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{mport}", aws_access_key_id=sys.argv[6],
                  aws_secret_access_key=sys.argv[7], region_name="us-east-1", config=Config(max_pool_connections=16, signature_version="s3v4"))
data = os.urandom(KIB * 1024)
names = [f"o{i:05d}" for i in range(N)]
s3.create_bucket(Bucket="cold")
def put(j):
    for n in names[j::8]:
        s3.put_object(Bucket="cold", Key=n, Body=data)
ts = [threading.Thread(target=put, args=(j,)) for j in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
with open(f"{d}/direct.cfg", "w") as f:
    for n in names:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "cold", "Key": n}, ExpiresIn=3600)
        f.write(f'url = "{url}"\noutput = "/dev/null"\n')
with open(f"{d}/cold.cfg", "w") as f:
    for n in names:
        f.write(f'url = "http://127.0.0.1:{port}/v1/objects/cold/{n}?provider=aws"\noutput = "/dev/null"\n')
# The same bytes as objects of an ais:// bucket, for the warm GET's comparison.
with open(f"{d}/obj.bin", "wb") as f:
    f.write(data)
with open(f"{d}/ais_put.cfg", "w") as f, open(f"{d}/ais_get.cfg", "w") as g:
    for n in names:
        f.write(f'url = "http://127.0.0.1:{port}/v1/objects/local/{n}"\nupload-file = "{d}/obj.bin"\noutput = "/dev/null"\n')
        g.write(f'url = "http://127.0.0.1:{port}/v1/objects/local/{n}"\noutput = "/dev/null"\n')
PYEOF
curl -sf -X POST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/local" >/dev/null
curl -s --fail -L -Z --parallel-max 8 -K $D/ais_put.cfg >/dev/null
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
mticks() { awk '{print $14+$15}' /proc/$MOTO/stat; }
run() { # label cfg -> MiB/s
    local t0 t1 c0 c1 m0 m1 bytes
    c0=$(ticks); m0=$(mticks); t0=$(date +%s.%N)
    bytes=$($CPIN curl -s --fail -L -Z --parallel-max $PAR --parallel-immediate -K "$2" -w '%{size_download}\n' | awk '{s+=$1} END {print s}')
    t1=$(date +%s.%N); c1=$(ticks); m1=$(mticks)
    [ "$bytes" = "$((N * KIB * 1024))" ] || { echo "$1: got $bytes bytes, expected $((N * KIB * 1024))" >&2; exit 1; }
    echo "$1: $N x $KIB KiB, $(echo "$N * $KIB / 1024 / ($t1 - $t0)" | bc -l | cut -c1-6) MiB/s, node CPU $(echo "($c1 - $c0) * 10000 / $N" | bc -l | cut -c1-6) us/GET, remote CPU $(echo "($m1 - $m0) / 100 / ($t1 - $t0)" | bc -l | cut -c1-4) cores" >&2
    echo "$N * $KIB / 1024 / ($t1 - $t0)" | bc -l
}
run "direct GET from the remote, warm-up (not counted)" $D/direct.cfg >/dev/null
d1=$(run "direct GET from the remote (curl, presigned)" $D/direct.cfg)
if [ -n "${PROFILE:-}" ]; then perf record -q -g -o "$PROFILE" -p $PID 2>/dev/null & PERF=$!; sleep 0.5; fi
c=$(run "cold GET through the node (curl -L)" $D/cold.cfg)
if [ -n "${PROFILE:-}" ]; then kill -INT $PERF; wait $PERF || true; fi
d2=$(run "direct GET from the remote again" $D/direct.cfg)
w=$(run "warm GET through the node (same objects)" $D/cold.cfg)
a=$(run "GET of the same bytes from an ais:// bucket" $D/ais_get.cfg)
w2=$(run "warm GET again" $D/cold.cfg)
echo "cold / direct: $(echo "$c / (($d1 + $d2) / 2)" | bc -l | cut -c1-4); warm / direct: $(echo "$w / (($d1 + $d2) / 2)" | bc -l | cut -c1-4); warm / ais: $(echo "($w + $w2) / 2 / $a" | bc -l | cut -c1-4)"
curl -s http://127.0.0.1:$PORT/metrics | grep -E "^ais_[a-z]+_aws_get_count" | head -1 | sed "s/^/the node's reads from the remote (expect N): /"
