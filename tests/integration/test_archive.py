"""Shards (archives) and Get-Batch through the official SDK, on one node and in a 1-proxy/3-target
cluster (README "Shards"; engine::archive, aisnode native/archive.rs, native/ml.rs):

* `archpath` reads every member of WebDataset-style shards byte-exact: .tar, .tgz, .tar.gz,
  .zip (stored and deflated), .tar.lz4, a shard without an extension (magic), and `archmime`;
  through the SDK, the proxy's redirect and the easy URL;
* `archregx` with every `archmode` returns the matching members as a TAR, in archive order;
* list-objects `ARCH_DIR` (`Bucket.list_archive`, paged `list_objects_iter`) lists every member
  as `<shard>/<member>` with its size and the in-archive flag, in name order, once;
* the SDK's `AISShardReader` flow (its list and get calls, without torch) yields every sample
  once;
* PUT with `archpath` (AIS PutApndArch) creates and appends, as a new version, to .tar, .tgz,
  .tar.gz, .zip and .tar.lz4 shards: every member already there stays byte-identical and in
  order (read back with archpath and with Python's tarfile/zipfile/lz4); a corrupt shard is a
  400 and stays as it was; a shard over SHARD_EDIT_BYTES_MAX is a 400 naming it;
* bad input (not an archive, missing member, bad mode or regex, bad flags) is a 4xx naming what is
  at fault and changes nothing;
* Get-Batch (`Client.batch`) mixing plain objects, ranges and archived files from several buckets
  and targets: in order, byte-identical, streaming and buffered, with continue-on-error; output
  as .tar, .tgz, .zip and .tar.lz4 with AIS's Content-Type for each.
"""

import gzip
import http.client
import io
import json
import re
import tarfile
import zipfile
from urllib.parse import urlsplit

import lz4.frame
import pytest
import requests
from aistore.sdk import ArchiveConfig, ListObjectFlag
from aistore.sdk.archive_config import ArchiveMode
from aistore.sdk.errors import AISError
from aistore.sdk.etl.etl_config import ETLConfig

from aisutil import MiB, det_bytes, make_client, obj_url
from clusterutil import Cluster

pytestmark = pytest.mark.timeout(600)

T = 60
IN_ARCH = 128
IS_ARCHIVE = 512


# ---- shards ------------------------------------------------------------------------------------


def wds_samples(tag, n, big=None):
    """WebDataset samples: `000123.jpg` (sizes vary, some over a tar block) and `000123.cls`."""
    files = {}
    for i in range(n):
        key = f"{i:06d}"
        files[f"{key}.jpg"] = det_bytes(f"{tag}/{key}.jpg", 100 + (i * 977) % 9000)
        files[f"{key}.cls"] = str(i % 10).encode()
    if big:
        files["big/blob.bin"] = det_bytes(f"{tag}/big", big)
    files["empty.txt"] = b""
    return files


def make_tar(files, mode="w"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_700_000_000
            t.addfile(ti, io.BytesIO(data))
        # A directory entry: never a member.
        d = tarfile.TarInfo("somedir/")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
    return buf.getvalue()


def make_zip(files, compression):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        z.writestr("somedir/", b"")
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def make_lz4(tar_bytes, tmp=None):
    return lz4.frame.compress(tar_bytes)


def shard_bytes(fmt, files, tmp):
    if fmt in (".tar", ""):
        return make_tar(files)
    if fmt in (".tgz", ".tar.gz"):
        return gzip.compress(make_tar(files), compresslevel=1)
    if fmt == ".zip":
        return make_zip(files, zipfile.ZIP_DEFLATED)
    if fmt == ".zip-stored":
        return make_zip(files, zipfile.ZIP_STORED)
    if fmt == ".tar.lz4":
        return make_lz4(make_tar(files), tmp)
    raise AssertionError(fmt)


def put(b, name, data):
    b.object(name).get_writer().put_content(data)


def get_arch(b, shard, member):
    return b.object(shard).get_reader(archive_config=ArchiveConfig(archpath=member)).read_all()


def tar_members(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]


def snapshot(endpoint, b):
    """name -> (bytes, version, checksum) of every object (plain listing)."""
    out = {}
    for e in b.list_all_objects():
        r = requests.get(obj_url(endpoint, b.name, e.name), timeout=T)
        assert r.status_code == 200, r.text
        out[e.name] = (r.content, r.headers.get("Ais-Version"), r.headers.get("Ais-Checksum-Value"))
    return out


# ---- archpath / archregx ----------------------------------------------------------------------


FORMATS = [".tar", ".tgz", ".tar.gz", ".zip", ".zip-stored", ".tar.lz4"]


def archpath_round(client, endpoint, b, tmp):
    files = wds_samples("ap", 40, big=3 * MiB + 5)
    shards = {}
    for fmt in FORMATS:
        data = shard_bytes(fmt, files, tmp)
        if data is None:
            continue
        name = "shards/s" + (".zip" if fmt == ".zip-stored" else fmt)
        if fmt == ".zip-stored":
            name = "shards/stored.zip"
        put(b, name, data)
        shards[name] = data
    # No extension: the format comes from the magic (tar, gzip); archmime names it.
    put(b, "shards/noext", make_tar(files))
    put(b, "shards/noext-gz", gzip.compress(make_tar(files)))
    shards["shards/noext"] = None
    shards["shards/noext-gz"] = None
    for shard in shards:
        for member, data in files.items():
            got = get_arch(b, shard, member)
            assert got == data, f"{shard}:{member}: {len(got)} bytes, want {len(data)}"
    # The easy URL and raw requests through the redirect, with archmime overriding the extension.
    r = requests.get(f"{endpoint}/ais/{b.name}/shards/s.tar?archpath=000007.jpg", timeout=T)
    assert r.status_code == 200 and r.content == files["000007.jpg"], r.status_code
    put(b, "shards/tar-named.zip", make_tar(files))
    r = requests.get(obj_url(endpoint, b.name, "shards/tar-named.zip") + "&archpath=000003.cls&archmime=.tar",
                     timeout=T)
    assert r.status_code == 200 and r.content == files["000003.cls"], (r.status_code, r.text[:200])
    # A leading '/' on the member name is ignored (AIS namesEq).
    assert get_arch(b, "shards/s.tar", "/000001.cls") == files["000001.cls"]
    # HEAD of a member: its size.
    r = requests.head(obj_url(endpoint, b.name, "shards/s.tgz") + "&archpath=big/blob.bin",
                      allow_redirects=True, timeout=T)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(files["big/blob.bin"])
    return files


def archregx_round(b, files):
    names = list(files)
    cases = [
        (ArchiveMode.PREFIX, "00001", [n for n in names if n.startswith("00001")]),
        (ArchiveMode.SUFFIX, ".cls", [n for n in names if n.endswith(".cls")]),
        (ArchiveMode.SUBSTR, "0002", [n for n in names if "0002" in n]),
        (ArchiveMode.WDSKEY, "000005", ["000005.jpg", "000005.cls"]),
        (ArchiveMode.REGEXP, r"^0000[12]\d\.jpg$", [n for n in names if n.endswith(".jpg") and n[:5] in ("00001", "00002")]),
    ]
    for shard in ("shards/s.tar", "shards/s.tgz", "shards/s.zip"):
        for mode, rx, want in cases:
            data = b.object(shard).get_reader(archive_config=ArchiveConfig(regex=rx, mode=mode)).read_all()
            got = tar_members(data)
            assert [n for n, _ in got] == want, f"{shard} {mode} {rx}"
            assert all(d == files[n] for n, d in got), f"{shard} {mode} {rx}: bytes"
            assert want, "every case selects something"


def bad_input_round(endpoint, b):
    put(b, "plain.bin", det_bytes("plain", 5000))
    put(b, "fake.tar", det_bytes("fake", 5000))
    # Compressed shards that are not what they claim: a gzip header on junk, a tgz cut short,
    # a zip whose central directory is gone, an LZ4 magic on junk.
    put(b, "bad.tgz", b"\x1f\x8b\x08\x00" + det_bytes("badgz", 3000))
    put(b, "cut.tar.gz", gzip.compress(make_tar({"a": det_bytes("cut", 20_000)}))[:-200])
    put(b, "bad.zip", make_zip({"a": b"abc" * 1000}, zipfile.ZIP_DEFLATED)[:-30])
    put(b, "bad.tar.lz4", b"\x04\x22\x4d\x18" + det_bytes("badlz4", 3000))
    before = snapshot(endpoint, b)
    u = lambda name, q: obj_url(endpoint, b.name, name) + "&" + q  # noqa: E731
    cases = [
        # (method, url, body, headers, status, words the message must name)
        ("GET", u("shards/s.tar", "archpath=nosuch.jpg"), None, {}, 404, ["nosuch.jpg"]),
        ("GET", u("shards/s.zip", "archpath=nosuch.jpg"), None, {}, 404, ["nosuch.jpg"]),
        ("GET", u("shards/s.tgz", "archpath=nosuch.jpg"), None, {}, 404, ["nosuch.jpg"]),
        ("HEAD", u("shards/s.tar", "archpath=nosuch.jpg"), None, {}, 404, []),
        ("GET", u("plain.bin", "archpath=x"), None, {}, 400, ["not an archive"]),
        ("GET", u("fake.tar", "archpath=x"), None, {}, 400, ["not a valid .tar archive"]),
        ("GET", u("fake.tar", "archpath=x&archmime=zip"), None, {}, 400, [".zip"]),
        ("GET", u("shards/s.tar", "archpath=x&archmime=rar"), None, {}, 400, ["rar"]),
        ("GET", u("shards/s.tar", "archregx=x&archmode=glob"), None, {}, 400, ["glob"]),
        ("GET", u("shards/s.tar", "archregx=(&archmode=regexp"), None, {}, 400, ["archregx"]),
        ("GET", u("shards/s.tar", "archpath=a&archregx=b"), None, {}, 400, ["archpath"]),
        ("GET", u("nosuch.tar", "archpath=x"), None, {}, 404, ["nosuch.tar"]),
        ("DELETE", u("shards/s.tar", "archpath=000001.cls"), None, {}, 501, ["archpath"]),
        # Adding to a shard: bad flags, no shard to append to, not a tar, no format, a compressed shard.
        ("PUT", u("shards/s.tar", "archpath=n.txt"), b"x", {"Ais-Pine": "x"}, 400, ["flags"]),
        ("PUT", u("shards/s.tar", "archpath=n.txt"), b"x", {"Ais-Pine": "7"}, 400, ["flags"]),
        ("PUT", u("new-missing.tar", "archpath=n.txt"), b"x", {"Ais-Pine": "1"}, 404, ["new-missing.tar"]),
        ("PUT", u("fake.tar", "archpath=n.txt"), b"x", {"Ais-Pine": "1"}, 400, ["not a valid .tar archive"]),
        ("PUT", u("plain.bin", "archpath=n.txt"), b"x", {}, 400, ["archive format"]),
        ("PUT", u("bad.tgz", "archpath=n.txt"), b"x", {"Ais-Pine": "1"}, 400, ["not a valid .tgz archive"]),
        ("PUT", u("cut.tar.gz", "archpath=n.txt"), b"x", {"Ais-Pine": "2"}, 400, ["not a valid .tgz archive"]),
        ("PUT", u("bad.zip", "archpath=n.txt"), b"x", {"Ais-Pine": "1"}, 400, ["not a valid .zip archive"]),
        ("PUT", u("bad.tar.lz4", "archpath=n.txt"), b"x", {"Ais-Pine": "1"}, 400, ["not a valid .tar.lz4 archive"]),
        ("PUT", u("fake.tar", "archpath=n.txt&archmime=zip"), b"x", {"Ais-Pine": "1"}, 400, [".zip"]),
        ("PUT", u("shards/s.tar", "archpath=dir/"), b"x", {"Ais-Pine": "1"}, 400, ["dir/"]),
    ]
    for method, url, body, headers, status, words in cases:
        r = requests.request(method, url, data=body, headers=headers, timeout=T)
        assert r.status_code == status, f"{method} {url}: {r.status_code} {r.text[:300]}"
        for w in words:
            assert w in r.text, f"{method} {url}: {w!r} not in {r.text[:300]}"
    # Chunked body (no Content-Length): refused.
    r = requests.put(u("shards/s.tar", "archpath=n.txt"), data=iter([b"ab", b"cd"]),
                     headers={"Ais-Pine": "1"}, timeout=T)
    assert r.status_code == 400 and "Content-Length" in r.text, r.text
    # A file that would take a compressed shard over SHARD_EDIT_BYTES_MAX (256 MiB): refused by
    # the limit's name before its body is read.
    status, text = put_declared(endpoint, b.name, "shards/s.tgz", "archpath=huge.bin",
                                256 * MiB + 1, {"Ais-Pine": "1"})
    assert status == 400 and "SHARD_EDIT_BYTES_MAX" in text, (status, text[:300])
    assert snapshot(endpoint, b) == before


def put_declared(endpoint, bucket, name, query, length, headers):
    """PUT declaring `length` bytes of body (with `Expect: 100-continue`) and sending none: the
    node must answer from the head alone. Follows the proxy's redirect: (status, body text)."""
    url = obj_url(endpoint, bucket, name) + "&" + query
    for _ in range(3):
        u = urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=T)
        try:
            conn.putrequest("PUT", f"{u.path}?{u.query}")
            for k, v in {**headers, "Content-Length": str(length), "Expect": "100-continue"}.items():
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            body = r.read().decode(errors="replace")
            if r.status in (301, 302, 307, 308):
                url = r.getheader("Location")
                continue
            return r.status, body
        finally:
            conn.close()
    raise AssertionError(f"too many redirects: {url}")


# ---- ARCH_DIR listing and the shard-reader flow ----------------------------------------------


def listing_round(b, files):
    put(b, "solo/one.tar", make_tar(files))
    want = sorted(f"solo/one.tar/{n}" for n in files)
    entries = b.list_archive("solo/one.tar")
    assert [e.name for e in entries] == want
    assert all(e.size == len(files[e.name.split("/", 2)[2]]) for e in entries)
    assert all(e.flags & IN_ARCH and not e.flags & IS_ARCHIVE for e in entries)
    with_shard = b.list_archive("solo/one.tar", include_archive_obj=True)
    assert with_shard[0].name == "solo/one.tar" and with_shard[0].flags & IS_ARCHIVE
    assert len(with_shard) == len(want) + 1
    # The whole bucket, paged small: every object and every member of every shard once, sorted.
    for page_size in (7, 1000):
        names = [e.name for e in b.list_objects_iter(prefix="shards/", page_size=page_size,
                                                     flags=[ListObjectFlag.ARCH_DIR])]
        assert names == sorted(names), f"page {page_size}: not in name order"
        assert len(names) == len(set(names)), f"page {page_size}: duplicates"
        for shard in ("shards/s.tar", "shards/s.zip", "shards/s.tgz"):
            got = [n for n in names if n.startswith(shard + "/")]
            assert got == sorted(f"{shard}/{n}" for n in files), f"{shard} page {page_size}"
    # With no-recursion: refused by name, not ignored.
    with pytest.raises(AISError) as ei:
        list(b.list_objects_iter(prefix="shards/", flags=[ListObjectFlag.ARCH_DIR, ListObjectFlag.NO_RECURSION]))
    assert ei.value.status_code == 501 and "arch-dir" in str(ei.value)
    # Without the flag: objects only.
    plain = [e.name for e in b.list_all_objects(prefix="shards/")]
    assert not any("/0000" in n for n in plain)


def shard_reader_flow(b, prefix):
    """What AISShardReader does (aistore/pytorch/shard_reader.py), without importing torch:
    list the shards, count samples with an ARCH_DIR listing of each, then GET each shard and
    read its samples with tarfile."""
    shards = list(b.list_all_objects_iter(prefix=prefix))
    length = 0
    for shard in shards:
        # AISShardReader.__len__ calls `shard.bucket.list_objects_iter`, but SDK 2.0.0's Object
        # has no `bucket` attribute (an SDK bug): the same call on the shard's bucket.
        for _ in b.list_objects_iter(prefix=shard.name, props="name",
                                     flags=[ListObjectFlag.ARCH_DIR]):
            length += 1
        length -= 1
    samples = {}
    for shard in shards:
        content = shard.get_reader(etl=ETLConfig(None)).read_all()
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as tar:
            for m in tar.getmembers():
                if m.isfile():
                    base, _, ext = m.name.rpartition(".")
                    samples.setdefault((shard.name, base), {})[ext] = tar.extractfile(m).read()
    return length, samples


def shard_reader_round(b):
    want = {}
    for k in range(3):
        files = wds_samples(f"sr{k}", 25)
        files.pop("empty.txt")
        put(b, f"wds/shard-{k:04d}.tar", make_tar(files))
        for n, d in files.items():
            base, _, ext = n.rpartition(".")
            want.setdefault((f"wds/shard-{k:04d}.tar", base), {})[ext] = d
    length, samples = shard_reader_flow(b, "wds/")
    assert length == sum(len(v) for v in want.values()), length
    assert samples == want
    # And each sample through archpath, as a map-style dataset would read it.
    for (shard, base), exts in want.items():
        for ext, data in exts.items():
            assert get_arch(b, shard, f"{base}.{ext}") == data


# ---- PUT with archpath (PutApndArch) ------------------------------------------------------------


def append_round(endpoint, b):
    url = lambda name, f: obj_url(endpoint, b.name, name) + "&archpath=" + f  # noqa: E731
    # No flags: a new shard with just this file (replacing any).
    r = requests.put(url("made.tar", "a/1.txt"), data=b"one", timeout=T)
    assert r.status_code == 200, r.text
    assert tar_members(b.object("made.tar").get_reader().read_all()) == [("a/1.txt", b"one")]
    v1 = int(requests.head(obj_url(endpoint, b.name, "made.tar"), allow_redirects=True, timeout=T).headers["Ais-Version"])
    big = det_bytes("appended", 70_000)
    r = requests.put(url("made.tar", "b/2.bin"), data=big, headers={"Ais-Pine": "1"}, timeout=T)
    assert r.status_code == 200, r.text
    # A name given as <shard>/<file> names <file>.
    r = requests.put(url("made.tar", "made.tar/c.txt"), data=b"three", headers={"Ais-Pine": "2"}, timeout=T)
    assert r.status_code == 200, r.text
    data = b.object("made.tar").get_reader().read_all()
    assert tar_members(data) == [("a/1.txt", b"one"), ("b/2.bin", big), ("c.txt", b"three")]
    assert len(data) % 512 == 0
    h = requests.head(obj_url(endpoint, b.name, "made.tar"), allow_redirects=True, timeout=T).headers
    assert int(h["Ais-Version"]) == v1 + 2
    assert get_arch(b, "made.tar", "b/2.bin") == big
    # Append-or-create on a missing shard creates it.
    r = requests.put(url("made2.tar", "x"), data=b"x", headers={"Ais-Pine": "2"}, timeout=T)
    assert r.status_code == 200, r.text
    assert tar_members(b.object("made2.tar").get_reader().read_all()) == [("x", b"x")]
    # Flags 0 on an existing shard: replaced by a shard with just the new file (AIS).
    r = requests.put(url("made2.tar", "y"), data=b"y", timeout=T)
    assert r.status_code == 200, r.text
    assert tar_members(b.object("made2.tar").get_reader().read_all()) == [("y", b"y")]


def shard_files(fmt, data):
    """(name, bytes) of every file of shard `data`, in archive order, read by Python's own
    libraries; and the uncompressed stream (tar) or the zip itself."""
    if fmt == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None
            return [(i.filename, z.open(i).read()) for i in z.infolist() if not i.is_dir()], data
    raw = {".tgz": gzip.decompress, ".tar.gz": gzip.decompress, ".tar.lz4": lz4.frame.decompress,
           ".tar": bytes}[fmt](data)
    return tar_members(raw), raw


def kept_prefix(fmt, raw):
    """How many leading bytes of `raw` (a tar stream or a zip) an append must keep as they are:
    a tar up to its end-of-archive blocks, a zip up to its central directory."""
    if fmt == ".zip":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            return z.start_dir
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as t:
        return max(m.offset_data + (m.size + 511) // 512 * 512 for m in t.getmembers())


def append_compressed_round(endpoint, b):
    """PUT with archpath into .tgz, .tar.gz, .zip and .tar.lz4 shards (made by Python, with a
    directory entry and, for zip, deflated entries): appended files come after every file that
    was there, which stays byte-identical; each append is a new version."""
    url = lambda name, f: obj_url(endpoint, b.name, name) + "&archpath=" + f  # noqa: E731
    version = lambda name: int(requests.head(obj_url(endpoint, b.name, name), allow_redirects=True,  # noqa: E731
                                             timeout=T).headers["Ais-Version"])
    files = wds_samples("apc", 12)
    for fmt in (".tgz", ".tar.gz", ".zip", ".tar.lz4"):
        name = f"appended/s{fmt}"
        orig = shard_bytes(fmt, files, None)
        put(b, name, orig)
        members, raw = shard_files(fmt, orig)
        keep = kept_prefix(fmt, raw)
        v0 = version(name)
        added = [("added/1.bin", det_bytes(f"apc{fmt}/1", 70_000)), ("added/2.txt", b"two"),
                 ("000001.jpg", b"same name again")]
        for i, (f, data) in enumerate(added):
            r = requests.put(url(name, f), data=data, headers={"Ais-Pine": "1" if i % 2 else "2"}, timeout=T)
            assert r.status_code == 200, (fmt, f, r.status_code, r.text[:300])
        got = b.object(name).get_reader().read_all()
        now, raw2 = shard_files(fmt, got)
        assert now == members + added, f"{fmt}: {[n for n, _ in now]}"
        assert raw2[:keep] == raw[:keep], f"{fmt}: the shard's first {keep} bytes changed"
        assert version(name) == v0 + len(added)
        # Through archpath: every file; a name added twice reads as the first (AIS).
        for f, data in members + added[:2]:
            assert get_arch(b, name, f) == data, f"{fmt}:{f}"
        assert get_arch(b, name, "000001.jpg") == files["000001.jpg"]
        # Flags 0: a new shard of that format with just the file, replacing the old one.
        r = requests.put(url(name, "only.bin"), data=b"only", timeout=T)
        assert r.status_code == 200, r.text
        assert shard_files(fmt, b.object(name).get_reader().read_all())[0] == [("only.bin", b"only")]
        # Append-or-create on a missing shard creates one.
        r = requests.put(url(f"appended/new{fmt}", "n/x.bin"), data=b"x" * 1000,
                         headers={"Ais-Pine": "2"}, timeout=T)
        assert r.status_code == 200, r.text
        assert shard_files(fmt, b.object(f"appended/new{fmt}").get_reader().read_all())[0] == \
            [("n/x.bin", b"x" * 1000)]
        assert get_arch(b, f"appended/new{fmt}", "n/x.bin") == b"x" * 1000


# ---- Get-Batch ---------------------------------------------------------------------------------


def zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return [(i.filename, z.open(i).read()) for i in z.infolist()]


OUTPUTS = [
    # (mime, Content-Type, decode to [(name, bytes)])
    (".tar", "application/x-tar", tar_members),
    (".tgz", "application/gzip", lambda d: tar_members(gzip.decompress(d))),
    (".zip", "application/zip", zip_members),
    (".tar.lz4", "application/x-lz4", lambda d: tar_members(lz4.frame.decompress(d))),
]


def moss_entry(kw):
    """The MossIn JSON of a `Batch.add(**kw)`."""
    e = {"objname": kw["obj"], "bucket": kw["bck"], "provider": kw["provider"]}
    for k in ("archpath", "start", "length"):
        if k in kw:
            e[k] = kw[k]
    return e


def multipart_parts(r):
    """[(headers with lower-case names, body)] of a multipart response."""
    m = re.search(r'boundary="?([^";]+)"?', r.headers["Content-Type"])
    assert m, r.headers["Content-Type"]
    parts = []
    for chunk in r.content.split(b"--" + m.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, part = chunk.partition(b"\r\n\r\n")
        lines = [ln for ln in head.decode().split("\r\n") if ln]
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
        assert part.endswith(b"\r\n")
        parts.append((headers, part[:-2]))
    return parts


def batch_round(client, endpoint, tmp, tag):
    b1 = client.bucket(f"gb1-{tag}").create(exist_ok=True)
    b2 = client.bucket(f"gb2-{tag}").create(exist_ok=True)
    files = wds_samples("gb", 12)
    put(b1, "s.tar", make_tar(files))
    put(b2, "s.tgz", gzip.compress(make_tar(files)))
    put(b2, "s.zip", make_zip(files, zipfile.ZIP_DEFLATED))
    objs = {}
    for i in range(12):
        bk = b1 if i % 2 else b2
        name = f"obj-{i}"
        objs[(bk.name, name)] = det_bytes(f"{tag}/{name}", 1 + i * 3001)
        put(bk, name, objs[(bk.name, name)])
    big = det_bytes("big", 2 * MiB + 3)
    put(b1, "big", big)
    # (add kwargs, expected bytes, expected member name)
    plan = []
    for (bn, name), data in objs.items():
        plan.append((dict(obj=name, bck=bn, provider="ais"), data, f"{bn}/{name}"))
    plan.insert(3, (dict(obj="s.tar", bck=b1.name, provider="ais", archpath="000004.jpg"),
                    files["000004.jpg"], f"{b1.name}/s.tar/000004.jpg"))
    plan.insert(5, (dict(obj="s.tgz", bck=b2.name, provider="ais", archpath="000011.cls"),
                    files["000011.cls"], f"{b2.name}/s.tgz/000011.cls"))
    plan.insert(7, (dict(obj="s.zip", bck=b2.name, provider="ais", archpath="000002.jpg"),
                    files["000002.jpg"], f"{b2.name}/s.zip/000002.jpg"))
    plan.append((dict(obj="big", bck=b1.name, provider="ais", start=1000, length=70_000),
                 big[1000:71_000], f"{b1.name}/big"))
    plan.append((dict(obj="big", bck=b1.name, provider="ais", start=2 * MiB, length=-1),
                 big[2 * MiB:], f"{b1.name}/big"))
    plan.append((dict(obj="s.tar", bck=b1.name, provider="ais", archpath="000003.jpg", start=10, length=50),
                 files["000003.jpg"][10:60], f"{b1.name}/s.tar/000003.jpg"))
    plan.append((dict(obj="big", bck=b1.name, provider="ais"), big, f"{b1.name}/big"))

    for streaming in (True, False):
        batch = client.batch(bucket=b1, streaming_get=streaming)
        for kw, _, _ in plan:
            batch.add(**kw)
        got = list(batch.get())
        assert len(got) == len(plan), (streaming, len(got))
        for i, ((out, data), (kw, want, _)) in enumerate(zip(got, plan)):
            assert data == want, f"strm={streaming} entry {i} {kw}: {len(data)} bytes, want {len(want)}"
            assert out.obj_name == kw["obj"] and out.bucket == kw["bck"], (i, out)
            assert out.size == len(want), (i, out)
        # Member names as AIS names them (raw stream).
        batch = client.batch(bucket=b1, streaming_get=True)
        for kw, _, _ in plan:
            batch.add(**kw)
        raw = batch.get(raw=True).read()
        assert [n for n, _ in tar_members(raw)] == [n for _, _, n in plan]

    # Every output format, streaming and buffered: the same members in order, byte-identical,
    # with AIS's Content-Type (of the response when streaming, of the archive part otherwise).
    want = [(n, data) for _, data, n in plan]
    body = {"in": [moss_entry(kw) for kw, _, _ in plan]}
    url = f"{endpoint}/v1/ml/moss/{b1.name}?provider=ais"
    for mime, ctype, decode in OUTPUTS:
        r = requests.get(url, json={**body, "mime": mime, "strm": True}, timeout=T)
        assert r.status_code == 200, (mime, r.status_code, r.text[:300])
        assert r.headers["Content-Type"] == ctype, (mime, r.headers)
        assert decode(r.content) == want, mime
        r = requests.get(url, json={**body, "mime": mime, "strm": False}, timeout=T)
        assert r.status_code == 200, (mime, r.status_code, r.text[:300])
        (meta_head, meta), (arch_head, arch) = multipart_parts(r)
        assert [o["size"] for o in json.loads(meta)["out"]] == [len(d) for _, d in want]
        assert arch_head["content-type"] == ctype, (mime, arch_head)
        assert decode(arch) == want, mime
    # The SDK's own zip extractor, streaming and buffered.
    for streaming in (True, False):
        batch = client.batch(bucket=b1, streaming_get=streaming, output_format=".zip")
        for kw, _, _ in plan:
            batch.add(**kw)
        got = [data for _, data in batch.get()]
        assert got == [d for _, d in want], f"zip strm={streaming}"

    # Default bucket from the URL, names only (onob), gzipped output.
    batch = client.batch(objects=["obj-1", "obj-3"], bucket=b1, only_obj_name=True, output_format=".tgz")
    raw = batch.get(raw=True).read()
    assert tar_members(gzip.decompress(raw)) == [("obj-1", objs[(b1.name, "obj-1")]),
                                                 ("obj-3", objs[(b1.name, "obj-3")])]

    # Continue on error: missing objects, members and buckets become empty __404__/ entries.
    for streaming in (True, False):
        batch = client.batch(bucket=b1, cont_on_err=True, streaming_get=streaming)
        batch.add("obj-1")
        batch.add("nosuch")
        batch.add("s.tar", archpath="nosuch.jpg")
        batch.add("obj-1", bck=f"nosuchbucket-{tag}", provider="ais")
        batch.add("obj-3")
        got = list(batch.get())
        assert [d for _, d in got] == [objs[(b1.name, "obj-1")], b"", b"", b"", objs[(b1.name, "obj-3")]]
        errs = [o.err_msg for o, _ in got]
        assert errs[0] is None or errs[0] == ""
        assert all(errs[i] for i in (1, 2, 3)), errs
        if not streaming:
            assert "nosuch.jpg" in errs[2], errs[2]
    raw_batch = client.batch(bucket=b1, cont_on_err=True)
    raw_batch.add("nosuch")
    raw_batch.add("s.tar", archpath="nosuch.jpg")
    names = [n for n, _ in tar_members(raw_batch.get(raw=True).read())]
    assert names == [f"__404__/{b1.name}/nosuch", f"__404__/{b1.name}/s.tar/nosuch.jpg"]

    # Without it: the request fails, naming the entry.
    batch = client.batch(bucket=b1, cont_on_err=False, streaming_get=False)
    batch.add("obj-1")
    batch.add("nosuch")
    with pytest.raises(AISError) as ei:
        list(batch.get())
    assert ei.value.status_code == 404 and "nosuch" in str(ei.value)

    # Bad requests: 4xx naming the fault.
    url = f"{endpoint}/v1/ml/moss/{b1.name}?provider=ais"
    for body, status, word in [
        ({"in": []}, 400, "no entries"),
        ({"in": [{"objname": "obj-1", "start": 5}]}, 400, "start"),
        ({"in": [{"objname": "obj-1"}], "mime": ".rar"}, 400, ".rar"),
        ({"in": [{"objname": "big", "start": 3 * MiB, "length": 5}], "coer": False, "strm": False}, 416, "big"),
    ]:
        r = requests.get(url, json=body, timeout=T)
        assert r.status_code == status and word in r.text, (body, r.status_code, r.text[:300])
    # One entry past GETBATCH_ENTRIES_MAX (10,000): refused before anything is fetched.
    r = requests.get(url, json={"in": [{"objname": "obj-1"}] * 10_001}, timeout=T)
    assert r.status_code == 400 and "GETBATCH_ENTRIES_MAX" in r.text, r.text[:300]
    r = requests.get(url, data=b"{not json", timeout=T)
    assert r.status_code == 400, r.text


# ---- fixtures and tests -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(aisnode_binary, tmp_path_factory):
    c = Cluster(aisnode_binary, tmp_path_factory.mktemp("arch"), proxies=1, targets=3,
                mountpaths=2, target_cores=2)
    try:
        c.start()
        yield c
    finally:
        c.close()


def all_rounds(endpoint, tmp, tag):
    client = make_client(endpoint)
    b = client.bucket(f"arch-{tag}").create(exist_ok=True)
    files = archpath_round(client, endpoint, b, tmp)
    archregx_round(b, files)
    listing_round(b, files)
    shard_reader_round(b)
    bad_input_round(endpoint, b)
    append_round(endpoint, b)
    append_compressed_round(endpoint, b)


def test_shards_on_one_node(module_node, tmp_path):
    all_rounds(module_node.endpoint, tmp_path, "one")


def test_shards_in_a_cluster(cluster, tmp_path):
    all_rounds(cluster.primary.endpoint, tmp_path, "clu")


def test_get_batch_on_one_node(module_node, tmp_path):
    batch_round(make_client(module_node.endpoint), module_node.endpoint, tmp_path, "one")


def test_get_batch_in_a_cluster(cluster, tmp_path):
    batch_round(make_client(cluster.primary.endpoint), cluster.primary.endpoint, tmp_path, "clu")


def test_get_batch_of_10000_entries_across_targets(cluster):
    """Issue 16's figure: 10,000 entries from 3 targets, plain objects, byte ranges and files
    inside tar shards interleaved, come back in request order and byte-identical, streaming
    and buffered."""
    client = make_client(cluster.primary.endpoint)
    b = client.bucket("gb10k").create(exist_ok=True)
    objs = {}
    for i in range(300):
        objs[f"o-{i:03d}"] = det_bytes(f"gb10k/{i}", 100 + (i * 37) % 3000)
        put(b, f"o-{i:03d}", objs[f"o-{i:03d}"])
    shards = {}
    for s in range(20):
        files = {f"{s:02d}-{k:03d}.bin": det_bytes(f"gb10k/s{s}/{k}", 50 + (k * 53) % 2000) for k in range(20)}
        shards[f"s-{s:02d}.tar"] = files
        put(b, f"s-{s:02d}.tar", make_tar(files))
    plan = []
    for i in range(10_000):
        kind = i % 3
        if kind == 0:
            name = f"o-{(i * 7) % 300:03d}"
            plan.append((dict(obj=name), objs[name]))
        elif kind == 1:
            name = f"o-{(i * 11) % 300:03d}"
            data = objs[name]
            start = (i * 13) % len(data)
            length = min(1 + (i % 97), len(data) - start)
            plan.append((dict(obj=name, start=start, length=length), data[start:start + length]))
        else:
            shard = f"s-{(i * 3) % 20:02d}.tar"
            member = sorted(shards[shard])[(i * 17) % 20]
            plan.append((dict(obj=shard, archpath=member), shards[shard][member]))
    assert {t.persisted_id() for t in cluster.targets} == set(cluster.primary.smap()["tmap"])
    for streaming in (True, False):
        batch = client.batch(bucket=b, streaming_get=streaming)
        for kw, _ in plan:
            batch.add(**kw)
        got = list(batch.get())
        assert len(got) == len(plan), (streaming, len(got))
        bad = [i for i, ((_, data), (_, want)) in enumerate(zip(got, plan)) if data != want]
        assert not bad, f"strm={streaming}: {len(bad)} entries differ, first {bad[:5]}"


def moss_uuid(endpoint, bucket, names):
    """A buffered Get-Batch of `names`; the `uuid` of its MossResp (the job's ID)."""
    r = requests.get(f"{endpoint}/v1/ml/moss/{bucket}?provider=ais",
                     json={"in": [{"objname": n} for n in names], "strm": False}, timeout=T)
    assert r.status_code == 200, r.text[:300]
    m = re.search(rb"application/json\r\n\r\n(\{.*?\})\r\n--", r.content, re.S)
    assert m, r.content[:300]
    return json.loads(m.group(1))["uuid"]


def test_get_batch_is_a_job(cluster):
    """Get-Batch runs as AIS's on-demand `get-batch` job: requests on one bucket join the running
    job (one ID, the MossResp uuid), its counters are the entries delivered, it ends once idle,
    and it stops through the job API (the SDK's Job)."""
    client = make_client(cluster.primary.endpoint)
    b = client.bucket("gbjob").create(exist_ok=True)
    data = {f"o{i}": det_bytes(f"gbjob/{i}", 1000 + i) for i in range(3)}
    for n, d in data.items():
        put(b, n, d)
    u1 = moss_uuid(cluster.primary.endpoint, b.name, ["o0", "o1", "o2"])
    u2 = moss_uuid(cluster.primary.endpoint, b.name, ["o1", "o2"])
    assert u1 == u2, (u1, u2)
    job = client.job(job_id=u1)
    snaps = [s for s in job.get_details().list_snapshots() if s.id == u1]
    assert len(snaps) == 1 and snaps[0].kind == "get-batch", snaps
    assert snaps[0].stats.objects == 5, snaps[0]
    assert snaps[0].stats.bytes == sum(len(data[n]) for n in ["o0", "o1", "o2", "o1", "o2"])
    assert snaps[0].bucket.name == b.name
    assert job.status().end_time == 0
    # Idle for GETBATCH_JOB_IDLE_MS (10 s): it ends by itself, not aborted.
    job.wait(timeout=60)
    st = job.status()
    assert st.end_time != 0 and not st.aborted, st
    # The next request starts a new job; stopping it through the job API ends it.
    u3 = moss_uuid(cluster.primary.endpoint, b.name, ["o0"])
    assert u3 != u1
    client.job(job_id=u3).abort()
    st = client.job(job_id=u3).status()
    assert st.aborted, st
    u4 = moss_uuid(cluster.primary.endpoint, b.name, ["o0"])
    assert u4 not in (u1, u3)
    client.job(job_id=u3).wait(timeout=60)


def test_webdataset_shards_of_1000_samples(module_node):
    """Issue 16's size: WebDataset shards of 1,000 samples each (a .jpg and a .cls per sample):
    every member read by archpath is byte-exact, the ARCH_DIR listing shows every member once,
    and the SDK's AISShardReader calls yield every sample once."""
    client = make_client(module_node.endpoint)
    b = client.bucket("wds1000").create(exist_ok=True)
    want = {}
    for k in range(2):
        files = wds_samples(f"w1k{k}", 1000)
        files.pop("empty.txt", None)
        name = f"train/shard-{k:04d}.tar"
        put(b, name, make_tar(files))
        want[name] = files
    with requests.Session() as s:
        for shard, files in want.items():
            for member, data in files.items():
                r = s.get(obj_url(module_node.endpoint, b.name, shard) + f"&archpath={member}", timeout=T)
                assert r.status_code == 200 and r.content == data, (shard, member, r.status_code)
            listed = [e.name for e in b.list_archive(shard)]
            assert listed == sorted(f"{shard}/{n}" for n in files), shard
    expected = {}
    for shard, files in want.items():
        for n, d in files.items():
            base, _, ext = n.rpartition(".")
            expected.setdefault((shard, base), {})[ext] = d
    length, samples = shard_reader_flow(b, "train/")
    assert length == sum(len(f) for f in want.values())
    assert len(samples) == 2000 and samples == expected
