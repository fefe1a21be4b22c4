"""Graceful lifecycle (issue 13, part 5): SIGTERM, `shutdown-node` and `shutdown`.

A stopping node first has the primary flag it "shut down for a while" (Snode flag 1024, our
extension), so proxies stop redirecting to it; then it drains: responses say
`Connection: close`, the listeners close, in-flight requests finish, exit 0. No rebalance
starts, neither when it leaves nor when it comes back; its re-join clears the flag.

1. SIGTERM a target under client load (GET/PUT threads through both proxies): no client
   error (no connection reset or refused, no 5xx, no hang), redirects stop within 1 s,
   its objects answer 200 or 404 (mirror copies are on its own disks), no rebalance job;
   restarted, it rejoins, the flag is cleared, it is redirected to again, its objects and
   the objects PUT meanwhile that it owns again are served.
2. `shutdown-node` (through a non-primary proxy) for a target and a proxy: exit 0, flagged,
   back after a restart.
3. `shutdown` (the whole cluster): every process exits 0, targets first, then the
   non-primary proxies, then the primary.
"""

import os
import random
import signal
import threading
import time

import pytest
import requests

import hrw
from aisutil import bck_url, det_bytes, obj_url
from clusterutil import Cluster

FLAG_SHUTDOWN = 1024
TIMEOUT = 30
EXIT_DEADLINE_S = 40
REDIRECT_STOP_MAX_S = 1.0
BUCKET = "life"


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("life"), proxies=2, targets=3, mountpaths=2,
                target_cores=2)
    try:
        c.start()
        r = requests.post(bck_url(c.primary.endpoint, BUCKET),
                          json={"action": "create-bck", "name": "",
                                "value": {"mirror": {"enabled": True, "copies": 2}}}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        yield c
    finally:
        c.close()


def owner(cluster, name, via=None):
    smap = cluster.smap(via)
    active = [tid for tid, t in smap["tmap"].items() if t["flags"] & (4 | 8 | FLAG_SHUTDOWN) == 0]
    return hrw.choose_target(active, BUCKET, name)


def rebalance_ids(cluster):
    ids = set()
    for t in cluster.targets:
        if t.is_alive():
            jobs = requests.get(f"{t.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json()
            ids |= {(t.name, j["id"]) for j in jobs if j["kind"] == "rebalance"}
    return ids


def wait_exit(node, deadline_s=EXIT_DEADLINE_S):
    rc = node.proc.wait(timeout=deadline_s)
    node.last_returncode = rc
    return rc


def redirect_host(proxy, name):
    """host:port the proxy redirects a GET of `name` to."""
    r = requests.get(obj_url(proxy.endpoint, BUCKET, name), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code in (301, 302, 307), f"GET {name} via {proxy.name}: {r.status_code} {r.text[:200]}"
    return r.headers["Location"].split("/")[2]


def ports_of(node):
    return {f"127.0.0.1:{p}" for p in [node.port] + node.core_ports}


class Load:
    """Client threads doing GET and PUT through the proxies; every outcome is recorded."""

    def __init__(self, cluster, names, threads=4):
        self.cluster = cluster
        self.names = list(names)
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.errors = []
        self.ok = 0
        self.not_found = []
        self.put_names = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, i):
        rnd = random.Random(i)
        s = requests.Session()
        proxy = self.cluster.proxies[i % len(self.cluster.proxies)]
        n = 0
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                if rnd.random() < 0.3:
                    name = f"load-{i}-{n}"
                    n += 1
                    r = s.put(obj_url(proxy.endpoint, BUCKET, name), data=det_bytes(name, 8192), timeout=TIMEOUT)
                    what = f"PUT {name}"
                    if r.status_code == 200:
                        with self.lock:
                            self.put_names.append(name)
                else:
                    name = rnd.choice(self.names)
                    r = s.get(obj_url(proxy.endpoint, BUCKET, name), timeout=TIMEOUT)
                    what = f"GET {name}"
                    if r.status_code == 200 and r.content != det_bytes(name, 8192):
                        raise AssertionError(f"{what}: wrong bytes")
                with self.lock:
                    if r.status_code == 200:
                        self.ok += 1
                    elif r.status_code == 404 and what.startswith("GET"):
                        self.not_found.append((name, time.monotonic() - t0))
                    else:
                        self.errors.append(f"{what}: {r.status_code} {r.text[:200]}")
            except Exception as e:  # connection reset/refused, timeouts: all failures here
                with self.lock:
                    self.errors.append(f"{type(e).__name__}: {e}")

    def wait_ok(self, more, deadline_s=30):
        """Poll until `more` further requests succeeded."""
        start = self.ok
        deadline = time.monotonic() + deadline_s
        while self.ok < start + more:
            assert time.monotonic() < deadline, f"load made no progress ({self.ok - start} of {more} ok)"
            time.sleep(0.01)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=TIMEOUT + 5)
        assert not any(t.is_alive() for t in self.threads), "a load thread hangs"


def put_objects(cluster, names):
    s = requests.Session()
    for name in names:
        r = s.put(obj_url(cluster.primary.endpoint, BUCKET, name), data=det_bytes(name, 8192), timeout=TIMEOUT)
        assert r.status_code == 200, f"PUT {name}: {r.status_code} {r.text}"


def test_sigterm_target_under_load_drains_without_rebalance_and_rejoins(cluster):
    names = [f"obj-{i}" for i in range(120)]
    put_objects(cluster, names)
    victim = cluster.targets[0]
    vid = victim.persisted_id()
    mine = [n for n in names if owner(cluster, n) == vid]
    assert mine, "the victim owns none of the objects"
    probe = mine[0]
    assert redirect_host(cluster.proxies[1], probe) in ports_of(victim)
    reb_before = rebalance_ids(cluster)

    with Load(cluster, names) as load:
        load.wait_ok(50)  # load running before the signal
        t0 = time.monotonic()
        os.kill(victim.pid, signal.SIGTERM)
        # Both proxies stop redirecting to the victim: measure when.
        stopped = {}
        while len(stopped) < 2 and time.monotonic() - t0 < 10:
            for p in cluster.proxies:
                if p.name not in stopped and redirect_host(p, probe) not in ports_of(victim):
                    stopped[p.name] = time.monotonic() - t0
            time.sleep(0.005)
        rc = wait_exit(victim)
        exited = time.monotonic() - t0
        load.wait_ok(100)  # load goes on against the cluster without the victim
    print(f"\n[sigterm] redirects stopped after {stopped} s; exit {rc} after {exited:.2f}s; "
          f"load: {load.ok} ok, {len(load.not_found)} 404, {len(load.errors)} errors")
    assert rc == 0, f"victim exited with {rc}\n{victim.log_tail()}"
    assert len(stopped) == 2 and max(stopped.values()) <= REDIRECT_STOP_MAX_S, stopped
    assert not load.errors, f"{len(load.errors)} client errors, first: {load.errors[:5]}"
    assert load.ok > 0
    for name, dt in load.not_found:
        assert name in mine, f"404 for {name}, which the victim did not own"
        assert dt < 5, f"404 for {name} took {dt:.2f}s"

    smap = cluster.smap()
    assert vid in smap["tmap"] and smap["tmap"][vid]["flags"] & FLAG_SHUTDOWN, smap["tmap"].get(vid)
    # Its objects answer fast, 200 or 404, never an error; others are all there.
    s = requests.Session()
    for name in names:
        t = time.monotonic()
        r = s.get(obj_url(cluster.proxies[1].endpoint, BUCKET, name), timeout=TIMEOUT)
        want = (200, 404) if name in mine else (200,)
        assert r.status_code in want, f"GET {name} with the victim down: {r.status_code} {r.text[:200]}"
        assert time.monotonic() - t < 5
    # Still in the map over several keepalive timeouts (a known absence), no rebalance.
    end = time.monotonic() + 2 * cluster.keepalive_timeout_s
    while time.monotonic() < end:
        smap = cluster.smap()
        assert vid in smap["tmap"] and smap["tmap"][vid]["flags"] & FLAG_SHUTDOWN, "the stopped target was removed"
        time.sleep(0.1)
    reb_others = {x for x in reb_before if x[0] != victim.name}
    assert rebalance_ids(cluster) == reb_others, "a rebalance started on the remaining targets"

    # PUT while it is down, some of which it owns again once back.
    during = [f"during-{i}" for i in range(30)]
    put_objects(cluster, during)

    victim.spawn()
    cluster.wait_converged(cluster.nodes, 30)
    smap = cluster.smap()
    assert smap["tmap"][vid]["flags"] & FLAG_SHUTDOWN == 0, "flag not cleared on re-join"
    assert redirect_host(cluster.proxies[1], probe) in ports_of(victim), "not redirected to again"
    for name in names + during + load.put_names:
        r = s.get(obj_url(cluster.proxies[0].endpoint, BUCKET, name), timeout=TIMEOUT)
        assert r.status_code == 200, f"GET {name} after the re-join: {r.status_code} {r.text[:200]}"
        assert r.content == det_bytes(name, 8192), name
    others = {(n, i) for n, i in rebalance_ids(cluster) if n != victim.name}
    assert others == reb_others, "the re-join started a rebalance"
    # The victim's own idempotent re-join pass (if any) moved nothing.
    for j in requests.get(f"{victim.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json():
        if j["kind"] == "rebalance":
            assert j.get("objects", 0) == 0, j


def test_sigterm_waits_for_the_request_in_flight(cluster):
    """A PUT whose body is still arriving when SIGTERM comes completes with 200 and
    `Connection: close`; meanwhile a new connection is refused; then the process exits 0."""
    import http.client
    import socket

    cluster.ensure_converged()
    victim = cluster.targets[2]
    vid = victim.persisted_id()
    name = next(n for n in (f"in-flight-{i}" for i in range(1000)) if owner(cluster, n) == vid)
    body = det_bytes(name, 1 << 20)
    # Where the proxy redirects the PUT (the owning core, with the redirect's pid/utm).
    r = requests.put(obj_url(cluster.primary.endpoint, BUCKET, name), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 307, r.status_code
    loc = r.headers["Location"].split("/", 3)
    host, port = loc[2].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    c.putrequest("PUT", "/" + loc[3])
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    c.send(body[: len(body) // 2])
    # The head is read within the drain's grace (an unread one would count as idle).
    os.kill(victim.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    refused = False
    while not refused and time.monotonic() < deadline:  # listeners close after the grace
        try:
            socket.create_connection(("127.0.0.1", victim.port), timeout=1).close()
            time.sleep(0.02)
        except ConnectionRefusedError:
            refused = True
    assert refused, "the stopping target still accepts new connections"
    assert victim.proc.poll() is None, "exited with a request in flight"
    c.send(body[len(body) // 2:])
    r = c.getresponse()
    assert r.status == 200, f"in-flight PUT: {r.status} {r.read()[:200]}"
    assert (r.getheader("Connection") or "").lower() == "close", r.getheaders()
    c.close()
    assert wait_exit(victim) == 0, victim.log_tail()
    victim.spawn()
    cluster.wait_converged(cluster.nodes, 30)
    r = requests.get(obj_url(cluster.primary.endpoint, BUCKET, name), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == body


def test_shutdown_node_api_for_a_target_and_a_proxy(cluster):
    cluster.ensure_converged()
    via = cluster.proxies[1]
    for node in (cluster.targets[1], cluster.proxies[1]):
        sid = node.persisted_id()
        ep = cluster.primary if node is via else via
        r = requests.put(f"{ep.endpoint}/v1/cluster", json={"action": "shutdown-node", "value": {"sid": sid}},
                         timeout=TIMEOUT)
        assert r.status_code == 200, f"shutdown-node {sid}: {r.status_code} {r.text}"
        rc = wait_exit(node)
        assert rc == 0, f"{node.name} exited with {rc}\n{node.log_tail()}"
        smap = cluster.smap()
        assert smap["tmap" if node.role == "target" else "pmap"][sid]["flags"] & FLAG_SHUTDOWN
        node.spawn()
        cluster.wait_converged(cluster.nodes, 30)
        smap = cluster.smap()
        assert smap["tmap" if node.role == "target" else "pmap"][sid]["flags"] & FLAG_SHUTDOWN == 0
    # Refusals: the primary itself, an unknown node, a missing sid.
    for value, status in (({"sid": cluster.primary.persisted_id()}, 400), ({"sid": "nosuchnode"}, 404),
                          ({}, 400)):
        r = requests.put(f"{cluster.primary.endpoint}/v1/cluster", json={"action": "shutdown-node", "value": value},
                         timeout=TIMEOUT)
        assert r.status_code == status, f"shutdown-node {value}: {r.status_code} {r.text}"
    assert all(n.is_alive() for n in cluster.nodes)


def test_shutdown_cluster_stops_targets_then_proxies_then_primary(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=2, targets=2, mountpaths=1, target_cores=1)
    try:
        c.start()
        r = requests.put(f"{c.proxies[1].endpoint}/v1/cluster", json={"action": "shutdown"}, timeout=TIMEOUT)
        assert r.status_code == 200, f"shutdown: {r.status_code} {r.text}"
        exits = {}
        deadline = time.monotonic() + EXIT_DEADLINE_S
        while len(exits) < len(c.nodes) and time.monotonic() < deadline:
            for n in c.nodes:
                if n.name not in exits and n.proc.poll() is not None:
                    exits[n.name] = (time.monotonic(), n.proc.returncode)
            time.sleep(0.01)
        print(f"\n[shutdown] exits: { {k: round(v[0] - min(x[0] for x in exits.values()), 3) for k, v in exits.items()} }")
        assert len(exits) == len(c.nodes), f"still running: {[n.name for n in c.nodes if n.name not in exits]}"
        assert all(rc == 0 for _, rc in exits.values()), exits
        t_targets = max(exits[t.name][0] for t in c.targets)
        assert t_targets <= exits["proxy1"][0] <= exits["proxy0"][0], exits
    finally:
        c.close()
