"""Crash consistency: SIGKILL the node under concurrent PUT load, restart, check every
acknowledged PUT and that nothing partial or stray is visible.

Each writer thread owns its object names; an attempt is (name, generation) and its bytes are
derived from (seed, name, generation), so the expected content can be recomputed. A PUT is
acknowledged when the final response is 200 after exactly one 307 redirect; the writers use
plain `requests` sessions with no retries, so an acknowledgement means one server commit.

After the last restart, for every name:
  * if some generation a was acknowledged, GET must return generation g for an attempted g >= a
    (a later, unacknowledged attempt may have committed before the kill);
  * if none was, GET returns 404 or an attempted generation;
  * the listing shows exactly the readable names, each once, with the right size;
  * every file under %ob is an attempted name on its HRW mountpath with the readable bytes.
"""

import os
import random
import threading
import time

import requests

import hrw
import rawhttp
from aisutil import KiB, MiB, bck_url, det_bytes, make_client, obj_url

SEED = 424242
N_WRITERS = 4
N_KILLS = 12
KILL_INTERVAL_S = (0.1, 0.5)
BUCKET = "crash"


def attempt_size(name, gen):
    r = random.Random(f"size/{SEED}/{name}/{gen}")
    p = r.random()
    if p < 0.15:
        return r.randint(0, 4 * KiB)
    if p < 0.6:
        return r.randint(4 * KiB + 1, 256 * KiB)
    return r.randint(256 * KiB + 1, 2 * MiB)


def attempt_bytes(name, gen):
    return det_bytes(f"{SEED}/{name}/{gen}", attempt_size(name, gen))


def create_bucket(endpoint, name):
    r = requests.post(bck_url(endpoint, name), json={"action": "create-bck", "name": "", "value": None}, timeout=10)
    assert r.status_code == 200, r.text


class Writer(threading.Thread):
    def __init__(self, tid, endpoint, stop):
        super().__init__(name=f"writer-{tid}", daemon=True)
        self.tid = tid
        self.endpoint = endpoint
        self.stop = stop
        self.attempts = {}  # name -> [gen, ...] in attempt order
        self.acked = {}  # name -> last acknowledged gen
        self.n_acked = 0
        self.n_failed = 0
        self.unexpected = []  # non-200 HTTP answers that are not explained by a crash

    def run(self):
        rng = random.Random(f"writer/{SEED}/{self.tid}")
        session = requests.Session()  # default HTTPAdapter: max_retries=0
        k = 0
        while not self.stop.is_set():
            if self.attempts and rng.random() < 0.25:
                name = rng.choice(sorted(self.attempts))
            else:
                name = f"w{self.tid}/obj-{k:05d}"
                k += 1
            gens = self.attempts.setdefault(name, [])
            gen = len(gens) + 1
            gens.append(gen)
            data = attempt_bytes(name, gen)
            try:
                r = session.put(obj_url(self.endpoint, BUCKET, name), data=data, timeout=(2, 60))
                ok = r.status_code == 200 and [h.status_code for h in r.history] == [307]
                if not ok and r.status_code != 503:
                    self.unexpected.append(f"PUT {name}#{gen}: HTTP {r.status_code} {r.text[:200]}")
            except requests.RequestException:
                ok = False
                session.close()
                session = requests.Session()
                self.stop.wait(0.01)  # the node is down or restarting; do not spin
            if ok:
                self.acked[name] = gen
                self.n_acked += 1
            else:
                self.n_failed += 1


def total_acked(writers):
    return sum(w.n_acked for w in writers)


def wait_for(cond, deadline_s, what):
    end = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < end, f"timed out after {deadline_s}s waiting for {what}"
        time.sleep(0.02)


def test_sigkill_under_put_load_keeps_acked_objects(node):
    create_bucket(node.endpoint, BUCKET)
    stop = threading.Event()
    writers = [Writer(t, node.endpoint, stop) for t in range(N_WRITERS)]
    for w in writers:
        w.start()
    rng = random.Random(SEED)
    kill_log = []
    try:
        wait_for(lambda: total_acked(writers) >= 8, 30, "the first acknowledged PUTs")
        for i in range(N_KILLS):
            time.sleep(rng.uniform(*KILL_INTERVAL_S))  # workload interval, not synchronisation
            before = total_acked(writers)
            node.kill9()
            t0 = time.monotonic()
            node.start()
            kill_log.append((i, before, round(time.monotonic() - t0, 2)))
        # a little load after the last restart, so that post-restart writes are checked too
        target = total_acked(writers) + 8
        wait_for(lambda: total_acked(writers) >= target, 30, "PUTs after the last restart")
    finally:
        stop.set()
        for w in writers:
            w.join(90)
    assert not any(w.is_alive() for w in writers), "a writer thread hung"
    n_acked, n_failed = total_acked(writers), sum(w.n_failed for w in writers)
    print(f"kills (i, acked-before, restart-s): {kill_log}")
    print(f"PUTs acknowledged {n_acked}, failed {n_failed}")
    unexpected = [u for w in writers for u in w.unexpected]
    assert not unexpected, f"unexpected PUT answers: {unexpected[:10]}"
    assert n_acked >= 20, f"only {n_acked} PUTs were acknowledged: the test measured nothing"

    attempts, acked = {}, {}
    for w in writers:
        attempts.update(w.attempts)
        acked.update(w.acked)

    # 1. every name reads back as an allowed generation, or is absent only if never acknowledged
    readable = {}  # name -> bytes
    problems = []
    s = requests.Session()
    for name, gens in sorted(attempts.items()):
        a = acked.get(name)
        try:
            r = s.get(obj_url(node.endpoint, BUCKET, name), timeout=60)
        except requests.RequestException as e:
            problems.append(f"{name}: GET failed: {e!r} (acked gen {a})")
            s.close()
            s = requests.Session()
            continue
        if r.status_code == 404:
            if a is not None:
                problems.append(f"{name}: acknowledged gen {a} but GET is 404")
            continue
        if r.status_code != 200:
            problems.append(f"{name}: GET HTTP {r.status_code}")
            continue
        allowed = [g for g in gens if a is None or g >= a]
        if not any(len(r.content) == attempt_size(name, g) and r.content == attempt_bytes(name, g) for g in allowed):
            problems.append(
                f"{name}: {len(r.content)} bytes match no allowed generation {allowed} "
                f"(acked {a}, sizes {[attempt_size(name, g) for g in allowed]})"
            )
        readable[name] = r.content
    assert not problems, f"{len(problems)} bad objects after {N_KILLS} SIGKILLs:\n" + "\n".join(problems[:20])

    # 2. the listing shows exactly the readable names, once each, with their sizes
    client = make_client(node.endpoint)
    entries = client.bucket(BUCKET).list_all_objects(props="name,size", page_size=500)
    listed = [e.name for e in entries]
    assert len(listed) == len(set(listed)), "duplicate names in the listing"
    stray = sorted(set(listed) - set(attempts))
    assert not stray, f"listed names that were never PUT (leaked work files?): {stray[:10]}"
    assert set(listed) == set(readable), (
        f"listed but unreadable: {sorted(set(listed) - set(readable))[:10]}; "
        f"readable but not listed: {sorted(set(readable) - set(listed))[:10]}"
    )
    for e in entries:
        assert e.size == len(readable[e.name]), f"{e.name}: listed size {e.size}, content {len(readable[e.name])}"

    # 3. on disk: every file under %ob is an attempted name on its HRW mountpath, complete
    invisible, work_files = [], 0
    for m in node.mountpaths:
        bdir = hrw.bucket_dir(m, BUCKET)
        if not os.path.isdir(bdir):
            continue
        for entry in os.listdir(bdir):
            path = os.path.join(bdir, entry)
            assert entry.startswith("%") and os.path.isdir(path), f"unexpected item in bucket dir: {path}"
        for dirpath, _, files in os.walk(os.path.join(bdir, "%wk")):
            work_files += len(files)
        ob = os.path.join(bdir, "%ob")
        for dirpath, _, files in os.walk(ob):
            for f in files:
                fqn = os.path.join(dirpath, f)
                name = os.path.relpath(fqn, ob)
                assert name in attempts, f"file under %ob for a name never PUT: {fqn}"
                assert hrw.choose_mountpath(node.mountpaths, BUCKET, name) == m, f"{fqn}: wrong mountpath"
                with open(fqn, "rb") as fh:
                    on_disk = fh.read()
                if name in readable:
                    assert on_disk == readable[name], f"{fqn}: file bytes differ from the served object"
                else:
                    invisible.append(fqn)
    print(f"work files left under %wk: {work_files}; invisible files under %ob: {len(invisible)}")


def test_kill_during_partial_put_keeps_old_version(node):
    create_bucket(node.endpoint, BUCKET)
    v1 = det_bytes("partial-v1", 300 * KiB)
    r = requests.put(obj_url(node.endpoint, BUCKET, "x"), data=v1, timeout=30)
    assert r.status_code == 200

    partial = []
    for name in ("x", "y"):
        r = requests.put(obj_url(node.endpoint, BUCKET, name), data=b"", allow_redirects=False, timeout=10)
        assert r.status_code == 307
        loc = requests.utils.urlparse(r.headers["Location"])
        c = rawhttp.RawConn(loc.port)
        total = 8 * MiB
        c.send(rawhttp.build_request("PUT", loc.path + "?" + loc.query, {"Content-Length": str(total)}))
        c.send(det_bytes(f"partial-{name}", 3 * MiB))
        partial.append((name, c))

    # give the server a chance to start writing: poll for work files, tolerate none
    def wk_bytes():
        n = 0
        for m in node.mountpaths:
            for dirpath, _, files in os.walk(os.path.join(hrw.bucket_dir(m, BUCKET), "%wk")):
                for f in files:
                    try:
                        n += os.path.getsize(os.path.join(dirpath, f))
                    except OSError:
                        pass
        return n

    end = time.monotonic() + 3
    while wk_bytes() == 0 and time.monotonic() < end:
        time.sleep(0.02)
    print(f"bytes in work files at kill time: {wk_bytes()}")

    node.kill9()
    for _, c in partial:
        c.close()
    node.start()

    r = requests.get(obj_url(node.endpoint, BUCKET, "x"), timeout=30)
    assert r.status_code == 200 and r.content == v1, "interrupted overwrite damaged the previous version"
    r = requests.head(obj_url(node.endpoint, BUCKET, "x"), allow_redirects=True, timeout=30)
    assert r.headers.get("Ais-Version") == "1"
    r = requests.get(obj_url(node.endpoint, BUCKET, "y"), timeout=30)
    assert r.status_code == 404, f"an interrupted first PUT left a visible object (HTTP {r.status_code})"
    names = [e.name for e in make_client(node.endpoint).bucket(BUCKET).list_all_objects()]
    assert names == ["x"]
    for m in node.mountpaths:
        assert not os.path.exists(hrw.object_fqn(m, BUCKET, "y"))


def test_sigterm_stops_cleanly_and_keeps_data(node):
    create_bucket(node.endpoint, BUCKET)
    objs = {f"t/{k}": det_bytes(f"term{k}", (k * 37 * KiB) % (700 * KiB)) for k in range(40)}
    s = requests.Session()
    for name, data in objs.items():
        assert s.put(obj_url(node.endpoint, BUCKET, name), data=data, timeout=30).status_code == 200
    s.close()
    t0 = time.monotonic()
    rc, forced = node.stop()
    assert not forced, "aisnode ignored SIGTERM and had to be SIGKILLed"
    assert rc == 0, f"aisnode exited with status {rc} on SIGTERM, want 0"
    print(f"SIGTERM exit took {time.monotonic() - t0:.2f}s")
    node.start()
    s = requests.Session()
    for name, data in objs.items():
        r = s.get(obj_url(node.endpoint, BUCKET, name), timeout=30)
        assert r.status_code == 200 and r.content == data, name
    assert sorted(e.name for e in make_client(node.endpoint).bucket(BUCKET).list_all_objects()) == sorted(objs)


def test_restart_keeps_buckets_and_objects(node):
    """Bucket metadata survives SIGKILL too (not only object files)."""
    create_bucket(node.endpoint, "meta-a")
    create_bucket(node.endpoint, "meta-b")
    requests.put(obj_url(node.endpoint, "meta-a", "o"), data=b"abc", timeout=10).raise_for_status()
    node.kill9()
    node.start()
    r = requests.get(f"{node.endpoint}/v1/buckets", params={"provider": "ais"},
                     json={"action": "list", "name": "", "value": None}, timeout=10)
    assert r.status_code == 200
    assert sorted(b["name"] for b in r.json()) == ["meta-a", "meta-b"]
    assert requests.get(obj_url(node.endpoint, "meta-a", "o"), timeout=10).content == b"abc"
    r = requests.post(bck_url(node.endpoint, "meta-b"), json={"action": "create-bck", "name": "", "value": None},
                      timeout=10)
    assert r.status_code == 409
