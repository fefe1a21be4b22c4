#!/usr/bin/env bash
# 4 KiB PUT of new objects straight to core 0's port (wrk, 1 core, 16 connections)
set -e
BIN=${1:-target/release/aisnode}; FS=${2:-nofsync}; PERF=${3:-}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/put4k.XXXX)
PORT=18080
EXTRA=""; [ "$FS" = nofsync ] && EXTRA=--no-fsync
$BIN --port $PORT --core-port-base 18100 --data-dir $D --cores 1 $EXTRA >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/b" >/dev/null
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
t0=$(ticks)
if [ -n "$PERF" ]; then perf record -g -o /tmp/perf.data -p $PID -- sleep 4 >/dev/null 2>&1 & PP=$!; fi
out=$(wrk -t1 -c16 -d5s -s $(dirname "$0")/put.lua http://127.0.0.1:18100)
t1=$(ticks)
[ -n "$PERF" ] && wait $PP
reqs=$(echo "$out" | awk '/requests in/{print $1}')
echo "$out" | grep -E "Requests/sec|Non-2xx"
echo "cpu us/req: $(echo "($t1-$t0)*10000/$reqs" | bc -l | cut -c1-6)"
