"""Bucket props and n-way mirroring (issue 12): `set-bprops` / `reset-bprops` / `create-bck`
with props as AIS's api.SetBucketProps sends them, validated with messages that name the
property; PUTs of a mirrored bucket make copies on other mountpaths; `make-n-copies` brings
existing objects to N copies (and back to 1); DELETE removes the copies; GETs balance across
the copies; a flipped bit in any replica is detected, never served, and repaired."""

import json
import os
import random
import time

import requests

import hrw
from aisutil import bck_url, det_bytes, obj_url

TIMEOUT = 30


def props(node, bucket):
    r = requests.head(bck_url(node.endpoint, bucket), timeout=TIMEOUT)
    assert r.status_code == 200, r.status_code
    return json.loads(r.headers["Ais-Bucket-Props"])


def set_props(node, bucket, value, action="set-bprops"):
    return requests.patch(bck_url(node.endpoint, bucket), json={"action": action, "name": "", "value": value},
                          timeout=TIMEOUT)


def create(node, bucket, value=None):
    r = requests.post(bck_url(node.endpoint, bucket), json={"action": "create-bck", "name": "", "value": value},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def wait_job(node, xid, deadline_s=60):
    """The SDK's Job API, as a user waits on the job set-bprops answered."""
    from aistore.sdk import Client

    res = Client(node.endpoint).job(job_id=xid).wait(timeout=deadline_s, verbose=False)
    assert res.success, res
    jobs = [j for j in requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json() if j["id"] == xid]
    assert jobs and all(j["finished"] and j["errors"] == 0 for j in jobs), jobs
    return jobs[0]


def main_path(node, bucket, name):
    return hrw.expected_fqn(node.mountpaths, bucket, name)


def copy_paths(node, bucket, name, n):
    """Where the copies of `name` live: HRW ranks 1..n-1 over the mountpaths, `%cp/<escaped>`."""
    ranked = hrw.rank_mountpaths(node.mountpaths, bucket, name)
    esc = name.replace("%", "%25").replace("/", "%2F")
    if esc.startswith("."):
        esc = "%2E" + esc[1:]
    return [os.path.join(hrw.clean_mountpath(m), "@ais", bucket, "%cp", esc) for m in ranked[1:n]]


def all_copies(node, bucket):
    out = []
    for m in node.mountpaths:
        d = os.path.join(m, "@ais", bucket, "%cp")
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in os.listdir(d)]
    return out


def node_stats(node):
    return requests.get(f"{node.endpoint}/v1/daemon?what=node_status", timeout=TIMEOUT).json()["tracker"]


def test_bucket_props_set_reset_validate(node):
    create(node, "bp")
    before = props(node, "bp")
    assert before["mirror"]["enabled"] is False and before["checksum"]["type"] == "xxhash2"
    assert before["access"] == str(2**64 - 1) and before["provider"] == "ais"
    # Refused, each naming the property, and nothing changes.
    refusals = [
        ({"mirror": {"enabled": True, "copies": 3}}, 400, "not enough mountpaths"),
        ({"mirror": {"enabled": True, "copies": 33}}, 400, "mirror.copies"),
        ({"checksum": {"type": "crc64"}}, 400, "checksum.type"),
        ({"nosuch": 1}, 400, "nosuch"),
        ({"mirror": {"copies": "two"}}, 400, "invalid set-bucket-props"),
        ({"lru": {"dont_evict_time": "soon"}}, 400, "lru.dont_evict_time"),
        ({"lru": {"batch_size": 1}}, 400, "lru.batch_size"),
        ({"features": "4"}, 501, "features"),
        ({"checksum": {"enable_read_range": True}}, 501, "enable_read_range"),
        ({"ec": {"enabled": True, "data_slices": 1, "parity_slices": 1}}, 400,
         "EC configuration (D = 1, P = 1) requires at least 2 targets (have 1)"),
    ]
    for value, status, needle in refusals:
        r = set_props(node, "bp", value)
        assert r.status_code == status and needle in r.text, (value, r.status_code, r.text)
    r = requests.post(bck_url(node.endpoint, "bp"), json={"action": "ec-encode", "name": "scrub", "value": None},
                      timeout=TIMEOUT)
    assert r.status_code == 400 and "scrub" in r.text, r.text
    r = set_props(node, "nosuchbucket", {"mirror": {"enabled": True}})
    assert r.status_code == 404, r.text
    assert props(node, "bp") == before
    # A partial set changes what it names, keeps the rest, and answers the job it started.
    r = set_props(node, "bp", {"checksum": {"type": "xxhash"}, "access": "771", "versioning": {"enabled": False}})
    assert r.status_code == 200 and r.text == "", r.text
    p = props(node, "bp")
    assert (p["checksum"]["type"], p["access"], p["versioning"]["enabled"]) == ("xxhash", "771", False)
    assert p["checksum"]["validate_warm_get"] == before["checksum"]["validate_warm_get"]
    assert (p["bid"], p["created"]) == (before["bid"], before["created"])
    r = set_props(node, "bp", {"mirror": {"enabled": True, "copies": 2}})
    assert r.status_code == 200 and r.text.startswith("mnc-"), r.text
    wait_job(node, r.text)
    assert props(node, "bp")["mirror"] == {**before["mirror"], "enabled": True, "copies": 2}
    # The BMD carries it (versioned, what every node syncs).
    bmd = requests.get(f"{node.endpoint}/v1/daemon?what=bmd", timeout=TIMEOUT).json()
    assert bmd["providers"]["ais"]["@#"]["bp"]["mirror"]["enabled"] is True
    # reset-bprops: the defaults again, same identity.
    r = set_props(node, "bp", None, action="reset-bprops")
    assert r.status_code == 200, r.text
    if r.text:
        wait_job(node, r.text)
    assert props(node, "bp") == before
    # create-bck with props (api.CreateBucket with BpropsToSet), and refused ones create nothing.
    create(node, "bp2", {"mirror": {"enabled": True, "copies": 2}, "checksum": {"type": "sha256"}})
    p2 = props(node, "bp2")
    assert p2["mirror"]["enabled"] and p2["checksum"]["type"] == "sha256"
    r = requests.post(bck_url(node.endpoint, "bp3"), json={"action": "create-bck", "value": {"checksum": {"type": "x"}}},
                      timeout=TIMEOUT)
    assert r.status_code == 400 and "checksum.type" in r.text
    assert requests.head(bck_url(node.endpoint, "bp3"), timeout=TIMEOUT).status_code == 404


def test_mirrored_put_get_delete_and_make_n_copies(node):
    create(node, "mir")
    names = [f"d{i % 5}/obj-{i}" for i in range(60)] + ["weird//key/"]
    data = {n: det_bytes(n, random.Random(n).randint(0, 300_000)) for n in names}
    # Existing objects, then mirroring turned on: make-n-copies copies every one.
    for n in names[:30]:
        assert requests.put(obj_url(node.endpoint, "mir", n), data=data[n], timeout=TIMEOUT).status_code == 200
    r = set_props(node, "mir", {"mirror": {"enabled": True, "copies": 2}})
    job = wait_job(node, r.text)
    assert job["kind"] == "make-n-copies" and job["objects"] == 30, job
    # New PUTs make their copy before they are acknowledged.
    for n in names[30:]:
        if "//" in n:
            continue  # the native API keeps AIS's name rules; S3 is tested below
        assert requests.put(obj_url(node.endpoint, "mir", n), data=data[n], timeout=TIMEOUT).status_code == 200
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=f"{node.endpoint}/s3", aws_access_key_id="x", aws_secret_access_key="y",
                      region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
    s3.put_object(Bucket="mir", Key="weird//key/", Body=data["weird//key/"])
    for n in names:
        if "//" in n:
            continue
        cps = copy_paths(node, "mir", n, 2)
        assert len(cps) == 1 and os.path.isfile(cps[0]), (n, cps, all_copies(node, "mir")[:5])
        with open(cps[0], "rb") as f:
            assert f.read() == data[n], n
        assert cps[0] != main_path(node, "mir", n)
    assert len(all_copies(node, "mir")) == len(names)
    # GETs (native and S3) read the right bytes from either replica.
    for _ in range(2):
        for n in names:
            if "//" in n:
                got = s3.get_object(Bucket="mir", Key=n)["Body"].read()
            else:
                got = requests.get(obj_url(node.endpoint, "mir", n), timeout=TIMEOUT).content
            assert got == data[n], n
    # Overwrite refreshes the copy; DELETE removes it.
    n0 = names[0]
    new = b"new content"
    assert requests.put(obj_url(node.endpoint, "mir", n0), data=new, timeout=TIMEOUT).status_code == 200
    with open(copy_paths(node, "mir", n0, 2)[0], "rb") as f:
        assert f.read() == new
    assert requests.delete(obj_url(node.endpoint, "mir", n0), timeout=TIMEOUT).status_code == 200
    assert not os.path.exists(copy_paths(node, "mir", n0, 2)[0])
    s3.delete_object(Bucket="mir", Key="weird//key/")
    assert len(all_copies(node, "mir")) == len(names) - 2
    # Back to one copy: the job removes every copy; the objects stay.
    r = set_props(node, "mir", {"mirror": {"copies": 1}})
    wait_job(node, r.text)
    assert props(node, "mir")["mirror"]["enabled"] is False
    assert all_copies(node, "mir") == []
    for n in names[1:]:
        if "//" not in n:
            assert requests.get(obj_url(node.endpoint, "mir", n), timeout=TIMEOUT).content == data[n]
    # make-n-copies as the action AIS's api.MakeNCopies sends (value: a number or a string).
    r = requests.post(bck_url(node.endpoint, "mir"), json={"action": "make-n-copies", "value": "2"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    wait_job(node, r.text)
    assert len(all_copies(node, "mir")) == len(names) - 2
    r = requests.post(bck_url(node.endpoint, "mir"), json={"action": "make-n-copies", "value": 40}, timeout=TIMEOUT)
    assert r.status_code == 400


def test_copies_are_reported_by_head_props_and_listing(node):
    """What the SDK reads (`props.mirror_copies` / `mirror_paths`, `list_objects(props=
    "copies")`) and HEAD v1 counts the replicas that exist, with their mountpaths, as AIS's
    NumCopies and MirrorPaths; a copy that went missing is not counted. Before, always 1."""
    from aistore.sdk import Client

    create(node, "mirc")
    client = Client(node.endpoint)
    b = client.bucket("mirc")
    for i in range(6):
        b.object(f"o{i}").get_writer().put_content(det_bytes(f"o{i}", 1000 + i))
    assert b.object("o0").props.mirror_copies == 1
    wait_job(node, set_props(node, "mirc", {"mirror": {"enabled": True, "copies": 2}}).text)
    roots = sorted(hrw.clean_mountpath(m) for m in node.mountpaths)
    for i in range(6):
        props = b.object(f"o{i}").props
        assert props.mirror_copies == 2, i
        assert sorted(props.mirror_paths) == roots, props.mirror_paths
    r = requests.head(obj_url(node.endpoint, "mirc", "o1"), timeout=TIMEOUT, allow_redirects=True)  # HEAD v1
    assert r.headers["Ais-Mirror-Copies"] == "2", r.headers
    os.remove(copy_paths(node, "mirc", "o2", 2)[0])
    listed = {e.name: e.copies for e in b.list_all_objects(props="name,copies")}
    assert listed == {f"o{i}": (1 if i == 2 else 2) for i in range(6)}, listed
    assert b.object("o2").props.mirror_copies == 1
    assert b.object("o2").props.mirror_paths == [hrw.clean_mountpath(hrw.rank_mountpaths(node.mountpaths, "mirc", "o2")[0])]


def flip_bit(path, rng):
    size = os.path.getsize(path)
    pos = rng.randrange(size)
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ (1 << rng.randrange(8))]))


def test_bit_flips_in_any_replica_are_detected_never_served_and_repaired(node):
    """1,000 single-bit flips (4 rounds over 250 objects; each round flips one bit in one
    replica of every object, the object itself or its copy): every GET answers 200 with the
    right bytes, every flip is detected (the node counts it), and afterwards every replica on
    disk holds the right bytes again."""
    create(node, "flips", {"mirror": {"enabled": True, "copies": 2}})
    rng = random.Random(12)
    names = [f"f{i}" for i in range(250)]
    data = {n: det_bytes(n, rng.randint(1, 200_000)) for n in names}
    for n in names:
        assert requests.put(obj_url(node.endpoint, "flips", n), data=data[n], timeout=TIMEOUT).status_code == 200
    detected0 = node_stats(node)["mirror.bad_replicas"]
    flips = 0
    sess = requests.Session()
    for rnd in range(4):
        for n in names:
            replicas = [main_path(node, "flips", n)] + copy_paths(node, "flips", n, 2)
            flip_bit(rng.choice(replicas), rng)
            flips += 1
        bad = []
        for n in names:
            # Two GETs in a row on one core read both replicas (reads alternate).
            for _ in range(2):
                r = sess.get(obj_url(node.endpoint, "flips", n), timeout=TIMEOUT)
                if r.status_code != 200 or r.content != data[n]:
                    bad.append((n, r.status_code, len(r.content)))
        assert not bad, f"round {rnd}: {len(bad)} bad GETs, e.g. {bad[:5]}"
        unrepaired = []
        for n in names:
            for p in [main_path(node, "flips", n)] + copy_paths(node, "flips", n, 2):
                with open(p, "rb") as f:
                    if f.read() != data[n]:
                        unrepaired.append(p)
        assert not unrepaired, f"round {rnd}: {len(unrepaired)} replicas not repaired, e.g. {unrepaired[:3]}"
    stats = node_stats(node)
    detected = stats["mirror.bad_replicas"] - detected0
    by_mp = stats["mirror.bad_replicas_by_mountpath"]
    print(f"\n[bit flips] {flips} flips, {detected} detected and repaired, 0 bad bytes served; per mountpath {by_mp}")
    assert flips == 1000 and detected == flips, (flips, detected)
    assert sum(by_mp.values()) == stats["mirror.bad_replicas"] and len(by_mp) == len(node.mountpaths), by_mp


def test_lost_object_is_restored_from_its_copy(node):
    create(node, "lost", {"mirror": {"enabled": True, "copies": 2}})
    names = [f"l{i}" for i in range(40)]
    for n in names:
        requests.put(obj_url(node.endpoint, "lost", n), data=det_bytes(n, 5000), timeout=TIMEOUT)
    # Lose every object on one mountpath (its files removed behind the node's back).
    gone = node.mountpaths[0]
    victims = [n for n in names if main_path(node, "lost", n).startswith(hrw.clean_mountpath(gone) + "/")]
    assert victims
    for n in victims:
        os.remove(main_path(node, "lost", n))
    # A GET restores on the spot; the job restores the rest.
    assert requests.get(obj_url(node.endpoint, "lost", victims[0]), timeout=TIMEOUT).content == det_bytes(victims[0], 5000)
    r = requests.post(bck_url(node.endpoint, "lost"), json={"action": "make-n-copies", "value": 2}, timeout=TIMEOUT)
    wait_job(node, r.text)
    for n in victims:
        with open(main_path(node, "lost", n), "rb") as f:
            assert f.read() == det_bytes(n, 5000), n
    listed = requests.get(bck_url(node.endpoint, "lost"), json={"action": "list", "value": {"props": "name"}},
                          timeout=TIMEOUT).json()["entries"]
    assert sorted(e["name"] for e in listed) == sorted(names)


def test_wiped_mountpath_under_load_loses_nothing(aisnode_binary, tmp_path):
    """A mirrored bucket's data on one mountpath is wiped (its directory removed behind the
    node's back) while clients read and write: every acknowledged object reads back, the GETs
    that miss restore from the copies and start a repair, and afterwards every object has its
    object and its copy where HRW places them."""
    import shutil
    import threading

    from conftest import AisNode, _start_or_fail

    node = _start_or_fail(AisNode(aisnode_binary, tmp_path / "node", num_mountpaths=3))
    try:
        create(node, "wipe", {"mirror": {"enabled": True, "copies": 2}})
        acked, lock, failures = {}, threading.Lock(), []
        for i in range(150):
            n = f"pre-{i}"
            d = det_bytes(n, 2000 + 13 * i)
            assert requests.put(obj_url(node.endpoint, "wipe", n), data=d, timeout=TIMEOUT).status_code == 200
            acked[n] = d
        stop = threading.Event()

        def writer(k):
            s, i = requests.Session(), 0
            while not stop.is_set():
                n = f"w{k}-{i}"
                d = det_bytes(n, 1500 + i)
                r = s.put(obj_url(node.endpoint, "wipe", n), data=d, timeout=TIMEOUT)
                if r.status_code == 200:
                    with lock:
                        acked[n] = d
                i += 1

        def reader(k):
            s, names, i = requests.Session(), [f"pre-{j}" for j in range(150)], k
            while not stop.is_set():
                n = names[i % 150]
                r = s.get(obj_url(node.endpoint, "wipe", n), timeout=TIMEOUT)
                if r.status_code != 200 or r.content != acked[n]:
                    failures.append(f"GET {n}: {r.status_code} {r.text[:100] if r.status_code != 200 else 'wrong bytes'}")
                i += 7

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
        threads += [threading.Thread(target=reader, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.7)
            # Atomically gone (a rename), then removed.
            gone = os.path.join(node.mountpaths[1], ".wiped")
            os.rename(os.path.join(node.mountpaths[1], "@ais"), gone)
            shutil.rmtree(gone)
            time.sleep(3.0)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert not failures, failures[:10]
        # The repair the lost objects started (and one more, so nothing is left to the timing).
        r = requests.post(bck_url(node.endpoint, "wipe"), json={"action": "make-n-copies", "value": 2}, timeout=TIMEOUT)
        wait_job(node, r.text)
        kicked = [j for j in requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json()
                  if j["kind"] == "make-n-copies" and j["id"] != r.text]
        assert kicked, "no repair started by the GETs that found objects missing"
        for n, d in acked.items():
            g = requests.get(obj_url(node.endpoint, "wipe", n), timeout=TIMEOUT)
            assert g.status_code == 200 and g.content == d, n
            for p in [main_path(node, "wipe", n)] + copy_paths(node, "wipe", n, 2):
                with open(p, "rb") as f:
                    assert f.read() == d, p
        print(f"\n[wipe] {len(acked)} objects acknowledged, 0 lost; repairs: {[(j['id'], j['objects']) for j in kicked]}")
    finally:
        node.close()


def test_make_n_copies_interrupted_by_a_crash_finishes_after_restart(aisnode_binary, tmp_path):
    """A property change never stays half done: SIGKILL the node while make-n-copies runs;
    the bucket is marked pending on disk, and the restarted node finishes the job."""
    from conftest import AisNode, _start_or_fail

    node = _start_or_fail(AisNode(aisnode_binary, tmp_path / "node", num_mountpaths=2))
    try:
        create(node, "crash")
        names = [f"c{i}" for i in range(600)]
        sess = requests.Session()
        for n in names:
            assert sess.put(obj_url(node.endpoint, "crash", n), data=det_bytes(n, 64 * 1024), timeout=TIMEOUT).status_code == 200
        r = set_props(node, "crash", {"mirror": {"enabled": True, "copies": 2}})
        xid = r.text
        deadline = time.monotonic() + 30
        while True:
            jobs = [j for j in requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json() if j["id"] == xid]
            assert jobs and not jobs[0]["finished"], f"the job finished before it could be interrupted: {jobs}"
            if jobs[0]["objects"] > 0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.01)
        node.kill9()
        pending = open(os.path.join(node.data_dir, "conf", ".ais.mirror-pending"), "rb").read()
        assert b'"crash"' in pending, pending
        assert len(all_copies(node, "crash")) < len(names)
        node.start()
        deadline = time.monotonic() + 60
        while len(all_copies(node, "crash")) < len(names):
            assert time.monotonic() < deadline, len(all_copies(node, "crash"))
            time.sleep(0.2)
        for n in names[:50]:
            cps = copy_paths(node, "crash", n, 2)
            with open(cps[0], "rb") as f:
                assert f.read() == det_bytes(n, 64 * 1024)
    finally:
        node.close()
