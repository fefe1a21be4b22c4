"""Erasure coding across targets (issue 12 part 3): with `ec` bucket props (D data, P parity
slices) every acknowledged object survives the loss of any P targets. Objects below
`ec.objsize_limit` are replicated on P other targets, bigger ones cut into D+P slices on the
first D+P targets of their HRW ranking. A GET whose owner lacks the object (its owner died and
the Smap made another target the owner, or its file is gone) rebuilds it from the slices it
finds on every active target. Enabling EC on a bucket with data runs `ec-encode`; a DELETE
leaves tombstones, so a deleted object never comes back from leftover slices.

One module cluster: 1 proxy and 4 targets (1 core, 1 mountpath each), grown to 6 for D=4,P=2.
"""

import itertools
import json

import pytest
import requests

from aisutil import KiB, MiB, bck_url, det_bytes, obj_url
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 60
LIMIT = 64 * KiB


@pytest.fixture(scope="module")
def ec_cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("ec"), proxies=1, targets=4, mountpaths=1,
                target_cores=1)
    c.start()
    yield c
    c.close()


def create(c, bucket):
    r = requests.post(bck_url(c.primary.endpoint, bucket), json={"action": "create-bck", "name": "", "value": None},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def props(c, bucket):
    r = requests.head(bck_url(c.primary.endpoint, bucket), timeout=TIMEOUT)
    assert r.status_code == 200, r.status_code
    return json.loads(r.headers["Ais-Bucket-Props"])


def set_props(c, bucket, value):
    return requests.patch(bck_url(c.primary.endpoint, bucket),
                          json={"action": "set-bprops", "name": "", "value": value}, timeout=TIMEOUT)


def wait_job(c, xid, deadline_s=90):
    """The SDK's Job API, as a user waits on the job set-bprops answered."""
    from aistore.sdk import Client

    res = Client(c.primary.endpoint).job(job_id=xid).wait(timeout=deadline_s, verbose=False)
    assert res.success, res


def enable_ec(c, bucket, d, p):
    r = set_props(c, bucket, {"ec": {"enabled": True, "data_slices": d, "parity_slices": p,
                                     "objsize_limit": LIMIT}})
    assert r.status_code == 200 and r.text.startswith("ec-encode-"), (r.status_code, r.text)
    wait_job(c, r.text)


def sizes(n):
    """Mixed sizes: replicated (empty, small, just below the limit) and encoded (just above
    it, a few MiB with ragged tails)."""
    pool = [0, 1, 3 * KiB, LIMIT - 1, LIMIT, LIMIT + 5, 700 * KiB, MiB + 3, 2 * MiB + 4097, 5 * MiB + 11]
    return [pool[i % len(pool)] for i in range(n)]


def put_all(c, bucket, n, prefix="o"):
    objs = {}
    s = requests.Session()
    for i, size in enumerate(sizes(n)):
        name = f"{prefix}/{i:03d}-{size}"
        data = det_bytes(name, size)
        r = s.put(obj_url(c.primary.endpoint, bucket, name), data=data, timeout=TIMEOUT)
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
        objs[name] = data
    return objs


def check_all(c, bucket, objs, why):
    s = requests.Session()
    bad = []
    for name, data in objs.items():
        r = s.get(obj_url(c.primary.endpoint, bucket, name), timeout=TIMEOUT)
        if r.status_code != 200 or r.content != data:
            bad.append(f"{name}: {r.status_code} {len(r.content)}/{len(data)} bytes {r.text[:200] if r.status_code != 200 else ''}")
    assert not bad, f"{why}: {len(bad)} of {len(objs)} objects unreadable:\n  " + "\n  ".join(bad)


def lose(c, victims, fn):
    """SIGKILL `victims`, wait until the Smap dropped them, run `fn`, restart them, converge.
    Starts from a cluster whose rebalance finished: EC guarantees P losses once slices are laid
    out on the current map, not while the previous restart's rebalance still moves them."""
    c.wait_rebalanced()
    ids = {v.persisted_id() for v in victims}
    for v in victims:
        v.kill9()
    c.wait_smap(lambda s: not ids & set(s["tmap"]), f"{sorted(ids)} dropped", deadline_s=60)
    try:
        fn()
    finally:
        for v in victims:
            v.spawn()
        c.wait_converged(c.nodes, deadline_s=60)


def ec_stats(node):
    r = requests.get(f"{node.endpoint}/v1/daemon?what=node_status", timeout=TIMEOUT)
    return r.json()["tracker"]


def test_d2p1_every_object_survives_the_loss_of_each_target(ec_cluster):
    c = ec_cluster
    create(c, "ec21")
    before = props(c, "ec21")
    # Refused: D+P wider than the cluster (the owner keeps slice 0: D+P targets are needed).
    r = set_props(c, "ec21", {"ec": {"enabled": True, "data_slices": 4, "parity_slices": 1}})
    assert r.status_code == 400, r.text
    assert "EC configuration (D = 4, P = 1) requires at least 5 targets (have 4)" in r.text, r.text
    assert props(c, "ec21") == before
    enable_ec(c, "ec21", 2, 1)
    p = props(c, "ec21")["ec"]
    assert (p["enabled"], p["data_slices"], p["parity_slices"], p["objsize_limit"]) == (True, 2, 1, LIMIT)
    objs = put_all(c, "ec21", 40)
    check_all(c, "ec21", objs, "all targets up")
    sent = sum(ec_stats(t)["ec.slices_sent"] for t in c.targets)
    # Encoded objects send D+P-1 slices, replicated ones P replicas.
    encoded = sum(1 for d in objs.values() if len(d) >= LIMIT)
    assert sent == encoded * 2 + (len(objs) - encoded) * 1, sent
    for victim in list(c.targets):
        lose(c, [victim], lambda: check_all(c, "ec21", objs, f"{victim.name} killed"))
    restored = sum(ec_stats(t)["ec.restored"] for t in c.targets)
    assert restored > 0, "some objects were rebuilt from their slices"

    # DELETE leaves tombstones: a deleted object is not rebuilt after its owner is lost.
    gone = [n for n in objs if n.endswith(f"-{5 * MiB + 11}") or n.endswith("-1")][:4]
    for name in gone:
        r = requests.delete(obj_url(c.primary.endpoint, "ec21", name), timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        del_data = objs.pop(name)
        assert del_data is not None

    def deleted_stay_deleted():
        for name in gone:
            r = requests.get(obj_url(c.primary.endpoint, "ec21", name), timeout=TIMEOUT)
            assert r.status_code == 404, (name, r.status_code)
    for victim in c.targets[:2]:
        lose(c, [victim], deleted_stay_deleted)
    r = requests.delete(bck_url(c.primary.endpoint, "ec21"), json={"action": "destroy-bck"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def grow_to(c, n):
    """The module's cluster with at least `n` targets (tests may run alone)."""
    while len(c.targets) < n:
        c.add_target_node(f"target{len(c.targets)}").spawn()
    c.wait_converged(c.nodes, deadline_s=60)


def test_d4p2_every_object_survives_any_two_target_losses(ec_cluster):
    c = ec_cluster
    grow_to(c, 6)
    create(c, "ec42")
    enable_ec(c, "ec42", 4, 2)
    objs = put_all(c, "ec42", 24)
    # Every one of the 15 pairs of targets.
    for a, b in itertools.combinations(range(6), 2):
        victims = [c.targets[a], c.targets[b]]
        lose(c, victims, lambda: check_all(c, "ec42", objs, f"{[v.name for v in victims]} killed"))


def test_enabling_ec_on_a_bucket_with_data_runs_ec_encode(ec_cluster):
    c = ec_cluster
    grow_to(c, 5)
    create(c, "ecjob")
    objs = put_all(c, "ecjob", 16, prefix="pre")
    assert sum(ec_stats(t)["ec.encoded"] + ec_stats(t)["ec.replicated"] for t in c.targets) >= 0
    # AIS's api.ECEncodeBucket: the EC configuration as a JSON string holding JSON.
    r = requests.post(bck_url(c.primary.endpoint, "ecjob"),
                      json={"action": "ec-encode", "name": "",
                            "value": json.dumps({"data_slices": 2, "parity_slices": 2, "objsize_limit": LIMIT})},
                      timeout=TIMEOUT)
    assert r.status_code == 200 and r.text.startswith("ec-encode-"), (r.status_code, r.text)
    wait_job(c, r.text)
    p = props(c, "ecjob")["ec"]
    assert (p["enabled"], p["data_slices"], p["parity_slices"]) == (True, 2, 2)
    victims = [c.targets[1], c.targets[4]]
    lose(c, victims, lambda: check_all(c, "ecjob", objs, "after ec-encode, two targets killed"))
    # ec-encode again (already enabled, same slices): the job runs again.
    r = requests.post(bck_url(c.primary.endpoint, "ecjob"),
                      json={"action": "ec-encode", "name": "", "value": {"data_slices": 2, "parity_slices": 2}},
                      timeout=TIMEOUT)
    assert r.status_code == 200 and r.text.startswith("ec-encode-"), (r.status_code, r.text)
    wait_job(c, r.text)


def test_slices_on_disk_and_a_lost_or_corrupted_object_is_rebuilt_on_its_owner(ec_cluster):
    import os

    import hrw

    c = ec_cluster
    create(c, "echeal")
    enable_ec(c, "echeal", 2, 2)
    objs = {"heal-small": det_bytes("s", 10 * KiB), "heal-700k": det_bytes("m", 700 * KiB),
            "heal-5m": det_bytes("l", 5 * MiB + 1)}
    for name, data in objs.items():
        r = requests.put(obj_url(c.primary.endpoint, "echeal", name), data=data, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
    by_id = {t.persisted_id(): t for t in c.targets}
    for name, data in objs.items():
        d = hrw.uname_digest("echeal", name)
        ranked = sorted(by_id, key=lambda i: -hrw.weight(hrw.xxh64(i), d))
        bdir = lambda t: hrw.bucket_dir(by_id[t].mountpaths[0], "echeal")  # noqa: E731
        if len(data) < LIMIT:
            # Replicas (full copies) on ranks 1..P, each with its metafile.
            for t in ranked[1:3]:
                assert open(os.path.join(bdir(t), "%ec", name), "rb").read() == data, (name, t)
                assert os.path.getsize(os.path.join(bdir(t), "%mt", name)) > 43
        else:
            # Slice i on rank i (the owner keeps slice 0), all the same size.
            slice_sizes = {os.path.getsize(os.path.join(bdir(t), "%ec", name)) for t in ranked[:4]}
            assert len(slice_sizes) == 1 and slice_sizes.pop() < len(data), (name, slice_sizes)
            for t in ranked[:4]:
                assert os.path.getsize(os.path.join(bdir(t), "%mt", name)) > 43
        for t in ranked[4:]:
            assert not os.path.exists(os.path.join(bdir(t), "%ec", name)), (name, t)
    # The owner's file corrupted (one flipped byte) or removed: rebuilt from the slices.
    for name, how in [("heal-small", "flip"), ("heal-700k", "flip"), ("heal-5m", "remove")]:
        owner = by_id[hrw.choose_target(list(by_id), "echeal", name)]
        fqn = hrw.expected_fqn(owner.mountpaths, "echeal", name)
        if how == "flip":
            with open(fqn, "r+b") as f:
                f.seek(len(objs[name]) // 2)
                b = f.read(1)
                f.seek(len(objs[name]) // 2)
                f.write(bytes([b[0] ^ 0x10]))
        else:
            os.remove(fqn)
        r = requests.get(obj_url(c.primary.endpoint, "echeal", name), timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == objs[name], (name, how, r.status_code, r.text[:200])
        assert open(fqn, "rb").read() == objs[name], (name, how, "rebuilt in place")
