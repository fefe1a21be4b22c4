"""s3fs-fuse (the Debian `s3fs` package, 1.90 on bookworm, which scripts/test.sh installs) mounting
a bucket of aisnode's `/s3` with SigV4 keys checked, used as a file system by plain file calls;
every change is then read back through boto3, the stored object being what counts:

* a small file, a directory (s3fs's `d/` marker object) and a file in it;
* a 23 MiB file (a multipart upload) read back byte-identical;
* a write into the middle of it (s3fs re-uploads the object), a rename (copy, then delete),
  `chmod` and `utime` (a copy onto itself replacing the metadata: x-amz-meta-mode / -mtime),
  an append, a truncate, a symlink (its target as content);
* a directory of 1,100 objects written with boto3 (s3fs lists it with Delimiter=/ in pages of
  1,000), and a directory that exists only as a common prefix;
* `rm` and `rmdir` remove the keys;
* a mount with a wrong secret key is refused: SigV4 and then SigV2 (s3fs's fallback) get
  SignatureDoesNotMatch, s3fs exits, nothing is mounted, and the bucket is unchanged.

s3fs signs the path without the endpoint's `/s3` (`/b/k` where it sends `/s3/b/k`): the node
accepts that signature as it does s3cmd's. Before it did, s3fs's SigV4 check failed and s3fs
quietly fell back to SigV2 for the whole mount.

s3fs retries a failed request (`retries=1` turns that off here), so a server error fails the
file call rather than being hidden. Skipped only where the machine has no FUSE device.
"""

import hashlib
import os
import shutil
import stat
import subprocess
import time

import pytest

from s3util import (  # noqa: F401  (fixtures are used by name)
    ACCESS_KEY,
    MiB,
    SECRET_KEY,
    boto3_client,
    _no_server_errors,
    no_server_errors,
    s3,
    s3_node,
    unique_bucket,
    write_random_file,
)

pytestmark = pytest.mark.timeout(300)

S3FS = shutil.which("s3fs")
FUSERMOUNT = shutil.which("fusermount") or shutil.which("fusermount3")
MOUNT_WAIT_S = 20.0
# What libfuse says where the machine (a container without the device or the capability)
# cannot mount at all; nothing the node answers produces these.
FUSE_UNAVAILABLE = ("fuse: device not found", "failed to open /dev/fuse", "fusermount: mount failed: Operation not permitted")

if not os.path.exists("/dev/fuse"):
    pytest.skip("no /dev/fuse on this machine: s3fs cannot mount", allow_module_level=True)


def _passwd(dirpath, secret):
    p = dirpath / "passwd"
    p.write_text(f"{ACCESS_KEY}:{secret}\n")
    p.chmod(0o600)
    return p


def _argv(bucket, mnt, endpoint, passwd, log):
    return [
        S3FS,
        bucket,
        str(mnt),
        "-f",  # foreground: the test owns the process and stops it by PID
        "-o", f"passwd_file={passwd}",
        "-o", f"url={endpoint}",
        "-o", "use_path_request_style",
        "-o", "retries=1",
        "-o", "dbglevel=warn",
        "-o", f"logfile={log}",
    ]  # fmt: skip


class Mount:
    def __init__(self, bucket, mnt, endpoint, workdir, secret=SECRET_KEY):
        assert S3FS, "s3fs is not installed: scripts/test.sh installs the Debian package s3fs"
        assert FUSERMOUNT, "fusermount is not installed (the Debian package fuse, an s3fs dependency)"
        self.mnt = mnt
        self.log = workdir / "s3fs.log"
        mnt.mkdir(parents=True, exist_ok=True)
        argv = _argv(bucket, mnt, endpoint, _passwd(workdir, secret), self.log)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_mounted(self):
        deadline = time.monotonic() + MOUNT_WAIT_S
        while time.monotonic() < deadline:
            if os.path.ismount(self.mnt):
                return
            if self.proc.poll() is not None:
                out = self.output()
                if any(m in out for m in FUSE_UNAVAILABLE):
                    pytest.skip(f"FUSE cannot be mounted on this machine: {out[-300:]}")
                pytest.fail(f"s3fs exited {self.proc.returncode}: {out}")
            time.sleep(0.05)
        pytest.fail(f"s3fs did not mount {self.mnt} within {MOUNT_WAIT_S}s: {self.output()}")

    def output(self):
        out = b""
        if self.proc.poll() is not None and self.proc.stdout:
            out = self.proc.stdout.read()
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        return (out.decode(errors="replace") + log)[-3000:]

    def close(self):
        if os.path.ismount(self.mnt):
            subprocess.run([FUSERMOUNT, "-u", str(self.mnt)], capture_output=True, timeout=30)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
            subprocess.run([FUSERMOUNT, "-uz", str(self.mnt)], capture_output=True, timeout=30)


@pytest.fixture
def mounted(s3_node, s3, tmp_path):
    bucket = unique_bucket("s3fs")
    s3.create_bucket(Bucket=bucket)
    m = Mount(bucket, tmp_path / "mnt", s3_node.s3_endpoint, tmp_path)
    try:
        m.wait_mounted()
        yield bucket, m.mnt
    finally:
        m.close()
    out = m.output()
    assert "signature version 2" not in out, "s3fs's SigV4 was refused:\n" + out
    # Error responses s3fs got (s3fs logs the 404s of its own existence checks at a lower level).
    errors = [line for line in out.splitlines() if "[ERR]" in line and "HTTP response code" in line]
    assert not errors, "s3fs got error responses:\n" + "\n".join(errors[:10])


def _body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(s3, bucket, prefix=""):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _missing(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as e:
        return e.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def test_files_directories_and_metadata_through_s3fs(mounted, s3, tmp_path):
    bucket, mnt = mounted

    # A small file, a directory and a file in it.
    (mnt / "a.txt").write_bytes(b"hello\n")
    (mnt / "d").mkdir()
    (mnt / "d" / "b.txt").write_bytes(b"in a directory\n")
    assert _body(s3, bucket, "a.txt") == b"hello\n"
    assert _body(s3, bucket, "d/b.txt") == b"in a directory\n"
    assert _keys(s3, bucket) == ["a.txt", "d/", "d/b.txt"]
    meta = s3.head_object(Bucket=bucket, Key="a.txt")["Metadata"]
    assert stat.S_ISREG(int(meta["mode"])), meta

    # 23 MiB: a multipart upload, read back through S3 and the mount.
    local = tmp_path / "big.bin"
    write_random_file(local, 23 * MiB, 314159)
    shutil.copyfile(local, mnt / "big.bin")
    want = local.read_bytes()
    got = _body(s3, bucket, "big.bin")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(want).hexdigest()
    etag = s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"')
    assert int(etag.rsplit("-", 1)[1]) >= 2, etag  # a multipart upload

    # A write into the middle, after s3fs's cached copy is gone (a fresh open reads it back).
    patch_at = 13 * MiB + 5
    with open(mnt / "big.bin", "r+b") as f:
        f.seek(patch_at)
        f.write(b"PATCHED")
    want = want[:patch_at] + b"PATCHED" + want[patch_at + 7 :]
    assert hashlib.sha256(_body(s3, bucket, "big.bin")).digest() == hashlib.sha256(want).digest()
    with open(mnt / "big.bin", "rb") as f:
        f.seek(patch_at - 3)
        assert f.read(13) == want[patch_at - 3 : patch_at + 10]

    # Rename: a server-side copy, then a delete.
    os.rename(mnt / "big.bin", mnt / "moved.bin")
    assert _missing(s3, bucket, "big.bin")
    assert hashlib.sha256(_body(s3, bucket, "moved.bin")).digest() == hashlib.sha256(want).digest()

    # chmod and utime: CopyObject onto itself with the metadata replaced.
    os.chmod(mnt / "a.txt", 0o600)
    os.utime(mnt / "a.txt", (1577836800, 1577836800))
    meta = s3.head_object(Bucket=bucket, Key="a.txt")["Metadata"]
    assert int(meta["mode"]) & 0o7777 == 0o600, meta
    assert meta["mtime"].split(".")[0] == "1577836800", meta
    st = os.stat(mnt / "a.txt")
    assert stat.S_IMODE(st.st_mode) == 0o600 and int(st.st_mtime) == 1577836800
    assert _body(s3, bucket, "a.txt") == b"hello\n"

    # Append, and truncate through an open file as coreutils' `truncate` does. (s3fs 1.90's
    # truncate(2) of a path uploads zeros without reading the object first: reproduced against
    # moto_server too, so it is not tested here.)
    with open(mnt / "a.txt", "ab") as f:
        f.write(b"more\n")
    assert _body(s3, bucket, "a.txt") == b"hello\nmore\n"
    s3.put_object(Bucket=bucket, Key="t.bin", Body=want[: 3 * MiB])
    with open(mnt / "t.bin", "r+b") as f:
        f.truncate(10)
    assert _body(s3, bucket, "t.bin") == want[:10]
    assert os.path.getsize(mnt / "t.bin") == 10
    os.remove(mnt / "t.bin")

    # A symlink: its target is the object's content.
    os.symlink("a.txt", mnt / "lnk")
    assert os.readlink(mnt / "lnk") == "a.txt"
    assert _body(s3, bucket, "lnk") == b"a.txt"
    assert (mnt / "lnk").read_bytes() == b"hello\nmore\n"

    # rm and rmdir.
    os.remove(mnt / "d" / "b.txt")
    os.rmdir(mnt / "d")
    os.remove(mnt / "moved.bin")
    assert _keys(s3, bucket) == ["a.txt", "lnk"]
    assert sorted(os.listdir(mnt)) == ["a.txt", "lnk"]


def test_s3fs_lists_large_and_implicit_directories(mounted, s3):
    bucket, mnt = mounted
    names = [f"f{i:05d}" for i in range(1100)]
    for n in names:
        s3.put_object(Bucket=bucket, Key=f"many/{n}", Body=n.encode())
    # Directories that exist only as common prefixes (no "sub/" marker object).
    s3.put_object(Bucket=bucket, Key="many/sub/deeper/x", Body=b"x")
    s3.put_object(Bucket=bucket, Key="top.txt", Body=b"top")

    assert sorted(os.listdir(mnt)) == ["many", "top.txt"]
    assert sorted(os.listdir(mnt / "many")) == sorted(names + ["sub"])
    assert os.path.isdir(mnt / "many" / "sub" / "deeper")
    assert (mnt / "many" / "sub" / "deeper" / "x").read_bytes() == b"x"
    assert (mnt / "many" / "f01099").read_bytes() == b"f01099"
    assert os.path.getsize(mnt / "many" / "f00000") == 6


def test_wrong_secret_is_refused_and_changes_nothing(s3_node, s3, tmp_path):
    bucket = unique_bucket("s3fs-wrong")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="keep", Body=b"keep")
    m = Mount(bucket, tmp_path / "mnt", s3_node.s3_endpoint, tmp_path, secret="not" + SECRET_KEY[3:])
    try:
        m.proc.wait(timeout=MOUNT_WAIT_S)  # s3fs 1.90 exits with 0 even so
        out = m.output()
        assert not os.path.ismount(tmp_path / "mnt")
        assert "SignatureDoesNotMatch" in out, out
    finally:
        m.close()
    assert _keys(s3, bucket) == ["keep"]
    assert _body(s3, bucket, "keep") == b"keep"
