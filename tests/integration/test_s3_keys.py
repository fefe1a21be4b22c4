"""Every key S3 allows is stored (issue 11): a trailing `/` (folder markers), `//`, a leading
`/`, `.` and `..` segments, components longer than a file name, and `p` beside `p/x` on one
mountpath. Names that are not plain relative paths live at their escaped path under `%ox`
(docs/on-disk-format.md); nothing is ever written outside the bucket's directory, and the
objects survive a restart, a rebalance and a resilver."""

import os
import time
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

import hrw
from clusterutil import Cluster
from s3util import boto3_client, start_s3_node

REQ_TIMEOUT = 30


def weird_keys(tag):
    return [
        f"{tag}-dir/",
        f"{tag}-a//b",
        f"/{tag}-lead",
        f"//{tag}-two-leading",
        f"./{tag}",
        f"{tag}/./x",
        f"{tag}/../{tag}-up",
        f"../{tag}-escape",
        f"../../../../{tag}-escape-more",
        f"{tag}/..",
        f"{tag}/.",
        f"{tag}-100%/a%2Fb",
        f"{tag}-" + "L" * 300 + "/x",
        f"{tag}-" + "é" * 400,
        f"{tag}-q",
        f"{tag}-q/x",
        f"{tag}-q/x/y",
        f"{tag}-q/x/",
    ]


def body_of(key):
    return f"body of {key!r}".encode()


def files_under(root):
    out = []
    for d, _, files in os.walk(root):
        out.extend(os.path.join(d, f) for f in files)
    return out


def check_all(s3, bucket, keys, what):
    problems = []
    for k in keys:
        try:
            got = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
            if got != body_of(k):
                problems.append(f"{k!r}: read {got[:60]!r}")
        except ClientError as e:
            problems.append(f"{k!r}: {e}")
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 5}):
        listed.extend(o["Key"] for o in page.get("Contents", []))
    if listed != sorted(keys, key=lambda k: k.encode()):
        problems.append(f"listing (pages of 5) differs: extra {sorted(set(listed) - set(keys))[:5]}, "
                        f"missing {sorted(set(keys) - set(listed))[:5]}, in order: {listed == sorted(listed)}")
    assert not problems, f"{what}:\n  " + "\n  ".join(problems)


@pytest.fixture
def s3node(aisnode_binary, tmp_path):
    n = start_s3_node(aisnode_binary, tmp_path / "node")
    try:
        yield n
    finally:
        n.close()


def test_every_s3_key_shape_is_stored_listed_and_deleted(s3node, tmp_path):
    s3 = boto3_client(s3node.s3_endpoint)
    s3.create_bucket(Bucket="keys")
    tag = uuid.uuid4().hex[:6]
    # `p` beside `p/x` on ONE mountpath, in both orders (file first, then directory first).
    mp_of = lambda n: hrw.choose_mountpath(s3node.mountpaths, "keys", n)  # noqa: E731
    p = next(f"{tag}-p{i}" for i in range(1000) if mp_of(f"{tag}-p{i}") == mp_of(f"{tag}-p{i}/x"))
    r = next(f"{tag}-r{i}" for i in range(1000) if mp_of(f"{tag}-r{i}") == mp_of(f"{tag}-r{i}/x"))
    keys = weird_keys(tag) + [p, f"{p}/x", f"{r}/x", r]
    for k in keys:
        s3.put_object(Bucket="keys", Key=k, Body=body_of(k))
    check_all(s3, "keys", keys, "after the PUTs")

    # Nothing outside the bucket's directory: every file the keys made is under
    # <mountpath>/@ais/keys/ and no name escaped into a parent directory.
    for m in s3node.mountpaths:
        for f in files_under(m):
            rel = os.path.relpath(f, m)
            # (Beside the bucket: the markers and the target's backups of the cluster metadata,
            # docs/on-disk-format.md.)
            assert rel.startswith("@ais/keys/") or rel.startswith(".ais.markers/") \
                or rel in (".ais.smap", ".ais.bmd"), f
            assert tag not in rel or rel.startswith("@ais/keys/%ob/") or rel.startswith("@ais/keys/%ox/"), f
    assert not [f for f in files_under(tmp_path) if tag in f and "/@ais/keys/" not in f]

    # Delimiter listing: folder markers and virtual directories as S3 shows them.
    res = s3.list_objects_v2(Bucket="keys", Prefix=f"{tag}-q/", Delimiter="/")
    assert [o["Key"] for o in res.get("Contents", [])] == [f"{tag}-q/x"], res
    assert [c["Prefix"] for c in res.get("CommonPrefixes", [])] == [f"{tag}-q/x/"], res

    # HEAD, overwrite (the new bytes replace the old at the same place), conditional PUT.
    for k in keys:
        assert s3.head_object(Bucket="keys", Key=k)["ContentLength"] == len(body_of(k))
    for k in (f"{tag}-dir/", p, f"{r}/x", f"{tag}/..", f"{tag}-q/x/"):
        s3.put_object(Bucket="keys", Key=k, Body=body_of(k) + b"!")
        assert s3.get_object(Bucket="keys", Key=k)["Body"].read() == body_of(k) + b"!"
        s3.put_object(Bucket="keys", Key=k, Body=body_of(k))
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="keys", Key=k, Body=b"no", IfNoneMatch="*")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    check_all(s3, "keys", keys, "after overwrites")

    # The native API lists them too, and keeps AIS's name rules for its own requests.
    r_ls = requests.get(f"{s3node.endpoint}/v1/buckets/keys", json={"action": "list", "value": {"props": "name,size"}},
                        timeout=REQ_TIMEOUT)
    assert r_ls.status_code == 200, r_ls.text
    assert sorted(e["name"] for e in r_ls.json()["entries"]) == sorted(keys)
    r_get = requests.get(f"{s3node.endpoint}/v1/objects/keys/{tag}-dir/", timeout=REQ_TIMEOUT)
    assert r_get.status_code == 400 and "must not end with '/'" in r_get.text, r_get.text

    # A restart finds the escaped objects on disk again.
    s3node.restart()
    check_all(s3, "keys", keys, "after a restart")

    # Delete them one by one: each answers 404 afterwards and the rest stay intact.
    for i, k in enumerate(keys):
        s3.delete_object(Bucket="keys", Key=k)
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="keys", Key=k)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, k
        if i % 6 == 0:
            check_all(s3, "keys", keys[i + 1:], f"after deleting {i + 1}")
    assert s3.list_objects_v2(Bucket="keys").get("KeyCount") == 0
    # The escaped directory is empty again (long-name piece directories are pruned).
    for m in s3node.mountpaths:
        esc = os.path.join(m, "@ais", "keys", "%ox")
        assert not os.path.exists(esc) or os.listdir(esc) == [], os.listdir(esc)


def test_plain_name_after_its_conflict_is_one_object(s3node):
    """`p` stored at its escaped path while `p/` was a directory; once the directory is gone a
    new PUT of `p` goes to the plain path and the escaped copy is removed: one name, one object."""
    s3 = boto3_client(s3node.s3_endpoint)
    s3.create_bucket(Bucket="conf")
    mp_of = lambda n: hrw.choose_mountpath(s3node.mountpaths, "conf", n)  # noqa: E731
    p = next(f"p{i}" for i in range(1000) if mp_of(f"p{i}") == mp_of(f"p{i}/x"))
    s3.put_object(Bucket="conf", Key=f"{p}/x", Body=b"child")
    s3.put_object(Bucket="conf", Key=p, Body=b"first")          # escaped: `p/` is a directory
    s3.delete_object(Bucket="conf", Key=f"{p}/x")               # the directory goes away
    assert s3.get_object(Bucket="conf", Key=p)["Body"].read() == b"first"
    s3.put_object(Bucket="conf", Key=p, Body=b"second")         # now at the plain path
    assert s3.get_object(Bucket="conf", Key=p)["Body"].read() == b"second"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="conf").get("Contents", [])]
    assert keys == [p], keys
    m = mp_of(p)
    assert os.path.isfile(os.path.join(m, "@ais", "conf", "%ob", p))
    assert not os.path.exists(os.path.join(m, "@ais", "conf", "%ox", p))
    s3.delete_object(Bucket="conf", Key=p)
    assert s3.list_objects_v2(Bucket="conf").get("KeyCount") == 0


@pytest.fixture
def small_cluster(aisnode_binary, tmp_path):
    saved = {k: os.environ.pop(k) for k in ("AIS_S3_ACCESS_KEY", "AIS_S3_SECRET_KEY") if k in os.environ}
    c = Cluster(aisnode_binary, tmp_path / "c", proxies=1, targets=1, mountpaths=2, target_cores=1)
    try:
        c.start()
        yield c
    finally:
        c.close()
        os.environ.update(saved)


def wait_jobs_done(node, kind, min_count, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while True:
        jobs = [j for j in requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=REQ_TIMEOUT).json()
                if j["kind"] == kind]
        if len(jobs) >= min_count and all(j["finished"] for j in jobs):
            return jobs
        assert time.monotonic() < deadline, f"{kind} jobs on {node.name}: {jobs}"
        time.sleep(0.2)


def test_escaped_keys_survive_rebalance_and_resilver(small_cluster):
    c = small_cluster
    s3 = boto3_client(f"{c.primary.endpoint}/s3")
    s3.create_bucket(Bucket="moved")
    keys = []
    for i in range(12):
        keys += weird_keys(f"k{i}")
    keys += [f"plain-{i}" for i in range(40)] + [f"plain-{i}/x" for i in range(40)]
    for k in keys:
        s3.put_object(Bucket="moved", Key=k, Body=body_of(k))
    check_all(s3, "moved", keys, "before")

    # A second target joins: rebalance moves about half of them over the intra-cluster API.
    t1 = c.add_target_node("target1")
    t1.spawn()
    c.wait_converged(c.nodes, 30)
    old = c.targets[0]
    moved = sum(j["objects"] for j in wait_jobs_done(old, "rebalance", 1))
    wait_jobs_done(t1, "rebalance", 1)
    assert moved > len(keys) // 4, f"rebalance moved {moved} of {len(keys)}"
    check_all(s3, "moved", keys, "after the rebalance")
    on_new = [f for m in t1.mountpaths for f in files_under(os.path.join(m, "@ais", "moved", "%ox"))]
    assert on_new, "no escaped object reached the new target"

    # Detach a mountpath of the new target: the resilver moves its escaped objects too.
    tid = t1.persisted_id()
    gone = t1.mountpaths[1]
    r = requests.delete(f"{c.primary.endpoint}/v1/reverse/daemon/mountpaths",
                        json={"action": "detach-mp", "value": gone}, headers={"Ais-Node-Id": tid},
                        timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    jobs = wait_jobs_done(t1, "resilver", 1)
    assert all(j["errors"] == 0 for j in jobs), jobs
    assert not files_under(os.path.join(gone, "@ais", "moved", "%ox")), "escaped objects left on the detached mountpath"
    assert not files_under(os.path.join(gone, "@ais", "moved", "%ob"))
    check_all(s3, "moved", keys, "after the resilver")
