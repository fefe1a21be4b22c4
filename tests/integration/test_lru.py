"""Space and LRU (issue 17 item 4): the cluster config's `space` watermarks and `lru` section,
the LRU job (kind `lru`) evicting cached objects of remote buckets oldest-access first, and
out-of-space refusals (507), against a `moto_server` backend.

Most tests make the disk "full" deterministically with the node's test knob
`AISNODE_TEST_CAPACITY_BYTES` (every mountpath looks like a file system of that size whose
used bytes are the files under it), so the watermarks can be crossed on a shared disk; one
runs the node on a real small file system (a tmpfs of its own, root only) without the knob.
Old access times are set on the object files (`os.utime`), as an object read hours ago has
them; warm GETs after that are what must protect an object.
"""

import os
import subprocess
import time

import pytest
import requests

from aisutil import det_bytes
from conftest import AisNode, _start_or_fail
from test_remote_s3 import moto, s3  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(300)

T = 30
CAPACITY = 4 << 20  # bytes per mountpath, as the node sees it
OBJ = 32 << 10
N_AGED = 30
N_YOUNG = 5
N_REREAD = 5
HOURS_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def lnode(aisnode_binary, tmp_path_factory, moto):  # noqa: F811
    n = AisNode(aisnode_binary, tmp_path_factory.mktemp("lru"), num_mountpaths=2)
    n.extra_env = {"S3_ENDPOINT": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_REGION": "us-east-1", "AISNODE_TEST_CAPACITY_BYTES": str(CAPACITY)}
    _start_or_fail(n)
    yield n
    n.close()


def ourl(ep, bucket, obj, provider="aws"):
    return f"{ep}/v1/objects/{bucket}/{obj}?provider={provider}"


def name(i):
    return f"o{i:03d}"


def local_path(node, bucket, obj, provider="aws"):
    """The object's file on whichever mountpath holds it (None if none does)."""
    for m in node.mountpaths:
        p = os.path.join(m, f"@{provider}", bucket, "%ob", obj)
        if os.path.exists(p):
            return p
    return None


def mp_of(node, path):
    return next(m for m in node.mountpaths if path.startswith(m + os.sep))


def used_bytes(mp):
    """What the node's test knob counts as used: the sizes of the files under the mountpath."""
    total = 0
    for root, _, files in os.walk(mp):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except FileNotFoundError:
                continue
            if os.path.isfile(os.path.join(root, f)) and not os.path.islink(os.path.join(root, f)):
                total += st.st_size
    return total


def set_config(node, **kv):
    return requests.put(f"{node.endpoint}/v1/cluster/set-config", params=kv, timeout=T)


def cluster_config(node):
    r = requests.get(f"{node.endpoint}/v1/cluster?what=cluster_config", timeout=T)
    assert r.status_code == 200, r.text
    return r.json()


def start_job(node, kind):
    r = requests.put(f"{node.endpoint}/v1/cluster", json={"action": "start", "value": {"Kind": kind}}, timeout=T)
    assert r.status_code == 200, r.text
    return r.text.strip().strip('"')


def jobs(node, kind):
    r = requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=T)
    assert r.status_code == 200, r.text
    return [j for j in r.json() if j["kind"] == kind]


def wait_finished(node, kind, xid=None, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while True:
        js = [j for j in jobs(node, kind) if xid is None or j["id"] == xid]
        if js and all(j["finished"] for j in js):
            return js[-1]
        assert time.monotonic() < deadline, f"{kind} {xid} not finished: {js}"
        time.sleep(0.1)


def watermarks(node, low, high, oos, cleanup=1):
    r = set_config(node, **{"space.cleanupwm": str(cleanup), "space.lowwm": str(low), "space.highwm": str(high),
                            "space.out_of_space": str(oos)})
    assert r.status_code == 200, r.text


def age(path, ago_ns):
    st = os.stat(path)
    os.utime(path, ns=(time.time_ns() - ago_ns, st.st_mtime_ns))


def test_bad_space_and_lru_values_are_refused_by_name_and_change_nothing(lnode):
    before = cluster_config(lnode)
    assert before["space"]["lowwm"] == 75 and before["space"]["highwm"] == 90
    assert before["space"]["out_of_space"] == 95 and before["space"]["cleanupwm"] == 65
    assert before["lru"]["dont_evict_time"] == "2h0m0s" and before["lru"]["enabled"] is True
    for kv, field in [
        ({"space.out_of_space": "101"}, "space.out_of_space"),
        ({"space.lowwm": "95"}, "space.highwm"),  # low above high: the first out of order
        ({"space.cleanupwm": "0"}, "space.cleanupwm"),
        ({"space.highwm": "high"}, "space.highwm"),
        ({"lru.dont_evict_time": "1m"}, "lru.dont_evict_time"),
        ({"lru.capacity_upd_time": "1s"}, "lru.capacity_upd_time"),
        ({"lru.batch_size": "10"}, "lru.batch_size"),
    ]:
        r = set_config(lnode, **kv)
        assert r.status_code == 400, (kv, r.status_code, r.text)
        assert field in r.text, (kv, r.text)
    after = cluster_config(lnode)
    assert after["space"] == before["space"] and after["lru"] == before["lru"]
    assert after["config_version"] == before["config_version"]


def test_lru_evicts_least_recently_read_first_and_keeps_young_reread_and_ais(lnode, s3):  # noqa: F811
    ep = lnode.endpoint
    s3.create_bucket(Bucket="lru1")
    n = N_AGED + N_YOUNG
    data = {name(i): det_bytes(f"lru1/{i}", OBJ) for i in range(n)}
    for k, v in data.items():
        s3.put_object(Bucket="lru1", Key=k, Body=v)
    # An ais:// bucket: never evicted.
    assert requests.post(f"{ep}/v1/buckets/keep?provider=ais", json={"action": "create-bck"}, timeout=T).ok
    for i in range(10):
        r = requests.put(ourl(ep, "keep", f"k{i}", "ais"), data=det_bytes(f"keep/{i}", OBJ), timeout=T)
        assert r.status_code == 200, r.text
    # Cold GET everything.
    for k, v in data.items():
        r = requests.get(ourl(ep, "lru1", k), timeout=T)
        assert r.status_code == 200 and r.content == v, (k, r.status_code)
    paths = {k: local_path(lnode, "lru1", k) for k in data}
    assert all(paths.values()), paths
    # Read hours ago, object i before i+1; the last N_YOUNG were just read.
    for i in range(N_AGED):
        age(paths[name(i)], 3 * HOURS_NS + (N_AGED - i) * 60 * 10**9)
    # The oldest few are read again now: they must stay.
    reread = [name(i) for i in range(N_REREAD)]
    for k in reread:
        r = requests.get(ourl(ep, "lru1", k), timeout=T)
        assert r.status_code == 200 and r.content == data[k]

    # Watermarks just under the current use: LRU must free a few objects per mountpath.
    used = {m: used_bytes(m) for m in lnode.mountpaths}
    low = min((u - 4 * OBJ) * 100 // CAPACITY for u in used.values())
    assert low >= 2, used
    watermarks(lnode, low, low, 100)
    xid = start_job(lnode, "lru")
    job = wait_finished(lnode, "lru", xid)
    assert job["errors"] == 0 and not job["aborted"], job

    gone = {k for k, p in paths.items() if not os.path.exists(p)}
    assert gone, "nothing evicted"
    assert not gone & set(reread), "an object read again was evicted"
    assert not gone & {name(i) for i in range(N_AGED, n)}, "an object younger than dont_evict_time was evicted"
    assert all(local_path(lnode, "keep", f"k{i}", "ais") for i in range(10)), "an ais:// object was evicted"
    # Per mountpath, the evicted objects are the least recently read ones.
    for m in lnode.mountpaths:
        eligible = [name(i) for i in range(N_REREAD, N_AGED) if mp_of(lnode, paths[name(i)]) == m]
        ev = [k for k in eligible if k in gone]
        assert ev == eligible[:len(ev)], (m, ev, eligible)
        # Down to the low watermark, or nothing evictable is left there.
        assert used_bytes(m) * 100 // CAPACITY <= low or ev == eligible, (m, used_bytes(m), low)
    # The job with its counts.
    assert job["objects"] == len(gone) and job["bytes"] == len(gone) * OBJ, job
    assert job["stats"]["loc-objs"] == len(gone), job
    r = requests.get(f"{ep}/v1/cluster?what=status", json={"ID": xid, "Kind": "lru"}, timeout=T)
    assert r.status_code == 200 and r.json()["end_time"] != 0, r.text

    # Evicted objects come back from the backend, byte-identical.
    watermarks(lnode, 75, 90, 95, cleanup=65)
    for k in sorted(gone):
        r = requests.get(ourl(ep, "lru1", k), timeout=T)
        assert r.status_code == 200 and r.content == data[k], k
        assert local_path(lnode, "lru1", k)


def test_automatic_lru_when_used_capacity_passes_highwm(lnode, s3):  # noqa: F811
    ep = lnode.endpoint
    s3.create_bucket(Bucket="lru2")
    data = {f"a{i}": det_bytes(f"lru2/{i}", OBJ) for i in range(10)}
    for k, v in data.items():
        s3.put_object(Bucket="lru2", Key=k, Body=v)
        r = requests.get(ourl(ep, "lru2", k), timeout=T)
        assert r.status_code == 200 and r.content == v
    for k in data:
        age(local_path(lnode, "lru2", k), 5 * HOURS_NS)
    before = len(jobs(lnode, "lru"))
    used = {m: used_bytes(m) for m in lnode.mountpaths}
    low = min(u * 100 // CAPACITY for u in used.values()) - 1
    assert low >= 2, used
    # Nobody starts the job: crossing highwm does (the config change refreshes capacity).
    watermarks(lnode, low, low, 100)
    deadline = time.monotonic() + 30
    while len(jobs(lnode, "lru")) == before:
        assert time.monotonic() < deadline, "no automatic LRU job"
        time.sleep(0.2)
    job = wait_finished(lnode, "lru")
    assert job["objects"] > 0, job
    assert any(local_path(lnode, "lru2", k) is None for k in data)
    assert all(local_path(lnode, "keep", f"k{i}", "ais") for i in range(10))
    watermarks(lnode, 75, 90, 95, cleanup=65)


def test_put_past_out_of_space_is_507_and_changes_nothing(lnode):
    ep = lnode.endpoint
    old = det_bytes("keep/0", OBJ)
    watermarks(lnode, 1, 1, 1)
    try:
        r = requests.put(ourl(ep, "keep", "k0", "ais"), data=b"new bytes", timeout=T)
        assert r.status_code == 507, (r.status_code, r.text)
        assert "out of space" in r.text, r.text
        r = requests.put(ourl(ep, "keep", "new-one", "ais"), data=b"x" * 100, timeout=T)
        assert r.status_code == 507, r.text
        r = requests.put(f"{ep}/s3/keep/new-s3", data=b"x" * 100, timeout=T)
        assert r.status_code == 507, (r.status_code, r.text)
        # A cold GET would write too.
        r = requests.get(ourl(ep, "lru1", "not-cached-anyway"), timeout=T)
        assert r.status_code == 507, (r.status_code, r.text)
    finally:
        watermarks(lnode, 75, 90, 95, cleanup=65)
    r = requests.get(ourl(ep, "keep", "k0", "ais"), timeout=T)
    assert r.status_code == 200 and r.content == old
    assert requests.head(ourl(ep, "keep", "new-one", "ais"), timeout=T, allow_redirects=True).status_code == 404
    assert local_path(lnode, "keep", "new-s3", "ais") is None
    # Room again: writes work.
    r = requests.put(ourl(ep, "keep", "new-one", "ais"), data=b"x" * 100, timeout=T)
    assert r.status_code == 200, r.text


def test_space_cleanup_removes_old_work_files_only(lnode):
    wk = [os.path.join(m, "@ais", "keep", "%wk") for m in lnode.mountpaths]
    old = [os.path.join(d, "old.work") for d in wk]
    new = [os.path.join(d, "new.work") for d in wk]
    for p in old + new:
        with open(p, "wb") as f:
            f.write(b"w" * 1000)
    for p in old:
        os.utime(p, ns=(time.time_ns() - HOURS_NS, time.time_ns() - HOURS_NS))
    xid = start_job(lnode, "cleanup-store")
    job = wait_finished(lnode, "cleanup-store", xid)
    assert job["objects"] == len(old) and job["bytes"] == 1000 * len(old), job
    assert not any(os.path.exists(p) for p in old)
    assert all(os.path.exists(p) for p in new)
    for p in new:
        os.remove(p)


# ---- a real small file system --------------------------------------------------------------

SMALL_FS_BYTES = 64 << 20
BIG_OBJ = 1 << 20
N_OLD = 24
N_NEW = 14
N_KEEP = 4


def statvfs_pct(mp):
    """Used percent of the file system at `mp`, as the node computes it (statvfs)."""
    st = os.statvfs(mp)
    return (st.f_blocks - st.f_bfree) * 100 // st.f_blocks


@pytest.fixture
def small_node(aisnode_binary, tmp_path, moto):  # noqa: F811
    """A 1-core node whose only mountpath is a 64 MiB tmpfs (kernel >= 6.6 accepts O_DIRECT
    there; xattrs too), no capacity knob. Unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs mountpath needs root")
    n = AisNode(aisnode_binary, tmp_path / "small", cores=1, num_mountpaths=1)
    mp = n.mountpaths[0]
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_FS_BYTES}", "tmpfs", mp],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {mp}: {r.stderr.strip()}")
    try:
        n.extra_env = {"S3_ENDPOINT": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": "us-east-1"}
        _start_or_fail(n)
        yield n
    finally:
        n.close()
        if subprocess.run(["umount", mp], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30)


def test_lru_and_out_of_space_on_a_real_small_mountpath(small_node, s3):  # noqa: F811
    """Cold GETs fill a 64 MiB tmpfs past highwm: the automatic LRU brings it under lowwm,
    least recently read first (old objects read again survive), never touching ais:// objects.
    Past out_of_space, PUTs are refused with 507 and every stored object is intact."""
    n, ep = small_node, small_node.endpoint
    mp = n.mountpaths[0]
    low, high, oos = 45, 60, 80
    r = set_config(n, **{"space.cleanupwm": "30", "space.lowwm": str(low), "space.highwm": str(high),
                         "space.out_of_space": "95", "lru.capacity_upd_time": "10s"})
    assert r.status_code == 200, r.text
    s3.create_bucket(Bucket="small1")
    old = {f"old/{i:02d}": det_bytes(f"small1/old/{i}", BIG_OBJ) for i in range(N_OLD)}
    new = {f"new/{i:02d}": det_bytes(f"small1/new/{i}", BIG_OBJ) for i in range(N_NEW)}
    for k, v in {**old, **new}.items():
        s3.put_object(Bucket="small1", Key=k, Body=v)
    assert requests.post(f"{ep}/v1/buckets/keep?provider=ais", json={"action": "create-bck"}, timeout=T).ok
    keep = {f"k{i}": det_bytes(f"small-keep/{i}", BIG_OBJ) for i in range(N_KEEP)}
    for k, v in keep.items():
        assert requests.put(ourl(ep, "keep", k, "ais"), data=v, timeout=T).status_code == 200
    # Cold GETs of the old objects: below highwm still.
    for k, v in old.items():
        r = requests.get(ourl(ep, "small1", k), timeout=T)
        assert r.status_code == 200 and r.content == v, (k, r.status_code)
    assert statvfs_pct(mp) < high, statvfs_pct(mp)
    assert not jobs(n, "lru")
    # Read hours ago, old/i before old/i+1; the oldest N_REREAD are read again now.
    for i in range(N_OLD):
        age(local_path(n, "small1", f"old/{i:02d}"), 3 * HOURS_NS + (N_OLD - i) * 60 * 10**9)
    reread = [f"old/{i:02d}" for i in range(N_REREAD)]
    for k in reread:
        r = requests.get(ourl(ep, "small1", k), timeout=T)
        assert r.status_code == 200 and r.content == old[k]
    # More cold GETs push the file system past highwm; nobody starts LRU.
    for k, v in new.items():
        r = requests.get(ourl(ep, "small1", k), timeout=T)
        assert r.status_code == 200 and r.content == v, (k, r.status_code)
    peak = statvfs_pct(mp)
    assert peak > high, peak
    deadline = time.monotonic() + 60  # the next capacity refresh (10 s) starts it
    while not jobs(n, "lru"):
        assert time.monotonic() < deadline, f"no automatic LRU at {peak}% used (highwm {high})"
        time.sleep(0.2)
    job = wait_finished(n, "lru")
    assert job["errors"] == 0 and not job["aborted"], job
    after = statvfs_pct(mp)
    assert after <= low, (peak, after, job)
    gone = [k for k in old if local_path(n, "small1", k) is None]
    eligible = [k for k in old if k not in reread]
    assert gone == eligible[:len(gone)] and gone, (gone, eligible)  # least recently read first
    assert len(gone) < len(eligible), "evicted everything eligible: the test proves no order"
    assert all(local_path(n, "small1", k) for k in reread + list(new)), "a recently read object was evicted"
    assert job["objects"] == len(gone) and job["bytes"] == len(gone) * BIG_OBJ, job
    print(f"\ntmpfs {SMALL_FS_BYTES >> 20} MiB: {peak}% used after cold GETs, LRU evicted {len(gone)} "
          f"objects, {after}% used (lowwm {low}, highwm {high})")

    # Out of space: ais:// PUTs (never evictable) until refused. Capacity may be refreshed
    # only after the file system is full (every 10 s): a write the disk refuses (ENOSPC) is a
    # 507 all the same.
    r = set_config(n, **{"space.out_of_space": str(oos)})
    assert r.status_code == 200, r.text
    filled = {}
    for i in range(2 * SMALL_FS_BYTES // BIG_OBJ):
        k, v = f"fill{i:03d}", det_bytes(f"small-fill/{i}", BIG_OBJ)
        r = requests.put(ourl(ep, "keep", k, "ais"), data=v, timeout=T)
        if r.status_code == 507:
            break
        assert r.status_code == 200, (k, r.status_code, r.text)
        filled[k] = v
    else:
        pytest.fail("no 507 however full the mountpath")
    assert "out of space" in r.text, r.text
    assert statvfs_pct(mp) > oos - 100 * BIG_OBJ // SMALL_FS_BYTES, statvfs_pct(mp)
    # A new object, and an existing one overwritten, are refused; nothing half-written stays.
    r = requests.put(ourl(ep, "keep", "one-more", "ais"), data=b"x" * 1000, timeout=T)
    assert r.status_code == 507, (r.status_code, r.text)
    r = requests.put(ourl(ep, "keep", "k0", "ais"), data=b"new bytes", timeout=T)
    assert r.status_code == 507, (r.status_code, r.text)
    assert requests.head(ourl(ep, "keep", "one-more", "ais"), timeout=T, allow_redirects=True).status_code == 404
    wk = [p for p in (os.path.join(mp, "@ais", "keep", "%wk"), os.path.join(mp, "@aws", "small1", "%wk"))
          if os.path.isdir(p)]
    assert not [f for d in wk for f in os.listdir(d)], "work files left behind"
    # Every stored object reads back whole (not the aged ones left: an LRU run may still
    # evict them, and a cold GET would be refused now).
    stored = {("keep", k, "ais"): v for k, v in {**keep, **filled}.items()}
    stored.update({("small1", k, "aws"): v for k, v in {**old, **new}.items() if k not in eligible})
    for (b, k, prov), v in stored.items():
        r = requests.get(ourl(ep, b, k, prov), timeout=T)
        assert r.status_code == 200 and r.content == v, (b, k, r.status_code)
    print(f"out_of_space {oos}%: {len(filled)} PUTs of 1 MiB accepted, then 507 at {statvfs_pct(mp)}% used")

    # out_of_space 100: the file system itself runs out (ENOSPC, maybe in the middle of an
    # object). Still a 507; no PUT that was acknowledged lost a byte, nothing half-written
    # stays, and the mountpath stays in service.
    r = set_config(n, **{"space.out_of_space": "100"})
    assert r.status_code == 200, r.text
    for i in range(2 * SMALL_FS_BYTES // BIG_OBJ):
        k, v = f"full{i:03d}", det_bytes(f"small-full/{i}", BIG_OBJ)
        r = requests.put(ourl(ep, "keep", k, "ais"), data=v, timeout=T)
        if r.status_code == 507:
            break
        assert r.status_code == 200, (k, r.status_code, r.text)
        filled[k] = v
    else:
        pytest.fail("no 507 with the file system full")
    assert "out of space" in r.text, r.text
    assert not [f for d in wk for f in os.listdir(d)], "work files left behind"
    for k, v in filled.items():
        r = requests.get(ourl(ep, "keep", k, "ais"), timeout=T)
        assert r.status_code == 200 and r.content == v, (k, r.status_code, len(r.content))
    for k in list(filled)[:3]:
        assert requests.delete(ourl(ep, "keep", k, "ais"), timeout=T).status_code == 200
    r = requests.put(ourl(ep, "keep", "after-full", "ais"), data=b"room again", timeout=T)
    assert r.status_code == 200, (r.status_code, r.text)
    assert requests.get(ourl(ep, "keep", "after-full", "ais"), timeout=T).content == b"room again"
