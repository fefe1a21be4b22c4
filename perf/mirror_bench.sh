#!/usr/bin/env bash
# Issue 12, n-way mirroring: what a 2-copy mirror costs on PUT and what read balancing gains on
# GET, on one aisnode (--cores 2) with two mountpaths on two loop-device ext4 file systems.
#
#   perf/mirror_bench.sh            (as root; about 8 minutes; report perf/reports/mirror-<date>.md)
#
# 1. PUT: aisloader PUT-only, 16 workers, 64 KiB and 1 MiB, unprotected bucket vs 2-copy
#    mirrored bucket, interleaved A,B,A,B; PUT/s, MiB/s, aisnode CPU (utime+stime of
#    /proc/PID/stat) per PUT. Each repetition is DUR seconds of PUT; because 2 GiB file systems
#    do not hold DUR seconds of PUTs, a repetition is run in segments of at most SEG_CAP_MIB
#    (aisloader -totalputsize), each into a fresh bucket that is destroyed (and its trash
#    emptied) before the next segment; figures are totals over the segments' timed parts.
# 2. GET: each loop device's READ bandwidth throttled (cgroup v1 blkio, aisnode in the group)
#    to RATE_MIB MiB/s; 1 MiB objects; aisloader GET-only, 16 workers, DUR s: unprotected vs
#    mirrored bucket with objects spread by HRW ("balanced"), and the same object names all on
#    mountpath 0 by HRW (names chosen with tests/integration/hrw.py) ("skewed"; the mirrored
#    bucket's copies land on mountpath 1).
# 3. fio on the same loop devices in the same run, interleaved with the above: O_DIRECT
#    sequential write 64 KiB and 1 MiB (iodepth 8 per device = 16 in flight, like 16 workers),
#    and 1 MiB random read under the same throttle (both devices, and device 0 alone).
#
# Environment (defaults): REPS=3 DUR=15 WORKERS=16 RATE_MIB=40 IMG_GIB=2 SEG_CAP_MIB=1280
# GET_N=512 (objects per balanced bucket) SKEW_N=256 (objects per skewed bucket)
# BIN=/tmp/bench (aisnode, aisloader; copied from target/release if missing; never built here)
# WORK=/tmp/ais-mirror-bench PORT=24100 OUT=perf/reports/mirror-<date>.md
# AISNODE_ARGS="" (extra aisnode flags, e.g. --no-fsync; default: aisnode's default durability)
# PERF_NO_INSTALL=1 (do not apt-get install fio).
#
# Everything created (aisnode, loop devices, mounts, the blkio cgroup, images) is recorded in
# $WORK/state and removed on exit (trap), and at the start of the next run if a previous run
# was killed. Processes are stopped by PID only.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
REPS=${REPS:-3}
DUR=${DUR:-15}
WORKERS=${WORKERS:-16}
RATE_MIB=${RATE_MIB:-40}
IMG_GIB=${IMG_GIB:-2}
SEG_CAP_MIB=${SEG_CAP_MIB:-1280}
GET_N=${GET_N:-512}
SKEW_N=${SKEW_N:-256}
BIN=${BIN:-/tmp/bench}
WORK=${WORK:-/tmp/ais-mirror-bench}
PORT=${PORT:-24100}
AISNODE_ARGS=${AISNODE_ARGS:-}
DATE=$(date -u +%F)
OUT=${OUT:-perf/reports/mirror-$DATE.md}
FIO_FILE_MIB=128
FIO_RT=5
FIO_RAMP=1
MIB=1048576
HZ=$(getconf CLK_TCK)
CMDLINE="$0 $*"
ENVLINE="REPS=$REPS DUR=$DUR WORKERS=$WORKERS RATE_MIB=$RATE_MIB IMG_GIB=$IMG_GIB SEG_CAP_MIB=$SEG_CAP_MIB GET_N=$GET_N SKEW_N=$SKEW_N BIN=$BIN WORK=$WORK PORT=$PORT${AISNODE_ARGS:+ AISNODE_ARGS=\"$AISNODE_ARGS\"}"
T_START=$(date +%s)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

say() { printf '%s mirror_bench: %s\n' "$(date +%T)" "$*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (loop devices, mkfs, mount, cgroup v1 blkio throttle)"

# ---------------------------------------------------------------------------------------------
# Cleanup: everything we create is appended to $STATE first, undone in reverse on exit.
STATE=$WORK/state
NODE_PID=""
CHILD_PID=""
SAMPLER_PID=""

pid_is() { # PID EXE-PATH: is PID alive and running EXE-PATH?
    [ -n "$1" ] && [ -d "/proc/$1" ] && [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]
}

stop_pid() { # PID [EXE]: SIGTERM, wait up to 15 s, then SIGKILL; by PID only.
    local pid=$1 exe=${2:-} i
    [ -n "$pid" ] || return 0
    [ -d "/proc/$pid" ] || return 0
    if [ -n "$exe" ] && ! pid_is "$pid" "$exe"; then return 0; fi
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 150); do
        [ -d "/proc/$pid" ] || return 0
        # A zombie child of ours counts as gone once reaped.
        grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

undo_state() { # undo every line of $STATE, last first
    [ -f "$STATE" ] || return 0
    local kind a b p
    while read -r kind a b; do
        case $kind in
        pid) stop_pid "$a" "$b" ;;
        cgroup)
            [ -d "$a" ] || continue
            # Anything still in it (nothing should be) goes back to the root group.
            while read -r p; do echo "$p" >/sys/fs/cgroup/blkio/cgroup.procs 2>/dev/null || true; done <"$a/cgroup.procs"
            rmdir "$a" 2>/dev/null || say "cleanup: could not remove cgroup $a"
            ;;
        mount)
            if mountpoint -q "$a"; then
                umount "$a" 2>/dev/null || { sleep 1; umount "$a"; } || say "cleanup: could not unmount $a"
            fi
            ;;
        loop)
            # Only if it is still the loop device of our image.
            if losetup -n -O BACK-FILE "$a" 2>/dev/null | grep -qF "$b"; then
                losetup -d "$a" || say "cleanup: could not detach $a"
            fi
            ;;
        esac
    done < <(tac "$STATE")
    rm -f "$STATE"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$SAMPLER_PID" ] && { kill -TERM "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
    [ -n "$CHILD_PID" ] && stop_pid "$CHILD_PID"
    stop_pid "$NODE_PID" "$BIN/aisnode" # here, not in undo_state, so that this shell reaps it
    undo_state
    if findmnt -rn -o TARGET | grep -q "^$WORK/"; then
        say "cleanup: something is still mounted under $WORK: not removing it"
    else
        rm -rf "$WORK"
    fi
    [ $rc -eq 0 ] || say "exited with status $rc (cleaned up)"
    exit $rc
}

# A previous run killed with SIGKILL leaves its state file: undo it first.
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
if ! command -v fio >/dev/null && [ "${PERF_NO_INSTALL:-0}" != 1 ]; then
    say "installing fio (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null
fi
for p in fio losetup mkfs.ext4 mount umount curl jq lsblk timeout python3; do
    command -v "$p" >/dev/null || die "\`$p\` is not installed"
done
[ -e /dev/loop-control ] || die "no /dev/loop-control (loop devices unavailable)"
BLKIO=/sys/fs/cgroup/blkio
[ -e $BLKIO/blkio.throttle.read_bps_device ] || die "no cgroup v1 blkio controller at $BLKIO"
PY=""
for c in "$REPO/.venv/bin/python" python3; do
    if "$c" -c 'import xxhash' 2>/dev/null; then PY=$c; break; fi
done
[ -n "$PY" ] || die "no Python with the xxhash module (tests/integration/hrw.py needs it): .venv/bin/pip install xxhash"
mkdir -p "$BIN"
for b in aisnode aisloader; do
    if [ ! -x "$BIN/$b" ]; then
        [ -x "$REPO/target/release/$b" ] || die "no $BIN/$b and no target/release/$b (build with cargo build --release)"
        cp -p "$REPO/target/release/$b" "$BIN/$b"
    fi
done
FIO_ENGINE=io_uring
if ! fio --name=probe --filename="$WORK/probe" --size=1m --rw=read --bs=4k --direct=1 \
    --ioengine=io_uring --output-format=json >/dev/null 2>&1; then
    FIO_ENGINE=libaio
fi
rm -f "$WORK/probe"

# Ports PORT..PORT+2 free (bump by 10 until they are).
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 50); do
    if port_busy "$PORT" || port_busy $((PORT + 1)) || port_busy $((PORT + 2)); then
        PORT=$((PORT + 10))
    else
        break
    fi
done
URL=http://127.0.0.1:$PORT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Two loop devices (direct I/O to sparse images on the disk under /tmp), ext4 each, mounted.
DEVS=()
MNTS=()
MAJMIN=()
for k in 0 1; do
    img=$WORK/disk$k.img
    truncate -s "${IMG_GIB}G" "$img"
    dev=$(losetup --find --show --direct-io=on "$img")
    echo "loop $dev $img" >>"$STATE"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
    mnt=$WORK/mnt$k
    mkdir -p "$mnt"
    echo "mount $mnt" >>"$STATE"
    mount "$dev" "$mnt"
    mkdir -p "$mnt/ais"
    DEVS+=("$dev")
    MNTS+=("$mnt")
    MAJMIN+=("$(lsblk -dno MAJ:MIN "$dev" | tr -d ' ')")
done
MP0=${MNTS[0]}/ais
MP1=${MNTS[1]}/ais
say "loop devices ${DEVS[*]} (${MAJMIN[*]}) mounted on ${MNTS[*]}"

# The blkio group aisnode and the throttled fio runs live in (no limit until section 2).
CG=$BLKIO/ais-mirror-bench-$$
echo "cgroup $CG" >>"$STATE"
mkdir "$CG"
throttle() { # BYTES/s per device (0: none)
    local mm
    for mm in "${MAJMIN[@]}"; do echo "$mm $1" >"$CG/blkio.throttle.read_bps_device"; done
}

# fio files, laid out once (O_DIRECT), FIO_FILE_MIB each.
for m in "${MNTS[@]}"; do
    fio --name=layout --filename="$m/fio.dat" --size=${FIO_FILE_MIB}m --rw=write --bs=1m \
        --direct=1 --ioengine=$FIO_ENGINE --output-format=json >/dev/null
done

# ---------------------------------------------------------------------------------------------
# aisnode, started inside the group (so every thread is in it from the start).
mkdir -p "$WORK/data" "$WORK/json"
NODE_LOG=$WORK/aisnode.log
# shellcheck disable=SC2086
NODE_CMD="$BIN/aisnode --port $PORT --core-port-base $((PORT + 1)) --data-dir $WORK/data --cores 2 --mountpath $MP0 --mountpath $MP1 $AISNODE_ARGS"
# shellcheck disable=SC2016,SC2086
sh -c 'echo $$ > "$0" && exec "$@"' "$CG/cgroup.procs" $NODE_CMD >"$NODE_LOG" 2>&1 &
NODE_PID=$!
echo "pid $NODE_PID $BIN/aisnode" >>"$STATE"
for p in $PORT $((PORT + 1)) $((PORT + 2)); do
    for i in $(seq 300); do
        [ -d /proc/$NODE_PID ] || { tail -20 "$NODE_LOG" >&2; die "aisnode exited"; }
        port_busy "$p" && break
        [ "$i" -lt 300 ] || die "aisnode did not listen on $p"
        sleep 0.1
    done
done
grep -qx "$NODE_PID" "$CG/cgroup.procs" || die "aisnode is not in $CG"
say "aisnode pid $NODE_PID on $URL: $NODE_CMD"

# ---------------------------------------------------------------------------------------------
# Helpers.
create_bucket() { # NAME MIRROR(0|1)
    local v=null code
    [ "$2" = 1 ] && v='{"mirror":{"enabled":true,"copies":2}}'
    code=$(curl -s -o "$WORK/curl.out" -w '%{http_code}' -X POST "$URL/v1/buckets/$1?provider=ais" \
        -H 'Content-Type: application/json' -d "{\"action\":\"create-bck\",\"value\":$v}")
    [ "$code" = 200 ] || die "create-bck $1: HTTP $code $(cat "$WORK/curl.out")"
}
wait_trash() { # until the trash of both mountpaths is empty (destroy removes in the background)
    local i
    for i in $(seq 1200); do
        if ! find "$MP0/.\$deleted" "$MP1/.\$deleted" -mindepth 1 -maxdepth 1 2>/dev/null | grep -q .; then
            return 0
        fi
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
node_ticks() { awk '{print $14 + $15}' /proc/$NODE_PID/stat; }
busy_ticks() { awk 'NR==1 {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
disk_bytes() { # "read0 write0 read1 write1" of the two loop devices
    local n0 n1
    n0=$(basename "${DEVS[0]}")
    n1=$(basename "${DEVS[1]}")
    awk -v a="$n0" -v b="$n1" '$3==a {r0=$6*512; w0=$10*512} $3==b {r1=$6*512; w1=$10*512}
        END {printf "%.0f %.0f %.0f %.0f\n", r0, w0, r1, w1}' /proc/diskstats
}
now() { date +%s.%N; }
node_alive() { pid_is "$NODE_PID" "$BIN/aisnode" || { tail -30 "$NODE_LOG" >&2; die "aisnode died"; }; }

# Thread-state sampler of aisnode (every 20 ms): per thread, samples and how many were R or D.
cat >"$WORK/sampler.py" <<'EOF'
import os, signal, sys, time
pid, out = sys.argv[1], sys.argv[2]
stop = False
def h(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, h)
open(out + ".ready", "w").close()
counts = {}
while not stop:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        break
    for tid in tids:
        try:
            s = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        comm, st = s[s.index("(") + 1:s.rindex(")")], s[s.rindex(")") + 2]
        c = counts.setdefault(int(tid), [comm, 0, 0, 0])
        c[1] += 1
        c[2] += st == "R"
        c[3] += st == "D"
    time.sleep(0.02)
with open(out, "w") as f:
    for tid, (comm, n, r, d) in sorted(counts.items()):
        f.write(f"{tid}\t{comm}\t{n}\t{r}\t{d}\n")
EOF
start_sampler() {
    rm -f "$WORK/threads.tsv" "$WORK/threads.tsv.ready"
    python3 "$WORK/sampler.py" "$NODE_PID" "$WORK/threads.tsv" &
    SAMPLER_PID=$!
    local i
    for i in $(seq 100); do # until its SIGTERM handler is installed
        [ -e "$WORK/threads.tsv.ready" ] && return 0
        sleep 0.05
    done
    die "thread sampler did not start"
}
# Sets L_THR="reactor_busy blocking_busy blocking_R blocking_D": mean fraction of samples R or D,
# over the reactor threads (lowest TID of each core-K name) and over the other threads of that
# name (glommio's blocking pool, where mirror copies are made); for the latter also R (running
# or waiting for a CPU) and D (uninterruptible: waiting for I/O) apart.
stop_sampler() {
    kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    L_THR=$(sort -n "$WORK/threads.tsv" | awk -F'\t' '$2 ~ /^core-/ && $3 > 0 {
            f = ($4 + $5) / $3
            if (!($2 in seen)) { seen[$2] = 1; rs += f; rn++ } else { bs += f; br += $4 / $3; bd += $5 / $3; bn++ }
        }
        END { printf "%.2f %.2f %.2f %.2f\n", rn ? rs / rn : 0, bn ? bs / bn : 0, bn ? br / bn : 0, bn ? bd / bn : 0 }')
}

# One aisloader run with observation. Args: JSON-FILE aisloader-args...
# Sets: L_WALL L_CPU(ticks) L_BUSY(ticks) L_D0..3 (disk bytes) L_THR ("reactor blocking")
run_loader() {
    local json=$1
    shift
    local c0 b0 d0 t0 t1 rc=0
    rm -f "$json"
    start_sampler
    c0=$(node_ticks)
    b0=$(busy_ticks)
    d0=($(disk_bytes))
    t0=$(now)
    timeout -s INT $((DUR + 180)) "$BIN/aisloader" -ip 127.0.0.1 -port "$PORT" -cleanup=false \
        -numworkers="$WORKERS" -statsinterval=0 -quiet -json="$json" "$@" >>"$WORK/aisloader.log" 2>&1 &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    t1=$(now)
    local d1 c1 b1
    c1=$(node_ticks)
    b1=$(busy_ticks)
    d1=($(disk_bytes))
    stop_sampler
    L_CPU=$((c1 - c0))
    L_BUSY=$((b1 - b0))
    L_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    L_D0=$((d1[0] - d0[0]))
    L_D1=$((d1[1] - d0[1]))
    L_D2=$((d1[2] - d0[2]))
    L_D3=$((d1[3] - d0[3]))
    [ $rc -eq 0 ] || { tail -20 "$WORK/aisloader.log" >&2; die "aisloader failed ($rc)"; }
    [ -s "$json" ] || die "aisloader wrote no $json"
    node_alive
}

PUT_TSV=$WORK/put.tsv
GET_TSV=$WORK/get.tsv
FIO_TSV=$WORK/fio.tsv
printf 'size\tmode\trep\tsegs\tops\tbytes\tdur_s\tcpu_s\tbusy_s\tdev_write_bytes\tlat_mean_us\tp99_us\terrors\treactor\tblocking\tloader_cpu_s\tblocking_R\tblocking_D\tdev_read_bytes\n' >"$PUT_TSV"
printf 'case\trep\tops\tbytes\tdur_s\tcpu_s\tbusy_s\tread0\tread1\tp50_us\tp99_us\terrors\treactor\tblocking\tloader_cpu_s\n' >"$GET_TSV"
printf 'test\tsize\trep\tbw_bytes\tiops\tp50_us\tp99_us\n' >"$FIO_TSV"

# fio: TEST-LABEL RW BS(k|m suffix) SIZE-BYTES REP IODEPTH CGROUP(0|1) FILE...
run_fio() {
    local label=$1 rw=$2 bs=$3 size=$4 rep=$5 iod=$6 incg=$7
    shift 7
    local args=(--direct=1 --ioengine=$FIO_ENGINE --rw="$rw" --bs="$bs" --iodepth="$iod"
        --size=${FIO_FILE_MIB}m --time_based --runtime=${FIO_RT}s --ramp_time=${FIO_RAMP}s
        --group_reporting --output-format=json)
    local k=0 f
    for f in "$@"; do
        args+=(--name="$label-$k" --filename="$f")
        k=$((k + 1))
    done
    local out=$WORK/json/fio-$label-$bs-$rep.json rc=0
    if [ "$incg" = 1 ]; then
        # shellcheck disable=SC2016
        sh -c 'echo $$ > "$0" && exec "$@"' "$CG/cgroup.procs" fio "${args[@]}" >"$out" 2>>"$WORK/fio.log" &
    else
        fio "${args[@]}" >"$out" 2>>"$WORK/fio.log" &
    fi
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    [ $rc -eq 0 ] || die "fio $label failed ($rc): $(tail -5 "$WORK/fio.log")"
    local dir=write
    case $rw in *read*) dir=read ;; esac
    sed -n '/^{/,$p' "$out" | jq -r --arg l "$label" --arg s "$size" --arg r "$rep" --arg d "$dir" \
        '.jobs[0][$d] as $x | [$l, $s, $r, $x.bw_bytes, $x.iops,
          ($x.clat_ns.percentile["50.000000"] // 0) / 1000, ($x.clat_ns.percentile["99.000000"] // 0) / 1000] | @tsv' >>"$FIO_TSV"
    say "fio $label $bs rep $rep: $(tail -1 "$FIO_TSV" | awk -F'\t' '{printf "%.1f MiB/s", $4 / 1048576}')"
}

# Section 1, one repetition of one mode: DUR s of PUT in segments of at most SEG_CAP_MIB.
put_rep() { # SIZE-BYTES SIZE-ARG MODE(unprotected|mirrored) REP
    local size=$1 sarg=$2 mode=$3 rep=$4
    local mirror=0
    [ "$mode" = mirrored ] && mirror=1
    local left_ms=$((DUR * 1000)) seg=0 ops=0 bytes=0 dur=0 cpu=0 busy=0 dw=0 latsum=0 p99=0 errs=0
    local rsum=0 bsum=0 brsum=0 bdsum=0 lcpu=0 dr=0
    while [ "$left_ms" -gt 500 ]; do
        seg=$((seg + 1))
        local b=put-${mode:0:1}-$sarg-r$rep-s$seg
        b=${b,,}
        create_bucket "$b" $mirror
        local json=$WORK/json/$b.json
        run_loader "$json" -bucket="ais://$b" -pctput=100 -minsize="$sarg" -maxsize="$sarg" \
            -duration=${left_ms}ms -totalputsize=$((SEG_CAP_MIB * MIB)) -skiplist
        local d o y e lm lp lc
        read -r d o y e lm lp lc < <(jq -r '[.duration_s, .put.ops, .put.bytes, .errors_total,
            .put.latency_us.mean, .put.latency_us.p99, (.loader_cpu_s.user + .loader_cpu_s.system)] | @tsv' "$json")
        lcpu=$(awk -v a="$lcpu" -v b="$lc" 'BEGIN {printf "%.2f", a + b}')
        # CPU, busy time and device bytes over the loader's timed part (the window also holds
        # its start-up): scaled by duration / wall.
        local frac
        frac=$(awk -v d="$d" -v w="$L_WALL" 'BEGIN {f = d / w; print (f > 1 ? 1 : f)}')
        read -r ops bytes dur cpu busy dw latsum p99 errs rsum bsum brsum bdsum dr < <(awk -v ops="$ops" -v o="$o" \
            -v bytes="$bytes" -v y="$y" -v dur="$dur" -v d="$d" -v cpu="$cpu" -v c="$L_CPU" \
            -v busy="$busy" -v bz="$L_BUSY" -v dw="$dw" -v w=$((L_D1 + L_D3)) -v f="$frac" \
            -v hz="$HZ" -v ls="$latsum" -v lm="$lm" -v p99="$p99" -v lp="$lp" -v errs="$errs" -v e="$e" \
            -v rs="$rsum" -v bs="$bsum" -v brs="$brsum" -v bds="$bdsum" -v dr="$dr" -v r=$((L_D0 + L_D2)) -v thr="$L_THR" 'BEGIN {
                split(thr, t, " ")
                printf "%d %.0f %.4f %.4f %.4f %.0f %.1f %.1f %d %.4f %.4f %.4f %.4f %.0f\n", ops + o, bytes + y,
                    dur + d, cpu + c * f / hz, busy + bz * f / hz, dw + w * f, ls + lm * o,
                    (lp > p99 ? lp : p99), errs + e, rs + t[1] * d, bs + t[2] * d, brs + t[3] * d, bds + t[4] * d, dr + r * f }')
        left_ms=$(awk -v l="$left_ms" -v d="$d" 'BEGIN {printf "%d", l - d * 1000}')
        destroy_bucket "$b"
    done
    local lat_mean=0 re=0 bl=0
    [ "$ops" -gt 0 ] && lat_mean=$(awk -v s="$latsum" -v o="$ops" 'BEGIN {printf "%.1f", s / o}')
    re=$(awk -v s="$rsum" -v d="$dur" 'BEGIN {printf "%.2f", s / d}')
    bl=$(awk -v s="$bsum" -v d="$dur" 'BEGIN {printf "%.2f", s / d}')
    local blr bld
    blr=$(awk -v s="$brsum" -v d="$dur" 'BEGIN {printf "%.2f", s / d}')
    bld=$(awk -v s="$bdsum" -v d="$dur" 'BEGIN {printf "%.2f", s / d}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$mode" "$rep" \
        "$seg" "$ops" "$bytes" "$dur" "$cpu" "$busy" "$dw" "$lat_mean" "$p99" "$errs" "$re" "$bl" "$lcpu" "$blr" "$bld" "$dr" >>"$PUT_TSV"
    say "PUT $sarg $mode rep $rep: $(tail -1 "$PUT_TSV" | awk -F'\t' '{printf "%.0f PUT/s, %.1f MiB/s, %.0f us CPU/PUT, %d segment(s), %d errors, blocking threads busy %.0f%%",
        $5 / $7, $6 / $7 / 1048576, $8 / $5 * 1e6, $4, $13, $15 * 100}')"
}

# Section 2, one GET run: CASE BUCKET REP
get_rep() {
    local case=$1 b=$2 rep=$3 json=$WORK/json/get-$1-r$3.json
    run_loader "$json" -bucket="ais://$b" -pctput=0 -duration=${DUR}s
    local d o y e p50 p99 lc
    read -r d o y e p50 p99 lc < <(jq -r '[.duration_s, .get.ops, .get.bytes, .errors_total,
        .get.latency_us.p50, .get.latency_us.p99, (.loader_cpu_s.user + .loader_cpu_s.system)] | @tsv' "$json")
    # GET lists the bucket first: CPU and disk bytes scaled to the timed part (duration / wall).
    awk -v c="$case" -v r="$rep" -v d="$d" -v o="$o" -v y="$y" -v e="$e" -v p50="$p50" -v p99="$p99" \
        -v w="$L_WALL" -v cpu="$L_CPU" -v bz="$L_BUSY" -v r0="$L_D0" -v r1="$L_D2" -v hz="$HZ" \
        -v thr="$L_THR" -v lc="$lc" 'BEGIN {
            f = d / w; if (f > 1) f = 1; split(thr, t, " ")
            printf "%s\t%s\t%d\t%.0f\t%.4f\t%.4f\t%.4f\t%.0f\t%.0f\t%.1f\t%.1f\t%d\t%s\t%s\t%.2f\n", c, r, o, y, d,
                cpu * f / hz, bz * f / hz, r0 * f, r1 * f, p50, p99, e, t[1], t[2], lc }' >>"$GET_TSV"
    say "GET $case rep $rep: $(tail -1 "$GET_TSV" | awk -F'\t' '{printf "%.1f MiB/s (dev0 %.1f, dev1 %.1f), p50 %.0f ms, %d errors",
        $4 / $5 / 1048576, $8 / $5 / 1048576, $9 / $5 / 1048576, $10 / 1000, $12}')"
}

# ---------------------------------------------------------------------------------------------
# Warm-up (not recorded): a few seconds of PUT so the first measured run does not pay first-use
# costs (connections, ext4 block groups, aisnode caches).
say "warm-up"
create_bucket warmup 1
run_loader "$WORK/json/warmup.json" -bucket=ais://warmup -pctput=100 -minsize=1MiB -maxsize=1MiB \
    -duration=3s -totalputsize=$((512 * MIB)) -skiplist
destroy_bucket warmup

# Section 1 (with section 3's write fio): interleaved per repetition.
say "section 1: PUT, ${DUR}s per run, $REPS repetitions, interleaved"
for rep in $(seq "$REPS"); do
    for s in 64KiB 1MiB; do
        case $s in 64KiB) size=65536 fbs=64k ;; 1MiB) size=$MIB fbs=1m ;; esac
        run_fio write write $fbs $size "$rep" 8 0 "${MNTS[0]}/fio.dat" "${MNTS[1]}/fio.dat"
        put_rep $size $s unprotected "$rep"
        put_rep $size $s mirrored "$rep"
    done
done

# Section 2: fill (unthrottled), then throttle reads and measure.
say "section 2: filling GET buckets"
create_bucket get-u 0
create_bucket get-m 1
for b in get-u get-m; do
    run_loader "$WORK/json/fill-$b.json" -bucket="ais://$b" -pctput=100 -minsize=1MiB -maxsize=1MiB \
        -duration=0 -maxputs="$GET_N" -skiplist
done
# Skewed: names whose HRW mountpath is MP0 in both skew buckets (same names in both).
"$PY" - "$REPO/tests/integration" "$MP0" "$MP1" "$SKEW_N" >"$WORK/skew-names.txt" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import hrw
mps, n = [sys.argv[2], sys.argv[3]], int(sys.argv[4])
out, i = [], 0
while len(out) < n:
    name = f"skew-{i:07d}"
    i += 1
    if all(hrw.choose_mountpath(mps, b, name) == hrw.clean_mountpath(mps[0]) for b in ("skew-u", "skew-m")):
        out.append(name)
print("\n".join(out))
EOF
head -c $MIB /dev/urandom >"$WORK/obj-1m.bin"
create_bucket skew-u 0
create_bucket skew-m 1
for b in skew-u skew-m; do
    xargs -P 4 -I{} curl -s -f -o /dev/null -L -T "$WORK/obj-1m.bin" "$URL/v1/objects/$b/{}?provider=ais" \
        <"$WORK/skew-names.txt" || die "PUT of skewed objects into $b failed"
done
node_alive
# Where the objects and copies are (ls of %ob and %cp per mountpath).
PLACEMENT=""
for b in get-u get-m skew-u skew-m; do
    row="| $b"
    for mp in "$MP0" "$MP1"; do
        ob=$({ find "$mp/@ais/$b/%ob" -type f 2>/dev/null || true; } | wc -l)
        cp=$({ find "$mp/@ais/$b/%cp" -type f 2>/dev/null || true; } | wc -l)
        row="$row | $ob | $cp"
    done
    PLACEMENT="$PLACEMENT$row |"$'\n'
done
sk1=$({ find "$MP1/@ais/skew-u/%ob" "$MP1/@ais/skew-m/%ob" -type f 2>/dev/null || true; } | wc -l)
[ "$sk1" -eq 0 ] || die "skewed objects found on mountpath 1: the HRW model disagrees with aisnode"
DF=$(df -h "${MNTS[@]}" | sed 's/^/    /')
sync
throttle $((RATE_MIB * MIB))
say "section 2: reads throttled to $RATE_MIB MiB/s per device ($(tr '\n' ' ' <"$CG/blkio.throttle.read_bps_device"))"
for rep in $(seq "$REPS"); do
    run_fio randread2 randread 1m $MIB "$rep" 8 1 "${MNTS[0]}/fio.dat" "${MNTS[1]}/fio.dat"
    run_fio randread1 randread 1m $MIB "$rep" 16 1 "${MNTS[0]}/fio.dat"
    get_rep balanced-unprotected get-u "$rep"
    get_rep balanced-mirrored get-m "$rep"
    get_rep skewed-unprotected skew-u "$rep"
    get_rep skewed-mirrored skew-m "$rep"
done
throttle 0

NODE_STATUS=$(curl -s "$URL/v1/daemon?what=node_status" || true)
MIRROR_STATS=$(echo "$NODE_STATUS" | jq -c '[paths(type == "number") as $p | select(($p | last | tostring) | startswith("mirror.")) | {key: ($p | last), value: getpath($p)}] | from_entries' 2>/dev/null || echo "{}")
LOG_ERRORS=$(grep -c -E ' (ERROR|WARN) ' "$NODE_LOG" || true)
LOG_SAMPLE=$(grep -E ' (ERROR|WARN) ' "$NODE_LOG" | head -5 | cut -c1-400 || true)
T_END=$(date +%s)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Report.
mkdir -p "$(dirname "$OUT")"
DIRTY=$(git -C "$REPO" status --porcelain --untracked-files=no | wc -l)
BIN_SHA=$(sha256sum "$BIN/aisnode" | cut -c1-12)
BIN_TIME=$(date -u -r "$BIN/aisnode" '+%F %T UTC') # mtime (copied with cp -p: the build time)
{
    echo "# N-way mirroring (issue 12): PUT cost and GET read balancing, $DATE"
    echo
    echo "Generated by \`perf/mirror_bench.sh\` in $(((T_END - T_START) / 60)) min $(((T_END - T_START) % 60)) s."
    echo
    echo "Command (as root, from the repository root):"
    echo
    echo '```'
    echo "$ENVLINE $CMDLINE"
    echo '```'
    echo
    echo "## Set-up"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| commit | \`$COMMIT\` (HEAD when the run started; $DIRTY modified tracked files at the end; the binaries are copies, see below) |"
    echo "| aisnode binary | $BIN/aisnode, sha256 \`$BIN_SHA…\`, built $BIN_TIME, \`$("$BIN/aisnode" --version 2>&1 | head -1)\` |"
    echo "| kernel | $(uname -r) |"
    echo "| CPU | $(nproc) × $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1) (shared: load average $LOAD_BEFORE before, $LOAD_AFTER after) |"
    echo "| disks | 2 loop devices (\`losetup --direct-io=on\`) over sparse ${IMG_GIB} GiB images in $WORK on $(findmnt -no SOURCE,FSTYPE --target /tmp | tr ' ' ' '), ext4 each (\`mkfs.ext4 -E lazy_itable_init=0,lazy_journal_init=0\`), one mountpath each |"
    echo "| aisnode | \`$NODE_CMD\` (default durability: fdatasync + directory fsync before a PUT is acknowledged, for the object and for its copy${AISNODE_ARGS:+; extra flags: $AISNODE_ARGS}), inside blkio cgroup \`$CG\` |"
    echo "| load | aisloader, $WORKERS workers, closed loop, ${DUR} s per run (PUT: in segments, see below) |"
    echo "| throttle (section 2) | \`blkio.throttle.read_bps_device\` = $RATE_MIB MiB/s on each loop device (reads only; PUT runs unthrottled) |"
    echo "| fio | $(fio --version), \`--ioengine=$FIO_ENGINE --direct=1\`, one job per device on a ${FIO_FILE_MIB} MiB file (iodepth 8 per device = 16 in flight; the 1-device read: iodepth 16), ${FIO_RT} s after ${FIO_RAMP} s ramp |"
    echo "| repetitions | $REPS, interleaved: per repetition fio write, PUT unprotected, PUT mirrored (64 KiB, then 1 MiB); then per repetition fio read (2 devices, 1 device), GET balanced unprotected, balanced mirrored, skewed unprotected, skewed mirrored |"
    echo
    echo "**PUT segments.** ${DUR} s of PUT does not fit the ${IMG_GIB} GiB file systems (unprotected 1 MiB PUTs run at several hundred MiB/s), so each PUT repetition is ${DUR} s of PUT run in segments: each segment PUTs into a fresh bucket until ${SEG_CAP_MIB} MiB are written (\`-totalputsize\`) or the repetition's remaining time is over, then the bucket is destroyed and the harness waits until aisnode's trash is empty on both mountpaths before the next segment. PUT/s, MiB/s and CPU are totals over the segments' timed parts (the destroy and trash wait are outside the windows). CPU per PUT = Δ(utime+stime) of \`/proc/<aisnode pid>/stat\` over the window, scaled by aisloader's duration / window wall time, ÷ PUTs."
    echo
    echo "**Thread busy.** A sampler reads the state of every aisnode thread every 20 ms; *reactor busy* is the fraction of samples a core's executor thread was R or D (running/runnable or in uninterruptible I/O wait), *blocking busy* the same for the other thread of each core (glommio's blocking pool, \`PoolPlacement::Unbound(1)\`: one per core, where \`cluster::mirror::after_put\` makes the copy); averaged over the two cores."
    echo
    # -------- Section 1 tables.
    echo "## 1. PUT: unprotected vs 2-copy mirrored"
    echo
    echo "| size | bucket | rep | segments | PUT/s | MiB/s | mean latency ms | p99 ms (worst segment) | µs aisnode CPU / PUT | aisnode cores | aisloader cores | machine busy (of $(nproc)) | device writes MiB/s (both) | device reads MiB/s (both) | reactor busy | blocking busy (R + D) | errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 {
        lab = ($1 == 65536 ? "64 KiB" : "1 MiB")
        printf "| %s | %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %.0f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f%% | %.0f%% (%.0f + %.0f) | %d |\n",
            lab, $2, $3, $4, $5 / $7, $6 / $7 / 1048576, $11 / 1000, $12 / 1000, $8 / $5 * 1e6, $8 / $7, $16 / $7, $9 / $7,
            $10 / $7 / 1048576, $19 / $7 / 1048576, $14 * 100, $15 * 100, $17 * 100, $18 * 100, $13
        k = $1 SUBSEP $2; n[k]++; ops[k] += $5 / $7; mib[k] += $6 / $7 / 1048576; us[k] += $8 / $5 * 1e6
        lat[k] += $11 / 1000; cores[k] += $8 / $7; busy[k] += $9 / $7; dw[k] += $10 / $7 / 1048576
        re[k] += $14; bl[k] += $15; br[k] += $17; bd[k] += $18; er[k] += $13; lo[k] += $16 / $7; dr[k] += $19 / $7 / 1048576; if (!(k in seen)) { seen[k] = 1; order[++m] = k }
    } END {
        for (i = 1; i <= m; i++) { k = order[i]; split(k, a, SUBSEP)
            lab = (a[1] == 65536 ? "64 KiB" : "1 MiB")
            printf "| **%s** | **%s** | **mean** | | **%.0f** | **%.1f** | %.1f | | **%.0f** | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f%% | %.0f%% (%.0f + %.0f) | %d |\n",
                lab, a[2], ops[k] / n[k], mib[k] / n[k], lat[k] / n[k], us[k] / n[k], cores[k] / n[k], lo[k] / n[k], busy[k] / n[k],
                dw[k] / n[k], dr[k] / n[k], re[k] / n[k] * 100, bl[k] / n[k] * 100, br[k] / n[k] * 100, bd[k] / n[k] * 100, er[k] }
    }' "$PUT_TSV"
    echo
    echo "Ratios (means of the repetitions; fio = sequential write at the object size on both devices, same run):"
    echo
    echo "| size | PUT/s mirrored / unprotected | µs CPU / PUT unprotected → mirrored (× ratio) | fio write MiB/s | unprotected PUT / fio | mirrored PUT / fio | mirrored device bytes / fio (2 writes per object) |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' -v fio="$FIO_TSV" 'BEGIN {
        while ((getline l < fio) > 0) { split(l, f, "\t"); if (f[1] == "write") { fw[f[2]] += f[4] / 1048576; fn[f[2]]++ } }
    } NR > 1 { k = $1 SUBSEP $2; n[k]++; ops[k] += $5 / $7; mib[k] += $6 / $7 / 1048576; us[k] += $8 / $5 * 1e6; dw[k] += $10 / $7 / 1048576 }
    END {
        split("65536 1048576", sz, " ")
        for (i = 1; i <= 2; i++) { s = sz[i]; u = s SUBSEP "unprotected"; m = s SUBSEP "mirrored"
            if (!n[u] || !n[m]) continue
            F = fw[s] / fn[s]
            printf "| %s | **%.2f** | %.0f → %.0f (× %.2f) | %.0f | %.2f | %.2f | %.2f |\n", (s == 65536 ? "64 KiB" : "1 MiB"),
                ops[m] / n[m] / (ops[u] / n[u]), us[u] / n[u], us[m] / n[m], (us[m] / n[m]) / (us[u] / n[u]),
                F, mib[u] / n[u] / F, mib[m] / n[m] / F, dw[m] / n[m] / F }
    }' "$PUT_TSV"
    echo
    # -------- Section 2 tables.
    echo "## 2. GET: read balancing under a $RATE_MIB MiB/s per-device read throttle (1 MiB objects)"
    echo
    echo "Objects (files under \`%ob\`) and mirror copies (\`%cp\`) per mountpath:"
    echo
    echo "| bucket | mp0 objects | mp0 copies | mp1 objects | mp1 copies |"
    echo "|---|---|---|---|---|"
    printf '%s' "$PLACEMENT"
    echo
    echo "(\`get-u\`/\`get-m\`: $GET_N objects with aisloader's random names, spread by HRW; \`skew-u\`/\`skew-m\`: the same $SKEW_N names in both, chosen with \`tests/integration/hrw.py\` so that HRW puts every object on mountpath 0 in both buckets.) File systems after the fill:"
    echo
    echo "$DF"
    echo
    echo "| case | rep | GET MiB/s | GET/s | device 0 read MiB/s | device 1 read MiB/s | p50 ms | p99 ms | µs aisnode CPU / GET | aisloader cores | machine busy (of $(nproc)) | reactor busy | errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 {
        printf "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f%% | %d |\n", $1, $2, $4 / $5 / 1048576, $3 / $5,
            $8 / $5 / 1048576, $9 / $5 / 1048576, $10 / 1000, $11 / 1000, ($3 ? $6 / $3 * 1e6 : 0), $15 / $5, $7 / $5, $13 * 100, $12
        k = $1; n[k]++; mib[k] += $4 / $5 / 1048576; ops[k] += $3 / $5; d0[k] += $8 / $5 / 1048576; d1[k] += $9 / $5 / 1048576
        p50[k] += $10 / 1000; p99[k] += $11 / 1000; us[k] += ($3 ? $6 / $3 * 1e6 : 0); bz[k] += $7 / $5; re[k] += $13; er[k] += $12; lo[k] += $15 / $5
        if (!(k in seen)) { seen[k] = 1; order[++m] = k }
    } END {
        for (i = 1; i <= m; i++) { k = order[i]
            printf "| **%s** | **mean** | **%.1f** | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f%% | %d |\n", k, mib[k] / n[k], ops[k] / n[k],
                d0[k] / n[k], d1[k] / n[k], p50[k] / n[k], p99[k] / n[k], us[k] / n[k], lo[k] / n[k], bz[k] / n[k], re[k] / n[k] * 100, er[k] }
    }' "$GET_TSV"
    echo
    echo "Ratios (means; fio = 1 MiB random read, O_DIRECT, under the same throttle, same run):"
    echo
    echo "| case | GET MiB/s mirrored / unprotected | unprotected / fio (2 devices) | mirrored / fio (2 devices) | unprotected / fio (device 0 alone) |"
    echo "|---|---|---|---|---|"
    awk -F'\t' -v fio="$FIO_TSV" 'BEGIN {
        while ((getline l < fio) > 0) { split(l, f, "\t"); if (f[1] ~ /^randread/) { fr[f[1]] += f[4] / 1048576; fn[f[1]]++ } }
    } NR > 1 { n[$1]++; mib[$1] += $4 / $5 / 1048576 }
    END {
        F2 = fn["randread2"] ? fr["randread2"] / fn["randread2"] : 0; F1 = fn["randread1"] ? fr["randread1"] / fn["randread1"] : 0
        split("balanced skewed", cs, " ")
        for (i = 1; i <= 2; i++) { u = cs[i] "-unprotected"; m = cs[i] "-mirrored"
            if (!n[u] || !n[m]) continue
            U = mib[u] / n[u]; M = mib[m] / n[m]
            printf "| %s | **%.2f** | %.2f | %.2f | %.2f |\n", cs[i], M / U, U / F2, M / F2, U / F1 }
    }' "$GET_TSV"
    echo
    # -------- fio.
    echo "## 3. fio on the same loop devices"
    echo
    echo "| test | rep | MiB/s | IOPS | p50 ms | p99 ms |"
    echo "|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 {
        t = ($1 == "write" ? "seq write " ($2 == 65536 ? "64 KiB" : "1 MiB") ", 2 devices, unthrottled" : \
             ($1 == "randread2" ? "rand read 1 MiB, 2 devices, throttled" : "rand read 1 MiB, device 0 only, throttled"))
        printf "| %s | %s | %.1f | %.0f | %.2f | %.2f |\n", t, $3, $4 / 1048576, $5, $6 / 1000, $7 / 1000
        n[t]++; s[t] += $4 / 1048576; if (!(t in seen)) { seen[t] = 1; order[++m] = t }
    } END { for (i = 1; i <= m; i++) printf "| **%s** | **mean** | **%.1f** | | | |\n", order[i], s[order[i]] / n[order[i]] }' "$FIO_TSV"
    echo
    echo "## aisnode during the run"
    echo
    echo "- mirror counters (\`GET /v1/daemon?what=node_status\`): \`$MIRROR_STATS\`"
    echo "- WARN/ERROR lines in the aisnode log: $LOG_ERRORS"
    if [ -n "$LOG_SAMPLE" ]; then
        echo
        echo '```'
        echo "$LOG_SAMPLE"
        echo '```'
    fi
    echo
    echo "## Reading"
    echo
    echo "What the harness saw limiting each case (computed from the means above):"
    echo
    awk -F'\t' -v fio="$FIO_TSV" -v cpus="$(nproc)" -v wk="$WORKERS" 'BEGIN {
        while ((getline l < fio) > 0) { split(l, f, "\t"); if (f[1] == "write") { fw[f[2]] += f[4] / 1048576; fn[f[2]]++ } }
    } NR > 1 { k = $1 SUBSEP $2; n[k]++; ops[k] += $5 / $7; cores[k] += $8 / $7; busy[k] += $9 / $7
        dw[k] += $10 / $7 / 1048576; mib[k] += $6 / $7 / 1048576; re[k] += $14; bl[k] += $15; lo[k] += $16 / $7; br[k] += $17; bd[k] += $18 }
    END {
        split("65536 1048576", sz, " ")
        for (i = 1; i <= 2; i++) { s = sz[i]; u = s SUBSEP "unprotected"; m = s SUBSEP "mirrored"
            if (!n[u] || !n[m]) continue
            lab = (s == 65536 ? "64 KiB" : "1 MiB"); F = fw[s] / fn[s]
            for (j = 1; j <= 2; j++) { k = (j == 1 ? u : m); nk = n[k]
                oth = busy[k] / nk - cores[k] / nk - lo[k] / nk; if (oth < 0) oth = 0
                printf "- PUT %s %s: %.0f PUT/s; %.2f of %d CPUs busy: aisnode %.2f, aisloader %.2f, everything else (the other users of this shared VM, kernel threads) %.2f; device writes %.0f MiB/s (%.2f of fio sequential write); reactor threads busy %.0f%%, blocking-pool threads busy %.0f%% (R %.0f%%: running or waiting for a CPU; D %.0f%%: waiting for I/O)", \
                    lab, (j == 1 ? "unprotected" : "mirrored"), ops[k] / nk, busy[k] / nk, cpus, cores[k] / nk, lo[k] / nk, oth, dw[k] / nk, dw[k] / nk / F, re[k] / nk * 100, bl[k] / nk * 100, br[k] / nk * 100, bd[k] / nk * 100
                if (j == 2 && bl[k] / nk >= 0.75)
                    printf ". The copy stage is the limit (%s): each core makes its copies on its one blocking thread, one at a time, and those threads were busy %.0f%% of the time, i.e. ~%.1f copies in flight for %.0f PUT/s: %.1f ms per copy (create, copy_file_range, fsetxattr, fdatasync, rename, directory fsync; glommio also runs the object'"'"'s own rename on that thread, so it queues behind the copies)", \
                        (bd[k] >= br[k] ? "mostly waiting for the device: fdatasync/fsync" : "mostly on or waiting for a CPU"), \
                        bl[k] / nk * 100, 2 * bl[k] / nk, ops[k] / nk, 2 * bl[k] / nk / (ops[k] / nk) * 1000
                else if (busy[k] / nk >= 0.85 * cpus)
                    printf ". The machine'"'"'s CPUs were (nearly) saturated"
                else
                    printf ". Neither the CPUs nor the blocking threads were saturated and the devices wrote well below fio: latency-bound, %d PUTs in flight at %.1f ms each (Little: %d / %.0f PUT/s)", \
                        wk, wk / (ops[k] / nk) * 1000, wk, ops[k] / nk
                printf ".\n"
            }
        }
    }' "$PUT_TSV"
    awk -F'\t' -v rate="$RATE_MIB" 'NR > 1 { a = $8 / $5 / 1048576; b = $9 / $5 / 1048576
        n[$1]++; mib[$1] += $4 / $5 / 1048576; hi[$1] += (a > b ? a : b); lo[$1] += (a > b ? b : a)
        bz[$1] += $7 / $5; if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
    END { for (i = 1; i <= m; i++) { k = order[i]; h = hi[k] / n[k]; c = lo[k] / n[k]
            printf "- GET %s: %.1f MiB/s; per run, the busier device read %.1f and the other %.1f MiB/s (throttle %d each): %s; machine %.2f CPUs busy.\n", k, mib[k] / n[k], h, c, rate, \
                (c >= 0.97 * rate ? "both devices at their throttle, the disks are the limit" : \
                (h >= 0.97 * rate ? sprintf("the busier device at its throttle while the other had %.0f%% of its budget unused: the busier disk is the limit", (1 - c / rate) * 100) : \
                 "neither device at its throttle")), bz[k] / n[k] } }' "$GET_TSV"
    echo
    echo "<!-- interpretation: added by hand after the run -->"
    echo
    echo "## Raw figures"
    echo
    for f in "$PUT_TSV" "$GET_TSV" "$FIO_TSV"; do
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
