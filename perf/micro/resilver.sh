#!/usr/bin/env bash
# usage: resilver.sh BIN_A [BIN_B]   (env SECS=20: how long wrk fills the bucket; PY: a python
#   with the aistore SDK, default .venv/bin/python)
# Cost of a resilver over one flat bucket: one node (one core, mountpaths m1 and m2) filled
# with 4 KiB objects by wrk + put.lua, then a third mountpath on the same file system is
# attached and the resilver moves a third of the objects to it (by rename). Per binary
# (alternating, each on a fresh copy of the same data): objects moved, wall time and node CPU
# from the attach until the job has finished.
BIN_A=${1:?aisnode binary}; BIN_B=${2:-$1}; SECS=${SECS:-20}; PY=${PY:-.venv/bin/python}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/resilver.XXXX)
PID=
start() {
  $1 --port 18080 --core-port-base 18100 --data-dir $2 --cores 1 --no-fsync \
    --mountpath $2/m1 --mountpath $2/m2 >>$2/log 2>&1 &
  PID=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:18080/v1/health >/dev/null && break; sleep 0.1; done
}
stop() { kill $PID; wait $PID 2>/dev/null; PID=; }
trap '[ -n "$PID" ] && { kill $PID; wait $PID; } 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf $D' EXIT
mkdir -p $D/seed/m1 $D/seed/m2
start $BIN_A $D/seed
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18080/v1/buckets/b" >/dev/null
wrk -t1 -c16 -d${SECS}s -s $(dirname "$0")/put.lua http://127.0.0.1:18100 | grep "requests in"
stop
for r in 1 2; do for b in $BIN_A $BIN_B; do
  rm -rf $D/run; mkdir -p $D/run/m3; cp -a $D/seed/m1 $D/seed/m2 $D/run/  # not conf/: it names seed's mountpaths
  start $b $D/run
  t0=$(awk '{print $14+$15}' /proc/$PID/stat); s0=$(date +%s.%N)
  id=$(curl -sf -XPUT -H 'Content-Type: application/json' \
    -d "{\"action\":\"attach-mp\",\"value\":\"$D/run/m3\"}" http://127.0.0.1:18080/v1/daemon/mountpaths)
  $PY -c "import sys; from aistore.sdk import Client
Client('http://127.0.0.1:18080').job(job_id=sys.argv[1]).wait(timeout=600, verbose=False)" "$id"
  s1=$(date +%s.%N); t1=$(awk '{print $14+$15}' /proc/$PID/stat)
  n3=$(find $D/run/m3 -type f | wc -l)
  echo "$b: $n3 objects moved to m3, $(python3 -c "print('%.2f s wall, %.2f s node CPU' % ($s1-$s0, ($t1-$t0)/100))")"
  stop
done; done
