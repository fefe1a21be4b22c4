"""Highly available control plane (issue 13) on real processes: primary failover by election
(SIGKILL and SIGSTOP of the primary), no split brain, set-primary, non-electable proxies,
whole-cluster restart in random order, and the targets' Smap/BMD backups on their mountpaths.

Keepalive 500 ms x 3 (a node silent for 1.5 s has failed)."""

import json
import os
import random
import signal
import threading
import time

import pytest
import requests

from aisutil import bck_url, det_bytes, make_client, obj_url
from clusterutil import Cluster, ClusterNode

pytestmark = pytest.mark.timeout(600)
TIMEOUT = (3.0, 20.0)
FAILOVER_DEADLINE_S = 10.0


def smap_of(node, timeout=2.0):
    try:
        r = requests.get(f"{node.endpoint}/v1/daemon?what=smap", timeout=timeout)
        return r.json() if r.status_code == 200 else None
    except requests.RequestException:
        return None


def bmd_of(node):
    """A node's BMD with its AIS buckets under "buckets" (AIS keeps them at providers.ais["@#"])."""
    r = requests.get(f"{node.endpoint}/v1/daemon?what=bmd", timeout=TIMEOUT)
    r.raise_for_status()
    b = r.json()
    b["buckets"] = b.get("providers", {}).get("ais", {}).get("@#", {})
    return b


def by_id(cluster, sid):
    for n in cluster.nodes:
        if n.persisted_id() == sid:
            return n
    raise KeyError(sid)


def id_or_none(node):
    """The node's persisted ID, or None while a new node has not written it yet."""
    try:
        return node.persisted_id()
    except OSError:
        return None


def current_primary(cluster, via):
    return by_id(cluster, via.smap()["proxy_si"]["daemon_id"])


def wait_one_primary(cluster, nodes, not_id=None, deadline_s=FAILOVER_DEADLINE_S, members=None):
    """Wait until every node in `nodes` holds the same Smap (version and primary), the primary is
    not `not_id`, and (if given) the map lists exactly `members`. Returns (smap, seconds)."""
    t0 = time.monotonic()
    last = None
    while True:
        maps = [smap_of(n) for n in nodes]
        if all(maps):
            keys = {(m["uuid"], m["version"], m["proxy_si"]["daemon_id"]) for m in maps}
            if len(keys) == 1:
                m = maps[0]
                pid = m["proxy_si"]["daemon_id"]
                ok = pid != not_id and pid in m["pmap"]
                if members is not None:
                    ok = ok and set(m["pmap"]) | set(m["tmap"]) == set(members)
                if ok:
                    return m, time.monotonic() - t0
            last = keys
        else:
            last = [n.name for n, m in zip(nodes, maps) if not m]
        if time.monotonic() - t0 > deadline_s:
            raise AssertionError(f"no single primary on {[n.name for n in nodes]} within {deadline_s}s: {last}")
        time.sleep(0.05)


def create_bucket(endpoint, name, props=None):
    body = {"action": "create-bck"}
    if props:
        body["value"] = props
    r = requests.post(bck_url(endpoint, name), json=body, timeout=(3.0, 60.0))
    assert r.status_code == 200, (name, r.status_code, r.text)


@pytest.fixture
def cluster6(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=3, targets=3, target_cores=1)
    c.start()
    try:
        yield c
    finally:
        c.close()


def test_primary_sigkill_failover_under_load(cluster6, tmp_path):
    from s3util import boto3_client

    c = cluster6
    old = c.primary
    old_id = old.persisted_id()
    via = c.proxies[1]
    s3 = boto3_client(f"{via.endpoint}/s3", unsigned=True)
    create_bucket(via.endpoint, "fo")
    objs = {f"o{i}": det_bytes(f"fo{i}", 1000 + 37 * i) for i in range(60)}
    for k, v in objs.items():
        assert requests.put(obj_url(via.endpoint, "fo", k), data=v, timeout=TIMEOUT).status_code == 200

    stop = threading.Event()
    failures, counts, lock = [], {"native": 0, "s3": 0}, threading.Lock()

    # No status retries in the SDK: a failure is never hidden behind a successful retry.
    sdk_bucket = make_client(via.endpoint).bucket("fo")

    def native_reader():
        i = 0
        while not stop.is_set():
            k = f"o{i % 60}"
            try:
                got = sdk_bucket.object(k).get_reader().read_all()
                if got != objs[k]:
                    failures.append(f"SDK GET {k}: wrong bytes")
            except Exception as e:  # the SDK raises many types; every one is a failure here
                failures.append(f"SDK GET {k}: {e}")
            with lock:
                counts["native"] += 1
            i += 1

    def s3_writer():
        i = 0
        while not stop.is_set():
            k = f"w{i}"
            d = det_bytes(k, 500 + i)
            try:
                s3.put_object(Bucket="fo", Key=k, Body=d)
                got = s3.get_object(Bucket="fo", Key=k)["Body"].read()
                if got != d:
                    failures.append(f"S3 {k}: wrong bytes")
                with lock:
                    objs[k] = d
            except Exception as e:  # boto3 raises many types; every one is a failure here
                failures.append(f"S3 {k}: {e}")
            with lock:
                counts["s3"] += 1
            i += 1

    threads = [threading.Thread(target=native_reader), threading.Thread(target=s3_writer)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        old.kill9()
        survivors = [n for n in c.nodes if n is not old]
        smap, took = wait_one_primary(c, survivors, not_id=old_id)
        new_primary = by_id(c, smap["proxy_si"]["daemon_id"])
        assert old_id not in smap["pmap"], "the dead primary is still in the map"
        print(f"\n[failover] new primary {new_primary.name} in every node's Smap after {took:.2f}s "
              f"(v{smap['version']})")
        # The cluster config names the new primary on every node.
        deadline = time.monotonic() + 10
        while True:
            urls = {n.name: requests.get(f"{n.endpoint}/v1/daemon?what=config", timeout=TIMEOUT).json()
                    ["proxy"]["primary_url"] for n in survivors}
            if set(urls.values()) == {new_primary.endpoint}:
                break
            assert time.monotonic() < deadline, (new_primary.endpoint, urls)
            time.sleep(0.1)
        # Bucket create through the survivors (also the non-primary ones).
        for p in [n for n in c.proxies if n is not old]:
            create_bucket(p.endpoint, f"after-{p.name}")
        # A target joins (through a surviving proxy) and the rebalance runs.
        t = c.add_target_node("target-new", primary_url=via.endpoint)
        t.spawn()
        c.wait_smap(lambda s: id_or_none(t) in s["tmap"], "new target joined", 30, via=via)
        time.sleep(1.0)
    finally:
        stop.set()
        for th in threads:
            th.join(60)
    assert not failures, failures[:10]
    assert counts["native"] > 0 and counts["s3"] > 0, counts
    # The rebalance the join started finished without errors, and every object is readable.
    deadline = time.monotonic() + 60
    while True:
        jobs = requests.get(f"{via.endpoint}/v1/cluster?what=jobs", timeout=TIMEOUT).json()
        reb = [j for j in jobs if j["kind"] == "rebalance"]
        if reb and all(j["finished"] for j in reb):
            break
        assert time.monotonic() < deadline, reb
        time.sleep(0.2)
    assert all(j["errors"] == 0 for j in reb), reb
    for k, v in objs.items():
        r = requests.get(obj_url(via.endpoint, "fo", k), timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == v, (k, r.status_code)

    # The old primary restarted rejoins as a non-primary.
    old.spawn()
    members = [n.persisted_id() for n in c.nodes]
    smap, _ = wait_one_primary(c, c.nodes, deadline_s=30, members=members)
    assert smap["proxy_si"]["daemon_id"] != old_id
    assert old.health() == 200
    for p in c.proxies:
        names = {b["name"] for b in requests.get(f"{p.endpoint}/v1/buckets?provider=ais", timeout=TIMEOUT).json()}
        assert {"fo", "after-proxy1", "after-proxy2"} <= names, (p.name, names)
    print(f"[failover] {counts['native']} SDK GETs and {counts['s3']} S3 PUT+GETs through {via.name}, "
          f"0 failed; old primary back as non-primary (Smap v{smap['version']})")


@pytest.fixture
def cluster5(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=3, targets=2, target_cores=1)
    c.start()
    try:
        yield c
    finally:
        for n in c.nodes:
            if n.is_alive():
                try:
                    os.kill(n.pid, signal.SIGCONT)
                except OSError:
                    pass
        c.close()


def test_sigstop_primary_twenty_times_no_split_brain(cluster5):
    """SIGSTOP the primary past the failover time, create a bucket meanwhile, SIGCONT it: the
    cluster settles on one Smap with exactly one primary and keeps every bucket. 20 rounds."""
    c = cluster5
    created = []
    took_all = []
    for rnd in range(20):
        live = c.proxies[(rnd + 1) % 3]
        prim = current_primary(c, live)
        if live is prim:
            live = next(p for p in c.proxies if p is not prim)
        prim_id = prim.persisted_id()
        os.kill(prim.pid, signal.SIGSTOP)
        try:
            others = [n for n in c.nodes if n is not prim]
            smap, took = wait_one_primary(c, others, not_id=prim_id)
            took_all.append(took)
            name = f"during-{rnd}"
            create_bucket(live.endpoint, name)
            created.append(name)
        finally:
            os.kill(prim.pid, signal.SIGCONT)
        members = [n.persisted_id() for n in c.nodes]
        smap, _ = wait_one_primary(c, c.nodes, deadline_s=30, members=members)
        assert smap["proxy_si"]["daemon_id"] != prim_id
        # Every node has every bucket created so far, at one BMD version.
        bmds = [bmd_of(n) for n in c.nodes]
        assert len({b["version"] for b in bmds}) == 1, [(n.name, b["version"]) for n, b in zip(c.nodes, bmds)]
        for n, b in zip(c.nodes, bmds):
            missing = set(created) - set(b["buckets"])
            assert not missing, (rnd, n.name, missing)
        # Versions only grew and no node crashed (asserts abort the process).
        for n in c.nodes:
            n.check_running()
    print(f"\n[split brain] 20 SIGSTOP rounds: new primary after {min(took_all):.2f}..{max(took_all):.2f}s; "
          f"{len(created)} buckets created during the pauses, none lost")


def test_set_primary_and_non_electable(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=3, targets=1, target_cores=1)
    c.proxies[2].extra_args = ["--non-electable"]
    try:
        c.start()
        p0, p1, p2 = c.proxies
        ids = [p.persisted_id() for p in c.proxies]
        assert c.smap()["pmap"][ids[2]]["flags"] & 1 == 1, "non-electable flag missing from the Snode"
        # Refused: the non-electable proxy, an unknown ID; nothing changes.
        v0 = c.smap()["version"]
        r = requests.put(f"{p1.endpoint}/v1/cluster/proxy/{ids[2]}", timeout=TIMEOUT)
        assert r.status_code == 409 and "non-electable" in r.text, (r.status_code, r.text)
        r = requests.put(f"{p0.endpoint}/v1/cluster/proxy/nosuchnode", timeout=TIMEOUT)
        assert r.status_code == 404, (r.status_code, r.text)
        assert c.smap()["version"] == v0 and c.smap()["proxy_si"]["daemon_id"] == ids[0]
        # Moved on purpose (through a non-primary proxy).
        r = requests.put(f"{p2.endpoint}/v1/cluster/proxy/{ids[1]}", timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        smap, _ = wait_one_primary(c, c.nodes, deadline_s=10, members=[n.persisted_id() for n in c.nodes])
        assert smap["proxy_si"]["daemon_id"] == ids[1]
        create_bucket(p0.endpoint, "after-set-primary")
        assert "after-set-primary" in bmd_of(c.targets[0])["buckets"]
        # The new primary fails: p0 is the only electable one left and takes over; the
        # non-electable p2 never does.
        p1.kill9()
        smap, _ = wait_one_primary(c, [p0, p2, c.targets[0]], not_id=ids[1])
        assert smap["proxy_si"]["daemon_id"] == ids[0]
        # And with p0 gone too, nobody can be elected: the map keeps naming p0.
        p0.kill9()
        time.sleep(5 * c.keepalive_timeout_s)
        for n in (p2, c.targets[0]):
            assert smap_of(n)["proxy_si"]["daemon_id"] == ids[0], n.name
        assert "no electable proxy" in p2.log_text() or "no electable proxy" in c.targets[0].log_text()
    finally:
        c.close()


def test_whole_cluster_restart_in_random_order(aisnode_binary, tmp_path):
    """Power loss: SIGKILL every node at once, start them again in random order. The cluster
    re-forms with the same UUID and every bucket, property and acknowledged object; the primary
    is the one the persisted Smaps name (here moved by set-primary first)."""
    c = Cluster(aisnode_binary, tmp_path, proxies=2, targets=3, target_cores=1)
    try:
        c.start()
        p0, p1 = c.proxies
        r = requests.put(f"{p0.endpoint}/v1/cluster/proxy/{p1.persisted_id()}", timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        wait_one_primary(c, c.nodes, deadline_s=10, members=[n.persisted_id() for n in c.nodes])
        uuid = c.smap()["uuid"]
        create_bucket(p0.endpoint, "plain")
        create_bucket(p1.endpoint, "mirrored", {"mirror": {"enabled": True, "copies": 2}})
        objs = {}
        for b in ("plain", "mirrored"):
            for i in range(40):
                d = det_bytes(f"{b}{i}", 200 + 91 * i)
                assert requests.put(obj_url(p0.endpoint, b, f"k{i}"), data=d, timeout=TIMEOUT).status_code == 200
                objs[(b, f"k{i}")] = d
        for rnd in range(2):
            for n in c.nodes:
                os.kill(n.pid, signal.SIGKILL)
            for n in c.nodes:
                n.proc.wait(10)
            order = c.nodes[:]
            random.Random(1000 + rnd).shuffle(order)
            for n in order:
                n.spawn()
                time.sleep(random.Random(rnd).random() * 0.5)
            members = [n.persisted_id() for n in c.nodes]
            smap, took = wait_one_primary(c, c.nodes, deadline_s=60, members=members)
            assert smap["uuid"] == uuid
            prim = by_id(c, smap["proxy_si"]["daemon_id"])
            for n in c.nodes:
                deadline = time.monotonic() + 30
                while n.health() != 200:
                    assert time.monotonic() < deadline, f"{n.name} not ready"
                    time.sleep(0.1)
            for p in c.proxies:
                bmd = bmd_of(p)
                assert bmd["uuid"] == uuid and {"plain", "mirrored"} <= set(bmd["buckets"]), bmd
            for p in c.proxies:
                h = requests.head(bck_url(p.endpoint, "mirrored"), timeout=TIMEOUT)
                assert h.status_code == 200, h.status_code
                mirror = json.loads(h.headers["Ais-Bucket-Props"])["mirror"]
                assert mirror["enabled"] is True and int(mirror["copies"]) == 2, (p.name, mirror)
            for (b, k), d in objs.items():
                r = requests.get(obj_url(p0.endpoint, b, k), timeout=TIMEOUT)
                assert r.status_code == 200 and r.content == d, (b, k, r.status_code)
            print(f"\n[restart {rnd}] order {[n.name for n in order]}: re-formed in {took:.2f}s, "
                  f"primary {prim.name}, Smap v{smap['version']}, {len(objs)} objects intact")

        # Power loss again, and the primary does not come back: the others elect a new one from
        # their persisted maps; the old primary, started later, follows it.
        prim_id = c.smap(via=p0)["proxy_si"]["daemon_id"]
        old_prim = by_id(c, prim_id)
        for n in c.nodes:
            os.kill(n.pid, signal.SIGKILL)
        for n in c.nodes:
            n.proc.wait(10)
        rest = [n for n in c.nodes if n is not old_prim]
        for n in rest:
            n.spawn()
        smap, took = wait_one_primary(c, rest, not_id=prim_id, deadline_s=60)
        assert smap["uuid"] == uuid
        for (b, k), d in objs.items():
            r = requests.get(obj_url(p0.endpoint if p0 is not old_prim else p1.endpoint, b, k), timeout=TIMEOUT)
            assert r.status_code == 200 and r.content == d, (b, k, r.status_code)
        old_prim.spawn()
        smap2, _ = wait_one_primary(c, c.nodes, deadline_s=30, members=[n.persisted_id() for n in c.nodes])
        assert smap2["proxy_si"]["daemon_id"] == smap["proxy_si"]["daemon_id"] != prim_id
        print(f"[restart without the primary] new primary elected {took:.2f}s after the others started "
              f"(Smap v{smap['version']}); the old primary rejoined as non-primary")
    finally:
        c.close()


def test_target_recovers_cluster_metadata_from_mountpath_backups(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, target_cores=1)
    try:
        c.start()
        create_bucket(c.primary.endpoint, "bk")
        t = c.targets[0]
        conf = t.data_dir / "conf"
        for m in t.mountpaths:
            for f in (".ais.smap", ".ais.bmd"):
                assert os.path.exists(os.path.join(m, f)), f"no {f} backup on {m}"
        t.stop()
        os.remove(conf / ".ais.smap")
        os.remove(conf / ".ais.bmd")
        mark = len(t.log_text())
        t.spawn()
        c.wait_converged(c.nodes)
        assert "using the backup on a mountpath" in t.log_text()[mark:]
        assert bmd_of(t)["uuid"] == c.smap()["uuid"] and "bk" in bmd_of(t)["buckets"]
    finally:
        c.close()
