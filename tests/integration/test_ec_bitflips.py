"""Bit flips in an erasure-coded bucket (issue requirement: at least 1,000 random single-bit
flips in object files and slices, 100% detected, 0 bad bytes served with 200, 100% repaired).

A 1-proxy / 3-target cluster (1 core, 1 mountpath each), EC D=2 P=1, `objsize_limit` in the
middle of the object sizes: about half the objects are replicated (object on the owner, a full
copy on the next target), half encoded (object and slice 0 on the owner, slices 1 and 2 on the
others). Each round flips one random bit in one randomly chosen stored file of every object:
its object file (`%ob`) or one of its slices or replicas (`%ec`); file times are kept, as with
real bit rot. Then every object is read through the proxy (a corrupted object is detected by
its checksum and rebuilt from the slices before anything is sent), and `ec-encode` with AIS's
`name: "recover"` runs the check pass: every holder verifies its slice or replica against its
metafile, and the owners make the corrupted ones again. Afterwards every stored file is
byte-identical to what it was before the round, and the targets counted every flip
(`ec.bad_objects`, `ec.bad_slices`, `ec.bad_replicas`)."""

import json
import os
import random

import pytest
import requests

import hrw
from aisutil import KiB, bck_url, det_bytes, obj_url
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 60
LIMIT = 350 * KiB
BUCKET = "ecflips"
OBJECTS = 125
ROUNDS = 8
KINDS = {"object": "ec.bad_objects", "slice": "ec.bad_slices", "replica": "ec.bad_replicas"}


def node_stats(node):
    return requests.get(f"{node.endpoint}/v1/daemon?what=node_status", timeout=TIMEOUT).json()["tracker"]


def detected(c):
    stats = [node_stats(t) for t in c.targets]
    by_kind = {k: sum(s[v] for s in stats) for k, v in KINDS.items()}
    by_mp = {}
    for s in stats:
        by_mp.update(s["ec.bad_by_mountpath"])
    return by_kind, by_mp


def flip_bit(path, rng):
    st = os.stat(path)
    pos = rng.randrange(st.st_size)
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ (1 << rng.randrange(8))]))
    # Bit rot does not touch the file times (an object's mtime is its EC generation).
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def recover(c):
    """`ec-encode` with `name: "recover"` (AIS's api.ECEncodeBucket with checkAndRecover),
    waited on with the SDK's Job API; no target counted an error."""
    from aistore.sdk import Client

    value = json.dumps({"data_slices": 2, "parity_slices": 1, "objsize_limit": LIMIT})
    r = requests.post(bck_url(c.primary.endpoint, BUCKET),
                      json={"action": "ec-encode", "name": "recover", "value": value}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.text.startswith("ec-encode-"), (r.status_code, r.text)
    xid = r.text
    res = Client(c.primary.endpoint).job(job_id=xid).wait(timeout=90, verbose=False)
    assert res.success, res
    for t in c.targets:
        jobs = [j for j in requests.get(f"{t.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json()
                if j["id"] == xid]
        assert jobs and all(j["finished"] and j["errors"] == 0 for j in jobs), (t.name, jobs)


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("ecflips"), proxies=1, targets=3, mountpaths=1,
                target_cores=1)
    c.start()
    yield c
    c.close()


def test_bit_flips_in_ec_objects_slices_and_replicas_are_detected_never_served_and_repaired(cluster):
    c = cluster
    r = requests.post(bck_url(c.primary.endpoint, BUCKET), json={"action": "create-bck", "name": "", "value": None},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    r = requests.patch(bck_url(c.primary.endpoint, BUCKET),
                       json={"action": "set-bprops", "name": "",
                             "value": {"ec": {"enabled": True, "data_slices": 2, "parity_slices": 1,
                                              "objsize_limit": LIMIT}}}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    rng = random.Random(2024)
    data = {}
    sess = requests.Session()
    for i in range(OBJECTS):
        name = f"flip-{i:03d}"
        data[name] = det_bytes(name, rng.randint(KiB, 700 * KiB))
        r = sess.put(obj_url(c.primary.endpoint, BUCKET, name), data=data[name], timeout=TIMEOUT)
        assert r.status_code == 200, (name, r.status_code, r.text[:200])
    replicated = sum(1 for d in data.values() if len(d) < LIMIT)
    assert OBJECTS // 3 < replicated < 2 * OBJECTS // 3, replicated

    # Every stored file of every object: (path, kind), and a snapshot of its bytes.
    by_id = {t.persisted_id(): t for t in c.targets}
    files = {}
    for name, d in data.items():
        owner = by_id[hrw.choose_target(list(by_id), BUCKET, name)]
        fs = [(hrw.expected_fqn(owner.mountpaths, BUCKET, name), "object")]
        for t in c.targets:
            p = os.path.join(hrw.bucket_dir(t.mountpaths[0], BUCKET), "%ec", name)
            if os.path.exists(p):
                fs.append((p, "replica" if len(d) < LIMIT else "slice"))
        assert len(fs) == (2 if len(d) < LIMIT else 4), (name, fs)
        files[name] = fs
    snapshot = {p: open(p, "rb").read() for fs in files.values() for p, _ in fs}
    assert open(files["flip-000"][0][0], "rb").read() == data["flip-000"]

    before, _ = detected(c)
    flips = {k: 0 for k in KINDS}
    total_bad_get = 0
    for rnd in range(ROUNDS):
        round_flips = {k: 0 for k in KINDS}
        for name in data:
            path, kind = rng.choice(files[name])
            flip_bit(path, rng)
            round_flips[kind] += 1
        # Never bad bytes with 200: a corrupted object is rebuilt before it is sent.
        bad = []
        for name, d in data.items():
            r = sess.get(obj_url(c.primary.endpoint, BUCKET, name), timeout=TIMEOUT)
            if r.status_code != 200 or r.content != d:
                bad.append((name, r.status_code, len(r.content)))
        total_bad_get += len(bad)
        assert not bad, f"round {rnd}: {len(bad)} bad GETs, e.g. {bad[:5]}"
        recover(c)
        unrepaired = [p for p, want in snapshot.items() if open(p, "rb").read() != want]
        assert not unrepaired, f"round {rnd}: {len(unrepaired)} files not repaired, e.g. {unrepaired[:3]}"
        now, _ = detected(c)
        got = {k: now[k] - before[k] - flips[k] for k in KINDS}
        assert got == round_flips, f"round {rnd}: detected {got}, flipped {round_flips}"
        for k in KINDS:
            flips[k] += round_flips[k]
    after, by_mp = detected(c)
    n = sum(flips.values())
    found = sum(after[k] - before[k] for k in KINDS)
    print(f"\n[ec bit flips] {n} flips, {found} detected, {n} repaired, {total_bad_get} bad bytes served"
          f" (objects {flips['object']}, slices {flips['slice']}, replicas {flips['replica']}; per mountpath {by_mp})")
    assert n >= 1000 and found == n, (n, found)
    assert sum(by_mp.values()) == sum(after.values()) and len(by_mp) == len(c.targets), by_mp
