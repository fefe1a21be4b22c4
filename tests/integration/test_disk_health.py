"""Disk health (issue 12): a mountpath whose file system fails (here: a tmpfs remounted
read-only under load, so writes fail with EROFS) is health-checked on the first I/O error,
disabled, and the objects of a mirrored bucket are re-protected from their copies on the
remaining mountpaths: no acknowledged object is lost, every object has its copies again, and
the event is visible through the API (mountpath disabled, node stats) and the log. The node
never crashes or hangs. Needs root (mounts a tmpfs)."""

import os
import subprocess
import threading
import time

import pytest
import requests

import hrw
from aisutil import bck_url, det_bytes, obj_url

pytestmark = pytest.mark.timeout(240)
TIMEOUT = (3.0, 30.0)


@pytest.fixture
def tmpfs_mp(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("test_disk_health needs root to mount a tmpfs mountpath")
    mnt = tmp_path / "failing-mp"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mnt)], check=True, timeout=30)
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=30)


@pytest.fixture
def node3(aisnode_binary, tmp_path, tmpfs_mp):
    from conftest import AisNode

    n = AisNode(aisnode_binary, tmp_path / "node", num_mountpaths=3)
    n.mountpaths[2] = tmpfs_mp
    n.start()
    try:
        yield n
    finally:
        n.close()


def remount_read_only(mnt):
    """The kernel refuses a read-only remount ("mount point is busy") while any file on it is
    open for writing, which under the writers' load happens at random moments: retry until a
    moment with no write open, for at most 20 s."""
    deadline = time.monotonic() + 20
    while True:
        r = subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return
        assert "busy" in r.stderr and time.monotonic() < deadline, f"remount,ro {mnt}: {r.returncode} {r.stderr}"
        time.sleep(0.01)


def mountpaths(node):
    r = requests.get(f"{node.endpoint}/v1/daemon?what=mountpaths", timeout=TIMEOUT)
    return r.json()


def test_failed_mountpath_is_disabled_and_mirrored_objects_reprotected(node3, tmpfs_mp):
    node = node3
    r = requests.post(bck_url(node.endpoint, "hc"), json={"action": "create-bck", "value": {"mirror": {"enabled": True, "copies": 2}}},
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    acked = {}
    for i in range(90):
        n = f"before-{i}"
        d = det_bytes(n, 1000 + i * 97)
        assert requests.put(obj_url(node.endpoint, "hc", n), data=d, timeout=TIMEOUT).status_code == 200
        acked[n] = d
    on_failing = [n for n in acked if hrw.choose_mountpath(node.mountpaths, "hc", n) == hrw.clean_mountpath(tmpfs_mp)]
    assert on_failing, "no object on the tmpfs mountpath"

    # Client load (writers and readers) while the file system fails.
    stop = threading.Event()
    errors, lock = [], threading.Lock()

    def writer(k):
        i = 0
        s = requests.Session()
        while not stop.is_set():
            n = f"during-{k}-{i}"
            d = det_bytes(n, 3000 + i)
            try:
                r = s.put(obj_url(node.endpoint, "hc", n), data=d, timeout=TIMEOUT)
                if r.status_code == 200:
                    with lock:
                        acked[n] = d
                elif r.status_code != 500:
                    errors.append(f"PUT {n}: {r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                errors.append(f"PUT {n}: {e}")
            i += 1

    def reader():
        s = requests.Session()
        names = list(acked)[:90]
        i = 0
        while not stop.is_set():
            n = names[i % len(names)]
            try:
                r = s.get(obj_url(node.endpoint, "hc", n), timeout=TIMEOUT)
                if r.status_code == 200 and r.content != acked[n]:
                    errors.append(f"GET {n}: wrong bytes")
            except requests.RequestException as e:
                errors.append(f"GET {n}: {e}")
            i += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        remount_read_only(tmpfs_mp)
        deadline = time.monotonic() + 60
        while hrw.clean_mountpath(tmpfs_mp) not in mountpaths(node).get("disabled", []):
            assert node.is_alive(), "the node died"
            assert time.monotonic() < deadline, f"the failing mountpath was not disabled: {mountpaths(node)}"
            time.sleep(0.2)
        time.sleep(1.0)  # load continues on the remaining mountpaths
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:10]
    mps = mountpaths(node)
    assert sorted(mps["available"]) == sorted(hrw.clean_mountpath(m) for m in node.mountpaths[:2]), mps

    # The resilver and the mirror repair it starts finish with no errors.
    deadline = time.monotonic() + 90
    while True:
        jobs = requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=TIMEOUT).json()
        mnc = [j for j in jobs if j["kind"] == "make-n-copies"]
        if mnc and all(j["finished"] for j in jobs):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.3)
    assert all(j["errors"] == 0 for j in mnc), mnc

    # Nothing acknowledged is lost, and every object has its object and a copy on the two
    # remaining mountpaths.
    remaining = node.mountpaths[:2]
    for n, d in acked.items():
        r = requests.get(obj_url(node.endpoint, "hc", n), timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == d, (n, r.status_code)
        ranked = hrw.rank_mountpaths(remaining, "hc", n)
        main = os.path.join(ranked[0], "@ais", "hc", "%ob", n)
        copy = os.path.join(ranked[1], "@ais", "hc", "%cp", n)
        for p in (main, copy):
            with open(p, "rb") as f:
                assert f.read() == d, p
    stats = requests.get(f"{node.endpoint}/v1/daemon?what=node_status", timeout=TIMEOUT).json()["tracker"]
    faults = stats["fshc.faults"]
    assert [f["mountpath"] for f in faults] == [hrw.clean_mountpath(tmpfs_mp)], faults
    assert "failed its health check" in open(node.log_path).read()
    print(f"\n[disk health] {len(acked)} objects acknowledged ({len(on_failing)} on the failed mountpath before); "
          f"fault: {faults[0]['reason'][:160]}")
