"""The persisted shard index (issue 16; engine::shardidx, cluster::shardidx, docs/shard-index.md),
on one node and in a 1-proxy/2-target cluster:

* `index-shard` (POST /v1/buckets/B with AIS's IndexShardMsg) starts one job, waited on through
  the SDK's `Job.wait`; it counts the shards it indexed, writes a sidecar under `%si` for every
  `.tar` with the prefix and none for other objects; the sidecars decode as docs/shard-index.md
  says and their offsets are the members' bytes;
* after a restart an `archpath` read loads the sidecar (`shard_index_load_count`) instead of
  scanning (`shard_index_build_count` unchanged);
* an overwritten shard's sidecar is stale and never used: the read returns the new bytes;
  a damaged sidecar is rejected, the read is still right and the sidecar is rewritten;
  deleting the shard removes its sidecar; a first read of a tar or zip no job saw writes one;
* `summary-shard` (202 + ID, then polled) counts tars, indexed shards, members, stale and damaged
  indexes, numbers as strings;
* bad input: a missing bucket 404, unknown fields and wrong types 400, num-workers > 1 501.
"""

import gzip
import io
import struct
import tarfile
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import xxhash

from aisutil import bck_url, det_bytes, make_client, obj_url
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(300)

T = 60
JOB_WAIT_S = 60
SHARDS = 6


def make_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_700_000_000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def samples(tag, n=12):
    files = {}
    for i in range(n):
        files[f"{i:06d}.jpg"] = det_bytes(f"{tag}/{i}.jpg", 300 + (i * 1733) % 7000)
        files[f"{i:06d}.cls"] = str(i % 10).encode()
    return files


def put(ep, bucket, name, data):
    r = requests.put(obj_url(ep, bucket, name), data=data, timeout=T, allow_redirects=True)
    assert r.status_code == 200, r.text


def get_arch(ep, bucket, shard, member):
    r = requests.get(obj_url(ep, bucket, shard) + "&archpath=" + quote(member), timeout=T)
    assert r.status_code == 200, (shard, member, r.status_code, r.text[:300])
    return r.content


def bck_post(ep, bucket, value):
    return requests.post(bck_url(ep, bucket), json={"action": "index-shard", "name": "", "value": value},
                         timeout=T)


def index_shards(ep, bucket, value):
    r = bck_post(ep, bucket, value)
    assert r.status_code == 200, r.text
    xid = r.text.strip()
    assert xid
    res = make_client(ep).job(job_id=xid).wait(timeout=JOB_WAIT_S, verbose=False)
    assert res.success, f"job {xid}: {res}"
    return xid


def job_objects(ep, xid):
    r = requests.get(f"{ep}/v1/cluster", params={"what": "qryxstats"}, json={"ID": xid}, timeout=T)
    assert r.status_code == 200, r.text
    objs = errs = 0
    for snaps in r.json().values():
        for s in snaps:
            if s["id"] == xid:
                assert s["kind"] == "index-shard"
                objs += s["stats"]["loc-objs"]
                errs += s["errors"]
    return objs, errs


def sidecars(mountpaths, bucket):
    """object name -> sidecar path, over the given mountpaths."""
    out = {}
    for mp in mountpaths:
        d = Path(mp) / "@ais" / bucket / "%si"
        if d.is_dir():
            for p in d.rglob("*"):
                if p.is_file():
                    name = p.name.replace("%2F", "/").replace("%2E", ".").replace("%25", "%")
                    assert name not in out, f"two sidecars of {name}"
                    out[name] = p
    return out


def decode_sidecar(raw):
    """docs/shard-index.md, version 1: (header fields, [(name, offset, size)])."""
    body, trailer = raw[:-8], raw[-8:]
    assert struct.unpack("<Q", trailer)[0] == xxhash.xxh64_intdigest(body, seed=0)
    magic, ver, fmt, _res, count, size, mtime, end = struct.unpack_from("<8sHBBIQqQ", body, 0)
    assert (magic, ver, fmt) == (b"AISSHIDX", 1, 1)
    at = 40
    strs = []
    for _ in range(4):
        (n,) = struct.unpack_from("<H", body, at)
        strs.append(body[at + 2:at + 2 + n].decode())
        at += 2 + n
    members = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", body, at)
        name = body[at + 4:at + 4 + n].decode()
        at += 4 + n
        off, msize, csize, method, crc = struct.unpack_from("<QQQHI", body, at)
        at += 30
        assert (csize, method, crc) == (msize, 0, 0)
        members.append((name, off, msize))
    assert at == len(body)
    return {"object": strs[0], "cksum_type": strs[1], "cksum": strs[2], "version": strs[3],
            "size": size, "end": end}, members


def metric(ep, suffix):
    text = requests.get(f"{ep}/metrics", timeout=T).text
    vals = [float(ln.split()[-1]) for ln in text.splitlines()
            if not ln.startswith("#") and ln.split("{")[0].split(" ")[0].endswith(suffix)]
    assert vals, f"no {suffix} in /metrics"
    return sum(vals)


def shard_summary(ep, bucket, prefix=""):
    body = {"action": "summary-shard", "name": "", "value": {"prefix": prefix}}
    r = requests.get(bck_url(ep, bucket), json=body, timeout=T)
    assert r.status_code == 202, r.text
    uuid = r.text.strip()
    body["value"]["uuid"] = uuid
    deadline = time.monotonic() + T
    while time.monotonic() < deadline:
        r = requests.get(bck_url(ep, bucket), json=body, timeout=T)
        if r.status_code == 200:
            out = r.json()
            assert all(isinstance(v, str) for v in out.values()), out
            return {k: int(v) for k, v in out.items()}
        assert r.status_code == 202, r.text
        time.sleep(0.05)
    raise AssertionError(f"summary {uuid} did not finish in {T} s")


def load_bucket(ep, bucket):
    """SHARDS tars under shards/, non-tars beside them, a tar outside the prefix."""
    shards = {}
    for i in range(SHARDS):
        files = samples(f"{bucket}/{i}")
        name = f"shards/s-{i:03d}.tar"
        put(ep, bucket, name, make_tar(files))
        shards[name] = files
    put(ep, bucket, "shards/plain.bin", det_bytes("plain", 4000))
    put(ep, bucket, "shards/notes.txt", b"not a shard")
    put(ep, bucket, "other/o.tar", make_tar(samples("other")))
    return shards


def check_bad_input(ep, bucket):
    r = bck_post(ep, "no-such-bucket", {"prefix": "shards/"})
    assert r.status_code == 404, r.text
    for value, words in [({"prefix": 5}, ["prefix"]), ({"skip-verify": "yes"}, ["skip-verify"]),
                         ({"prefx": "a"}, ["prefx"]), ({"num-workers": -3}, ["num-workers"]),
                         ("shards/", ["index-shard"])]:
        r = bck_post(ep, bucket, value)
        assert r.status_code == 400, (value, r.status_code, r.text)
        assert all(w in r.text for w in words), (value, r.text)
    r = bck_post(ep, bucket, {"num-workers": 8})
    assert r.status_code == 501 and "num-workers" in r.text, r.text
    body = {"action": "summary-shard", "name": "", "value": {"prefix": 1}}
    r = requests.get(bck_url(ep, bucket), json=body, timeout=T)
    assert r.status_code == 400, r.text
    body["value"] = {}
    r = requests.get(bck_url(ep, "no-such-bucket"), json=body, timeout=T)
    assert r.status_code == 404, r.text


def test_index_job_restart_stale_corrupt_delete_on_one_node(node_factory):
    node = node_factory()
    ep, bucket = node.endpoint, "shidx"
    make_client(ep).bucket(bucket).create(exist_ok=True)
    shards = load_bucket(ep, bucket)
    check_bad_input(ep, bucket)

    xid = index_shards(ep, bucket, {"prefix": "shards/"})
    assert job_objects(ep, xid) == (SHARDS, 0)
    side = sidecars(node.mountpaths, bucket)
    assert sorted(side) == sorted(shards), sorted(side)
    # The format as documented: each entry's offset holds the member's bytes.
    for name, files in shards.items():
        hdr, members = decode_sidecar(side[name].read_bytes())
        assert hdr["object"] == name and hdr["cksum_type"] == "xxhash2"
        raw = requests.get(obj_url(ep, bucket, name), timeout=T).content
        assert hdr["size"] == len(raw)
        assert {m: raw[o:o + s] for m, o, s in members} == files
    # Nothing left to do: a second run keeps every index (verified), a skip-verify run too.
    assert job_objects(ep, index_shards(ep, bucket, {"prefix": "shards/"}))[0] == 0
    assert job_objects(ep, index_shards(ep, bucket, {"prefix": "shards/", "skip-verify": True}))[0] == 0
    s = shard_summary(ep, bucket, "shards/")
    assert s == {"tar-objs": SHARDS, "tar-size": s["tar-size"], "shards": SHARDS, "shard-size": s["tar-size"],
                 "archived-objs": SHARDS * 24, "stale-indexes": 0, "invalid-indexes": 0}, s
    assert shard_summary(ep, bucket)["tar-objs"] == SHARDS + 1  # other/o.tar, not indexed

    # Restart: the first archpath read loads the sidecar, no scan.
    node.restart()
    built0 = metric(ep, "shard_index_build_count")
    assert metric(ep, "shard_index_load_count") == 0
    s0 = "shards/s-000.tar"
    for member in ("000003.jpg", "000007.cls"):
        assert get_arch(ep, bucket, s0, member) == shards[s0][member]
    assert metric(ep, "shard_index_load_count") == 1
    assert metric(ep, "shard_index_build_count") == built0

    # Overwrite a shard: same member names, new bytes; the stale sidecar is not used.
    s1 = "shards/s-001.tar"
    assert get_arch(ep, bucket, s1, "000002.jpg") == shards[s1]["000002.jpg"]
    new = samples("overwritten", n=14)
    put(ep, bucket, s1, make_tar(new))
    assert shard_summary(ep, bucket, "shards/")["stale-indexes"] == 1
    rejected0 = metric(ep, "shard_index_rejected_count")
    for member in ("000002.jpg", "000013.jpg"):
        assert get_arch(ep, bucket, s1, member) == new[member]
    assert metric(ep, "shard_index_rejected_count") == rejected0 + 1
    hdr, members = decode_sidecar(sidecars(node.mountpaths, bucket)[s1].read_bytes())
    assert len(members) == 28 and hdr["size"] == len(make_tar(new))

    # Damage a sidecar (one flipped byte): rejected, the read is right, the sidecar rewritten.
    s2 = "shards/s-002.tar"
    p = sidecars(node.mountpaths, bucket)[s2]
    good = p.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x40
    p.write_bytes(bytes(bad))
    assert shard_summary(ep, bucket, "shards/")["invalid-indexes"] == 1
    assert get_arch(ep, bucket, s2, "000005.jpg") == shards[s2]["000005.jpg"]
    assert metric(ep, "shard_index_rejected_count") == rejected0 + 2
    assert p.read_bytes() == good
    # A damaged sidecar is rebuilt by the job as well.
    s3 = "shards/s-003.tar"
    p3 = sidecars(node.mountpaths, bucket)[s3]
    p3.write_bytes(p3.read_bytes()[:100])
    assert job_objects(ep, index_shards(ep, bucket, {"prefix": "shards/s-003"}))[0] == 1
    decode_sidecar(p3.read_bytes())
    s = shard_summary(ep, bucket, "shards/")
    assert (s["shards"], s["stale-indexes"], s["invalid-indexes"]) == (SHARDS, 0, 0), s

    # Delete: the sidecar goes with the object.
    r = requests.delete(obj_url(ep, bucket, s3), timeout=T)
    assert r.status_code == 200, r.text
    assert s3 not in sidecars(node.mountpaths, bucket)
    assert sorted(sidecars(node.mountpaths, bucket)) == sorted(set(shards) - {s3})
    # Sidecars are never listed as objects.
    names = [e.name for e in make_client(ep).bucket(bucket).list_all_objects()]
    assert sorted(names) == sorted(set(shards) - {s3} | {"shards/plain.bin", "shards/notes.txt", "other/o.tar"})

    # Shards no job saw: the first read writes the sidecar of a tar and of a zip; a compressed
    # tar is indexed in memory only.
    files = samples("lazy")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    lazy = {"lazy/l.tar": make_tar(files), "lazy/z.zip": zbuf.getvalue(),
            "lazy/c.tgz": gzip.compress(make_tar(files))}
    for name, data in lazy.items():
        put(ep, bucket, name, data)
        assert get_arch(ep, bucket, name, "000009.jpg") == files["000009.jpg"]
    side = sidecars(node.mountpaths, bucket)
    assert "lazy/l.tar" in side and "lazy/z.zip" in side and "lazy/c.tgz" not in side
    assert side["lazy/z.zip"].read_bytes()[:11] == b"AISSHIDX\x01\x00\x02"
    decode_sidecar(side["lazy/l.tar"].read_bytes())


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("shidx"), proxies=1, targets=2,
                mountpaths=2, target_cores=2)
    try:
        c.start()
        yield c
    finally:
        c.close()


def test_index_job_across_targets(cluster):
    ep, bucket = cluster.primary.endpoint, "shidx-clu"
    make_client(ep).bucket(bucket).create(exist_ok=True)
    shards = load_bucket(ep, bucket)
    check_bad_input(ep, bucket)
    xid = index_shards(ep, bucket, {"prefix": "shards/", "num-workers": 0})
    assert job_objects(ep, xid) == (SHARDS, 0)
    per_target = [sidecars(t.mountpaths, bucket) for t in cluster.targets]
    union = {}
    for side in per_target:
        assert not set(side) & set(union), "a shard indexed on two targets"
        union.update(side)
    assert sorted(union) == sorted(shards)
    s = shard_summary(ep, bucket, "shards/")
    assert (s["tar-objs"], s["shards"], s["archived-objs"]) == (SHARDS, SHARDS, SHARDS * 24), s
    for name, files in shards.items():
        assert get_arch(ep, bucket, name, "000004.jpg") == files["000004.jpg"]
    loads = sum(metric(t.endpoint, "shard_index_load_count") for t in cluster.targets)
    assert loads == SHARDS
