"""Everyday object operations of the native API as the official SDK sends them (issue 11):
single-object copy (`Object.copy`: `PUT ?object_to=<uname>`), within and across buckets, on
one node and in a 1-proxy/3-target cluster; refused variants change nothing.

Before this, a copy was taken for an empty PUT: the source became 0 bytes and no copy existed.
"""

import pytest
import requests
from aistore.sdk.errors import AISError, ErrBckNotFound, ErrObjNotFound

from aisutil import MiB, det_bytes, make_client, obj_url, xxh_hex
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(300)

TIMEOUT_S = 30
SIZES = [0, 1, 4095, 4096, 300_000, 3 * MiB + 7]


def head(endpoint, bucket, name):
    """The object's metadata headers (HEAD through the redirect to its owner)."""
    r = requests.head(obj_url(endpoint, bucket, name), allow_redirects=True, timeout=TIMEOUT_S)
    assert r.status_code == 200, f"HEAD {bucket}/{name}: {r.status_code} {r.headers.get('Hdr-Error')}"
    return r.headers


def snapshot(endpoint, bucket):
    """Every object of `bucket`: name -> (bytes, version, checksum, custom metadata)."""
    out = {}
    for e in bucket.list_all_objects():
        data = bucket.object(e.name).get_reader().read_all()
        h = head(endpoint, bucket.name, e.name)
        out[e.name] = (data, h.get("Ais-Version"), h.get("Ais-Checksum-Value"),
                       h.get("Ais-Custom-Md"))
    return out


def copy_round(client, endpoint, tag):
    src_b = client.bucket(f"copy-src-{tag}").create(exist_ok=True)
    dst_b = client.bucket(f"copy-dst-{tag}").create(exist_ok=True)
    objs = {f"a/{i}": det_bytes(f"{tag}{i}", size) for i, size in enumerate(SIZES)}
    for name, data in objs.items():
        src_b.object(name).get_writer().put_content(data)
    src_b.object("a/0").get_writer().set_custom_props({"color": "blue"})
    before = {n: head(endpoint, src_b.name, n) for n in objs}

    for name, data in objs.items():
        # Across buckets, same name; and within the bucket under a new name.
        r = src_b.object(name).copy(dst_b.object(name))
        assert r.status_code == 200, r.text
        r = src_b.object(name).copy(src_b.object(f"copy/{name}"))
        assert r.status_code == 200, r.text

    for name, data in objs.items():
        # The source is untouched: bytes, version, checksum.
        assert src_b.object(name).get_reader().read_all() == data, f"source {name} changed"
        h = head(endpoint, src_b.name, name)
        assert h["Ais-Version"] == before[name]["Ais-Version"], f"source {name} version changed"
        assert h["Ais-Checksum-Value"] == xxh_hex(data)
        # Both copies are there, byte-identical, with the checksum of their bytes.
        for b, n in ((dst_b, name), (src_b, f"copy/{name}")):
            got = b.object(n).get_reader().read_all()
            assert got == data, f"copy {b.name}/{n}: {len(got)} bytes, want {len(data)}"
            assert head(endpoint, b.name, n)["Ais-Checksum-Value"] == xxh_hex(data)
    # Custom metadata travels with the copy.
    assert "color=blue" in head(endpoint, dst_b.name, "a/0").get("Ais-Custom-Md", "")

    # A copy onto an existing object with other content makes a new version there (an
    # identical copy is a no-op, as an identical PUT is).
    v1 = head(endpoint, dst_b.name, "a/1")["Ais-Version"]
    src_b.object("a/2").copy(dst_b.object("a/1"))
    assert int(head(endpoint, dst_b.name, "a/1")["Ais-Version"]) == int(v1) + 1
    assert dst_b.object("a/1").get_reader().read_all() == objs["a/2"]
    return src_b, dst_b, objs


def refused_copies_change_nothing(client, endpoint, src_b, dst_b):
    before = (snapshot(endpoint, src_b), snapshot(endpoint, dst_b))
    # Missing source: 404.
    with pytest.raises(ErrObjNotFound):
        src_b.object("no-such-object").copy(dst_b.object("x"))
    # Missing destination bucket: 404.
    with pytest.raises(ErrBckNotFound):
        src_b.object("a/1").copy(client.bucket("no-such-bucket").object("x"))
    # Onto itself: 400.
    r = requests.put(obj_url(endpoint, src_b.name, "a/1",
                             f"provider=ais&object_to=ais/@%23/{src_b.name}/a/1"),
                     timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    # A remote destination: not configured here, 501 by name.
    r = requests.put(obj_url(endpoint, src_b.name, "a/1",
                             f"provider=ais&object_to=gcp/@%23/{dst_b.name}/x"),
                     timeout=TIMEOUT_S)
    assert r.status_code == 501 and "gcp://" in r.text, r.text
    # Malformed uname: 400.
    r = requests.put(obj_url(endpoint, src_b.name, "a/1", "provider=ais&object_to=justaname"),
                     timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    # A copy with a body is refused, not taken for a PUT.
    r = requests.put(obj_url(endpoint, src_b.name, "a/1",
                             f"provider=ais&object_to=ais/@%23/{dst_b.name}/y"),
                     data=b"not an object", timeout=TIMEOUT_S)
    assert r.status_code == 400, r.text
    assert (snapshot(endpoint, src_b), snapshot(endpoint, dst_b)) == before


def test_copy_on_one_node(module_node):
    client = make_client(module_node.endpoint)
    src_b, dst_b, _ = copy_round(client, module_node.endpoint, "one")
    refused_copies_change_nothing(client, module_node.endpoint, src_b, dst_b)


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("objops"), proxies=1, targets=3,
                mountpaths=2, target_cores=2)
    try:
        c.start()
        yield c
    finally:
        c.close()


def test_copy_in_a_cluster(cluster):
    """Source and destination owned by different targets and cores: the copy crosses nodes."""
    client = make_client(cluster.primary.endpoint)
    src_b, dst_b, objs = copy_round(client, cluster.primary.endpoint, "clu")
    refused_copies_change_nothing(client, cluster.primary.endpoint, src_b, dst_b)
    # Every copy sits where HRW places it: readable straight from its owner via the proxy's
    # redirect, and listed once.
    names = sorted(e.name for e in dst_b.list_all_objects())
    assert names == sorted(objs), names


# ---- native multipart upload (the SDK's MultipartUpload) -------------------------------------


def multipart_round(client, endpoint, tag):
    b = client.bucket(f"mpt-{tag}").create(exist_ok=True)
    parts = [det_bytes(f"{tag}-p{i}", size) for i, size in enumerate([5 * MiB, 1, 300_000, 0, 4097])]
    # Parts added out of order are assembled in part-number order (small parts allowed: AIS).
    mpu = b.object("assembled").multipart_upload().create()
    assert mpu.upload_id
    for n in (3, 1, 5, 2, 4):
        r = mpu.add_part(n).put_content(parts[n - 1])
        assert r.status_code == 200, r.text
    # The object does not exist until completion.
    with pytest.raises(ErrObjNotFound):
        b.object("assembled").get_reader().read_all()
    r = mpu.complete()
    assert r.status_code == 200, r.text
    want = b"".join(parts)
    assert b.object("assembled").get_reader().read_all() == want
    assert head(endpoint, b.name, "assembled")["Ais-Checksum-Value"] == xxh_hex(want)

    # An existing object gets a new version; abort leaves it as it was.
    b.object("kept").get_writer().put_content(b"original")
    before = snapshot(endpoint, b)
    mpu = b.object("kept").multipart_upload().create()
    mpu.add_part(1).put_content(b"never")
    r = mpu.abort()
    assert r.status_code == 200, r.text
    assert snapshot(endpoint, b) == before
    # The aborted upload is gone: completing it is a 404, and the object is still intact.
    with pytest.raises(AISError) as ei:
        mpu.complete()
    assert ei.value.status_code == 404
    assert snapshot(endpoint, b) == before
    return b


def refused_multipart_requests_change_nothing(endpoint, b):
    before = snapshot(endpoint, b)
    url = obj_url(endpoint, b.name, "kept")
    cases = [
        # A part without an upload ID, an unknown upload, a bad part number.
        ("PUT", f"{url}&partNumber=1", b"x", None, 400),
        ("PUT", f"{url}&uploadId=nosuchupload&partNumber=1", b"x", None, 404),
        ("PUT", f"{url}&uploadId=nosuchupload&partNumber=0", b"x", None, 400),
        # Abort without an upload ID: 400, never a DELETE of the object.
        ("DELETE", url, None, {"action": "mpt-abort"}, 400),
        ("DELETE", f"{url}&uploadId=nosuchupload", None, {"action": "mpt-abort"}, 404),
        # An unknown object action.
        ("POST", url, None, {"action": "rename-obj", "name": "x"}, 501),
        ("DELETE", url, None, {"action": "evict"}, 501),
        # Completion of an unknown upload, and of nothing.
        ("POST", f"{url}&uploadId=nosuchupload", None, {"action": "mpt-complete", "value": []}, 404),
        # Known parameters of features this node does not have: 501, not a plain request.
        ("GET", f"{url}&etl_name=x", None, None, 501),
        ("PUT", f"{url}&etl_name=x", b"transformed?", None, 501),
        # Files inside shards: "kept" is no archive (no archive extension, no magic).
        ("PUT", f"{url}&archpath=a/b.txt", b"a file", None, 400),
        ("GET", f"{url}&archpath=a/b.txt", None, None, 400),
    ]
    for method, u, data, js, want in cases:
        r = requests.request(method, u, data=data, json=js, allow_redirects=True, timeout=TIMEOUT_S)
        assert r.status_code == want, f"{method} {u} {js}: {r.status_code} {r.text[:300]}"
    assert snapshot(endpoint, b) == before


def test_multipart_on_one_node(module_node):
    client = make_client(module_node.endpoint)
    b = multipart_round(client, module_node.endpoint, "one")
    refused_multipart_requests_change_nothing(module_node.endpoint, b)


def test_multipart_in_a_cluster(cluster):
    client = make_client(cluster.primary.endpoint)
    b = multipart_round(client, cluster.primary.endpoint, "clu")
    refused_multipart_requests_change_nothing(cluster.primary.endpoint, b)


# ---- append (append_type=append|flush, the SDK's ObjectWriter.append_content) ----------------


def append_round(client, endpoint, tag):
    b = client.bucket(f"apnd-{tag}").create(exist_ok=True)
    w = b.object("log").get_writer()
    h = w.append_content(b"first,")
    assert h, "no Ais-Append-Handle"
    h = w.append_content(b"second,", handle=h)
    # Not visible before the flush.
    with pytest.raises(ErrObjNotFound):
        b.object("log").get_reader().read_all()
    h = w.append_content(b"third", handle=h)
    w.append_content(b"", handle=h, flush=True)
    assert b.object("log").get_reader().read_all() == b"first,second,third"
    assert head(endpoint, b.name, "log")["Ais-Checksum-Value"] == xxh_hex(b"first,second,third")

    # Appending to an existing object starts from its content; a new version at the flush.
    v = int(head(endpoint, b.name, "log")["Ais-Version"])
    h = w.append_content(b"+more")
    assert b.object("log").get_reader().read_all() == b"first,second,third"
    w.append_content(b"", handle=h, flush=True)
    assert b.object("log").get_reader().read_all() == b"first,second,third+more"
    assert int(head(endpoint, b.name, "log")["Ais-Version"]) == v + 1

    # A flush that carries bytes appends them too (never dropped).
    h = b.object("log2").get_writer().append_content(b"x")
    b.object("log2").get_writer().append_content(b"y", handle=h, flush=True)
    assert b.object("log2").get_reader().read_all() == b"xy"
    return b


def refused_appends_change_nothing(endpoint, b):
    before = snapshot(endpoint, b)
    url = obj_url(endpoint, b.name, "log")
    # A session to refuse things against, on another object.
    h = b.object("other").get_writer().append_content(b"zzz")
    cases = [
        (f"{url}&append_type=bogus", b"x", {}, 400),
        (f"{url}&append_type=flush", b"", {}, 400),                      # flush without a handle
        (f"{url}&append_type=append&append_handle=garbage", b"x", {}, 400),
        (f"{url}&append_type=append&append_handle=someone%7Capnd.0", b"x", {}, 400),
        (f"{url}&append_type=flush&append_handle={requests.utils.quote(h)}", b"", {}, 400),  # another object's session
    ]
    for u, data, hdrs, want in cases:
        r = requests.put(u, data=data, headers=hdrs, allow_redirects=True, timeout=TIMEOUT_S)
        assert r.status_code == want, f"PUT {u}: {r.status_code} {r.text[:300]}"
    # A flush whose declared checksum does not match: refused, the object as it was.
    other = obj_url(endpoint, b.name, "other")
    r = requests.put(f"{other}&append_type=flush&append_handle={requests.utils.quote(h)}",
                     headers={"Ais-Checksum-Type": "xxhash2", "Ais-Checksum-Value": "0123456789abcdef"},
                     allow_redirects=True, timeout=TIMEOUT_S)
    assert r.status_code == 400 and "CHECKSUM" in r.text, r.text
    assert snapshot(endpoint, b) == before


def test_append_on_one_node(module_node):
    client = make_client(module_node.endpoint)
    b = append_round(client, module_node.endpoint, "one")
    refused_appends_change_nothing(module_node.endpoint, b)


def test_append_in_a_cluster(cluster):
    client = make_client(cluster.primary.endpoint)
    b = append_round(client, cluster.primary.endpoint, "clu")
    refused_appends_change_nothing(cluster.primary.endpoint, b)


# ---- HEAD v2 (props selection) and HEAD ?validate-checksum -----------------------------------


def test_head_v2_props_and_validate_checksum(node):
    import hrw
    from test_corruption import flip_byte

    client = make_client(node.endpoint)
    b = client.bucket("headv2").create()
    data = det_bytes("headv2", 200_000)
    b.object("o").get_writer().put_content(data)
    attrs = b.object("o").head(props="name,size,version,checksum,last-modified,etag,location")
    assert attrs.size == len(data)
    assert attrs.checksum_value == xxh_hex(data)
    assert attrs.last_modified, "no Last-Modified for props=last-modified"
    assert attrs.etag == xxh_hex(data), attrs.etag
    assert attrs.location.startswith("t["), attrs.location
    # Not asked for, not sent.
    r = requests.head(obj_url(node.endpoint, "headv2", "o", "provider=ais&props=name,size"),
                      allow_redirects=True, timeout=TIMEOUT_S)
    assert r.status_code == 200 and "Last-Modified" not in r.headers and "Ais-Location" not in r.headers

    url = obj_url(node.endpoint, "headv2", "o", "provider=ais&validate-checksum=true")
    assert requests.head(url, allow_redirects=True, timeout=TIMEOUT_S).status_code == 200
    flip_byte(hrw.expected_fqn(node.mountpaths, "headv2", "o"), 1234)
    # Plain HEAD reads only metadata; validate-checksum reads the bytes and refuses them.
    assert requests.head(obj_url(node.endpoint, "headv2", "o"), allow_redirects=True,
                         timeout=TIMEOUT_S).status_code == 200
    r = requests.head(url, allow_redirects=True, timeout=TIMEOUT_S)
    assert r.status_code == 500 and "BAD DATA CHECKSUM" in r.headers.get("Hdr-Error", ""), \
        (r.status_code, r.headers)


def test_object_and_prefix_of_the_same_name_both_exist(node):
    """`p` and `p/x` on one mountpath: the plain layout cannot hold both as files, so the second
    one lives at its escaped path (docs/on-disk-format.md). Both read back through the native
    API and both are listed (it was a 400, before that a 500 "disk error")."""
    import hrw

    def mp_of(name):
        fqn = hrw.expected_fqn(node.mountpaths, "names", name)
        return next(m for m in node.mountpaths if fqn.startswith(m + "/"))

    p = next(f"p{i}" for i in range(1000) if mp_of(f"p{i}") == mp_of(f"p{i}/x"))
    q = next(f"q{i}" for i in range(1000) if mp_of(f"q{i}") == mp_of(f"q{i}/x"))
    client = make_client(node.endpoint)
    b = client.bucket("names").create()
    b.object(p).get_writer().put_content(b"p-bytes")
    b.object(f"{q}/x").get_writer().put_content(b"qx-bytes")
    b.object(f"{p}/x").get_writer().put_content(b"px-bytes")
    b.object(q).get_writer().put_content(b"q-bytes")
    want = {p: b"p-bytes", f"{p}/x": b"px-bytes", q: b"q-bytes", f"{q}/x": b"qx-bytes"}
    for name, data in want.items():
        assert b.object(name).get_reader().read_all() == data, name
    assert sorted(e.name for e in b.list_all_objects()) == sorted(want)


# ---- promote (files under --promote-root become objects) ------------------------------------


def test_promote_only_under_the_root(aisnode_binary, tmp_path):
    import os

    import conftest

    root = tmp_path / "promote-root"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"file a")
    (root / "dir" / "b.txt").write_bytes(b"file b")
    (root / "dir" / "sub" / "c.txt").write_bytes(b"file c")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    os.symlink(outside, root / "dir" / "link-out")          # inside the tree, pointing out
    os.symlink(outside, root / "escape")                    # a source that resolves outside

    class PromoteNode(conftest.AisNode):
        def argv(self):
            return super().argv() + ["--promote-root", str(root)]

    node = conftest._start_or_fail(PromoteNode(aisnode_binary, tmp_path / "node"))
    try:
        client = make_client(node.endpoint)
        b = client.bucket("promoted").create()
        b.object("single").promote(str(root / "a.txt"))
        assert b.object("single").get_reader().read_all() == b"file a"
        # A directory, not recursive: its files only; recursive: the tree; never a symlink.
        b.object("flat").promote(str(root / "dir"))
        b.object("tree").promote(str(root / "dir"), recursive=True)
        names = sorted(e.name for e in b.list_all_objects())
        assert names == ["flat/b.txt", "single", "tree/b.txt", "tree/sub/c.txt"], names
        assert b.object("tree/sub/c.txt").get_reader().read_all() == b"file c"
        # No overwrite unless asked; delete_source removes the file once stored.
        (root / "a.txt").write_bytes(b"file a, v2")
        b.object("single").promote(str(root / "a.txt"))
        assert b.object("single").get_reader().read_all() == b"file a"
        b.object("single").promote(str(root / "a.txt"), overwrite_dest=True, delete_source=True)
        assert b.object("single").get_reader().read_all() == b"file a, v2"
        assert not (root / "a.txt").exists()

        before = snapshot(node.endpoint, b)
        for src in (str(outside), str(root / "escape"), str(root / ".." / "outside.txt"), "/etc",
                    str(node.mountpaths[0])):
            with pytest.raises(AISError) as ei:
                b.object("x").promote(src)
            assert ei.value.status_code == 403, (src, ei.value)
        with pytest.raises(AISError) as ei:
            b.object("x").promote(str(root / "no-such-file"))
        assert ei.value.status_code == 400
        assert snapshot(node.endpoint, b) == before
        assert outside.read_bytes() == b"secret"
    finally:
        node.close()


def test_promote_is_refused_without_a_root(node):
    client = make_client(node.endpoint)
    b = client.bucket("nopromote").create()
    with pytest.raises(AISError) as ei:
        b.object("x").promote("/etc/hostname")
    assert ei.value.status_code == 403 and "--promote-root" in str(ei.value)
    assert [e.name for e in b.list_all_objects()] == []
