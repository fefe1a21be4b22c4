#!/usr/bin/env bash
# usage: putexpect.sh SIZE ROUNDS: aisloader PUTs through the proxy with and without
# Expect: 100-continue (-expect-continue=1B vs 0), alternating; aisnode (2 cores) CPU per PUT
SIZE=${1:-1MiB}; R=${2:-2}
BIN=${BIN_DIR:-target/release}; D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/putexpect.XXXX)
$BIN/aisnode --port 18080 --core-port-base 18100 --data-dir $D --cores 2 --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18080/v1/buckets/b" >/dev/null
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
for r in $(seq $R); do for ec in 1B 0; do
 t0=$(ticks)
 $BIN/aisloader -ip 127.0.0.1 -port 18080 -bucket=ais://b -cleanup=false -pctput=100 -minsize=$SIZE -maxsize=$SIZE -duration=4s -numworkers=16 -skiplist -totalputsize=3GiB -statsinterval=0 -quiet -expect-continue=$ec -json=$D/j.json >/dev/null 2>&1
 t1=$(ticks)
 python3 -c "
import json,sys;j=json.load(open('$D/j.json'));
p=j.get('put') or j
ops=p['ops'] if 'ops' in p else p['count']
print('expect=$ec', 'MiB/s %.0f'%(p['bytes']/j['duration_s']/2**20), 'ops',ops, 'cpu us/op %.0f'%(($t1-$t0)*1e4/ops), 'errors', p.get('errors'))" 2>/dev/null || head -c 600 $D/j.json
 rm -rf $D/mp* 2>/dev/null
done; done
