#!/usr/bin/env bash
# GET and PUT throughput through S3 (/s3, SigV4) vs the native API, same node, same run,
# alternating, with aisloader. Usage: scripts/bench_s3_vs_native.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DUR=${1:-6}
B=target/release/aisnode; L=target/release/aisloader
[ -x $B ] && [ -x $L ] || cargo build --release -p aisnode -p aisloader
D=$(mktemp -d /var/tmp/s3vsnat.XXXXXX); P=29380
$B --data-dir "$D" --port $P --cores 2 --no-fsync --s3-access-key AK --s3-secret-key SK >"$D/node.log" 2>&1 &
NODE=$!
trap 'kill $NODE 2>/dev/null; wait $NODE 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$P/v1/health >/dev/null && break; sleep 0.1; done
for b in nat s3b; do curl -sf -X POST localhost:$P/v1/buckets/$b -d '{"action":"create-bck"}'; done
one() { # api size pct tag
  local api=$1 sz=$2 pct=$3 tag=$4 out="$D/$1-$4-$3.json"
  if [ "$api" = native ]; then
    $L -ip 127.0.0.1 -port $P -bucket ais://nat -cleanup=false -pctput=$pct -minsize=$sz -maxsize=$sz \
       -duration=${DUR}s -numworkers=16 -quiet -statsinterval=0 -subdir=$tag -json "$out" >/dev/null
  else
    $L -bucket s3://s3b -s3endpoint http://127.0.0.1:$P/s3 -s3accesskey AK -s3secretkey SK -cleanup=false \
       -pctput=$pct -minsize=$sz -maxsize=$sz -duration=${DUR}s -numworkers=16 -quiet -statsinterval=0 \
       -subdir=$tag -json "$out" >/dev/null
  fi
  python3 - "$out" "$api" "$tag" "$pct" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); api, tag, pct = sys.argv[2:5]
op = "put" if pct == "100" else "get"; o = j[op]
print(f"{tag:6} {op:4} {api:7} ops/s={o['ops_per_s']:9.1f} MiB/s={o['throughput_bytes_per_s']/2**20:8.1f} "
      f"p50={o['latency_us']['p50']/1000:7.2f}ms p99={o['latency_us']['p99']/1000:7.2f}ms errors={o['errors']}")
PY
}
for round in 1 2; do
  for size in 4KiB:small 8MiB:large; do
    sz=${size%%:*}; tag=${size##*:}
    for pct in 100 0; do one native $sz $pct $tag; one s3 $sz $pct $tag; done
  done
done
