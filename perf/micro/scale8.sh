#!/bin/bash
# usage: [N=8] [DUR=8] [AL_EXTRA=-direct] scale8.sh: N loop disks (ext4, direct-io) throttled to 50 MiB/s each (cgroup v1 blkio), one 2-core aisnode with a mountpath on each, aisloader PUT then GET of 1 MiB objects with 32 workers per disk; object MiB/s against the throttle, device MiB/s, and the node threads' states sampled every 20 ms (issue 14 linearity). Cleans up what it creates.
set -e
N=${N:-8}; BIN=${BIN:-target/release}; W=/var/tmp/scale8; RATE=$((50*1024*1024))
mkdir -p $W; CG=/sys/fs/cgroup/blkio/scale8; mkdir -p $CG
LOOPS=()
cleanup() { [ -n "$PID" ] && kill $PID 2>/dev/null; wait $PID 2>/dev/null; for i in $(seq 0 $((N-1))); do umount $W/m$i 2>/dev/null; done; for l in "${LOOPS[@]}"; do losetup -d $l; done; rmdir $CG 2>/dev/null; rm -rf $W; }
trap cleanup EXIT
MPS=""
for i in $(seq 0 $((N-1))); do
  truncate -s 3G $W/d$i.img; L=$(losetup --direct-io=on -f --show $W/d$i.img); LOOPS+=($L)
  mkfs.ext4 -q -F $L; mkdir -p $W/m$i; mount $L $W/m$i; mkdir -p $W/m$i/ais
  MM=$(printf "%d:%d" 0x$(stat -c %t $L) 0x$(stat -c %T $L))
  echo "$MM $RATE" > $CG/blkio.throttle.read_bps_device; echo "$MM $RATE" > $CG/blkio.throttle.write_bps_device
  MPS="$MPS --mountpath $W/m$i/ais"
done
sh -c "echo \$\$ > $CG/cgroup.procs && exec $BIN/aisnode --port 18080 --core-port-base 18100 --data-dir $W/data --cores 2 $MPS --no-fsync" > $W/log 2>&1 &
PID=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18080/v1/buckets/b" >/dev/null
sample() { # sample thread states of aisnode for $1 seconds
  local end=$(( $(date +%s%N) + $1*1000000000 )); : > $W/states
  while [ $(date +%s%N) -lt $end ]; do
    for t in /proc/$PID/task/*; do echo "$(cat $t/comm) $(awk '{print $3}' $t/stat) $(cat $t/wchan)"; done >> $W/states; sleep 0.02
  done
}
for op in 100 0; do
  sleep 1
  ( sleep 2; sample 4 ) & SPID=$!
  rd() { awk -v n=$N '$3 ~ /^loop/ {r+=$6; w+=$10} END {printf "%.0f %.0f\n", r*512, w*512}' /proc/diskstats; }
  a=($(rd)); t0=$(date +%s.%N)
  $BIN/aisloader -ip 127.0.0.1 -port 18080 -bucket=ais://b -cleanup=false -pctput=$op -minsize=1MiB -maxsize=1MiB -duration=${DUR:-8}s -numworkers=$((32*N)) $([ $op = 100 ] && echo -skiplist) -statsinterval=0 -quiet ${AL_EXTRA:-} -json=$W/j.json >/dev/null 2>&1
  t1=$(date +%s.%N); b=($(rd)); wait $SPID
  python3 -c "
import json;j=json.load(open('$W/j.json'));k='put' if $op==100 else 'get';p=j[k]
print(k, 'MiB/s %.0f'%(p['bytes']/j['duration_s']/2**20), 'of', $N*50, 'disk r/w MiB/s %.0f %.0f'%(($(echo ${b[0]}-${a[0]}|bc))/($t1-$t0)/2**20, ($(echo ${b[1]}-${a[1]}|bc))/($t1-$t0)/2**20), 'p50', p['latency_us']['p50'])"
  echo "thread states (comm state wchan: count):"; sort $W/states | uniq -c | sort -rn | head -12
done
