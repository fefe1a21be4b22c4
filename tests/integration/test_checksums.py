"""Every AIS checksum type end to end (spec section 5): `none`, `xxhash`, `xxhash2`, `md5`,
`crc32c`, `sha256`, `sha512`.

* PUT with `Ais-Checksum-Type`/`Ais-Checksum-Value` of any type: the right value is accepted and
  the object is stored under the bucket's type (xxhash2 here); a wrong one is a 500 "BAD DATA
  CHECKSUM" naming the type, and nothing changes (no object, or the existing one's bytes and
  version). An unknown type or a value of the wrong form is a 400 naming it, before the body.
* APPEND flush verifies a declared checksum of any type the same way (400 on a mismatch, as
  before, the session kept).
* GET and HEAD `validate-checksum` verify an object against its stored type, whichever it is:
  objects of other types are made by rewriting the LOM xattr (bucket props cannot set a type
  yet), then a flipped byte must be refused.

Values are computed here independently: hashlib, xxhash, and a table-driven CRC-32C.
"""

import hashlib
import os

import pytest
import requests

import hrw
import lom
from aisutil import KiB, MiB, det_bytes, make_client, obj_url, xxh_hex
from test_corruption import flip_byte

pytestmark = pytest.mark.timeout(300)

REQ_TIMEOUT = (3.0, 60.0)
TYPES = ("xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")
HEX_LEN = {"xxhash": 16, "xxhash2": 16, "md5": 32, "crc32c": 8, "sha256": 64, "sha512": 128}


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    t = CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def cksum(ty, data):
    """The AIS value of `data` for type `ty`: lowercase hex, big-endian."""
    if ty in ("xxhash", "xxhash2"):
        return xxh_hex(data)
    if ty == "crc32c":
        return f"{crc32c(data):08x}"
    return hashlib.new(ty, data).hexdigest()


def wrong(ty, data):
    """A well-formed value of type `ty` that is not the one of `data`."""
    v = cksum(ty, data)
    return ("1" if v[0] == "0" else "0") + v[1:]


def test_python_checksums_match_published_vectors():
    assert cksum("crc32c", b"123456789") == "e3069283"
    assert cksum("xxhash2", b"abc") == "44bc2cf5ad770999"
    assert cksum("md5", b"") == "d41d8cd98f00b204e9800998ecf8427e"
    for ty in TYPES:
        assert len(cksum(ty, b"x")) == HEX_LEN[ty]


def put(endpoint, bucket, name, data, ty=None, value=None, query="provider=ais"):
    headers = {}
    if ty is not None:
        headers["Ais-Checksum-Type"] = ty
    if value is not None:
        headers["Ais-Checksum-Value"] = value
    return requests.put(obj_url(endpoint, bucket, name, query), data=data, headers=headers,
                        allow_redirects=True, timeout=REQ_TIMEOUT)


def head(endpoint, bucket, name, query="provider=ais"):
    return requests.head(obj_url(endpoint, bucket, name, query), allow_redirects=True,
                         timeout=REQ_TIMEOUT)


def get(endpoint, bucket, name):
    return requests.get(obj_url(endpoint, bucket, name), timeout=REQ_TIMEOUT)


def message(r):
    """An error's message: the JSON body, or `Hdr-Error` for HEAD."""
    if r.request.method == "HEAD":
        return r.headers.get("Hdr-Error", "")
    try:
        return r.json()["message"]
    except ValueError:
        return r.text


def assert_stored_as_xxhash2(endpoint, bucket, name, data):
    r = get(endpoint, bucket, name)
    assert r.status_code == 200, (r.status_code, message(r))
    assert r.content == data, f"{name}: {len(r.content)} bytes, want {len(data)}"
    assert (r.headers["Ais-Checksum-Type"], r.headers["Ais-Checksum-Value"]) == ("xxhash2", xxh_hex(data))
    h = head(endpoint, bucket, name)
    assert (h.headers["Ais-Checksum-Type"], h.headers["Ais-Checksum-Value"]) == ("xxhash2", xxh_hex(data))
    return h


@pytest.fixture(scope="module")
def bucket(module_node):
    make_client(module_node.endpoint).bucket("cksum").create(exist_ok=True)
    return "cksum"


@pytest.mark.parametrize("ty", TYPES)
def test_put_with_the_right_checksum_of_each_type_is_stored_under_the_bucket_type(module_node, bucket, ty):
    ep = module_node.endpoint
    for i, size in enumerate((0, 1, 4 * KiB + 1, 300_000, 2 * MiB + 3)):
        name = f"right/{ty}/{size}"
        data = det_bytes(name, size)
        # Hex digits in either case are accepted (values are compared lowercased).
        value = cksum(ty, data).upper() if i % 2 else cksum(ty, data)
        r = put(ep, bucket, name, data, ty, value)
        assert r.status_code == 200, (name, r.status_code, message(r))
        assert (r.headers["Ais-Checksum-Type"], r.headers["Ais-Checksum-Value"]) == ("xxhash2", xxh_hex(data))
        assert_stored_as_xxhash2(ep, bucket, name, data)
        md = lom.parse(os.getxattr(hrw.expected_fqn(module_node.mountpaths, bucket, name), lom.XATTR_LOM))
        assert (md["cksum_type"], md["cksum_value"], md["size"]) == ("xxhash2", xxh_hex(data), size)


def test_put_with_type_none_and_no_value_verifies_nothing(module_node, bucket):
    data = det_bytes("none", 1000)
    r = put(module_node.endpoint, bucket, "none/obj", data, "none", "")
    assert r.status_code == 200, message(r)
    assert_stored_as_xxhash2(module_node.endpoint, bucket, "none/obj", data)


@pytest.mark.parametrize("ty", TYPES)
def test_put_with_a_wrong_checksum_of_each_type_is_500_and_changes_nothing(module_node, bucket, ty):
    ep = module_node.endpoint
    for size in (1, 300_000, 2 * MiB + 3):
        # A new object: not created.
        name = f"wrong/{ty}/new/{size}"
        data = det_bytes(name, size)
        r = put(ep, bucket, name, data, ty, wrong(ty, data))
        assert r.status_code == 500, (name, r.status_code, message(r))
        msg = message(r)
        assert "BAD DATA CHECKSUM" in msg and f"{ty}(" in msg, msg
        assert f"{wrong(ty, data)} != {cksum(ty, data)}" in msg, msg
        assert head(ep, bucket, name).status_code == 404, f"{name} exists after a refused PUT"

        # An existing object: bytes, version and checksum as they were.
        name = f"wrong/{ty}/existing/{size}"
        old = det_bytes(name + "old", size)
        assert put(ep, bucket, name, old).status_code == 200
        before = assert_stored_as_xxhash2(ep, bucket, name, old)
        new = det_bytes(name + "new", size + 1)
        r = put(ep, bucket, name, new, ty, wrong(ty, new))
        assert r.status_code == 500 and "BAD DATA CHECKSUM" in message(r), (r.status_code, message(r))
        after = assert_stored_as_xxhash2(ep, bucket, name, old)
        assert after.headers["Ais-Version"] == before.headers["Ais-Version"]
        # ... and the right value replaces it.
        r = put(ep, bucket, name, new, ty, cksum(ty, new))
        assert r.status_code == 200, message(r)
        assert_stored_as_xxhash2(ep, bucket, name, new)
        assert int(head(ep, bucket, name).headers["Ais-Version"]) == int(before.headers["Ais-Version"]) + 1

    # Nothing is left in the work directories.
    for mp in module_node.mountpaths:
        wk = os.path.join(hrw.bucket_dir(mp, bucket), "%wk")
        if os.path.isdir(wk):
            assert not [f for f in os.listdir(wk) if f.startswith("put.")], os.listdir(wk)


@pytest.mark.parametrize("ty,value,names", [
    ("sha1", "a" * 40, "sha1"),
    ("crc32", "e3069283", "crc32"),
    ("bogus", "", "bogus"),
    ("md5", "a" * 31, "md5"),          # one digit short
    ("md5", "g" * 32, "md5"),          # not hex
    ("crc32c", "0xe30692", "crc32c"),
    ("sha256", "", "sha256"),          # no value at all
    ("none", "abc", "none"),           # none takes no value
])
@pytest.mark.parametrize("query", ["provider=ais", "provider=ais&skip_vc=true"])
def test_unknown_type_or_malformed_value_is_400_naming_it(module_node, bucket, ty, value, names, query):
    name = f"bad/{ty}/{len(value)}"
    r = put(module_node.endpoint, bucket, name, b"0123456789", ty, value, query=query)
    assert r.status_code == 400, (r.status_code, message(r))
    assert names in message(r), message(r)
    assert head(module_node.endpoint, bucket, name).status_code == 404


@pytest.mark.parametrize("ty", TYPES)
def test_append_flush_verifies_a_checksum_of_each_type(module_node, bucket, ty):
    client = make_client(module_node.endpoint)
    name = f"apnd/{ty}"
    w = client.bucket(bucket).object(name).get_writer()
    h = w.append_content(b"first,")
    h = w.append_content(b"second", handle=h)
    data = b"first,second"
    url = obj_url(module_node.endpoint, bucket, name)
    flush = f"{url}&append_type=flush&append_handle={requests.utils.quote(h)}"
    # A wrong value: 400, nothing stored, the session kept.
    r = requests.put(flush, headers={"Ais-Checksum-Type": ty, "Ais-Checksum-Value": wrong(ty, data)},
                     allow_redirects=True, timeout=REQ_TIMEOUT)
    assert r.status_code == 400 and "BAD DATA CHECKSUM" in message(r) and ty in message(r), message(r)
    assert head(module_node.endpoint, bucket, name).status_code == 404
    # A malformed value: 400 as well.
    r = requests.put(flush, headers={"Ais-Checksum-Type": ty, "Ais-Checksum-Value": "abc"},
                     allow_redirects=True, timeout=REQ_TIMEOUT)
    assert r.status_code == 400 and ty in message(r), message(r)
    # The right one: the object, under the bucket's type.
    r = requests.put(flush, headers={"Ais-Checksum-Type": ty, "Ais-Checksum-Value": cksum(ty, data)},
                     allow_redirects=True, timeout=REQ_TIMEOUT)
    assert r.status_code == 200, message(r)
    assert_stored_as_xxhash2(module_node.endpoint, bucket, name, data)


def test_append_flush_with_an_unknown_type_appends_nothing(module_node, bucket):
    client = make_client(module_node.endpoint)
    name = "apnd/unknown"
    h = client.bucket(bucket).object(name).get_writer().append_content(b"abc")
    flush = (f"{obj_url(module_node.endpoint, bucket, name)}&append_type=flush"
             f"&append_handle={requests.utils.quote(h)}")
    r = requests.put(flush, data=b"-tail", headers={"Ais-Checksum-Type": "sha1", "Ais-Checksum-Value": "a" * 40},
                     allow_redirects=True, timeout=REQ_TIMEOUT)
    assert r.status_code == 400 and "sha1" in message(r), message(r)
    r = requests.put(flush, headers={"Ais-Checksum-Type": "md5", "Ais-Checksum-Value": cksum("md5", b"abc")},
                     allow_redirects=True, timeout=REQ_TIMEOUT)
    assert r.status_code == 200, message(r)
    assert get(module_node.endpoint, bucket, name).content == b"abc"


def restamp(fqn, ty, value):
    """Rewrite the object's LOM so that its checksum is `ty`/`value` (all else kept)."""
    md = lom.parse(os.getxattr(fqn, lom.XATTR_LOM))
    md["cksum_type"], md["cksum_value"] = ty, value
    os.setxattr(fqn, lom.XATTR_LOM, lom.encode(md))
    assert lom.parse(os.getxattr(fqn, lom.XATTR_LOM))["cksum_type"] == ty


@pytest.mark.parametrize("ty", TYPES)
def test_get_and_head_verify_the_stored_type(node, ty):
    ep = node.endpoint
    make_client(ep).bucket("stored").create()
    for size in (100 * KiB + 3, 2 * MiB + 5):
        name = f"{ty}/{size}"
        data = det_bytes(name, size)
        assert put(ep, "stored", name, data).status_code == 200
        fqn = hrw.expected_fqn(node.mountpaths, "stored", name)
        restamp(fqn, ty, cksum(ty, data))

        r = get(ep, "stored", name)
        assert r.status_code == 200 and r.content == data, (r.status_code, message(r))
        assert (r.headers["Ais-Checksum-Type"], r.headers["Ais-Checksum-Value"]) == (ty, cksum(ty, data))
        h = head(ep, "stored", name, "provider=ais&validate-checksum=true")
        assert h.status_code == 200, message(h)
        assert (h.headers["Ais-Checksum-Type"], h.headers["Ais-Checksum-Value"]) == (ty, cksum(ty, data))

        # A stored value that does not match the bytes is caught by the stored type.
        restamp(fqn, ty, wrong(ty, data))
        h = head(ep, "stored", name, "provider=ais&validate-checksum=true")
        assert h.status_code == 500 and "BAD DATA CHECKSUM" in message(h) and f"{ty}(" in message(h), \
            (h.status_code, message(h))
        restamp(fqn, ty, cksum(ty, data))

        # One flipped byte: never served.
        flip_byte(fqn, size // 2)
        h = head(ep, "stored", name, "provider=ais&validate-checksum=true")
        assert h.status_code == 500 and "BAD DATA CHECKSUM" in message(h), (h.status_code, message(h))
        if size <= 1 * MiB:
            r = get(ep, "stored", name)
            assert r.status_code == 500, r.status_code
            msg = message(r)
            assert "BAD DATA CHECKSUM" in msg and f"{ty}({cksum(ty, data)} != " in msg, msg
        else:
            with requests.get(obj_url(ep, "stored", name), stream=True, timeout=REQ_TIMEOUT) as r:
                got = b""
                try:
                    for chunk in r.iter_content(64 * KiB):
                        got += chunk
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
                    pass
            assert len(got) < size, f"{name}: a corrupted object was served whole"
        flip_byte(fqn, size // 2)

        # Identical content re-PUT to an object of another type is stored anew, under the
        # bucket's type (a value of one type says nothing about one of another).
        v = int(head(ep, "stored", name).headers["Ais-Version"])
        r = put(ep, "stored", name, data)
        assert r.status_code == 200, message(r)
        assert_stored_as_xxhash2(ep, "stored", name, data)
        want = v if ty == "xxhash2" else v + 1
        assert int(head(ep, "stored", name).headers["Ais-Version"]) == want


@pytest.mark.parametrize("ty", TYPES + ("none",))
def test_bucket_checksum_type_set_through_props_is_stored_and_verified(module_node, ty):
    """A bucket whose `checksum.type` is set with set-bprops (issue 12): objects are stored with
    that type's value (GET and HEAD show it), a flipped byte is refused on GET with BAD DATA
    CHECKSUM (nothing to verify with `none`), and a wrong client checksum stores nothing."""
    ep = module_node.endpoint
    b = f"props-{ty}"
    make_client(ep).bucket(b).create(exist_ok=True)
    r = requests.patch(f"{ep}/v1/buckets/{b}?provider=ais",
                       json={"action": "set-bprops", "value": {"checksum": {"type": ty}}}, timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    data = det_bytes(f"props-{ty}", 300 * KiB + 7)
    assert put(ep, b, "o", data).status_code == 200
    r = get(ep, b, "o")
    assert r.status_code == 200 and r.content == data
    if ty == "none":
        assert "Ais-Checksum-Value" not in r.headers or r.headers["Ais-Checksum-Value"] == ""
    else:
        assert (r.headers["Ais-Checksum-Type"], r.headers["Ais-Checksum-Value"]) == (ty, cksum(ty, data))
    # A client checksum of another type that does not match: refused, nothing stored.
    other = "sha256" if ty != "sha256" else "md5"
    r = put(ep, b, "bad", data, ty=other, value=wrong(other, data))
    assert r.status_code == 500 and "BAD DATA CHECKSUM" in message(r), (r.status_code, message(r))
    assert head(ep, b, "bad").status_code == 404
    if ty != "none":
        flip_byte(hrw.expected_fqn(module_node.mountpaths, b, "o"), 1000)
        r = get(ep, b, "o")
        assert r.status_code == 500 and "BAD DATA CHECKSUM" in message(r), (r.status_code, message(r)[:200])
