"""One store, two APIs: objects and buckets written through S3 (boto3) read back through the
native API (raw HTTP) and the `aistore` SDK, and the other way round, on one node with S3 keys.
"""

import hashlib

import pytest
import requests

from aisutil import make_client, xxh_hex
from aistore.sdk.errors import AISError, ErrObjNotFound
from s3util import (  # noqa: F401  (fixtures are used by name)
    MiB,
    boto3_client,
    det_bytes,
    expect_client_error,
    md5_hex,
    multipart_etag,
    _no_server_errors,
    no_server_errors,
    s3,
    s3_node,
    unique_bucket,
    unquote_etag,
)

# pytest-timeout: each test under 2 s on a quiet box; the margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(180)

SIZES = [0, 1, 4096, MiB + 1, 9 * MiB + 7]


@pytest.fixture(scope="module")
def sdk(s3_node):
    return make_client(s3_node.endpoint)


@pytest.fixture
def bucket(s3):
    name = unique_bucket("interop")
    s3.create_bucket(Bucket=name)
    yield name
    from botocore.exceptions import ClientError

    try:
        keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=name) for o in p.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        s3.delete_bucket(Bucket=name)
    except ClientError:
        pass


def native_get(node, bucket, key, headers=None):
    r = requests.get(
        f"{node.endpoint}/v1/objects/{bucket}/{requests.utils.quote(key)}?provider=ais", headers=headers, timeout=120
    )
    return r


def check_s3_etag_consistent(etag, data, what):
    """An S3 ETag of a single-part object is the MD5 of the content; an object written through
    the native API may carry another opaque ETag, but never a 32-hex value that is not its MD5
    (clients such as rclone and aws s3 sync would take that for corruption)."""
    __tracebackhide__ = True
    e = unquote_etag(etag)
    assert e, f"{what}: no ETag"
    if len(e) == 32 and all(c in "0123456789abcdef" for c in e):
        assert e == md5_hex(data), f"{what}: ETag {e} looks like an MD5 but is not the content's MD5 {md5_hex(data)}"


# ---- S3 -> native / SDK --------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_s3_put_reads_back_natively_and_via_sdk(s3_node, s3, sdk, bucket, size):
    key = f"from-s3/dir/obj-{size}"
    data = det_bytes(f"s3->native/{size}", size)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/x-test", Metadata={"m": "1"})
    r = native_get(s3_node, bucket, key)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.content == data, f"native GET: {len(r.content)} bytes, expected {size}"
    if r.headers.get("Ais-Checksum-Type", "").startswith("xxhash"):
        assert r.headers.get("Ais-Checksum-Value") == xxh_hex(data), dict(r.headers)
    obj = sdk.bucket(bucket).object(key)
    assert obj.get_reader().read_all() == data, "SDK read_all differs"
    if size > 10:
        assert obj.get_reader(byte_range="bytes=3-9").read_all() == data[3:10]
    props = obj.head()
    assert int(props.size) == size, props
    # native HEAD
    h = requests.head(f"{s3_node.endpoint}/v1/objects/{bucket}/{key}?provider=ais", allow_redirects=True, timeout=30)
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == size, (h.status_code, dict(h.headers))


def test_s3_multipart_reads_back_natively_and_via_sdk(s3_node, s3, sdk, bucket):
    key = "from-s3/multipart.bin"
    parts = [det_bytes("mpi1", 5 * MiB), det_bytes("mpi2", 5 * MiB), det_bytes("mpi3", 123)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=p)["ETag"] for n, p in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    data = b"".join(parts)
    r = native_get(s3_node, bucket, key)
    assert r.status_code == 200 and r.content == data, (r.status_code, len(r.content))
    assert sdk.bucket(bucket).object(key).get_reader().read_all() == data
    assert unquote_etag(s3.head_object(Bucket=bucket, Key=key)["ETag"]) == multipart_etag(parts)


def test_s3_objects_listed_by_sdk(s3, sdk, bucket):
    keys = sorted([f"lst/{a}/{b}" for a in "xyz" for b in range(4)] + ["lst/top"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    listed = sorted(e.name for e in sdk.bucket(bucket).list_all_objects(prefix="lst/"))
    assert listed == keys
    sizes = {e.name: int(e.size) for e in sdk.bucket(bucket).list_all_objects(prefix="lst/", props="name,size")}
    assert sizes == {k: len(k) for k in keys}


# ---- native / SDK -> S3 --------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_sdk_put_reads_back_via_s3(s3, sdk, bucket, size):
    key = f"from-sdk/dir/obj-{size}"
    data = det_bytes(f"sdk->s3/{size}", size)
    sdk.bucket(bucket).object(key).get_writer().put_content(data)
    g = s3.get_object(Bucket=bucket, Key=key)
    assert g["Body"].read() == data, "S3 GET of an SDK-written object differs"
    assert g["ContentLength"] == size
    check_s3_etag_consistent(g["ETag"], data, "GET of an SDK-written object")
    h = s3.head_object(Bucket=bucket, Key=key)
    assert h["ContentLength"] == size and h["ETag"] == g["ETag"]
    assert h["LastModified"] == g["LastModified"]
    # The ETag S3 reports works for conditional requests.
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=h["ETag"]), "304", 304, "If-None-Match")
    if size > 10:
        assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=2-7")["Body"].read() == data[2:8]
    o = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    assert [(x["Key"], x["Size"]) for x in o] == [(key, size)]
    assert o[0]["ETag"] == h["ETag"], "ListObjects and HeadObject disagree on the ETag"
    # CopyObject of a native object.
    s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=bucket, Key=key + ".copy")["Body"].read() == data


def test_raw_native_put_reads_back_via_s3(s3_node, s3, bucket):
    data = det_bytes("raw-native", 300_001)
    r = requests.put(f"{s3_node.endpoint}/v1/objects/{bucket}/raw/native.bin?provider=ais", data=data, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert s3.get_object(Bucket=bucket, Key="raw/native.bin")["Body"].read() == data


def test_native_overwrite_of_s3_object_updates_etag(s3, sdk, bucket):
    # An S3 ETag stored with the object must not outlive the content it describes.
    key = "overwrite/obj"
    s3.put_object(Bucket=bucket, Key=key, Body=b"version one, written through S3")
    sdk.bucket(bucket).object(key).get_writer().put_content(b"version two, native")
    g = s3.get_object(Bucket=bucket, Key=key)
    assert g["Body"].read() == b"version two, native"
    assert unquote_etag(g["ETag"]) != md5_hex(b"version one, written through S3"), "stale S3 ETag after a native PUT"
    check_s3_etag_consistent(g["ETag"], b"version two, native", "after a native overwrite")
    # and back: S3 overwrite of a native object
    s3.put_object(Bucket=bucket, Key=key, Body=b"three")
    assert sdk.bucket(bucket).object(key).get_reader().read_all() == b"three"
    assert unquote_etag(s3.head_object(Bucket=bucket, Key=key)["ETag"]) == md5_hex(b"three")


def test_sdk_objects_listed_by_s3_with_delimiter(s3, sdk, bucket):
    keys = sorted([f"n/{a}/{b}/{c}" for a in "pq" for b in "rs" for c in range(3)] + ["n/file"])
    b = sdk.bucket(bucket)
    for k in keys:
        b.object(k).get_writer().put_content(k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Prefix="n/", Delimiter="/")
    assert [o["Key"] for o in r.get("Contents", [])] == ["n/file"]
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["n/p/", "n/q/"]
    r = s3.list_objects(Bucket=bucket, Prefix="n/p/", Delimiter="/")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["n/p/r/", "n/p/s/"]
    all_keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="n/",
                                                                                PaginationConfig={"PageSize": 5})
                for o in p.get("Contents", [])]
    assert all_keys == keys


# ---- deletes and buckets across APIs -------------------------------------------------------


def test_deletes_cross_api(s3_node, s3, sdk, bucket):
    s3.put_object(Bucket=bucket, Key="del/s3", Body=b"a")
    sdk.bucket(bucket).object("del/sdk").get_writer().put_content(b"b")
    sdk.bucket(bucket).object("del/s3").delete()
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="del/s3"), "NoSuchKey", 404, "S3 GET after SDK delete")
    s3.delete_object(Bucket=bucket, Key="del/sdk")
    with pytest.raises(ErrObjNotFound):
        sdk.bucket(bucket).object("del/sdk").get_reader().read_all()
    assert native_get(s3_node, bucket, "del/sdk").status_code == 404
    s3.put_object(Bucket=bucket, Key="del/multi1", Body=b"1")
    sdk.bucket(bucket).object("del/multi2").get_writer().put_content(b"2")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "del/multi1"}, {"Key": "del/multi2"}]})
    assert [e.name for e in sdk.bucket(bucket).list_all_objects(prefix="del/")] == []


def test_buckets_cross_api(s3, sdk):
    # S3-created bucket: visible to the SDK, usable natively, deleted via the SDK.
    b1 = unique_bucket("from-s3")
    s3.create_bucket(Bucket=b1)
    names = [b.name for b in sdk.cluster().list_buckets()]
    assert b1 in names, names
    sdk.bucket(b1).head()
    sdk.bucket(b1).object("x").get_writer().put_content(b"native into s3 bucket")
    assert s3.get_object(Bucket=b1, Key="x")["Body"].read() == b"native into s3 bucket"
    sdk.bucket(b1).delete()
    expect_client_error(lambda: s3.head_bucket(Bucket=b1), "404", 404, "S3 HeadBucket after SDK delete")
    assert b1 not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # SDK-created bucket: visible to S3, usable, deleted via S3.
    b2 = unique_bucket("from-sdk")
    sdk.bucket(b2).create()
    assert b2 in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=b2)
    s3.put_object(Bucket=b2, Key="y", Body=b"s3 into native bucket")
    assert sdk.bucket(b2).object("y").get_reader().read_all() == b"s3 into native bucket"
    expect_client_error(lambda: s3.create_bucket(Bucket=b2), "BucketAlreadyOwnedByYou", 409, "S3 create of an SDK bucket")
    s3.delete_object(Bucket=b2, Key="y")
    s3.delete_bucket(Bucket=b2)
    with pytest.raises(AISError):
        sdk.bucket(b2).head()


def test_s3_sha256_of_large_native_object(s3_node, s3, sdk, bucket):
    # A 64 MiB object through the SDK, read back via S3 in one GET and in ranged pieces.
    data = det_bytes("large-native", 64 * MiB + 3)
    sdk.bucket(bucket).object("large/obj").get_writer().put_content(data)
    g = s3.get_object(Bucket=bucket, Key="large/obj")
    assert hashlib.sha256(g["Body"].read()).hexdigest() == hashlib.sha256(data).hexdigest()
    step = 10 * MiB
    pieces = [
        s3.get_object(Bucket=bucket, Key="large/obj", Range=f"bytes={i}-{min(i + step, len(data)) - 1}")["Body"].read()
        for i in range(0, len(data), step)
    ]
    assert b"".join(pieces) == data
