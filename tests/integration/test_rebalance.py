"""Global rebalance on a real multi-process cluster: 1 proxy (1 core), 3 targets (2 cores, 2
mountpaths each), keepalive 500 ms x 3, every node a separate `aisnode` process on 127.0.0.1.

The module cluster holds one bucket of 10,000 small objects (1-8 KiB, content derived from the
name, see `obj_data`); every test changes the set of targets and then proves that no object was
lost and every object sits exactly once, byte-identical, on the target and mountpath HRW picks by
the final Smap (independent model in hrw.py), by walking the files on every target that ever
ran in this module:

1. a fourth target joins while client threads keep reading and writing through the proxy:
   0 failed requests from before the join until every target finished its rebalance job;
   also measures GET p99 before/during the rebalance and the rebalance throughput;
2. `GET /v1/cluster?what=jobs` shows the rebalance jobs of that change with their counters;
3. decommissioning a target (while clients keep reading and writing) moves its objects away and
   removes it from the Smap; nothing is lost, no client request fails;
4. a target SIGKILLed in the middle of its rebalance job and restarted (same data directory,
   same ID) ends with a complete rebalance and nothing lost.

Tests run in file order and share the cluster; each one waits for the rebalance it triggered.
Every test starts from a known state (the `ctx` fixture): the targets it expects running, the
map converged, no rebalance or resilver running, every object on its HRW target and mountpath.
After a failed test the module cluster is rebuilt from scratch, so one failure does not cascade;
a passing test that leaves a different state fails the next test's setup (once).
"""

import concurrent.futures
import os
import random
import re
import tempfile
import threading
import time
import warnings

import pytest
import requests

import hrw
from aisutil import KiB, MiB, bck_url, det_bytes, obj_url
from clusterutil import POLL_S, Cluster, NodeError
from conftest import failed_so_far

KEEPALIVE_MS = 500
KEEPALIVE_FACTOR = 8  # 4 s: keep false removals out of a loaded 2-CPU CI box during rebalance
REQ_TIMEOUT = (3.0, 10.0)  # connect, read
N_OBJECTS = 10_000
BUCKET = "rebal"
FLAG_MAINTENANCE = 4
FLAG_DECOMMISSION = 8
OUT_OF_SERVICE = FLAG_MAINTENANCE | FLAG_DECOMMISSION
REBALANCE_DEADLINE_S = 60.0
PUT_THREADS = 16


def obj_size(name):
    return 1 * KiB + hrw.xxh64(name) % (7 * KiB + 1)


def obj_data(name):
    return det_bytes(name, obj_size(name))


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def ms(x):
    return f"{x * 1000:.1f} ms"


# ---- shared state ---------------------------------------------------------------------------------


class Dataset:
    """Names of the objects that must exist (content is a function of the name)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._names = []
        self._set = set()

    def add(self, name):
        with self._lock:
            if name not in self._set:
                self._set.add(name)
                self._names.append(name)

    def pick(self, rng):
        with self._lock:
            return self._names[rng.randrange(len(self._names))]

    def names(self):
        with self._lock:
            return list(self._names)

    def __len__(self):
        with self._lock:
            return len(self._names)


class Ctx:
    def __init__(self, cluster):
        self.cluster = cluster
        self.proxy = cluster.primary
        self.data = Dataset()
        self.active = list(cluster.targets)  # targets that should be in the Smap
        self.ever = list(cluster.targets)  # every target that ran (their disks are checked)
        self.ids = {}  # node name -> persisted ID
        self.add_info = None  # what test 1 saw (for the jobs test)

    def tid(self, node):
        if node.name not in self.ids:
            self.ids[node.name] = node.persisted_id()
        return self.ids[node.name]

    def node_by_id(self, tid):
        for n in self.ever:
            if self.tid(n) == tid:
                return n
        raise KeyError(f"no target with ID {tid} was started by this module")


def build_ctx(binary, base_dir):
    """A fresh cluster (1 proxy, 3 targets) with the bucket of N_OBJECTS objects, every start-up
    rebalance finished."""
    c = Cluster(binary, base_dir, proxies=1, targets=3, mountpaths=2, proxy_cores=1, target_cores=2,
                keepalive_ms=KEEPALIVE_MS, keepalive_factor=KEEPALIVE_FACTOR)
    try:
        c.start()
        x = Ctx(c)
        r = requests.post(bck_url(x.proxy.endpoint, BUCKET), json={"action": "create-bck", "name": "", "value": None},
                          timeout=REQ_TIMEOUT)
        assert r.status_code == 200, f"create-bck {BUCKET}: {r.status_code} {r.text}"
        names = [f"o/{i % 13}/obj-{i:05d}" for i in range(N_OBJECTS)]
        t0 = time.monotonic()
        errors = put_objects(x.proxy.endpoint, names)
        dt = time.monotonic() - t0
        assert not errors, f"{len(errors)} of {N_OBJECTS} initial PUTs failed, e.g. {errors[:3]}"
        for n in names:
            x.data.add(n)
        total = sum(obj_size(n) for n in names)
        print(f"\n[setup] nodes under {c.base_dir}; PUT {N_OBJECTS} objects ({total / MiB:.1f} MiB) through the proxy in {dt:.1f}s "
              f"({N_OBJECTS / dt:.0f} obj/s, {total / MiB / dt:.1f} MiB/s, {PUT_THREADS} threads)")
        # Every target's rebalance job from the start-up joins has finished before we begin.
        wait_rebalance(x, 0, "start-up")
        return x
    except BaseException:
        c.close()
        raise


def state_problem(x):
    """None if the module cluster is in the state every test starts from, else what is wrong."""
    try:
        dead = [n.name for n in [x.proxy] + x.active if not n.is_alive()]
        if dead:
            return f"not running: {dead}"
        x.cluster.wait_converged([x.proxy] + x.active, 10)
        busy = [f"{n.name}: {fmt_job(j)}" for n in x.active for j in target_jobs(n.endpoint) if not j["finished"]]
        if busy:
            return f"jobs still running: {busy}"
        check_placement(x, x.proxy.smap(), "start of the test")
    except (AssertionError, NodeError, requests.RequestException, ValueError, OSError) as e:
        return f"{type(e).__name__}: {str(e)[:2000]}"
    return None


class ModuleCluster:
    """The module's cluster and dataset; rebuilt (new directory, new processes) when a test failed."""

    def __init__(self, binary, tmp_path_factory):
        self.binary = binary
        self.tmp_path_factory = tmp_path_factory
        self.ctx = None
        self.fresh = False  # built for the coming test, not used yet
        self.last = None  # (test name, failed) of the previous test

    def rebuild(self):
        self.close()
        self.ctx = build_ctx(self.binary, self.tmp_path_factory.mktemp("rebal"))
        self.fresh = True

    def close(self):
        if self.ctx is not None:
            x, self.ctx = self.ctx, None
            for n in x.ever:  # targets added by tests are not all in the cluster's list
                n.close()
            x.cluster.close()


@pytest.fixture(scope="module")
def module_cluster(aisnode_binary, tmp_path_factory):
    m = ModuleCluster(aisnode_binary, tmp_path_factory)
    yield m
    m.close()


@pytest.fixture
def ctx(module_cluster, request):
    m = module_cluster
    if m.ctx is None:
        m.rebuild()
    elif m.last is not None and m.last[1]:
        warnings.warn(f"{m.last[0]} failed: rebuilding the module cluster for {request.node.name}", stacklevel=1)
        m.rebuild()
    elif not m.fresh:
        problem = state_problem(m.ctx)
        if problem is not None:
            m.last = (request.node.name, True)  # the next test starts on a new cluster
            pytest.fail(f"{m.last[0]}: the module cluster is not in the state every test starts from after the "
                        f"previous test passed (a leftover it did not check): {problem}", pytrace=False)
    m.fresh = False
    yield m.ctx
    m.last = (request.node.name, failed_so_far(request.node))


# ---- client helpers -------------------------------------------------------------------------------


def put_objects(endpoint, names, threads=PUT_THREADS):
    local = threading.local()

    def put(name):
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        try:
            r = s.put(obj_url(endpoint, BUCKET, name), data=obj_data(name), timeout=REQ_TIMEOUT)
        except requests.RequestException as e:
            return f"PUT {name}: {type(e).__name__}: {e}"
        if r.status_code != 200:
            return f"PUT {name}: {r.status_code} {r.text[:300]}"
        return None

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [e for e in pool.map(put, names) if e]


def get_all(endpoint, names, threads=PUT_THREADS):
    """GET every name through `endpoint`; returns the failures (status, size or content mismatch)."""
    local = threading.local()

    def get(name):
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        try:
            r = s.get(obj_url(endpoint, BUCKET, name), timeout=REQ_TIMEOUT)
        except requests.RequestException as e:
            return f"GET {name}: {type(e).__name__}: {e}"
        if r.status_code != 200:
            return f"GET {name}: {r.status_code} {r.text[:300]}"
        want = obj_data(name)
        if r.content != want:
            return f"GET {name}: {len(r.content)} bytes differ from the {len(want)} bytes PUT"
        return None

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return [e for e in pool.map(get, names) if e]


# ---- jobs -----------------------------------------------------------------------------------------


def target_jobs(url):
    r = requests.get(f"{url}/v1/daemon?what=jobs", timeout=REQ_TIMEOUT)
    assert r.status_code == 200, f"GET {url}/v1/daemon?what=jobs: {r.status_code} {r.text[:300]}"
    jobs = r.json()
    assert isinstance(jobs, list), f"GET {url}/v1/daemon?what=jobs: not a JSON list: {jobs!r:.300}"
    return jobs


def cluster_jobs(proxy):
    r = requests.get(f"{proxy.endpoint}/v1/cluster?what=jobs", timeout=REQ_TIMEOUT)
    assert r.status_code == 200, f"GET /v1/cluster?what=jobs: {r.status_code} {r.text[:300]}"
    jobs = r.json()
    assert isinstance(jobs, list), f"GET /v1/cluster?what=jobs: not a JSON list: {jobs!r:.300}"
    return jobs


def fmt_job(j):
    dur = (j["end_time_ns"] - j["start_time_ns"]) / 1e9 if j.get("end_time_ns") else None
    return (f"{j['node']} v{j['smap_version']} objects={j['objects']} bytes={j['bytes']} errors={j['errors']} "
            f"finished={j['finished']} aborted={j['aborted']}" + (f" {dur:.2f}s" if dur is not None else ""))


def rebalance_state(ctx, min_version):
    """(done, {tid: [jobs with smap_version >= min_version]}, description) over the targets of the
    primary's Smap: done when each of them has such a job, none of them is running and the newest
    one finished without being aborted."""
    smap = ctx.proxy.smap()
    out, waiting = {}, []
    for tid, sn in smap["tmap"].items():
        url = sn["public_net"]["direct_url"]
        try:
            jobs = target_jobs(url)
        except (requests.RequestException, ValueError) as e:
            waiting.append(f"{tid}: {type(e).__name__}")
            continue
        mine = [j for j in jobs if j.get("kind") == "rebalance" and int(j["smap_version"]) >= min_version]
        out[tid] = mine
        if not mine:
            waiting.append(f"{tid}: no rebalance job for Smap >= v{min_version} yet")
            continue
        running = [j for j in jobs if j.get("kind") == "rebalance" and not j["finished"]]
        newest = max(mine, key=lambda j: (int(j["smap_version"]), j["start_time_ns"]))
        if running:
            waiting.append(f"{tid}: running {[fmt_job(j) for j in running]}")
        elif newest["aborted"]:
            waiting.append(f"{tid}: newest job aborted: {fmt_job(newest)}")
    return not waiting, out, f"Smap v{smap['version']}: " + ("; ".join(waiting) or "all done")


def crash_info(node):
    """The panic message (and the first frames that name this repository) from a node's log."""
    lines = node.log_text().splitlines()
    for i, ln in enumerate(lines):
        if "panicked at" in ln:
            frames = [x.strip() for x in lines[i + 1:i + 120] if re.match(r"\s*\d+: (cluster|engine)::", x)]
            return " | ".join([ln.strip(), lines[i + 1].strip()] + frames[:6])
    return "no panic in its log; last lines: " + " | ".join(lines[-5:])


def wait_rebalance(ctx, min_version, what, deadline_s=REBALANCE_DEADLINE_S):
    """Poll every target of the primary's Smap until its rebalance for Smap >= min_version is done."""
    __tracebackhide__ = True
    deadline = time.monotonic() + deadline_s
    last = "nothing yet"
    while True:
        for n in ctx.active:
            if not n.is_alive():
                raise AssertionError(f"{what}: {n.name} died (exit status {n.proc.poll()}) while waiting for the "
                                     f"rebalance for Smap >= v{min_version}: {crash_info(n)}")
        try:
            done, jobs, last = rebalance_state(ctx, min_version)
            if done:
                return jobs
        except (requests.RequestException, ValueError, AssertionError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: rebalance for Smap >= v{min_version} not finished within {deadline_s}s: {last}")
        time.sleep(POLL_S)


def job_throughput(jobs):
    """(bytes, objects, wall seconds from the first start to the last end) over jobs that moved data."""
    moving = [j for j in jobs if j["objects"] > 0]
    if not moving:
        return 0, 0, 0.0
    b = sum(j["bytes"] for j in moving)
    o = sum(j["objects"] for j in moving)
    wall = (max(j["end_time_ns"] for j in moving) - min(j["start_time_ns"] for j in moving)) / 1e9
    return b, o, wall


# ---- placement on disk ----------------------------------------------------------------------------


def disk_inventory(nodes):
    """{object name: [(node, mountpath)]} over the bucket's object files on the nodes' mountpaths."""
    inv = {}
    for n in nodes:
        for m in n.mountpaths:
            root = os.path.join(hrw.bucket_dir(m, BUCKET), "%ob")
            for dirpath, _, files in os.walk(root):
                for f in files:
                    name = os.path.relpath(os.path.join(dirpath, f), root)
                    inv.setdefault(name, []).append((n, hrw.clean_mountpath(m)))
    return inv


def check_placement(ctx, smap, what):
    """Every dataset object: exactly one file, on the HRW target (eligible targets of `smap`) and
    HRW mountpath, byte-identical; no other object files anywhere."""
    __tracebackhide__ = True
    eligible = {tid: ctx.node_by_id(tid) for tid, sn in smap["tmap"].items() if not int(sn.get("flags", 0)) & OUT_OF_SERVICE}
    assert eligible, f"{what}: no eligible target in Smap v{smap['version']}"
    inv = disk_inventory(ctx.ever)
    names = ctx.data.names()
    bad, per_target = [], {}
    for name in names:
        tid = hrw.choose_target(list(eligible), BUCKET, name)
        node = eligible[tid]
        mp = hrw.clean_mountpath(hrw.choose_mountpath(node.mountpaths, BUCKET, name))
        per_target[node.name] = per_target.get(node.name, 0) + 1
        found = [(n.name, m) for n, m in inv.pop(name, [])]
        if found != [(node.name, mp)]:
            bad.append(f"{name}: HRW {node.name}:{mp}, found at {found or 'nowhere'}")
            continue
        with open(hrw.object_fqn(mp, BUCKET, name), "rb") as f:
            if f.read() != obj_data(name):
                bad.append(f"{name}: file on {node.name}:{mp} differs from the bytes PUT")
    strays = [f"{k} at {[(n.name, m) for n, m in v]}" for k, v in sorted(inv.items())]
    assert not bad and not strays, (
        f"{what}: Smap v{smap['version']}, {len(names)} objects: {len(bad)} misplaced/lost/corrupt, e.g. {bad[:5]}; "
        f"{len(strays)} object files not in the dataset, e.g. {strays[:5]}")
    return per_target


def verify_everything(ctx, what):
    """GET every object through the proxy and check the files on disk; report both in one failure."""
    __tracebackhide__ = True
    smap = ctx.proxy.smap()
    names = ctx.data.names()
    t0 = time.monotonic()
    errors = get_all(ctx.proxy.endpoint, names)
    t_get = time.monotonic() - t0
    try:
        per_target = check_placement(ctx, smap, what)
        placement = None
    except AssertionError as e:
        placement = str(e)
    if errors or placement:
        msg = []
        if errors:
            msg.append(f"{what}: {len(errors)} of {len(names)} objects do not read back, e.g. {errors[:5]}")
        msg.append(placement or "(on disk every object is on its HRW target and mountpath)")
        raise AssertionError("\n".join(msg))
    print(f"[{what}] {len(names)} objects read back byte-identical and sit on their HRW target+mountpath "
          f"(Smap v{smap['version']}, per target {per_target}) [GETs {t_get:.1f}s, disk {time.monotonic() - t0 - t_get:.1f}s]")
    return smap


# ---- membership helpers -----------------------------------------------------------------------------


def wait_id(node, deadline_s=30.0):
    """The persisted ID of a just-spawned target (its mountpaths carry it once it initialised)."""
    __tracebackhide__ = True
    deadline = time.monotonic() + deadline_s
    while True:
        node.check_running()
        try:
            return node.persisted_id()
        except (OSError, AssertionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{node.name}: no daemon ID on its mountpaths within {deadline_s}s")
        time.sleep(POLL_S)


def cluster_action(ctx, action, sid):
    r = requests.put(f"{ctx.proxy.endpoint}/v1/cluster", json={"action": action, "name": "", "value": {"sid": sid}},
                     timeout=REQ_TIMEOUT)
    assert r.status_code == 200, f"PUT /v1/cluster {action} {sid}: {r.status_code} {r.text[:300]}"
    return r.text


def log_lines(node, pattern, limit=8):
    rx = re.compile(pattern)
    return [ln for ln in node.log_text().splitlines() if rx.search(ln)][-limit:]


# ---- foreground load --------------------------------------------------------------------------------


def error_category(r):
    """'<status> <tcode or message shape> on <node>' for grouping failed requests."""
    if r.text.startswith("<?xml") or r.text.startswith("<Error"):
        code = re.search(r"<Code>([^<]*)</Code>", r.text)
        return f"{r.status_code} S3 {code.group(1) if code else r.text[:60]!r}"
    try:
        j = r.json()
    except ValueError:
        return f"{r.status_code} {r.text[:60]!r}"
    msg = str(j.get("message", ""))
    shape = j.get("tcode") or ("object does not exist" if "does not exist" in msg else msg[:60])
    return f"{r.status_code} {shape} on {j.get('node', '?')}"


class Load:
    """Reader and writer threads through the proxy. Readers GET random dataset objects and compare
    the bytes; writers PUT new objects and add them to the dataset once acknowledged. Every request
    records (phase, kind, latency); any non-2xx, exception or wrong content is a failure."""

    def __init__(self, ctx, readers=4, writers=2, prefix="load"):
        self.ctx = ctx
        self.endpoint = ctx.proxy.endpoint
        self.readers, self.writers, self.prefix = readers, writers, prefix
        self.phase = "before"
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.lat = {}  # (phase, kind) -> [seconds]
        self.failures = []  # (seconds since mark(), phase, kind, category, detail)
        self.threads = []
        self.t_mark = time.monotonic()

    def mark(self):
        """Failure times are reported relative to this moment (e.g. the new target's start)."""
        self.t_mark = time.monotonic()

    def _record(self, phase, kind, t0, failure=None):
        with self.lock:
            self.lat.setdefault((phase, kind), []).append(time.monotonic() - t0)
            if failure:
                cat, detail = failure
                self.failures.append((t0, phase, kind, cat, detail))

    def failure_report(self, examples=8):
        """Failures grouped by (request kind, category) with the time window they occurred in
        (seconds since mark()), then the first examples."""
        groups = {}
        rel = [(t0 - self.t_mark, phase, kind, cat, detail) for t0, phase, kind, cat, detail in self.failures]
        for t, phase, kind, cat, _ in rel:
            g = groups.setdefault((kind, cat), [0, t, t])
            g[0] += 1
            g[1], g[2] = min(g[1], t), max(g[2], t)
        lines = [f"{n:5d} x {kind} {cat} (t={lo:+.2f}s..{hi:+.2f}s)" for (kind, cat), (n, lo, hi) in
                 sorted(groups.items(), key=lambda kv: -kv[1][0])]
        lines += [f"e.g. t={t:+.2f}s [{phase}] {detail}" for t, phase, _, _, detail in rel[:examples]]
        return "\n  ".join(lines)

    def _reader(self, k):
        rng = random.Random(f"reader{k}")
        s = requests.Session()
        while not self.stop_ev.is_set():
            name = self.ctx.data.pick(rng)
            phase = self.phase
            t0 = time.monotonic()
            failure = None
            # Reader 0 reads through S3 (anonymous, path-style /s3 on the proxy): the proxy streams
            # to the owning target, which must also find objects that are still moving.
            via = "S3 GET" if k == 0 else "GET"
            url = f"{self.endpoint}/s3/{BUCKET}/{name}" if k == 0 else obj_url(self.endpoint, BUCKET, name)
            try:
                r = s.get(url, timeout=REQ_TIMEOUT)
                if r.status_code // 100 != 2:
                    failure = (error_category(r), f"{via} {name}: {r.status_code} {r.text[:300]}")
                elif r.content != obj_data(name):
                    failure = ("wrong content", f"GET {name}: {len(r.content)} bytes differ from the {obj_size(name)} bytes PUT")
            except requests.RequestException as e:
                failure = (type(e).__name__, f"GET {name}: {type(e).__name__}: {e}")
            self._record(phase, "GET", t0, failure)

    def _writer(self, k):
        s = requests.Session()
        i = 0
        while not self.stop_ev.is_set():
            name = f"{self.prefix}/w{k}/obj-{i:06d}"
            i += 1
            phase = self.phase
            t0 = time.monotonic()
            failure = None
            try:
                r = s.put(obj_url(self.endpoint, BUCKET, name), data=obj_data(name), timeout=REQ_TIMEOUT)
                if r.status_code // 100 != 2:
                    failure = (error_category(r), f"PUT {name}: {r.status_code} {r.text[:300]}")
            except requests.RequestException as e:
                failure = (type(e).__name__, f"PUT {name}: {type(e).__name__}: {e}")
            if failure is None:
                self.ctx.data.add(name)
            self._record(phase, "PUT", t0, failure)

    def start(self):
        for k in range(self.readers):
            self.threads.append(threading.Thread(target=self._reader, args=(k,), daemon=True))
        for k in range(self.writers):
            self.threads.append(threading.Thread(target=self._writer, args=(k,), daemon=True))
        for t in self.threads:
            t.start()
        return self

    def count(self, phase, kind):
        with self.lock:
            return len(self.lat.get((phase, kind), []))

    def wait_count(self, phase, kind, n, deadline_s=60.0):
        __tracebackhide__ = True
        deadline = time.monotonic() + deadline_s
        while self.count(phase, kind) < n:
            assert time.monotonic() < deadline, f"load: fewer than {n} {kind}s in phase {phase} within {deadline_s}s"
            assert all(t.is_alive() for t in self.threads), "a load thread died"
            time.sleep(POLL_S)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "load threads did not stop within 30s"

    def summary(self, phase, kind):
        v = self.lat.get((phase, kind), [])
        return f"{kind} {phase}: n={len(v)} p50={ms(pct(v, 50))} p99={ms(pct(v, 99))} max={ms(max(v) if v else 0)}"


def disk_reference(base_dir):
    """What the disk does on its own (same file system as the mountpaths): fsync'd small files like
    the objects (write + fdatasync + directory fsync, one thread) and a 64 MiB sequential write."""
    d = tempfile.mkdtemp(dir=base_dir, prefix="diskref-")
    sizes = [obj_size(f"ref{i}") for i in range(400)]
    t0 = time.monotonic()
    dfd = os.open(d, os.O_RDONLY)
    try:
        for i, n in enumerate(sizes):
            fd = os.open(os.path.join(d, f"f{i}"), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, det_bytes(f"ref{i}", n))
                os.fdatasync(fd)
            finally:
                os.close(fd)
            os.fsync(dfd)
    finally:
        os.close(dfd)
    small_s = time.monotonic() - t0
    big = os.urandom(MiB)
    t0 = time.monotonic()
    fd = os.open(os.path.join(d, "seq"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for _ in range(64):
            os.write(fd, big)
        os.fsync(fd)
    finally:
        os.close(fd)
    seq_s = time.monotonic() - t0
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)
    return len(sizes) / small_s, sum(sizes) / small_s, 64 * MiB / seq_s


# ---- 1. a target joins under load -----------------------------------------------------------------


def add_target(ctx, name):
    """Spawn a new target; wait until it is in the primary's Smap. Returns (node, id, smap)."""
    node = ctx.cluster.add_target_node(name)
    node.spawn()
    ctx.ever.append(node)
    ctx.active.append(node)
    tid = wait_id(node)
    smap = ctx.cluster.wait_smap(lambda s: tid in s["tmap"], f"{name} ({tid}) joined", deadline_s=30)
    return node, tid, smap


def test_add_target_under_load_zero_failures(ctx):
    c = ctx.cluster
    before = ctx.proxy.smap()
    before_eligible = [t for t, sn in before["tmap"].items() if not int(sn.get("flags", 0)) & OUT_OF_SERVICE]
    initial = ctx.data.names()

    load = Load(ctx).start()
    try:
        # Baseline: the same client loop before anything changes.
        load.wait_count("before", "GET", 1500)
        load.wait_count("before", "PUT", 200)
        load.phase = "during"
        load.mark()
        t_spawn = time.monotonic()
        wall_spawn_ns = time.time_ns()
        node, tid, smap = add_target(ctx, "target3")
        version = int(smap["version"])
        jobs = wait_rebalance(ctx, version, "adding target3 under load")
        t_done = time.monotonic()
        load.phase = "after"
        load.wait_count("after", "GET", 200)
    finally:
        load.stop()

    n_get = {p: load.count(p, "GET") for p in ("before", "during", "after")}
    n_put = {p: load.count(p, "PUT") for p in ("before", "during", "after")}
    flat = [j for js in jobs.values() for j in js]
    b, o, wall = job_throughput(flat)
    print(f"\n[add target] target3={tid} joined at Smap v{version}; {len(smap['tmap'])} targets; "
          f"join+rebalance took {t_done - t_spawn:.2f}s wall")
    for j in flat:
        print(f"    job {fmt_job(j)}")
    print(f"[add target] rebalance moved {o} objects, {b / MiB:.1f} MiB in {wall:.2f}s (first job start -> last end): "
          f"{o / wall if wall else 0:.0f} obj/s, {b / MiB / wall if wall else 0:.1f} MiB/s")
    for kind in ("GET", "PUT"):
        for p in ("before", "during", "after"):
            print(f"    {load.summary(p, kind)}")
    # Collect every problem, so one run shows them all.
    problems = []
    if load.failures:
        problems.append(
            f"{len(load.failures)} failed client requests while target3 ({tid}) joined at Smap v{version} and the "
            f"cluster rebalanced (GETs {n_get}, PUTs {n_put}; t=0 is the spawn of target3, all jobs finished at "
            f"t={t_done - t_spawn:+.2f}s):\n  " + load.failure_report())
    if not (n_get["during"] > 0 and n_put["during"] > 0):
        problems.append(f"no client traffic during the rebalance: GETs {n_get}, PUTs {n_put}")

    # Every target of the new map ran a job for it; the old targets moved data to the new one.
    if set(jobs) != set(smap["tmap"]):
        problems.append(f"jobs for Smap v{version} from {sorted(jobs)}, targets {sorted(smap['tmap'])}")
    errs = [fmt_job(j) for j in flat if j["errors"]]
    if errs:
        why = [f"{n.name}: {ln[-300:]}" for n in ctx.active for ln in log_lines(n, "rebalance transfer failed", 3)]
        problems.append(f"rebalance jobs for Smap v{version} finished with errors (and no later pass retries them): "
                        f"{errs}; node logs:\n  " + "\n  ".join(why))
    moved_to_new = [n for n in initial if hrw.choose_target(before_eligible + [tid], BUCKET, n) == tid]
    if o < len(moved_to_new):
        problems.append(f"the jobs report {o} objects moved; {len(moved_to_new)} of the {len(initial)} objects "
                        f"present before the join belong to the new target")
    ctx.add_info = {"version": version, "new": tid, "wall_start_ns": wall_spawn_ns, "min_moved": len(moved_to_new),
                    "max_moved": sum(1 for n in ctx.data.names()
                                     if hrw.choose_target(before_eligible + [tid], BUCKET, n) == tid)}

    try:
        c.wait_converged([ctx.proxy] + ctx.active, 30)
        final = verify_everything(ctx, "after adding target3 under load")
        if int(final["version"]) != version:
            problems.append(f"the Smap changed again during the test: v{version} -> v{final['version']}")
    except (AssertionError, NodeError) as e:
        problems.append(str(e))

    ops, bps, seq = disk_reference(c.base_dir)
    print(f"[disk reference] fsync'd 1-8 KiB files, one thread: {ops:.0f} files/s "
          f"({bps / MiB:.1f} MiB/s); 64 MiB sequential + fsync: {seq / MiB:.0f} MiB/s")
    assert not problems, "\n\n".join(problems)


# ---- 2. jobs are visible through the proxy --------------------------------------------------------


def test_jobs_visible_through_proxy(ctx):
    info = ctx.add_info
    if info is None:  # run on its own: make a rebalance to look at (no load)
        before = ctx.data.names()
        node, tid, smap = add_target(ctx, "target3")
        wait_rebalance(ctx, int(smap["version"]), "adding target3")
        info = {"version": int(smap["version"]), "new": tid, "wall_start_ns": 0, "min_moved": 0,
                "max_moved": len(before)}
    smap = ctx.proxy.smap()
    now_ns = time.time_ns()
    jobs = cluster_jobs(ctx.proxy)
    fields = {"id", "kind", "node", "start_time_ns", "end_time_ns", "objects", "bytes", "errors", "aborted",
              "finished", "smap_version"}
    for j in jobs:
        missing = fields - set(j)
        assert not missing, f"job without {sorted(missing)}: {j}"
    ids = [(j["node"], j["id"]) for j in jobs]
    assert len(ids) == len(set(ids)), f"job IDs repeat on a node: {sorted(ids)}"
    assert {j["node"] for j in jobs} == set(smap["tmap"]), \
        f"GET /v1/cluster?what=jobs lists jobs of {sorted({j['node'] for j in jobs})}, Smap targets {sorted(smap['tmap'])}"

    mine = [j for j in jobs if j["kind"] == "rebalance" and j["smap_version"] == info["version"]]
    print(f"\n[jobs] GET /v1/cluster?what=jobs: {len(jobs)} jobs; for Smap v{info['version']}:")
    for j in mine:
        print(f"    {j['id']}: {fmt_job(j)}")
    assert {j["node"] for j in mine} == set(smap["tmap"]), \
        f"rebalance jobs for Smap v{info['version']} from {sorted(j['node'] for j in mine)}, want every target {sorted(smap['tmap'])}"
    for j in mine:
        assert j["finished"] is True and j["aborted"] is False, f"job not finished (or aborted): {j}"
        assert info["wall_start_ns"] <= j["start_time_ns"] <= j["end_time_ns"] <= now_ns, \
            f"job times out of order (join at {info['wall_start_ns']}, now {now_ns}): {j}"
        if j["objects"]:
            assert j["bytes"] >= j["objects"] * KiB, f"{j['objects']} objects of >= 1 KiB but {j['bytes']} bytes: {j}"
    senders = [j for j in mine if j["objects"] > 0]
    assert senders, f"no target reports objects moved for Smap v{info['version']}: {[fmt_job(j) for j in mine]}"
    new_job = [j for j in mine if j["node"] == info["new"]]
    assert all(j["objects"] == 0 for j in new_job), f"the new target had nothing to send: {new_job}"
    moved = sum(j["objects"] for j in mine)
    assert info["min_moved"] <= moved <= info["max_moved"], \
        f"jobs report {moved} objects moved; between {info['min_moved']} and {info['max_moved']} belong to the new target"

    # The per-target endpoint agrees with the gathered list.
    for tid, sn in smap["tmap"].items():
        own = {j["id"]: j for j in target_jobs(sn["public_net"]["direct_url"])}
        gathered = {j["id"]: j for j in jobs if j["node"] == tid}
        assert own == gathered, f"{tid}: /v1/daemon?what=jobs {sorted(own)} vs gathered {sorted(gathered)}"
    errs = [fmt_job(j) for j in mine if j["errors"]]
    assert not errs, f"rebalance jobs for Smap v{info['version']} finished with errors: {errs}"


# ---- 3. decommission -------------------------------------------------------------------------------


def test_decommission_loses_nothing(ctx):
    """Decommission a target through the API while clients keep reading and writing; once it left the
    Smap (and is stopped), every object reads back and sits on its HRW owner by the new Smap."""
    c = ctx.cluster
    victim = next(n for n in ctx.active if n.name == "target1")
    sid = ctx.tid(victim)
    held = sum(1 for v in disk_inventory([victim]).values() for _ in v)
    v0 = int(ctx.proxy.smap()["version"])
    load = Load(ctx, readers=4, writers=1, prefix="decomm").start()
    try:
        load.wait_count("before", "GET", 300)
        load.phase = "during"
        load.mark()
        t0 = time.monotonic()
        reply = cluster_action(ctx, "decommission-node", sid)
        flagged = c.wait_smap(lambda s: sid not in s["tmap"] or int(s["tmap"][sid].get("flags", 0)) & FLAG_DECOMMISSION,
                              f"{sid} flagged for decommission", deadline_s=10)
        gone, history = wait_decommissioned(ctx, victim, sid)
        t_gone = time.monotonic() - t0
        ctx.active.remove(victim)
        jobs = wait_rebalance(ctx, v0 + 1, "after the decommission")
        load.phase = "after"
        load.wait_count("after", "GET", 100)
    finally:
        load.stop()
    victim_jobs = [j for j in target_jobs(victim.endpoint) if j["kind"] == "rebalance" and j["smap_version"] > v0]
    b, o, wall = job_throughput(victim_jobs)
    print(f"\n[decommission] {sid} ('{reply}') held {held} objects; flagged at Smap v{flagged['version']}, "
          f"left at v{gone['version']} after {t_gone:.2f}s (its Smap entry: {history}); its jobs: {[fmt_job(j) for j in victim_jobs]}; "
          f"moved {o} objects, {b / MiB:.1f} MiB in {wall:.2f}s ({o / wall if wall else 0:.0f} obj/s, "
          f"{b / MiB / wall if wall else 0:.1f} MiB/s)")
    for tid, js in jobs.items():
        print(f"    remaining target job: {[fmt_job(j) for j in js]}")
    for kind in ("GET", "PUT"):
        for p in ("before", "during", "after"):
            print(f"    {load.summary(p, kind)}")

    problems = []
    unflagged = [h for h in history if h[1] == "in the Smap without the decommission flag"]
    if unflagged:
        problems.append(f"the decommission flag was dropped from the target's Smap entry before it left (wanted: "
                        f"flagged, then removed): {history}; primary log: "
                        f"{log_lines(ctx.proxy, 'joined|flags|removed|left', 12)}; target log: "
                        f"{log_lines(victim, 'keepalive|joined|new Smap', 8)}")
    if not any(j["finished"] and not j["errors"] and j["objects"] >= held for j in victim_jobs):
        problems.append(f"the decommissioned target held {held} objects; its rebalance jobs: "
                        f"{[fmt_job(j) for j in victim_jobs]}")
    try:
        victim.assert_not_ready("decommissioned, still running")
    except (AssertionError, NodeError) as e:
        problems.append(str(e))
    # Stopped before the check: nothing can be served from its disk any more.
    victim.close()
    try:
        c.wait_converged([ctx.proxy] + ctx.active, 30)
        verify_everything(ctx, "after decommissioning target1")
    except (AssertionError, NodeError) as e:
        problems.append(str(e))
    # Every client request counts, before the decommission request too: the test starts from a
    # clean cluster (the ctx fixture checked it), so nothing may fail at any point.
    if load.failures:
        problems.append(f"{len(load.failures)} failed client requests before, during or after the decommission "
                        f"(t=0 is the decommission request; it left the Smap at t={t_gone:+.2f}s):\n  "
                        + load.failure_report())
    assert not problems, "\n\n".join(problems)


def wait_decommissioned(ctx, victim, sid, deadline_s=REBALANCE_DEADLINE_S):
    """Poll until the decommission completed: `sid` is out of the primary's Smap AND the victim itself
    was told (its own Smap no longer lists it). A removal for missed keepalives does not count (the
    primary does not metasync the removed node, which re-joins). Returns (primary Smap, history of the
    victim's state in the primary's Smap: [(version, state)])."""
    __tracebackhide__ = True
    deadline = time.monotonic() + deadline_s
    history, last = [], "nothing yet"
    while True:
        try:
            s = ctx.proxy.smap()
            if sid in s["tmap"]:
                flags = int(s["tmap"][sid].get("flags", 0))
                state = "flagged" if flags & FLAG_DECOMMISSION else "in the Smap without the decommission flag"
            else:
                state = "removed"
            if not history or history[-1][1] != state:
                history.append((int(s["version"]), state))
            theirs = victim.smap()
            last = f"primary Smap v{s['version']}: {state}; the victim holds Smap v{theirs['version']}"
            if state == "removed" and sid not in theirs["tmap"]:
                return s, history
        except (requests.RequestException, ValueError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise AssertionError(f"decommission of {sid} not complete within {deadline_s}s: {last}; history {history}")
        time.sleep(POLL_S)


# ---- 4. SIGKILL in the middle of a rebalance ----------------------------------------------------------


def test_sigkill_during_rebalance_then_restart(ctx):
    c = ctx.cluster
    v0 = int(ctx.proxy.smap()["version"])
    senders = list(ctx.active)
    urls = {n.name: n.endpoint for n in senders}
    node, tid, smap = add_target(ctx, "target4")
    version = int(smap["version"])

    # Catch a sender whose job for this map is running and has moved something.
    victim, seen, caught = None, None, None
    deadline = time.monotonic() + REBALANCE_DEADLINE_S
    while victim is None:
        finished = 0
        for n in senders:
            try:
                js = [j for j in target_jobs(urls[n.name]) if j["kind"] == "rebalance" and j["smap_version"] >= version]
            except (requests.RequestException, AssertionError):
                continue
            if js and all(j["finished"] for j in js):
                finished += 1
            run = [j for j in js if not j["finished"] and j["objects"] > 0]
            if run:
                victim, caught = n, run[0]
                break
        if victim is None and finished == len(senders):
            seen = "all sender jobs finished before one was caught running"
            break
        assert time.monotonic() < deadline, f"no rebalance job for Smap v{version} ran within {REBALANCE_DEADLINE_S}s"
    assert victim is not None, (
        f"{seen}: the rebalance for target4 is too fast to SIGKILL a sender in the middle "
        f"(sender jobs: {[fmt_job(j) for n in senders for j in target_jobs(urls[n.name])]})")
    victim.kill9()
    t_kill = time.monotonic()
    vid = ctx.tid(victim)
    print(f"\n[sigkill] target4={tid} joined at Smap v{version}; SIGKILLed {victim.name}={vid} while its job was "
          f"running: {fmt_job(caught)}")

    # The primary drops it (keepalive), then it restarts on the same data directory and rejoins.
    c.wait_smap(lambda s: vid not in s["tmap"], f"killed {vid} left the Smap", deadline_s=30)
    victim.start()
    assert victim.persisted_id() == vid, f"{victim.name} restarted with ID {victim.persisted_id()}, was {vid}"
    back = c.wait_smap(lambda s: vid in s["tmap"], f"{vid} rejoined", deadline_s=30)
    try:
        jobs = wait_rebalance(ctx, int(back["version"]), "after the SIGKILLed target rejoined")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{victim.name} ({vid}) since its restart: " + "\n  ".join(
            log_lines(victim, "start #|aisnode ready|new Smap|joined|rebalance (started|finished)|panicked", 14))) from None
    print(f"[sigkill] {vid} rejoined at Smap v{back['version']} {time.monotonic() - t_kill:.2f}s after the kill; jobs:")
    for t, js in jobs.items():
        print(f"    {[fmt_job(j) for j in js]}")
    errs = [fmt_job(j) for js in jobs.values() for j in js if j["errors"]]
    assert not errs, f"rebalance jobs after the restart report errors: {errs}"
    c.wait_converged([ctx.proxy] + ctx.active, 30)
    assert v0 < version < int(back["version"])
    verify_everything(ctx, "after SIGKILL mid-rebalance and restart")


# ---- 5. mountpaths: detach and re-attach on a target of the cluster, through the proxy -------------


def mountpath_request(ctx, node, method, action, path):
    """AIS's api.DetachMountpath & co.: through the proxy, /v1/reverse/daemon/mountpaths with Ais-Node-Id."""
    r = requests.request(method, f"{ctx.proxy.endpoint}/v1/reverse/daemon/mountpaths",
                         json={"action": action, "value": path},
                         headers={"Ais-Node-Id": ctx.tid(node)}, timeout=REQ_TIMEOUT)
    assert r.status_code == 200, f"{method} {action} {path} on {node.name} through the proxy: {r.status_code} {r.text[:300]}"
    return r.text.strip()


def wait_job_on(node, job_id, deadline_s=REBALANCE_DEADLINE_S):
    __tracebackhide__ = True
    deadline = time.monotonic() + deadline_s
    while True:
        mine = [j for j in target_jobs(node.endpoint) if j["id"] == job_id]
        if mine and mine[0]["finished"]:
            return mine[0]
        assert node.is_alive(), f"{node.name} died: {crash_info(node)}"
        assert time.monotonic() < deadline, f"job {job_id} on {node.name} not finished within {deadline_s}s: {mine}"
        time.sleep(POLL_S)


def test_detach_mountpath_resilvers_nothing_lost(ctx):
    """Detach one of a target's mountpaths through the proxy while clients read and write: the
    resilver empties it onto the remaining one (0 failed requests), every object is on its HRW
    target+mountpath and reads back; re-attaching it moves HRW's share back. Then a rebalance
    started and waited on through the SDK's job API finishes with nothing to move."""
    from aistore.sdk import Client

    node = ctx.active[0]
    gone = node.mountpaths[1]
    held = sum(1 for v in disk_inventory([node]).values() for (_, m) in v if m == hrw.clean_mountpath(gone))
    load = Load(ctx, readers=4, writers=1, prefix="mpath").start()
    try:
        load.wait_count("before", "GET", 200)
        load.phase = "during"
        load.mark()
        t0 = time.monotonic()
        job_id = mountpath_request(ctx, node, "DELETE", "detach-mp", gone)
        job = wait_job_on(node, job_id)
        dt = time.monotonic() - t0
        load.phase = "after"
        load.wait_count("after", "GET", 100)
    finally:
        load.stop()
    lst = requests.get(f"{ctx.proxy.endpoint}/v1/cluster?what=mountpaths", timeout=REQ_TIMEOUT).json()
    mine = lst[ctx.tid(node)]
    print(f"\n[detach] {node.name}: {gone} held {held} objects; resilver {job_id} moved {job['objects']} objects "
          f"({job['bytes'] / MiB:.1f} MiB) in {dt:.2f}s; mountpaths now {mine}")
    for kind in ("GET", "PUT"):
        for p in ("before", "during", "after"):
            print(f"    {load.summary(p, kind)}")
    assert not load.failures, \
        f"{len(load.failures)} failed client requests before, during or after the detach:\n  " + load.failure_report()
    assert job["errors"] == 0 and not job["aborted"] and job["objects"] >= held, f"resilver job: {fmt_job(job)}"
    assert mine["available"] == [hrw.clean_mountpath(node.mountpaths[0])] and mine["waiting_dd"] == [], mine
    leftovers = [k for k, v in disk_inventory([node]).items() if any(m == hrw.clean_mountpath(gone) for _, m in v)]
    assert not leftovers, f"the detached mountpath still holds {len(leftovers)} objects, e.g. {leftovers[:5]}"
    node.mountpaths = node.mountpaths[:1]
    try:
        verify_everything(ctx, f"after detaching {gone} from {node.name}")
    finally:
        # Re-attach (also restores the layout later tests and the inventory expect).
        node.mountpaths = [node.mountpaths[0], gone]
    job_id = mountpath_request(ctx, node, "PUT", "attach-mp", gone)
    job = wait_job_on(node, job_id)
    assert job["errors"] == 0 and job["objects"] > 0, f"re-attach resilver: {fmt_job(job)}"
    verify_everything(ctx, f"after re-attaching {gone} to {node.name}")

    client = Client(ctx.proxy.endpoint, timeout=(5.0, 60.0))
    reb = client.job(job_kind="rebalance").start()
    assert reb.startswith("g"), reb
    res = client.job(job_id=reb, job_kind="rebalance").wait(timeout=60, verbose=False)
    assert res.success, res
    snaps = client.job(job_id=reb, job_kind="rebalance").get_details().list_snapshots()
    assert {s.id for s in snaps} == {reb} and len(snaps) == len(ctx.active), snaps
    assert all(s.stats.objects == 0 for s in snaps), f"a balanced cluster moved objects: {snaps}"


# ---- 6. maintenance and back ------------------------------------------------------------------------


def test_maintenance_and_back_loses_nothing(ctx):
    """start-maintenance moves a target's objects away (it stays in the Smap, flagged, out of HRW);
    stop-maintenance brings it back and HRW's share moves back to it. Placement is checked on disk
    after each step and a sample reads back byte-identical through the proxy."""
    node = ctx.active[-1]
    sid = ctx.tid(node)
    held = sum(1 for v in disk_inventory([node]).values() for _ in v)
    rng = random.Random(6)
    sample = rng.sample(ctx.data.names(), 500)

    v0 = int(ctx.proxy.smap()["version"])
    reply = cluster_action(ctx, "start-maintenance", sid)
    s = ctx.cluster.wait_smap(lambda s: int(s["tmap"].get(sid, {}).get("flags", 0)) & FLAG_MAINTENANCE,
                              f"{sid} in maintenance", deadline_s=10)
    jobs = wait_rebalance(ctx, int(s["version"]), "after start-maintenance")
    left = sum(1 for v in disk_inventory([node]).values() for _ in v)
    assert left == 0, f"{node.name} in maintenance still holds {left} of its {held} objects; jobs {jobs}"
    check_placement(ctx, ctx.proxy.smap(), "target in maintenance")
    errs = get_all(ctx.proxy.endpoint, sample)
    assert not errs, f"in maintenance: {errs[:5]}"
    assert sid in ctx.proxy.smap()["tmap"], "a target in maintenance stays in the Smap"

    reply2 = cluster_action(ctx, "stop-maintenance", sid)
    s = ctx.cluster.wait_smap(lambda s: sid in s["tmap"] and not int(s["tmap"][sid].get("flags", 0)) & OUT_OF_SERVICE,
                              f"{sid} back from maintenance", deadline_s=10)
    wait_rebalance(ctx, int(s["version"]), "after stop-maintenance")
    back = sum(1 for v in disk_inventory([node]).values() for _ in v)
    per_target = check_placement(ctx, ctx.proxy.smap(), "back from maintenance")
    errs = get_all(ctx.proxy.endpoint, sample)
    assert not errs, f"back from maintenance: {errs[:5]}"
    assert back > 0, f"{node.name} got nothing back after stop-maintenance"
    print(f"\n[maintenance] {node.name} ({reply}, {reply2}) held {held} objects, 0 while in maintenance (Smap v{v0}->), "
          f"{back} after stop-maintenance; per target {per_target}")
