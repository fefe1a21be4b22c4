"""HTTP edge cases against one aisnode, with raw sockets (rawhttp.py) and `requests`.

Bad names, malformed and oversized requests, idle and stalled peers, chunked bodies,
keep-alive and pipelining, and the AIS error shapes (JSON body, `Hdr-Error` on HEAD).
"""

import json
import os
import threading
import time
import uuid

import pytest
import requests

import hrw
import rawhttp
from aisutil import KiB, bck_url, det_bytes, obj_path, obj_url, xxh_hex

# pytest-timeout: each test well under 5 s on a quiet box; the margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(120)

CREATE = json.dumps({"action": "create-bck", "name": "", "value": None}).encode()
JSON_HDR = {"Content-Type": "application/json"}
CLOSE_DEADLINE_S = 5.0


def create_bucket(node, name):
    r = requests.post(bck_url(node.endpoint, name), data=CREATE, headers=JSON_HDR, timeout=10)
    assert r.status_code == 200, f"create {name}: HTTP {r.status_code} {r.text}"


def assert_ais_error(resp, status):
    """AIS error shape: JSON body with at least `message` and `status`."""
    assert resp.status == status, f"want {status}, got {resp!r} body={resp.body[:300]!r}"
    ctype = resp.header("content-type", "")
    assert ctype.startswith("application/json"), f"error Content-Type {ctype!r}"
    body = resp.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    assert body.get("status") == status, body
    return body


def list_msg(prefix="", props="name"):
    """List-objects ActMsg exactly as the SDK sends it (JSON reply: no Accept: msgpack)."""
    value = {"prefix": prefix, "pagesize": 0, "uuid": "", "props": props, "continuation_token": "",
             "flags": "0", "target": ""}
    return {"action": "list", "name": "", "value": value}


def all_files_under(root):
    out = []
    for dirpath, _, files in os.walk(root):
        out += [os.path.join(dirpath, f) for f in files]
    return out


# ---- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_name",
    ["..", "a..b", "a" * 65, "bad$char", "sp%20ace", "star*", "%C3%A9t%C3%A9", "semi;colon"],
    ids=["dotdot", "inner-dotdot", "65-bytes", "dollar", "space", "star", "non-ascii", "semicolon"],
)
def test_invalid_bucket_name_is_400(node, raw_name):
    resp, _ = rawhttp.request(node.port, "POST", f"/v1/buckets/{raw_name}?provider=ais", JSON_HDR, CREATE)
    assert_ais_error(resp, 400)
    r = requests.get(f"{node.endpoint}/v1/buckets", params={"provider": "ais"}, timeout=10)
    assert r.status_code == 200
    assert r.json() in ([], None), f"a bucket was created: {r.json()}"


def test_bucket_name_at_length_limit_is_accepted(node):
    name = "b" * 64
    create_bucket(node, name)
    r = requests.put(obj_url(node.endpoint, name, "o"), data=b"x", timeout=10)
    assert r.status_code == 200
    assert requests.get(obj_url(node.endpoint, name, "o"), timeout=10).content == b"x"


INVALID_OBJECT_PATHS = [
    "a/../{m}",
    "../{m}",
    "./{m}",
    "x/./{m}",
    "x/..",
    "{m}/..",
    "%2e%2e/{m}",
    "a/%2E%2E/%2E%2E/{m}",
    "..%2f{m}",
    "%2e/{m}",
    "",
    "dir-{m}/",
    "~/{m}",
]


def test_invalid_object_names_are_400_and_write_nothing(node, tmp_path):
    create_bucket(node, "edge")
    marker = f"evil-{uuid.uuid4().hex[:8]}"
    payload = f"PAYLOAD-{marker}".encode()
    failures = []
    for tmpl in INVALID_OBJECT_PATHS:
        path = "/v1/objects/edge/" + tmpl.format(m=marker) + "?provider=ais"
        for method, body in (("PUT", payload), ("GET", b""), ("DELETE", b"")):
            resp, hist = rawhttp.request(node.port, method, path, None, body)
            if resp.status != 400:
                failures.append(f"{method} {path}: HTTP {resp.status} (after {[h.status for h in hist]})")
                continue
            try:
                assert_ais_error(resp, 400)
            except AssertionError as e:
                failures.append(f"{method} {path}: {e}")
    assert not failures, "invalid object names not rejected with a 400 AIS error:\n" + "\n".join(failures)

    # nothing named after the marker anywhere under this test's tmp dir, and nothing in the bucket
    leaked = [f for f in all_files_under(tmp_path) if marker in f]
    assert not leaked, f"files created for invalid names: {leaked}"
    r = requests.get(bck_url(node.endpoint, "edge"), json=list_msg(), timeout=10)
    assert r.status_code == 200 and not r.json().get("entries"), r.text


# ---- malformed and oversized requests -----------------------------------------------------------


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /v1/health\r\n\r\n",
    b"GET /v1/health HTTP/1.1 extra\r\n\r\n",
    b"\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n",
    b"GET /v1/health HTTP/1.1\r\nno-colon-header\r\n\r\n",
    b"PUT /v1/objects/b/o HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=[f"m{i}" for i in range(len(MALFORMED))])
def test_malformed_request_gets_400_and_close(node, raw):
    for port in (node.port, node.core_ports[0]):
        with rawhttp.RawConn(port) as c:
            c.send(raw)
            try:
                resp = c.read_response()
            except (rawhttp.ConnectionClosed, ConnectionResetError) as e:
                pytest.fail(f"port {port}: {raw!r} -> connection closed without a 400 response ({e!r})")
            assert resp.status == 400, f"port {port}: {raw!r} -> {resp!r}"
            assert c.peer_closed_within(CLOSE_DEADLINE_S), f"port {port}: connection left open after {raw!r}"
    assert requests.get(f"{node.endpoint}/v1/health", timeout=5).status_code == 200


def _send_and_read(port, data):
    with rawhttp.RawConn(port) as c:
        c.send(data)
        return c.read_response()


def test_header_section_of_20kib_gets_431(node):
    big_one = rawhttp.build_request("GET", "/v1/health", {"X-Big": "a" * (20 * KiB)})
    many = rawhttp.build_request("GET", "/v1/health", {f"X-H{i:04d}": "v" * 60 for i in range(320)})
    for port in (node.port, node.core_ports[1]):
        for label, req in (("one 20 KiB header", big_one), ("320 headers, ~22 KiB", many)):
            try:
                resp = _send_and_read(port, req)
            except (rawhttp.ConnectionClosed, ConnectionResetError) as e:
                pytest.fail(f"port {port}, {label}: connection dropped before a 431 arrived ({e!r}); "
                            f"the server must answer 431 and close without resetting unread input")
            assert resp.status == 431, f"port {port}, {label}: {resp!r}"
    # a modest header section is fine
    resp = _send_and_read(node.port, rawhttp.build_request("GET", "/v1/health", {"X-Ok": "a" * (4 * KiB)}))
    assert resp.status == 200


# ---- idle and stalled peers ------------------------------------------------------------------


def test_idle_and_stalled_clients_do_not_stall_others(node):
    create_bucket(node, "idle")
    ports = [node.port] + node.core_ports
    stalled = []
    try:
        for p in ports:
            for _ in range(3):
                stalled.append(rawhttp.RawConn(p))  # connects, sends nothing
            c = rawhttp.RawConn(p)
            c.send(b"GET /v1/hea")  # half a request line
            stalled.append(c)
            c = rawhttp.RawConn(p)
            c.send(b"PUT /v1/objects/idle/stalled?provider=ais HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                   + b"z" * 10)  # a body that never completes
            stalled.append(c)

        deadline = time.monotonic() + 15.0
        data = det_bytes("idle", 200 * KiB)
        done = []
        for k in range(6):  # objects spread over both cores
            name = f"o{k}"
            assert requests.get(f"{node.endpoint}/v1/health", timeout=5).status_code == 200
            assert requests.put(obj_url(node.endpoint, "idle", name), data=data, timeout=5).status_code == 200
            assert requests.get(obj_url(node.endpoint, "idle", name), timeout=5).content == data
            done.append(name)
            assert time.monotonic() < deadline, f"requests too slow while peers idle; done {done}"
    finally:
        for c in stalled:
            c.close()
    # the stalled PUT never became an object
    r = requests.get(obj_url(node.endpoint, "idle", "stalled"), timeout=5)
    assert r.status_code == 404


# ---- chunked bodies, keep-alive, pipelining ----------------------------------------------------


def test_chunked_put(node):
    create_bucket(node, "chunky")
    for name, size in (("c/300k", 300 * KiB + 7), ("c/empty", 0), ("c/one", 1)):
        data = det_bytes(name, size)
        hdrs = {"Transfer-Encoding": "chunked"}
        resp, hist = rawhttp.request(node.port, "PUT", obj_path("chunky", name) + "?provider=ais", hdrs,
                                     rawhttp.chunked(data))
        assert [h.status for h in hist] == [307], hist
        assert resp.status == 200, f"{name}: {resp!r} {resp.body[:200]!r}"
        r = requests.get(obj_url(node.endpoint, "chunky", name), timeout=10)
        assert r.status_code == 200 and r.content == data, name
        assert r.headers["Ais-Checksum-Value"] == xxh_hex(data)


def _core_location(node, bucket, name, method="PUT"):
    r = requests.request(method, obj_url(node.endpoint, bucket, name), allow_redirects=False, timeout=10)
    want = 301 if method == "GET" else 307  # the proxy redirects GET with 301, the others with 307
    assert r.status_code == want, f"{method} on the public port: {r.status_code}, want {want}"
    loc = requests.utils.urlparse(r.headers["Location"])
    return loc.port, loc.path + "?" + loc.query


def test_keep_alive_on_public_port(node):
    create_bucket(node, "ka")
    requests.put(obj_url(node.endpoint, "ka", "o"), data=b"hello", timeout=10).raise_for_status()
    with rawhttp.RawConn(node.port) as c:
        for _ in range(5):
            assert c.request("GET", "/v1/health").status == 200
        resp = c.request("GET", "/v1/buckets?provider=ais", JSON_HDR,
                         json.dumps({"action": "list", "name": "", "value": None}).encode())
        assert resp.status == 200 and [b["name"] for b in resp.json()] == ["ka"]
        resp = c.request("HEAD", "/v1/objects/ka/o?provider=ais")
        assert resp.status == 307
        resp = c.request("GET", "/v1/objects/ka/o?provider=ais")
        assert resp.status == 301
        resp = c.request("GET", "/v1/objects/ka/missing?provider=ais")
        assert resp.status == 301, resp  # the proxy redirects by HRW; the target answers the 404
        assert c.request("GET", "/v1/health").status == 200


def test_keep_alive_and_pipelining_on_core_port(node):
    create_bucket(node, "ka2")
    port, path = _core_location(node, "ka2", "obj")
    bodies = [det_bytes(f"ka{k}", 10 * KiB * k) for k in range(1, 4)]
    with rawhttp.RawConn(port) as c:
        for k, body in enumerate(bodies):
            resp = c.request("PUT", path, None, body)
            assert resp.status == 200, f"PUT #{k} on a kept-alive connection: {resp!r}"
            resp = c.request("GET", path)
            assert resp.status == 200 and resp.body == body, f"GET #{k}"
            resp = c.request("PUT", path, {"Transfer-Encoding": "chunked"}, rawhttp.chunked(body))
            assert resp.status == 200, f"chunked PUT #{k}: {resp!r}"
            resp = c.request("HEAD", path)
            assert resp.status == 200 and resp.header("content-length") == str(len(body))
        # three requests in one write; responses must come back complete and in order
        c.send(rawhttp.build_request("GET", path, {"Host": "x"})
               + rawhttp.build_request("HEAD", path, {"Host": "x"})
               + rawhttp.build_request("GET", path, {"Host": "x", "Range": "bytes=0-9"}))
        r1, r2, r3 = c.read_response("GET"), c.read_response("HEAD"), c.read_response("GET")
        assert (r1.status, r1.body) == (200, bodies[-1])
        assert r2.status == 200 and r2.body == b""
        assert (r3.status, r3.body) == (206, bodies[-1][:10])
        assert c.request("GET", "/v1/health").status == 200


# ---- error shapes -----------------------------------------------------------------------------


def test_head_missing_object_has_hdr_error(node):
    create_bucket(node, "heads")
    r = requests.head(obj_url(node.endpoint, "heads", "nope"), allow_redirects=True, timeout=10)
    assert r.status_code == 404
    assert r.content == b""
    assert "Hdr-Error" in r.headers, dict(r.headers)
    err = json.loads(r.headers["Hdr-Error"])
    assert err["status"] == 404 and "does not exist" in err["message"], err
    assert "ais://heads/nope" in err["message"], err

    r = requests.head(bck_url(node.endpoint, "no-such-bck"), timeout=10)
    assert r.status_code == 404
    err = json.loads(r.headers["Hdr-Error"])
    assert err["status"] == 404 and 'bucket "ais://no-such-bck" does not exist' in err["message"], err


def test_error_bodies_have_ais_json_shape(node):
    create_bucket(node, "shape")
    r = requests.get(obj_url(node.endpoint, "shape", "dir/nope"), timeout=10)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert not r.content.endswith(b"\n"), "AIS error bodies have no trailing newline"
    body = r.json()
    assert body["status"] == 404
    assert "ais://shape/dir/nope" in body["message"] and "does not exist" in body["message"], body
    assert body.get("method") == "GET", body

    r = requests.delete(obj_url(node.endpoint, "shape", "dir/nope"), timeout=10)
    assert r.status_code == 404
    assert "ais://shape/dir/nope" in r.json()["message"]

    r = requests.post(bck_url(node.endpoint, "shape"), data=CREATE, headers=JSON_HDR, timeout=10)
    assert r.status_code == 409
    body = r.json()
    assert body["status"] == 409 and 'bucket "ais://shape" already exists' in body["message"], body

    r = requests.put(obj_url(node.endpoint, "no-such-bck", "o"), data=b"x", timeout=10)
    assert r.status_code == 404
    assert 'bucket "ais://no-such-bck" does not exist' in r.json()["message"]


def test_concurrent_clients_on_all_ports(node):
    """Many concurrent PUT/GET pairs through redirects, to smoke out cross-core hand-off bugs."""
    create_bucket(node, "conc")
    errors = []

    def worker(t):
        s = requests.Session()
        try:
            for k in range(25):
                name = f"t{t}/o{k}"
                data = det_bytes(name, (k * 7919) % (300 * KiB))
                r = s.put(obj_url(node.endpoint, "conc", name), data=data, timeout=20)
                if r.status_code != 200:
                    errors.append(f"PUT {name}: {r.status_code}")
                    continue
                r = s.get(obj_url(node.endpoint, "conc", name), timeout=20)
                if r.content != data:
                    errors.append(f"GET {name}: {r.status_code}, {len(r.content)} bytes")
        except requests.RequestException as e:
            errors.append(f"worker {t}: {e!r}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not any(th.is_alive() for th in threads), "workers hung"
    assert not errors, errors[:10]
    # every object on its HRW mountpath
    for t in range(8):
        for k in range(25):
            assert os.path.isfile(hrw.expected_fqn(node.mountpaths, "conc", f"t{t}/o{k}"))
