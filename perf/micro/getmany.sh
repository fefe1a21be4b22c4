#!/usr/bin/env bash
# GET of random objects among NOBJ straight to core 0 (wrk -t1 -c16), 1 core; CPU us/req
set -e
BIN=${1:-target/release/aisnode}; NOBJ=${2:-1000}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/gm.XXXX); PORT=18080
$BIN --port $PORT --core-port-base 18100 --data-dir $D --cores 1 --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/b" >/dev/null
# create NOBJ objects w1-1..w1-NOBJ (one wrk thread, one connection: sequential names)
cat > $D/mk.lua <<LUA
local c = 0
local body = string.rep("x", 4096)
request = function() c = c + 1; if c > $NOBJ then c = 1 end; return wrk.format("PUT", "/v1/objects/b/w1-" .. c .. "?pid=x&utm=y", nil, body) end
LUA
wrk -t1 -c1 -d$(( NOBJ / 2000 + 2 ))s -s $D/mk.lua http://127.0.0.1:18100 >/dev/null
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
NOBJ=$NOBJ wrk -t1 -c16 -d2s -s $(dirname "$0")/getrand.lua http://127.0.0.1:18100 >/dev/null
t0=$(ticks); [ -n "$PERF" ] && { perf record -g -o /tmp/perfm.data -p $PID -- sleep 4 >/dev/null 2>&1 & }
out=$(NOBJ=$NOBJ wrk -t1 -c16 -d5s -s $(dirname "$0")/getrand.lua http://127.0.0.1:18100)
t1=$(ticks)
reqs=$(echo "$out" | awk '/requests in/{print $1}')
echo "$out" | grep -E "Requests/sec|Non-2xx"
echo "nobj=$NOBJ cpu us/req: $(echo "($t1-$t0)*10000/$reqs" | bc -l | cut -c1-6)"
