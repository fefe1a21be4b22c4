"""Bit rot: one byte of an object's file flipped on disk behind the node's back must never be
served as the object.

Objects are written with the bucket's default checksum (xxhash2, checked in the LOM xattr) and
GET validates it (`validate_warm_get`, on by default). A small object (one read buffer) is
checked before anything is sent: HTTP 500 with "BAD DATA CHECKSUM". A large one (> 1 MiB) is
streamed with its last buffer held back until the checksum holds, so the client sees the
response cut short: fewer bytes than Content-Length or a connection error, never a complete
200 body.
"""

import os

import pytest
import requests
from aistore.sdk.errors import AISError

import hrw
import lom
from aisutil import KiB, MiB, det_bytes, make_client, obj_url, xxh_hex

BUCKET = "rot"
REQ_TIMEOUT = (3.0, 30.0)

pytestmark = pytest.mark.timeout(180)


def put_and_locate(node, client, name, data):
    """PUT through the SDK; return the object's file, after checking that it holds the bytes and
    the default xxhash2 checksum of them."""
    client.bucket(BUCKET).object(name).get_writer().put_content(data)
    fqn = hrw.expected_fqn(node.mountpaths, BUCKET, name)
    with open(fqn, "rb") as f:
        assert f.read() == data, f"{fqn}: file bytes differ from the object"
    md = lom.parse(os.getxattr(fqn, lom.XATTR_LOM))
    assert (md["cksum_type"], md["cksum_value"]) == ("xxhash2", xxh_hex(data)), f"{fqn}: LOM {md}"
    # Before the damage the object reads back whole.
    r = requests.get(obj_url(node.endpoint, BUCKET, name), timeout=REQ_TIMEOUT)
    assert r.status_code == 200 and r.content == data, f"GET {name} before the flip: {r.status_code}"
    return fqn


def flip_byte(fqn, offset):
    """XOR one byte of the file with 0xFF in place (same inode, xattr untouched) and make it
    durable, so that the node's O_DIRECT reads see it."""
    fd = os.open(fqn, os.O_RDWR)
    try:
        (b,) = os.pread(fd, 1, offset)
        assert os.pwrite(fd, bytes([b ^ 0xFF]), offset) == 1
        os.fsync(fd)
    finally:
        os.close(fd)


@pytest.fixture
def rot(node):
    client = make_client(node.endpoint)
    client.bucket(BUCKET).create()
    return node, client


def test_flipped_byte_in_small_object_is_500_bad_checksum(rot):
    node, client = rot
    name = "small/obj"
    data = det_bytes("rot-small", 100 * KiB + 3)
    fqn = put_and_locate(node, client, name, data)
    flip_byte(fqn, len(data) // 2)

    r = requests.get(obj_url(node.endpoint, BUCKET, name), timeout=REQ_TIMEOUT)
    assert r.status_code == 500, f"GET of a corrupted object: HTTP {r.status_code}, {len(r.content)} bytes"
    msg = r.json()["message"]
    assert "BAD DATA CHECKSUM" in msg, msg
    assert xxh_hex(data) in msg, f"the error should name the stored checksum {xxh_hex(data)}: {msg}"

    with pytest.raises(AISError) as e:
        client.bucket(BUCKET).object(name).get_reader().read_all()
    assert e.value.status_code == 500 and "BAD DATA CHECKSUM" in str(e.value), e.value

    # The first and the last byte are covered too (one flip at a time).
    flip_byte(fqn, len(data) // 2)
    for offset in (0, len(data) - 1):
        flip_byte(fqn, offset)
        r = requests.get(obj_url(node.endpoint, BUCKET, name), timeout=REQ_TIMEOUT)
        assert r.status_code == 500 and "BAD DATA CHECKSUM" in r.json()["message"], \
            f"byte {offset} flipped: HTTP {r.status_code}"
        flip_byte(fqn, offset)


def read_cut(url):
    """GET `url` streaming; returns (status, Content-Length, bytes received, error or None)."""
    got = 0
    err = None
    with requests.get(url, stream=True, timeout=REQ_TIMEOUT) as r:
        status, clen = r.status_code, int(r.headers.get("Content-Length", -1))
        try:
            for chunk in r.iter_content(64 * KiB):
                got += len(chunk)
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as e:
            err = e
    return status, clen, got, err


@pytest.mark.parametrize("where", ["first-buffer", "middle", "last-byte"])
def test_flipped_byte_in_large_object_cuts_the_response(rot, where):
    node, client = rot
    name = f"large/{where}"
    size = 3 * MiB + 13
    data = det_bytes(f"rot-large-{where}", size)
    fqn = put_and_locate(node, client, name, data)
    offset = {"first-buffer": 10, "middle": size // 2, "last-byte": size - 1}[where]
    flip_byte(fqn, offset)

    status, clen, got, err = read_cut(obj_url(node.endpoint, BUCKET, name))
    assert status == 200 and clen == size, f"GET {name}: HTTP {status}, Content-Length {clen} (want 200, {size})"
    assert got < size, (f"byte {offset} flipped, yet the client received all {got} bytes of Content-Length {clen} "
                        f"without an error (error: {err!r})")
    assert err is not None, f"short body of {got}/{size} bytes without a connection error"

    # The SDK sees an error too, never the damaged bytes as a complete object.
    with pytest.raises((requests.exceptions.RequestException, AISError)):
        client.bucket(BUCKET).object(name).get_reader().read_all()
    # The node is still serving (the cut affected one connection).
    assert requests.get(f"{node.endpoint}/v1/health", timeout=REQ_TIMEOUT).status_code == 200
