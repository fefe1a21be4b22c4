"""S3 sub-resources, conditional writes and the operations around them, against one aisnode
with S3 keys (and one anonymous node where the auth form matters).

* The sub-resource table: every AWS-documented sub-resource query name (and a few unknown
  ones), with GET, HEAD, PUT, POST and DELETE on a bucket and on an object, answers what the
  server's table says: served, or 501 NotImplemented naming the sub-resource and the method.
  Every request that is not served (and the served ones that fail) leaves the node exactly as
  it was: every object's bytes, ETag, AIS version, metadata and Last-Modified, the pending
  uploads, and the bucket list (a snapshot is taken after every request).
* versionId (`null` is the object; others are NoSuchVersion / 501), DeleteObjects with
  version IDs, unknown query parameters, response header overrides, `x-id`.
* Headers asking for features the node lacks (object lock, SSE, tags, ACL grants, appends,
  conditional deletes): 501 naming the header, nothing changed. ListBuckets' prefix, region
  and pages; ListMultipartUploads' delimiter (501).
* Conditional writes (PutObject, CompleteMultipartUpload, CopyObject): If-None-Match: * and
  If-Match, including a race of If-None-Match writers of one new key.
* S3 bucket naming rules on CreateBucket (the native API keeps AIS's rules).
* Presigned URLs as boto3 makes them by default (SigV2 query) on an anonymous node and on a
  node with keys; SigV2 header auth (boto3 `signature_version="s3"`, s3cmd `signature_v2`).
* GetObjectAttributes, GET/HEAD ?partNumber, ListObjectVersions, a re-sent
  CompleteMultipartUpload, UploadPartCopy (boto3 and `aws s3 cp` of a 12 MiB object).
"""

import base64
import datetime
import concurrent.futures
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from email.utils import formatdate
from urllib.parse import quote

import pytest
import requests

from s3util import (  # noqa: F401  (fixtures are used by name)
    ACCESS_KEY,
    MiB,
    SECRET_KEY,
    aws_cmd,
    aws_env,
    boto3_client,
    det_bytes,
    error_code,
    expect_client_error,
    md5_hex,
    multipart_etag,
    no_server_errors,
    _no_server_errors,
    parse_s3_error,
    run_tool,
    s3,
    s3_anon_node,
    s3_node,
    s3cmd_cmd,
    s3cmd_config,
    s3cmd_env,
    signed_request,
    unique_bucket,
    unquote_etag,
)

pytestmark = pytest.mark.timeout(300)

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


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
        pass


@pytest.fixture
def bucket(s3):
    name = unique_bucket("sub")
    s3.create_bucket(Bucket=name)
    yield name
    cleanup_bucket(s3, name)


# ---- snapshots -----------------------------------------------------------------------------


def snapshot(s3, buckets):
    """Everything a request could have changed: the bucket list, and per bucket every object
    (sha256 of its bytes, ETag, AIS version, user metadata, Content-Type, Last-Modified) and
    the pending multipart uploads."""
    names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    state = {"buckets": names}
    for b in buckets:
        if b not in names:
            continue
        objects = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
            for o in page.get("Contents", []):
                g = s3.get_object(Bucket=b, Key=o["Key"])
                body = g["Body"].read()
                objects[o["Key"]] = {
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "size": len(body),
                    "etag": g["ETag"],
                    "version": g["ResponseMetadata"]["HTTPHeaders"].get("ais-version"),
                    "metadata": g.get("Metadata"),
                    "content_type": g.get("ContentType"),
                    "last_modified": g["LastModified"],
                }
        state[b] = {"objects": objects, "uploads": list_uploads(s3, b)}
    return state


def list_uploads(s3, b):
    """Pending uploads, or "n/a" where ListMultipartUploads is not served (a proxy of a
    multi-node cluster)."""
    from botocore.exceptions import ClientError

    try:
        return sorted((u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", []))
    except ClientError as e:
        if error_code(e) == ("NotImplemented", 501):
            return "n/a"
        raise


def assert_same_state(before, after, what):
    __tracebackhide__ = True
    if before == after:
        return
    diffs = []
    if before["buckets"] != after["buckets"]:
        diffs.append(f"bucket list {before['buckets']} -> {after['buckets']}")
    for b in sorted(set(before) | set(after)):
        if b == "buckets" or before.get(b) == after.get(b):
            continue
        bo, ao = (before.get(b) or {}).get("objects", {}), (after.get(b) or {}).get("objects", {})
        for k in sorted(set(bo) | set(ao)):
            if bo.get(k) != ao.get(k):
                diffs.append(f"{b}/{k}: {bo.get(k)} -> {ao.get(k)}")
        bu, au = (before.get(b) or {}).get("uploads"), (after.get(b) or {}).get("uploads")
        if bu != au:
            diffs.append(f"{b} uploads {bu} -> {au}")
    pytest.fail(f"{what} changed the store: " + "; ".join(diffs)[:3000], pytrace=False)


# ---- the sub-resource table ----------------------------------------------------------------

# Every sub-resource of the S3 API reference (the query names that select an operation), and
# names S3 does not have (unknown parameters are 501 too, not ignored).
AWS_SUBRESOURCES = (
    "abac", "accelerate", "acl", "analytics", "annotation", "attributes", "cors", "delete",
    "encryption", "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location",
    "logging", "metadataConfiguration", "metadataInventoryTable", "metadataJournalTable",
    "metadataTable", "metrics", "notification", "object-lock", "ownershipControls",
    "partNumber", "policy", "policyStatus", "publicAccessBlock", "renameObject", "replication",
    "requestPayment", "restore", "retention", "select", "select-type", "session", "tagging",
    "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
)  # fmt: skip
UNKNOWN = ("foo", "Acl", "uploadid", "x-bogus", "versionid")
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")

# (name, value) rows: the value sent with the name (bare `?name` when empty).
ROWS = [(n, {"partNumber": "1", "uploadId": "bogusUploadId0", "versionId": "null"}.get(n, "")) for n in AWS_SUBRESOURCES]
ROWS += [("versionId", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"), ("partNumber", "2")]
ROWS += [(n, "") for n in UNKNOWN]

# What is served: (name, value or None for any, scope, method) -> expected status. Anything
# else is 501 NotImplemented. The object addressed is a plain (not multipart) object.
SERVED = {
    ("delete", None, "bucket", "POST"): 400,  # DeleteObjects of a body that is not <Delete>
    ("location", None, "bucket", "GET"): 200,
    ("uploads", None, "bucket", "GET"): 200,  # ListMultipartUploads
    ("versioning", None, "bucket", "GET"): 200,
    ("versioning", None, "bucket", "PUT"): 200,  # Suspended (Enabled is 501)
    ("versions", None, "bucket", "GET"): 200,  # ListObjectVersions
    ("attributes", None, "object", "GET"): 200,  # GetObjectAttributes
    ("partNumber", "1", "object", "GET"): 206,
    ("partNumber", "1", "object", "HEAD"): 206,
    ("partNumber", "2", "object", "GET"): 416,  # InvalidPartNumber: a plain object has one part
    ("partNumber", "2", "object", "HEAD"): 416,
    ("uploadId", None, "object", "GET"): 404,  # ListParts: NoSuchUpload
    ("uploadId", None, "object", "PUT"): 400,  # UploadPart without partNumber
    ("uploadId", None, "object", "POST"): 404,  # CompleteMultipartUpload: NoSuchUpload
    ("uploadId", None, "object", "DELETE"): 404,  # AbortMultipartUpload: NoSuchUpload
    ("uploads", None, "object", "POST"): 200,  # CreateMultipartUpload (aborted right after)
    ("versionId", "null", "object", "GET"): 200,
    ("versionId", "null", "object", "HEAD"): 200,
    ("versionId", "null", "object", "DELETE"): 204,  # deletes the object (put back right after)
    ("versionId", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY", "object", "GET"): 404,  # NoSuchVersion
    ("versionId", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY", "object", "HEAD"): 404,
}
# Served requests that change the store on purpose, and how the test puts it back.
MUTATING = {("uploads", "object", "POST"), ("versionId", "object", "DELETE")}

# A body that a server taking `PUT ?retention` for PutObject would store as the object.
XML_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>"
)
VERSIONING_SUSPENDED = b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"

OBJ_KEY = "dir/the object"
OBJ_DATA = det_bytes("subresource-object", 3000)
OBJ_META = {"owner": "test", "n": "1"}
OBJ_CTYPE = "text/x-subresource"


def expected_status(name, value, scope, method):
    for key in ((name, value, scope, method), (name, None, scope, method)):
        if key in SERVED:
            return SERVED[key]
    return 501


@pytest.fixture(scope="module")
def table_buckets(s3):
    """An empty bucket (bucket-level requests: a DELETE taken for DeleteBucket would remove it)
    and one with objects (object-level requests)."""
    empty, full = unique_bucket("sub-empty"), unique_bucket("sub-full")
    s3.create_bucket(Bucket=empty)
    s3.create_bucket(Bucket=full)
    put_table_object(s3, full)
    s3.put_object(Bucket=full, Key="other", Body=b"another object")
    s3.put_object(Bucket=full, Key="dir/the object2", Body=b"a neighbour by name")
    yield empty, full
    cleanup_bucket(s3, empty)
    cleanup_bucket(s3, full)


def put_table_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key=OBJ_KEY, Body=OBJ_DATA, Metadata=OBJ_META, ContentType=OBJ_CTYPE)


def test_table_object_state_is_observable(s3, table_buckets):
    """The snapshot sees what it must: an AIS version that grows on overwrite."""
    _, full = table_buckets
    before = snapshot(s3, [full])
    obj = before[full]["objects"][OBJ_KEY]
    assert obj["version"] is not None and obj["metadata"] == OBJ_META and obj["content_type"] == OBJ_CTYPE, obj
    assert obj["etag"] == f'"{md5_hex(OBJ_DATA)}"'


@pytest.mark.parametrize("name,value", ROWS, ids=[f"{n}={v}" if v else n for n, v in ROWS])
def test_subresource_table_row(s3, s3_node, table_buckets, name, value):
    empty, full = table_buckets
    buckets = [empty, full]
    state = snapshot(s3, buckets)
    query = quote(name, safe="-") + (f"={quote(value, safe='-')}" if value else "")
    for scope in ("bucket", "object"):
        base = f"{s3_node.s3_endpoint}/{empty}" if scope == "bucket" else f"{s3_node.s3_endpoint}/{full}/{quote(OBJ_KEY)}"
        for method in METHODS:
            want = expected_status(name, value, scope, method)
            body = b""
            if method in ("PUT", "POST"):
                body = VERSIONING_SUSPENDED if (name, method) == ("versioning", "PUT") else XML_BODY
            headers = {"x-amz-object-attributes": "ETag,ObjectSize"} if name == "attributes" else {}
            what = f"{method} {scope} ?{query}"
            r = signed_request(method, f"{base}?{query}", headers=headers, body=body)
            mutating = (name, scope, method) in MUTATING and want < 300
            if not mutating:
                # First what matters most: nothing changed (whatever the server answered).
                after = snapshot(s3, buckets)
                assert_same_state(state, after, f"{what} (HTTP {r.status_code}, expected {want})")
            assert r.status_code == want, f"{what}: HTTP {r.status_code}, expected {want}: {r.text[:400]}"
            if want == 501 and method != "HEAD":
                err = parse_s3_error(r)
                assert err.get("Code") == "NotImplemented", f"{what}: {err}"
                msg = err.get("Message", "")
                assert name in msg and method in msg, f"{what}: the message must name {name} and {method}: {msg!r}"
            if want == 404 and method != "HEAD" and name == "versionId":
                assert parse_s3_error(r).get("Code") == "NoSuchVersion", r.text[:300]
            if want == 416 and method != "HEAD":
                assert parse_s3_error(r).get("Code") == "InvalidPartNumber", r.text[:300]
            if mutating:
                if name == "uploads":
                    uid = ET.fromstring(r.content).findtext(f"{NS}UploadId")
                    s3.abort_multipart_upload(Bucket=full, Key=OBJ_KEY, UploadId=uid)
                else:
                    expect_client_error(lambda: s3.head_object(Bucket=full, Key=OBJ_KEY), "404", 404, what)
                    put_table_object(s3, full)
                state = snapshot(s3, buckets)
                continue
            if want in (200, 206) and method == "GET":
                check_served_body(name, value, scope, r)


def check_served_body(name, value, scope, r):
    """The served GETs answer their own operation, not a plainer one."""
    __tracebackhide__ = True
    if scope == "object":
        if name == "attributes":
            root = ET.fromstring(r.content)
            assert root.tag == f"{NS}GetObjectAttributesResponse", r.text[:300]
            assert root.findtext(f"{NS}ObjectSize") == str(len(OBJ_DATA))
        else:
            assert r.content == OBJ_DATA, f"?{name}={value}: {len(r.content)} bytes"
        return
    root_tag = {
        "location": "LocationConstraint",
        "uploads": "ListMultipartUploadsResult",
        "versioning": "VersioningConfiguration",
        "versions": "ListVersionsResult",
    }[name]
    root = ET.fromstring(r.content)
    assert root.tag == f"{NS}{root_tag}", f"GET ?{name}: {r.text[:300]}"


def test_table_detects_a_change(s3, table_buckets):
    """The snapshot comparison fails when a request does change something (so a row whose
    refusal was broken could not pass unnoticed)."""
    _, full = table_buckets
    before = snapshot(s3, [full])
    s3.put_object(Bucket=full, Key=OBJ_KEY, Body=XML_BODY)
    try:
        with pytest.raises(pytest.fail.Exception):
            assert_same_state(before, snapshot(s3, [full]), "an overwrite")
    finally:
        put_table_object(s3, full)


# ---- the data-losing requests through boto3's own operations --------------------------------


def test_unserved_boto3_operations_are_501_and_change_nothing(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"precious", Metadata={"a": "b"})
    s3.put_object(Bucket=bucket, Key="k2", Body=b"also precious")
    empty = unique_bucket("sub-empty-b3")
    s3.create_bucket(Bucket=empty)
    try:
        state = snapshot(s3, [bucket, empty])
        retention = {"Mode": "GOVERNANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"}
        calls = [
            ("put_object_retention", lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention=retention)),
            ("put_object_legal_hold", lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"})),
            ("restore_object", lambda: s3.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})),
            ("put_object_tagging", lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})),
            ("put_object_acl", lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")),
            ("delete_object_tagging", lambda: s3.delete_object_tagging(Bucket=bucket, Key="k")),
            ("get_object_retention", lambda: s3.get_object_retention(Bucket=bucket, Key="k")),
            ("get_object_legal_hold", lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k")),
            ("get_object_torrent", lambda: s3.get_object_torrent(Bucket=bucket, Key="k")),
            ("get_object_acl", lambda: s3.get_object_acl(Bucket=bucket, Key="k")),
            ("delete_public_access_block", lambda: s3.delete_public_access_block(Bucket=empty)),
            ("delete_bucket_ownership_controls", lambda: s3.delete_bucket_ownership_controls(Bucket=empty)),
            ("delete_bucket_metrics_configuration", lambda: s3.delete_bucket_metrics_configuration(Bucket=empty, Id="m")),
            ("delete_bucket_inventory_configuration", lambda: s3.delete_bucket_inventory_configuration(Bucket=empty, Id="i")),
            ("delete_bucket_policy", lambda: s3.delete_bucket_policy(Bucket=empty)),
            ("delete_bucket_tagging", lambda: s3.delete_bucket_tagging(Bucket=empty)),
            ("get_bucket_policy_status", lambda: s3.get_bucket_policy_status(Bucket=bucket)),
            ("get_public_access_block", lambda: s3.get_public_access_block(Bucket=bucket)),
            ("get_bucket_ownership_controls", lambda: s3.get_bucket_ownership_controls(Bucket=bucket)),
            ("get_bucket_logging", lambda: s3.get_bucket_logging(Bucket=bucket)),
            ("get_bucket_acl", lambda: s3.get_bucket_acl(Bucket=bucket)),
            ("put_public_access_block", lambda: s3.put_public_access_block(
                Bucket=empty, PublicAccessBlockConfiguration={"BlockPublicAcls": True})),
            ("put_bucket_versioning Enabled", lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})),
        ]  # fmt: skip
        for what, fn in calls:
            expect_client_error(fn, "NotImplemented", 501, what)
            assert_same_state(state, snapshot(s3, [bucket, empty]), what)
        # A PUT with versionId: no such operation; DELETE of another version: 501.
        r = signed_request("PUT", f"{s3.meta.endpoint_url}/{bucket}/k?versionId=abc", body=b"overwrite")
        assert r.status_code == 501, r.text[:300]
        expect_client_error(lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId="abc"), "NotImplemented", 501, "delete version")
        assert_same_state(state, snapshot(s3, [bucket, empty]), "versioned PUT/DELETE")
    finally:
        cleanup_bucket(s3, empty)


def test_headers_for_features_we_lack_are_501_and_change_nothing(s3, bucket):
    """Object lock, server-side encryption (SSE-S3, SSE-KMS, SSE-C), tags, ACL grants and
    canned ACLs other than private, appends (write offset) and conditional deletes, through
    boto3's own parameters: 501 NotImplemented naming the header, and nothing changes. The
    values that mean nothing here (ACL `private`, no tags, legal hold OFF) are served."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"precious", Metadata={"a": "b"})
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    key32 = base64.b64encode(b"k" * 32).decode()
    key32_md5 = base64.b64encode(hashlib.md5(b"k" * 32).digest()).decode()
    src = {"Bucket": bucket, "Key": "k"}
    put = dict(Bucket=bucket, Key="k", Body=b"overwritten")
    new = dict(Bucket=bucket, Key="new", Body=b"new")
    state = snapshot(s3, [bucket])
    calls = [
        ("x-amz-server-side-encryption", lambda: s3.put_object(**put, ServerSideEncryption="AES256")),
        ("x-amz-server-side-encryption", lambda: s3.put_object(**new, ServerSideEncryption="aws:kms", SSEKMSKeyId="k1")),
        ("x-amz-server-side-encryption", lambda: s3.copy_object(Bucket=bucket, Key="new", CopySource=src, ServerSideEncryption="AES256")),
        ("x-amz-server-side-encryption", lambda: s3.create_multipart_upload(Bucket=bucket, Key="new", ServerSideEncryption="AES256")),
        ("x-amz-server-side-encryption-customer", lambda: s3.put_object(
            **new, SSECustomerAlgorithm="AES256", SSECustomerKey=key32, SSECustomerKeyMD5=key32_md5)),
        ("x-amz-server-side-encryption-customer", lambda: s3.get_object(
            Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=key32, SSECustomerKeyMD5=key32_md5)),
        ("x-amz-object-lock-mode", lambda: s3.put_object(
            **put, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate="2030-01-01T00:00:00Z")),
        ("x-amz-object-lock-legal-hold", lambda: s3.put_object(**new, ObjectLockLegalHoldStatus="ON")),
        ("x-amz-bucket-object-lock-enabled", lambda: s3.create_bucket(Bucket=unique_bucket("lock"), ObjectLockEnabledForBucket=True)),
        ("x-amz-tagging", lambda: s3.put_object(**new, Tagging="team=a")),
        ("x-amz-tagging", lambda: s3.copy_object(
            Bucket=bucket, Key="new", CopySource=src, TaggingDirective="REPLACE", Tagging="team=a")),
        ("x-amz-acl", lambda: s3.put_object(**new, ACL="public-read")),
        ("x-amz-grant-read", lambda: s3.put_object(**new, GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')),
        ("x-amz-object-ownership", lambda: s3.create_bucket(Bucket=unique_bucket("own"), ObjectOwnership="ObjectWriter")),
        ("x-amz-write-offset-bytes", lambda: s3.put_object(**put, WriteOffsetBytes=8)),
        ("if-match", lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch='"not-the-etag"')),
        ("if-match", lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)),
        ("x-amz-if-match-size", lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=8)),
        ("conditional deletes", lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "ETag": etag}]})),
        ("conditional deletes", lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "Size": 8}]})),
        ("x-amz-checksum-sha512", lambda: s3.put_object(**put, ChecksumSHA512=base64.b64encode(b"x" * 64).decode())),
        ("x-amz-checksum-xxhash64", lambda: s3.put_object(**put, ChecksumXXHASH64=base64.b64encode(b"x" * 8).decode())),
        ("x-amz-checksum-algorithm", lambda: s3.copy_object(Bucket=bucket, Key="new", CopySource=src, ChecksumAlgorithm="SHA512")),
        ("x-amz-checksum-type", lambda: s3.create_multipart_upload(
            Bucket=bucket, Key="new", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")),
        ("x-amz-object-lock-event-hold", lambda: s3.put_object(**new, ObjectLockEventHold="ON")),
        ("archive storage classes", lambda: s3.put_object(**put, StorageClass="DEEP_ARCHIVE")),
        ("MFA delete", lambda: s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Suspended", "MFADelete": "Enabled"})),
        ("<Location>", lambda: s3.create_bucket(Bucket=unique_bucket("dirb"), CreateBucketConfiguration={
            "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
            "Bucket": {"Type": "Directory", "DataRedundancy": "SingleAvailabilityZone"}})),
        ("<Tags>", lambda: s3.create_bucket(Bucket=unique_bucket("tagb"), CreateBucketConfiguration={
            "Tags": [{"Key": "k", "Value": "v"}]})),
    ]  # fmt: skip
    for header, fn in calls:
        try:
            fn()
        except s3.exceptions.ClientError as e:
            err = e.response["Error"]
            assert (err.get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"]) == ("NotImplemented", 501), (header, err)
            assert header in err.get("Message", ""), (header, err)
        else:
            pytest.fail(f"{header}: accepted")
        assert_same_state(state, snapshot(s3, [bucket]), header)
    # Multipart: a whole-object checksum or size given to Complete, a conditional abort.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag1}]}
    for header, fn in [
        ("whole-object checksum", lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, ChecksumCRC32="AAAAAA==")),
        ("x-amz-mp-object-size", lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts, MpuObjectSize=12345)),
        ("x-amz-if-match-initiated-time", lambda: s3.abort_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=up, IfMatchInitiatedTime=datetime.datetime(2000, 1, 1))),
    ]:  # fmt: skip
        expect_client_error(fn, "NotImplemented", 501, header)
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [up]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
    assert_same_state(state, snapshot(s3, [bucket]), "multipart refusals")
    # Invalid values: 400 as AWS.
    expect_client_error(lambda: s3.put_object(**put, StorageClass="BOGUS"), "InvalidStorageClass", 400, "storage class")
    expect_client_error(lambda: s3.copy_object(Bucket=bucket, Key="new", CopySource=src, MetadataDirective="BOGUS"),
                        "InvalidArgument", 400, "metadata directive")
    r = signed_request("GET", f"{s3.meta.endpoint_url}/{bucket}?list-type=3")
    assert (r.status_code, parse_s3_error(r).get("Code")) == (400, "InvalidArgument"), r.text[:300]
    assert_same_state(state, snapshot(s3, [bucket]), "invalid values")
    # Served: values that change nothing here.
    s3.put_object(**new, ACL="private", ObjectLockLegalHoldStatus="OFF", StorageClass="STANDARD_IA")
    s3.copy_object(Bucket=bucket, Key="new2", CopySource=src, ACL="bucket-owner-full-control", TaggingDirective="COPY")
    assert s3.get_object(Bucket=bucket, Key="new2")["Body"].read() == b"precious"
    r = signed_request("PUT", f"{s3.meta.endpoint_url}/{bucket}/new3", body=b"x", headers={"x-amz-tagging": ""})
    assert r.status_code == 200, r.text[:300]


def test_list_buckets_prefix_and_pages(s3):
    tag = unique_bucket("lb")
    names = sorted(f"{tag}-{i:02d}" for i in range(5))
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        assert [b["Name"] for b in s3.list_buckets(Prefix=tag)["Buckets"]] == names
        got, token, pages = [], None, 0
        while True:
            kw = {"Prefix": tag, "MaxBuckets": 2, **({"ContinuationToken": token} if token else {})}
            r = s3.list_buckets(**kw)
            pages += 1
            got += [b["Name"] for b in r["Buckets"]]
            assert r.get("Prefix") == tag
            token = r.get("ContinuationToken")
            if not token:
                break
        assert (got, pages) == (names, 3)
        assert s3.list_buckets(Prefix=tag, BucketRegion="us-east-1")["Buckets"]
        assert s3.list_buckets(Prefix=tag, BucketRegion="eu-west-1")["Buckets"] == []
        for bad in ("0", "10001", "x"):
            r = signed_request("GET", f"{s3.meta.endpoint_url}?max-buckets={bad}")
            assert (r.status_code, parse_s3_error(r).get("Code")) == (400, "InvalidArgument"), (bad, r.text[:300])
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


def test_list_multipart_uploads_delimiter_is_501(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="d/x")
    try:
        expect_client_error(
            lambda: s3.list_multipart_uploads(Bucket=bucket, Delimiter="/"), "NotImplemented", 501, "uploads delimiter"
        )
        assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix="d/")["Uploads"]] == ["d/x"]
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="d/x", UploadId=up["UploadId"])


def test_version_id_null_is_the_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="v", Body=b"current")
    assert s3.get_object(Bucket=bucket, Key="v", VersionId="null")["Body"].read() == b"current"
    assert s3.head_object(Bucket=bucket, Key="v", VersionId="null")["ContentLength"] == 7
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="v", VersionId="xyz"), "NoSuchVersion", 404, "GET other version")
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="v", VersionId="xyz"), "404", 404, "HEAD other version")
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"current"
    s3.delete_object(Bucket=bucket, Key="v", VersionId="null")
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="v"), "404", 404, "deleted version null")


def test_delete_objects_with_version_ids(s3, bucket):
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "VersionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}, {"Key": "b", "VersionId": "null"}, {"Key": "c"}]},
    )
    errors = {e["Key"]: e for e in r.get("Errors", [])}
    deleted = {d["Key"]: d for d in r.get("Deleted", [])}
    assert set(errors) == {"a"} and errors["a"]["Code"] == "NoSuchVersion", r
    assert errors["a"].get("VersionId") == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", errors
    assert set(deleted) == {"b", "c"} and deleted["b"].get("VersionId") == "null", deleted
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a", "a VersionId that does not exist deleted the object"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == ["a"], listed


def test_unknown_query_parameters_are_501_known_ones_pass(s3, s3_node, bucket):
    s3.put_object(Bucket=bucket, Key="q", Body=b"query")
    base = f"{s3_node.s3_endpoint}/{bucket}"
    for method, url in (("GET", f"{base}/q?frobnicate=1"), ("PUT", f"{base}/q?bogus"), ("DELETE", f"{base}/q?nope="),
                        ("GET", f"{base}?list-type=2&sort=desc"), ("DELETE", f"{base}?whatever")):  # fmt: skip
        r = signed_request(method, url, body=b"x" if method == "PUT" else b"")
        assert r.status_code == 501 and parse_s3_error(r).get("Code") == "NotImplemented", (method, url, r.status_code, r.text[:300])
    assert s3.get_object(Bucket=bucket, Key="q")["Body"].read() == b"query"
    # What the AWS SDKs for Go v2 / JavaScript v3 add, and presigned-style parameters.
    r = signed_request("GET", f"{base}/q?x-id=GetObject")
    assert r.status_code == 200 and r.content == b"query", r.text[:300]
    r = signed_request("PUT", f"{base}/q2?x-id=PutObject", body=b"two")
    assert r.status_code == 200, r.text[:300]
    r = signed_request("GET", f"{base}?list-type=2&prefix=q&max-keys=10&encoding-type=url&fetch-owner=true&start-after=")
    assert r.status_code == 200 and r.text.count("<Key>") == 2, r.text[:500]
    # Response header overrides.
    g = s3.get_object(Bucket=bucket, Key="q", ResponseContentType="text/x-over", ResponseContentDisposition="attachment; filename=q.txt",
                      ResponseCacheControl="no-store")  # fmt: skip
    assert g["ContentType"] == "text/x-over" and g["ContentDisposition"] == "attachment; filename=q.txt", g
    assert g["CacheControl"] == "no-store" and g["Body"].read() == b"query"


# ---- conditional writes --------------------------------------------------------------------


def test_put_if_none_match_star(s3, bucket):
    s3.put_object(Bucket=bucket, Key="new", Body=b"first", IfNoneMatch="*")
    before = snapshot(s3, [bucket])
    expect_client_error(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"second", IfNoneMatch="*"),
                        "PreconditionFailed", 412, "If-None-Match: * on an existing key")  # fmt: skip
    # Same content as the existing object: still refused (no identical-content shortcut).
    expect_client_error(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"first", IfNoneMatch="*"),
                        "PreconditionFailed", 412, "If-None-Match: * with identical content")  # fmt: skip
    assert_same_state(before, snapshot(s3, [bucket]), "refused If-None-Match PUTs")
    # Only `*` is supported on writes.
    expect_client_error(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x", IfNoneMatch='"abc"'),
                        "NotImplemented", 501, "If-None-Match: <etag> on PUT")  # fmt: skip
    assert_same_state(before, snapshot(s3, [bucket]), "If-None-Match: <etag>")


def test_put_if_match(s3, bucket):
    e1 = s3.put_object(Bucket=bucket, Key="m", Body=b"one")["ETag"]
    before = snapshot(s3, [bucket])
    expect_client_error(lambda: s3.put_object(Bucket=bucket, Key="m", Body=b"two", IfMatch='"0123456789abcdef0123456789abcdef"'),
                        "PreconditionFailed", 412, "If-Match with a wrong ETag")  # fmt: skip
    expect_client_error(lambda: s3.put_object(Bucket=bucket, Key="missing", Body=b"two", IfMatch=e1),
                        "PreconditionFailed", 412, "If-Match on a missing key")  # fmt: skip
    assert_same_state(before, snapshot(s3, [bucket]), "refused If-Match PUTs")
    e2 = s3.put_object(Bucket=bucket, Key="m", Body=b"two", IfMatch=e1)["ETag"]
    assert e2 == f'"{md5_hex(b"two")}"'
    s3.put_object(Bucket=bucket, Key="m", Body=b"three", IfMatch=unquote_etag(e2))
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"three"


def test_if_none_match_race_has_one_winner(s3_node, bucket):
    """Concurrent If-None-Match: * PUTs of one new key: exactly one succeeds, every other gets
    412, and the object is the winner's."""
    n = 8
    clients = [boto3_client(s3_node.s3_endpoint) for _ in range(n)]
    bodies = [det_bytes(f"race-{i}", 256 * 1024 + i) for i in range(n)]

    def put(i):
        from botocore.exceptions import ClientError

        try:
            clients[i].put_object(Bucket=bucket, Key="race", Body=bodies[i], IfNoneMatch="*")
            return i, None
        except ClientError as e:
            return i, error_code(e)

    for round_ in range(3):
        key_results = list(concurrent.futures.ThreadPoolExecutor(n).map(put, range(n)))
        winners = [i for i, err in key_results if err is None]
        losers = [err for _, err in key_results if err is not None]
        if round_ == 0:
            assert len(winners) == 1, f"{len(winners)} If-None-Match writers succeeded: {key_results}"
            assert all(e == ("PreconditionFailed", 412) for e in losers), losers
            got = clients[0].get_object(Bucket=bucket, Key="race")["Body"].read()
            assert got == bodies[winners[0]]
        else:
            assert not winners and all(e == ("PreconditionFailed", 412) for e in losers), key_results


def test_if_match_race_has_one_winner(s3_node, bucket):
    """Concurrent If-Match PUTs naming the same current ETag (compare-and-swap): exactly one
    replaces the object, every other gets 412, and the object is the winner's (no lost
    update: the commit re-checks the object atomically with its rename)."""
    n = 8
    clients = [boto3_client(s3_node.s3_endpoint) for _ in range(n)]
    for round_ in range(4):
        base = clients[0].put_object(Bucket=bucket, Key="cas", Body=det_bytes(f"cas-base-{round_}", 1000))["ETag"]
        bodies = [det_bytes(f"cas-{round_}-{i}", 256 * 1024 + i) for i in range(n)]

        def put(i):
            from botocore.exceptions import ClientError

            try:
                clients[i].put_object(Bucket=bucket, Key="cas", Body=bodies[i], IfMatch=base)
                return i, None
            except ClientError as e:
                return i, error_code(e)

        results = list(concurrent.futures.ThreadPoolExecutor(n).map(put, range(n)))
        winners = [i for i, err in results if err is None]
        assert len(winners) == 1, f"round {round_}: {len(winners)} If-Match writers succeeded: {results}"
        assert all(e == ("PreconditionFailed", 412) for _, e in results if e is not None), results
        assert clients[0].get_object(Bucket=bucket, Key="cas")["Body"].read() == bodies[winners[0]]


def upload_parts(s3, bucket, key, parts, **create_kw):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_kw)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=p)["ETag"] for n, p in enumerate(parts, 1)]
    return uid, {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]}


def test_complete_multipart_conditional(s3, bucket):
    parts = [det_bytes("cmp1", 5 * MiB), det_bytes("cmp2", 1000)]
    s3.put_object(Bucket=bucket, Key="mp", Body=b"existing")
    uid, mpu = upload_parts(s3, bucket, "mp", parts)
    before = snapshot(s3, [bucket])
    expect_client_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload=mpu, IfNoneMatch="*"),
                        "PreconditionFailed", 412, "Complete with If-None-Match: * on an existing key")  # fmt: skip
    expect_client_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload=mpu,
                                                             IfMatch='"0123456789abcdef0123456789abcdef"'),
                        "PreconditionFailed", 412, "Complete with a wrong If-Match")  # fmt: skip
    assert_same_state(before, snapshot(s3, [bucket]), "refused conditional Completes (the upload stays)")
    etag = s3.head_object(Bucket=bucket, Key="mp")["ETag"]
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload=mpu, IfMatch=etag)
    assert unquote_etag(r["ETag"]) == multipart_etag(parts)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)
    # If-None-Match: * on a new key completes.
    uid, mpu = upload_parts(s3, bucket, "mp-new", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp-new", UploadId=uid, MultipartUpload=mpu, IfNoneMatch="*")
    assert s3.head_object(Bucket=bucket, Key="mp-new")["ContentLength"] == 5 * MiB + 1000


def test_copy_object_conditional(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    s3.put_object(Bucket=bucket, Key="dst", Body=b"destination")
    before = snapshot(s3, [bucket])
    src = {"Bucket": bucket, "Key": "src"}
    expect_client_error(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, IfNoneMatch="*"),
                        "PreconditionFailed", 412, "CopyObject If-None-Match: * on an existing key")  # fmt: skip
    expect_client_error(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, IfMatch='"0123456789abcdef0123456789abcdef"'),
                        "PreconditionFailed", 412, "CopyObject wrong If-Match")  # fmt: skip
    assert_same_state(before, snapshot(s3, [bucket]), "refused conditional copies")
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=src, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"source"
    expect_client_error(lambda: s3.copy_object(Bucket=bucket, Key="dst3", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "v9"}),
                        "NoSuchVersion", 404, "copy source of another version")  # fmt: skip


# ---- bucket names --------------------------------------------------------------------------


def test_s3_bucket_naming_rules(s3, s3_node):
    names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    for bad in ("ab", "a" * 64, "Upper-case", "under_score", "-leading", "trailing-", "two..dots", "192.168.5.4",
                "xn--punycode", "name-s3alias", ".dot"):  # fmt: skip
        expect_client_error(lambda: s3.create_bucket(Bucket=bad), "InvalidBucketName", 400, f"CreateBucket {bad!r}")
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == names, "a refused CreateBucket created a bucket"
    # The shortest and longest valid names.
    tag = unique_bucket("x")[-10:]
    for good in (tag[-3:], ("s3t-" + tag + "-" + "n" * 63)[:63]):
        s3.create_bucket(Bucket=good)
        s3.head_bucket(Bucket=good)
        s3.delete_bucket(Bucket=good)
    # The native API keeps AIS's rules: a 2-character bucket is fine there, and S3 serves it.
    short = "z" + tag[-1]
    r = requests.post(f"{s3_node.endpoint}/v1/buckets/{short}?provider=ais", json={"action": "create-bck"}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    try:
        s3.head_bucket(Bucket=short)
        s3.put_object(Bucket=short, Key="k", Body=b"v")
        assert s3.get_object(Bucket=short, Key="k")["Body"].read() == b"v"
        s3.delete_object(Bucket=short, Key="k")
    finally:
        requests.delete(f"{s3_node.endpoint}/v1/buckets/{short}?provider=ais", json={"action": "destroy-bck"}, timeout=30)


# ---- authentication forms ------------------------------------------------------------------


def presign_default(endpoint, access=ACCESS_KEY, secret=SECRET_KEY, **params):
    """A URL from boto3's `generate_presigned_url` with a plain client (SigV2 query auth)."""
    c = boto3_client(endpoint, access_key=access, secret_key=secret)
    return c.generate_presigned_url("get_object", Params=params, ExpiresIn=600)


def test_boto3_default_presigned_get_on_anonymous_node(s3_anon_node):
    s3 = boto3_client(s3_anon_node.s3_endpoint)
    name = unique_bucket("presign-anon")
    s3.create_bucket(Bucket=name)
    try:
        data = det_bytes("presign-anon", 70000)
        s3.put_object(Bucket=name, Key="p/obj", Body=data)
        url = presign_default(s3_anon_node.s3_endpoint, Bucket=name, Key="p/obj")
        assert "Signature=" in url and "AWSAccessKeyId=" in url, url
        r = requests.get(url, timeout=30)
        assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:300])
        # Anonymous: any signature is ignored, including a wrong one, and a SigV4 one.
        r = requests.get(presign_default(s3_anon_node.s3_endpoint, secret="wrong", Bucket=name, Key="p/obj"), timeout=30)
        assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:300])
        v4 = boto3_client(s3_anon_node.s3_endpoint, signature_version="s3v4")
        r = requests.get(v4.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p/obj"}), timeout=30)
        assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:300])
        # SigV2 header auth, and an Authorization header we do not know at all.
        v2 = boto3_client(s3_anon_node.s3_endpoint, signature_version="s3")
        assert v2.get_object(Bucket=name, Key="p/obj")["Body"].read() == data
        r = requests.get(f"{s3_anon_node.s3_endpoint}/{name}/p/obj", headers={"Authorization": "Bearer xyz"}, timeout=30)
        assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:300])
    finally:
        cleanup_bucket(s3, name)


def test_boto3_default_presigned_get_with_keys(s3, s3_node, bucket):
    data = det_bytes("presign-keys", 5000)
    s3.put_object(Bucket=bucket, Key="p q/obj+1", Body=data)
    url = presign_default(s3_node.s3_endpoint, Bucket=bucket, Key="p q/obj+1")
    assert "Signature=" in url, url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == data, (r.status_code, r.text[:300])
    # A signed sub-resource (response override) is covered by the signature.
    url = presign_default(s3_node.s3_endpoint, Bucket=bucket, Key="p q/obj+1", ResponseContentType="text/x-pre")
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/x-pre", (r.status_code, r.text[:300])
    r = requests.get(url.replace("text%2Fx-pre", "text%2Fx-other"), timeout=30)
    assert r.status_code == 403 and parse_s3_error(r)["Code"] == "SignatureDoesNotMatch", r.text[:300]
    r = requests.get(presign_default(s3_node.s3_endpoint, secret="wrong", Bucket=bucket, Key="p q/obj+1"), timeout=30)
    assert r.status_code == 403 and parse_s3_error(r)["Code"] == "SignatureDoesNotMatch", r.text[:300]


def test_sigv2_header_auth_with_boto3(s3, s3_node, bucket):
    """botocore still signs with the legacy HMAC-SHA1 header when asked
    (`signature_version="s3"`): every kind of request verifies."""
    v2 = boto3_client(s3_node.s3_endpoint, signature_version="s3")
    data = det_bytes("sigv2", 6 * MiB + 5)
    v2.put_object(Bucket=bucket, Key="v2/a b", Body=data, Metadata={"x": "y"}, ContentType="text/x-v2")
    g = v2.get_object(Bucket=bucket, Key="v2/a b")
    assert g["Body"].read() == data and g["Metadata"] == {"x": "y"}
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=bucket, Prefix="v2/")["Contents"]] == ["v2/a b"]
    uid, mpu = upload_parts(v2, bucket, "v2/mp", [data[: 5 * MiB], data[5 * MiB :]])
    assert [p["PartNumber"] for p in v2.list_parts(Bucket=bucket, Key="v2/mp", UploadId=uid)["Parts"]] == [1, 2]
    v2.complete_multipart_upload(Bucket=bucket, Key="v2/mp", UploadId=uid, MultipartUpload=mpu)
    assert s3.get_object(Bucket=bucket, Key="v2/mp")["Body"].read() == data
    v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v2/mp"}]})
    v2.delete_object(Bucket=bucket, Key="v2/a b")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="v2/")
    bad = boto3_client(s3_node.s3_endpoint, signature_version="s3", secret_key=SECRET_KEY + "x")
    expect_client_error(lambda: bad.put_object(Bucket=bucket, Key="v2/bad", Body=b"x"), "SignatureDoesNotMatch", 403, "SigV2, wrong secret")
    other = boto3_client(s3_node.s3_endpoint, signature_version="s3", access_key="AKIAUNKNOWN000000000")
    expect_client_error(lambda: other.list_buckets(), "InvalidAccessKeyId", 403, "SigV2, unknown key")
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="v2/bad"), "404", 404, "refused SigV2 PUT stored nothing")


def sigv2_header(method, path, date, secret=SECRET_KEY, content_type="", amz=""):
    sts = f"{method}\n\n{content_type}\n{date}\n{amz}{path}"
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    return f"AWS {ACCESS_KEY}:{sig}"


def test_sigv2_header_raw_requests(s3, s3_node, bucket):
    url = f"{s3_node.s3_endpoint}/{bucket}/raw"
    date = formatdate(usegmt=True)
    # Signed over our full path, and over the path without /s3 (as clients given .../s3 sign).
    for path in (f"/s3/{bucket}/raw", f"/{bucket}/raw"):
        h = {"Date": date, "Content-Type": "text/plain", "Authorization": sigv2_header("PUT", path, date, content_type="text/plain")}
        r = requests.put(url, data=b"raw v2", headers=h, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    # x-amz-date instead of Date: the date line is empty.
    amz_date = formatdate(usegmt=True)
    h = {"x-amz-date": amz_date, "Authorization": sigv2_header("GET", f"/{bucket}/raw", "", amz=f"x-amz-date:{amz_date}\n")}
    r = requests.get(url, headers=h, timeout=30)
    assert r.status_code == 200 and r.content == b"raw v2", (r.status_code, r.text[:300])
    # A sub-resource is part of the signed resource.
    h = {"Date": date, "Authorization": sigv2_header("GET", f"/{bucket}?location", date)}
    r = requests.get(f"{s3_node.s3_endpoint}/{bucket}?location", headers=h, timeout=30)
    assert r.status_code == 200, r.text[:300]
    h = {"Date": date, "Authorization": sigv2_header("GET", f"/{bucket}", date)}
    r = requests.get(f"{s3_node.s3_endpoint}/{bucket}?location", headers=h, timeout=30)
    assert r.status_code == 403 and parse_s3_error(r)["Code"] == "SignatureDoesNotMatch", r.text[:300]
    # A stale date.
    old = formatdate(time.time() - 3600, usegmt=True)
    h = {"Date": old, "Authorization": sigv2_header("GET", f"/{bucket}/raw", old)}
    r = requests.get(url, headers=h, timeout=30)
    assert r.status_code == 403 and parse_s3_error(r)["Code"] == "RequestTimeTooSkewed", r.text[:300]
    # Malformed.
    r = requests.get(url, headers={"Date": date, "Authorization": "AWS no-colon"}, timeout=30)
    assert r.status_code == 400 and parse_s3_error(r)["Code"] == "AuthorizationHeaderMalformed", r.text[:300]


@pytest.mark.parametrize("auth", ["with-keys", "anonymous"])
def test_s3cmd_signature_v2(request, auth, tmp_path):
    node = request.getfixturevalue("s3_node" if auth == "with-keys" else "s3_anon_node")
    cfg = s3cmd_config(tmp_path / "s3cfg", node, signature_v2=True)
    env = s3cmd_env()
    name = unique_bucket(f"s3cmd-v2-{auth}")
    small = tmp_path / "small.txt"
    small.write_bytes(b"s3cmd with signature v2\n")
    run_tool(s3cmd_cmd(cfg, "mb", f"s3://{name}"), env)
    try:
        run_tool(s3cmd_cmd(cfg, "put", str(small), f"s3://{name}/d/small.txt"), env)
        p, _ = run_tool(s3cmd_cmd(cfg, "ls", "-r", f"s3://{name}"), env)
        assert f"s3://{name}/d/small.txt" in p.stdout.decode(), p.stdout
        back = tmp_path / "back.txt"
        run_tool(s3cmd_cmd(cfg, "get", "--force", f"s3://{name}/d/small.txt", str(back)), env)
        assert back.read_bytes() == small.read_bytes()
        run_tool(s3cmd_cmd(cfg, "del", f"s3://{name}/d/small.txt"), env)
    finally:
        run_tool(s3cmd_cmd(cfg, "rb", f"s3://{name}"), env, check=False)


# ---- GetObjectAttributes, partNumber -------------------------------------------------------

ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_get_object_attributes(s3, bucket):
    data = det_bytes("attrs", 12345)
    s3.put_object(Bucket=bucket, Key="plain", Body=data)
    a = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=ALL_ATTRIBUTES)
    assert a["ETag"] == md5_hex(data) and a["ObjectSize"] == len(data) and a["StorageClass"] == "STANDARD", a
    assert "ObjectParts" not in a and "LastModified" in a, a
    a = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectSize"])
    assert a["ObjectSize"] == len(data) and "ETag" not in a and "StorageClass" not in a, a
    parts = [det_bytes("attr-p1", 5 * MiB), det_bytes("attr-p2", 5 * MiB), det_bytes("attr-p3", 7)]
    uid, mpu = upload_parts(s3, bucket, "multi", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=uid, MultipartUpload=mpu)
    a = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=ALL_ATTRIBUTES)
    assert a["ETag"] == multipart_etag(parts) and a["ObjectSize"] == 10 * MiB + 7, a
    assert a["ObjectParts"]["TotalPartsCount"] == 3, a
    expect_client_error(lambda: s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"]), "NoSuchKey", 404, "missing key")
    expect_client_error(lambda: s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["Bogus"]),
                        "InvalidArgument", 400, "unknown attribute")  # fmt: skip


def test_part_number_of_a_plain_object(s3, bucket):
    data = det_bytes("pn-plain", 4321)
    s3.put_object(Bucket=bucket, Key="plain", Body=data)
    g = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206 and g["Body"].read() == data
    assert g["ContentRange"] == f"bytes 0-{len(data) - 1}/{len(data)}" and "PartsCount" not in g, g
    h = s3.head_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert h["ContentLength"] == len(data) and "PartsCount" not in h, h
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="plain", PartNumber=2), "InvalidPartNumber", 416, "part 2 of 1")
    expect_client_error(lambda: s3.head_object(Bucket=bucket, Key="plain", PartNumber=3), "416", 416, "HEAD part 3 of 1")
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="plain", PartNumber=1, Range="bytes=0-1"),
                        "InvalidRequest", 400, "Range and partNumber")  # fmt: skip
    r = signed_request("GET", f"{s3.meta.endpoint_url}/{bucket}/plain?partNumber=0")
    assert r.status_code == 400 and parse_s3_error(r)["Code"] == "InvalidArgument", r.text[:300]


def test_part_number_of_a_multipart_object(s3, bucket):
    parts = [det_bytes("pn1", 5 * MiB), det_bytes("pn2", 5 * MiB), det_bytes("pn3", 123)]
    uid, mpu = upload_parts(s3, bucket, "mp", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload=mpu)
    start = 0
    for n, p in enumerate(parts, 1):
        g = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert g["Body"].read() == p, f"part {n}"
        assert g["PartsCount"] == 3 and g["ContentRange"] == f"bytes {start}-{start + len(p) - 1}/{10 * MiB + 123}", g
        assert unquote_etag(g["ETag"]) == multipart_etag(parts)
        h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert h["ContentLength"] == len(p) and h["PartsCount"] == 3, h
        start += len(p)
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=4), "InvalidPartNumber", 416, "part 4 of 3")
    assert "PartsCount" not in s3.head_object(Bucket=bucket, Key="mp"), "PartsCount only with partNumber"
    # Parts of different sizes: the part boundaries are not kept, so not served by number.
    odd = [det_bytes("odd1", 6 * MiB), det_bytes("odd2", 5 * MiB), det_bytes("odd3", 1)]
    uid, mpu = upload_parts(s3, bucket, "odd", odd)
    s3.complete_multipart_upload(Bucket=bucket, Key="odd", UploadId=uid, MultipartUpload=mpu)
    expect_client_error(lambda: s3.get_object(Bucket=bucket, Key="odd", PartNumber=2), "NotImplemented", 501, "uneven parts")
    assert s3.get_object(Bucket=bucket, Key="odd")["Body"].read() == b"".join(odd)


# ---- ListObjectVersions --------------------------------------------------------------------


def test_list_object_versions(s3, bucket):
    keys = sorted(["a/1", "a/2", "a/b/3", "b/4", "c", "d/5", "d/6", "e"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode() * 3)
    r = s3.list_object_versions(Bucket=bucket)
    assert [v["Key"] for v in r["Versions"]] == keys and not r["IsTruncated"], r
    for v in r["Versions"]:
        assert v["VersionId"] == "null" and v["IsLatest"] is True and v["Size"] == 3 * len(v["Key"]), v
        assert unquote_etag(v["ETag"]) == md5_hex(v["Key"].encode() * 3)
    assert "DeleteMarkers" not in r
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {v["Key"]: v["ETag"] for v in r["Versions"]} == {k: o["ETag"] for k, o in listed.items()}
    # Prefix and delimiter.
    r = s3.list_object_versions(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [v["Key"] for v in r["Versions"]] == ["a/1", "a/2"] and [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"], r
    # Paging with max-keys through the paginator (key-marker / version-id-marker).
    pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3, [p.get("NextKeyMarker") for p in pages]
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == keys
    assert pages[0]["IsTruncated"] and pages[0]["NextKeyMarker"] == keys[2] and pages[0]["NextVersionIdMarker"] == "null"
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="c", VersionIdMarker="null")
    assert [v["Key"] for v in r["Versions"]] == ["d/5", "d/6", "e"], r
    expect_client_error(lambda: s3.list_object_versions(Bucket=bucket, KeyMarker="c", VersionIdMarker="v1"),
                        "InvalidArgument", 400, "version-id-marker that does not exist")  # fmt: skip


# ---- re-sent Complete, UploadPartCopy ------------------------------------------------------


def test_resent_complete_multipart_upload(s3, bucket):
    parts = [det_bytes("re1", 5 * MiB), det_bytes("re2", 17)]
    uid, mpu = upload_parts(s3, bucket, "re", parts)
    first = s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload=mpu)
    again = s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload=mpu)
    for k in ("ETag", "Bucket", "Key", "Location"):
        assert first[k] == again[k], (k, first, again)
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"".join(parts)
    # Another part list, or an object replaced since: the upload is gone.
    other = {"Parts": [dict(mpu["Parts"][0])]}
    expect_client_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload=other),
                        "NoSuchUpload", 404, "re-sent Complete with other parts")  # fmt: skip
    s3.put_object(Bucket=bucket, Key="re", Body=b"replaced")
    expect_client_error(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload=mpu),
                        "NoSuchUpload", 404, "re-sent Complete after the object was replaced")  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"replaced"


def test_upload_part_copy(s3, bucket):
    src = det_bytes("upc-src", 11 * MiB + 7)
    s3.put_object(Bucket=bucket, Key="src obj", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    ranges = [(0, 5 * MiB - 1), (5 * MiB, 10 * MiB - 1), (10 * MiB, len(src) - 1)]
    etags = []
    for n, (a, b) in enumerate(ranges, 1):
        r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=n,
                                CopySource={"Bucket": bucket, "Key": "src obj"}, CopySourceRange=f"bytes={a}-{b}")  # fmt: skip
        assert unquote_etag(r["CopyPartResult"]["ETag"]) == md5_hex(src[a : b + 1])
        etags.append(r["CopyPartResult"]["ETag"])
    # A whole-object part copy (no range), then replaced by the ranged one above.
    expect_client_error(lambda: s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=4,
                                                    CopySource={"Bucket": bucket, "Key": "src obj"}, CopySourceRange=f"bytes=5-{len(src)}"),
                        "InvalidArgument", 400, "range past the end")  # fmt: skip
    expect_client_error(lambda: s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=4,
                                                    CopySource={"Bucket": bucket, "Key": "nope"}),
                        "NoSuchKey", 404, "missing source")  # fmt: skip
    expect_client_error(lambda: s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=4,
                                                    CopySource={"Bucket": bucket, "Key": "src obj"}, CopySourceIfMatch='"0000"'),
                        "PreconditionFailed", 412, "copy-source If-Match")  # fmt: skip
    parts = s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2, 3], parts
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})  # fmt: skip
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Body"].read() == src
    assert unquote_etag(g["ETag"]) == multipart_etag([src[a : b + 1] for a, b in ranges])


def test_aws_cli_server_side_copy_of_12_mib(s3, s3_node, bucket):
    """`aws s3 cp s3://b/big s3://b/big2`: above the CLI's 8 MiB threshold the copy is a
    multipart upload of UploadPartCopy parts (the result's ETag says so). (The aws CLI v1
    does not carry metadata over in a multipart copy; v2's --copy-props does.)"""
    data = det_bytes("aws-cp", 12 * MiB)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    env = aws_env()
    p, _ = run_tool(aws_cmd(s3_node.s3_endpoint, "s3", "cp", f"s3://{bucket}/big", f"s3://{bucket}/big2"), env)
    g = s3.get_object(Bucket=bucket, Key="big2")
    assert hashlib.sha256(g["Body"].read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert unquote_etag(g["ETag"]) == multipart_etag([data[: 8 * MiB], data[8 * MiB :]]), g["ETag"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# ---- through a cluster: 1 proxy, 2 targets -------------------------------------------------


def test_cluster_copy_across_targets_and_refusals_through_the_proxy(aisnode_binary, tmp_path):
    """CopyObject and UploadPartCopy whose source lives on another target (read from its owner
    through the native API), and the sub-resource refusals, DeleteObjects version IDs and
    ListObjectVersions through the proxy (object requests are streamed to their target, bucket
    requests are served by the proxy)."""
    from clusterutil import Cluster

    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, mountpaths=1, target_cores=1)
    try:
        c.start()
        s3 = boto3_client(f"{c.primary.endpoint}/s3")
        b = unique_bucket("sub-cluster")
        s3.create_bucket(Bucket=b)
        data = det_bytes("cluster-src", 5 * MiB + 11)
        n = 12  # with 2 targets, some sources surely (1 - 2**-12) live on the other target than their copy
        for i in range(n):
            s3.put_object(Bucket=b, Key=f"src{i}", Body=data, Metadata={"i": str(i)})
        for i in range(n):
            s3.copy_object(Bucket=b, Key=f"dst{i}", CopySource={"Bucket": b, "Key": f"src{i}"})
            g = s3.get_object(Bucket=b, Key=f"dst{i}")
            assert g["Body"].read() == data and g["Metadata"] == {"i": str(i)}, f"dst{i}"
        uid = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
        etags = []
        for i in range(n):
            r = s3.upload_part_copy(Bucket=b, Key="mp", UploadId=uid, PartNumber=i + 1, CopySource={"Bucket": b, "Key": f"src{i}"},
                                    CopySourceRange=f"bytes=0-{5 * MiB - 1}")  # fmt: skip
            etags.append(r["CopyPartResult"]["ETag"])
        s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": k, "ETag": e} for k, e in enumerate(etags, 1)]})  # fmt: skip
        g = s3.get_object(Bucket=b, Key="mp")
        assert g["Body"].read() == data[: 5 * MiB] * n
        assert unquote_etag(g["ETag"]) == multipart_etag([data[: 5 * MiB]] * n)
        expect_client_error(lambda: s3.copy_object(Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "missing"}),
                            "NoSuchKey", 404, "missing source")  # fmt: skip
        state = snapshot(s3, [b])
        retention = {"Mode": "GOVERNANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"}
        for i in range(3):
            expect_client_error(lambda: s3.put_object_retention(Bucket=b, Key=f"src{i}", Retention=retention),
                                "NotImplemented", 501, "PutObjectRetention through the proxy")  # fmt: skip
            expect_client_error(lambda: s3.delete_object_tagging(Bucket=b, Key=f"src{i}"), "NotImplemented", 501, "tagging")
        expect_client_error(lambda: s3.delete_bucket_ownership_controls(Bucket=b), "NotImplemented", 501, "bucket sub-resource")
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "src0", "VersionId": "v1"}, {"Key": "src1", "VersionId": "v2"}]})
        assert {e["Key"]: e["Code"] for e in r["Errors"]} == {"src0": "NoSuchVersion", "src1": "NoSuchVersion"}, r
        assert_same_state(state, snapshot(s3, [b]), "refusals through the proxy")
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=b, PaginationConfig={"PageSize": 5}))
        listed = [v["Key"] for p in pages for v in p.get("Versions", [])]
        assert listed == sorted([f"src{i}" for i in range(n)] + [f"dst{i}" for i in range(n)] + ["mp"]), listed
        expect_client_error(lambda: s3.create_bucket(Bucket="ab"), "InvalidBucketName", 400, "S3 name rules on the proxy")
        # ListMultipartUploads through the proxy: uploads live on their objects' owners (both
        # targets surely hold some of 12); the proxy merges them in (key, upload ID) order.
        ups = sorted((f"up{i}", s3.create_multipart_upload(Bucket=b, Key=f"up{i}")["UploadId"]) for i in range(n))
        got = [(u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=b)["Uploads"]]
        assert got == ups, got
        paged = s3.list_multipart_uploads(Bucket=b, MaxUploads=5, Prefix="up1")
        assert [u["Key"] for u in paged["Uploads"]] == ["up1", "up10", "up11"] and not paged["IsTruncated"], paged
        first = s3.list_multipart_uploads(Bucket=b, MaxUploads=5)
        assert first["IsTruncated"] and [(u["Key"], u["UploadId"]) for u in first["Uploads"]] == ups[:5]
        rest = s3.list_multipart_uploads(Bucket=b, KeyMarker=first["NextKeyMarker"],
                                         UploadIdMarker=first["NextUploadIdMarker"])
        assert [(u["Key"], u["UploadId"]) for u in rest["Uploads"]] == ups[5:]
        for k, u in ups:
            s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=u)
        assert s3.list_multipart_uploads(Bucket=b).get("Uploads", []) == []
        cleanup_bucket(s3, b)
    finally:
        c.close()
