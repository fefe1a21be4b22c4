"""Crash consistency: SIGKILL the node under concurrent PUT load, restart, check every
acknowledged PUT and that nothing partial or stray is visible.

Each writer thread owns its object names; an attempt is (name, generation) and its bytes are
derived from (seed, name, generation), so the expected content can be recomputed. A PUT is
acknowledged when the final response is 200 after exactly one 307 redirect; the writers use
plain `requests` sessions with no retries, so an acknowledgement means one server commit.

After the last restart, for every name:
  * if some generation a was acknowledged, GET must return generation g for an attempted g >= a
    (a later, unacknowledged attempt may have committed before the kill);
  * if none was, GET returns 404 or an attempted generation;
  * the listing shows exactly the readable names, each once, with the right size;
  * every file under %ob is an attempted name on its HRW mountpath with the readable bytes,
    and no object file is invisible (a PUT sets the metadata before it renames the work file
    into %ob, so a SIGKILL never leaves a file there that GET does not serve);
  * no work file is left under %wk: the ones a kill interrupted are removed when the node
    starts, and the PUTs after the last restart all finished.

The S3 multipart test SIGKILLs the node while uploads are pending and one part is half sent:
after the restart no partial object is visible, and completing the uploads either works with
exactly the acknowledged parts or fails with NoSuchUpload.
"""

import os
import random
import threading
import time

import pytest
import requests

import hrw
import rawhttp
from aisutil import KiB, MiB, bck_url, det_bytes, make_client, obj_url
from s3util import (
    ACCESS_KEY,
    SECRET_KEY,
    boto3_client,
    error_code,
    expect_client_error,
    md5_hex,
    multipart_etag,
    start_s3_node,
    unquote_etag,
)

# pytest-timeout: the slowest, 12 SIGKILL/restart cycles under load, ~10 s on a quiet box; the
# margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(300)

SEED = 424242
N_WRITERS = 4
N_KILLS = 12
KILL_INTERVAL_S = (0.1, 0.5)
BUCKET = "crash"


def attempt_size(name, gen):
    r = random.Random(f"size/{SEED}/{name}/{gen}")
    p = r.random()
    if p < 0.15:
        return r.randint(0, 4 * KiB)
    if p < 0.6:
        return r.randint(4 * KiB + 1, 256 * KiB)
    return r.randint(256 * KiB + 1, 2 * MiB)


def attempt_bytes(name, gen):
    return det_bytes(f"{SEED}/{name}/{gen}", attempt_size(name, gen))


def create_bucket(endpoint, name):
    r = requests.post(bck_url(endpoint, name), json={"action": "create-bck", "name": "", "value": None}, timeout=10)
    assert r.status_code == 200, r.text


class Writer(threading.Thread):
    def __init__(self, tid, endpoint, stop):
        super().__init__(name=f"writer-{tid}", daemon=True)
        self.tid = tid
        self.endpoint = endpoint
        self.stop = stop
        self.attempts = {}  # name -> [gen, ...] in attempt order
        self.acked = {}  # name -> last acknowledged gen
        self.n_acked = 0
        self.n_failed = 0
        self.unexpected = []  # non-200 HTTP answers that are not explained by a crash

    def run(self):
        rng = random.Random(f"writer/{SEED}/{self.tid}")
        session = requests.Session()  # default HTTPAdapter: max_retries=0
        k = 0
        while not self.stop.is_set():
            if self.attempts and rng.random() < 0.25:
                name = rng.choice(sorted(self.attempts))
            else:
                name = f"w{self.tid}/obj-{k:05d}"
                k += 1
            gens = self.attempts.setdefault(name, [])
            gen = len(gens) + 1
            gens.append(gen)
            data = attempt_bytes(name, gen)
            try:
                r = session.put(obj_url(self.endpoint, BUCKET, name), data=data, timeout=(2, 60))
                ok = r.status_code == 200 and [h.status_code for h in r.history] == [307]
                if not ok and r.status_code != 503:
                    self.unexpected.append(f"PUT {name}#{gen}: HTTP {r.status_code} {r.text[:200]}")
            except requests.RequestException:
                ok = False
                session.close()
                session = requests.Session()
                self.stop.wait(0.01)  # the node is down or restarting; do not spin
            if ok:
                self.acked[name] = gen
                self.n_acked += 1
            else:
                self.n_failed += 1


def work_files(node, bucket):
    """{path: size} of the files under the bucket's %wk on every mountpath."""
    out = {}
    for m in node.mountpaths:
        for dirpath, _, files in os.walk(os.path.join(hrw.bucket_dir(m, bucket), "%wk")):
            for f in files:
                path = os.path.join(dirpath, f)
                try:
                    out[path] = os.path.getsize(path)
                except FileNotFoundError:  # committed or removed meanwhile
                    pass
    return out


def total_acked(writers):
    return sum(w.n_acked for w in writers)


def wait_for(cond, deadline_s, what):
    end = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < end, f"timed out after {deadline_s}s waiting for {what}"
        time.sleep(0.02)


def test_sigkill_under_put_load_keeps_acked_objects(node):
    create_bucket(node.endpoint, BUCKET)
    stop = threading.Event()
    writers = [Writer(t, node.endpoint, stop) for t in range(N_WRITERS)]
    for w in writers:
        w.start()
    rng = random.Random(SEED)
    kill_log = []
    try:
        wait_for(lambda: total_acked(writers) >= 8, 30, "the first acknowledged PUTs")
        for i in range(N_KILLS):
            time.sleep(rng.uniform(*KILL_INTERVAL_S))  # workload interval, not synchronisation
            before = total_acked(writers)
            node.kill9()
            t0 = time.monotonic()
            node.start()
            kill_log.append((i, before, round(time.monotonic() - t0, 2)))
        # a little load after the last restart, so that post-restart writes are checked too
        target = total_acked(writers) + 8
        wait_for(lambda: total_acked(writers) >= target, 30, "PUTs after the last restart")
    finally:
        stop.set()
        for w in writers:
            w.join(90)
    assert not any(w.is_alive() for w in writers), "a writer thread hung"
    n_acked, n_failed = total_acked(writers), sum(w.n_failed for w in writers)
    print(f"kills (i, acked-before, restart-s): {kill_log}")
    print(f"PUTs acknowledged {n_acked}, failed {n_failed}")
    unexpected = [u for w in writers for u in w.unexpected]
    assert not unexpected, f"unexpected PUT answers: {unexpected[:10]}"
    assert n_acked >= 20, f"only {n_acked} PUTs were acknowledged: the test measured nothing"

    attempts, acked = {}, {}
    for w in writers:
        attempts.update(w.attempts)
        acked.update(w.acked)

    # 1. every name reads back as an allowed generation, or is absent only if never acknowledged
    readable = {}  # name -> bytes
    problems = []
    s = requests.Session()
    for name, gens in sorted(attempts.items()):
        a = acked.get(name)
        try:
            r = s.get(obj_url(node.endpoint, BUCKET, name), timeout=60)
        except requests.RequestException as e:
            problems.append(f"{name}: GET failed: {e!r} (acked gen {a})")
            s.close()
            s = requests.Session()
            continue
        if r.status_code == 404:
            if a is not None:
                problems.append(f"{name}: acknowledged gen {a} but GET is 404")
            continue
        if r.status_code != 200:
            problems.append(f"{name}: GET HTTP {r.status_code}")
            continue
        allowed = [g for g in gens if a is None or g >= a]
        if not any(len(r.content) == attempt_size(name, g) and r.content == attempt_bytes(name, g) for g in allowed):
            problems.append(
                f"{name}: {len(r.content)} bytes match no allowed generation {allowed} "
                f"(acked {a}, sizes {[attempt_size(name, g) for g in allowed]})"
            )
        readable[name] = r.content
    assert not problems, f"{len(problems)} bad objects after {N_KILLS} SIGKILLs:\n" + "\n".join(problems[:20])

    # 2. the listing shows exactly the readable names, once each, with their sizes
    client = make_client(node.endpoint)
    entries = client.bucket(BUCKET).list_all_objects(props="name,size", page_size=500)
    listed = [e.name for e in entries]
    assert len(listed) == len(set(listed)), "duplicate names in the listing"
    stray = sorted(set(listed) - set(attempts))
    assert not stray, f"listed names that were never PUT (leaked work files?): {stray[:10]}"
    assert set(listed) == set(readable), (
        f"listed but unreadable: {sorted(set(listed) - set(readable))[:10]}; "
        f"readable but not listed: {sorted(set(readable) - set(listed))[:10]}"
    )
    for e in entries:
        assert e.size == len(readable[e.name]), f"{e.name}: listed size {e.size}, content {len(readable[e.name])}"

    # 3. on disk: every file under %ob is an attempted name on its HRW mountpath, complete
    invisible = []
    for m in node.mountpaths:
        bdir = hrw.bucket_dir(m, BUCKET)
        if not os.path.isdir(bdir):
            continue
        for entry in os.listdir(bdir):
            path = os.path.join(bdir, entry)
            assert entry.startswith("%") and os.path.isdir(path), f"unexpected item in bucket dir: {path}"
        ob = os.path.join(bdir, "%ob")
        for dirpath, _, files in os.walk(ob):
            for f in files:
                fqn = os.path.join(dirpath, f)
                name = os.path.relpath(fqn, ob)
                assert name in attempts, f"file under %ob for a name never PUT: {fqn}"
                assert hrw.choose_mountpath(node.mountpaths, BUCKET, name) == m, f"{fqn}: wrong mountpath"
                with open(fqn, "rb") as fh:
                    on_disk = fh.read()
                if name in readable:
                    assert on_disk == readable[name], f"{fqn}: file bytes differ from the served object"
                else:
                    invisible.append(fqn)
    assert not invisible, (f"{len(invisible)} object files under %ob that GET does not serve (a commit "
                           f"renamed a file before its metadata was set?): {invisible[:10]}")

    # 4. no work files: start-up removed the interrupted ones, and every writer has finished its
    # last PUT (a PUT the client gave up on may still be finishing on the server: poll a little).
    end = time.monotonic() + 15
    while work_files(node, BUCKET) and time.monotonic() < end:
        time.sleep(0.05)
    left = work_files(node, BUCKET)
    assert not left, f"{len(left)} work files left under %wk with no PUT in flight: {sorted(left.items())[:10]}"


def test_kill_during_partial_put_keeps_old_version(node):
    create_bucket(node.endpoint, BUCKET)
    v1 = det_bytes("partial-v1", 300 * KiB)
    r = requests.put(obj_url(node.endpoint, BUCKET, "x"), data=v1, timeout=30)
    assert r.status_code == 200

    partial = []
    for name in ("x", "y"):
        r = requests.put(obj_url(node.endpoint, BUCKET, name), data=b"", allow_redirects=False, timeout=10)
        assert r.status_code == 307
        loc = requests.utils.urlparse(r.headers["Location"])
        c = rawhttp.RawConn(loc.port)
        total = 8 * MiB
        c.send(rawhttp.build_request("PUT", loc.path + "?" + loc.query, {"Content-Length": str(total)}))
        c.send(det_bytes(f"partial-{name}", 3 * MiB))
        partial.append((name, c))

    # The kill must hit both PUTs mid-write: wait until each has bytes in a work file (3 MiB are
    # sent, so each has filled at least one 1 MiB write buffer).
    end = time.monotonic() + 30
    while True:
        wk = work_files(node, BUCKET)
        if len(wk) == 2 and all(n > 0 for n in wk.values()):
            break
        assert time.monotonic() < end, f"the two partial PUTs have no written work files after 30s: {wk}"
        time.sleep(0.02)
    print(f"work files at kill time: {wk}")

    node.kill9()
    for _, c in partial:
        c.close()
    node.start()
    # Start-up removes the interrupted PUTs' work files (nothing else is in flight).
    assert work_files(node, BUCKET) == {}, f"work files left after the restart: {work_files(node, BUCKET)}"

    r = requests.get(obj_url(node.endpoint, BUCKET, "x"), timeout=30)
    assert r.status_code == 200 and r.content == v1, "interrupted overwrite damaged the previous version"
    r = requests.head(obj_url(node.endpoint, BUCKET, "x"), allow_redirects=True, timeout=30)
    assert r.headers.get("Ais-Version") == "1"
    r = requests.get(obj_url(node.endpoint, BUCKET, "y"), timeout=30)
    assert r.status_code == 404, f"an interrupted first PUT left a visible object (HTTP {r.status_code})"
    names = [e.name for e in make_client(node.endpoint).bucket(BUCKET).list_all_objects()]
    assert names == ["x"]
    for m in node.mountpaths:
        assert not os.path.exists(hrw.object_fqn(m, BUCKET, "y"))


def test_sigterm_stops_cleanly_and_keeps_data(node):
    create_bucket(node.endpoint, BUCKET)
    objs = {f"t/{k}": det_bytes(f"term{k}", (k * 37 * KiB) % (700 * KiB)) for k in range(40)}
    s = requests.Session()
    for name, data in objs.items():
        assert s.put(obj_url(node.endpoint, BUCKET, name), data=data, timeout=30).status_code == 200
    s.close()
    t0 = time.monotonic()
    rc, forced = node.stop()
    assert not forced, "aisnode ignored SIGTERM and had to be SIGKILLed"
    assert rc == 0, f"aisnode exited with status {rc} on SIGTERM, want 0"
    print(f"SIGTERM exit took {time.monotonic() - t0:.2f}s")
    node.start()
    s = requests.Session()
    for name, data in objs.items():
        r = s.get(obj_url(node.endpoint, BUCKET, name), timeout=30)
        assert r.status_code == 200 and r.content == data, name
    assert sorted(e.name for e in make_client(node.endpoint).bucket(BUCKET).list_all_objects()) == sorted(objs)


def test_restart_keeps_buckets_and_objects(node):
    """Bucket metadata survives SIGKILL too (not only object files)."""
    create_bucket(node.endpoint, "meta-a")
    create_bucket(node.endpoint, "meta-b")
    requests.put(obj_url(node.endpoint, "meta-a", "o"), data=b"abc", timeout=10).raise_for_status()
    node.kill9()
    node.start()
    r = requests.get(f"{node.endpoint}/v1/buckets", params={"provider": "ais"},
                     json={"action": "list", "name": "", "value": None}, timeout=10)
    assert r.status_code == 200
    assert sorted(b["name"] for b in r.json()) == ["meta-a", "meta-b"]
    assert requests.get(obj_url(node.endpoint, "meta-a", "o"), timeout=10).content == b"abc"
    r = requests.post(bck_url(node.endpoint, "meta-b"), json={"action": "create-bck", "name": "", "value": None},
                      timeout=10)
    assert r.status_code == 409


# ---- S3 multipart upload interrupted by SIGKILL ------------------------------------------------


def part_in_flight(node, bucket, key, upload_id, part_number, total, sent):
    """Start UploadPart through a presigned URL on a raw connection: the head announces `total`
    bytes, only `sent` follow. Returns the open connection (the part is never finished)."""
    ps = boto3_client(node.s3_endpoint, signature_version="s3v4")
    url = ps.generate_presigned_url(
        "upload_part", Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
        ExpiresIn=600)
    u = requests.utils.urlparse(url)
    c = rawhttp.RawConn(node.port)
    c.send(rawhttp.build_request("PUT", f"{u.path}?{u.query}", {"Content-Length": str(total)},
                                 host=u.netloc))  # the signed Host
    c.send(det_bytes(f"mp-partial-{part_number}", sent))
    return c


def s3_keys_listed(s3, bucket):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    return out


def all_files(root):
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def test_sigkill_during_s3_multipart_upload(aisnode_binary, tmp_path):
    """Two pending multipart uploads, one over an existing object (v0) with two acknowledged
    parts and a third half sent, one for a new key with one part; SIGKILL, restart on the same
    data directory. No partial object is ever visible (before the kill, after the restart, and
    after a failed complete); the listing shows only complete objects; completing works with
    exactly the acknowledged parts (the half-sent one is not a part) or fails with NoSuchUpload."""
    from botocore.exceptions import ClientError

    node = start_s3_node(aisnode_binary, tmp_path / "s3crash", s3_keys=(ACCESS_KEY, SECRET_KEY))
    try:
        s3 = boto3_client(node.s3_endpoint)
        bucket = "mpcrash"
        s3.create_bucket(Bucket=bucket)
        old_key, new_key = "mp/existing", "mp/new"
        v0 = det_bytes("mp-v0", 300 * KiB + 5)
        s3.put_object(Bucket=bucket, Key=old_key, Body=v0)

        # Every part but the last must be >= 5 MiB; a complete naming part 3 after these is refused
        # only for part 3 itself.
        parts_a = [det_bytes("mp-a1", 5 * MiB), det_bytes("mp-a2", 5 * MiB + 7)]
        up_a = s3.create_multipart_upload(Bucket=bucket, Key=old_key)["UploadId"]
        etags_a = []
        for n, data in enumerate(parts_a, 1):
            r = s3.upload_part(Bucket=bucket, Key=old_key, UploadId=up_a, PartNumber=n, Body=data)
            assert unquote_etag(r["ETag"]) == md5_hex(data)
            etags_a.append(r["ETag"])
        parts_b = [det_bytes("mp-b1", 1 * MiB + 1)]
        up_b = s3.create_multipart_upload(Bucket=bucket, Key=new_key)["UploadId"]
        etag_b = s3.upload_part(Bucket=bucket, Key=new_key, UploadId=up_b, PartNumber=1, Body=parts_b[0])["ETag"]

        # Part 3 of upload A: 3 of 6 MiB sent; wait until the server is writing it to disk.
        conn = part_in_flight(node, bucket, old_key, up_a, 3, 6 * MiB, 3 * MiB)
        try:
            end = time.monotonic() + 30
            while not any(size > 0 for size in work_files(node, bucket).values()):
                assert time.monotonic() < end, "the half-sent part has no bytes in a work file after 30s"
                time.sleep(0.02)
            # Pending uploads are not objects.
            assert s3.get_object(Bucket=bucket, Key=old_key)["Body"].read() == v0
            expect_client_error(lambda: s3.head_object(Bucket=bucket, Key=new_key), "404", 404,
                                "HEAD of a key with only a pending upload")
            assert s3_keys_listed(s3, bucket) == [(old_key, len(v0))]
            node.kill9()
        finally:
            conn.close()
        node.start()
        # A new client: a pooled connection to the killed process can outlive it for a while (the
        # kernel tears down its io_uring late) and would swallow a request until the read timeout.
        s3 = boto3_client(node.s3_endpoint)

        # After the restart: the previous version, nothing partial, only complete objects listed.
        g = s3.get_object(Bucket=bucket, Key=old_key)
        assert g["Body"].read() == v0 and g["ContentLength"] == len(v0), "the pending upload changed the object"
        expect_client_error(lambda: s3.get_object(Bucket=bucket, Key=new_key), "NoSuchKey", 404,
                            "GET of a key whose only upload was interrupted")
        assert s3_keys_listed(s3, bucket) == [(old_key, len(v0))]
        pending = {(u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
        assert pending <= {(old_key, up_a), (new_key, up_b)}, f"uploads after the restart: {pending}"

        outcome = {}
        for key, uid, parts, etags in ((old_key, up_a, parts_a, etags_a), (new_key, up_b, parts_b, [etag_b])):
            listed_parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
            if (key, uid) in pending:
                lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
                got = [(p["PartNumber"], p["Size"], unquote_etag(p["ETag"])) for p in lp.get("Parts", [])]
                want = [(n, len(d), md5_hex(d)) for n, d in enumerate(parts, 1)]
                assert got == want, f"{key}: parts after the restart {got}, acknowledged {want}"
            if key == old_key and (key, uid) in pending:
                # The half-sent part 3 is not a part: completing with it fails and changes nothing.
                bogus = listed_parts + [{"PartNumber": 3, "ETag": f'"{md5_hex(b"x")}"'}]
                expect_client_error(
                    lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                                         MultipartUpload={"Parts": bogus}),
                    "InvalidPart", 400, "CompleteMultipartUpload naming the interrupted part")
                assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == v0
            try:
                r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                                 MultipartUpload={"Parts": listed_parts})
            except ClientError as e:
                assert error_code(e) == ("NoSuchUpload", 404), f"{key}: complete after the restart: {error_code(e)}"
                assert (key, uid) not in pending, f"{key}: upload {uid} is listed but complete says NoSuchUpload"
                outcome[key] = "NoSuchUpload"
                continue
            assert (key, uid) in pending, f"{key}: complete of upload {uid} worked though it was not listed"
            assert unquote_etag(r["ETag"]) == multipart_etag(parts)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert body == b"".join(parts), f"{key}: completed object is not the acknowledged parts"
            outcome[key] = "completed"

        # Either way: the objects are whole, listed once, and no upload state is left on disk.
        want = {old_key: b"".join(parts_a) if outcome[old_key] == "completed" else v0}
        if outcome[new_key] == "completed":
            want[new_key] = b"".join(parts_b)
        assert s3_keys_listed(s3, bucket) == sorted((k, len(v)) for k, v in want.items())
        for k, v in want.items():
            assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v, k
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        left = [p for m in node.mountpaths for ct in ("%ut", "%ch", "%wk")
                for p in all_files(os.path.join(hrw.bucket_dir(m, bucket), ct))]
        assert not left, f"upload files left after completing every upload: {left}"
        print(f"\n[s3 multipart crash] after the restart: {outcome}")
    finally:
        node.close()
