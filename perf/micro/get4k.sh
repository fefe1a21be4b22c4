#!/usr/bin/env bash
# usage: get4k.sh BIN [cores] [target: core|proxy|nginx|fio] [perf]
# 4 KiB GET CPU cost, wrk -t1 -c16 -d5s, CPU from /proc/PID/stat.
# The machine's own references, for ratios that hold from one machine to the next:
#   nginx: one nginx process (no master, access log off, no open-file cache, sendfile off as
#          by default: open, fstat, read from the page cache, write, close per request)
#          serving the same 4 KiB file to the same wrk load;
#   fio:   CPU per 4 KiB O_DIRECT random read (io_uring, iodepth 16, 5 s, 256 MiB file)
#          from fio's own usr_cpu/sys_cpu.
set -e
BIN=${1:-target/release/aisnode}; CORES=${2:-1}; TGT=${3:-core}; PERF=${4:-}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/get4k.XXXX)
if [ "$TGT" = fio ]; then
  trap 'rm -rf $D' EXIT
  fio --name=r --filename=$D/f --size=256M --rw=randread --bs=4k --direct=1 --ioengine=io_uring \
    --iodepth=16 --runtime=5 --time_based --output-format=json >$D/fio.json
  python3 - $D/fio.json <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
ios = j["read"]["total_ios"]; secs = j["job_runtime"] / 1000
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100 * secs
print(f"fio 4k O_DIRECT randread: {ios / secs:.0f} IOPS")
print(f"cpu us/req: {cpu * 1e6 / ios:.3f}")
PY
  exit 0
fi
if [ "$TGT" = nginx ]; then
  mkdir -p $D/www; head -c 4096 /dev/urandom > $D/www/obj
  cat > $D/nginx.conf <<NG
worker_processes 1; master_process off; daemon off; error_log $D/nginx.err; pid $D/nginx.pid;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:18090; root $D/www; } }
NG
  nginx -c $D/nginx.conf -p $D & PID=$!
  trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
  for i in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:18090/obj && break; sleep 0.1; done
  curl -sf http://127.0.0.1:18090/obj | cmp - $D/www/obj
  URL=http://127.0.0.1:18090/obj
else
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
curl -sf "$LOC" | cmp - $D/obj
fi
echo "url: $URL"
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
