"""A bucket's `access` prop (AIS `apc.AccessAttrs`, issue 18's permission bits) is enforced as AIS
enforces it without client authentication: reading, listing, PATCH and ACL changes always pass;
writes, appends, deletes, metadata updates, copies into the bucket and destroying it need their
bits and are refused with 403 naming the operation, through the native API (SDK, raw HTTP) and
S3 (boto3). Every refused request changes nothing.

Before this the prop was stored and shown but never checked: a read-only bucket took PUTs.
"""

import json

import pytest
import requests
from aistore.sdk.errors import AISError

from aisutil import det_bytes, make_client, obj_url
from clusterutil import Cluster
from s3util import boto3_client, expect_client_error, s3_node  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(300)

TIMEOUT_S = 30
RO = 771  # GET, HEAD-OBJECT, HEAD-BUCKET, LIST-OBJECTS
ALL = (1 << 64) - 1


def set_access(endpoint, bucket, access):
    r = requests.patch(f"{endpoint}/v1/buckets/{bucket}",
                       json={"action": "set-bprops", "value": {"access": str(access)}}, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    r = requests.head(f"{endpoint}/v1/buckets/{bucket}", timeout=TIMEOUT_S)
    assert r.status_code == 200
    assert json.loads(r.headers["Ais-Bucket-Props"])["access"] == str(access)


def denied(r, op):
    """A 403 naming the operation, in AIS's words."""
    __tracebackhide__ = True
    assert r.status_code == 403, (r.status_code, r.text, r.headers.get("Hdr-Error"))
    msg = r.text or r.headers.get("Hdr-Error", "")
    assert f"{op} access denied" in msg, msg


def state(client, bucket):
    """name -> bytes of every object of `bucket`."""
    b = client.bucket(bucket)
    return {e.name: b.object(e.name).get_reader().read_all() for e in b.list_all_objects()}


def exercise_read_only(endpoint, bucket, other):
    """With `bucket` read-only: reads pass, every write kind is refused and changes nothing."""
    client = make_client(endpoint)
    before = state(client, bucket)
    assert before, "the bucket has objects"
    name = sorted(before)[0]
    url = obj_url(endpoint, bucket, name)

    # Reads, listing and bucket HEAD pass.
    assert client.bucket(bucket).object(name).get_reader().read_all() == before[name]
    assert requests.head(url, allow_redirects=True, timeout=TIMEOUT_S).status_code == 200
    assert sorted(e.name for e in client.bucket(bucket).list_all_objects()) == sorted(before)

    # Every kind of write is refused by name.
    denied(requests.put(url, data=b"new", allow_redirects=False, timeout=TIMEOUT_S), "PUT")
    # A forged redirect marker on the proxy's port changes nothing.
    denied(requests.put(url + "&pid=x&utm=1", data=b"new", allow_redirects=True, timeout=TIMEOUT_S), "PUT")
    denied(requests.put(obj_url(endpoint, bucket, "brand-new"), data=b"x", allow_redirects=False,
                        timeout=TIMEOUT_S), "PUT")
    denied(requests.put(url + "&append_type=append", data=b"tail", allow_redirects=False, timeout=TIMEOUT_S),
           "APPEND")
    denied(requests.delete(url, allow_redirects=False, timeout=TIMEOUT_S), "DELETE-OBJECT")
    denied(requests.patch(url, json={"action": "", "value": {"color": "red"}}, allow_redirects=False,
                          timeout=TIMEOUT_S), "UPDATE-OBJECT")
    with pytest.raises(AISError) as e:
        client.bucket(bucket).object("via-sdk").get_writer().put_content(b"sdk")
    assert e.value.status_code == 403
    r = requests.delete(f"{endpoint}/v1/buckets/{bucket}",
                        json={"action": "delete-listrange", "value": {"objnames": [name]}}, timeout=TIMEOUT_S)
    denied(r, "DELETE-OBJECT")
    r = requests.delete(f"{endpoint}/v1/buckets/{bucket}", json={"action": "destroy-bck"}, timeout=TIMEOUT_S)
    denied(r, "DESTROY-BUCKET")
    # A copy into the read-only bucket is refused; a copy out of it is a read.
    src_url = obj_url(endpoint, other, "src")
    r = requests.put(src_url + f"&object_to=ais/@%23/{bucket}/copied", allow_redirects=True, timeout=TIMEOUT_S)
    denied(r, "PUT")
    r = requests.post(f"{endpoint}/v1/buckets/{other}?bck_to=ais/@%23/{bucket}/",
                      json={"action": "copy-bck", "value": {}}, timeout=TIMEOUT_S)
    denied(r, "PUT")
    r = requests.put(url + f"&object_to=ais/@%23/{other}/copied-out", allow_redirects=True, timeout=TIMEOUT_S)
    assert r.status_code == 200, r.text
    assert client.bucket(other).object("copied-out").get_reader().read_all() == before[name]

    # Nothing changed, and the bucket is still there.
    assert state(client, bucket) == before
    # PATCH always passes (a bucket cannot be locked against its own repair): writes work again.
    set_access(endpoint, bucket, ALL)
    client.bucket(bucket).object("after").get_writer().put_content(b"ok")
    assert client.bucket(bucket).object("after").get_reader().read_all() == b"ok"
    client.bucket(bucket).object("after").delete()


def fill(endpoint, bucket, other):
    client = make_client(endpoint)
    client.bucket(bucket).create(exist_ok=True)
    client.bucket(other).create(exist_ok=True)
    for i in range(5):
        client.bucket(bucket).object(f"o{i}").get_writer().put_content(det_bytes(f"{bucket}{i}", 1000 * i + 1))
    client.bucket(other).object("src").get_writer().put_content(b"source")


def test_read_only_bucket_on_one_node(module_node):
    ep = module_node.endpoint
    fill(ep, "ro-one", "rw-one")
    set_access(ep, "ro-one", RO)
    exercise_read_only(ep, "ro-one", "rw-one")


def test_single_bits(module_node):
    """Each bit alone: a bucket without DELETE-OBJECT takes PUTs but refuses deletes, and the reverse."""
    ep = module_node.endpoint
    client = make_client(ep)
    b = client.bucket("bits").create(exist_ok=True)
    b.object("keep").get_writer().put_content(b"keep")
    set_access(ep, "bits", ALL & ~16)  # no DELETE-OBJECT
    b.object("new").get_writer().put_content(b"new")
    denied(requests.delete(obj_url(ep, "bits", "keep"), allow_redirects=False, timeout=TIMEOUT_S), "DELETE-OBJECT")
    set_access(ep, "bits", ALL & ~4)  # no PUT
    denied(requests.put(obj_url(ep, "bits", "keep"), data=b"x", allow_redirects=False, timeout=TIMEOUT_S), "PUT")
    b.object("new").delete()
    assert sorted(e.name for e in b.list_all_objects()) == ["keep"]
    assert b.object("keep").get_reader().read_all() == b"keep"


def test_read_only_bucket_through_s3(s3_node):  # noqa: F811 (fixture)
    ep = s3_node.endpoint
    s3 = boto3_client(s3_node.s3_endpoint)
    s3.create_bucket(Bucket="ro-s3")
    s3.put_object(Bucket="ro-s3", Key="k", Body=b"v")
    set_access(ep, "ro-s3", RO)
    assert s3.get_object(Bucket="ro-s3", Key="k")["Body"].read() == b"v"
    expect_client_error(lambda: s3.put_object(Bucket="ro-s3", Key="k", Body=b"w"), "AccessDenied", 403, "put")
    expect_client_error(lambda: s3.delete_object(Bucket="ro-s3", Key="k"), "AccessDenied", 403, "delete")
    expect_client_error(lambda: s3.delete_objects(Bucket="ro-s3", Delete={"Objects": [{"Key": "k"}]}),
                        "AccessDenied", 403, "delete objects")
    expect_client_error(lambda: s3.create_multipart_upload(Bucket="ro-s3", Key="m"), "AccessDenied", 403,
                        "multipart")
    expect_client_error(lambda: s3.delete_bucket(Bucket="ro-s3"), "AccessDenied", 403, "delete bucket")
    assert s3.get_object(Bucket="ro-s3", Key="k")["Body"].read() == b"v"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="ro-s3")["Contents"]] == ["k"]


def test_read_only_bucket_in_a_cluster(aisnode_binary, tmp_path):
    """Through a proxy, which checks before it redirects: the same answers."""
    c = Cluster(aisnode_binary, tmp_path, proxies=1, targets=2, mountpaths=2, target_cores=2)
    try:
        c.start()
        ep = c.primary.endpoint
        fill(ep, "ro-clu", "rw-clu")
        set_access(ep, "ro-clu", RO)
        exercise_read_only(ep, "ro-clu", "rw-clu")
    finally:
        c.close()
