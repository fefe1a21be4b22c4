"""Metasync's version rule on the wire: a node refuses an older Smap and another cluster's Smap
with 409 and the typed reason in the `Ais-Meta-Decision` header (peers decide on it, never on
message text), accepts the same version as a no-op, refuses a damaged jsp frame with 400, and
a refused push changes nothing. Every response carries a `Date` header (RFC 9110 6.6.1).

One primary proxy and one target, separate processes on 127.0.0.1.
"""

import email.utils
import json
import struct

import pytest
import requests
import xxhash

from clusterutil import Cluster

TIMEOUT_S = 10


def jsp_frame(payload: dict) -> bytes:
    """AIS's jsp framing as docs/on-disk-format.md specifies it (checksummed, version 1)."""
    body = json.dumps(payload).encode()
    return (
        b"aistore"
        + bytes([1])
        + struct.pack(">I", 1)
        + struct.pack(">I", 1 << 1)
        + struct.pack(">Q", xxhash.xxh64(body, seed=0).intdigest())
        + body
    )


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("metasync"), proxies=1, targets=1,
                mountpaths=1, target_cores=1)
    try:
        c.start()
        yield c
    finally:
        c.close()


def smap_of(node):
    r = requests.get(f"{node.endpoint}/v1/daemon?what=smap", timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    return r.json()


def push(node, payload: bytes):
    return requests.put(f"{node.endpoint}/v1/metasync", data=payload,
                        headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT_S)


def assert_has_date(r):
    d = r.headers.get("Date")
    assert d, f"no Date header: {dict(r.headers)}"
    assert email.utils.parsedate_to_datetime(d) is not None
    assert d.endswith(" GMT"), d


def test_older_smap_is_refused_with_typed_reason(cluster):
    target = cluster.targets[0]
    before = smap_of(target)
    older = dict(before, version=str(int(before["version"]) - 1))
    r = push(target, jsp_frame({"Smap": older}))
    assert r.status_code == 409, r.text
    assert r.headers.get("Ais-Meta-Decision") == "older", dict(r.headers)
    assert_has_date(r)
    assert smap_of(target) == before


def test_other_clusters_smap_is_refused(cluster):
    target = cluster.targets[0]
    before = smap_of(target)
    foreign = dict(before, uuid="someOtherCluster", version=str(int(before["version"]) + 5))
    r = push(target, jsp_frame({"Smap": foreign}))
    assert r.status_code == 409, r.text
    assert r.headers.get("Ais-Meta-Decision") == "other-cluster", dict(r.headers)
    assert smap_of(target) == before


def test_same_version_is_accepted_and_changes_nothing(cluster):
    target = cluster.targets[0]
    before = smap_of(target)
    r = push(target, jsp_frame({"Smap": before}))
    assert r.status_code == 200, r.text
    assert "Ais-Meta-Decision" not in r.headers
    assert smap_of(target) == before


def test_damaged_frame_is_a_bad_request(cluster):
    target = cluster.targets[0]
    before = smap_of(target)
    frame = bytearray(jsp_frame({"Smap": dict(before, version=str(int(before["version"]) + 1))}))
    frame[-2] ^= 1
    r = push(target, bytes(frame))
    assert r.status_code == 400, r.text
    assert "checksum" in r.json()["message"]
    assert smap_of(target) == before


def test_primary_refuses_metasync(cluster):
    before = smap_of(cluster.primary)
    r = push(cluster.primary, jsp_frame({"Smap": before}))
    assert r.status_code == 409, r.text
    assert "Ais-Meta-Decision" not in r.headers
    assert smap_of(cluster.primary) == before


@pytest.mark.parametrize("path", ["/v1/health", "/v1/daemon?what=smap", "/v1/nonexistent",
                                  "/s3", "/v1/buckets"])
def test_every_response_has_a_date(cluster, path):
    r = requests.get(f"{cluster.primary.endpoint}{path}", timeout=TIMEOUT_S)
    assert r.status_code in (200, 404), (r.status_code, r.text)
    assert_has_date(r)
    r = requests.head(f"{cluster.targets[0].endpoint}/v1/objects/nobucket/x", timeout=TIMEOUT_S)
    assert r.status_code == 404
    assert_has_date(r)
