"""Blob downloads (issue 17 item 3): one large object of a remote bucket read from the backend
(`moto_server`) as parallel ranged GETs, as AIS's blob downloader does, through the three ways
AIS offers: the `blob-download` job (the SDK's `Object.blob_download`), a GET with the
`Ais-Blob-*` headers (the SDK's `get_reader(blob_download_config=...)`) and prefetch with
`blob-threshold`.

Backend reads are counted in moto's request log: a ranged GET is answered 206, a whole-object
GET 200.

* the job reads a 64 MiB object as 8 MiB ranges with 4 workers (4 in flight at once, seen by
  a slow backend), stores it byte-identical,
  shows its progress (`loc-bytes` of `in-bytes`) and is waited on with the SDK's `Job`;
* a job aborted mid-way, or whose object changes on the backend mid-way (ETag), stores
  nothing and reads no more;
* prefetch with a threshold: large objects by ranges, small ones by one plain GET each;
* bad values, a missing object, an `ais://` bucket: refused, nothing stored or started.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from aisutil import det_bytes, make_client
from conftest import AisNode, _start_or_fail
from test_remote_s3 import MOTO_LOGS, T, aws_gets, cache, cached_names, moto, s3, url  # noqa: F401

pytestmark = pytest.mark.timeout(300)

MiB = 1 << 20


def backend_gets(moto_ep, bucket, key):
    """(ranged, whole) GETs of bucket/key that moto answered."""
    req = f'"GET /{bucket}/{key} HTTP/1.1"'
    ranged = whole = 0
    for line in MOTO_LOGS[moto_ep].read_text(errors="replace").splitlines():
        if req in line:
            status = line.split(req, 1)[1].split()[0]
            ranged += status == "206"
            whole += status == "200"
    return ranged, whole


def wait_gets(moto_ep, bucket, key, want, timeout=10):
    """Poll moto's log until it shows `want` (ranged, whole) GETs of bucket/key (log lines
    are written after each response)."""
    deadline = time.monotonic() + timeout
    while True:
        got = backend_gets(moto_ep, bucket, key)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def start_blob(node, bucket, obj, value, provider="aws"):
    return requests.post(f"{node.endpoint}/v1/objects/{bucket}?provider={provider}",
                         json={"action": "blob-download", "name": obj, "value": value}, timeout=T)


def snaps(node, job_id):
    r = requests.get(f"{node.endpoint}/v1/cluster?what=qryxstats", json={"ID": job_id}, timeout=T)
    assert r.status_code == 200, r.text
    return [s for v in r.json().values() for s in v]


def blob_jobs(node, bucket):
    r = requests.get(f"{node.endpoint}/v1/cluster?what=qryxstats", json={"Kind": "blob-download"}, timeout=T)
    assert r.status_code == 200, r.text
    return [snap for v in r.json().values() for snap in v if (snap.get("bck") or {}).get("name") == bucket]


def wait_progress(node, job_id, timeout=30):
    """Poll until the job has stored some bytes (and is still running); its snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        (s,) = snaps(node, job_id)
        if s["stats"]["loc-bytes"] > 0 or s["is_idle"]:
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.02)


def wait_finished(node, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        (s,) = snaps(node, job_id)
        if s["is_idle"]:
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.05)


def test_blob_download_job_reads_ranges_and_is_waited_on(cache, s3, moto):
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="bl1")
    data = det_bytes("bl1/big", 64 * MiB + 123)
    s3.put_object(Bucket="bl1", Key="big", Body=data)
    client = make_client(cache.endpoint)
    obj = client.bucket("bl1", provider=Provider.AMAZON).object("big")
    before = aws_gets(cache)
    job_id = obj.blob_download(chunk_size=8 * MiB, num_workers=4)
    assert job_id, "a job ID"
    res = client.job(job_id=job_id, job_kind="blob-download").wait(timeout=120, verbose=False)
    assert res.success, res
    (s,) = client.job(job_id=job_id).get_details().list_snapshots()
    assert s.kind == "blob-download" and s.bucket.name == "bl1" and s.bucket.provider == "aws", s
    assert (s.stats.objects, s.stats.bytes, s.stats.in_bytes) == (1, len(data), len(data)), s.stats
    # Nine ranges of 8 MiB (the last one 123 bytes), no whole-object GET; counted as one
    # backend GET of the object (AIS's aws.get.n).
    assert wait_gets(moto, "bl1", "big", (9, 0)) == (9, 0)
    assert aws_gets(cache) - before == 1
    assert cached_names(cache, "bl1") == ["big"]
    assert obj.get_reader().read_all() == data
    assert backend_gets(moto, "bl1", "big") == (9, 0)  # served from the cache
    # Cached: nothing to do (no job ID), as AIS.
    assert obj.blob_download(chunk_size=8 * MiB, num_workers=4) == ""


def test_get_with_blob_download_config_streams_the_object(cache, s3, moto):
    from aistore.sdk.blob_download_config import BlobDownloadConfig
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="bl2")
    data = det_bytes("bl2/big", 20 * MiB + 7)
    s3.put_object(Bucket="bl2", Key="big", Body=data)
    small = det_bytes("bl2/small", 300_000)
    s3.put_object(Bucket="bl2", Key="small", Body=small)
    b = make_client(cache.endpoint).bucket("bl2", provider=Provider.AMAZON)
    cfg = BlobDownloadConfig(chunk_size="4MiB", num_workers="3")
    assert b.object("big").get_reader(blob_download_config=cfg).read_all() == data
    assert wait_gets(moto, "bl2", "big", (6, 0)) == (6, 0)
    (job,) = blob_jobs(cache, "bl2")
    assert job["is_idle"] and not job["aborted"] and job["stats"]["loc-bytes"] == len(data), job
    # Cached now: a plain GET, no backend read.
    assert b.object("big").get_reader().read_all() == data
    assert backend_gets(moto, "bl2", "big") == (6, 0)
    # Below Ais-Blob-Threshold: one plain cold GET, no job.
    r = requests.get(url(cache.endpoint, "bl2", "small"), headers={"Ais-Blob-Threshold": str(MiB)}, timeout=T)
    assert r.status_code == 200 and r.content == small
    assert wait_gets(moto, "bl2", "small", (0, 1)) == (0, 1)
    assert len(blob_jobs(cache, "bl2")) == 1


def test_abort_leaves_nothing(cache, s3, moto):
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="bl3")
    data = det_bytes("bl3/big", 16 * MiB)
    s3.put_object(Bucket="bl3", Key="big", Body=data)
    client = make_client(cache.endpoint)
    # Smallest chunks, one at a time: 512 ranged GETs, long enough to stop it mid-way.
    slow = {"chunk-size": 32 * 1024, "num-workers": -1}
    r = start_blob(cache, "bl3", "big", slow)
    assert r.status_code == 200 and r.text, r.text
    job_id = r.text
    s = wait_progress(cache, job_id)
    assert not s["is_idle"], "finished before it could be aborted"
    client.job(job_id=job_id, job_kind="blob-download").abort()
    res = client.job(job_id=job_id, job_kind="blob-download").wait(timeout=60, verbose=False)
    assert not res.success
    s = wait_finished(cache, job_id)
    assert s["aborted"] and s["stats"]["loc-objs"] == 0, s
    assert cached_names(cache, "bl3") == []
    # No more reads after the abort (moto logs a request when it has answered it: the one
    # cut short by the abort may show up a moment later).
    reads, deadline = backend_gets(moto, "bl3", "big"), time.monotonic() + 10
    while True:
        time.sleep(0.5)
        now = backend_gets(moto, "bl3", "big")
        if now == reads or time.monotonic() > deadline:
            break
        reads = now
    assert now == reads and 0 < reads[0] < 512 and reads[1] == 0, (reads, now)
    # Work files are gone too.
    leftovers = [p for mp in cache.mountpaths for p in Path(mp).rglob("*")
                 if p.is_file() and "%wk" in p.parts and "bl3" in p.parts]
    assert leftovers == [], leftovers


def test_prefetch_with_blob_threshold(cache, s3, moto):
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="bl4")
    data = {f"p-{i}": det_bytes(f"bl4/{i}", 100_000 + i) for i in range(4)}
    data.update({f"p-{i}": det_bytes(f"bl4/{i}", 9 * MiB + i) for i in range(4, 6)})
    for k, v in data.items():
        s3.put_object(Bucket="bl4", Key=k, Body=v)
    client = make_client(cache.endpoint)
    b = client.bucket("bl4", provider=Provider.AMAZON)
    job_id = b.objects(obj_template="p-{0..5}").prefetch(blob_threshold=2 * MiB)
    assert client.job(job_id=job_id).wait(timeout=120, verbose=False).success
    assert cached_names(cache, "bl4") == sorted(data)
    # At or above the threshold: three 4 MiB ranges (the default chunk) each, as a
    # blob-download job; below it: one plain GET each.
    for i in range(6):
        want = (3, 0) if i >= 4 else (0, 1)
        assert wait_gets(moto, "bl4", f"p-{i}", want) == want, i
    jobs = blob_jobs(cache, "bl4")
    assert len(jobs) == 2 and all(j["is_idle"] and not j["aborted"] for j in jobs), jobs
    for k, v in data.items():
        assert b.object(k).get_reader().read_all() == v, k


def test_bad_requests_change_nothing(cache, s3, moto):
    s3.create_bucket(Bucket="bl5")
    s3.put_object(Bucket="bl5", Key="o", Body=det_bytes("bl5/o", MiB))
    for value, field in [({"num-workers": -5}, "num-workers"), ({"num-workers": 129}, "num-workers"),
                         ({"chunk-size": 1000}, "chunk-size"), ({"chunk-size": 64 * MiB}, "chunk-size"),
                         ({"chunk-size": -1}, "chunk-size"), ({"full-size": 5}, "full-size")]:
        r = start_blob(cache, "bl5", "o", value)
        assert r.status_code == 400 and field in r.text, (value, r.status_code, r.text)
    r = start_blob(cache, "bl5", "", {})
    assert r.status_code == 400 and "name" in r.text, r.text
    r = start_blob(cache, "bl5", "missing", {})
    assert r.status_code == 404, (r.status_code, r.text)
    # GET with bad blob headers: 400 before anything is read.
    for hs in [{"Ais-Blob-Download": "true", "Ais-Blob-Workers": "-3"},
               {"Ais-Blob-Download": "true", "Ais-Blob-Chunk": "1k"},
               {"Ais-Blob-Threshold": "-1"}]:
        r = requests.get(url(cache.endpoint, "bl5", "o"), headers=hs, timeout=T)
        assert r.status_code == 400 and "lob" in r.text, (hs, r.status_code, r.text)
    # Prefetch with bad blob fields.
    for value, field in [({"blob-threshold": -1}, "blob-threshold"),
                         ({"blob-threshold": MiB, "blob-num-workers": -3}, "blob-num-workers"),
                         ({"blob-threshold": MiB, "blob-chunk-size": 1}, "blob-chunk-size")]:
        r = requests.post(url(cache.endpoint, "bl5"),
                          json={"action": "prefetch-listrange", "value": {"objnames": ["o"], **value}}, timeout=T)
        assert r.status_code == 400 and field in r.text, (value, r.status_code, r.text)
    assert cached_names(cache, "bl5") == []
    assert backend_gets(moto, "bl5", "o") == (0, 0)
    assert blob_jobs(cache, "bl5") == []
    # An ais:// bucket has no backend: refused as AIS (400), for the job and for a GET.
    make_client(cache.endpoint).bucket("bl5-ais").create(exist_ok=True)
    r = start_blob(cache, "bl5-ais", "o", {}, provider="ais")
    assert r.status_code == 400 and "expecting remote bucket" in r.text, r.text
    r = requests.get(url(cache.endpoint, "bl5-ais", "o", "provider=ais"), headers={"Ais-Blob-Download": "true"},
                     timeout=T)
    assert r.status_code == 400 and "local buckets" in r.text, r.text


class ChangingBackend(BaseHTTPRequestHandler):
    """A minimal S3 endpoint whose objects (but `slow`) change after their third ranged GET
    (new bytes, new ETag, same size). Object `honest` answers a stale `If-Match` with 412, as S3 does;
    object `liar` ignores `If-Match` (the blob downloader must notice the new ETag itself)."""

    protocol_version = "HTTP/1.1"
    SIZE = 4 * MiB
    gets = {}
    # Object `slow` never changes; each of its GETs takes a while, and the most GETs of it
    # in flight at once are counted.
    lock = threading.Lock()
    in_flight = 0
    max_in_flight = 0

    def log_message(self, *args):
        pass

    def _version(self, key):
        v = 2 if key != "slow" and self.gets.get(key, 0) >= 3 else 1
        return v, det_bytes(f"chg/{key}/{v}", self.SIZE), f'"etag-{key}-{v}"'

    def _head(self, status, length, etag, extra=()):
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def do_HEAD(self):
        parts = self.path.split("?")[0].strip("/").split("/", 1)
        if len(parts) == 1:
            return self._head(200, 0, None)  # the bucket
        _, data, etag = self._version(parts[1])
        self._head(200, len(data), etag)

    def do_GET(self):
        key = self.path.split("?")[0].strip("/").split("/", 1)[1]
        _, data, etag = self._version(key)
        want = self.headers.get("If-Match")
        self.gets[key] = self.gets.get(key, 0) + 1
        if key == "honest" and want and want != etag:
            body = b"<Error><Code>PreconditionFailed</Code><Message>changed</Message></Error>"
            self._head(412, len(body), None)
            self.wfile.write(body)
            return
        if key == "slow":
            cls = ChangingBackend
            with cls.lock:
                cls.in_flight += 1
                cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
            time.sleep(0.05)
            with cls.lock:
                cls.in_flight -= 1
        first, last = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
        last = min(last, len(data) - 1)
        self._head(206, last - first + 1, etag, [("Content-Range", f"bytes {first}-{last}/{len(data)}")])
        self.wfile.write(data[first:last + 1])


def test_parallel_ranges_and_an_object_changed_mid_way(aisnode_binary, tmp_path):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), ChangingBackend)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    n = AisNode(aisnode_binary, tmp_path / "chg", num_mountpaths=1)
    n.extra_env = {"S3_ENDPOINT": f"http://127.0.0.1:{srv.server_address[1]}", "AWS_ACCESS_KEY_ID": "a",
                   "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1"}
    _start_or_fail(n)
    try:
        for key in ("honest", "liar"):
            # 32 KiB chunks, one at a time: the object changes under the fourth.
            r = start_blob(n, "chg", key, {"chunk-size": 32 * 1024, "num-workers": -1})
            assert r.status_code == 200 and r.text, r.text
            s = wait_finished(n, r.text)
            assert s["aborted"] and "changed on the backend" in s["abort-err"], s
            assert ChangingBackend.gets[key] == 4, ChangingBackend.gets
        assert cached_names(n, "chg") == []
        # num-workers ranged GETs in flight at once: 16 chunks, 4 workers.
        r = start_blob(n, "chg", "slow", {"chunk-size": 256 * 1024, "num-workers": 4})
        assert r.status_code == 200 and r.text, r.text
        s = wait_finished(n, r.text)
        assert not s["aborted"] and s["stats"]["loc-objs"] == 1, s
        assert ChangingBackend.gets["slow"] == 16 and ChangingBackend.max_in_flight == 4, ChangingBackend.gets
        r = requests.get(url(n.endpoint, "chg", "slow"), timeout=T)
        assert r.status_code == 200 and r.content == det_bytes("chg/slow/1", ChangingBackend.SIZE)
        # A GET through the blob downloader of a changing object: a cut response, not a
        # mix of versions, and nothing stored.
        ChangingBackend.gets["liar"] = 0
        with pytest.raises(requests.RequestException):
            r = requests.get(url(n.endpoint, "chg", "liar"), timeout=T,
                             headers={"Ais-Blob-Download": "true", "Ais-Blob-Chunk": "32KiB", "Ais-Blob-Workers": "-1"})
            r.raise_for_status()
            assert len(r.content) == ChangingBackend.SIZE  # raises on a cut body first
        assert cached_names(n, "chg") == ["slow"]
    finally:
        n.close()
        srv.shutdown()
        srv.server_close()
        th.join(10)


def test_blob_download_from_a_remote_ais_cluster(cache, aisnode_binary, tmp_path):
    """ais://@alias/bucket (an attached AIS cluster, read through its S3 API) is a remote
    bucket too: the job reads it in ranges and stores it byte-identical."""
    from aistore.sdk.blob_download_config import BlobDownloadConfig
    from aistore.sdk.types import Namespace

    far = AisNode(aisnode_binary, tmp_path / "far", num_mountpaths=1)
    _start_or_fail(far)
    try:
        fb = make_client(far.endpoint).bucket("farblob").create(exist_ok=True)
        data = det_bytes("farblob/big", 3 * MiB + 17)
        fb.object("big").get_writer().put_content(data)
        fb.object("big2").get_writer().put_content(data[::-1])
        r = requests.put(f"{cache.endpoint}/v1/cluster/attach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "farbl", "Ais-Remote-Ais-Url": far.endpoint})
        assert r.status_code == 200, r.text
        client = make_client(cache.endpoint)
        b = client.bucket("farblob", namespace=Namespace(uuid="farbl", name=""))
        job_id = b.object("big").blob_download(chunk_size=MiB, num_workers=2)
        assert client.job(job_id=job_id, job_kind="blob-download").wait(timeout=60, verbose=False).success
        (s,) = snaps(cache, job_id)
        assert s["stats"]["loc-objs"] == 1 and s["stats"]["loc-bytes"] == len(data), s
        assert b.object("big").get_reader().read_all() == data
        cfg = BlobDownloadConfig(chunk_size="1MiB", num_workers="4")
        assert b.object("big2").get_reader(blob_download_config=cfg).read_all() == data[::-1]
        r = requests.put(f"{cache.endpoint}/v1/cluster/detach?what=remote", timeout=T,
                         headers={"Ais-Remote-Ais-Alias": "farbl"})
        assert r.status_code == 200, r.text
    finally:
        far.close()


def test_blob_download_in_a_cluster(aisnode_binary, tmp_path, moto, s3):
    """1 proxy + 2 targets: the proxy sends the job to the object's owner (the job ID comes
    back through it and the SDK waits on it cluster-wide); a GET with blob headers is
    redirected and served by the owner; bad values are refused at the proxy."""
    from aistore.sdk.blob_download_config import BlobDownloadConfig
    from aistore.sdk.provider import Provider
    from clusterutil import Cluster

    s3.create_bucket(Bucket="blc")
    data = {f"o{i}": det_bytes(f"blc/{i}", 2 * MiB + i) for i in range(4)}
    for k, v in data.items():
        s3.put_object(Bucket="blc", Key=k, Body=v)
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, mountpaths=1, target_cores=1)
    for n in c.nodes:
        n.extra_env = {"S3_ENDPOINT": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    try:
        c.start()
        client = make_client(c.proxies[0].endpoint)
        b = client.bucket("blc", provider=Provider.AMAZON)
        for k in ("o0", "o1"):
            job_id = b.object(k).blob_download(chunk_size=MiB, num_workers=2)
            assert job_id and client.job(job_id=job_id, job_kind="blob-download").wait(timeout=60,
                                                                                     verbose=False).success
        cfg = BlobDownloadConfig(chunk_size="512KiB", num_workers="4")
        assert b.object("o2").get_reader(blob_download_config=cfg).read_all() == data["o2"]
        # Ranges only: 1 MiB chunks of 2 MiB (+1 byte), 512 KiB chunks of 2 MiB + 2 bytes.
        for k, want in (("o0", (2, 0)), ("o1", (3, 0)), ("o2", (5, 0))):
            assert wait_gets(moto, "blc", k, want) == want, k
            assert b.object(k).get_reader().read_all() == data[k], k
        per_target = [sum(1 for p in Path(m).rglob("*") if p.is_file() and "/@aws/blc/%ob/" in str(p))
                      for t in c.targets for m in t.mountpaths]
        assert sum(per_target) == 3, per_target
        r = start_blob(c.proxies[0], "blc", "o3", {"num-workers": -7})
        assert r.status_code == 400 and "num-workers" in r.text, r.text
        assert backend_gets(moto, "blc", "o3") == (0, 0)
    finally:
        c.close()
