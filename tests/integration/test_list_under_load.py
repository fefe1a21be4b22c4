"""Listing a bucket while PUTs run: a writer thread PUTs new objects whose names fall all over
the key space (before and after any listing cursor), while the test pages through the bucket
again and again with the SDK (small pages, so PUTs land between the pages of one listing).

Every listing must be sorted with no duplicates, contain every object acknowledged before that
listing started (with its size), contain nothing that was never PUT, and no listing request may
fail. Objects acknowledged during a listing may or may not appear in it.
"""

import hashlib
import threading
import time

import pytest
import requests

from aisutil import det_bytes, make_client, obj_url

BUCKET = "listing"
REQ_TIMEOUT = (3.0, 30.0)
PRELOAD = 400
PAGE_SIZE = 37
LISTINGS = 20
OVERLAPPED_MIN = 10  # listings during which the writer acknowledged PUTs
DEADLINE_S = 240

pytestmark = pytest.mark.timeout(DEADLINE_S + 120)


def name_of(k):
    """Names spread over the key space: a hash prefix, so consecutive PUTs are far apart."""
    return f"{hashlib.md5(str(k).encode()).hexdigest()[:3]}/obj-{k:06d}"


def size_of(name):
    return int(hashlib.md5(name.encode()).hexdigest()[:4], 16) % 3000


class Writer(threading.Thread):
    def __init__(self, endpoint, first):
        super().__init__(name="lister-writer", daemon=True)
        self.endpoint = endpoint
        self.next = first
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}  # name -> size, acknowledged PUTs
        self.attempted = set()
        self.errors = []

    def snapshot(self):
        with self.lock:
            return dict(self.acked)

    def count(self):
        with self.lock:
            return len(self.acked)

    def run(self):
        s = requests.Session()
        while not self.stop_ev.is_set():
            name = name_of(self.next)
            self.next += 1
            with self.lock:
                self.attempted.add(name)
            data = det_bytes(name, size_of(name))
            try:
                r = s.put(obj_url(self.endpoint, BUCKET, name), data=data, timeout=REQ_TIMEOUT)
            except requests.RequestException as e:
                self.errors.append(f"PUT {name}: {type(e).__name__}: {e}")
                continue
            if r.status_code != 200:
                self.errors.append(f"PUT {name}: HTTP {r.status_code} {r.text[:200]}")
                continue
            with self.lock:
                self.acked[name] = len(data)


def list_once(bucket):
    """Page through the bucket; returns [(name, size)] in the order received and the page count."""
    out, uuid, token, pages = [], "", "", 0
    while True:
        page = bucket.list_objects(props="name,size", page_size=PAGE_SIZE, uuid=uuid, continuation_token=token)
        pages += 1
        assert len(page.entries) <= PAGE_SIZE, f"page {pages}: {len(page.entries)} entries for page size {PAGE_SIZE}"
        out += [(e.name, e.size) for e in page.entries]
        if not page.continuation_token:
            return out, pages
        uuid, token = page.uuid, page.continuation_token
        assert pages < 10_000, "the listing does not end"


def check_listing(i, listed, before, attempted):
    """Problems of one listing: order, duplicates, acknowledged objects missing, strays."""
    problems = []
    names = [n for n, _ in listed]
    dups = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
    if dups:
        problems.append(f"listing {i}: {len(dups)} names listed more than once, e.g. {dups[:5]}")
    disorder = [(a, b) for a, b in zip(names, names[1:]) if a >= b]
    if disorder:
        problems.append(f"listing {i}: not sorted, e.g. {disorder[:3]}")
    have = dict(listed)
    missing = sorted(n for n in before if n not in have)
    if missing:
        problems.append(f"listing {i}: {len(missing)} objects acknowledged before it started are missing, "
                        f"e.g. {missing[:5]}")
    wrong = sorted(n for n in before if n in have and have[n] != before[n])
    if wrong:
        problems.append(f"listing {i}: wrong sizes, e.g. {[(n, have[n], before[n]) for n in wrong[:5]]}")
    stray = sorted(n for n in have if n not in attempted)
    if stray:
        problems.append(f"listing {i}: names never PUT, e.g. {stray[:5]}")
    return problems


def test_list_while_putting(node):
    client = make_client(node.endpoint)
    bucket = client.bucket(BUCKET).create()
    preload = {}
    s = requests.Session()
    for k in range(PRELOAD):
        name = name_of(k)
        data = det_bytes(name, size_of(name))
        r = s.put(obj_url(node.endpoint, BUCKET, name), data=data, timeout=REQ_TIMEOUT)
        assert r.status_code == 200, f"PUT {name}: {r.status_code} {r.text[:200]}"
        preload[name] = len(data)

    writer = Writer(node.endpoint, PRELOAD)
    problems, errors, stats = [], [], []
    writer.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        i = overlapped = 0
        while i < LISTINGS or overlapped < OVERLAPPED_MIN:
            assert time.monotonic() < deadline, (
                f"{i} listings, {overlapped} of them during acknowledged PUTs, within {DEADLINE_S}s "
                f"(writer acknowledged {writer.count()} PUTs, errors {writer.errors[:3]})")
            assert writer.is_alive(), "the writer thread died"
            before = {**preload, **writer.snapshot()}
            try:
                listed, pages = list_once(bucket)
            except Exception as e:  # any failed listing request is a failure of the test
                errors.append(f"listing {i}: {type(e).__name__}: {e}")
                i += 1
                continue
            after = writer.count()
            with writer.lock:
                attempted = set(preload) | set(writer.attempted)
            problems += check_listing(i, listed, before, attempted)
            new_during = after + len(preload) - len(before)
            overlapped += new_during > 0
            stats.append((len(listed), pages, new_during))
            i += 1
    finally:
        writer.stop_ev.set()
        writer.join(timeout=60)
    assert not writer.is_alive(), "the writer thread did not stop"
    print(f"\n[list under PUTs] {len(stats)} listings (entries, pages, PUTs acknowledged during it): {stats}; "
          f"writer acknowledged {len(writer.acked)} PUTs")
    assert not errors, f"{len(errors)} listings failed: {errors[:5]}"
    assert not writer.errors, f"{len(writer.errors)} PUTs failed: {writer.errors[:5]}"
    assert not problems, "\n".join(problems[:20])

    # Once the writes stopped, one more listing shows exactly every acknowledged object.
    final, _ = list_once(bucket)
    want = {**preload, **writer.acked}
    assert [n for n, _ in final] == sorted(want), "after the writes: the listing is not exactly the objects PUT"
    assert dict(final) == want


FLAT = 1500  # one flat directory per mountpath, each large enough to be kept between pages


def test_list_of_a_settled_bucket_sees_changes_between_pages(node):
    """A bucket written more than two seconds ago is listed from its directories' names kept
    between pages; a name added, one deleted and one rewritten with another size, all past
    the cursor between two pages, show in the rest of that same listing."""
    client = make_client(node.endpoint)
    bucket = client.bucket("settled").create()
    s = requests.Session()
    want = {}

    def put(name, size):
        r = s.put(obj_url(node.endpoint, "settled", name), data=det_bytes(name, size), timeout=REQ_TIMEOUT)
        assert r.status_code == 200, f"PUT {name}: {r.status_code} {r.text[:200]}"
        want[name] = size

    for k in range(FLAT):
        put(f"f-{k:06d}", size_of(f"f-{k:06d}"))
    for rnd in range(3):
        time.sleep(2.5)  # past the settling time: the directories' names are kept
        listed, uuid, token, pages = [], "", "", 0
        while True:
            page = bucket.list_objects(props="name,size", page_size=100, uuid=uuid, continuation_token=token)
            listed += [(e.name, e.size) for e in page.entries]
            pages += 1
            if pages == 3 + rnd * 4:
                later = sorted(n for n in want if n > listed[-1][0])
                gone, near, resized = later[len(later) // 2], later[10], later[20]
                r = s.delete(obj_url(node.endpoint, "settled", gone), timeout=REQ_TIMEOUT)
                assert r.status_code == 200, f"DELETE {gone}: {r.status_code}"
                del want[gone]
                put(f"{near}-new", 77)
                put(resized, want[resized] + 5000)
            if not page.continuation_token:
                break
            uuid, token = page.uuid, page.continuation_token
        assert pages > 3 + rnd * 4, f"round {rnd}: only {pages} pages"
        assert [n for n, _ in listed] == sorted(want), f"round {rnd}: the listing is not exactly the objects"
        assert dict(listed) == want, f"round {rnd}: sizes differ"
