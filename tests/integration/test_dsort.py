"""dSort (issue 16): the SDK's Dsort/DsortFramework reshards WebDataset-style tar shards across a
1-proxy/3-target cluster; every sample is present exactly once, in the requested order, with
its exact bytes."""

import gzip
import io
import os
import random
import tarfile
import zipfile

import lz4.frame
import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.dsort import DsortFramework, DsortShardsGroup
from aistore.sdk.dsort.framework import DsortAlgorithm
from aistore.sdk.multiobj import ObjectRange

from clusterutil import Cluster

TIMEOUT = 30
SHARDS = 100
PER_SHARD = 10


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("dsort"), proxies=1, targets=3, mountpaths=1,
                target_cores=1)
    c.start()
    try:
        yield c
    finally:
        c.close()


def make_shard(samples):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, members in samples:
            for ext, data in members:
                ti = tarfile.TarInfo(f"{name}{ext}")
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def dataset(cluster):
    client = Client(cluster.primary.endpoint)
    src = client.bucket("ds-in").create(exist_ok=True)
    rnd = random.Random(7)
    samples = {}
    order = list(range(SHARDS * PER_SHARD))
    rnd.shuffle(order)  # records are spread over shards out of name order
    for s in range(SHARDS):
        batch = []
        for i in order[s * PER_SHARD:(s + 1) * PER_SHARD]:
            name = f"sample-{i:05d}"
            members = [(".jpg", os.urandom(rnd.randint(100, 3000))), (".cls", str(rnd.randint(0, 999)).encode())]
            samples[name] = dict(members)
            batch.append((name, members))
        src.object(f"shard-{s:03d}.tar").get_writer().put_content(make_shard(batch))
    return client, samples


def framework(client, out_bck, algorithm, size="64KiB", fmt="out-{0000..9999}"):
    return DsortFramework(
        input_shards=DsortShardsGroup(bck=client.bucket("ds-in").as_model(), role="input",
                                      format=ObjectRange(prefix="shard-", min_index=0, max_index=SHARDS - 1,
                                                         pad_width=3, suffix=".tar"),
                                      extension=".tar"),
        output_shards=DsortShardsGroup(bck=client.bucket(out_bck).as_model(), role="output",
                                       format=ObjectRange.from_string(fmt),
                                       extension=".tar"),
        algorithm=algorithm,
        description=f"test {out_bck}",
        output_shard_size=size,
    )


def read_output(client, bucket):
    """Every output shard, in name order: [(shard, [(record, {ext: bytes})...])...]."""
    b = client.bucket(bucket)
    names = sorted(e.name for e in b.list_all_objects())
    out = []
    for n in names:
        data = b.object(n).get_reader().read_all()
        recs = []
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tf:
            for m in tf.getmembers():
                base, ext = m.name.split(".", 1)
                ext = "." + ext
                if not recs or recs[-1][0] != base:
                    recs.append((base, {}))
                recs[-1][1][ext] = tf.extractfile(m).read()
        out.append((n, recs))
    return out


def check_complete(samples, shards):
    seen = [r for _, recs in shards for r in recs]
    names = [n for n, _ in seen]
    assert len(names) == len(set(names)), "a record appears twice"
    assert set(names) == set(samples), f"missing {set(samples) - set(names)}, extra {set(names) - set(samples)}"
    for n, members in seen:
        assert members == samples[n], f"{n}: members differ"
    return names


def run(client, fw, timeout=120):
    ds = client.dsort()
    job_id = ds.start(fw)
    res = ds.wait(timeout=timeout, verbose=False)
    assert res.success, (res, ds.get_job_info())
    return job_id, ds


def test_alphanumeric_reshards_every_sample_once_in_order(dataset):
    client, samples = dataset
    client.bucket("ds-alpha").create(exist_ok=True)
    job_id, ds = run(client, framework(client, "ds-alpha", DsortAlgorithm(kind="alphanumeric")))
    shards = read_output(client, "ds-alpha")
    names = check_complete(samples, shards)
    assert names == sorted(names)
    # Output shards are of the requested size (the last may be smaller) and named in order.
    assert [s for s, _ in shards] == [f"out-{i:04d}.tar" for i in range(len(shards))]
    sizes = [sum(len(v) for _, m in recs for v in m.values()) for _, recs in shards]
    assert all(s >= 64 * 1024 for s in sizes[:-1]), sizes
    assert len(shards) < SHARDS  # a different size than the input's
    info = ds.get_job_info()
    assert set(info) == set(client.cluster().get_info().tmap), info.keys()
    assert sum(int(i.metrics.local_extraction.extracted_record_count) for i in info.values()) == len(samples)
    assert sum(int(i.metrics.shard_creation.created_count) for i in info.values()) == len(shards)


def test_content_key_and_decreasing_order(dataset):
    client, samples = dataset
    client.bucket("ds-content").create(exist_ok=True)
    run(client, framework(client, "ds-content",
                          DsortAlgorithm(kind="content", extension=".cls", content_key_type="int", decreasing=True),
                          size="128KiB"))
    shards = read_output(client, "ds-content")
    names = check_complete(samples, shards)
    keys = [int(samples[n][".cls"]) for n in names]
    assert keys == sorted(keys, reverse=True), keys[:20]


def test_shuffle_with_a_seed_is_a_permutation(dataset):
    client, samples = dataset
    client.bucket("ds-shuf").create(exist_ok=True)
    run(client, framework(client, "ds-shuf", DsortAlgorithm(kind="shuffle", seed="42"), size="0"))
    shards = read_output(client, "ds-shuf")
    assert len(shards) == 1  # size 0: one output shard
    names = check_complete(samples, shards)
    assert names != sorted(names)


def test_bad_specs_are_refused_and_change_nothing(dataset, cluster):
    client, _ = dataset
    client.bucket("ds-bad").create(exist_ok=True)
    p = cluster.primary.endpoint
    good = framework(client, "ds-bad", DsortAlgorithm(kind="alphanumeric")).to_spec()
    cases = [
        ({"output_format": "out-{9..1}"}, 400, "greater than"),
        ({"input_extension": ".rar"}, 400, "expecting .tar"),
        ({"output_extension": ".rar"}, 400, "expecting .tar"),
        ({"max_mem_usage": "80%"}, 501, "max_mem_usage"),
        ({"ekm_file": "http://x/ekm.json"}, 501, "ekm_file"),
        ({"algorithm": {"kind": "content", "extension": ".cls", "content_key_type": "complex"}}, 400, "content_key_type"),
        ({"input_bck": {"name": "no-such-bucket", "provider": "ais"}}, 404, "no-such-bucket"),
        ({"input_format": {"template": "s-{0..9999999}"}}, 400, "more than"),
    ]
    for patch, status, text in cases:
        spec = dict(good, **patch)
        r = requests.post(f"{p}/v1/sort", json=spec, timeout=TIMEOUT)
        assert r.status_code == status and text in r.text, (patch, r.status_code, r.text)
    assert list(client.bucket("ds-bad").list_all_objects()) == []
    r = requests.get(f"{p}/v1/sort", params={"uuid": "srt-nope"}, timeout=TIMEOUT)
    assert r.status_code == 404
    r = requests.get(f"{p}/v1/sort", params={"regex": "x"}, timeout=TIMEOUT)
    assert r.status_code == 501 and "regex" in r.text
    # A content sort whose records lack the key member fails the job, with the reason.
    spec = dict(good, algorithm={"kind": "content", "extension": ".txt", "content_key_type": "int"})
    r = requests.post(f"{p}/v1/sort", json=spec, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    ds = client.dsort(r.text)
    res = ds.wait(timeout=60, verbose=False)
    assert not res.success and ".txt" in (res.error or ""), res
    assert list(client.bucket("ds-bad").list_all_objects()) == []
    # The list shows the jobs; a finished one can be removed.
    jobs = requests.get(f"{p}/v1/sort", timeout=TIMEOUT).json()
    assert any(j["id"] == r.text for j in jobs)
    assert requests.delete(f"{p}/v1/sort", params={"uuid": r.text}, timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{p}/v1/sort", params={"uuid": r.text}, timeout=TIMEOUT).status_code == 404


def output_members(data, ext):
    """[(name, bytes)] of an output shard, read by Python's own libraries."""
    if ext == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            return [(i.filename, zf.read(i)) for i in zf.infolist()]
    raw = lz4.frame.decompress(data) if ext == ".tar.lz4" else gzip.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]


@pytest.mark.parametrize("out_ext", [".tgz", ".zip", ".tar.lz4"])
def test_tgz_and_zip_input_into_compressed_output(dataset, out_ext):
    """Compressed input shards (members read through archpath on their owner) resharded into
    .tgz, .zip and .tar.lz4 output shards."""
    client, _ = dataset
    out_bck = "ds-gz-out" + out_ext.replace(".", "-")
    src = client.bucket("ds-gz").create(exist_ok=True)
    rnd = random.Random(11)
    samples = {}
    for s in range(8):
        batch = []
        for k in range(5):
            name = f"gz-{s * 5 + k:04d}"
            members = [(".txt", os.urandom(rnd.randint(10, 500))), (".cls", str(rnd.randint(0, 9)).encode())]
            samples[name] = dict(members)
            batch.append((name, members))
        tar = make_shard(batch)
        if s % 2:
            src.object(f"in-{s}.tgz").get_writer().put_content(gzip.compress(tar))
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for n, members in batch:
                    for ext, data in members:
                        zf.writestr(n + ext, data)
            src.object(f"in-{s}.zip").get_writer().put_content(buf.getvalue())
    client.bucket(out_bck).create(exist_ok=True)
    spec = {
        "input_bck": {"name": "ds-gz", "provider": "ais"},
        "input_format": {"objnames": [f"in-{s}.{'tgz' if s % 2 else 'zip'}" for s in range(8)]},
        "input_extension": ".tgz",
        "output_bck": {"name": out_bck, "provider": "ais"},
        "output_format": "res-{00..99}",
        "output_extension": out_ext,
        "output_shard_size": "2KiB",
        "algorithm": {"kind": "alphanumeric", "decreasing": False, "seed": ""},
    }
    ds = client.dsort()
    import json as _json
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        _json.dump(spec, f)
    ds.start(f.name)
    os.unlink(f.name)
    res = ds.wait(timeout=120, verbose=False)
    assert res.success, (res, ds.get_job_info())
    b = client.bucket(out_bck)
    names = sorted(e.name for e in b.list_all_objects())
    assert names and all(n.endswith(out_ext) for n in names), names
    seen = []
    for n in names:
        for name, data in output_members(b.object(n).get_reader().read_all(), out_ext):
            base, ext = name.split(".", 1)
            assert data == samples[base]["." + ext], name
            if not seen or seen[-1] != base:
                seen.append(base)
    assert seen == sorted(samples), seen


def test_single_node_sdk_range_without_extension_into_a_new_bucket(node):
    """On an all-in-one node (proxy and target in one process), as the SDK's DsortFramework
    sends a range: the template names have no extension (`shard-{000..019}` with
    `input_extension` .tar, which AIS appends), and the output bucket does not exist (AIS creates
    it with the input bucket's props). Before, the node extracted nothing (it took its proxy ID
    for the target's and owned no shard) and still reported success."""
    client = Client(node.endpoint)
    src = client.bucket("one-in").create(exist_ok=True)
    src.make_request("PATCH", "set-bprops", value={"checksum": {"type": "md5"}})
    rnd = random.Random(11)
    samples = {}
    for s in range(20):
        batch = []
        for i in range(s * 5, s * 5 + 5):
            name = f"sample-{i:04d}"
            members = [(".bin", rnd.randbytes(rnd.randint(10, 2000)))]
            samples[name] = dict(members)
            batch.append((name, members))
        src.object(f"shard-{s:03d}.tar").get_writer().put_content(make_shard(batch))
    src.object("shard-000.zip").get_writer().put_content(b"not an input: another extension")
    fw = DsortFramework(
        input_shards=DsortShardsGroup(bck=src.as_model(), role="input",
                                      format=ObjectRange(prefix="shard-", min_index=0, max_index=19, pad_width=3),
                                      extension=".tar"),
        output_shards=DsortShardsGroup(bck=client.bucket("one-out").as_model(), role="output",
                                       format=ObjectRange.from_string("out-{00..99}"), extension=".tar"),
        algorithm=DsortAlgorithm(kind="alphanumeric"),
        description="one node",
        output_shard_size="8KiB",
    )
    _, ds = run(client, fw)
    shards = read_output(client, "one-out")
    names = check_complete(samples, shards)
    assert names == sorted(names)
    assert all(s.endswith(".tar") and not s.endswith(".tar.tar") for s, _ in shards), [s for s, _ in shards]
    out_props = client.bucket("one-out").head()  # the input's props, as AIS creates it
    assert '"md5"' in out_props.get("Ais-Bucket-Props", ""), out_props
    info = ds.get_job_info()
    assert sum(int(i.metrics.local_extraction.extracted_record_count) for i in info.values()) == len(samples)
    assert sum(int(i.metrics.local_extraction.extracted_count) for i in info.values()) == 20
    assert all(not i.metrics.shard_creation.running and i.metrics.shard_creation.finished for i in info.values())
