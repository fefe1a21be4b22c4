#!/usr/bin/env bash
# usage: get4k.sh BIN [cores] [wrk-target: core|proxy] [perf]
# 4 KiB GET CPU cost, wrk -t1 -c16 -d5s, CPU from /proc/PID/stat
set -e
BIN=${1:-target/release/aisnode}; CORES=${2:-1}; TGT=${3:-core}; PERF=${4:-}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/get4k.XXXX)
PORT=18080
$BIN --port $PORT --core-port-base 18100 --data-dir $D --cores $CORES --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/b" >/dev/null
head -c 4096 /dev/urandom > $D/obj
curl -sfL -XPUT -T $D/obj "http://127.0.0.1:$PORT/v1/objects/b/o" >/dev/null
LOC=$(curl -s -o /dev/null -w '%{redirect_url}' "http://127.0.0.1:$PORT/v1/objects/b/o")
if [ "$TGT" = core ]; then URL=$LOC; else URL="http://127.0.0.1:$PORT/v1/objects/b/o"; fi
echo "url: $URL"
curl -sf "$LOC" | cmp - $D/obj
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
wrk -t1 -c16 -d2s "$URL" >/dev/null
t0=$(ticks)
if [ -n "$PERF" ]; then perf record -g -o /tmp/perf.data -p $PID -- sleep 5 >/dev/null 2>&1 & PP=$!; fi
out=$(wrk -t1 -c16 -d5s "$URL")
t1=$(ticks)
[ -n "$PERF" ] && wait $PP
reqs=$(echo "$out" | awk '/requests in/{print $1}')
echo "$out" | grep -E "Requests/sec|Non-2xx|requests in"
echo "cpu us/req: $(echo "($t1-$t0)*10000/$reqs" | bc -l | cut -c1-6)"
