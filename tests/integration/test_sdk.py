"""The official `aistore` Python SDK (from PyPI, unchanged) against one aisnode.

One module-scoped node (2 cores, 3 mountpaths) holds a bucket with 1,000 objects of mixed
sizes; most tests read it, the tests that mutate use buckets of their own.

SDK API used (aistore 2.0.0): Client(endpoint, timeout=, retry_config=), client.bucket(name),
Bucket.create(exist_ok) / delete(missing_ok) / head() / list_objects(prefix, props, page_size,
uuid, continuation_token) / list_all_objects / list_objects_iter, Bucket.object(name),
Object.get_writer().put_content(bytes) / set_custom_props(dict, replace_existing),
Object.get_reader(byte_range=, chunk_size=).read_all() / iteration / raw(),
Object.head(props) (HEAD v2: `props=` query) and Object.props, Object.delete(),
client.cluster().get_info() / list_buckets() / is_ready(); errors from aistore.sdk.errors.
"""

import concurrent.futures
import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import hrw
import lom
import rawhttp
from aistore.sdk.errors import AISError, ErrBckAlreadyExists, ErrBckNotFound, ErrObjNotFound
from aisutil import CHECKSUM_TYPES, MiB, bck_url, det_bytes, obj_url, xxh_hex

# pytest-timeout: the first test also populates the module node (~6 s); the margin is for a
# loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(300)

SEED = 20240607
BUCKET = "sdk-main"
NUM_OBJECTS = 1000
CYCLE_SIZES = [0, 1, 4095, 4096, MiB + 1]
BIG_SIZE = 16 * MiB
BIG_INDICES = (137, 500, 863)
NUM_DIRS = 10
WORKERS = 4


def obj_name(i):
    return f"d{i % NUM_DIRS}/s{i % 3}/obj-{i:04d}"


def obj_size(i):
    return BIG_SIZE if i in BIG_INDICES else CYCLE_SIZES[i % len(CYCLE_SIZES)]


def content_of(i):
    return det_bytes(f"{SEED}/{obj_name(i)}", obj_size(i))


NAMES = [obj_name(i) for i in range(NUM_OBJECTS)]
INDEX = {n: i for i, n in enumerate(NAMES)}
# a sample that covers every size class, the big objects, and some spread
SAMPLE = sorted(set(list(range(0, 25)) + list(BIG_INDICES) + list(range(0, NUM_OBJECTS, 41))))


def parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
        return list(ex.map(fn, items))


@pytest.fixture(scope="module")
def populated(module_node, module_client):
    bucket = module_client.bucket(BUCKET).create()

    def put(i):
        resp = bucket.object(obj_name(i)).get_writer().put_content(content_of(i))
        assert resp.status_code == 200, f"PUT {obj_name(i)}: HTTP {resp.status_code}"
        return resp

    t0 = time.monotonic()
    parallel(put, range(NUM_OBJECTS))
    print(f"populated {NUM_OBJECTS} objects in {time.monotonic() - t0:.1f}s (seed {SEED})")
    return bucket


# ---- PUT / GET ---------------------------------------------------------------------------


def test_get_every_object_byte_identical(populated):
    def check(i):
        data = populated.object(obj_name(i)).get_reader().read_all()
        want = content_of(i)
        assert len(data) == len(want), f"{obj_name(i)}: size {len(data)} != {len(want)}"
        assert data == want, f"{obj_name(i)}: content differs"

    parallel(check, range(NUM_OBJECTS))


def test_streamed_reads_of_big_objects(populated):
    for i in BIG_INDICES:
        want = content_of(i)
        obj = populated.object(obj_name(i))
        assert b"".join(obj.get_reader(chunk_size=MiB)) == want
        raw = obj.get_reader().raw()
        assert raw.read() == want


def test_put_response_and_get_headers(populated, module_node):
    i = 3  # 4096 bytes
    r = requests.get(obj_url(module_node.endpoint, BUCKET, obj_name(i)), timeout=30)
    assert r.status_code == 200
    assert [h.status_code for h in r.history] == [301], "GET on the public port must answer 301"
    assert r.headers["Content-Length"] == str(obj_size(i))
    assert r.headers["Content-Type"].startswith("application/octet-stream")
    assert r.headers["Ais-Checksum-Type"] in CHECKSUM_TYPES
    assert r.headers["Ais-Checksum-Value"] == xxh_hex(content_of(i))
    assert r.headers["Ais-Version"] == "1"
    assert r.content == content_of(i)


# ---- HEAD ----------------------------------------------------------------------------------


def test_head_shows_size_checksum_version(populated):
    def check(i):
        want = content_of(i)
        attrs = populated.object(obj_name(i)).head("name,size,version,checksum,atime")
        assert attrs.size == len(want), obj_name(i)
        assert attrs.checksum_type in CHECKSUM_TYPES, f"{obj_name(i)}: checksum type {attrs.checksum_type!r}"
        assert attrs.checksum_value == xxh_hex(want), obj_name(i)
        assert attrs.obj_version == "1", obj_name(i)
        assert attrs.present, f"{obj_name(i)}: Ais-Present is not 'true'"
        atime = int(attrs.access_time)
        assert abs(atime - time.time_ns()) < 3600 * 10**9, f"Ais-Atime {atime} is not unix nanoseconds of now"

    parallel(check, SAMPLE)


def test_head_props_property_and_reader_attributes(populated):
    i = 4
    obj = populated.object(obj_name(i))
    props = obj.props  # HEAD with props=checksum,atime,version,copies,custom,location
    assert props.size == obj_size(i)
    assert props.checksum_value == xxh_hex(content_of(i))
    assert props.obj_version == "1"
    reader = obj.get_reader()
    assert reader.attributes.checksum_value == xxh_hex(content_of(i))
    assert reader.attributes.size == obj_size(i)


def test_head_v1_without_props(populated, module_node):
    i = 2  # 4095 bytes
    r = requests.head(obj_url(module_node.endpoint, BUCKET, obj_name(i)), allow_redirects=True, timeout=30)
    assert r.status_code == 200
    assert [h.status_code for h in r.history] == [307], "HEAD on the public port must answer 307"
    assert r.content == b""
    assert r.headers["Content-Length"] == str(obj_size(i))
    assert r.headers["Ais-Checksum-Type"] in CHECKSUM_TYPES
    assert r.headers["Ais-Checksum-Value"] == xxh_hex(content_of(i))
    assert r.headers["Ais-Version"] == "1"
    assert int(r.headers["Ais-Atime"]) > 10**18


# ---- range reads ---------------------------------------------------------------------------


def test_sdk_byte_range(populated):
    for i in (4, BIG_INDICES[0]):
        data = content_of(i)
        n = len(data)
        obj = populated.object(obj_name(i))
        cases = {
            "bytes=0-0": data[0:1],
            "bytes=100-199": data[100:200],
            f"bytes={n - 10}-{n - 1}": data[n - 10:],
            f"bytes={n // 2}-": data[n // 2:],
            "bytes=-300": data[-300:],
            f"bytes=5-{n + 1000}": data[5:],  # end past the size is clamped
        }
        for rng, want in cases.items():
            got = obj.get_reader(byte_range=rng).read_all()
            assert got == want, f"{obj_name(i)} {rng}: got {len(got)} bytes, want {len(want)}"


def _raw_range(endpoint, name, rng):
    return requests.get(obj_url(endpoint, BUCKET, name), headers={"Range": rng}, timeout=60)


def test_raw_range_responses(populated, module_node):
    i = 4  # 1 MiB + 1
    data = content_of(i)
    n = len(data)
    for rng, (a, b) in {
        "bytes=10-19": (10, 19),
        f"bytes={n - 1}-": (n - 1, n - 1),
        "bytes=-1": (n - 1, n - 1),
        f"bytes=-{n + 50}": (0, n - 1),  # suffix longer than the object: whole object
        f"bytes=1000-{10 * n}": (1000, n - 1),
    }.items():
        r = _raw_range(module_node.endpoint, obj_name(i), rng)
        assert r.status_code == 206, f"{rng}: HTTP {r.status_code} {r.text[:200]}"
        assert r.headers["Content-Range"] == f"bytes {a}-{b}/{n}", rng
        assert r.headers["Content-Length"] == str(b - a + 1), rng
        assert r.headers.get("Accept-Ranges") == "bytes", rng
        assert r.content == data[a:b + 1], rng
        # checksum headers carry the whole-object checksum (enable_read_range is off by default)
        assert r.headers["Ais-Checksum-Value"] == xxh_hex(data), rng


def test_raw_range_unsatisfiable(populated, module_node):
    i = 4
    n = obj_size(i)
    for rng in (f"bytes={n}-", f"bytes={n + 5}-{n + 10}", "bytes=0-1,5-6"):
        r = _raw_range(module_node.endpoint, obj_name(i), rng)
        assert r.status_code == 416, f"{rng}: HTTP {r.status_code}"
        if "," not in rng:
            assert r.headers.get("Content-Range") == f"bytes */{n}", rng


def test_raw_range_on_empty_object(populated, module_node):
    i = 0
    assert obj_size(i) == 0
    for rng in ("bytes=0-", "bytes=0-0", "bytes=5-9"):
        r = _raw_range(module_node.endpoint, obj_name(i), rng)
        assert r.status_code == 416, f"{rng} on a 0-byte object: HTTP {r.status_code}"
        assert r.headers.get("Content-Range") == "bytes */0", rng
    # no Range: 200 with an empty body
    r = requests.get(obj_url(module_node.endpoint, BUCKET, obj_name(i)), timeout=30)
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == "0"


# ---- listing -------------------------------------------------------------------------------


def test_list_in_pages(populated):
    page_size = 97
    seen, uuid, token, pages = [], "", "", 0
    while True:
        page = populated.list_objects(props="name,size", page_size=page_size, uuid=uuid, continuation_token=token)
        pages += 1
        assert len(page.entries) <= page_size
        for e in page.entries:
            assert e.size == obj_size(INDEX[e.name]), f"{e.name}: listed size {e.size}"
        seen += [e.name for e in page.entries]
        if page.continuation_token == "":
            break
        assert len(page.entries) == page_size, "a page before the last one must be full"
        token, uuid = page.continuation_token, page.uuid
        assert pages < 100, "listing does not terminate"
    assert pages >= NUM_OBJECTS // page_size
    assert len(seen) == len(set(seen)), "some names were listed more than once"
    assert seen == sorted(NAMES)


def test_list_all_and_iter(populated):
    entries = populated.list_all_objects(props="name,size", page_size=250)
    assert [e.name for e in entries] == sorted(NAMES)
    assert all(e.size == obj_size(INDEX[e.name]) for e in entries)
    assert all(e.is_ok() for e in entries)
    names = [e.name for e in populated.list_objects_iter(page_size=333)]
    assert names == sorted(NAMES)
    # default page size (0 = provider maximum) returns everything in one page
    page = populated.list_objects()
    assert [e.name for e in page.entries] == sorted(NAMES)
    assert page.continuation_token == ""


def test_list_by_prefix(populated):
    for prefix in ("d3/", "d3/s1/", "d7/s2/obj-09"):
        want = sorted(n for n in NAMES if n.startswith(prefix))
        assert want, prefix
        got = [e.name for e in populated.list_all_objects(prefix=prefix, page_size=7)]
        assert got == want, prefix
    assert populated.list_all_objects(prefix="no-such-prefix/") == []


def test_list_page_size_dividing_count(populated):
    # 100 names under d3/: a full final page must be followed by an empty one, nothing repeated
    want = sorted(n for n in NAMES if n.startswith("d3/"))
    assert len(want) == 100
    got = [e.name for e in populated.list_all_objects(prefix="d3/", page_size=50)]
    assert got == want


def test_list_buckets_and_bucket_head(populated, module_client):
    names = [b.name for b in module_client.cluster().list_buckets()]
    assert BUCKET in names
    hdrs = populated.head()
    assert "Ais-Bucket-Props" in hdrs


# ---- placement on disk -----------------------------------------------------------------------


def test_each_object_file_is_on_its_hrw_mountpath(populated, module_node):
    mps = module_node.mountpaths
    assert len(mps) == 3

    def check(i):
        name = obj_name(i)
        want_mp = hrw.choose_mountpath(mps, BUCKET, name)
        fqn = hrw.object_fqn(want_mp, BUCKET, name)
        assert os.path.isfile(fqn), f"{name}: not at its HRW location {fqn}"
        for m in mps:
            if m != want_mp:
                other = hrw.object_fqn(m, BUCKET, name)
                assert not os.path.exists(other), f"{name}: also present on {m}"
        with open(fqn, "rb") as f:
            assert f.read() == content_of(i), f"{fqn}: file bytes differ from the object"
        assert os.getxattr(fqn, lom.XATTR_LOM), f"{fqn}: empty {lom.XATTR_LOM}"
        return want_mp

    used = parallel(check, range(NUM_OBJECTS))
    for m in mps:
        assert used.count(m) > 150, f"HRW spread looks wrong: {m} holds {used.count(m)} of {NUM_OBJECTS}"


def test_no_stray_files_in_object_dirs(populated, module_node):
    expected = {hrw.expected_fqn(module_node.mountpaths, BUCKET, n) for n in NAMES}
    found = set()
    for m in module_node.mountpaths:
        root = hrw.object_fqn(m, BUCKET, "")
        for dirpath, _, files in os.walk(root):
            found.update(os.path.join(dirpath, f) for f in files)
    assert found - expected == set(), f"unexpected files under %ob: {sorted(found - expected)[:10]}"
    assert expected - found == set()


def test_lom_xattr_follows_spec_layout(populated, module_node):
    for i in SAMPLE:
        name = obj_name(i)
        fqn = hrw.expected_fqn(module_node.mountpaths, BUCKET, name)
        md = lom.parse(os.getxattr(fqn, lom.XATTR_LOM))
        assert md["meta_version"] == 2, f"{name}: LOM meta-version {md['meta_version']}"
        assert md["size"] == obj_size(i), name
        assert md["cksum_type"] in CHECKSUM_TYPES, name
        assert md["cksum_value"] == xxh_hex(content_of(i)), name
        assert md["version"] == "1", name


# ---- versions, checksums, custom metadata -----------------------------------------------------


def test_versions_bump_on_change_only(module_client, module_node):
    bucket = module_client.bucket("sdk-versions").create()
    name = "v/obj"
    obj = bucket.object(name)
    v1, v2 = det_bytes("v1", 5000), det_bytes("v2", 7000)

    obj.get_writer().put_content(v1)
    assert obj.head("version,checksum").obj_version == "1"

    # identical content again (the SDK sends no skip_vc): a no-op, version stays
    obj.get_writer().put_content(v1)
    assert obj.head("version").obj_version == "1"

    # identical content with the client's checksum, raw, no skip_vc: still a no-op
    r = requests.put(
        obj_url(module_node.endpoint, "sdk-versions", name),
        data=v1,
        headers={"Ais-Checksum-Type": "xxhash", "Ais-Checksum-Value": xxh_hex(v1)},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("Ais-Version") == "1"
    assert obj.head("version").obj_version == "1"

    # new content: version 2, new bytes everywhere
    resp = obj.get_writer().put_content(v2)
    assert resp.headers.get("Ais-Version") == "2"
    assert resp.headers.get("Ais-Checksum-Value") == xxh_hex(v2)
    attrs = obj.head("version,checksum,size")
    assert (attrs.obj_version, attrs.size, attrs.checksum_value) == ("2", len(v2), xxh_hex(v2))
    assert obj.get_reader().read_all() == v2
    with open(hrw.expected_fqn(module_node.mountpaths, "sdk-versions", name), "rb") as f:
        assert f.read() == v2

    obj.get_writer().put_content(v1)
    assert obj.head("version").obj_version == "3"
    assert obj.get_reader().read_all() == v1


def test_put_with_wrong_client_checksum_is_rejected(module_client, module_node):
    bucket = module_client.bucket("sdk-cksum").create()
    name = "c/obj"
    good, bad = det_bytes("good", 3000), det_bytes("bad", 3000)
    bucket.object(name).get_writer().put_content(good)
    r = requests.put(
        obj_url(module_node.endpoint, "sdk-cksum", name),
        data=bad,
        headers={"Ais-Checksum-Type": "xxhash", "Ais-Checksum-Value": xxh_hex(good)},
        timeout=30,
    )
    assert r.status_code == 500, f"checksum mismatch must be 500, got {r.status_code}"
    assert "checksum" in r.json()["message"].lower()
    assert bucket.object(name).get_reader().read_all() == good
    assert bucket.object(name).head("version").obj_version == "1"
    # a correct client checksum is accepted
    r = requests.put(
        obj_url(module_node.endpoint, "sdk-cksum", name),
        data=bad,
        headers={"Ais-Checksum-Type": "xxhash", "Ais-Checksum-Value": xxh_hex(bad)},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert bucket.object(name).get_reader().read_all() == bad


def test_custom_metadata_set_merge_replace(module_client, module_node):
    bucket = module_client.bucket("sdk-custom").create(exist_ok=True)
    obj = bucket.object("m/obj")
    obj.get_writer().put_content(b"payload")
    obj.get_writer().set_custom_props({"k1": "v1", "k2": "v2"})  # PATCH, merges by default
    assert obj.head("custom").custom_metadata == {"k1": "v1", "k2": "v2"}
    obj.get_writer().set_custom_props({"k3": "v3"})
    assert obj.props.custom_metadata == {"k1": "v1", "k2": "v2", "k3": "v3"}
    obj.get_writer().set_custom_props({"only": "this"}, replace_existing=True)  # set-new-custom=true
    assert obj.head("custom").custom_metadata == {"only": "this"}
    assert obj.get_reader().read_all() == b"payload"
    assert obj.head("version").obj_version == "1", "custom metadata changes are not content changes"
    fqn = hrw.expected_fqn(module_node.mountpaths, "sdk-custom", "m/obj")
    assert lom.parse(os.getxattr(fqn, lom.XATTR_LOM))["custom"] == {"only": "this"}


def test_custom_metadata_from_put_headers(module_client, module_node):
    bucket = module_client.bucket("sdk-custom").create(exist_ok=True)
    url = obj_url(module_node.endpoint, "sdk-custom", "m/obj2")
    # two Ais-Custom-Md header lines (the header is repeatable), one with two pairs
    conn = rawhttp.RawConn(module_node.port)
    raw = (f"PUT {urlsplit(url).path}?provider=ais HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
           "Ais-Custom-Md: a=1\r\nAis-Custom-Md: b=two\r\n\r\nx").encode()
    conn.send(raw)
    resp = conn.read_response()
    conn.close()
    assert resp.status == 307, resp
    loc = urlsplit(resp.header("location"))
    conn = rawhttp.RawConn(loc.port)
    conn.send(raw.replace(urlsplit(url).path.encode() + b"?provider=ais", (loc.path + "?" + loc.query).encode()))
    resp = conn.read_response()
    conn.close()
    assert resp.status == 200, f"{resp!r} {resp.body[:200]!r}"
    md = bucket.object("m/obj2").head("custom").custom_metadata
    assert md == {"a": "1", "b": "two"}
    r = requests.get(url, timeout=30)
    assert r.content == b"x"
    assert "a=1" in r.headers.get("Ais-Custom-Md", "") and "b=two" in r.headers.get("Ais-Custom-Md", "")
    fqn = hrw.expected_fqn(module_node.mountpaths, "sdk-custom", "m/obj2")
    assert lom.parse(os.getxattr(fqn, lom.XATTR_LOM))["custom"] == {"a": "1", "b": "two"}


# ---- delete, missing, buckets -----------------------------------------------------------------


def test_delete_object(module_client, module_node):
    bucket = module_client.bucket("sdk-delete").create()
    keep, gone = bucket.object("keep"), bucket.object("dir/gone")
    keep.get_writer().put_content(b"k")
    gone.get_writer().put_content(b"g" * 10000)
    fqn = hrw.expected_fqn(module_node.mountpaths, "sdk-delete", "dir/gone")
    assert os.path.isfile(fqn)

    assert gone.delete().status_code == 200
    with pytest.raises(ErrObjNotFound):
        gone.get_reader().read_all()
    with pytest.raises(AISError) as e:
        gone.head()
    assert e.value.status_code == 404
    with pytest.raises(ErrObjNotFound):
        gone.delete()
    assert not os.path.exists(fqn)
    assert [e.name for e in bucket.list_all_objects()] == ["keep"]
    assert keep.get_reader().read_all() == b"k"


def test_missing_bucket(module_client):
    b = module_client.bucket("no-such-bucket-xyz")
    # HEAD carries no body, so the SDK cannot classify it: generic AISError with status 404
    with pytest.raises(AISError) as e:
        b.head()
    assert e.value.status_code == 404
    with pytest.raises(ErrBckNotFound):
        b.list_objects()
    with pytest.raises(ErrBckNotFound):
        b.list_all_objects()
    with pytest.raises(ErrBckNotFound):
        b.object("o").get_reader().read_all()
    with pytest.raises(ErrBckNotFound):
        b.object("o").get_writer().put_content(b"x")
    with pytest.raises(AISError) as e:
        b.object("o").head()
    assert e.value.status_code == 404
    with pytest.raises(ErrBckNotFound):
        b.delete()
    b.delete(missing_ok=True)


def test_missing_bucket_error_text(module_node):
    r = requests.get(obj_url(module_node.endpoint, "no-such-bucket-xyz", "o"), timeout=30)
    assert r.status_code == 404
    body = r.json()
    assert 'bucket "ais://no-such-bucket-xyz" does not exist' in body["message"]
    assert body["status"] == 404


def test_create_existing_bucket(module_client):
    b = module_client.bucket("sdk-twice").create()
    with pytest.raises(ErrBckAlreadyExists):
        b.create()
    assert b.create(exist_ok=True) is b
    b.head()


def test_destroy_bucket_removes_data(module_client, module_node):
    name = "sdk-destroy"
    b = module_client.bucket(name).create()
    for k in range(20):
        b.object(f"o{k}").get_writer().put_content(det_bytes(f"destroy{k}", 1000 * k))
    assert len(b.list_all_objects()) == 20
    b.delete()
    with pytest.raises(AISError) as e:
        b.head()
    assert e.value.status_code == 404
    with pytest.raises(ErrBckNotFound):
        b.list_objects()
    assert name not in [x.name for x in module_client.cluster().list_buckets()]
    deadline = time.monotonic() + 10
    while True:
        left = [m for m in module_node.mountpaths if os.path.exists(hrw.object_fqn(m, name, "o1"))]
        if not left:
            break
        assert time.monotonic() < deadline, f"object files still on disk after destroy: {left}"
        time.sleep(0.05)
    # same name again: a new, empty bucket
    b.create()
    assert b.list_all_objects() == []
    with pytest.raises(ErrObjNotFound):
        b.object("o1").get_reader().read_all()
    b.delete()


def test_bucket_create_raw_status(module_node):
    url = bck_url(module_node.endpoint, "sdk-raw-create")
    msg = {"action": "create-bck", "name": "", "value": None}
    r = requests.post(url, json=msg, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.post(url, json=msg, timeout=30)
    assert r.status_code == 409
    assert 'bucket "ais://sdk-raw-create" already exists' in r.json()["message"]


# ---- cluster ---------------------------------------------------------------------------------


def test_cluster_info(module_client, module_node):
    smap = module_client.cluster().get_info()
    assert smap.version != 0
    assert len(smap.tmap) >= 1 and len(smap.pmap) >= 1
    assert smap.uuid
    direct = smap.proxy_si.public_net.direct_url
    assert urlsplit(direct).port == module_node.port, direct
    assert requests.get(f"{direct}/v1/health", timeout=10).status_code == 200
    assert module_client.cluster().is_ready()
    # the daemon and cluster endpoints agree
    r = requests.get(f"{module_node.endpoint}/v1/cluster", params={"what": "smap"}, timeout=10)
    assert r.status_code == 200 and str(r.json()["version"]) == str(smap.version)


# ---- names and redirects ---------------------------------------------------------------------


SPECIAL_NAMES = [
    "with space.bin",
    "plus+sign",
    "percent%20literal",
    "question?mark",
    "hash#tag",
    "ünïcødé/файл/名字",
    "a/b/c/d/e/f/g/h/deep",
    "semi;colon,comma=eq&amp",
    "x" * 200,
]


def test_special_object_names(module_client, module_node):
    bname = "sdk-names"
    b = module_client.bucket(bname).create()
    for n in SPECIAL_NAMES:
        data = det_bytes(n, 777)
        b.object(n).get_writer().put_content(data)
        assert b.object(n).get_reader().read_all() == data, repr(n)
        assert b.object(n).head("size").size == 777, repr(n)
        fqn = hrw.expected_fqn(module_node.mountpaths, bname, n)
        assert os.path.isfile(fqn), f"{n!r}: not at {fqn}"
    assert [e.name for e in b.list_all_objects()] == sorted(SPECIAL_NAMES)
    for n in SPECIAL_NAMES:
        b.object(n).delete()
    assert b.list_all_objects() == []


def test_redirects_point_at_owning_core(populated, module_node):
    mps = module_node.mountpaths
    now_ns = time.time_ns()
    for i in SAMPLE[:30]:
        name = obj_name(i)
        mp_index = mps.index(hrw.choose_mountpath(mps, BUCKET, name))
        want_port = module_node.core_ports[module_node.mountpath_core(mp_index)]
        url = obj_url(module_node.endpoint, BUCKET, name)
        for method, want_status in (("GET", 301), ("HEAD", 307), ("DELETE", 307)):
            r = requests.request(method, url, allow_redirects=False, timeout=30)
            assert r.status_code == want_status, f"{method} {name}: HTTP {r.status_code}"
            loc = urlsplit(r.headers["Location"])
            assert loc.hostname == "127.0.0.1" and loc.port == want_port, (
                f"{method} {name}: redirected to {loc.netloc}, owner core port is {want_port} "
                f"(mountpath {mps[mp_index]})"
            )
            q = parse_qs(loc.query)
            assert q.get("provider") == ["ais"], loc.query
            assert "pid" in q and "utm" in q, loc.query
            utm_ns = int(q["utm"][0], 36)
            assert abs(utm_ns - now_ns) < 600 * 10**9, f"utm {q['utm'][0]} is not base-36 unix nanos"
    # the object was not deleted by the un-followed DELETE redirects
    assert populated.object(obj_name(SAMPLE[0])).head().size == obj_size(SAMPLE[0])
    # PUT redirects too (to a scratch name, not followed, so nothing is written)
    r = requests.put(obj_url(module_node.endpoint, BUCKET, "scratch/put-redirect"), data=b"abc",
                     allow_redirects=False, timeout=30)
    assert r.status_code == 307
    with pytest.raises(ErrObjNotFound):
        populated.object("scratch/put-redirect").get_reader().read_all()


def test_put_without_redirect_marker_is_refused_by_core(module_node):
    # a core port serving the target role wants the proxy's pid & utm on a PUT
    r = requests.put(obj_url(module_node.core_endpoint(0), BUCKET, "scratch/direct"), data=b"abc",
                     allow_redirects=False, timeout=30)
    assert r.status_code == 400, f"direct PUT to a core port: HTTP {r.status_code}"


# ---- other node shapes -----------------------------------------------------------------------


def _put_and_check_placement(node, bucket, names):
    r = requests.post(bck_url(node.endpoint, bucket), json={"action": "create-bck", "name": "", "value": None},
                      timeout=10)
    assert r.status_code == 200, r.text
    for n in names:
        data = det_bytes(f"shape/{n}", 1000 + len(n))
        r = requests.put(obj_url(node.endpoint, bucket, n), data=data, allow_redirects=False, timeout=10)
        assert r.status_code == 307
        mp_index = node.mountpaths.index(hrw.choose_mountpath(node.mountpaths, bucket, n))
        want_port = node.core_ports[node.mountpath_core(mp_index)]
        assert urlsplit(r.headers["Location"]).port == want_port, f"{n}: redirect to the wrong core"
        r = requests.put(obj_url(node.endpoint, bucket, n), data=data, timeout=10)
        assert r.status_code == 200, r.text
        with open(hrw.expected_fqn(node.mountpaths, bucket, n), "rb") as f:
            assert f.read() == data, n


def test_default_mountpaths_are_mp1_mp2(node_factory):
    node = node_factory(explicit_mountpaths=False)
    assert [os.path.basename(m) for m in node.mountpaths] == ["mp1", "mp2"]
    _put_and_check_placement(node, "defaults", [f"obj{k}" for k in range(40)])
    for m in node.mountpaths:
        assert os.path.isdir(m), f"default mountpath {m} was not created"


def test_one_core_four_mountpaths(node_factory):
    node = node_factory(cores=1, num_mountpaths=4)
    _put_and_check_placement(node, "onecore", [f"dir/obj{k}" for k in range(60)])
    used = {hrw.choose_mountpath(node.mountpaths, "onecore", f"dir/obj{k}") for k in range(60)}
    assert len(used) == 4
