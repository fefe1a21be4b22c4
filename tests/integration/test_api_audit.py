"""The native API audit (issue 11, docs/api-audit.md): what the node refuses and what it now does.

* Every request of docs/api-audit-refusals.json (the doc's native `refused 501` rows outside
  /v1/objects/B/O) is sent to one node and to a 2-proxy/3-target cluster (through both
  proxies): each answers 501 with a message naming the thing refused, and changes nothing:
  objects (bytes, version, checksum, custom metadata), the bucket list, the cluster map and the
  mountpaths are the same before and after. Each JSON row names the doc row that lists it.
* What was silently ignored and is now implemented or refused as AIS does:
  - list-objects `NO_RECURSION` (with and without `NO_DIRS`, paged) through the SDK, one node
    and cluster; `not-cached` and `diff` refused as AIS refuses them for ais:// buckets;
    `target` validated;
  - `DELETE /v1/buckets/B` without a control message or with an empty action: 400 as in AIS,
    the bucket and its objects stay; `destroy-bck` (the SDK's `Bucket.delete`) destroys;
  - `create-bck` with props equal to the defaults is accepted;
  - bucket summary (`Bucket.summary`) and info (`Bucket.info`, also of a prefix): exact counts
    and sizes;
  - `what=status_all` / `running_all` (`Cluster.list_jobs_status` / `list_running_jobs`)
    while a throttled resilver runs, after it is aborted;
  - mountpath detach with AIS's `dntres=true` starts no resilver;
  - list buckets with `presence=5` (exists outside the cluster only): none for ais://;
    `what=backends` is an empty list;
  - `/v1/reverse/daemon?what=...` reaches the node named by `Ais-Node-Id`; `/v1/health`
    `prr` is the primary's answer, `apr` at a non-primary proxy is misdirected.
"""

import json
import os
import time
from pathlib import Path

import pytest
import requests
from aistore.sdk.errors import AISError
from aistore.sdk.list_object_flag import ListObjectFlag

from aisutil import bck_url, det_bytes, make_client, obj_url
from clusterutil import Cluster
from conftest import AisNode, _start_or_fail

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "api-audit.md"
TABLE = REPO / "docs" / "api-audit-refusals.json"
T = 30  # seconds per request
SEED = {"o0": 0, "o1": 1, "dir/o2": 4096, "dir/sub/o3": 70_000, "o4": 5}


def refusal_rows(where):
    rows = json.loads(TABLE.read_text())["refusals"]
    return [r for r in rows if where in r["where"]]


# ---- helpers -----------------------------------------------------------------------------------


def create_bucket(endpoint, name, value=None):
    r = requests.post(bck_url(endpoint, name), json={"action": "create-bck", "name": "", "value": value},
                      timeout=T)
    assert r.status_code == 200, f"create {name}: {r.status_code} {r.text}"


def seed_bucket(endpoint, name):
    create_bucket(endpoint, name)
    for obj, size in SEED.items():
        r = requests.put(obj_url(endpoint, name, obj), data=det_bytes(obj, size), timeout=T)
        assert r.status_code == 200, f"PUT {obj}: {r.status_code} {r.text}"
    r = requests.patch(obj_url(endpoint, name, "o1"), json={"action": "", "name": "", "value": {"k": "v"}},
                       timeout=T)
    assert r.status_code == 200, r.text


def objects_state(endpoint, bucket):
    """name -> (bytes, version, checksum, custom metadata) of every listed object."""
    r = requests.get(bck_url(endpoint, bucket), json={"action": "list", "name": "", "value": {"props": "name"}},
                     timeout=T)
    assert r.status_code == 200, r.text
    out = {}
    for e in r.json()["entries"]:
        n = e["name"]
        g = requests.get(obj_url(endpoint, bucket, n), timeout=T)
        h = requests.head(obj_url(endpoint, bucket, n), allow_redirects=True, timeout=T)
        assert g.status_code == 200 and h.status_code == 200, f"{n}: {g.status_code} {h.status_code}"
        out[n] = (g.content, h.headers.get("Ais-Version"), h.headers.get("Ais-Checksum-Value"),
                  h.headers.get("Ais-Custom-Md"))
    return out


def cluster_state(endpoint, bucket):
    """Everything a refused request could have changed."""
    buckets = requests.get(f"{endpoint}/v1/buckets", params={"provider": "ais"}, timeout=T).json()
    smap = requests.get(f"{endpoint}/v1/daemon", params={"what": "smap"}, timeout=T).json()
    mps = requests.get(f"{endpoint}/v1/cluster", params={"what": "mountpaths"}, timeout=T).json()
    return {
        "buckets": sorted(b["name"] for b in buckets),
        "objects": objects_state(endpoint, bucket),
        "smap": (smap["version"], {k: v.get("flags") for k, v in smap["tmap"].items()}),
        "mountpaths": mps,
    }


def fill(x, ctx):
    if isinstance(x, str):
        for k, v in ctx.items():
            x = x.replace("{" + k + "}", v)
        return x
    if isinstance(x, list):
        return [fill(v, ctx) for v in x]
    if isinstance(x, dict):
        return {fill(k, ctx): fill(v, ctx) for k, v in x.items()}
    return x


def send(endpoint, row, ctx):
    headers = fill(row["headers"], ctx)
    body = None
    if row["body"] is not None:
        body = json.dumps(fill(row["body"], ctx))
        headers["Content-Type"] = "application/json"
    return requests.request(row["method"], endpoint + fill(row["path"], ctx), params=fill(row["query"], ctx),
                            headers=headers, data=body, allow_redirects=True, timeout=T)


def check_refusals(endpoints, ctx, where):
    """Send every row to every endpoint: 501 naming the thing, nothing changed (per row)."""
    rows = refusal_rows(where)
    # A floor against a table that failed to load, not a target: it drops as rows get implemented.
    assert len(rows) > 30, f"only {len(rows)} refusal rows for {where}"
    state_ep = endpoints[0]
    failures = []
    for ep in endpoints:
        before = cluster_state(state_ep, ctx["bucket"])
        for row in rows:
            what = f"{row['method']} {row['path']} {row['query']} {row['body']} via {ep}"
            r = send(ep, row, ctx)
            if r.status_code != 501:
                failures.append(f"{what}: HTTP {r.status_code} {r.text[:200]}")
            else:
                try:
                    msg = r.json()["message"]
                except ValueError:
                    msg = r.text
                missing = [n for n in fill(row["names"], ctx) if n not in msg]
                if missing:
                    failures.append(f"{what}: message does not name {missing}: {msg!r}")
            after = cluster_state(state_ep, ctx["bucket"])
            if after != before:
                failures.append(f"{what}: changed state: {diff(before, after)}")
                before = after
    assert not failures, f"{len(failures)} of {len(rows) * len(endpoints)} refusals wrong:\n" + "\n".join(failures)


def diff(a, b):
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def target_mountpaths(endpoint, tid):
    mps = requests.get(f"{endpoint}/v1/cluster", params={"what": "mountpaths"}, timeout=T).json()
    return mps[tid]["available"]


def doc_rows():
    return [line for line in DOC.read_text().splitlines() if line.startswith("|")]


# ---- the refusal table is the doc's ------------------------------------------------------------


def test_every_refusal_row_is_a_refused_501_row_of_the_doc():
    rows = json.loads(TABLE.read_text())["refusals"]
    lines = doc_rows()
    bad = []
    for r in rows:
        hits = [ln for ln in lines if r["doc"] in ln]
        if not hits:
            bad.append(f"{r['doc']!r}: in no row of {DOC.name}")
        elif not any("`refused 501`" in ln for ln in hits):
            bad.append(f"{r['doc']!r}: its row is not `refused 501`: {hits[0][:200]}")
    assert not bad, "\n".join(bad)


# ---- one node ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one(module_node, tmp_path_factory):
    ep = module_node.endpoint
    seed_bucket(ep, "audit")
    smap = requests.get(f"{ep}/v1/daemon", params={"what": "smap"}, timeout=T).json()
    tid = next(iter(smap["tmap"]))
    new_mp = tmp_path_factory.mktemp("newmp")
    return {"bucket": "audit", "target": tid, "mountpath": target_mountpaths(ep, tid)[0],
            "newmountpath": str(new_mp)}


def test_refusals_on_one_node(module_node, one):
    check_refusals([module_node.endpoint], one, "node")


def test_delete_bucket_needs_an_action_on_one_node(module_node):
    delete_bucket_needs_an_action(module_node.endpoint, "del-one")


def test_no_recursion_on_one_node(module_node):
    no_recursion(module_node.endpoint, "nr-one")


def test_listing_flags_of_remote_buckets_on_one_node(module_node, one):
    listing_flags_of_remote_buckets(module_node.endpoint, one)


def test_summary_and_info_on_one_node(module_node):
    summary_and_info(module_node.endpoint, "summ-one")


def test_create_with_default_props_and_presence_on_one_node(module_node):
    default_props_and_presence(module_node.endpoint, "dflt-one")


# ---- a cluster -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("audit"), proxies=2, targets=3, mountpaths=2,
                target_cores=2)
    try:
        c.start()
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def clu(cluster, tmp_path_factory):
    ep = cluster.primary.endpoint
    seed_bucket(ep, "audit")
    smap = cluster.smap()
    tid = sorted(smap["tmap"])[0]
    return {"bucket": "audit", "target": tid, "mountpath": target_mountpaths(ep, tid)[0],
            "newmountpath": str(tmp_path_factory.mktemp("newmp"))}


def test_refusals_in_a_cluster(cluster, clu):
    check_refusals([cluster.primary.endpoint, cluster.proxies[1].endpoint], clu, "cluster")


def test_delete_bucket_needs_an_action_in_a_cluster(cluster):
    for p in cluster.proxies:
        delete_bucket_needs_an_action(p.endpoint, f"del-{p.port}")


def test_no_recursion_in_a_cluster(cluster):
    """Objects spread over three targets: the proxy merges each target's level."""
    no_recursion(cluster.primary.endpoint, "nr-clu", also=cluster.proxies[1].endpoint)


def test_listing_flags_of_remote_buckets_in_a_cluster(cluster, clu):
    listing_flags_of_remote_buckets(cluster.proxies[1].endpoint, clu)


def test_summary_and_info_in_a_cluster(cluster):
    summary_and_info(cluster.primary.endpoint, "summ-clu")


def test_create_with_default_props_and_presence_in_a_cluster(cluster):
    default_props_and_presence(cluster.proxies[1].endpoint, "dflt-clu")


# ---- what the tests do -------------------------------------------------------------------------


def delete_bucket_needs_an_action(ep, name):
    seed_bucket(ep, name)
    before = objects_state(ep, name)
    for data, headers, want in ((None, {}, "missing control message"),
                                (b"{}", {"Content-Type": "application/json"}, 'invalid action ""'),
                                (json.dumps({"action": "", "name": "", "value": None}),
                                 {"Content-Type": "application/json"}, 'invalid action ""')):
        r = requests.delete(bck_url(ep, name), data=data, headers=headers, timeout=T)
        assert r.status_code == 400, f"DELETE {name} body {data!r}: {r.status_code} {r.text}"
        assert want in r.json()["message"], r.text
        assert objects_state(ep, name) == before, f"DELETE with body {data!r} changed the bucket"
    # The SDK's Bucket.delete sends destroy-bck: that destroys it.
    client = make_client(ep)
    client.bucket(name).delete()
    r = requests.head(bck_url(ep, name), timeout=T)
    assert r.status_code == 404, f"after destroy-bck: HEAD {r.status_code}"
    assert name not in [b.name for b in client.cluster().list_buckets()]


NR_OBJECTS = ["top", "a/1", "a/2", "a/x/1", "a/x/y/2", "a/y/1", "a0", "b/c/d", "b/e", "z", "zz/deep/er/obj"]


def no_recursion(ep, name, also=None):
    client = make_client(ep)
    b = client.bucket(name).create(exist_ok=True)
    for n in NR_OBJECTS:
        b.object(n).get_writer().put_content(n.encode())
    nr = [ListObjectFlag.NO_RECURSION]
    dir_flag = 1 << 8

    def level(bck, prefix="", flags=None, page_size=0):
        entries = bck.list_all_objects(prefix=prefix, flags=flags or nr, page_size=page_size)
        return [(e.name, bool(e.flags & dir_flag)) for e in entries]

    top = [("a/", True), ("a0", False), ("b/", True), ("top", False), ("z", False), ("zz/", True)]
    for c in [client] + ([make_client(also)] if also else []):
        bck = c.bucket(name)
        assert level(bck) == top
        # Virtual directories carry no size and only the directory flag.
        page = bck.list_objects(flags=nr)
        assert {e.name: e.flags for e in page.entries if e.flags & dir_flag} == {"a/": dir_flag, "b/": dir_flag,
                                                                                "zz/": dir_flag}
        assert level(bck, "a/") == [("a/1", False), ("a/2", False), ("a/x/", True), ("a/y/", True)]
        assert level(bck, "a/x/") == [("a/x/1", False), ("a/x/y/", True)]
        assert level(bck, "zz/deep/") == [("zz/deep/er/", True)]
        # With NO_DIRS: only the objects directly under the prefix.
        assert level(bck, "", nr + [ListObjectFlag.NO_DIRS]) == [("a0", False), ("top", False), ("z", False)]
        # Paged one entry at a time (continuation token = the last name, a directory or not).
        assert level(bck, "", nr, page_size=1) == top
        assert level(bck, "", nr, page_size=4) == top
        # Without the flag the listing is recursive, as before.
        assert sorted(e.name for e in bck.list_all_objects()) == sorted(NR_OBJECTS)


def listing_flags_of_remote_buckets(ep, ctx):
    b = ctx["bucket"]

    def ls(value, headers=None):
        return requests.get(bck_url(ep, b), json={"action": "list", "name": "", "value": value},
                            headers=headers, timeout=T)

    # AIS's proxy refuses these for an ais:// bucket (400), rather than listing everything.
    r = ls({"flags": str(1 << 9)})
    assert r.status_code == 400 and "not a remote bucket" in r.text, r.text
    r = ls({"flags": str(1 << 12), "props": "name,custom"})
    assert r.status_code == 400 and "remote versioning" in r.text, r.text
    # `target`: an unknown target is refused; a real one lists the (whole ais://) bucket.
    r = ls({"target": "nosuchtarget"})
    assert r.status_code == 404 and "nosuchtarget" in r.text, r.text
    r = ls({"target": ctx["target"], "props": "name"})
    assert r.status_code == 200, r.text
    assert sorted(e["name"] for e in r.json()["entries"]) == sorted(SEED)
    # The default time format (RFC822) spelled out is the default.
    r = ls({"time_format": "02 Jan 06 15:04 MST", "props": "name"})
    assert r.status_code == 200, r.text


def summary_and_info(ep, name):
    client = make_client(ep)
    b = client.bucket(name).create(exist_ok=True)
    sizes = {"p/a": 10, "p/b": 1000, "p/c/d": 3, "q": 50_000, "r": 0}
    for n, s in sizes.items():
        b.object(n).get_writer().put_content(det_bytes(n, s))

    def expect(summ, objs):
        vals = [sizes[n] for n in objs]
        assert summ["name"] == name and summ["provider"] == "ais", summ
        assert summ["ObjCount"]["obj_count_present"] == str(len(vals)), summ
        assert summ["TotalSize"]["size_all_present_objs"] == str(sum(vals)), summ
        assert summ["ObjSize"]["obj_min_size"] == (min(vals) if vals else 0), summ
        assert summ["ObjSize"]["obj_max_size"] == (max(vals) if vals else 0), summ
        avg = (sum(vals) + len(vals) // 2) // len(vals) if vals else 0
        assert summ["ObjSize"]["obj_avg_size"] == avg, summ
        assert int(summ["TotalSize"]["total_disks_size"]) > 0, summ
        assert summ["is_present"] is True, summ

    expect(b.summary(), list(sizes))
    expect(b.summary(prefix="p/"), ["p/a", "p/b", "p/c/d"])
    expect(b.summary(prefix="nothing-here/"), [])
    props, info = b.info()
    assert json.loads(props)["provider"] == "ais"
    expect(info, list(sizes))
    # A prefix in the path (the SDK's Bucket.info(prefix=...)): bound to the summary's ID.
    _, info = b.info(prefix="p/")
    expect(info, ["p/a", "p/b", "p/c/d"])
    # Raw protocol: 202 and an ID, then 200 with the result; an unknown ID is a 404.
    r = requests.get(bck_url(ep, name), json={"action": "summary-bck", "name": "", "value": {"prefix": "p/c"}},
                     timeout=T)
    assert r.status_code == 202 and r.text, r.text
    uuid = r.text
    deadline = time.monotonic() + 30
    while True:
        r = requests.get(bck_url(ep, name), json={"action": "summary-bck", "name": "",
                                                   "value": {"uuid": uuid, "prefix": "p/c"}}, timeout=T)
        if r.status_code != 202 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status_code == 200, r.text
    expect(r.json()[0], ["p/c/d"])
    r = requests.get(bck_url(ep, name), json={"action": "summary-bck", "name": "", "value": {"uuid": "nosuchjob"}},
                     timeout=T)
    assert r.status_code == 404, r.text
    # Without bsumm_remote, a prefix in a HEAD path is refused (as in AIS).
    r = requests.head(f"{ep}/v1/buckets/{name}/p/", params={"provider": "ais"}, timeout=T)
    assert r.status_code == 400, r.status_code


def default_props_and_presence(ep, name):
    create_bucket(ep, name, {"versioning": {"enabled": True}, "checksum": {"type": "xxhash2"},
                             "mirror": {"enabled": False}})
    r = requests.head(bck_url(ep, name), params={"presence": "2"}, timeout=T)
    assert r.status_code == 200 and json.loads(r.headers["Ais-Bucket-Props"])["provider"] == "ais"
    r = requests.get(f"{ep}/v1/buckets", params={"provider": "ais", "presence": "5"}, timeout=T)
    assert r.status_code == 200 and r.json() == [], r.text
    r = requests.get(f"{ep}/v1/buckets", params={"provider": "ais", "presence": "2"}, timeout=T)
    assert name in [b["name"] for b in r.json()], r.text
    # No remote backends are configured: an empty list (Go's GetConfiguredBackends).
    r = requests.get(f"{ep}/v1/cluster", params={"what": "backends"}, timeout=T)
    assert r.status_code == 200 and r.json() == [], r.text


# ---- jobs and mountpaths (a throttled node of their own) ---------------------------------------


class SlowNode(AisNode):
    def argv(self):
        return super().argv() + ["--rebalance-max-rate", "40"]


def mp_request(node, method, action, path, query=None):
    return requests.request(method, f"{node.endpoint}/v1/daemon/mountpaths", params=query,
                            json={"action": action, "name": "", "value": path}, timeout=T)


def test_job_lists_and_dntres(aisnode_binary, tmp_path):
    node = _start_or_fail(SlowNode(aisnode_binary, tmp_path / "n", num_mountpaths=2))
    try:
        ep = node.endpoint
        client = make_client(ep)
        b = client.bucket("jobs").create()
        for i in range(300):
            b.object(f"o{i:03d}").get_writer().put_content(b"x" * 10)
        clu = client.cluster()
        assert clu.list_running_jobs() == []
        # A new mountpath: a resilver moves ~1/3 of the objects at 40/s (a few seconds).
        mp3 = os.path.join(str(node.data_dir), "mp3")
        os.makedirs(mp3)
        r = mp_request(node, "PUT", "attach-mp", mp3)
        assert r.status_code == 200 and r.text, r.text
        job_id = r.text.strip()
        running = clu.list_running_jobs()
        assert running == [f"resilver[{job_id}]"], running
        assert clu.list_running_jobs(job_kind="rebalance") == []
        st = clu.list_jobs_status(job_kind="resilver")
        assert [(s.uuid, s.end_time, s.aborted) for s in st] == [(job_id, 0, False)], st
        active = requests.get(f"{ep}/v1/cluster", params={"what": "status_all"},
                              json={"kind": "", "node": "", "show_active": True}, timeout=T).json()
        assert [s["uuid"] for s in active] == [job_id], active
        client.job(job_id=job_id, job_kind="resilver").abort()
        deadline = time.monotonic() + 20
        while clu.list_running_jobs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert clu.list_running_jobs() == []
        st = clu.list_jobs_status()
        assert [(s.uuid, s.aborted) for s in st] == [(job_id, True)], st
        assert st[0].end_time > 0 and "abort" in st[0].err, st
        active = requests.get(f"{ep}/v1/cluster", params={"what": "status_all"},
                              json={"kind": "", "node": "", "show_active": True}, timeout=T).json()
        assert active == [], active
        # A resilver to finish the move; then detach with AIS's dntres=true: no resilver.
        done = client.job(job_kind="resilver").start()
        assert client.job(job_id=done, job_kind="resilver").wait(timeout=60, verbose=False).success
        n_jobs = len(clu.list_jobs_status())
        r = mp_request(node, "DELETE", "detach-mp", mp3, query={"dntres": "true"})
        assert r.status_code == 200 and r.text == "", f"detach with dntres=true: {r.status_code} {r.text!r}"
        time.sleep(0.5)
        assert len(clu.list_jobs_status()) == n_jobs, clu.list_jobs_status()
        assert clu.list_running_jobs() == []
    finally:
        node.close()


def test_reverse_daemon_queries_reach_the_named_node(cluster):
    """`/v1/reverse/daemon?what=...` with Ais-Node-Id (Go's GetMountpaths, GetNodeClusterMap):
    answered by the named node through either proxy."""
    smap = cluster.smap()
    for tid in smap["tmap"]:
        for p in cluster.proxies:
            r = requests.get(f"{p.endpoint}/v1/reverse/daemon", params={"what": "mountpaths"},
                             headers={"Ais-Node-Id": tid}, timeout=T)
            assert r.status_code == 200, r.text
            assert r.json()["available"] == target_mountpaths(cluster.primary.endpoint, tid)
            r = requests.get(f"{p.endpoint}/v1/reverse/daemon", params={"what": "snode"},
                             headers={"Ais-Node-Id": tid}, timeout=T)
            assert r.status_code == 200 and r.json()["daemon_id"] == tid, r.text
    r = requests.get(f"{cluster.primary.endpoint}/v1/reverse/daemon", params={"what": "smap"},
                     headers={"Ais-Node-Id": "nosuchnode"}, timeout=T)
    assert r.status_code == 404, r.text


def test_health_questions_for_the_primary(cluster):
    """`prr` (the SDK's Cluster.is_ready) is answered by the primary, also when asked through
    another proxy; `apr` (the caller thinks it asks the primary) is misdirected there."""
    for p in cluster.proxies:
        r = requests.get(f"{p.endpoint}/v1/health", params={"prr": "true"}, timeout=T)
        assert r.status_code == 200, r.text
    r = requests.get(f"{cluster.primary.endpoint}/v1/health", params={"apr": "true"}, timeout=T)
    assert r.status_code == 200, r.text
    r = requests.get(f"{cluster.proxies[1].endpoint}/v1/health", params={"apr": "true"}, timeout=T)
    assert r.status_code == 400 and "misdirected" in r.text, r.text
    assert make_client(cluster.proxies[1].endpoint).cluster().is_ready()
