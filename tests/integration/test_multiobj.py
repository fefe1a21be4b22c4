"""Multi-object operations and bucket copy/move as the official SDK sends them
(`cluster::multiobj`): `ObjectGroup.delete`/`.copy`/`.archive` over lists, `ObjectRange`s and
`ObjectTemplate`s, `Bucket.copy` and `Bucket.rename`, each waited on with the SDK's `Job` API,
on a 1-proxy/3-target cluster (and a smoke run on one all-in-one node).

The bucket copy and move run while client threads keep writing and reading through the proxy:
- copy: every object present before the job is at the destination, byte-identical; an object
  PUT during the copy is at the destination byte-identical or not at all (AIS semantics: the
  copy is of the bucket as the walk saw it); no client request fails;
- move: every object present before, and every PUT into the source the cluster acknowledged,
  is in the new bucket byte-identical; a PUT refused during the move is refused with 409 (the
  client is told); the source bucket is gone at the end.

Refused requests (unknown bucket, onto itself, existing destination, templates too large or
malformed, unknown shard formats, remote-only actions) answer 4xx/501 naming the fault and
change nothing.

Environment: MOBJ_BENCH_N (default 3000) objects for the bucket copy/move tests.
"""

import concurrent.futures
import io
import os
import tarfile
import threading
import time
import zipfile

import lz4.frame
import pytest
import requests
from aistore.sdk.errors import AISError

from aisutil import KiB, bck_url, det_bytes, make_client, obj_url
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(600)

TIMEOUT_S = 30
JOB_WAIT_S = 120
N_BENCH = int(os.environ.get("MOBJ_BENCH_N", "3000"))
TEMPLATE_NAMES_MAX = 1_000_000


def data_of(name, salt=""):
    return det_bytes(name + salt, 1 * KiB + (sum(name.encode()) * 37) % (3 * KiB))


def status_of(e):
    return getattr(getattr(e, "response", None), "status_code", None) or getattr(e, "status_code", None)


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    # keepalive 500 ms x 8: a loaded 2-CPU box must not drop a target mid-test (as test_rebalance).
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("mobj"), proxies=1, targets=3, mountpaths=2,
                target_cores=2, keepalive_factor=8)
    c.start()
    yield c
    c.close()


@pytest.fixture(scope="module")
def ep(cluster):
    return cluster.primary.endpoint


@pytest.fixture(scope="module")
def cl(ep):
    return make_client(ep)


def put_all(bucket, names, salt="", threads=8):
    def one(n):
        bucket.object(n).get_writer().put_content(data_of(n, salt))
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, names))


def get_bytes(ep, bucket, name):
    r = requests.get(obj_url(ep, bucket, name), timeout=TIMEOUT_S)
    return r.status_code, r.content


def names_in(bucket, prefix=""):
    return sorted(e.name for e in bucket.list_all_objects(prefix=prefix))


def bucket_names(cl):
    return sorted(b.name for b in cl.cluster().list_buckets())


def wait_job(cl, job_id, expect_success=True):
    assert job_id, "no job ID in the response"
    res = cl.job(job_id=job_id).wait(timeout=JOB_WAIT_S, verbose=False)
    assert res.success == expect_success, f"job {job_id}: {res}"
    return res


def job_stats(ep, job_id):
    """Objects and bytes the job counted, summed over the nodes' snapshots."""
    r = requests.get(f"{ep}/v1/cluster", params={"what": "qryxstats"}, json={"ID": job_id},
                     timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    objs = byts = 0
    for snaps in r.json().values():
        for snap in snaps:
            if snap["id"] == job_id and snap.get("stats"):
                objs += snap["stats"]["loc-objs"]
                byts += snap["stats"]["loc-bytes"]
    return objs, byts


# ---- delete -----------------------------------------------------------------------------------


def test_delete_template_range_and_list(cl, ep):
    from aistore.sdk.multiobj import ObjectRange
    b = cl.bucket("mobj-del").create(exist_ok=True)
    names = [f"d/o-{i:03d}" for i in range(40)]
    put_all(b, names + ["keep/x"])

    # A template with a step: the even ones go.
    xid = b.objects(obj_template="d/o-{000..039..2}").delete()
    wait_job(cl, xid)
    assert names_in(b, "d/") == [n for i, n in enumerate(names) if i % 2 == 1]
    assert job_stats(ep, xid)[0] == 20

    # An ObjectRange (what the SDK sends: a template with the step).
    xid = b.objects(obj_range=ObjectRange(prefix="d/o-", min_index=1, max_index=9, pad_width=3,
                                          step=4)).delete()
    wait_job(cl, xid)
    gone = {"d/o-001", "d/o-005", "d/o-009"}
    assert names_in(b, "d/") == [n for i, n in enumerate(names) if i % 2 == 1 and n not in gone]

    # A list.
    xid = b.objects(obj_names=["d/o-003", "d/o-007"]).delete()
    wait_job(cl, xid)
    left = names_in(b, "d/")
    assert "d/o-003" not in left and "d/o-007" not in left and "d/o-011" in left

    # A listed name that does not exist fails the job (AIS without continue-on-error) ...
    xid = b.objects(obj_names=["d/o-003", "d/o-011"]).delete()
    wait_job(cl, xid, expect_success=False)
    # ... a template skips names that do not exist.
    xid = b.objects(obj_template="d/o-{000..019}").delete()
    wait_job(cl, xid)
    assert names_in(b, "d/") == [n for i, n in enumerate(names) if i % 2 == 1 and i >= 20]
    # A prefix-only template is a prefix: everything under d/ goes, keep/ stays.
    xid = b.objects(obj_template="d/").delete()
    wait_job(cl, xid)
    assert names_in(b) == ["keep/x"]
    assert get_bytes(ep, "mobj-del", "keep/x") == (200, data_of("keep/x"))


# ---- copy -------------------------------------------------------------------------------------


def test_copy_list_and_template_with_prepend(cl, ep):
    src = cl.bucket("mobj-cp-src").create(exist_ok=True)
    names = [f"img/{i:04d}.jpg" for i in range(50)]
    put_all(src, names)
    dst = cl.bucket("mobj-cp-dst")  # not created: the copy creates it
    assert "mobj-cp-dst" not in bucket_names(cl)

    ids = src.objects(obj_names=names[:10]).copy(dst, prepend="cp/")
    for xid in ids:
        wait_job(cl, xid)
    assert "mobj-cp-dst" in bucket_names(cl)
    assert names_in(dst) == sorted("cp/" + n for n in names[:10])
    for n in names[:10]:
        assert get_bytes(ep, "mobj-cp-dst", "cp/" + n) == (200, data_of(n))

    ids = src.objects(obj_template="img/{0010..0049..3}.jpg").copy(dst)
    for xid in ids:
        wait_job(cl, xid)
    want = [f"img/{i:04d}.jpg" for i in range(10, 50, 3)]
    assert names_in(dst, "img/") == want
    for n in want:
        assert get_bytes(ep, "mobj-cp-dst", n) == (200, data_of(n))
    # The source is untouched.
    assert names_in(src) == sorted(names)

    # Dry run: the job runs and counts, nothing is written.
    ids = src.objects(obj_template="img/{0000..0009}.jpg").copy(dst, prepend="dry/", dry_run=True)
    for xid in ids:
        wait_job(cl, xid)
    assert names_in(dst, "dry/") == []
    assert sum(job_stats(ep, x)[0] for x in ids) == 10


# ---- archive ----------------------------------------------------------------------------------


def shard_members(ep, bucket, name):
    code, body = get_bytes(ep, bucket, name)
    assert code == 200, f"GET {bucket}/{name}: {code}"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}


def test_archive_tar_tgz_zip_lz4_and_append(cl, ep):
    b = cl.bucket("mobj-arch").create(exist_ok=True)
    names = [f"s/{i:02d}.bin" for i in range(20)]
    put_all(b, names)
    out = cl.bucket("mobj-arch-out").create(exist_ok=True)

    ids = b.objects(obj_names=names[:5]).archive("shards/a.tar", to_bck=out)
    for xid in ids:
        wait_job(cl, xid)
    assert shard_members(ep, "mobj-arch-out", "shards/a.tar") == {n: data_of(n) for n in names[:5]}

    # tgz from a template, member names with the source bucket.
    ids = b.objects(obj_template="s/{10..19}.bin").archive("b.tgz", include_source_name=True)
    for xid in ids:
        wait_job(cl, xid)
    m = shard_members(ep, "mobj-arch", "b.tgz")
    assert m == {f"mobj-arch/{n}": data_of(n) for n in names[10:]}

    # Append to the tar: old and new members.
    ids = b.objects(obj_names=names[5:8]).archive("shards/a.tar", to_bck=out, allow_append=True)
    for xid in ids:
        wait_job(cl, xid)
    assert shard_members(ep, "mobj-arch-out", "shards/a.tar") == {n: data_of(n) for n in names[:8]}
    # Without append: a new shard replaces it.
    ids = b.objects(obj_names=names[8:9]).archive("shards/a.tar", to_bck=out)
    for xid in ids:
        wait_job(cl, xid)
    assert shard_members(ep, "mobj-arch-out", "shards/a.tar") == {names[8]: data_of(names[8])}

    # A prefix-only template: every object under s/ (the shard's owner lists the cluster).
    ids = b.objects(obj_template="s/").archive("all.tar", to_bck=out)
    for xid in ids:
        wait_job(cl, xid)
    assert shard_members(ep, "mobj-arch-out", "all.tar") == {n: data_of(n) for n in names}

    # zip (stored entries), then appended to.
    for xid in b.objects(obj_names=names[:3]).archive("z.zip", to_bck=out):
        wait_job(cl, xid)
    for xid in b.objects(obj_names=names[3:5]).archive("z.zip", to_bck=out, allow_append=True):
        wait_job(cl, xid)
    code, body = get_bytes(ep, "mobj-arch-out", "z.zip")
    assert code == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None
        assert {i: z.read(i) for i in z.namelist()} == {n: data_of(n) for n in names[:5]}

    # tar.lz4 (one LZ4 frame), then appended to.
    for xid in b.objects(obj_names=names[:2]).archive("c.tar.lz4", to_bck=out):
        wait_job(cl, xid)
    for xid in b.objects(obj_names=names[2:4]).archive("c.tar.lz4", to_bck=out, allow_append=True):
        wait_job(cl, xid)
    code, body = get_bytes(ep, "mobj-arch-out", "c.tar.lz4")
    assert code == 200
    with tarfile.open(fileobj=io.BytesIO(lz4.frame.decompress(body)), mode="r:") as tf:
        got = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]
    assert got == [(n, data_of(n)) for n in names[:4]]

    # An unknown format: 400; nothing written.
    with pytest.raises(AISError) as ei:
        b.objects(obj_names=names[:2]).archive("c.bin")
    assert status_of(ei.value) == 400 and "c.bin" in str(ei.value)
    assert "c.bin" not in names_in(b)


# ---- bucket copy and move under load ------------------------------------------------------------


class Load:
    """Client threads writing new objects into `put_bucket` and reading known objects from
    `get_bucket` until stopped; what each saw."""

    def __init__(self, ep, put_bucket, get_bucket, get_names, accept_get_404=False, threads=2):
        self.ep, self.put_bucket, self.get_bucket = ep, put_bucket, get_bucket
        self.get_names = get_names
        self.accept_get_404 = accept_get_404
        self.stop = threading.Event()
        self.acked, self.refused, self.failures = [], [], []
        self.gets_ok = self.gets_404 = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.writer, args=(i,)) for i in range(threads)]
        self.threads += [threading.Thread(target=self.reader, args=(i,)) for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def writer(self, k):
        s = requests.Session()
        i = 0
        while not self.stop.is_set():
            n = f"live/{k}-{i:05d}"
            i += 1
            try:
                r = s.put(obj_url(self.ep, self.put_bucket, n), data=data_of(n, "live"),
                          timeout=TIMEOUT_S)
            except requests.RequestException as e:
                with self.lock:
                    self.failures.append(f"PUT {n}: {e}")
                continue
            with self.lock:
                if r.status_code == 200:
                    self.acked.append(n)
                elif r.status_code == 409 and "renamed" in r.text:
                    self.refused.append(n)
                else:
                    self.failures.append(f"PUT {n}: {r.status_code} {r.text[:200]}")

    def reader(self, k):
        s = requests.Session()
        i = k
        while not self.stop.is_set():
            n = self.get_names[i % len(self.get_names)]
            i += 7
            try:
                r = s.get(obj_url(self.ep, self.get_bucket, n), timeout=TIMEOUT_S)
            except requests.RequestException as e:
                with self.lock:
                    self.failures.append(f"GET {n}: {e}")
                continue
            with self.lock:
                if r.status_code == 200 and r.content == data_of(n):
                    self.gets_ok += 1
                elif r.status_code == 404 and self.accept_get_404:
                    self.gets_404 += 1
                else:
                    self.failures.append(f"GET {n}: {r.status_code} ({len(r.content)} bytes)")


def verify_all(ep, bucket, want, salt=""):
    """Every name in `want` is in `bucket` with its bytes; the mismatches."""
    def one(n):
        code, body = get_bytes(ep, bucket, n)
        return None if (code == 200 and body == data_of(n, salt)) else f"{n}: {code}"
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return [x for x in ex.map(one, want) if x]


def test_copy_bucket_under_load(cl, ep):
    src = cl.bucket("mobj-big").create(exist_ok=True)
    names = [f"o/{i:05d}" for i in range(N_BENCH)]
    put_all(src, names, threads=16)
    dst = cl.bucket("mobj-big-copy")

    with Load(ep, "mobj-big", "mobj-big", names) as load:
        t0 = time.monotonic()
        xid = src.copy(dst)
        wait_job(cl, xid)
        took = time.monotonic() - t0
    assert not load.failures, load.failures[:5]
    assert load.gets_ok > 0 and load.acked, "the load did not run"
    objs, byts = job_stats(ep, xid)
    print(f"\ncopy-bck: {objs} objects, {byts / 1e6:.1f} MB in {took:.2f} s "
          f"({objs / took:.0f} objects/s) with {len(load.acked)} PUTs and {load.gets_ok} GETs alongside")
    assert objs >= N_BENCH
    # Every object present before the copy, byte-identical.
    assert verify_all(ep, "mobj-big-copy", names) == []
    # PUTs during the copy: copied byte-identical, or not copied.
    got = set(names_in(dst, "live/"))
    assert got <= set(load.acked)
    assert verify_all(ep, "mobj-big-copy", sorted(got), "live") == []
    # Copy with a prefix and prepend; dry run writes nothing.
    xid = src.copy(dst, prefix_filter="o/0001", prepend="pre/")
    wait_job(cl, xid)
    assert names_in(dst, "pre/") == ["pre/" + n for n in names if n.startswith("o/0001")]
    xid = src.copy(cl.bucket("mobj-dry"), dry_run=True)
    wait_job(cl, xid)
    assert "mobj-dry" not in bucket_names(cl)


def s3_delete_objects_status(ep, bucket, keys):
    """(code, status) of an S3 DeleteObjects of `keys` (unsigned boto3, no retries)."""
    from botocore.exceptions import ClientError
    from s3util import boto3_client, error_code

    s3 = boto3_client(f"{ep}/s3", unsigned=True)
    try:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    except ClientError as e:
        return error_code(e)
    return ("OK", 200)


def test_move_bucket_under_load(cl, ep):
    src = cl.bucket("mobj-mv").create(exist_ok=True)
    names = [f"m/{i:05d}" for i in range(N_BENCH)]
    put_all(src, names, threads=16)

    with Load(ep, "mobj-mv", "mobj-mv", names, accept_get_404=True) as load:
        time.sleep(0.2)  # some acknowledged PUTs before the move starts
        t0 = time.monotonic()
        xid = src.rename("mobj-mv-new")
        # S3 DeleteObjects into the source while it moves: 503 (S3 clients retry), nothing
        # deleted (checked below: every name arrives in the new bucket).
        s3_code = s3_delete_objects_status(ep, "mobj-mv", names[:20])
        moving = cl.job(job_id=xid).status().end_time == 0
        wait_job(cl, xid)
        took = time.monotonic() - t0
    if moving:
        assert s3_code == ("ServiceUnavailable", 503), s3_code
    else:
        print("\nmove-bck ended before the S3 DeleteObjects check ran")
    assert not [f for f in load.failures if not f.startswith("PUT") and "404" not in f], load.failures[:5]
    put_failures = [f for f in load.failures if f.startswith("PUT") and "404" not in f]
    assert not put_failures, put_failures[:5]
    objs, byts = job_stats(ep, xid)
    print(f"\nmove-bck: {objs} objects, {byts / 1e6:.1f} MB in {took:.2f} s ({objs / took:.0f} objects/s); "
          f"PUTs during: {len(load.acked)} acknowledged, {len(load.refused)} refused (409)")
    buckets = bucket_names(cl)
    assert "mobj-mv" not in buckets and "mobj-mv-new" in buckets
    new = cl.bucket("mobj-mv-new")
    # Nothing lost: every object from before and every acknowledged PUT, byte-identical.
    assert verify_all(ep, "mobj-mv-new", names) == []
    live = [n for n in load.acked]
    assert verify_all(ep, "mobj-mv-new", live, "live") == []
    assert len(names_in(new)) == len(names) + len(live)


# ---- refused requests change nothing ----------------------------------------------------------


def state(cl):
    return {b: names_in(cl.bucket(b)) for b in bucket_names(cl)}


def raw(method, url, action, value=None, params=None):
    body = {"action": action, "name": "", "value": value}
    return requests.request(method, url, json=body, params=params, timeout=TIMEOUT_S)


def test_refused_requests_change_nothing(cl, ep):
    b = cl.bucket("mobj-bad").create(exist_ok=True)
    put_all(b, [f"x-{i}" for i in range(5)])
    cl.bucket("mobj-bad-other").create(exist_ok=True)
    before = state(cl)
    u = bck_url(ep, "mobj-bad", query="")
    cases = [
        # unknown source bucket
        ("POST", bck_url(ep, "mobj-nosuch", query=""), "copy-bck", {}, {"bck_to": "ais/@#/mobj-x/"}, 404, "mobj-nosuch"),
        ("POST", bck_url(ep, "mobj-nosuch", query=""), "move-bck", None, {"bck_to": "ais/@#/mobj-x/"}, 404, "mobj-nosuch"),
        ("DELETE", bck_url(ep, "mobj-nosuch", query=""), "delete-listrange", {"objnames": ["a"]}, None, 404, "mobj-nosuch"),
        # onto itself
        ("POST", u, "copy-bck", {}, {"bck_to": "ais/@#/mobj-bad/"}, 400, "itself"),
        ("POST", u, "move-bck", None, {"bck_to": "ais/@#/mobj-bad/"}, 400, "itself"),
        ("POST", u, "copy-listrange", {"objnames": ["x-1"], "tobck": {"name": "mobj-bad", "provider": "ais"}}, None, 400, "itself"),
        # move onto an existing bucket
        ("POST", u, "move-bck", None, {"bck_to": "ais/@#/mobj-bad-other/"}, 409, "mobj-bad-other"),
        # no destination
        ("POST", u, "copy-bck", {}, None, 400, "bck_to"),
        # templates too large, malformed
        ("DELETE", u, "delete-listrange", {"template": "x-{0..99999999}"}, None, 400, str(TEMPLATE_NAMES_MAX)),
        ("DELETE", u, "delete-listrange", {"template": "x-{0..999}-{0..9999}"}, None, 400, str(TEMPLATE_NAMES_MAX)),
        ("DELETE", u, "delete-listrange", {"template": "x-{5..1}"}, None, 400, "x-{5..1}"),
        ("DELETE", u, "delete-listrange", {"template": "x-{1..3"}, None, 400, "x-{1..3"),
        ("DELETE", u, "delete-listrange", {"template": "x-{1..3..0}"}, None, 400, "step"),
        ("POST", u, "copy-listrange", {"template": "x-{a..b}", "tobck": {"name": "mobj-bad-other"}}, None, 400, "x-{a..b}"),
        # archive: formats, name, destination
        ("PUT", u, "archive", {"objnames": ["x-1"], "archname": "a.bin"}, None, 400, "a.bin"),
        ("PUT", u, "archive", {"objnames": ["x-1"]}, None, 400, "archname"),
        ("PUT", u, "archive", {"objnames": ["x-1"], "archname": "a.tar", "tobck": {"name": "mobj-nosuch2"}}, None, 404, "mobj-nosuch2"),
        # remote-only and unsupported options, by name
        ("DELETE", u, "evict-listrange", {"objnames": ["x-1"]}, None, 400, "not a remote bucket"),
        ("POST", u, "prefetch-listrange", {"objnames": ["x-1"]}, None, 400, "not a remote bucket"),
        ("POST", u, "copy-listrange", {"objnames": ["x-1"], "synchronize": True, "tobck": {"name": "mobj-bad-other"}}, None, 501, "synchronize"),
        ("POST", u, "copy-bck", {}, {"bck_to": "s3/@#/mobj-x/"}, 501, "s3"),
    ]
    for method, url, action, value, params, code, needle in cases:
        r = raw(method, url, action, value, params)
        assert r.status_code == code and needle in r.text, \
            f"{method} {action} {value} {params}: {r.status_code} {r.text[:300]}"
    assert state(cl) == before


# ---- one all-in-one node -----------------------------------------------------------------------


def test_single_node_smoke(node):
    ep = node.endpoint
    cl = make_client(ep)
    b = cl.bucket("one").create(exist_ok=True)
    names = [f"k/{i:03d}" for i in range(60)]
    put_all(b, names)
    xid = b.objects(obj_template="k/{000..059..3}").delete()
    wait_job(cl, xid)
    left = [n for i, n in enumerate(names) if i % 3]
    assert names_in(b) == left
    for xid in b.objects(obj_names=left[:4]).archive("t.tar"):
        wait_job(cl, xid)
    assert shard_members(ep, "one", "t.tar") == {n: data_of(n) for n in left[:4]}
    xid = b.copy(cl.bucket("one-copy"))
    wait_job(cl, xid)
    assert names_in(cl.bucket("one-copy")) == sorted(left + ["t.tar"])
    xid = b.rename("one-moved")
    wait_job(cl, xid)
    assert "one" not in bucket_names(cl)
    assert verify_all(ep, "one-moved", left) == []
