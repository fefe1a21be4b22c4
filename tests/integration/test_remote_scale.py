"""Remote buckets at scale (issue 17's "done when"), against `moto_server`:

* 100 clients cold-GET the same 256 MiB object at once: the backend is read once and every
  client gets the whole object, byte for byte;
* a cold GET of 1,000 objects reads the backend 1,000 times; warm GETs of all of them after
  that read it not at all.

(An object changed or deleted out of band and noticed with `latest`: test_remote_s3.py.)
"""

import concurrent.futures
import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from aisutil import det_bytes, make_client
from test_remote_s3 import aws_gets, cache, moto, s3, url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(600)

T = 30
BIG_BYTES = 256 << 20
CLIENTS = 100
# Each client reads into a buffer of this size, filled whole before it is compared, so that
# chunk k is always bytes [k * CHUNK, (k + 1) * CHUNK) of the object.
CHUNK = 1 << 20
# Every blocking socket operation of a client (connect, each read) must finish within this.
SOCKET_TIMEOUT_S = 120
SMALL = 1000


def get_compare(endpoint_url, want, barrier):
    """One client: wait for the others, GET `endpoint_url` (following the proxy's redirect),
    compare every byte with `want` (the object's bytes in CHUNK pieces) as it arrives
    (nothing kept); (status, bytes, mismatch offset or None, seconds). bytearray == bytes is a
    memcmp; memoryview comparison goes byte by byte, 30 times slower."""
    u = urlsplit(endpoint_url)
    host, port, path = u.hostname, u.port, f"{u.path}?{u.query}"
    barrier.wait(timeout=SOCKET_TIMEOUT_S)
    t0 = time.monotonic()
    for _ in range(3):  # the public port may redirect to the owning core's
        conn = http.client.HTTPConnection(host, port, timeout=SOCKET_TIMEOUT_S)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            if resp.status in (301, 302, 307, 308):
                loc = urlsplit(resp.getheader("Location"))
                host, port, path = loc.hostname, loc.port, f"{loc.path}?{loc.query}"
                resp.read()
                continue
            if resp.status != 200:
                return resp.status, 0, None, time.monotonic() - t0
            buf = bytearray(CHUNK)
            mv = memoryview(buf)
            got, bad = 0, None
            while True:
                filled = 0
                while filled < CHUNK:
                    n = resp.readinto(mv[filled:])
                    if not n:
                        break
                    filled += n
                if filled == 0:
                    break
                k = got // CHUNK
                if bad is None and (k >= len(want) or len(want[k]) != filled
                                    or (buf if filled == CHUNK else bytes(mv[:filled])) != want[k]):
                    bad = got
                got += filled
                if filled < CHUNK:
                    break
            return resp.status, got, bad, time.monotonic() - t0
        finally:
            conn.close()
    return 0, 0, None, time.monotonic() - t0


def test_100_clients_cold_get_one_256mib_object_and_the_backend_is_read_once(cache, s3):  # noqa: F811
    s3.create_bucket(Bucket="fan")
    # det_bytes in pieces (randbytes stops at 2^31 bits); one copy kept.
    big = b"".join(det_bytes(f"fan/big/{i}", 16 << 20) for i in range(BIG_BYTES // (16 << 20)))
    s3.put_object(Bucket="fan", Key="big", Body=big)
    want = [big[o:o + CHUNK] for o in range(0, BIG_BYTES, CHUNK)]
    del big
    # The bucket is known to the cluster (added on first access) before the clients start.
    assert requests.head(url(cache.endpoint, "fan"), timeout=T).status_code == 200
    before = aws_gets(cache)
    barrier = threading.Barrier(CLIENTS)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
        futs = [ex.submit(get_compare, url(cache.endpoint, "fan", "big"), want, barrier) for _ in range(CLIENTS)]
        got = [f.result(timeout=540) for f in futs]
    took = time.monotonic() - t0
    total = sum(g[1] for g in got)
    print(f"\n{CLIENTS} clients x {BIG_BYTES >> 20} MiB cold GET: {took:.1f} s, "
          f"{total / took / (1 << 30):.2f} GiB/s aggregate, slowest client {max(g[3] for g in got):.1f} s")
    bad = [(i, g) for i, g in enumerate(got) if g[:3] != (200, BIG_BYTES, None)]
    assert not bad, f"{len(bad)} clients failed (status, bytes, first bad chunk offset, s): {bad[:5]}"
    assert aws_gets(cache) - before == 1


def test_cold_get_of_1000_objects_then_warm_gets_read_the_backend_once_each(cache, s3):  # noqa: F811
    from aistore.sdk.provider import Provider

    s3.create_bucket(Bucket="thousand")
    data = {f"d{i // 100}/o{i:04d}": det_bytes(f"thousand/{i}", 100 + i) for i in range(SMALL)}
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: s3.put_object(Bucket="thousand", Key=kv[0], Body=kv[1]), data.items(), timeout=120))
    b = make_client(cache.endpoint).bucket("thousand", provider=Provider.AMAZON)
    b.head()

    def read_all(names):
        def one(k):
            return k, b.object(k).get_reader().read_all()

        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            return dict(ex.map(one, names, timeout=300))

    before = aws_gets(cache)
    t0 = time.monotonic()
    cold = read_all(data)
    t_cold = time.monotonic() - t0
    assert cold == data
    assert aws_gets(cache) - before == SMALL
    t0 = time.monotonic()
    warm = read_all(data)
    t_warm = time.monotonic() - t0
    assert warm == data
    assert aws_gets(cache) - before == SMALL
    print(f"\n{SMALL} objects: cold GET {t_cold:.1f} s, warm GET {t_warm:.1f} s")
