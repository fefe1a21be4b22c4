"""Node logs (issue 15): log files with rotation under the data directory, JSON lines as an
option, and the SDK's get_node_log / get_node_log_archive / get_cluster_logs (`what=log`
through `/v1/reverse/daemon`)."""

import io
import json
import tarfile

import requests
from aistore.sdk import Client
from aistore.sdk.enums import LogSeverity, NodeFilter

from clusterutil import Cluster

TIMEOUT = 10


def test_sdk_reads_node_and_cluster_logs(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, mountpaths=1, target_cores=1)
    for t in c.targets:
        # Small files: the start-up alone rotates them; the total keeps four or so.
        t.extra_args = ["--log-max-size", "4096", "--log-max-total", "16384"]
    c.start()
    try:
        cl = Client(c.primary.endpoint).cluster()
        tids = sorted(c.primary.smap()["tmap"])
        for tid in tids:
            text = cl.get_node_log(tid)
            assert f"target_id={tid}" in text or tid in text, text[-500:]
            assert "joined cluster" in text or "aisnode ready" in text, text[-500:]
        logs = cl.get_cluster_logs(role=NodeFilter.TARGET)
        assert sorted(logs) == tids and all(logs.values())
        assert set(cl.get_cluster_logs(role=NodeFilter.ALL)) == set(tids) | {c.primary.persisted_id()}
        pid = c.primary.persisted_id()
        assert "aisnode ready" in cl.get_node_log(pid)
        t0 = c.targets[0]
        t0_id = t0.persisted_id()
        # Severity: a killed target makes the primary log a warning; the warning view has it
        # and no INFO line, the error view only ERROR lines.
        victim = c.targets[1]
        victim.kill9()
        c.wait_smap(lambda sm: victim.persisted_id() not in sm["tmap"], "killed target dropped")
        warn = cl.get_node_log(pid, severity=LogSeverity.WARNING)
        assert "stopped answering keepalives" in warn, warn[-1000:]
        assert all((" WARN " in ln or " ERROR " in ln) for ln in warn.splitlines()), warn[:1000]
        info = cl.get_node_log(pid, severity=LogSeverity.INFO)
        assert " INFO " in info and "stopped answering keepalives" in info
        err = cl.get_node_log(pid, severity=LogSeverity.ERROR)
        assert all(" ERROR " in ln for ln in err.splitlines()), err[:1000]
        # Rotation: every restart logs start-up and join lines (about 1 KiB) into the same
        # files; the files on disk stay within the limits.
        for _ in range(4):
            t0.restart()
            c.wait_converged([c.primary, t0])
        logdir = t0.base_dir / "data" / "log"
        files = sorted(logdir.iterdir())
        assert any(f.name == "aisnode.log" for f in files), files
        assert sum(f.stat().st_size for f in files) <= 16384 + 4096, [(f.name, f.stat().st_size) for f in files]
        assert all(f.stat().st_size <= 4096 for f in files), [(f.name, f.stat().st_size) for f in files]
        # The archive: every file, as tar.gz, the current one included.
        arch = cl.get_node_log_archive(t0_id)
        with tarfile.open(fileobj=io.BytesIO(arch), mode="r:gz") as tf:
            names = tf.getnames()
            assert "aisnode.log" in names, names
            assert len(names) >= 2 and all(n.startswith("aisnode.log") for n in names), names
            assert set(names) <= {f.name for f in files} | {"aisnode.log"}, (names, files)
            body = tf.extractfile("aisnode.log").read().decode()
            assert body and body.endswith("\n")
        # offset: the tail from that byte on.
        full = requests.get(f"{t0.endpoint}/v1/daemon", params={"what": "log"}, timeout=TIMEOUT).text
        tail = requests.get(f"{t0.endpoint}/v1/daemon", params={"what": "log", "offset": "100"}, timeout=TIMEOUT).text
        assert full.endswith(tail) and len(tail) <= max(len(full) - 100, 0) + 4096
        # Bad input: a clear 400, nothing else.
        r = requests.get(f"{t0.endpoint}/v1/daemon", params={"what": "log", "severity": "loud"}, timeout=TIMEOUT)
        assert r.status_code == 400 and "severity" in r.text, r.text
        r = requests.get(f"{t0.endpoint}/v1/daemon", params={"what": "log", "offset": "-1"}, timeout=TIMEOUT)
        assert r.status_code == 400 and "offset" in r.text, r.text
        # Metric names (AIS GetMetricNames).
        names = requests.get(f"{t0.endpoint}/v1/daemon", params={"what": "metrics"}, timeout=TIMEOUT).json()
        assert names["get.n"] == "counter" and names["put.size"] == "size" and names["get.ns"] == "latency"
    finally:
        c.close()


def test_json_log_format(aisnode_binary, tmp_path):
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=0)
    c.primary.extra_args = ["--log-format", "json"]
    c.start()
    try:
        text = requests.get(f"{c.primary.endpoint}/v1/daemon", params={"what": "log"}, timeout=TIMEOUT).text
        lines = [ln for ln in text.splitlines() if ln]
        assert lines
        recs = [json.loads(ln) for ln in lines]
        assert all("level" in r and "timestamp" in r for r in recs), recs[:3]
        assert any(r.get("fields", {}).get("message") == "aisnode ready" for r in recs), recs[:5]
    finally:
        c.close()


def test_rotate_logs_and_reset_stats(aisnode_binary, tmp_path):
    """AIS's admin actions: rotate-logs starts a new log file; reset-stats zeroes the counters
    (or only the err.* ones), per node through the proxy and for the whole cluster."""
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=1, mountpaths=1, target_cores=1)
    c.start()
    try:
        p = c.primary.endpoint
        t = c.targets[0]
        tid = t.persisted_id()
        assert requests.post(f"{p}/v1/buckets/rs", json={"action": "create-bck"}, timeout=TIMEOUT).status_code == 200
        requests.put(f"{p}/v1/objects/rs/o", data=b"x" * 100, timeout=TIMEOUT)
        assert requests.get(f"{p}/v1/objects/rs/o", timeout=TIMEOUT).content == b"x" * 100
        assert requests.get(f"{p}/v1/objects/rs/missing", timeout=TIMEOUT).status_code == 404

        def tracker():
            return requests.get(f"{t.endpoint}/v1/daemon", params={"what": "node_status"}, timeout=TIMEOUT).json()["tracker"]

        before = tracker()
        assert before["get.n"] >= 1 and before["err.get.n"] >= 1, before
        hdr = {"Ais-Node-Id": tid}
        # Errors only: err.* zero, the rest kept.
        r = requests.put(f"{p}/v1/reverse/daemon", json={"action": "reset-stats", "value": True}, headers=hdr, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        mid = tracker()
        assert mid["err.get.n"] == 0 and mid["get.n"] >= before["get.n"], mid
        r = requests.put(f"{p}/v1/reverse/daemon", json={"action": "reset-stats", "value": "yes"}, headers=hdr, timeout=TIMEOUT)
        assert r.status_code == 400 and "boolean" in r.text
        assert tracker()["get.n"] >= before["get.n"]
        # Everything, cluster-wide.
        r = requests.put(f"{p}/v1/cluster", json={"action": "reset-stats", "value": False}, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        after = tracker()
        assert after["get.n"] == 0 and after["put.size"] == 0, after
        # rotate-logs: one more file in the node's log directory, per node and cluster-wide.
        logdir = t.base_dir / "data" / "log"
        n0 = len(list(logdir.iterdir()))
        r = requests.put(f"{p}/v1/reverse/daemon", json={"action": "rotate-logs"}, headers=hdr, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        assert len(list(logdir.iterdir())) == n0 + 1
        pdir = c.primary.base_dir / "data" / "log"
        p0 = len(list(pdir.iterdir()))
        assert requests.put(f"{p}/v1/cluster", json={"action": "rotate-logs"}, timeout=TIMEOUT).status_code == 200
        assert len(list(pdir.iterdir())) == p0 + 1
    finally:
        c.close()
