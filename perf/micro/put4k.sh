#!/usr/bin/env bash
# usage: put4k.sh BIN [nofsync|fsync|nginx] [perf]
# 4 KiB PUTs of new objects (wrk -t1 -c16 -d5s, put.lua), CPU per PUT:
#   nofsync, fsync: aisnode (one core), straight to core 0's port (`?pid=&utm=` stand for
#          the redirect), with --no-fsync or the synced default;
#   nginx: the machine's own reference, one nginx process storing each PUT as a file with
#          its WebDAV module (body to a temp file on the same file system, then a rename into
#          place; buffered writes, no fsync, no metadata), under the same wrk load.
# Two figures: the server process's CPU (/proc/PID/stat), and the whole machine's busy time
# without wrk's, a `sync` included: work done for the server outside its threads (nginx's
# dirty pages written back by kernel threads, ext4's unwritten-extent conversion after an
# O_DIRECT write) counts there.
# Run it on a freshly made file system (BENCH_DIR; see README.md).
set -e
BIN=${1:-target/release/aisnode}; MODE=${2:-nofsync}; PERF=${3:-}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/put4k.XXXX)
if [ "$MODE" = nginx ]; then
  mkdir -p $D/www $D/tmp
  cat > $D/nginx.conf <<NG
worker_processes 1; master_process off; daemon off; error_log $D/nginx.err; pid $D/nginx.pid;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $D/tmp; client_max_body_size 1m;
  server { listen 127.0.0.1:18090; root $D/www;
    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; } } }
NG
  nginx -c $D/nginx.conf -p $D & PID=$!
  trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
  for i in $(seq 50); do curl -sf -o /dev/null -XPUT -d x http://127.0.0.1:18090/probe && break; sleep 0.1; done
  URL=http://127.0.0.1:18090
else
  EXTRA=""; [ "$MODE" = nofsync ] && EXTRA=--no-fsync
  $BIN --port 18080 --core-port-base 18100 --data-dir $D --cores 1 $EXTRA >$D/log 2>&1 &
  PID=$!
  trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
  for i in $(seq 50); do curl -sf http://127.0.0.1:18080/v1/health >/dev/null && break; sleep 0.1; done
  curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18080/v1/buckets/b" >/dev/null
  URL=http://127.0.0.1:18100
fi
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
# whole machine's busy jiffies (user+nice+system+irq+softirq), and this shell's waited
# children's (wrk's) CPU, taken off it
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
kids() { awk '{print $16+$17}' /proc/$$/stat; }
sync
t0=$(ticks); b0=$(busy); w0=$(kids)
if [ -n "$PERF" ]; then perf record -g -o /tmp/perf.data -p $PID -- sleep 4 >/dev/null 2>&1 & PP=$!; fi
wrk -t1 -c16 -d5s -s $(dirname "$0")/put.lua $URL >$D/wrk.out
w1=$(kids); sync
t1=$(ticks); b1=$(busy)
[ -n "$PERF" ] && wait $PP
out=$(cat $D/wrk.out)
reqs=$(echo "$out" | awk '/requests in/{print $1}')
echo "$out" | grep -E "Requests/sec|Non-2xx"
echo "cpu us/req: $(echo "($t1-$t0)*10000/$reqs" | bc -l | cut -c1-6) (machine without wrk, sync included: $(echo "($b1-$b0-$w1+$w0)*10000/$reqs" | bc -l | cut -c1-6))"
