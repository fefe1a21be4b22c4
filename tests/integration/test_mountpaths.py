"""Mountpaths at runtime and the local resilver, on one aisnode (--role all, 2 cores).

The daemon API attaches, detaches, disables and enables mountpaths while client threads keep
reading (byte-compare) and writing; after each change the test waits for the resilver job and
then proves, by walking the files, that every object sits exactly once on the mountpath HRW
picks over the available ones (independent model in hrw.py) and reads back byte-identical.
One mountpath is a tmpfs (mounted by the test, as root) so objects also move across file
systems (copy + verify + remove), not only by rename. Afterwards a restart keeps the runtime
set (persisted), and the API refuses bad requests with clear errors.
"""

import concurrent.futures
import os
import random
import subprocess
import threading
import time

import pytest
import requests

import hrw
from aisutil import KiB, bck_url, det_bytes, obj_url

# pytest-timeout: the slowest ~13 s on a quiet box; the margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(300)

BUCKET = "mpb"
N_OBJECTS = 2000
REQ_TIMEOUT = (3.0, 15.0)
JOB_DEADLINE_S = 60.0
TMPFS_BYTES = 256 << 20
MOUNT_TIMEOUT_S = 30


def obj_size(name):
    return 1 + (sum(name.encode()) * 977) % (16 * KiB)


def obj_data(name):
    return det_bytes(name, obj_size(name))


def mp_api(node, method, action, path, expect=(200,), headers=None, url=None):
    r = requests.request(method, url or f"{node.endpoint}/v1/daemon/mountpaths",
                         json={"action": action, "value": path}, headers=headers, timeout=REQ_TIMEOUT)
    assert r.status_code in expect, f"{method} {action} {path}: {r.status_code} {r.text[:400]}"
    return r


def mountpaths(node):
    r = requests.get(f"{node.endpoint}/v1/daemon?what=mountpaths", timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def job_snapshot(node, job_id):
    mine = [j for j in requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=REQ_TIMEOUT).json()
            if j["id"] == job_id]
    assert mine, f"job {job_id} is not in /v1/daemon?what=jobs"
    return mine[0]


def wait_job_moving(node, job_id, deadline_s=JOB_DEADLINE_S):
    """Poll until the job has moved at least one object; returns its snapshot (it may be finished)."""
    __tracebackhide__ = True
    deadline = time.monotonic() + deadline_s
    while True:
        assert node.is_alive(), f"aisnode died: {node.log_tail()}"
        j = job_snapshot(node, job_id)
        if j["objects"] > 0 or j["finished"]:
            return j
        assert time.monotonic() < deadline, f"job {job_id} moved nothing within {deadline_s}s: {j}"
        time.sleep(0.02)


def wait_job(node, job_id, deadline_s=JOB_DEADLINE_S):
    __tracebackhide__ = True
    deadline = time.monotonic() + deadline_s
    while True:
        assert node.is_alive(), f"aisnode died: {node.log_tail()}"
        jobs = requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=REQ_TIMEOUT).json()
        mine = [j for j in jobs if j["id"] == job_id]
        if mine and mine[0]["finished"]:
            return mine[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not finished within {deadline_s}s: {mine}")
        time.sleep(0.05)


def inventory(paths):
    """{object name: [mountpath]} over the bucket's object files on `paths`."""
    inv = {}
    for m in paths:
        root = hrw.bucket_dir(m, BUCKET) + "/%ob"
        for dirpath, _, files in os.walk(root):
            for f in files:
                name = os.path.relpath(os.path.join(dirpath, f), root)
                inv.setdefault(name, []).append(m)
    return inv


def check_placement(all_paths, avail, names, what):
    __tracebackhide__ = True
    inv = inventory(all_paths)
    missing = [n for n in names if n not in inv]
    assert not missing, f"{what}: {len(missing)} objects have no file on any mountpath, e.g. {missing[:5]}"
    dup = {n: v for n, v in inv.items() if len(v) > 1}
    assert not dup, f"{what}: {len(dup)} objects on several mountpaths, e.g. {list(dup.items())[:3]}"
    wrong = []
    for n in names:
        want = hrw.choose_mountpath(avail, BUCKET, n)
        if inv[n][0] != want:
            wrong.append((n, inv[n][0], want))
    assert not wrong, f"{what}: {len(wrong)} objects not on their HRW mountpath (name, on, want), e.g. {wrong[:4]}"
    stray = sorted(set(inv) - set(names))
    assert not stray, f"{what}: files of objects never PUT (or deleted): {stray[:5]}"


def put_all(endpoint, names, threads=8):
    local = threading.local()

    def put(n):
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        r = s.put(obj_url(endpoint, BUCKET, n), data=obj_data(n), timeout=REQ_TIMEOUT)
        return None if r.status_code == 200 else f"PUT {n}: {r.status_code} {r.text[:200]}"

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [e for e in pool.map(put, names) if e]


def get_all(endpoint, names, threads=8):
    local = threading.local()

    def get(n):
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        r = s.get(obj_url(endpoint, BUCKET, n), timeout=REQ_TIMEOUT)
        if r.status_code != 200:
            return f"GET {n}: {r.status_code} {r.text[:200]}"
        return None if r.content == obj_data(n) else f"GET {n}: content differs"

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [e for e in pool.map(get, names) if e]


class Load:
    """Readers GET known objects and compare bytes; a writer PUTs new ones (then known)."""

    def __init__(self, endpoint, names, readers=3):
        self.endpoint = endpoint
        self.names = list(names)
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.failures = []
        self.ops = 0
        self.threads = [threading.Thread(target=self._reader, args=(k,), daemon=True) for k in range(readers)]
        self.threads.append(threading.Thread(target=self._writer, daemon=True))
        self.written = []

    def _fail(self, msg):
        with self.lock:
            self.failures.append(msg)

    def _reader(self, k):
        rng = random.Random(k)
        s = requests.Session()
        while not self.stop_ev.is_set():
            with self.lock:
                n = rng.choice(self.names)
            try:
                r = s.get(obj_url(self.endpoint, BUCKET, n), timeout=REQ_TIMEOUT)
                if r.status_code != 200:
                    self._fail(f"GET {n}: {r.status_code} {r.text[:200]}")
                elif r.content != obj_data(n):
                    self._fail(f"GET {n}: content differs")
            except requests.RequestException as e:
                self._fail(f"GET {n}: {type(e).__name__}: {e}")
            with self.lock:
                self.ops += 1

    def _writer(self):
        s = requests.Session()
        i = 0
        while not self.stop_ev.is_set():
            n = f"load/w-{i:05d}"
            i += 1
            try:
                r = s.put(obj_url(self.endpoint, BUCKET, n), data=obj_data(n), timeout=REQ_TIMEOUT)
                if r.status_code != 200:
                    self._fail(f"PUT {n}: {r.status_code} {r.text[:200]}")
                    continue
            except requests.RequestException as e:
                self._fail(f"PUT {n}: {type(e).__name__}: {e}")
                continue
            with self.lock:
                self.names.append(n)
                self.written.append(n)
                self.ops += 1
            time.sleep(0.005)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def wait_more_ops(self, n, deadline_s=30.0):
        """Poll until the load has done `n` more requests than now (e.g. after the last change)."""
        __tracebackhide__ = True
        with self.lock:
            target = self.ops + n
        deadline = time.monotonic() + deadline_s
        while True:
            with self.lock:
                if self.ops >= target:
                    return
            assert all(t.is_alive() for t in self.threads), "a load thread died"
            assert time.monotonic() < deadline, f"the load did not do {n} more requests within {deadline_s}s"
            time.sleep(0.02)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=30)
        return self


@pytest.fixture
def tmpfs_mountpath(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("test_mountpaths needs root to mount a tmpfs mountpath (another file system)")
    mnt = tmp_path / "tmpfs-mp"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mnt)], check=True,
                   timeout=MOUNT_TIMEOUT_S)
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=MOUNT_TIMEOUT_S)


def test_attach_detach_disable_enable_under_load(node_factory, tmpfs_mountpath):
    node = node_factory(num_mountpaths=2)
    mp1, mp2 = node.mountpaths
    mp3 = os.path.join(str(node.data_dir), "mp3")
    mp4 = tmpfs_mountpath
    everything = [mp1, mp2, mp3, mp4]
    r = requests.post(bck_url(node.endpoint, BUCKET), json={"action": "create-bck", "name": "", "value": None},
                      timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    names = [f"d{i % 17}/obj-{i:05d}" for i in range(N_OBJECTS)]
    errs = put_all(node.endpoint, names)
    assert not errs, errs[:5]
    check_placement(everything, [mp1, mp2], names, "before any change")

    load = Load(node.endpoint, names).start()
    steps = []
    try:
        def step(method, action, path, avail, waiting_ok=False):
            t0 = time.monotonic()
            r = mp_api(node, method, action, path)
            job = wait_job(node, r.text.strip())
            dt = time.monotonic() - t0
            assert job["errors"] == 0 and not job["aborted"], f"{action} {path}: resilver job {job}"
            lst = mountpaths(node)
            assert sorted(lst["available"]) == sorted(avail), f"after {action} {path}: {lst}"
            assert lst["waiting_dd"] == [], f"after {action} {path} and its resilver: {lst}"
            steps.append(f"{action} {os.path.basename(path)}: resilver moved {job['objects']} objects "
                         f"({job['bytes'] / KiB:.0f} KiB) in {dt:.2f}s")
            return job, lst

        # Attach a directory on the same file system (objects move by rename) ...
        job, _ = step("PUT", "attach-mp", mp3, [mp1, mp2, mp3])
        assert job["objects"] > 0, f"attaching {mp3} moved nothing: {job}"
        # ... and a tmpfs (objects are copied, verified, then removed).
        job, _ = step("PUT", "attach-mp", mp4, [mp1, mp2, mp3, mp4])
        assert job["objects"] > 0, f"attaching tmpfs {mp4} moved nothing: {job}"
        # Detach: mp1 leaves placement at once and is emptied before it is gone.
        step("DELETE", "detach-mp", mp1, [mp2, mp3, mp4])
        # Disable the tmpfs: its objects are copied off; enable brings it back.
        _, lst = step("POST", "disable-mp", mp4, [mp2, mp3])
        assert lst["disabled"] == [hrw.clean_mountpath(mp4)], lst
        step("POST", "enable-mp", mp4, [mp2, mp3, mp4])
        load.wait_more_ops(50)  # some load on the final layout too
    finally:
        load.stop()
    print("\n[mountpaths] " + "; ".join(steps) + f"; client ops during the changes: {load.ops}")
    assert load.ops > 50, f"the client load hardly ran ({load.ops} requests)"
    assert not load.failures, f"{len(load.failures)} client requests failed during mountpath changes, e.g. {load.failures[:6]}"

    all_names = names + load.written
    check_placement(everything, [mp2, mp3, mp4], all_names, "after attach, detach, disable, enable")
    assert not inventory([mp1]), "the detached mountpath still holds objects"
    errs = get_all(node.endpoint, all_names)
    assert not errs, f"{len(errs)} objects do not read back byte-identical, e.g. {errs[:5]}"

    # The runtime set survives a restart, although the flags still name mp1 and not mp3/mp4.
    node.stop()
    node.start()
    lst = mountpaths(node)
    assert sorted(lst["available"]) == sorted([mp2, mp3, mp4]), f"after restart: {lst}"
    errs = get_all(node.endpoint, all_names)
    assert not errs, f"after restart: {len(errs)} objects do not read back, e.g. {errs[:5]}"
    # Put mp1 back for good measure: objects HRW now places there move to it.
    r = mp_api(node, "PUT", "attach-mp", mp1)
    wait_job(node, r.text.strip())
    check_placement(everything, [mp1, mp2, mp3, mp4], all_names, "after re-attaching mp1")
    node.stop()  # before the tmpfs goes away


def test_mountpath_api_errors(node_factory, tmp_path):
    node = node_factory(num_mountpaths=2)
    mp1, mp2 = node.mountpaths
    # Unknown mountpath.
    r = mp_api(node, "DELETE", "detach-mp", "/nonexistent/mp", expect=(404,))
    assert "not found" in r.text, r.text
    # Action and method must agree; value must be a path.
    r = mp_api(node, "POST", "attach-mp", str(tmp_path / "x"), expect=(400,))
    assert "PUT" in r.text, r.text
    r = requests.put(f"{node.endpoint}/v1/daemon/mountpaths", json={"action": "attach-mp", "value": 5},
                     timeout=REQ_TIMEOUT)
    assert r.status_code == 400 and "not defined" in r.text, r.text
    r = mp_api(node, "PUT", "format-mp", str(tmp_path / "x"), expect=(400,))
    assert "invalid mountpath action" in r.text, r.text
    # Nested in an existing mountpath.
    r = mp_api(node, "PUT", "attach-mp", os.path.join(mp1, "inner"), expect=(400,))
    assert "nested" in r.text, r.text
    # A mountpath of another target (its ID in the xattr).
    other = tmp_path / "other"
    other.mkdir()
    os.setxattr(str(other), "user.ais.daemon_id", b"someoneElse")
    r = mp_api(node, "PUT", "attach-mp", str(other), expect=(409,))
    assert "someoneElse" in r.text, r.text
    # Already there: nothing to do.
    mp_api(node, "PUT", "attach-mp", mp1, expect=(204,))
    mp_api(node, "POST", "enable-mp", mp2, expect=(204,))
    # The last available mountpath stays.
    r = mp_api(node, "DELETE", "detach-mp", mp1)
    wait_job(node, r.text.strip())
    r = mp_api(node, "POST", "disable-mp", mp2, expect=(409,))
    assert "last available mountpath" in r.text, r.text
    assert mountpaths(node)["available"] == [hrw.clean_mountpath(mp2)]
    # Attaching a disabled one is refused with a hint; detaching a detached one is 404.
    mp_api(node, "DELETE", "detach-mp", mp1, expect=(404,))


def test_sdk_job_abort_wait_and_restart(aisnode_binary, tmp_path):
    """A resilver throttled to 50 objects/s is aborted through the SDK (`Job.abort`); `Job.wait`
    reports it unsuccessful and `Job.status` aborted; a resilver started through the SDK
    (`Job.start`) then finishes the move, and nothing is lost."""
    from aistore.sdk import Client

    from conftest import AisNode, _start_or_fail

    class Node(AisNode):
        def argv(self):
            return super().argv() + ["--rebalance-max-rate", "50"]

    node = _start_or_fail(Node(aisnode_binary, tmp_path / "n", num_mountpaths=2))
    try:
        client = Client(node.endpoint, timeout=(5.0, 60.0))
        client.bucket(BUCKET).create()
        names = [f"j/obj-{i:04d}" for i in range(600)]
        errs = put_all(node.endpoint, names)
        assert not errs, errs[:5]
        mp3 = os.path.join(str(node.data_dir), "mp3")
        to_move = sum(1 for n in names if hrw.choose_mountpath(node.mountpaths + [mp3], BUCKET, n) == mp3)
        r = mp_api(node, "PUT", "attach-mp", mp3)
        job_id = r.text.strip()
        # Abort it mid-way: once it moved something (at 50/s the ~200 objects take ~4 s).
        running = wait_job_moving(node, job_id)
        assert not running["finished"], f"the throttled resilver finished before the abort: {running}"
        job = client.job(job_id=job_id, job_kind="resilver")
        snaps = job.get_details().list_snapshots()
        assert snaps and snaps[0].kind == "resilver" and not snaps[0].aborted, snaps
        moved_before = snaps[0].stats.objects
        assert 0 < moved_before < to_move, f"throttled to 50/s, {to_move} to move: {snaps[0]}"
        job.abort()
        res = job.wait(timeout=20, verbose=False)
        assert not res.success, f"aborted job reported success: {res}"
        deadline = time.monotonic() + 30
        st = job.status()
        while st.end_time == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            st = job.status()
        assert st.aborted and st.end_time > 0 and "abort" in st.err, st
        snaps = job.get_details().list_snapshots()
        assert snaps[0].aborted and "abort" in snaps[0].abort_err, snaps
        on_mp3 = len(inventory([mp3]))
        assert 0 < on_mp3 < to_move, f"after the abort mp3 holds {on_mp3} of the {to_move} objects HRW puts there"
        # Everything still reads back while half moved (reads look on every mountpath).
        errs = get_all(node.endpoint, names)
        assert not errs, f"after the abort: {errs[:5]}"
        # Start a resilver through the SDK and wait for it.
        new_id = client.job(job_kind="resilver").start()
        assert new_id and new_id != job_id, new_id
        res = client.job(job_id=new_id, job_kind="resilver").wait(timeout=60, verbose=False)
        assert res.success, res
        check_placement(node.mountpaths + [mp3], node.mountpaths + [mp3], names, "after the SDK-started resilver")
        errs = get_all(node.endpoint, names)
        assert not errs, errs[:5]
        # Unknown job: the SDK's status call gets a 404.
        r = requests.get(f"{node.endpoint}/v1/cluster?what=status", json={"ID": "nope", "Kind": ""}, timeout=REQ_TIMEOUT)
        assert r.status_code == 404, r.text
    finally:
        node.close()


def test_sigkill_mid_resilver_resumes_after_restart(aisnode_binary, tmp_path):
    """A detach whose resilver (throttled to 100 objects/s) is cut short by SIGKILL: after the
    restart the mountpath is still out of placement (persisted as detaching), the resilver
    resumes on its own and empties it, and every object reads back from its HRW mountpath."""
    from conftest import AisNode, _start_or_fail

    class Node(AisNode):
        def argv(self):
            return super().argv() + ["--rebalance-max-rate", "100"]

    node = _start_or_fail(Node(aisnode_binary, tmp_path / "n", num_mountpaths=3))
    try:
        mp1, mp2, mp3 = node.mountpaths
        r = requests.post(bck_url(node.endpoint, BUCKET), json={"action": "create-bck", "name": "", "value": None},
                          timeout=REQ_TIMEOUT)
        assert r.status_code == 200, r.text
        names = [f"k/obj-{i:04d}" for i in range(900)]
        errs = put_all(node.endpoint, names)
        assert not errs, errs[:5]
        on_mp1 = len(inventory([mp1]))
        r = mp_api(node, "DELETE", "detach-mp", mp1)
        job_id = r.text.strip()
        # Kill it mid-way: once it moved something (at 100/s the ~300 objects take ~3 s).
        j = wait_job_moving(node, job_id)
        moved = j["objects"]
        assert not j["finished"] and 0 < moved < on_mp1, f"throttled resilver should be mid-way: {j}, {on_mp1} to move"
        node.kill9()
        left = len(inventory([mp1]))
        assert 0 < left < on_mp1, f"killed mid-resilver, but mp1 holds {left} of its {on_mp1} objects"
        node.start()
        lst = mountpaths(node)
        assert hrw.clean_mountpath(mp1) not in lst["available"], f"after restart: {lst}"
        deadline = time.monotonic() + JOB_DEADLINE_S
        while True:
            lst = mountpaths(node)
            if not lst["waiting_dd"]:
                break
            assert time.monotonic() < deadline, f"resilver after restart did not finish: {lst}"
            time.sleep(0.1)
        assert sorted(lst["available"]) == sorted([mp2, mp3]), lst
        assert not inventory([mp1]), "the detached mountpath still holds objects"
        check_placement([mp1, mp2, mp3], [mp2, mp3], names, "after SIGKILL mid-resilver and restart")
        errs = get_all(node.endpoint, names)
        assert not errs, errs[:5]
        jobs = requests.get(f"{node.endpoint}/v1/daemon?what=jobs", timeout=REQ_TIMEOUT).json()
        print(f"\n[sigkill mid-resilver] moved {moved} of {on_mp1} before the kill; after restart: "
              f"{[(j['id'], j['objects'], j['errors']) for j in jobs]}")
    finally:
        node.close()
