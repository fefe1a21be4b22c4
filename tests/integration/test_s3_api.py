"""The S3 API under `/s3` driven by boto3 (unchanged, from PyPI) and by SigV4-signed raw
requests, against one aisnode started with S3 keys (SigV4 verified).

Upload tests run twice: with boto3's default configuration (boto3 >= 1.36 adds a CRC32
checksum to every upload; over plain http it goes in an `x-amz-checksum-crc32` header) and with
`request_checksum_calculation="when_required"` (no checksum). One test also sends the
`aws-chunked` body with a CRC32 trailer that boto3 sends by default over https.
"""

import datetime
import hashlib
import io
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from s3util import (  # noqa: F401  (fixtures are used by name)
    ACCESS_KEY,
    CHECKSUM_MODES,
    MiB,
    SECRET_KEY,
    boto3_client,
    det_bytes,
    error_code,
    expect_client_error,
    md5_hex,
    multipart_etag,
    no_server_errors,
    _no_server_errors,
    parse_s3_error,
    s3,
    s3_anon_node,
    s3_node,
    signed_request,
    unique_bucket,
    unquote_etag,
)

# pytest-timeout: each test under 1 s on a quiet box; the margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=CHECKSUM_MODES)
def s3m(request, s3_node):
    """boto3 client in each checksum mode."""
    return boto3_client(s3_node.s3_endpoint, mode=request.param)


@pytest.fixture
def bucket(s3):
    """A fresh bucket, emptied (objects and uploads) and deleted after the test."""
    name = unique_bucket("api")
    s3.create_bucket(Bucket=name)
    yield name
    cleanup_bucket(s3, name)


def cleanup_bucket(s3, name):
    from botocore.exceptions import ClientError

    try:
        for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=name) for o in p.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True})
        s3.delete_bucket(Bucket=name)
    except ClientError:
        pass  # the test's own assertions report what went wrong


def leftover_upload_files(node, bucket):
    """Files under the bucket's multipart (%ut, %ch) and work (%wk) dirs on every mountpath."""
    out = []
    for mp in node.mountpaths:
        for ct in ("%ut", "%ch", "%wk"):
            d = Path(mp, "@ais", bucket, ct)
            if d.is_dir():
                for dirpath, _, files in os.walk(d):
                    out += [str(Path(dirpath, f)) for f in files]
    return out


# ---- buckets -------------------------------------------------------------------------------


def test_bucket_create_head_list_delete(s3):
    name = unique_bucket("bkt")
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.head_bucket(Bucket=name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names, f"ListBuckets does not show the new bucket {name}: {names}"
    for b in s3.list_buckets()["Buckets"]:
        assert isinstance(b["CreationDate"], datetime.datetime), b
    expect_client_error(lambda: s3.create_bucket(Bucket=name), "BucketAlreadyOwnedByYou", 409, "CreateBucket twice")
    r = s3.delete_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    expect_client_error(lambda: s3.head_bucket(Bucket=name), "404", 404, "HeadBucket after delete")
    expect_client_error(lambda: s3.delete_bucket(Bucket=name), "NoSuchBucket", 404, "DeleteBucket of a missing bucket")
    expect_client_error(lambda: s3.list_objects_v2(Bucket=name), "NoSuchBucket", 404, "ListObjectsV2 of a missing bucket")
    expect_client_error(
        lambda: s3.put_object(Bucket=name, Key="k", Body=b"x"), "NoSuchBucket", 404, "PutObject into a missing bucket"
    )
    expect_client_error(lambda: s3.get_object(Bucket=name, Key="k"), "NoSuchBucket", 404, "GetObject from a missing bucket")


def test_create_bucket_with_location_constraint(s3):
    # Clients outside us-east-1 send a CreateBucketConfiguration body.
    name = unique_bucket("loc")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    try:
        s3.head_bucket(Bucket=name)
    finally:
        s3.delete_bucket(Bucket=name)


def test_delete_nonempty_bucket_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep/me", Body=b"1")
    expect_client_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409, "DeleteBucket with an object")
    s3.head_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="keep/me")["Body"].read() == b"1"


def test_delete_bucket_with_pending_upload_is_refused(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    expect_client_error(lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty", 409, "DeleteBucket with an upload")
    s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=up)


# ---- objects -------------------------------------------------------------------------------

SIZES = [0, 1, 4096, MiB + 7, 9 * MiB + 3]


@pytest.mark.parametrize("size", SIZES)
def test_put_get_head_delete(s3m, bucket, size):
    key = f"dir/sub/obj-{size}"
    data = det_bytes(f"pghd/{size}", size)
    r = s3m.put_object(Bucket=bucket, Key=key, Body=data)
    assert unquote_etag(r["ETag"]) == md5_hex(data), "PutObject ETag must be the MD5 of the content"
    g = s3m.get_object(Bucket=bucket, Key=key)
    body = g["Body"].read()
    assert len(body) == size and body == data, f"GET returned {len(body)} bytes, not the {size} PUT"
    assert g["ContentLength"] == size
    assert unquote_etag(g["ETag"]) == md5_hex(data)
    assert isinstance(g["LastModified"], datetime.datetime)
    h = s3m.head_object(Bucket=bucket, Key=key)
    assert h["ContentLength"] == size
    assert unquote_etag(h["ETag"]) == md5_hex(data)
    assert h["LastModified"] == g["LastModified"]
    r = s3m.delete_object(Bucket=bucket, Key=key)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_client_error(lambda: s3m.get_object(Bucket=bucket, Key=key), "NoSuchKey", 404, "GetObject after delete")
    expect_client_error(lambda: s3m.head_object(Bucket=bucket, Key=key), "404", 404, "HeadObject after delete")
    # S3: deleting a missing key succeeds.
    r = s3m.delete_object(Bucket=bucket, Key=key)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_overwrite_replaces_content_and_etag(s3m, bucket):
    s3m.put_object(Bucket=bucket, Key="o", Body=b"first version")
    s3m.put_object(Bucket=bucket, Key="o", Body=b"second")
    g = s3m.get_object(Bucket=bucket, Key="o")
    assert g["Body"].read() == b"second"
    assert unquote_etag(g["ETag"]) == md5_hex(b"second")


def test_upload_fileobj_and_download_fileobj(s3m, bucket):
    # boto3's managed transfer: multipart above 8 MiB, parallel ranged GETs on download.
    data = det_bytes("transfer", 21 * MiB + 5)
    s3m.upload_fileobj(io.BytesIO(data), bucket, "managed/big")
    h = s3m.head_object(Bucket=bucket, Key="managed/big")
    parts = [data[i : i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]
    assert unquote_etag(h["ETag"]) == multipart_etag(parts)
    out = io.BytesIO()
    s3m.download_fileobj(bucket, "managed/big", out)
    assert out.getvalue() == data


def test_keys_that_need_encoding(s3, bucket):
    keys = [
        "with space/and space.txt",
        "plus+sign",
        "percent%20literal",
        "ümlaut/ß/日本語.txt",
        "semi;colon=equals&amp",
        "paren(1)[2]{3}~tilde!$'*,",
        "a" * 200 + "/" + "b" * 200,
    ]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)
    listed_url = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert sorted(listed_url) == sorted(keys)
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
        s3.head_object(Bucket=bucket, Key=k)
        s3.copy_object(Bucket=bucket, Key=k + ".copy", CopySource={"Bucket": bucket, "Key": k})
        assert s3.get_object(Bucket=bucket, Key=k + ".copy")["Body"].read() == k.encode(), k


def test_no_such_key_is_s3_xml(s3_node, bucket):
    url = f"{s3_node.s3_endpoint}/{bucket}/no/such/key"
    r = signed_request("GET", url)
    assert r.status_code == 404, r.text
    err = parse_s3_error(r)
    assert err.get("Code") == "NoSuchKey", err
    assert err.get("Message"), err
    assert r.headers.get("x-amz-request-id"), dict(r.headers)
    r = signed_request("GET", f"{s3_node.s3_endpoint}/no-such-bucket-{bucket}/k")
    assert r.status_code == 404
    assert parse_s3_error(r).get("Code") == "NoSuchBucket"
    r = signed_request("HEAD", url)
    assert r.status_code == 404 and r.content == b"", (r.status_code, r.content[:200])


def test_key_that_is_a_prefix_of_other_keys_is_no_such_key(s3, bucket):
    # rclone and the aws CLI HEAD a "directory" path to see whether it is a file: that must be a
    # plain 404, not an I/O error (on disk the name is a directory).
    # Enough leaves that the directories exist on every mountpath, whichever one owns the name.
    for i in range(32):
        s3.put_object(Bucket=bucket, Key=f"dirlike/child/leaf{i}", Body=b"x")
    for k in ("dirlike", "dirlike/child"):
        expect_client_error(lambda: s3.head_object(Bucket=bucket, Key=k), "404", 404, f"HEAD {k!r} (a prefix)")
        expect_client_error(lambda: s3.get_object(Bucket=bucket, Key=k), "NoSuchKey", 404, f"GET {k!r} (a prefix)")
        expect_client_error(
            lambda: s3.get_object(Bucket=bucket, Key=k, Range="bytes=0-0"), "NoSuchKey", 404, f"range GET {k!r}"
        )
        r = s3.delete_object(Bucket=bucket, Key=k)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 204, f"DELETE {k!r} (a prefix)"
    assert s3.get_object(Bucket=bucket, Key="dirlike/child/leaf7")["Body"].read() == b"x"


# ---- metadata ------------------------------------------------------------------------------


def test_user_metadata_and_content_type_kept(s3m, bucket):
    md = {"color": "blue", "multi-word-key": "Value With Spaces", "empty": ""}
    s3m.put_object(
        Bucket=bucket,
        Key="md/obj.json",
        Body=b'{"a": 1}',
        ContentType="application/json; charset=utf-8",
        Metadata=md,
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="x.json"',
        ContentEncoding="identity",
    )
    for resp in (s3m.head_object(Bucket=bucket, Key="md/obj.json"), s3m.get_object(Bucket=bucket, Key="md/obj.json")):
        assert resp["ContentType"] == "application/json; charset=utf-8"
        assert resp["Metadata"] == md, f"user metadata: {resp['Metadata']} != {md}"
        assert resp.get("CacheControl") == "max-age=60"
        assert resp.get("ContentDisposition") == 'attachment; filename="x.json"'
        assert resp.get("ContentEncoding") == "identity"
    # Default content type when the client sends none.
    s3m.put_object(Bucket=bucket, Key="md/plain", Body=b"x")
    h = s3m.head_object(Bucket=bucket, Key="md/plain")
    assert h["ContentType"], h
    assert h["Metadata"] == {}


def test_multipart_keeps_metadata_and_content_type(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpmd", ContentType="video/mp4", Metadata={"k1": "v1"})
    e = s3.upload_part(Bucket=bucket, Key="mpmd", UploadId=up["UploadId"], PartNumber=1, Body=b"tiny")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mpmd", UploadId=up["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]}
    )
    h = s3.head_object(Bucket=bucket, Key="mpmd")
    assert h["ContentType"] == "video/mp4"
    assert h["Metadata"] == {"k1": "v1"}
    assert unquote_etag(h["ETag"]) == multipart_etag([b"tiny"])


# ---- range and conditional GET --------------------------------------------------------------


def test_get_range(s3, bucket):
    data = det_bytes("range", 100_000)
    n = len(data)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    cases = [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=-5", n - 5, n - 1),
        ("bytes=99990-", 99990, n - 1),
        ("bytes=99990-200000", 99990, n - 1),  # end past the size is clipped
        ("bytes=0-", 0, n - 1),
        (f"bytes=0-{n - 1}", 0, n - 1),
        ("bytes=-200000", 0, n - 1),  # suffix longer than the object: all of it
    ]
    for rng, first, last in cases:
        g = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        body = g["Body"].read()
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert body == data[first : last + 1], f"{rng}: got {len(body)} bytes, expected {last + 1 - first}"
        assert g["ContentRange"] == f"bytes {first}-{last}/{n}", (rng, g["ContentRange"])
        assert g["ContentLength"] == last + 1 - first
        assert unquote_etag(g["ETag"]) == md5_hex(data), "a range GET reports the whole object's ETag"
    for rng in (f"bytes={n}-", f"bytes={n + 10}-{n + 20}"):
        expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="r", Range=rng), "InvalidRange", 416, rng)
    r = signed_request("GET", f"{s3.meta.endpoint_url}/{bucket}/r", headers={"Range": f"bytes={n}-"})
    assert r.status_code == 416
    assert parse_s3_error(r).get("Code") == "InvalidRange"


def test_get_conditionals(s3, bucket):
    data = b"conditional content"
    s3.put_object(Bucket=bucket, Key="c", Body=data)
    h = s3.head_object(Bucket=bucket, Key="c")
    etag, lm = h["ETag"], h["LastModified"]
    assert unquote_etag(etag) == md5_hex(data)
    day = datetime.timedelta(days=1)
    other = '"0123456789abcdef0123456789abcdef"'

    def get(**kw):
        return s3.get_object(Bucket=bucket, Key="c", **kw)

    # If-Match
    assert get(IfMatch=etag)["Body"].read() == data
    assert get(IfMatch=unquote_etag(etag))["Body"].read() == data, "If-Match without quotes"
    assert get(IfMatch="*")["Body"].read() == data
    expect_client_error(lambda: get(IfMatch=other), "PreconditionFailed", 412, "If-Match with another ETag")
    # If-None-Match
    expect_client_error(lambda: get(IfNoneMatch=etag), "304", 304, "If-None-Match with the object's ETag")
    expect_client_error(lambda: get(IfNoneMatch="*"), "304", 304, "If-None-Match: *")
    assert get(IfNoneMatch=other)["Body"].read() == data
    # If-Modified-Since
    expect_client_error(lambda: get(IfModifiedSince=lm), "304", 304, "If-Modified-Since = Last-Modified")
    expect_client_error(lambda: get(IfModifiedSince=lm + day), "304", 304, "If-Modified-Since after Last-Modified")
    assert get(IfModifiedSince=lm - day)["Body"].read() == data
    # If-Unmodified-Since
    expect_client_error(
        lambda: get(IfUnmodifiedSince=lm - day), "PreconditionFailed", 412, "If-Unmodified-Since before Last-Modified"
    )
    assert get(IfUnmodifiedSince=lm)["Body"].read() == data
    assert get(IfUnmodifiedSince=lm + day)["Body"].read() == data
    # S3's combination rules: If-Match true wins over If-Unmodified-Since false ...
    assert get(IfMatch=etag, IfUnmodifiedSince=lm - day)["Body"].read() == data
    # ... and If-None-Match false wins over If-Modified-Since true.
    expect_client_error(
        lambda: get(IfNoneMatch=etag, IfModifiedSince=lm - day), "304", 304, "If-None-Match false + If-Modified-Since true"
    )
    # HEAD takes the same conditions.
    expect_client_error(
        lambda: s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag), "304", 304, "HEAD If-None-Match"
    )
    expect_client_error(
        lambda: s3.head_object(Bucket=bucket, Key="c", IfMatch=other), "412", 412, "HEAD If-Match with another ETag"
    )
    expect_client_error(
        lambda: s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=lm - day), "412", 412, "HEAD If-Unmodified-Since"
    )
    # A raw 304 has no body and still carries the ETag; a raw 412 is S3 XML.
    url = f"{s3.meta.endpoint_url}/{bucket}/c"
    r = signed_request("GET", url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"", (r.status_code, r.content[:200])
    assert r.headers.get("ETag") == etag, dict(r.headers)
    r = signed_request("GET", url, headers={"If-Unmodified-Since": format_datetime((lm - day).astimezone(datetime.timezone.utc), usegmt=True)})
    assert r.status_code == 412
    assert parse_s3_error(r).get("Code") == "PreconditionFailed"


# ---- DeleteObjects, CopyObject -------------------------------------------------------------


def test_delete_objects(s3, bucket):
    keys = [f"del/{i:02d}" for i in range(12)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[:5]] + [{"Key": "del/missing"}]}
    )
    deleted = sorted(d["Key"] for d in r.get("Deleted", []))
    assert deleted == sorted(keys[:5] + ["del/missing"]), r
    assert not r.get("Errors"), r.get("Errors")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[5:9]], "Quiet": True})
    assert not r.get("Deleted") and not r.get("Errors"), f"Quiet DeleteObjects must report nothing: {r}"
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert left == keys[9:]
    for k in keys[:9]:
        expect_client_error(lambda: s3.head_object(Bucket=bucket, Key=k), "404", 404, f"HEAD {k} after DeleteObjects")


def test_copy_object(s3m, bucket):
    s3 = s3m
    data = det_bytes("copy", 3 * MiB + 11)
    s3.put_object(Bucket=bucket, Key="src/a", Body=data, ContentType="image/png", Metadata={"origin": "src"})
    # Same bucket, metadata copied.
    r = s3.copy_object(Bucket=bucket, Key="dst/a", CopySource={"Bucket": bucket, "Key": "src/a"})
    assert unquote_etag(r["CopyObjectResult"]["ETag"]) == md5_hex(data)
    assert isinstance(r["CopyObjectResult"]["LastModified"], datetime.datetime)
    g = s3.get_object(Bucket=bucket, Key="dst/a")
    assert g["Body"].read() == data
    assert g["ContentType"] == "image/png" and g["Metadata"] == {"origin": "src"}
    # Another bucket, metadata replaced.
    other = unique_bucket("copydst")
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(
            Bucket=other,
            Key="x/y",
            CopySource=f"{bucket}/src/a",
            MetadataDirective="REPLACE",
            ContentType="text/plain",
            Metadata={"new": "yes"},
        )
        g = s3.get_object(Bucket=other, Key="x/y")
        assert g["Body"].read() == data
        assert g["ContentType"] == "text/plain" and g["Metadata"] == {"new": "yes"}
        assert unquote_etag(g["ETag"]) == md5_hex(data)
    finally:
        cleanup_bucket(s3, other)
    # The source is untouched; a missing source is NoSuchKey.
    assert s3.head_object(Bucket=bucket, Key="src/a")["Metadata"] == {"origin": "src"}
    expect_client_error(
        lambda: s3.copy_object(Bucket=bucket, Key="z", CopySource={"Bucket": bucket, "Key": "src/missing"}),
        "NoSuchKey",
        404,
        "CopyObject from a missing key",
    )
    # Copy onto itself with new metadata (the usual way to change metadata).
    s3.copy_object(
        Bucket=bucket, Key="src/a", CopySource={"Bucket": bucket, "Key": "src/a"}, MetadataDirective="REPLACE",
        Metadata={"origin": "changed"}, ContentType="image/png",
    )
    h = s3.head_object(Bucket=bucket, Key="src/a")
    assert h["Metadata"] == {"origin": "changed"}
    assert s3.get_object(Bucket=bucket, Key="src/a")["Body"].read() == data


def test_copy_object_preconditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cp/src", Body=b"abc")
    etag = s3.head_object(Bucket=bucket, Key="cp/src")["ETag"]
    s3.copy_object(Bucket=bucket, Key="cp/ok", CopySource=f"{bucket}/cp/src", CopySourceIfMatch=etag)
    expect_client_error(
        lambda: s3.copy_object(Bucket=bucket, Key="cp/no", CopySource=f"{bucket}/cp/src", CopySourceIfNoneMatch=etag),
        "PreconditionFailed",
        412,
        "CopyObject with x-amz-copy-source-if-none-match = source ETag",
    )
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="cp/no"), "404", 404, "failed copy left no object")


# ---- multipart -----------------------------------------------------------------------------


def test_multipart_upload_list_complete(s3m, s3_node, bucket):
    s3 = s3m
    key = "mp/object.bin"
    parts = [det_bytes("mp1", 5 * MiB), det_bytes("mp2", 5 * MiB + 1), det_bytes("mp3", MiB + 3)]
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)
    uid = up["UploadId"]
    assert up["Bucket"] == bucket and up["Key"] == key and uid
    etags = {}
    for n in (2, 1, 3):  # out of order, as parallel uploaders do
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=parts[n - 1])
        assert unquote_etag(r["ETag"]) == md5_hex(parts[n - 1]), f"part {n} ETag must be its MD5"
        etags[n] = r["ETag"]
    # ListMultipartUploads shows it; ListParts shows the parts in order.
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in ups] == [(key, uid)], ups
    assert all(isinstance(u["Initiated"], datetime.datetime) for u in ups)
    lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    got = [(p["PartNumber"], p["Size"], unquote_etag(p["ETag"])) for p in lp["Parts"]]
    assert got == [(n, len(parts[n - 1]), md5_hex(parts[n - 1])) for n in (1, 2, 3)], got
    assert lp.get("IsTruncated") is False
    lp1 = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in lp1["Parts"]] == [1, 2] and lp1["IsTruncated"] is True
    assert lp1["NextPartNumberMarker"] == 2
    lp2 = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, PartNumberMarker=lp1["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in lp2["Parts"]] == [3] and lp2["IsTruncated"] is False
    # Not visible as an object until completed.
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key=key), "404", 404, "HEAD of an uncompleted upload")
    r = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    assert unquote_etag(r["ETag"]) == multipart_etag(parts), "multipart ETag must be md5(concat part md5s)-N"
    assert r["Key"] == key and r["Bucket"] == bucket
    g = s3.get_object(Bucket=bucket, Key=key)
    body = g["Body"].read()
    assert body == b"".join(parts), "completed object differs from the concatenated parts"
    assert unquote_etag(g["ETag"]) == multipart_etag(parts)
    assert g["ContentLength"] == sum(map(len, parts))
    # Ranged GET across a part boundary.
    g = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert g["Body"].read() == b"".join(parts)[5 * MiB - 10 : 5 * MiB + 10]
    # The upload is gone, and so are its parts on disk.
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    expect_client_error(
        lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=uid), "NoSuchUpload", 404, "ListParts after complete"
    )
    assert leftover_upload_files(s3_node, bucket) == [], "parts or manifests left after CompleteMultipartUpload"


def test_multipart_abort_leaves_no_parts(s3m, s3_node, bucket):
    s3 = s3m
    key = "mp/aborted"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for n in (1, 2):
        s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=det_bytes(f"ab{n}", 5 * MiB))
    assert leftover_upload_files(s3_node, bucket), "expected the pending upload's parts on disk before abort"
    r = s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    expect_client_error(
        lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=uid), "NoSuchUpload", 404, "ListParts after abort"
    )
    expect_client_error(
        lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=b"late"),
        "NoSuchUpload",
        404,
        "UploadPart after abort",
    )
    expect_client_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}
        ),
        "NoSuchUpload",
        404,
        "CompleteMultipartUpload after abort",
    )
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key=key), "404", 404, "HEAD of an aborted upload")
    left = leftover_upload_files(s3_node, bucket)
    assert left == [], f"AbortMultipartUpload left files behind: {left}"
    # And the bucket counts as empty again.
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart_invalid_part(s3, bucket):
    key = "mp/invalid"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    p1, p2 = det_bytes("ip1", 5 * MiB), b"last part"
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]

    def complete(parts):
        return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})

    wrong = '"' + md5_hex(b"something else") + '"'
    expect_client_error(
        lambda: complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": wrong}]),
        "InvalidPart",
        400,
        "complete with a wrong part ETag",
    )
    expect_client_error(
        lambda: complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 7, "ETag": e2}]),
        "InvalidPart",
        400,
        "complete with a part that was never uploaded",
    )
    expect_client_error(
        lambda: complete([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]),
        "InvalidPartOrder",
        400,
        "complete with parts out of order",
    )
    # The failed completions left the upload intact: completing properly still works.
    r = complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}])
    assert unquote_etag(r["ETag"]) == multipart_etag([p1, p2])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == p1 + p2


def test_multipart_small_part_is_entity_too_small(s3, bucket):
    key = "mp/small"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"too small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"last")["ETag"]
    expect_client_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
        ),
        "EntityTooSmall",
        400,
        "complete with a 9-byte first part",
    )
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)


def test_list_multipart_uploads_prefix_and_paging(s3, bucket):
    ids = {}
    for k in ("u/a", "u/b", "u/b", "v/c"):
        ids.setdefault(k, []).append(s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"])
    allu = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in allu) == sorted((k, i) for k, v in ids.items() for i in v)
    keys = [u["Key"] for u in allu]
    assert keys == sorted(keys), f"uploads must be listed in key order: {keys}"
    pu = s3.list_multipart_uploads(Bucket=bucket, Prefix="u/")["Uploads"]
    assert sorted(u["Key"] for u in pu) == ["u/a", "u/b", "u/b"]
    # Paging through with max-uploads=1 sees every upload exactly once.
    seen, km, um = [], None, None
    for _ in range(10):
        kw = {"KeyMarker": km, "UploadIdMarker": um} if km else {}
        r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **kw)
        seen += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        km, um = r["NextKeyMarker"], r["NextUploadIdMarker"]
    assert sorted(seen) == sorted((k, i) for k, v in ids.items() for i in v), seen


# ---- checksums ------------------------------------------------------------------------------


# (CRC32C and CRC64NVME need botocore[crt], which is not installed.)
@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_put_with_explicit_checksum_algorithm(s3, bucket, algorithm):
    data = det_bytes(f"ck/{algorithm}", 300_000)
    s3.put_object(Bucket=bucket, Key=f"ck/{algorithm}", Body=data, ChecksumAlgorithm=algorithm)
    assert s3.get_object(Bucket=bucket, Key=f"ck/{algorithm}")["Body"].read() == data


def test_wrong_checksum_header_is_rejected(s3, bucket):
    # A CRC32 header that does not match the body must fail the PUT and store nothing.
    def corrupt(request, **kwargs):
        # (botocore's headers keep duplicates: delete, then set)
        del request.headers["x-amz-checksum-crc32"]
        request.headers["x-amz-checksum-crc32"] = "AAAAAA=="

    s3.meta.events.register_first("before-sign.s3.PutObject", corrupt)
    try:
        with pytest.raises(Exception) as ei:
            s3.put_object(Bucket=bucket, Key="ck/bad", Body=b"payload", ChecksumAlgorithm="CRC32")
    finally:
        s3.meta.events.unregister("before-sign.s3.PutObject", corrupt)
    code = error_code(ei.value) if hasattr(ei.value, "response") else (repr(ei.value), None)
    assert code[0] in ("BadDigest", "InvalidRequest", "XAmzContentChecksumMismatch"), code
    assert code[1] == 400, code
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="ck/bad"), "404", 404, "HEAD after a bad checksum")


def test_wrong_content_md5_is_rejected(s3_node, bucket):
    import base64

    url = f"{s3_node.s3_endpoint}/{bucket}/ck/md5"
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = signed_request("PUT", url, headers={"Content-MD5": bad}, body=b"payload")
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert parse_s3_error(r).get("Code") == "BadDigest"
    good = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    r = signed_request("PUT", url, headers={"Content-MD5": good}, body=b"payload")
    assert r.status_code == 200, (r.status_code, r.text[:300])


@pytest.fixture
def aws_chunked_over_http():
    """Make botocore send what it sends by default over https: an `aws-chunked` body with the
    CRC32 in a trailer (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER). botocore only
    does this for https URLs; the node speaks plain http, so the scheme test is patched."""
    import botocore.httpchecksum as hc

    real = hc.urlparse

    def as_https(url, *a, **kw):
        parts = real(url, *a, **kw)
        return parts._replace(scheme="https") if parts.scheme == "http" else parts

    with mock.patch.object(hc, "urlparse", as_https):
        yield


def test_put_aws_chunked_with_crc32_trailer(s3, bucket, aws_chunked_over_http):
    seen = []

    def record(request, **kwargs):
        seen.append({k.lower(): v for k, v in request.headers.items()})

    s3.meta.events.register("before-send.s3", record)
    try:
        for size in (0, 1, 65536, 3 * MiB + 17):
            data = det_bytes(f"chunked/{size}", size)
            r = s3.put_object(Bucket=bucket, Key=f"chunked/{size}", Body=io.BytesIO(data))
            assert unquote_etag(r["ETag"]) == md5_hex(data)
            assert s3.get_object(Bucket=bucket, Key=f"chunked/{size}")["Body"].read() == data, size
        data = det_bytes("chunked/mp", 5 * MiB)
        uid = s3.create_multipart_upload(Bucket=bucket, Key="chunked/mp")["UploadId"]
        e1 = s3.upload_part(Bucket=bucket, Key="chunked/mp", UploadId=uid, PartNumber=1, Body=io.BytesIO(data))["ETag"]
        s3.complete_multipart_upload(
            Bucket=bucket, Key="chunked/mp", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]}
        )
        assert s3.get_object(Bucket=bucket, Key="chunked/mp")["Body"].read() == data
    finally:
        s3.meta.events.unregister("before-send.s3", record)
    chunked = [h for h in seen if b"aws-chunked" in _b(h.get("content-encoding"))]
    assert len(chunked) >= 5, f"expected aws-chunked uploads, saw headers {seen[:2]}"
    assert all(_b(h.get("x-amz-trailer")) == b"x-amz-checksum-crc32" for h in chunked)


def test_aws_chunked_inside_http_chunked_with_a_late_last_chunk(s3_anon_node):
    """botocore over https sends an aws-chunked body inside an HTTP-chunked one. When the end of
    the HTTP chunk and its last chunk (`\r\n0\r\n\r\n`) arrive after the aws-chunked body
    ended, the PUT must read them: left unread (it was, for an empty object), they were taken
    for the next request on the connection (400)."""
    import base64
    import zlib

    from rawhttp import RawConn

    s3 = boto3_client(s3_anon_node.s3_endpoint)
    bucket = unique_bucket("late-last-chunk")
    s3.create_bucket(Bucket=bucket)
    for data in (b"", b"abc"):
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        inner = (f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b"")
        inner += f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
        head = (
            f"PUT /s3/{bucket}/k HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            "Content-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
            f"x-amz-decoded-content-length: {len(data)}\r\nx-amz-trailer: x-amz-checksum-crc32\r\n\r\n"
        ).encode()
        with RawConn(s3_anon_node.port) as c:
            c.send(head + f"{len(inner):x}\r\n".encode() + inner)
            time.sleep(0.3)
            c.send(b"\r\n0\r\n\r\n")
            assert c.read_response("PUT").status == 200
            r = c.request("GET", f"/s3/{bucket}/k")
            assert (r.status, r.body) == (200, data), r
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def _b(v):
    return v if isinstance(v, bytes) else (v or "").encode()


def test_aws_chunked_wrong_trailer_checksum_is_rejected(s3, bucket, aws_chunked_over_http):
    import botocore.httpchecksum as hc

    real = hc.Crc32Checksum.digest

    def bad_digest(self):
        d = real(self)
        return bytes([d[0] ^ 0xFF]) + d[1:]

    with mock.patch.object(hc.Crc32Checksum, "digest", bad_digest):
        with pytest.raises(Exception) as ei:
            s3.put_object(Bucket=bucket, Key="chunked/bad", Body=io.BytesIO(b"x" * 1000))
    assert hasattr(ei.value, "response"), f"expected an S3 error, got {ei.value!r}"
    code, status = error_code(ei.value)
    assert status == 400 and code in ("BadDigest", "InvalidRequest", "XAmzContentChecksumMismatch"), (code, status)
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="chunked/bad"), "404", 404, "HEAD after bad trailer")


# ---- listing -------------------------------------------------------------------------------

LIST_NAMES = sorted(
    [f"{top}.txt" for top in "abc"]
    + [f"{top}/{mid}/{leaf}.bin" for top in "abc" for mid in "xy" for leaf in range(3)]
    + [f"{top}/{mid}/deep/er/z.bin" for top in "ab" for mid in "xy"]
    + ["b/top-level-in-b.txt", "d", "e/f"]
)


def model_listing(prefix, delimiter, after):
    """S3 listing semantics over LIST_NAMES: keys after `after` (exclusive) with the prefix,
    rolled up into common prefixes at the first delimiter after the prefix."""
    entries = []  # (sort key, kind, value)
    seen_cp = set()
    for n in LIST_NAMES:
        if not n.startswith(prefix) or (after and n <= after):
            continue
        if delimiter:
            i = n.find(delimiter, len(prefix))
            if i >= 0:
                cp = n[: i + len(delimiter)]
                if cp not in seen_cp:
                    seen_cp.add(cp)
                    entries.append((cp, "cp", cp))
                continue
        entries.append((n, "key", n))
    return entries


@pytest.fixture(scope="module")
def list_bucket(s3):
    name = unique_bucket("list")
    s3.create_bucket(Bucket=name)
    for n in LIST_NAMES:
        s3.put_object(Bucket=name, Key=n, Body=n.encode())
    yield name
    cleanup_bucket(s3, name)


def _check_entries(r, what):
    for o in r.get("Contents", []):
        assert o["Size"] == len(o["Key"].encode()), (what, o)
        assert unquote_etag(o["ETag"]) == md5_hex(o["Key"].encode()), (what, o)
        assert isinstance(o["LastModified"], datetime.datetime), (what, o)


def page_counts_ok(r, max_keys, what):
    n = len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
    assert n <= max_keys, f"{what}: page has {n} entries, max-keys {max_keys}"
    if r["IsTruncated"]:
        assert n >= 1, f"{what}: a truncated page must not be empty"


@pytest.mark.parametrize("prefix", ["", "b/", "b", "a/x/", "a/x/deep/", "zz"])
@pytest.mark.parametrize("delimiter", [None, "/"])
@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
def test_list_objects_v2(s3, list_bucket, prefix, delimiter, max_keys):
    what = f"ListObjectsV2 prefix={prefix!r} delimiter={delimiter!r} max-keys={max_keys}"
    expected = model_listing(prefix, delimiter, None)
    got, token, pages = [], None, 0
    while True:
        kw = {"Bucket": list_bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kw["Delimiter"] = delimiter
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        pages += 1
        assert pages <= len(LIST_NAMES) + 2, f"{what}: pagination does not end"
        page_counts_ok(r, max_keys, what)
        _check_entries(r, what)
        n = len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
        assert r["KeyCount"] == n, f"{what}: KeyCount {r['KeyCount']} != {n} entries"
        assert r.get("Prefix", "") == prefix
        assert r["MaxKeys"] == max_keys
        if token:
            assert r.get("ContinuationToken") == token
        page = [(o["Key"], "key", o["Key"]) for o in r.get("Contents", [])]
        page += [(p["Prefix"], "cp", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        got += sorted(page)
        if not r["IsTruncated"]:
            assert not r.get("NextContinuationToken"), f"{what}: token on the last page"
            break
        token = r.get("NextContinuationToken")
        assert token, f"{what}: truncated page without NextContinuationToken"
    assert got == expected, f"{what}:\n got      {[e[2] for e in got]}\n expected {[e[2] for e in expected]}"


@pytest.mark.parametrize(
    "start_after,prefix,delimiter",
    [("a/x/2.bin", "", None), ("b", "b", None), ("c.txt", "", "/"), ("a.txt", "", "/"), ("b/x/1.bin", "b/", None),
     # Starting inside a would-be common prefix.
     ("a/x/2.bin", "", "/"), ("b/x/1.bin", "b/", "/")],
)
def test_list_objects_v2_start_after(s3, list_bucket, start_after, prefix, delimiter):
    what = f"ListObjectsV2 start-after={start_after!r} prefix={prefix!r} delimiter={delimiter!r}"
    expected = model_listing(prefix, delimiter, start_after)
    kw = {"Bucket": list_bucket, "Prefix": prefix, "StartAfter": start_after, "MaxKeys": 2}
    if delimiter:
        kw["Delimiter"] = delimiter
    got = []
    for r in s3.get_paginator("list_objects_v2").paginate(**kw):
        assert r.get("StartAfter") == start_after, r.get("StartAfter")
        got += sorted([(o["Key"], "key", o["Key"]) for o in r.get("Contents", [])] +
                      [(p["Prefix"], "cp", p["Prefix"]) for p in r.get("CommonPrefixes", [])])
    assert got == expected, f"{what}:\n got      {[e[2] for e in got]}\n expected {[e[2] for e in expected]}"


@pytest.mark.parametrize("prefix", ["", "b/", "a/x/"])
@pytest.mark.parametrize("delimiter", [None, "/"])
@pytest.mark.parametrize("max_keys", [1, 3, 1000])
def test_list_objects_v1(s3, list_bucket, prefix, delimiter, max_keys):
    what = f"ListObjects(v1) prefix={prefix!r} delimiter={delimiter!r} max-keys={max_keys}"
    expected = model_listing(prefix, delimiter, None)
    got, marker, pages = [], None, 0
    while True:
        kw = {"Bucket": list_bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kw["Delimiter"] = delimiter
        if marker:
            kw["Marker"] = marker
        r = s3.list_objects(**kw)
        pages += 1
        assert pages <= len(LIST_NAMES) + 2, f"{what}: pagination does not end"
        page_counts_ok(r, max_keys, what)
        _check_entries(r, what)
        assert r.get("Marker", "") == (marker or "")
        page = [(o["Key"], "key", o["Key"]) for o in r.get("Contents", [])]
        page += [(p["Prefix"], "cp", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        page.sort()
        got += page
        if not r["IsTruncated"]:
            break
        # With a delimiter S3 returns NextMarker; without one the client uses the last key.
        if delimiter:
            assert r.get("NextMarker"), f"{what}: truncated v1 page with a delimiter has no NextMarker"
            assert r["NextMarker"] == page[-1][2], f"{what}: NextMarker {r['NextMarker']!r} != last entry {page[-1][2]!r}"
            marker = r["NextMarker"]
        else:
            marker = r.get("NextMarker") or r["Contents"][-1]["Key"]
    assert got == expected, f"{what}:\n got      {[e[2] for e in got]}\n expected {[e[2] for e in expected]}"


def test_list_objects_v1_marker(s3, list_bucket):
    r = s3.list_objects(Bucket=list_bucket, Marker="b/y/deep/er/z.bin")
    assert [o["Key"] for o in r["Contents"]] == [n for n in LIST_NAMES if n > "b/y/deep/er/z.bin"]


def test_list_paginators_delimiter_nested(s3, list_bucket):
    # What `aws s3 ls` does: walk the hierarchy level by level with Delimiter="/".
    def walk(prefix):
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=list_bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": 2}
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
            for cp in page.get("CommonPrefixes", []):
                keys += walk(cp["Prefix"])
        return keys

    assert sorted(walk("")) == LIST_NAMES
    v1 = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=list_bucket, PaginationConfig={"PageSize": 4})
          for o in p.get("Contents", [])]
    assert v1 == LIST_NAMES


def test_list_objects_url_encoding(s3, bucket):
    keys = ["enc/a b", "enc/ü", "enc/x+y"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    # Asked for explicitly, EncodingType=url keys come back encoded (botocore decodes them only
    # when it added EncodingType itself, which it does on every listing: covered elsewhere).
    from urllib.parse import unquote_plus

    for fn in (s3.list_objects_v2, s3.list_objects):
        r = fn(Bucket=bucket, Prefix="enc/", EncodingType="url")
        raw = [o["Key"] for o in r["Contents"]]
        assert sorted(unquote_plus(k) for k in raw) == sorted(keys), f"{fn.__name__}: {raw}"
        assert "enc/ü" not in raw and "enc/a b" not in raw, f"{fn.__name__}: keys not URL-encoded: {raw}"
        assert r.get("EncodingType") == "url"


# ---- presigned URLs ------------------------------------------------------------------------


def _curl(*args):
    p = subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=120)
    return p


# boto3 as shipped presigns S3 URLs with SigV2 query auth (AWSAccessKeyId, Signature, Expires)
# unless the client is configured with signature_version="s3v4" (X-Amz-Signature, ...).
PRESIGN_VERSIONS = ("boto3-default", "s3v4")


def presign_client(s3_node, version, **kw):
    return boto3_client(s3_node.s3_endpoint, signature_version=None if version == "boto3-default" else version, **kw)


@pytest.mark.parametrize("version", PRESIGN_VERSIONS)
def test_presigned_get_with_curl(s3, s3_node, bucket, tmp_path, version):
    data = det_bytes("presigned", 2 * MiB + 1)
    s3.put_object(Bucket=bucket, Key="pre/signed obj", Body=data)
    ps = presign_client(s3_node, version)
    url = ps.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/signed obj"}, ExpiresIn=600)
    sig_param = "X-Amz-Signature=" if version == "s3v4" else "Signature="
    assert sig_param in url, url
    out = tmp_path / "got"
    p = _curl("-o", str(out), "-w", "%{http_code}", url)
    assert p.returncode == 0 and p.stdout == b"200", (
        f"presigned GET ({version}) {url}: HTTP {p.stdout!r}, body {out.read_bytes()[:400]!r}, curl: {p.stderr!r}"
    )
    assert out.read_bytes() == data
    # A presigned ranged GET; and HEAD through a presigned head_object URL.
    p = _curl("-H", "Range: bytes=5-9", url)
    assert p.stdout == data[5:10], p.stdout[:300]
    hurl = ps.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "pre/signed obj"}, ExpiresIn=600)
    p = _curl("-I", "-o", "/dev/null", "-w", "%{http_code}", hurl)
    assert p.stdout == b"200", p.stdout
    # Any change to the signed URL is refused.
    parts = urlsplit(url)
    query = parts.query.split("&")
    sig_i = next(i for i, q in enumerate(query) if q.startswith(sig_param))
    sig = query[sig_i]
    # (a digit for a digit: hex may be compared case-insensitively, so never just change case)
    query[sig_i] = sig[:-5] + ("0" if sig[-5] != "0" else "1") + sig[-4:]
    tampered_sig = urlunsplit(parts._replace(query="&".join(query)))
    other_key = urlunsplit(parts._replace(path=parts.path.replace("signed%20obj", "signed%20obk")))
    for bad in (tampered_sig, other_key):
        p = _curl("-o", str(out), "-w", "%{http_code}", bad)
        assert p.stdout == b"403", f"{bad}: HTTP {p.stdout!r} {out.read_bytes()[:300]!r}"
        err = ET.fromstring(out.read_bytes())
        assert err.findtext("Code") == "SignatureDoesNotMatch", out.read_bytes()[:300]
    # A URL signed with the wrong secret.
    wrong = presign_client(s3_node, version, secret_key=SECRET_KEY + "x")
    wurl = wrong.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/signed obj"}, ExpiresIn=600)
    p = _curl("-o", str(out), "-w", "%{http_code}", wurl)
    assert p.stdout == b"403" and ET.fromstring(out.read_bytes()).findtext("Code") == "SignatureDoesNotMatch", (
        p.stdout,
        out.read_bytes()[:300],
    )


def test_presigned_url_expired(s3_node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="pre/exp", Body=b"x")
    ps = presign_client(s3_node, "s3v4")
    # Signed two hours ago for one hour: expired (no waiting needed).
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past.replace(tzinfo=None)):
        url = ps.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/exp"}, ExpiresIn=3600)
    assert "X-Amz-Date=" + past.strftime("%Y%m%dT%H") in url, url
    r = requests.get(url, timeout=30)
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert parse_s3_error(r).get("Code") == "AccessDenied", r.text[:300]
    # The same URL within its validity works.
    url = ps.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/exp"}, ExpiresIn=3600)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"x", (r.status_code, r.text[:300])


@pytest.mark.parametrize("version", PRESIGN_VERSIONS)
def test_presigned_put_with_curl(s3, s3_node, bucket, tmp_path, version):
    data = det_bytes("preput", 1 * MiB + 3)
    f = tmp_path / "up"
    f.write_bytes(data)
    ps = presign_client(s3_node, version)
    url = ps.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/put"}, ExpiresIn=600)
    out = tmp_path / "resp"
    p = _curl("-o", str(out), "-w", "%{http_code}", "-X", "PUT", "--upload-file", str(f), url)
    assert p.stdout == b"200", f"presigned PUT ({version}) {url}: HTTP {p.stdout!r}, body {out.read_bytes()[:400]!r}"
    g = s3.get_object(Bucket=bucket, Key="pre/put")
    assert g["Body"].read() == data
    assert unquote_etag(g["ETag"]) == md5_hex(data)


# ---- authentication ------------------------------------------------------------------------


def test_wrong_secret_key_gets_signature_does_not_match(s3_node, bucket):
    bad = boto3_client(s3_node.s3_endpoint, secret_key=SECRET_KEY[:-1] + "X")
    expect_client_error(lambda: bad.list_buckets(), "SignatureDoesNotMatch", 403, "ListBuckets, wrong secret")
    expect_client_error(
        lambda: bad.put_object(Bucket=bucket, Key="auth/x", Body=b"x"), "SignatureDoesNotMatch", 403, "PutObject, wrong secret"
    )
    expect_client_error(
        lambda: bad.get_object(Bucket=bucket, Key="auth/x"), "SignatureDoesNotMatch", 403, "GetObject, wrong secret"
    )
    expect_client_error(lambda: bad.create_bucket(Bucket=unique_bucket("nope")), "SignatureDoesNotMatch", 403, "CreateBucket")
    expect_client_error(lambda: bad.head_object(Bucket=bucket, Key="auth/x"), "403", 403, "HeadObject, wrong secret")
    r = signed_request("GET", f"{s3_node.s3_endpoint}/{bucket}/auth/x", secret_key="wrong")
    assert r.status_code == 403
    err = parse_s3_error(r)
    assert err.get("Code") == "SignatureDoesNotMatch", err
    good = boto3_client(s3_node.s3_endpoint)
    expect_client_error(lambda: good.head_object(Bucket=bucket, Key="auth/x"), "404", 404, "rejected PUT stored nothing")


def test_unknown_access_key(s3_node, bucket):
    bad = boto3_client(s3_node.s3_endpoint, access_key="AKIAUNKNOWNKEY000000")
    expect_client_error(lambda: bad.list_objects_v2(Bucket=bucket), "InvalidAccessKeyId", 403, "unknown access key")


def test_tampered_signed_request(s3_node, bucket):
    # Signed body hash does not match the body actually sent.
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{s3_node.s3_endpoint}/{bucket}/auth/tampered"
    body = b"signed body"
    req = AWSRequest(method="PUT", url=url, data=body, headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    r = requests.put(p.url, headers=dict(p.headers), data=b"other body!", timeout=30)
    assert r.status_code in (400, 403), (r.status_code, r.text[:300])
    assert parse_s3_error(r).get("Code") in ("XAmzContentSHA256Mismatch", "SignatureDoesNotMatch", "BadDigest")
    r = signed_request("HEAD", url)
    assert r.status_code == 404, "a PUT with a mismatching body must store nothing"


def test_signature_over_the_path_without_our_s3_prefix(s3_node, bucket):
    """s3fs, given `http://h:p/s3` as its endpoint, signs `/b/k` and sends `/s3/b/k`: accepted for
    that path only. A signature over another key or bucket is refused and stores nothing."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def put_signed_for(signed_path, body):
        req = AWSRequest(
            method="PUT",
            url=f"{s3_node.endpoint}{signed_path}",
            data=body,
            headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()},
        )
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
        p = req.prepare()
        return requests.put(f"{s3_node.s3_endpoint}/{bucket}/auth/noprefix", headers=dict(p.headers), data=body, timeout=30)

    for wrong in (f"/{bucket}/auth/other", f"/{bucket}x/auth/noprefix", f"/s3/{bucket}/auth/other"):
        r = put_signed_for(wrong, b"refused")
        assert r.status_code == 403, (wrong, r.status_code, r.text[:300])
        assert parse_s3_error(r).get("Code") == "SignatureDoesNotMatch", wrong
    assert signed_request("HEAD", f"{s3_node.s3_endpoint}/{bucket}/auth/noprefix").status_code == 404
    r = put_signed_for(f"/{bucket}/auth/noprefix", b"signed without the prefix")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert signed_request("GET", f"{s3_node.s3_endpoint}/{bucket}/auth/noprefix").content == b"signed without the prefix"


def test_anonymous_request_is_access_denied(s3_node, bucket):
    base = s3_node.s3_endpoint
    for method, url, data in (
        ("GET", base, None),
        ("GET", f"{base}/{bucket}", None),
        ("GET", f"{base}/{bucket}/anon", None),
        ("PUT", f"{base}/{bucket}/anon", b"anonymous data"),
        ("PUT", f"{base}/{unique_bucket('anon')}", None),
        ("DELETE", f"{base}/{bucket}", None),
    ):
        r = requests.request(method, url, data=data, timeout=30)
        assert r.status_code == 403, f"anonymous {method} {url}: HTTP {r.status_code} {r.text[:200]}"
        err = parse_s3_error(r)
        assert err.get("Code") == "AccessDenied", f"anonymous {method} {url}: {err}"
    anon = boto3_client(base, unsigned=True)
    expect_client_error(lambda: anon.list_objects_v2(Bucket=bucket), "AccessDenied", 403, "unsigned boto3 client")
    s3 = boto3_client(base)
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="anon"), "404", 404, "anonymous PUT stored nothing")
    s3.head_bucket(Bucket=bucket)


def test_unsupported_subresources_are_not_implemented(s3, bucket):
    for fn in (s3.get_bucket_lifecycle_configuration, s3.get_bucket_policy, s3.get_bucket_cors):
        expect_client_error(lambda: fn(Bucket=bucket), "NotImplemented", 501, fn.__name__)


def test_native_api_is_unaffected_by_s3_keys(s3_node, s3, bucket):
    # The keys guard /s3 only; the native API answers without them.
    s3.put_object(Bucket=bucket, Key="native/x", Body=b"via s3")
    r = requests.get(f"{s3_node.endpoint}/v1/objects/{bucket}/native/x?provider=ais", timeout=30)
    assert r.status_code == 200 and r.content == b"via s3", (r.status_code, r.content[:200])
