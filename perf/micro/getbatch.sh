#!/usr/bin/env bash
# usage: getbatch.sh BIN [python]
# Issue 16's figure: GetBatch (/v1/ml/moss) of 1000 x 16 KiB objects against 1000 separate GETs
# with 16 keep-alive workers, on one 2-core node, three interleaved rounds, node CPU per object
# from /proc/PID/stat.
set -e
BIN=${1:-target/release/aisnode}; PY=${2:-.venv/bin/python}
D=$(mktemp -d ${BENCH_DIR:-/var/tmp}/getbatch.XXXX)
PORT=18500
$BIN --port $PORT --core-port-base 18510 --data-dir $D --cores 2 --no-fsync >$D/log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $D' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/v1/health >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' "http://127.0.0.1:$PORT/v1/buckets/gbm" >/dev/null
head -c 16384 /dev/urandom > $D/x
seq -f "o-%04g" 0 999 | xargs -P 8 -I{} curl -sfL -XPUT -T $D/x "http://127.0.0.1:$PORT/v1/objects/gbm/{}" -o /dev/null
"$PY" - gbm $PID $PORT <<'PYEOF'
import io, os, sys, tarfile, time, threading, requests
B, pid, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ep = f"http://127.0.0.1:{port}"
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
N = 1000
names = [f"o-{i:04d}" for i in range(N)]
def gets():
    sessions = [requests.Session() for _ in range(16)]
    def w(k):
        for n in names[k::16]:
            r = sessions[k].get(f"{ep}/v1/objects/{B}/{n}", timeout=30)
            assert r.status_code == 200 and len(r.content) == 16384
    ts = [threading.Thread(target=w, args=(k,)) for k in range(16)]
    [t.start() for t in ts]; [t.join() for t in ts]
def batch(strm):
    r = requests.get(f"{ep}/v1/ml/moss/{B}", json={"in": [{"objname": n} for n in names], "strm": strm}, timeout=60)
    assert r.status_code == 200, r.text[:200]
    if strm:
        with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
            assert len(tf.getmembers()) == N
for rnd in range(3):
    for what, fn in [("1000 GETs, 16 workers", gets), ("GetBatch streaming", lambda: batch(True)),
                     ("GetBatch buffered", lambda: batch(False))]:
        c0 = cpu(); t0 = time.time(); fn(); t = time.time() - t0; c = cpu() - c0
        print(f"round {rnd}: {what}: {t*1000:.0f} ms, {N/t:.0f} obj/s, node CPU {c*1e6/N:.0f} us/object")
PYEOF
