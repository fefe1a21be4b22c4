#!/usr/bin/env bash
# Issue 12 ("Cost, measured"), erasure coding: what an EC bucket (D=4, P=2) costs on PUT against
# the same workload on an unprotected bucket, and one GET comparison, on one local cluster of
# 1 proxy + 6 targets (separate aisnode processes, each --cores 1, one mountpath each under
# $WORK on the local disk, default durability), everything on this machine.
#
#   perf/ec_bench.sh            (about 7 minutes; report perf/reports/ec-<date>.md)
#
# 1. PUT: aisloader through the proxy, PUT-only, WORKERS workers, DUR s per run, object sizes
#    SIZES; per repetition and size: unprotected, then EC (interleaved A,B,A,B). Each run PUTs
#    into a fresh bucket (EC: objsize_limit 256 KiB, so 64 KiB objects are replicated on P=2
#    other targets, 1 MiB and 4 MiB ones encoded into 4+2 slices on 6 targets). Per run:
#    PUT/s, MiB/s, latency, CPU (utime+stime of /proc/PID/stat) of all 7 aisnode processes,
#    split proxy / targets and per thread kind (reactor, blocking pool, io_uring workers: from
#    /proc/PID/task/TID/schedstat, which also gives run-queue wait), per-CPU busy (/proc/stat),
#    bytes the aisnode processes wrote (/proc/PID/io write_bytes - cancelled_write_bytes),
#    device writes of the disk (/proc/diskstats), and what stays on the mountpaths (apparent
#    bytes under %ob, %ec, %mt of the bucket, summed over the 6 targets; file counts). Then the
#    bucket is destroyed and the harness waits until every target's trash is empty.
# 2. GET: GET_N objects of 1 MiB into an unprotected and an EC bucket, then GET-only, GET_DUR s,
#    interleaved; GET/s, MiB/s, CPU per GET, bytes the processes read (read_bytes) per GET byte.
#
# Environment (defaults): REPS=3 (at least 2; the third is skipped when the run would go past
# BUDGET_S) DUR=15 GET_DUR=10 WORKERS=16 SIZES="64KiB 1MiB 4MiB" GET_N=512 BUDGET_S=600
# BIN=/tmp/ecbench (aisnode, aisloader copies; copied from target/release if missing; never built)
# WORK=/tmp/ais-ec-bench BASE=24300 (proxy BASE, target j BASE+10*(j+1); core ports +1)
# AISNODE_ARGS="" (extra aisnode flags for every node, e.g. --no-fsync) OUT=perf/reports/ec-<date>.md
# PERF_RECORD=/path/prefix (optional, perturbs what it records: \`perf record -g\` of the 6 targets
# during every EC PUT run, into PREFIX.<size>.r<rep>; not used for the report's figures)
#
# Every process started is recorded in $WORK/state and stopped by PID on exit (trap) and at
# the start of the next run if a previous one was killed; $WORK is removed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
REPS=${REPS:-3}
DUR=${DUR:-15}
GET_DUR=${GET_DUR:-10}
WORKERS=${WORKERS:-16}
SIZES=${SIZES:-64KiB 1MiB 4MiB}
GET_N=${GET_N:-512}
BUDGET_S=${BUDGET_S:-600}
BIN=${BIN:-/tmp/ecbench}
WORK=${WORK:-/tmp/ais-ec-bench}
BASE=${BASE:-24300}
AISNODE_ARGS=${AISNODE_ARGS:-}
DATE=$(date -u +%F)
OUT=${OUT:-perf/reports/ec-$DATE.md}
NT=6
MIB=1048576
CMDLINE="$0 $*"
ENVLINE="REPS=$REPS DUR=$DUR GET_DUR=$GET_DUR WORKERS=$WORKERS SIZES=\"$SIZES\" GET_N=$GET_N BUDGET_S=$BUDGET_S BIN=$BIN WORK=$WORK BASE=$BASE${AISNODE_ARGS:+ AISNODE_ARGS=\"$AISNODE_ARGS\"}"
T_START=$(date +%s)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

say() { printf '%s ec_bench: %s\n' "$(date +%T)" "$*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Cleanup: every process is appended to $STATE when started and stopped (by PID) on exit.
STATE=$WORK/state
CHILD_PID=""
NODE_PIDS=()

pid_is() { # PID EXE-PATH: is PID alive and running EXE-PATH?
    [ -n "$1" ] && [ -d "/proc/$1" ] && [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]
}

stop_pids() { # EXE PID...: SIGTERM all, wait up to 15 s, then SIGKILL what is left; by PID only.
    local exe=$1 pid i left
    shift
    local mine=()
    for pid in "$@"; do pid_is "$pid" "$exe" && mine+=("$pid"); done
    [ ${#mine[@]} -gt 0 ] || return 0
    for pid in "${mine[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 150); do
        left=0
        for pid in "${mine[@]}"; do
            if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then left=1; fi
        done
        [ $left -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${mine[@]}"; do
        if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

undo_state() {
    [ -f "$STATE" ] || return 0
    local kind a b pids=()
    while read -r kind a b; do
        [ "$kind" = pid ] && pids+=("$a")
        # A profiler left running: SIGINT (it writes its file and exits), by PID, if it is perf.
        if [ "$kind" = perfpid ] && [ "$(cat "/proc/$a/comm" 2>/dev/null)" = perf ]; then
            kill -INT "$a" 2>/dev/null || true
            sleep 2
            [ "$(cat "/proc/$a/comm" 2>/dev/null)" = perf ] && kill -KILL "$a" 2>/dev/null || true
        fi
    done <"$STATE"
    [ ${#pids[@]} -gt 0 ] && stop_pids "$BIN/aisnode" "${pids[@]}"
    rm -f "$STATE"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$CHILD_PID" ] && { kill -INT "$CHILD_PID" 2>/dev/null || true; sleep 1; kill -KILL "$CHILD_PID" 2>/dev/null || true; wait "$CHILD_PID" 2>/dev/null || true; }
    # Nodes: here, so that this shell reaps them; then whatever the state file still lists.
    [ ${#NODE_PIDS[@]} -gt 0 ] && stop_pids "$BIN/aisnode" "${NODE_PIDS[@]}"
    undo_state
    if [ "${KEEP_WORK:-0}" = 1 ]; then say "keeping $WORK (KEEP_WORK=1)"; else rm -rf "$WORK"; fi
    [ $rc -eq 0 ] || say "exited with status $rc (cleaned up)"
    exit $rc
}

if [ -f "$STATE" ]; then
    say "undoing what a previous run left (from $STATE)"
    undo_state
fi
rm -rf "$WORK"
mkdir -p "$WORK"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites.
for p in curl jq python3 timeout du find; do
    command -v "$p" >/dev/null || die "\`$p\` is not installed"
done
mkdir -p "$BIN"
for b in aisnode aisloader; do
    if [ ! -x "$BIN/$b" ]; then
        [ -x "$REPO/target/release/$b" ] || die "no $BIN/$b and no target/release/$b (build with cargo build --release)"
        cp -p "$REPO/target/release/$b" "$BIN/$b"
    fi
done
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for i in $(seq 0 $NT); do
    for p in $((BASE + 10 * i)) $((BASE + 10 * i + 1)); do
        port_busy "$p" && die "port $p is in use (pick BASE=...)"
    done
done
URL=http://127.0.0.1:$BASE
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DISK_DEV=$(basename "$(findmnt -no SOURCE --target "$WORK")")
[ -e "/sys/class/block/$DISK_DEV" ] || DISK_DEV=""

# ---------------------------------------------------------------------------------------------
# The cluster: proxy0 (primary), then target0..5, each its own process.
NAMES=(proxy0)
for j in $(seq 0 $((NT - 1))); do NAMES+=("target$j"); done
MPS=()
NODE_CMDS=()
launch() { # INDEX
    local i=$1 name=${NAMES[$1]} port=$((BASE + 10 * $1))
    local argv=("$BIN/aisnode" --port "$port" --core-port-base $((port + 1)) --data-dir "$WORK/$name" --cores 1)
    if [ "$i" -eq 0 ]; then
        argv+=(--role proxy)
    else
        mkdir -p "$WORK/$name/mp1"
        MPS+=("$WORK/$name/mp1")
        argv+=(--role target --mountpath "$WORK/$name/mp1" --primary-url "$URL")
    fi
    # shellcheck disable=SC2206
    argv+=($AISNODE_ARGS)
    mkdir -p "$WORK/$name"
    "${argv[@]}" >"$WORK/$name.log" 2>&1 </dev/null &
    local pid=$!
    NODE_PIDS+=("$pid")
    echo "pid $pid $name" >>"$STATE"
    NODE_CMDS+=("${argv[*]}")
}
wait_ready() { # N-TARGETS: primary's Smap lists them, every node healthy with the primary's Smap version
    python3 - "$1" "$BASE" "$NT" "${NODE_PIDS[@]}" <<'EOF'
import json, os, sys, time, urllib.request
want, base, nt = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pids = sys.argv[4:]
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read()
    except Exception as e:
        return None, str(e).encode()
deadline, last = time.monotonic() + 60, "no answer"
while time.monotonic() < deadline:
    for p in pids:
        if not os.path.exists(f"/proc/{p}"):
            print(f"aisnode pid {p} exited", file=sys.stderr); sys.exit(1)
    code, body = get(f"http://127.0.0.1:{base}/v1/daemon?what=smap")
    ok = code == 200
    if ok:
        smap = json.loads(body)
        ok = len(smap["tmap"]) == want
        last = f"Smap v{smap['version']} has {len(smap['tmap'])} targets"
        ports = [base + 10 * i for i in range(len(pids))]
        for port in ports if ok else []:
            c, b = get(f"http://127.0.0.1:{port}/v1/health")
            c2, b2 = get(f"http://127.0.0.1:{port}/v1/daemon?what=smap")
            if c != 200 or c2 != 200 or json.loads(b2)["version"] != smap["version"]:
                ok, last = False, f"port {port} not ready ({c}, {c2})"
                break
    if ok:
        sys.exit(0)
    time.sleep(0.1)
print(f"cluster not ready within 60 s: {last}", file=sys.stderr)
sys.exit(1)
EOF
}
launch 0
wait_ready 0 || die "the proxy did not come up: $(tail -5 "$WORK/proxy0.log")"
for j in $(seq 1 $NT); do launch "$j"; done
wait_ready $NT || die "the cluster did not become ready: $(tail -5 "$WORK"/target*.log)"
say "cluster up: proxy pid ${NODE_PIDS[0]}, targets ${NODE_PIDS[*]:1} on $URL"

# ---------------------------------------------------------------------------------------------
# Measurement helper (one Python process per snapshot / difference).
cat >"$WORK/meas.py" <<'EOF'
import json, os, sys, time

def read(p):
    with open(p) as f:
        return f.read()

def snap(pids, disk):
    s = {"t": time.time(), "procs": {}, "cpus": {}, "disk": [0, 0, 0, 0]}
    for line in read("/proc/stat").splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            f = line.split()
            v = [int(x) for x in f[1:]]
            s["cpus"][f[0]] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    if disk:
        for line in read("/proc/diskstats").splitlines():
            f = line.split()
            if f[2] == disk:
                s["disk"] = [int(f[5]) * 512, int(f[9]) * 512, int(f[3]), int(f[7])]
    for pid in pids:
        st = read(f"/proc/{pid}/stat")
        f = st[st.rindex(")") + 2:].split()
        io = dict(l.split(": ") for l in read(f"/proc/{pid}/io").splitlines())
        threads = {}
        first = {}
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            try:
                comm = read(f"/proc/{pid}/task/{tid}/comm").strip()
                run, wait, _ = read(f"/proc/{pid}/task/{tid}/schedstat").split()
            except OSError:
                continue
            # The reactor is the first (lowest TID) thread named core-K; the others of that name
            # are glommio's blocking pool; iou-* are io_uring's workers.
            if comm.startswith("core-"):
                kind = "reactor" if comm not in first else "blocking"
                first.setdefault(comm, tid)
            elif comm.startswith("iou-"):
                kind = "iouring"
            else:
                kind = "other"
            threads[tid] = [kind, int(run), int(wait)]
        s["procs"][pid] = {
            "ticks": int(f[11]) + int(f[12]),
            "rb": int(io["read_bytes"]), "wb": int(io["write_bytes"]), "cwb": int(io["cancelled_write_bytes"]),
            "threads": threads,
        }
    return s

def diff(a, b, hz):
    """Differences b - a: process CPU (s), per thread kind CPU and run-queue wait (s, threads
    alive in both), per CPU busy (s), bytes."""
    out = {"wall": b["t"] - a["t"]}
    pids = list(a["procs"])
    cpu = {p: (b["procs"][p]["ticks"] - a["procs"][p]["ticks"]) / hz for p in pids}
    out["cpu_proxy"] = cpu[pids[0]]
    out["cpu_targets"] = sum(cpu[p] for p in pids[1:])
    out["cpu_max_target"] = max(cpu[p] for p in pids[1:])
    for k in ("rb", "wb", "cwb"):
        out[k] = sum(b["procs"][p][k] - a["procs"][p][k] for p in pids)
    for kind in ("reactor", "blocking", "iouring", "other"):
        run = wait = 0
        for p in pids[1:]:
            ta, tb = a["procs"][p]["threads"], b["procs"][p]["threads"]
            for tid, (k, r, w) in tb.items():
                if k == kind:
                    r0, w0 = (ta[tid][1], ta[tid][2]) if tid in ta else (0, 0)
                    run += r - r0
                    wait += w - w0
        out[f"run_{kind}"] = run / 1e9
        out[f"wait_{kind}"] = wait / 1e9
    for c in sorted(a["cpus"]):
        out[f"busy_{c}"] = (b["cpus"][c] - a["cpus"][c]) / hz
    out["disk_rb"], out["disk_wb"] = b["disk"][0] - a["disk"][0], b["disk"][1] - a["disk"][1]
    return out

if __name__ == "__main__":
    if sys.argv[1] == "snap":
        json.dump(snap(sys.argv[4:], sys.argv[3]), open(sys.argv[2], "w"))
    else:
        d = diff(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), int(sys.argv[4]))
        print(json.dumps(d))
EOF
HZ=$(getconf CLK_TCK)
snap() { python3 "$WORK/meas.py" snap "$1" "$DISK_DEV" "${NODE_PIDS[@]}"; }
nodes_alive() {
    local k
    for k in "${!NODE_PIDS[@]}"; do
        pid_is "${NODE_PIDS[$k]}" "$BIN/aisnode" || { tail -30 "$WORK/${NAMES[$k]}.log" >&2; die "${NAMES[$k]} died"; }
    done
}

create_bucket() { # NAME MODE(unprotected|ec)
    local v=null code
    [ "$2" = ec ] && v='{"ec":{"enabled":true,"data_slices":4,"parity_slices":2,"objsize_limit":262144}}'
    code=$(curl -s -o "$WORK/curl.out" -w '%{http_code}' -X POST "$URL/v1/buckets/$1?provider=ais" \
        -H 'Content-Type: application/json' -d "{\"action\":\"create-bck\",\"value\":$v}")
    [ "$code" = 200 ] || die "create-bck $1: HTTP $code $(cat "$WORK/curl.out")"
}
wait_trash() {
    local i mp busy
    for i in $(seq 1200); do
        busy=0
        for mp in "${MPS[@]}"; do
            if find "$mp/.\$deleted" -mindepth 1 -maxdepth 1 2>/dev/null | grep -q .; then busy=1; break; fi
        done
        [ $busy -eq 0 ] && return 0
        sleep 0.1
    done
    die "trash not emptied after 120 s"
}
destroy_bucket() {
    local code
    code=$(curl -s -o "$WORK/curl.out" -w '%{http_code}' -X DELETE "$URL/v1/buckets/$1?provider=ais" \
        -H 'Content-Type: application/json' -d '{"action":"destroy-bck"}')
    [ "$code" = 200 ] || die "destroy-bck $1: HTTP $code $(cat "$WORK/curl.out")"
    wait_trash
}
# What bucket B holds on the 6 mountpaths: "ob_files ob_bytes ec_files ec_bytes mt_files mt_bytes wk_files wk_bytes"
stored() {
    local mp d out=""
    for d in %ob %ec %mt %wk; do
        local files=0 bytes=0 f b
        for mp in "${MPS[@]}"; do
            [ -d "$mp/@ais/$1/$d" ] || continue
            read -r f b < <(find "$mp/@ais/$1/$d" -type f -printf '%s\n' | awk '{n++; s += $1} END {printf "%d %.0f\n", n, s}')
            files=$((files + f))
            bytes=$((bytes + b))
        done
        out="$out $files $bytes"
    done
    echo "$out"
}

# One aisloader run with observation: JSON-OUT aisloader-args... Sets M (the JSON of meas.py diff).
run_loader() {
    local json=$1 rc=0
    shift
    rm -f "$json"
    snap "$WORK/s0.json"
    timeout -s INT $((DUR + GET_DUR + 180)) "$BIN/aisloader" -ip 127.0.0.1 -port "$BASE" -cleanup=false \
        -numworkers="$WORKERS" -statsinterval=0 -quiet -json="$json" "$@" >>"$WORK/aisloader.log" 2>&1 &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    snap "$WORK/s1.json"
    M=$(python3 "$WORK/meas.py" diff "$WORK/s0.json" "$WORK/s1.json" "$HZ")
    [ $rc -eq 0 ] || { tail -20 "$WORK/aisloader.log" >&2; die "aisloader failed ($rc)"; }
    [ -s "$json" ] || die "aisloader wrote no $json"
    nodes_alive
}

PUT_TSV=$WORK/put.tsv
GET_TSV=$WORK/get.tsv
PUT_COLS="size mode rep ops bytes dur_s wall_s lat_mean_us lat_p99_us errors loader_cpu_s cpu_proxy cpu_targets cpu_max_target run_reactor wait_reactor run_blocking wait_blocking run_iouring wait_iouring run_other busy_cpu0 busy_cpu1 proc_wb proc_cwb proc_rb disk_wb ob_files ob_bytes ec_files ec_bytes mt_files mt_bytes wk_files wk_bytes"
GET_COLS="mode rep ops bytes dur_s wall_s lat_mean_us lat_p99_us errors loader_cpu_s cpu_proxy cpu_targets cpu_max_target run_reactor wait_reactor run_blocking wait_blocking busy_cpu0 busy_cpu1 proc_rb disk_rb"
echo "$PUT_COLS" | tr ' ' '\t' >"$PUT_TSV"
echo "$GET_COLS" | tr ' ' '\t' >"$GET_TSV"

# The window's CPU, bytes and busy time cover aisloader's start and end as well: everything is
# scaled by aisloader's timed duration / the window's wall time (PUT with -skiplist: ~1).
put_rep() { # SIZE-ARG MODE REP
    local sarg=$1 mode=$2 rep=$3 b json
    b=$(echo "put-$mode-$sarg-r$rep" | tr 'A-Z' 'a-z')
    json=$WORK/$b.json
    create_bucket "$b" "$mode"
    local perf_pid=""
    if [ -n "${PERF_RECORD:-}" ] && [ "$mode" = ec ]; then
        # Optional (perturbs the run): call-graph profile of the 6 targets during this EC run.
        perf record -q -F 499 -g -o "$PERF_RECORD.$sarg.r$rep" -p "$(IFS=,; echo "${NODE_PIDS[*]:1}")" \
            >>"$WORK/perf.log" 2>&1 &
        perf_pid=$!
        echo "perfpid $perf_pid" >>"$STATE"
    fi
    run_loader "$json" -bucket="ais://$b" -pctput=100 -minsize="$sarg" -maxsize="$sarg" -duration="${DUR}s" -skiplist
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    local st
    st=$(stored "$b")
    jq -r --arg size "$sarg" --arg mode "$mode" --arg rep "$rep" --argjson m "$M" --arg st "$st" '
        ($st | ltrimstr(" ") | split(" ") | map(tonumber)) as $s |
        (.duration_s / $m.wall | if . > 1 then 1 else . end) as $f |
        [$size, $mode, $rep, .put.ops, .put.bytes, .duration_s, $m.wall, .put.latency_us.mean, .put.latency_us.p99,
         .errors_total, (.loader_cpu_s.user + .loader_cpu_s.system),
         ($m.cpu_proxy * $f), ($m.cpu_targets * $f), ($m.cpu_max_target * $f),
         ($m.run_reactor * $f), ($m.wait_reactor * $f), ($m.run_blocking * $f), ($m.wait_blocking * $f),
         ($m.run_iouring * $f), ($m.wait_iouring * $f), ($m.run_other * $f),
         ($m.busy_cpu0 * $f), ($m.busy_cpu1 * $f), $m.wb, $m.cwb, $m.rb, $m.disk_wb] + $s | @tsv' "$json" >>"$PUT_TSV"
    destroy_bucket "$b"
    say "PUT $sarg $mode rep $rep: $(tail -1 "$PUT_TSV" | awk -F'\t' '{printf "%.0f PUT/s, %.1f MiB/s, %.0f us aisnode CPU/PUT, wrote %.2f x, stored %.2f x, %d errors",
        $4 / $6, $5 / $6 / 1048576, ($13 + $12) / $4 * 1e6, ($24 - $25) / $5, ($29 + $31) / ($5 / $4 * $28), $10}')"
}

get_rep() { # MODE BUCKET REP
    local mode=$1 b=$2 rep=$3 json=$WORK/get-$1-r$3.json
    run_loader "$json" -bucket="ais://$b" -pctput=0 -duration="${GET_DUR}s"
    jq -r --arg mode "$mode" --arg rep "$rep" --argjson m "$M" '
        (.duration_s / $m.wall | if . > 1 then 1 else . end) as $f |
        [$mode, $rep, .get.ops, .get.bytes, .duration_s, $m.wall, .get.latency_us.mean, .get.latency_us.p99,
         .errors_total, (.loader_cpu_s.user + .loader_cpu_s.system),
         ($m.cpu_proxy * $f), ($m.cpu_targets * $f), ($m.cpu_max_target * $f),
         ($m.run_reactor * $f), ($m.wait_reactor * $f), ($m.run_blocking * $f), ($m.wait_blocking * $f),
         ($m.busy_cpu0 * $f), ($m.busy_cpu1 * $f), $m.rb, $m.disk_rb] | @tsv' "$json" >>"$GET_TSV"
    say "GET $mode rep $rep: $(tail -1 "$GET_TSV" | awk -F'\t' '{printf "%.0f GET/s, %.1f MiB/s, %.0f us aisnode CPU/GET, %d errors", $3 / $5, $4 / $5 / 1048576, ($11 + $12) / $3 * 1e6, $9}')"
}

# ---------------------------------------------------------------------------------------------
say "warm-up (not recorded)"
create_bucket warmup ec
run_loader "$WORK/warmup.json" -bucket=ais://warmup -pctput=100 -minsize=1MiB -maxsize=1MiB -duration=3s -skiplist
destroy_bucket warmup
# Where each process's threads may run (glommio pins each reactor: Placement::Fixed(k % cpus),
# and k = 0 in every --cores 1 process). The reactor is the first core-0 thread, the other
# core-0 threads are the blocking pool.
AFFINITY=$(for k in "${!NODE_PIDS[@]}"; do
    pid=${NODE_PIDS[$k]}
    role=target
    [ "$k" -eq 0 ] && role=proxy
    seen=0
    for tid in $(ls /proc/"$pid"/task | sort -n); do
        comm=$(cat "/proc/$pid/task/$tid/comm" 2>/dev/null) || continue
        case $comm in
        core-*) if [ $seen -eq 0 ]; then kind=reactor; seen=1; else kind=blocking-pool; fi ;;
        *) kind=$(echo "$comm" | tr -d '0-9') ;;
        esac
        printf '%s\t%s\t%s\n' "$role" "$kind" "$(awk '/Cpus_allowed_list/ {print $2}' "/proc/$pid/task/$tid/status")"
    done
done | sort | uniq -c | awk -F'\t' '{split($1, a, " "); printf "%s %s threads (%d) → CPUs %s; ", a[2], $2, a[1], $3}')

say "section 1: PUT, ${DUR}s per run, up to $REPS repetitions, sizes $SIZES"
NSIZES=$(echo "$SIZES" | wc -w)
REPS_DONE=0
for rep in $(seq "$REPS"); do
    t0=$(date +%s)
    for s in $SIZES; do
        put_rep "$s" unprotected "$rep"
        put_rep "$s" ec "$rep"
    done
    REPS_DONE=$rep
    per_rep=$(($(date +%s) - t0))
    # GET section: ~ 2 fills + 2 x REPS_DONE x (GET_DUR + 3) s; stop adding PUT repetitions past the budget.
    if [ "$rep" -ge 2 ] && [ "$rep" -lt "$REPS" ]; then
        need=$(($(date +%s) - T_START + per_rep + 30 + 2 * (rep + 1) * (GET_DUR + 3)))
        if [ "$need" -gt "$BUDGET_S" ]; then
            say "stopping after $rep PUT repetitions (another would end at ~${need}s > BUDGET_S=$BUDGET_S)"
            break
        fi
    fi
done

say "section 2: GET, 1 MiB, $GET_N objects per bucket, ${GET_DUR}s per run"
create_bucket get-unprotected unprotected
create_bucket get-ec ec
for m in unprotected ec; do
    run_loader "$WORK/fill-$m.json" -bucket="ais://get-$m" -pctput=100 -minsize=1MiB -maxsize=1MiB -duration=0 -maxputs="$GET_N" -skiplist
    [ "$(jq -r .errors_total "$WORK/fill-$m.json")" = 0 ] || die "filling get-$m had errors"
done
GET_STORED_U=$(stored get-unprotected)
GET_STORED_E=$(stored get-ec)
for rep in $(seq "$REPS_DONE"); do
    get_rep unprotected get-unprotected "$rep"
    get_rep ec get-ec "$rep"
done

# ---------------------------------------------------------------------------------------------
EC_STATS=$(for k in $(seq 1 $NT); do curl -s "http://127.0.0.1:$((BASE + 10 * k))/v1/daemon?what=node_status" || true; done |
    jq -s -c '[.[] | [paths(type == "number") as $p | select(($p | last | tostring) | startswith("ec.")) | {key: ($p | last), value: getpath($p)}] | from_entries]
        | reduce .[] as $o ({}; reduce ($o | to_entries[]) as $e (.; .[$e.key] += $e.value))' 2>/dev/null || echo "{}")
LOG_ERRORS=0
LOG_SAMPLE=""
for n in "${NAMES[@]}"; do
    c=$(grep -c -E ' (ERROR|WARN) ' "$WORK/$n.log" || true)
    LOG_ERRORS=$((LOG_ERRORS + c))
    [ "$c" -gt 0 ] && LOG_SAMPLE="$LOG_SAMPLE$(grep -E ' (ERROR|WARN) ' "$WORK/$n.log" | head -5 | cut -c1-500 | sed "s/^/$n: /")"$'\n'
done
T_END=$(date +%s)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
BIN_SHA=$(sha256sum "$BIN/aisnode" | cut -c1-12)
BIN_TIME=$(date -u -r "$BIN/aisnode" '+%F %T UTC')

# ---------------------------------------------------------------------------------------------
# Report.
mkdir -p "$(dirname "$OUT")"
export PUT_TSV GET_TSV WORKERS DUR GET_DUR GET_N HZ
export GET_STORED_U GET_STORED_E
{
    echo "# Erasure coding (issue 12): PUT cost of an EC bucket (D=4, P=2), $DATE"
    echo
    echo "Generated by \`perf/ec_bench.sh\` in $(((T_END - T_START) / 60)) min $(((T_END - T_START) % 60)) s."
    echo
    echo "Command (from the repository root):"
    echo
    echo '```'
    echo "$ENVLINE $CMDLINE"
    echo '```'
    echo
    echo "## Set-up"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| commit | \`$COMMIT\` (HEAD when the run started; the binaries are copies, see below) |"
    echo "| aisnode binary | $BIN/aisnode, sha256 \`$BIN_SHA…\`, mtime $BIN_TIME, \`$("$BIN/aisnode" --version 2>&1 | head -1)\` |"
    echo "| kernel | $(uname -r) |"
    echo "| CPU | $(nproc) × $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1) (shared VM: load average $LOAD_BEFORE before, $LOAD_AFTER after) |"
    echo "| disk | $(findmnt -no SOURCE,FSTYPE --target "$WORK") (one virtio disk); every mountpath is a directory on it |"
    echo "| cluster | 1 proxy + $NT targets, 7 aisnode processes, each \`--cores 1\`, 1 mountpath per target, default durability (fdatasync + directory fsync before a PUT, and each EC slice or replica, is acknowledged)${AISNODE_ARGS:+; extra flags: $AISNODE_ARGS} |"
    echo "| proxy | \`${NODE_CMDS[0]}\` |"
    echo "| target j | \`${NODE_CMDS[1]}\` (j = 0..5: port $((BASE + 10)) + 10 j, target\$j/mp1) |"
    echo "| thread placement | $AFFINITY |"
    echo "| EC bucket | \`{\"ec\":{\"enabled\":true,\"data_slices\":4,\"parity_slices\":2,\"objsize_limit\":262144}}\`: 64 KiB objects replicated (owner's object + 2 full replicas), 1 MiB / 4 MiB objects encoded (owner's object + 6 slices of size/4, the owner keeping slice 0) |"
    echo "| load | aisloader through the proxy (\`-ip 127.0.0.1 -port $BASE\`), $WORKERS workers, closed loop; PUT: \`-pctput=100 -skiplist\`, ${DUR} s per run, a fresh bucket per run (destroyed after it, trash emptied before the next run); GET: \`-pctput=0\`, ${GET_DUR} s per run, $GET_N objects of 1 MiB per bucket |"
    echo "| repetitions | $REPS_DONE PUT repetitions (asked: $REPS), interleaved: per repetition, per size: unprotected, EC; then $REPS_DONE GET repetitions: unprotected, EC |"
    echo
    echo "**Measures.** CPU = Δ(utime+stime) of \`/proc/PID/stat\` over the run, summed over the 7 aisnode processes (proxy and targets also apart), scaled by aisloader's timed duration / the window's wall time. *Reactor*, *blocking* and *io_uring*: per-thread CPU and run-queue wait (Δ of \`/proc/PID/task/TID/schedstat\`) of the targets' threads: the reactor (the first thread named \`core-0\`), glommio's blocking pool (the other \`core-0\` threads, \`PoolPlacement::Unbound(1)\`; where EC reads the object back, encodes, writes and fdatasyncs the work files, installs slices), io_uring workers (\`iou-*\`, only those alive at the end of the run). *Wrote* = Σ (\`write_bytes\` − \`cancelled_write_bytes\`) of \`/proc/PID/io\` of the 7 processes (bytes the processes sent to the file system, direct or written back) ÷ PUT bytes; *stored* = apparent bytes under the bucket's \`%ob\` (objects) + \`%ec\` (slices / replicas) on the 6 mountpaths after the run ÷ (objects found × object size); metafiles (\`%mt\`) apart. *Device* = writes of $DISK_DEV in \`/proc/diskstats\` (all processes, journal included)."
    echo
    python3 - <<'EOF'
import csv, os, statistics as st
put = list(csv.DictReader(open(os.environ["PUT_TSV"]), delimiter="\t"))
get = list(csv.DictReader(open(os.environ["GET_TSV"]), delimiter="\t"))
MIB = 1048576
def f(r, k): return float(r[k])
def size_b(s):
    n, u = int("".join(c for c in s if c.isdigit())), "".join(c for c in s if not c.isdigit()).lower()
    return n * {"kib": 1024, "mib": MIB, "gib": MIB * 1024}[u]
def derive(r):
    d = {}
    dur, ops = f(r, "dur_s"), f(r, "ops")
    d["puts"] = ops / dur
    d["mibs"] = f(r, "bytes") / dur / MIB
    d["lat"] = f(r, "lat_mean_us") / 1000
    d["p99"] = f(r, "lat_p99_us") / 1000
    d["cpu_us"] = (f(r, "cpu_proxy") + f(r, "cpu_targets")) / ops * 1e6 if ops else 0
    d["cpu_proxy_us"] = f(r, "cpu_proxy") / ops * 1e6 if ops else 0
    d["cpu_targets_us"] = f(r, "cpu_targets") / ops * 1e6 if ops else 0
    d["nodes_cores"] = (f(r, "cpu_proxy") + f(r, "cpu_targets")) / dur
    d["maxt_cores"] = f(r, "cpu_max_target") / dur
    d["loader_cores"] = f(r, "loader_cpu_s") / dur
    d["cpu0"] = f(r, "busy_cpu0") / dur
    d["cpu1"] = f(r, "busy_cpu1") / dur
    d["react_run"] = f(r, "run_reactor") / dur
    d["react_wait"] = f(r, "wait_reactor") / dur
    d["blk_run"] = f(r, "run_blocking") / dur
    d["blk_wait"] = f(r, "wait_blocking") / dur
    d["iou_run"] = f(r, "run_iouring") / dur if "run_iouring" in r else 0
    if "proc_wb" in r:
        b = f(r, "bytes")
        d["wrote_x"] = (f(r, "proc_wb") - f(r, "proc_cwb")) / b if b else 0
        d["wrote_obj_mib"] = (f(r, "proc_wb") - f(r, "proc_cwb")) / ops / MIB if ops else 0
        d["readback_x"] = f(r, "proc_rb") / b if b else 0
        d["disk_x"] = f(r, "disk_wb") / b if b else 0
        sz = size_b(r["size"])
        nobj = f(r, "ob_files")
        d["nobj"] = nobj
        d["stored_x"] = (f(r, "ob_bytes") + f(r, "ec_bytes")) / (nobj * sz) if nobj else 0
        d["ec_files_per_obj"] = f(r, "ec_files") / nobj if nobj else 0
        d["mt_bytes_per_obj"] = f(r, "mt_bytes") / nobj if nobj else 0
        d["wk"] = f(r, "wk_bytes")
    d["errors"] = int(float(r["errors"]))
    return d
def mean(rows, k): return st.mean(x[k] for x in rows)
def rng(rows, k): return min(x[k] for x in rows), max(x[k] for x in rows)

sizes = list(dict.fromkeys(r["size"] for r in put))
P = {}
for r in put:
    P.setdefault((r["size"], r["mode"]), []).append((r["rep"], derive(r)))

print("## 1. PUT: unprotected vs EC (D=4, P=2)\n")
print("| size | bucket | rep | PUT/s | MiB/s | mean latency ms | p99 ms | µs aisnode CPU / PUT (proxy + targets) | aisnode cores (busiest target) | aisloader cores | CPU0 busy | CPU1 busy | target reactors: run / run-queue wait (cores) | blocking pool: run / wait (cores) | wrote ÷ PUT bytes | device writes ÷ PUT bytes | objects | stored ÷ object bytes | slice/replica files per object | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for s in sizes:
    for m in ("unprotected", "ec"):
        for rep, d in P.get((s, m), []):
            print(f"| {s} | {m} | {rep} | {d['puts']:.0f} | {d['mibs']:.1f} | {d['lat']:.1f} | {d['p99']:.1f} | {d['cpu_us']:.0f} ({d['cpu_proxy_us']:.0f} + {d['cpu_targets_us']:.0f}) | {d['nodes_cores']:.2f} ({d['maxt_cores']:.2f}) | {d['loader_cores']:.2f} | {d['cpu0']:.2f} | {d['cpu1']:.2f} | {d['react_run']:.2f} / {d['react_wait']:.2f} | {d['blk_run']:.2f} / {d['blk_wait']:.2f} | {d['wrote_x']:.2f} | {d['disk_x']:.2f} | {d['nobj']:.0f} | {d['stored_x']:.2f} | {d['ec_files_per_obj']:.2f} | {d['errors']} |")
    for m in ("unprotected", "ec"):
        rows = [d for _, d in P.get((s, m), [])]
        if not rows: continue
        M = lambda k: mean(rows, k)
        print(f"| **{s}** | **{m}** | **mean** | **{M('puts'):.0f}** | **{M('mibs'):.1f}** | {M('lat'):.1f} | {M('p99'):.1f} | **{M('cpu_us'):.0f}** ({M('cpu_proxy_us'):.0f} + {M('cpu_targets_us'):.0f}) | {M('nodes_cores'):.2f} ({M('maxt_cores'):.2f}) | {M('loader_cores'):.2f} | {M('cpu0'):.2f} | {M('cpu1'):.2f} | {M('react_run'):.2f} / {M('react_wait'):.2f} | {M('blk_run'):.2f} / {M('blk_wait'):.2f} | **{M('wrote_x'):.2f}** | {M('disk_x'):.2f} | | **{M('stored_x'):.2f}** | {M('ec_files_per_obj'):.2f} | {sum(x['errors'] for x in rows)} |")
print()
print("Ratios (means of the repetitions; range over repetitions in brackets):\n")
print("| size | EC layout | PUT/s unprotected → EC | **PUT/s EC ÷ unprotected** | µs aisnode CPU / PUT unprotected → EC | **CPU / PUT EC ÷ unprotected** | MiB written per object unprotected → EC | stored ÷ object bytes unprotected → EC (expected) |")
print("|---|---|---|---|---|---|---|---|")
for s in sizes:
    u = [d for _, d in P.get((s, "unprotected"), [])]
    e = [d for _, d in P.get((s, "ec"), [])]
    if not u or not e: continue
    rep_ratios = [de["puts"] / du["puts"] for du, de in zip(u, e)]
    cpu_ratios = [de["cpu_us"] / du["cpu_us"] for du, de in zip(u, e)]
    small = size_b(s) < 262144
    lay = "replicated, 1 + 2 copies" if small else "encoded, object + 4+2 slices"
    exp = "3.00" if small else "1 + 6/4 = 2.50"
    print(f"| {s} | {lay} | {mean(u,'puts'):.0f} → {mean(e,'puts'):.0f} | **{mean(e,'puts')/mean(u,'puts'):.2f}** ({min(rep_ratios):.2f}–{max(rep_ratios):.2f}) | {mean(u,'cpu_us'):.0f} → {mean(e,'cpu_us'):.0f} | **{mean(e,'cpu_us')/mean(u,'cpu_us'):.2f}** ({min(cpu_ratios):.2f}–{max(cpu_ratios):.2f}) | {mean(u,'wrote_obj_mib'):.2f} → {mean(e,'wrote_obj_mib'):.2f} ({mean(e,'wrote_x'):.2f} × object) | {mean(u,'stored_x'):.2f} → {mean(e,'stored_x'):.2f} ({exp}) |")
print()

G = {}
for r in get:
    d = derive(r)
    d["read_x"] = f(r, "proc_rb") / f(r, "bytes") if f(r, "bytes") else 0
    d["disk_read_x"] = f(r, "disk_rb") / f(r, "bytes") if f(r, "bytes") else 0
    G.setdefault(r["mode"], []).append((r["rep"], d))
print(f"## 2. GET: 1 MiB objects, {os.environ['GET_N']} per bucket, GET-only {os.environ['GET_DUR']} s\n")
su = os.environ["GET_STORED_U"].split(); se = os.environ["GET_STORED_E"].split()
print(f"Stored before the GETs: unprotected {su[0]} objects, {int(su[1])/MIB:.0f} MiB; EC {se[0]} objects ({int(se[1])/MIB:.0f} MiB) + {se[2]} slices ({int(se[3])/MIB:.0f} MiB).\n")
print("| bucket | rep | GET/s | MiB/s | mean latency ms | p99 ms | µs aisnode CPU / GET (proxy + targets) | aisnode cores | aisloader cores | CPU0 busy | CPU1 busy | target reactors: run / wait (cores) | process reads ÷ GET bytes | device reads ÷ GET bytes | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for m in ("unprotected", "ec"):
    for rep, d in G.get(m, []):
        print(f"| {m} | {rep} | {d['puts']:.0f} | {d['mibs']:.1f} | {d['lat']:.1f} | {d['p99']:.1f} | {d['cpu_us']:.0f} ({d['cpu_proxy_us']:.0f} + {d['cpu_targets_us']:.0f}) | {d['nodes_cores']:.2f} | {d['loader_cores']:.2f} | {d['cpu0']:.2f} | {d['cpu1']:.2f} | {d['react_run']:.2f} / {d['react_wait']:.2f} | {d['read_x']:.2f} | {d['disk_read_x']:.2f} | {d['errors']} |")
for m in ("unprotected", "ec"):
    rows = [d for _, d in G.get(m, [])]
    if not rows: continue
    M = lambda k: mean(rows, k)
    print(f"| **{m}** | **mean** | **{M('puts'):.0f}** | **{M('mibs'):.1f}** | {M('lat'):.1f} | {M('p99'):.1f} | **{M('cpu_us'):.0f}** ({M('cpu_proxy_us'):.0f} + {M('cpu_targets_us'):.0f}) | {M('nodes_cores'):.2f} | {M('loader_cores'):.2f} | {M('cpu0'):.2f} | {M('cpu1'):.2f} | {M('react_run'):.2f} / {M('react_wait'):.2f} | {M('read_x'):.2f} | {M('disk_read_x'):.2f} | {sum(x['errors'] for x in rows)} |")
u = [d for _, d in G.get("unprotected", [])]; e = [d for _, d in G.get("ec", [])]
if u and e:
    print(f"\nGET MiB/s EC ÷ unprotected: **{mean(e,'mibs')/mean(u,'mibs'):.2f}**; CPU / GET EC ÷ unprotected: **{mean(e,'cpu_us')/mean(u,'cpu_us'):.2f}**.")
print()
EOF
    echo "## aisnode during the run"
    echo
    echo "- EC counters, summed over the $NT targets (\`GET /v1/daemon?what=node_status\`): \`$EC_STATS\`"
    echo "- WARN/ERROR lines in the 7 aisnode logs: $LOG_ERRORS"
    if [ -n "$LOG_SAMPLE" ]; then
        echo
        echo '```'
        printf '%s' "$LOG_SAMPLE"
        echo '```'
    fi
    echo
    echo "<!-- interpretation: added by hand after the run -->"
    echo
    echo "## Raw figures"
    echo
    for f in "$PUT_TSV" "$GET_TSV"; do
        echo "<details><summary>$(basename "$f")</summary>"
        echo
        echo '```'
        cat "$f"
        echo '```'
        echo
        echo "</details>"
        echo
    done
} >"$OUT"
say "report written to $OUT ($(((T_END - T_START) / 60)) min $(((T_END - T_START) % 60)) s)"
