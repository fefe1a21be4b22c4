#!/usr/bin/env bash
# usage: listcluster.sh BIN_A [BIN_B]   (env SECS=20: how long aisloader fills the bucket;
#   T=3 targets; PS=1000 names a page; PROPS: list these properties, e.g. all, instead of
#   names only)
# Listing cost of a multi-target cluster: scripts/cluster.sh (1 proxy, T targets, 2
# mountpaths and 1 core each) filled with 4 KiB objects by aisloader through the proxy, then,
# per binary (alternating, the cluster restarted on the same data), every name listed through
# the proxy with `ais ls --name-only` (or `--props PROPS`) in pages of PS: wall time, the
# targets' CPU and the proxy's CPU.
BIN_A=${1:?aisnode binary}; BIN_B=${2:-$1}; SECS=${SECS:-20}; T=${T:-3}; PS=${PS:-1000}
R=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/listcl.XXXX)
up() { AISNODE_BIN=$1 $R/scripts/cluster.sh start -p 1 -t $T -m 2 -c 1 -d $D --port 18400 >/dev/null; }
down() { $R/scripts/cluster.sh stop -d $D >/dev/null; }
trap 'down 2>/dev/null; rm -rf $D' EXIT
cpu() { local s=0; for p in $(awk -v k="$1" '$1 ~ k {print $2}' $D/pids); do
  s=$((s + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $s; }
up $BIN_A
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18400/v1/buckets/b" >/dev/null
$R/target/release/aisloader -ip 127.0.0.1 -port 18400 -bucket ais://b -duration ${SECS}s -pctput 100 \
  -minsize 4KiB -maxsize 4KiB -numworkers 16 -cleanup=false 2>&1 | grep -iE "put.*(ops|total)" | tail -1
for r in 1 2; do for b in $BIN_A $BIN_B; do
  down; up $b; sleep 1
  t0=$(cpu target); p0=$(cpu proxy); s0=$(date +%s.%N)
  n=$(AIS_ENDPOINT=http://127.0.0.1:18400 $R/target/release/ais ls ais://b $([ -n "${PROPS:-}" ] && echo "--props $PROPS" || echo --name-only) -H --page-size $PS | wc -l)
  s1=$(date +%s.%N); t1=$(cpu target); p1=$(cpu proxy)
  echo "$b: $n names, $(python3 -c "print('%.2f s wall, targets %.2f s CPU, proxy %.2f s CPU' % ($s1-$s0, ($t1-$t0)/100, ($p1-$p0)/100))")"
done; done
