#!/usr/bin/env bash
# usage: putlarge.sh [SIZE=8MiB] [ROUNDS=3]   (env BIN_DIR, BENCH_DIR, WORKERS=16)
# Large PUTs against the machine's limits, alternating in one run, on one file system:
#   fio:     writing new files of the object size (created on open, O_DIRECT, io_uring,
#            iodepth = WORKERS), as perf's "write, new files" row;
#   aisnode: 2 cores, --no-fsync, aisloader -direct (the body crosses the network once);
#   nginx:   2 worker processes storing each PUT with the WebDAV module (body to a temp
#            file, rename into place; buffered, no fsync), the same aisloader through S3;
#            its MiB/s counts the `sync` that writes its pages back ("incl. sync").
# Per run: MiB/s, the server's CPU seconds per GiB (its processes' utime+stime), the
# loader's, and the whole machine's busy CPU-seconds per GiB.
SIZE=${1:-8MiB}; R=${2:-3}; W=${WORKERS:-16}
BIN=${BIN_DIR:-target/release}; D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/putlarge.XXXX)
BYTES=$(python3 -c "import re;s='$SIZE';n,u=re.fullmatch(r'(\d+)(KiB|MiB|GiB)',s).groups();print(int(n)*{'KiB':1<<10,'MiB':1<<20,'GiB':1<<30}[u])")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf $D; }
trap cleanup EXIT
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
kids() { awk '{print $16+$17}' /proc/$$/stat; }
cpu_of() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
report() { # name bytes secs server_ticks loader_ticks machine_ticks [extra]
  python3 -c "
g=$2/2**30; s=$3
print('%-8s MiB/s %6.0f  server s/GiB %s  loader s/GiB %.3f  machine s/GiB %.3f %s' % ('$1', $2/2**20/s,
  '%.3f' % ($4/100/g) if '$4' != 'None' else '  -  ', $5/100/g, $6/100/g, '$7'))"
}
mkdir -p $D/nginx/www/b $D/nginx/tmp
cat > $D/nginx/nginx.conf <<NG
worker_processes 2; daemon off; user root; error_log $D/nginx/err; pid $D/nginx/pid;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $D/nginx/tmp; client_max_body_size 0; client_body_buffer_size 1m;
  server { listen 127.0.0.1:18090; root $D/nginx/www;
    location = /b/ { default_type application/xml; return 200 '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>'; }
    location / { dav_methods PUT; create_full_put_path on; } } }
NG
nginx -c $D/nginx/nginx.conf -p $D/nginx & NG=$!; PIDS+=($NG)
$BIN/aisnode --port 18080 --core-port-base 18100 --data-dir $D/ais --cores 2 --no-fsync >$D/ais.log 2>&1 &
AIS=$!; PIDS+=($AIS)
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:18080/v1/buckets/b" >/dev/null
NGW=$(pgrep -P $NG | tr '\n' ' ')
LOADER=(-cleanup=false -pctput=100 -minsize=$SIZE -maxsize=$SIZE -duration=4s -numworkers=$W -skiplist -totalputsize=2GiB -statsinterval=0 -quiet -json=$D/j.json)
jbytes() { python3 -c "import json;print(json.load(open('$D/j.json'))['put']['bytes'])"; }
jsecs() { python3 -c "import json;print(json.load(open('$D/j.json'))['duration_s'])"; }
jerr() { python3 -c "import json;print(json.load(open('$D/j.json'))['put']['errors'])"; }
N=$(( (2 << 30) / BYTES ))
for r in $(seq $R); do
  sync
  # fio: one pass over N new files, stops after 4 s
  rm -rf $D/fio; mkdir -p $D/fio
  b0=$(busy); w0=$(kids)
  fio --name=nf --directory=$D/fio --nrfiles=$N --filesize=$BYTES --bs=$BYTES --rw=write --direct=1 \
    --ioengine=io_uring --iodepth=$W --create_on_open=1 --fallocate=none --file_service_type=sequential \
    --openfiles=$W --runtime=4 --output-format=json >$D/fio.json
  b1=$(busy); w1=$(kids)
  read fb fs < <(python3 -c "import json;j=json.load(open('$D/fio.json'))['jobs'][0];print(j['write']['io_bytes'], j['job_runtime']/1000)")
  report fio $fb $fs None $((w1-w0)) $((b1-b0))
  rm -rf $D/fio
  # aisnode
  rm -f $D/j.json; sync; t0=$(cpu_of $AIS); b0=$(busy); w0=$(kids)
  $BIN/aisloader -ip 127.0.0.1 -port 18080 -bucket=ais://b -direct "${LOADER[@]}" >$D/ais.out 2>&1 || { tail -5 $D/ais.out; exit 1; }
  t1=$(cpu_of $AIS); b1=$(busy); w1=$(kids)
  report aisnode $(jbytes) $(jsecs) $((t1-t0)) $((w1-w0)) $((b1-b0)) "errors $(jerr)"
  # nginx, then sync (timed)
  rm -f $D/j.json; sync; t0=$(cpu_of $NGW); b0=$(busy); w0=$(kids); s0=$(date +%s.%N)
  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y $BIN/aisloader -s3endpoint http://127.0.0.1:18090 -bucket=s3://b "${LOADER[@]}" >$D/ng.out 2>&1 || { tail -5 $D/ng.out; exit 1; }
  s1=$(date +%s.%N); sync; s2=$(date +%s.%N)
  t1=$(cpu_of $NGW); b1=$(busy); w1=$(kids)
  secs=$(python3 -c "print($(jsecs) + $s2 - $s1)")
  report nginx $(jbytes) $secs $((t1-t0)) $((w1-w0)) $((b1-b0)) "errors $(jerr) (incl. sync: $(python3 -c "print('%.2f s' % ($s2-$s1))"))"
  rm -rf $D/nginx/www/b/*
done
