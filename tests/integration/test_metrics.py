"""Metrics (issue 15): a real Prometheus server scrapes `/metrics` of a 1-proxy/2-target cluster
under aisloader load; the SDK's `get_performance` reads the same counters from
`what=node_status`.

Needs the Debian `prometheus` binary (scripts/test.sh installs it) and the aisloader binary
next to aisnode (AISLOADER_BIN overrides)."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from clusterutil import Cluster

TIMEOUT = 10
PROM_DEADLINE_S = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aisloader_binary(aisnode_binary):
    p = Path(os.environ.get("AISLOADER_BIN", Path(aisnode_binary).parent / "aisloader"))
    assert p.is_file(), f"aisloader binary {p} not found: cargo build --release, or set AISLOADER_BIN"
    return p


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("metrics"), proxies=1, targets=2,
                mountpaths=2, target_cores=2)
    for n in c.nodes:
        n.extra_args = ["--stats-interval-ms", "1000"]
    c.start()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def prometheus(cluster, tmp_path_factory):
    binary = shutil.which("prometheus")
    assert binary, "the Debian package `prometheus` is not installed (scripts/test.sh installs it)"
    d = tmp_path_factory.mktemp("prom")
    port = free_port()
    targets = [f"127.0.0.1:{n.port}" for n in cluster.nodes]
    (d / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
        "scrape_configs:\n  - job_name: ais\n    static_configs:\n"
        f"      - targets: {json.dumps(targets)}\n")
    log = open(d / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + PROM_DEADLINE_S
        while True:
            assert proc.poll() is None, f"prometheus exited: {(d / 'prometheus.log').read_text()[-2000:]}"
            try:
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "prometheus not ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def prom_query(url, q):
    r = requests.get(f"{url}/api/v1/query", params={"query": q}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def wait_series(url, q, pred, what, deadline_s=PROM_DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        last = prom_query(url, q)
        if pred(last):
            return last
        assert time.monotonic() < deadline, f"{what}: query {q!r} last returned {last}"
        time.sleep(0.5)


def target_ids(cluster):
    return sorted(cluster.primary.smap()["tmap"].keys())


def test_prometheus_scrapes_the_cluster_under_aisloader(cluster, prometheus, aisnode_binary):
    loader = aisloader_binary(aisnode_binary)
    r = requests.post(f"{cluster.primary.endpoint}/v1/buckets/metrics-load", json={"action": "create-bck"},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    out = subprocess.run(
        [str(loader), "-ip=127.0.0.1", "-port", str(cluster.primary.port), "-bucket", "metrics-load",
         "-cleanup=false", "-pctput=50", "-duration=4s", "-minsize=4KiB", "-maxsize=256KiB",
         "-numworkers=4", "-quiet"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    tids = target_ids(cluster)
    pid = cluster.primary.persisted_id()
    # Every scraped node is up, with its own node_id label.
    up = wait_series(prometheus, 'up{job="ais"}', lambda r: len(r) == 3 and all(s["value"][1] == "1" for s in r),
                     "all three nodes scraped")
    assert len(up) == 3
    # GETs and PUTs served by each target (HRW spreads objects over both).
    gets = wait_series(prometheus, "ais_target_get_count", lambda r: len(r) == 2 and all(float(s["value"][1]) > 0 for s in r),
                       "get_count of both targets > 0")
    assert sorted(s["metric"]["node_id"] for s in gets) == tids
    puts = wait_series(prometheus, "ais_target_put_bytes", lambda r: len(r) == 2 and all(float(s["value"][1]) > 0 for s in r),
                       "put_bytes of both targets > 0")
    assert sorted(s["metric"]["node_id"] for s in puts) == tids
    # The figures agree with what the nodes say now (Prometheus lags by at most a scrape).
    for s in puts:
        nid = s["metric"]["node_id"]
        t = cluster.target_by_id(nid)
        text = requests.get(f"{t.endpoint}/metrics", timeout=TIMEOUT).text
        m = re.search(rf'^ais_target_put_bytes{{node_id="{nid}"}} (\d+)$', text, re.M)
        assert m and int(m.group(1)) >= float(s["value"][1]) > 0, (s, m)
    # Per-disk series with the node's label: the disks under the mountpaths were written.
    wait_series(prometheus, "ais_target_disk_util",
                lambda r: {s["metric"]["node_id"] for s in r} == set(tids) and all("disk" in s["metric"] for s in r),
                "disk_util per disk of both targets")
    # Per-core series: both cores of each target served requests.
    cores = wait_series(prometheus, "ais_target_core_requests",
                        lambda r: len(r) == 4 and all(float(s["value"][1]) > 0 for s in r), "core_requests per core")
    assert {(s["metric"]["node_id"], s["metric"]["core"]) for s in cores} == {(t, c) for t in tids for c in ("0", "1")}
    # Per-mountpath capacity.
    caps = wait_series(prometheus, "ais_target_capacity_total_bytes", lambda r: len(r) == 4, "capacity of 4 mountpaths")
    assert all(float(s["value"][1]) > 0 for s in caps)
    # Latency histograms: the GET count of the histogram is get_count.
    hist = prom_query(prometheus, "ais_target_get_latency_seconds_count")
    assert len(hist) == 2 and all(float(s["value"][1]) > 0 for s in hist)
    # The gateway: its own series, under the proxy subsystem and its ID.
    px = wait_series(prometheus, "ais_proxy_uptime", lambda r: len(r) == 1, "proxy uptime")
    assert px[0]["metric"]["node_id"] == pid
    # Keep-alives from the targets were timed.
    wait_series(prometheus, "ais_target_kalive_count", lambda r: len(r) == 2 and all(float(s["value"][1]) > 0 for s in r),
                "kalive_count of both targets")


def test_sdk_get_performance_reads_the_counters(cluster):
    from aistore.sdk import Client

    client = Client(cluster.primary.endpoint)
    b = client.bucket("perf").create(exist_ok=True)
    for i in range(8):  # objects on both targets
        b.object(f"o{i}").get_writer().put_content(b"x" * 1000)
        assert b.object(f"o{i}").get_reader().read_all() == b"x" * 1000
    perf = client.cluster().get_performance()
    tids = target_ids(cluster)
    assert sorted(perf) == tids
    for tid, st in perf.items():
        tr = st["tracker"]
        assert tr["get.n"] > 0 and tr["put.size"] > 0, (tid, tr)
        assert tr["up.ns.time"] > 0 and tr["state.flags"] & 4, tr
        assert st["snode"]["daemon_id"] == tid
        mps = st["capacity"]["mountpaths"]
        assert len(mps) == 2 and all(int(m["avail"]) > 0 for m in mps.values()), mps


def test_counters_follow_requests_and_errors(cluster):
    """Counting is exact: one PUT, two GETs, a 404 GET and a HEAD of a missing object on a
    quiet target move exactly the counters they should."""
    p = cluster.primary.endpoint
    assert requests.post(f"{p}/v1/buckets/exact", json={"action": "create-bck"}, timeout=TIMEOUT).status_code == 200
    name = "obj-1"
    data = os.urandom(10_000)
    owner = None
    r = requests.put(f"{p}/v1/objects/exact/{name}", data=data, timeout=TIMEOUT, allow_redirects=False)
    assert r.status_code in (301, 307), r.status_code
    core_url = r.headers["Location"]
    owner_port = urllib.parse.urlsplit(core_url).port
    for t in cluster.targets:
        if owner_port in (t.port, *(t.port + 1 + k for k in range(cluster.target_cores))):
            owner = t
    assert owner is not None, core_url

    def counters():
        tr = requests.get(f"{owner.endpoint}/v1/daemon?what=node_status", timeout=TIMEOUT).json()["tracker"]
        return {k: tr.get(k, 0) for k in ("put.n", "put.size", "get.n", "get.size", "err.get.n", "head.n", "err.head.n", "get.redir.n")}

    before = counters()
    assert requests.put(core_url, data=data, timeout=TIMEOUT).status_code == 200
    for _ in range(2):
        g = requests.get(f"{p}/v1/objects/exact/{name}", timeout=TIMEOUT)
        assert g.status_code == 200 and g.content == data
    missing = f"{p}/v1/objects/exact/{name}-missing"
    after = counters()
    # The missing name may be owned by the other target: count only what this one saw.
    assert after["put.n"] - before["put.n"] == 1, (before, after)
    assert after["put.size"] - before["put.size"] == len(data), (before, after)
    assert after["get.n"] - before["get.n"] == 2, (before, after)
    assert after["get.size"] - before["get.size"] == 2 * len(data), (before, after)
    assert after["get.redir.n"] - before["get.redir.n"] >= 2, (before, after)
    # An error response is an error, not a GET.
    r = requests.get(missing, timeout=TIMEOUT)
    assert r.status_code == 404
    h = requests.head(missing, timeout=TIMEOUT, allow_redirects=True)
    assert h.status_code == 404
    total_err = sum(requests.get(f"{t.endpoint}/v1/daemon?what=node_status", timeout=TIMEOUT).json()["tracker"]["err.get.n"]
                    for t in cluster.targets)
    assert total_err >= 1

