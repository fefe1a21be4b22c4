#!/usr/bin/env bash
# usage: tls_get.sh [BIN_DIR] [seconds per run] [rounds]
# GET throughput over TLS vs plain HTTP, 1 MiB and 8 MiB objects, measured in one run: two
# aisnode processes (same binary, same file system, 1 core each; one with net.http.use_https)
# are loaded in turn by aisloader (-pctput=0, 4 workers), alternating plain/TLS for ROUNDS
# rounds. CPU per GET: the node's utime+stime from /proc/PID/stat over the run / GETs done.
# The client side (aisloader) pays its own TLS; its CPU line is printed too.
set -euo pipefail
BIN=${1:-target/release}; SECS=${2:-5}; ROUNDS=${3:-3}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/tlsget.XXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null || true; done; rm -rf $D' EXIT
# CA and a node certificate for 127.0.0.1.
( cd $D
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=bench-ca
  echo "subjectAltName=IP:127.0.0.1" > ext.cnf
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout node.key -out node.csr -subj /CN=node
  openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out node.crt -days 1 -extfile ext.cnf
) >/dev/null 2>&1
cat > $D/tls.json <<EOF
{"net": {"http": {"use_https": true, "server_crt": "$D/node.crt", "server_key": "$D/node.key", "client_ca_tls": "$D/ca.crt"}}}
EOF
start() { # name port config
  mkdir -p $D/$1
  $BIN/aisnode --port $2 --core-port-base $(($2 + 1)) --data-dir $D/$1 --cores 1 --no-fsync ${3:+--config $3} >$D/$1.log 2>&1 &
  PIDS+=($!)
  echo $!
}
PLAIN_PID=$(start plain 18300)
TLS_PID=$(start tls 18310 $D/tls.json)
for i in $(seq 100); do
  curl -sf http://127.0.0.1:18300/v1/health >/dev/null && curl -sf --cacert $D/ca.crt https://127.0.0.1:18310/v1/health >/dev/null && break
  sleep 0.1
done
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
load() { # endpoint size extra-args... ; prints the JSON path
  local ep=$1 size=$2; shift 2
  AIS_ENDPOINT=$ep AIS_CLIENT_CA=$D/ca.crt AIS_SKIP_VERIFY_CRT=false $BIN/aisloader -bucket=ais://b$size \
    -minsize=$size -maxsize=$size -numworkers=4 -cleanup=false -quiet -statsinterval=0 "$@"
}
for size in 1MiB 8MiB; do
  for ep in http://127.0.0.1:18300 https://127.0.0.1:18310; do
    load $ep $size -pctput=100 -maxputs=32 -duration=60s -json=$D/put.json >/dev/null
  done
done
printf "%-6s %-5s %5s %10s %8s %12s %s\n" size proto round GiB/s GET/s "node-us/GET" "aisloader CPU"
for size in 1MiB 8MiB; do
  for r in $(seq $ROUNDS); do
    for proto in plain tls; do
      if [ $proto = plain ]; then ep=http://127.0.0.1:18300; pid=$PLAIN_PID; else ep=https://127.0.0.1:18310; pid=$TLS_PID; fi
      t0=$(ticks $pid)
      out=$(load $ep $size -pctput=0 -duration=${SECS}s -json=$D/get.json)
      t1=$(ticks $pid)
      read -r ops bps <<<"$(python3 -c "import json,sys; j=json.load(open('$D/get.json')); g=j['get']; print(g['ops'], g['throughput_bytes_per_s'])")"
      cpu=$(echo "$out" | grep -o 'Loader CPU:.*' | cut -c13-60 || true)
      printf "%-6s %-5s %5s %10.3f %8.0f %12.0f %s\n" $size $proto $r \
        "$(echo "$bps/1073741824" | bc -l)" "$(echo "$ops/$SECS" | bc -l)" \
        "$(echo "($t1-$t0)*10000/$ops" | bc -l)" "$cpu"
    done
  done
done
