"""Node options for S3 (issue 11): `--s3-via-root` serves S3 at the root of the port (AIS's
S3-API-via-Root) for tools that drop the endpoint's path, while `/v1/...` keeps its meaning;
`--s3-ais-semantics` follows AIS where AIS and AWS differ (DeleteBucket of a non-empty bucket,
multipart parts under 5 MiB). Without the options, AWS's rules hold (checked here too).
"""

import pytest
import requests
from botocore.exceptions import ClientError

import conftest
from s3util import ACCESS_KEY, SECRET_KEY, MiB, S3Node, boto3_client

pytestmark = pytest.mark.timeout(180)


class OptNode(S3Node):
    def __init__(self, binary, base_dir, flags, **kwargs):
        super().__init__(binary, base_dir, s3_keys=(ACCESS_KEY, SECRET_KEY), **kwargs)
        self.flags = flags

    def argv(self):
        return super().argv() + self.flags


@pytest.fixture
def opt_node(aisnode_binary, tmp_path):
    nodes = []

    def make(*flags):
        n = conftest._start_or_fail(OptNode(aisnode_binary, tmp_path / f"n{len(nodes)}", list(flags)))
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.close()


def test_s3_via_root(opt_node):
    node = opt_node("--s3-via-root")
    root = boto3_client(node.endpoint)          # no /s3 in the endpoint
    prefixed = boto3_client(node.s3_endpoint)
    root.create_bucket(Bucket="rooted")
    root.put_object(Bucket="rooted", Key="dir/k", Body=b"via root")
    assert prefixed.get_object(Bucket="rooted", Key="dir/k")["Body"].read() == b"via root"
    assert [o["Key"] for o in root.list_objects_v2(Bucket="rooted")["Contents"]] == ["dir/k"]
    assert "rooted" in [b["Name"] for b in root.list_buckets()["Buckets"]]
    # The native API keeps its paths.
    r = requests.get(f"{node.endpoint}/v1/objects/rooted/dir/k", timeout=10)
    assert r.status_code == 200 and r.content == b"via root"
    root.delete_object(Bucket="rooted", Key="dir/k")
    root.delete_bucket(Bucket="rooted")


def test_without_s3_via_root_the_root_is_not_s3(opt_node):
    node = opt_node()
    r = requests.get(f"{node.endpoint}/somebucket/key", timeout=10)
    assert r.status_code == 404 and "expected /v1/" in r.text


def parts_of(size, n):
    return [bytes([i]) * size for i in range(n)]


def small_parts_upload(c, bucket, key):
    up = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for i, data in enumerate(parts_of(1 * MiB, 3), start=1):
        e = c.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=data)["ETag"]
        parts.append({"PartNumber": i, "ETag": e})
    return up, parts


def test_aws_rules_by_default(opt_node):
    node = opt_node()
    c = boto3_client(node.s3_endpoint)
    c.create_bucket(Bucket="awsrules")
    up, parts = small_parts_upload(c, "awsrules", "k")
    with pytest.raises(ClientError) as ei:
        c.complete_multipart_upload(Bucket="awsrules", Key="k", UploadId=up,
                                    MultipartUpload={"Parts": parts})
    assert ei.value.response["Error"]["Code"] == "EntityTooSmall"
    c.abort_multipart_upload(Bucket="awsrules", Key="k", UploadId=up)
    c.put_object(Bucket="awsrules", Key="x", Body=b"x")
    with pytest.raises(ClientError) as ei:
        c.delete_bucket(Bucket="awsrules")
    assert ei.value.response["Error"]["Code"] == "BucketNotEmpty"
    assert c.get_object(Bucket="awsrules", Key="x")["Body"].read() == b"x"


def test_ais_semantics_option(opt_node):
    node = opt_node("--s3-ais-semantics")
    c = boto3_client(node.s3_endpoint)
    c.create_bucket(Bucket="aisrules")
    up, parts = small_parts_upload(c, "aisrules", "k")
    c.complete_multipart_upload(Bucket="aisrules", Key="k", UploadId=up,
                                MultipartUpload={"Parts": parts})
    assert c.get_object(Bucket="aisrules", Key="k")["Body"].read() == b"".join(parts_of(1 * MiB, 3))
    c.delete_bucket(Bucket="aisrules")           # not empty: AIS deletes it with its objects
    assert "aisrules" not in [b["Name"] for b in c.list_buckets().get("Buckets", [])]
