#!/usr/bin/env bash
# A local multi-node cluster on 127.0.0.1: P proxies and T targets with M mountpaths each, every
# node a separate `aisnode` process under one data directory.
#
#   scripts/cluster.sh start [-p P] [-t T] [-m M] [-c CORES] [-d DIR] [--port BASE] [--timeout S]
#   scripts/cluster.sh stop [-d DIR] [--timeout S]
#   scripts/cluster.sh status [-d DIR]
#
# Defaults: 1 proxy, 3 targets, 2 mountpaths per target, 2 cores per target (1 per proxy),
# DIR=./ais-cluster, BASE=8080. Node i (proxies first, then targets) listens on
# BASE+10*i and its cores on the next ports (BASE+10*i+1 ...); proxy0 is the primary, so the
# endpoint is http://127.0.0.1:BASE.
#
# Layout of DIR:
#   cluster.conf            the layout (P, T, M, CORES, BASE); a restart with the same DIR reuses it
#   pids                    "<node> <pid>" for every process this script started
#   proxy<i>/               proxy data dir (conf/: Smap, BMD, .ais.proxy_id)
#   target<j>/              target data dir; mountpaths target<j>/mp1 .. mp<M>
#   <node>.log              the node's stdout and stderr (appended across restarts)
#
# `start` builds target/release/aisnode if it is missing (or uses $AISNODE_BIN), starts the
# primary, then the other nodes, and waits (with a deadline) until the primary's Smap lists
# exactly these P proxies and T targets, every node answers /v1/health with 200 and holds the
# primary's Smap version. Then it prints AIS_ENDPOINT=http://127.0.0.1:BASE. If the cluster is
# not ready in time it prints why and the log tails, and stops what it started.
#
# `stop` signals only the PIDs listed in DIR/pids (after checking that each one is still an
# aisnode started on DIR): SIGTERM, then SIGKILL for those still running after the deadline.
# Nothing is ever killed by name.
#
# Restarting with the same DIR reuses the data dirs and ports, so every node keeps its ID
# (proxies: DIR/proxy<i>/conf/.ais.proxy_id; targets: xattr user.ais.daemon_id on mountpaths).
#
# Environment: AISNODE_BIN (binary path), AIS_KEEPALIVE_MS and AIS_KEEPALIVE_FACTOR (passed as
# --keepalive-interval-ms / --keepalive-factor when set), AIS_NO_FSYNC=1 (adds --no-fsync).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STRIDE=10

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

cmd="${1:-}"
[ -n "$cmd" ] || usage 2
shift
case "$cmd" in start|stop|status) ;; -h|--help|help) usage 0 ;; *) echo "unknown command: $cmd" >&2; usage 2 ;; esac

OPT_P="" OPT_T="" OPT_M="" OPT_C="" OPT_BASE="" DIR="./ais-cluster" TIMEOUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        -p) OPT_P="${2:?-p needs a value}"; shift 2 ;;
        -t) OPT_T="${2:?-t needs a value}"; shift 2 ;;
        -m) OPT_M="${2:?-m needs a value}"; shift 2 ;;
        -c) OPT_C="${2:?-c needs a value}"; shift 2 ;;
        -d) DIR="${2:?-d needs a value}"; shift 2 ;;
        --port) OPT_BASE="${2:?--port needs a value}"; shift 2 ;;
        --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 ;;
    esac
done
for v in "$OPT_P" "$OPT_T" "$OPT_M" "$OPT_C" "$OPT_BASE" "$TIMEOUT"; do
    [ -z "$v" ] || [[ "$v" =~ ^[0-9]+$ ]] || die "not a number: $v"
done

if [ "$cmd" != start ] && [ ! -d "$DIR" ]; then
    echo "no cluster in $DIR"
    exit 0
fi
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PIDS="$DIR/pids"
CONF="$DIR/cluster.conf"

# ---- process helpers ---------------------------------------------------------------------------

# True if PID is alive and is an aisnode whose command line names a data dir inside DIR (so a
# recycled PID is never signalled).
ours() {
    local pid="$1" cmdline
    [ -r "/proc/$pid/cmdline" ] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *aisnode* && "$cmdline" == *"--data-dir $DIR/"* ]]
}

live_pids() {
    [ -f "$PIDS" ] || return 0
    local name pid
    while read -r name pid; do
        [ -n "${pid:-}" ] && ours "$pid" && echo "$name $pid"
    done <"$PIDS"
    return 0
}

stop_cluster() {
    local deadline_s="${1:-15}" name pid left
    local -a pids=()
    while read -r name pid; do
        [ -n "${pid:-}" ] && pids+=("$pid")
    done < <(live_pids)
    if [ "${#pids[@]}" -eq 0 ]; then
        echo "no running nodes recorded in $PIDS"
        rm -f "$PIDS"
        return 0
    fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    local end=$((SECONDS + deadline_s))
    while :; do
        left=()
        for pid in "${pids[@]}"; do ours "$pid" && left+=("$pid"); done
        [ "${#left[@]}" -eq 0 ] && break
        if [ "$SECONDS" -ge "$end" ]; then
            echo "still running after ${deadline_s}s, sending SIGKILL: ${left[*]}" >&2
            for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    echo "stopped ${#pids[@]} node(s): ${pids[*]}"
    rm -f "$PIDS"
}

port_in_use() {
    # Something accepts connections on the port (bash /dev/tcp; no extra tools needed).
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---- stop / status -----------------------------------------------------------------------------

if [ "$cmd" = stop ]; then
    [ -f "$PIDS" ] || { echo "nothing to stop: no $PIDS"; exit 0; }
    stop_cluster "${TIMEOUT:-15}"
    exit 0
fi

if [ "$cmd" = status ]; then
    [ -f "$CONF" ] || die "no cluster in $DIR (no cluster.conf)"
    # shellcheck disable=SC1090
    . "$CONF"
    echo "AIS_ENDPOINT=http://127.0.0.1:$BASE"
    live="$(live_pids)"
    if [ -n "$live" ]; then echo "$live" | sed 's/^/running: /'; else echo "no running nodes"; fi
    curl -fsS -m 3 "http://127.0.0.1:$BASE/v1/daemon?what=smap" 2>/dev/null \
        | python3 -c 'import json,sys; s=json.load(sys.stdin); print("Smap v%s: %d proxies, %d targets (primary %s)" % (s["version"], len(s["pmap"]), len(s["tmap"]), s["proxy_si"]["daemon_id"]))' \
        || echo "primary not answering"
    exit 0
fi

# ---- start -------------------------------------------------------------------------------------

if [ -n "$(live_pids)" ]; then
    die "a cluster started from $DIR is still running (see $PIDS); run: $0 stop -d $DIR"
fi
rm -f "$PIDS"

# The layout: a restart with the same DIR must keep ports and directories, so take it from
# cluster.conf; explicit options must agree with it.
if [ -f "$CONF" ]; then
    # shellcheck disable=SC1090
    . "$CONF"
    for pair in "P:$OPT_P" "T:$OPT_T" "M:$OPT_M" "CORES:$OPT_C" "BASE:$OPT_BASE"; do
        k="${pair%%:*}" v="${pair#*:}"
        if [ -n "$v" ] && [ "$v" != "${!k}" ]; then
            die "$DIR was created with $k=${!k} (see $CONF); restart it with the same layout or use a new -d DIR"
        fi
    done
else
    P="${OPT_P:-1}" T="${OPT_T:-3}" M="${OPT_M:-2}" CORES="${OPT_C:-2}" BASE="${OPT_BASE:-8080}"
fi
[ "$P" -ge 1 ] || die "need at least one proxy (-p)"
[ "$T" -ge 1 ] || die "need at least one target (-t)"
[ "$M" -ge 1 ] || die "need at least one mountpath per target (-m)"
[ "$CORES" -ge 1 ] && [ "$CORES" -lt "$STRIDE" ] || die "-c must be 1..$((STRIDE - 1)) (ports are $STRIDE apart)"
[ $((BASE + STRIDE * (P + T))) -le 65535 ] || die "ports from $BASE do not fit below 65536"

BIN="${AISNODE_BIN:-$ROOT/target/release/aisnode}"
if [ ! -x "$BIN" ]; then
    [ -z "${AISNODE_BIN:-}" ] || die "AISNODE_BIN=$BIN is not an executable"
    echo "building $BIN (cargo build --release -p aisnode)"
    (cd "$ROOT" && cargo build --release -p aisnode)
fi

# Node table: name, role, port, cores.
names=() roles=() ports=() ncores=()
for ((i = 0; i < P; i++)); do names+=("proxy$i"); roles+=(proxy); ncores+=(1); done
for ((j = 0; j < T; j++)); do names+=("target$j"); roles+=(target); ncores+=("$CORES"); done
for ((i = 0; i < P + T; i++)); do ports+=($((BASE + STRIDE * i))); done

busy=()
for ((i = 0; i < P + T; i++)); do
    for ((p = ports[i]; p <= ports[i] + ncores[i]; p++)); do port_in_use "$p" && busy+=("$p"); done
done
[ "${#busy[@]}" -eq 0 ] || die "ports already in use: ${busy[*]} (another cluster? pick --port)"

[ -f "$CONF" ] || printf 'P=%s\nT=%s\nM=%s\nCORES=%s\nBASE=%s\n' "$P" "$T" "$M" "$CORES" "$BASE" >"$CONF"

PRIMARY="http://127.0.0.1:$BASE"
extra=()
[ -n "${AIS_KEEPALIVE_MS:-}" ] && extra+=(--keepalive-interval-ms "$AIS_KEEPALIVE_MS")
[ -n "${AIS_KEEPALIVE_FACTOR:-}" ] && extra+=(--keepalive-factor "$AIS_KEEPALIVE_FACTOR")
[ "${AIS_NO_FSYNC:-0}" = 1 ] && extra+=(--no-fsync)

launch() {
    local i="$1" name="${names[$1]}" role="${roles[$1]}" port="${ports[$1]}"
    local data="$DIR/$name" log="$DIR/$name.log"
    local -a argv=("$BIN" --role "$role" --port "$port" --core-port-base $((port + 1))
        --data-dir "$data" --cores "${ncores[$i]}")
    if [ "$role" = target ]; then
        for ((k = 1; k <= M; k++)); do
            mkdir -p "$data/mp$k"
            argv+=(--mountpath "$data/mp$k")
        done
    fi
    [ "$i" -eq 0 ] || argv+=(--primary-url "$PRIMARY")
    argv+=(${extra[@]+"${extra[@]}"})
    mkdir -p "$data"
    printf '\n===== cluster.sh %s: %s\n' "$(date -u +%FT%TZ)" "${argv[*]}" >>"$log"
    # nohup execs the binary, so $! is the aisnode PID; background jobs of a script ignore
    # SIGINT, so a Ctrl-C while waiting does not take the cluster down.
    nohup "${argv[@]}" >>"$log" 2>&1 </dev/null &
    echo "$name $!" >>"$PIDS"
}

TIMEOUT="${TIMEOUT:-60}"
fail() {
    echo "cluster.sh: $*" >&2
    for n in "${names[@]}"; do
        [ -f "$DIR/$n.log" ] || continue
        echo "--- tail of $DIR/$n.log" >&2
        tail -n 15 "$DIR/$n.log" >&2
    done
    echo "stopping the nodes started by this command" >&2
    stop_cluster 10 >&2
    exit 1
}

# Readiness check (one Python process polling against a deadline): the primary's Smap lists
# exactly the expected nodes (by public port), every process is alive, every node answers
# /v1/health with 200 and holds the primary's Smap (same uuid and version).
wait_ready() {
    local which="$1" # "primary" or "all"
    python3 - "$which" "$TIMEOUT" "$PIDS" "$P" "$T" "${ports[@]}" <<'EOF'
import json, os, sys, time, urllib.request, urllib.error

which, timeout, pids_file, P, T = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ports = [int(p) for p in sys.argv[6:]]
if which == "primary":
    ports = ports[:1]
want_proxies = {str(p) for p in ports[:P]}
want_targets = {str(p) for p in ports[P:]}

def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, urllib.error.URLError) as e:
        return None, str(e).encode()

def alive():
    dead = []
    with open(pids_file) as f:
        for line in f:
            name, pid = line.split()
            try:
                os.kill(int(pid), 0)
                with open(f"/proc/{pid}/stat") as st:
                    if st.read().split(")")[-1].split()[0] == "Z":
                        dead.append(name)
            except (ProcessLookupError, FileNotFoundError):
                dead.append(name)
    return dead

deadline = time.monotonic() + timeout
last = "no answer yet"
while True:
    dead = alive()
    if dead:
        print(f"node(s) exited: {', '.join(dead)}", file=sys.stderr)
        sys.exit(1)
    ok = True
    code, body = get(f"http://127.0.0.1:{ports[0]}/v1/daemon?what=smap")
    if code != 200:
        ok, last = False, f"primary Smap: {code} {body[:200]!r}"
    else:
        smap = json.loads(body)
        have_p = {n["public_net"]["daemon_port"] for n in smap["pmap"].values()}
        have_t = {n["public_net"]["daemon_port"] for n in smap["tmap"].values()}
        if which == "all" and (have_p != want_proxies or have_t != want_targets):
            ok = False
            last = (f"primary Smap v{smap['version']} lists proxies on ports {sorted(have_p)} and targets on "
                    f"{sorted(have_t)}; want {sorted(want_proxies)} and {sorted(want_targets)}")
        for port in ports:
            if not ok:
                break
            code, body = get(f"http://127.0.0.1:{port}/v1/health")
            if code != 200:
                ok, last = False, f"port {port}: /v1/health {code} {body[:200]!r}"
                break
            code, body = get(f"http://127.0.0.1:{port}/v1/daemon?what=smap")
            if code != 200:
                ok, last = False, f"port {port}: Smap {code}"
                break
            theirs = json.loads(body)
            if (theirs["uuid"], theirs["version"]) != (smap["uuid"], smap["version"]):
                ok = False
                last = f"port {port} holds Smap v{theirs['version']}, primary v{smap['version']}"
                break
    if ok:
        if which == "all":
            print(f"cluster {smap['uuid']} ready: Smap v{smap['version']}, {len(smap['pmap'])} proxies, {len(smap['tmap'])} targets")
        sys.exit(0)
    if time.monotonic() > deadline:
        print(f"not ready within {timeout:.0f}s: {last}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.1)
EOF
}

echo "starting $P proxies and $T targets ($M mountpaths, $CORES cores each) under $DIR"
launch 0
wait_ready primary || fail "the primary (proxy0 on :$BASE) did not come up"
for ((i = 1; i < P + T; i++)); do launch "$i"; done
wait_ready all || fail "the cluster did not become ready"

for ((i = 0; i < P + T; i++)); do
    printf '  %-9s http://127.0.0.1:%s  log %s\n' "${names[$i]}" "${ports[$i]}" "$DIR/${names[$i]}.log"
done
echo "stop with: $0 stop -d $DIR"
echo "AIS_ENDPOINT=$PRIMARY"
