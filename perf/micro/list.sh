#!/usr/bin/env bash
# usage: list.sh BIN_A [BIN_B]   (env SECS=20: how long wrk fills the bucket; PS: page size;
#   MPS: number of mountpaths, default the node's two; S3=1: list with boto3's ListObjectsV2
#   paginator through /s3, 1000 keys a page, instead of the ais CLI; PY: its python; with
#   PUT_DIRS=N the objects are spread over N directories, and S3=1 lists with Delimiter '/')
# Listing cost of one flat bucket: fill it with 4 KiB objects (wrk + put.lua straight to the
# core for SECS seconds), then list every name with `ais ls --name-only` (pages of the
# cluster's maximum, or PS names), twice per binary, alternating; node CPU and wall time.
BIN_A=${1:?aisnode binary}; BIN_B=${2:-$1}; SECS=${SECS:-20}
AIS=${AIS_BIN:-target/release/ais}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/list.XXXX)
PID=
MP_ARGS=()
for i in $(seq ${MPS:-0}); do mkdir -p $D/m$i; MP_ARGS+=(--mountpath $D/m$i); done
start() {
  $1 --port 18080 --core-port-base 18100 --data-dir $D --cores 1 --no-fsync "${MP_ARGS[@]}" >>$D/log 2>&1 &
  PID=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:18080/v1/health >/dev/null && break; sleep 0.1; done
}
stop() { kill $PID; wait $PID 2>/dev/null; PID=; }
trap '[ -n "$PID" ] && { kill $PID; wait $PID; } 2>/dev/null; rm -rf $D' EXIT
start $BIN_A
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18080/v1/buckets/b" >/dev/null
wrk -t1 -c16 -d${SECS}s -s $(dirname "$0")/put.lua http://127.0.0.1:18100 | grep "requests in"
stop
for r in 1 2; do for b in $BIN_A $BIN_B; do
  start $b
  t0=$(awk '{print $14+$15}' /proc/$PID/stat); s0=$(date +%s.%N)
  if [ -n "${S3:-}" ]; then
    n=$(${PY:-.venv/bin/python} -c '
import boto3
c = boto3.client("s3", endpoint_url="http://127.0.0.1:18080/s3", aws_access_key_id="k",
                 aws_secret_access_key="s", region_name="us-east-1")
kw = {"Delimiter": "/"} if "'"${PUT_DIRS:-}"'" else {}
pages = c.get_paginator("list_objects_v2").paginate(Bucket="b", **kw)
print(sum(p.get("KeyCount", 0) for p in pages))')
  else
    n=$(AIS_ENDPOINT=http://127.0.0.1:18080 $AIS ls ais://b --name-only -H ${PS:+--page-size $PS} | wc -l)
  fi
  s1=$(date +%s.%N); t1=$(awk '{print $14+$15}' /proc/$PID/stat)
  echo "$b: $n names, $(python3 -c "print('%.2f s wall, %.2f s node CPU' % ($s1-$s0, ($t1-$t0)/100))")"
  stop
done; done
