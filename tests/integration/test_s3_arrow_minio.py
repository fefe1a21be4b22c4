"""Two more S3 clients, unchanged, against aisnode with SigV4 keys checked; what they stored is
read back through boto3:

* pyarrow's S3FileSystem (the AWS C++ SDK, as data pipelines read and write Parquet), with
  `host:port/s3` as its endpoint: a Parquet file written in row groups and read back whole, by
  column and by random-access reads of its byte ranges; a partitioned dataset written and read
  with a partition filter; a 12 MiB output stream (a multipart upload); file info, recursive and
  flat listings; copy, move, deleting a directory's contents, a file, then the bucket.
* the MinIO Python SDK (`minio`), which takes a bare host:port and so needs `--s3-via-root`:
  bucket create/exists/list, a small PUT, a multipart PUT of known and of unknown length,
  ranged and whole GETs, stat with user metadata, listing (v2 and v1), server-side copy and
  compose (UploadPartCopy), a presigned GET, bulk delete (one key missing), fput/fget. Object
  tagging and bucket policies, which the node does not implement, are refused with 501
  NotImplemented naming them, and change nothing.
"""

import hashlib
import io
import urllib.request
from datetime import timedelta

import pytest

import conftest
from s3util import (  # noqa: F401  (fixtures are used by name)
    ACCESS_KEY,
    MiB,
    REGION,
    S3Node,
    SECRET_KEY,
    boto3_client,
    det_bytes,
    _no_server_errors,
    no_server_errors,
    s3_node,
    unique_bucket,
)

pytestmark = pytest.mark.timeout(300)


def _arrow_fs(endpoint):
    from pyarrow import fs

    host = endpoint.split("://", 1)[1]  # pyarrow takes host[:port][/path] and a scheme
    return fs.S3FileSystem(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        endpoint_override=host,
        scheme="http",
        region=REGION,
        allow_bucket_creation=True,
        allow_bucket_deletion=True,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
    )


def _keys(s3, bucket, markers=True):
    """The bucket's keys; without `markers`, less the empty `dir/` objects pyarrow creates for
    directories (as it does on AWS)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    objs = [o for p in pages for o in p.get("Contents", [])]
    assert all(o["Size"] == 0 for o in objs if o["Key"].endswith("/"))
    return sorted(o["Key"] for o in objs if markers or not o["Key"].endswith("/"))


def test_pyarrow_parquet_and_datasets(s3_node):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    s3 = boto3_client(s3_node.s3_endpoint)
    afs = _arrow_fs(s3_node.s3_endpoint)
    bucket = unique_bucket("arrow")
    afs.create_dir(bucket)
    s3.head_bucket(Bucket=bucket)

    n = 300_000
    table = pa.table({"id": pa.array(range(n), pa.int64()), "tag": pa.array([f"t{i % 97}" for i in range(n)])})
    path = f"{bucket}/data/t.parquet"
    pq.write_table(table, path, filesystem=afs, row_group_size=30_000)
    stored = s3.get_object(Bucket=bucket, Key="data/t.parquet")["Body"].read()
    assert afs.get_file_info(path).size == len(stored)
    assert pq.read_table(path, filesystem=afs).equals(table)
    assert pq.read_table(path, filesystem=afs, columns=["tag"]).column("tag").equals(table.column("tag"))
    assert pq.ParquetFile(pa.BufferReader(stored)).metadata.num_row_groups == 10
    with afs.open_input_file(path) as f:  # ranged GETs at the offsets a Parquet reader uses
        for off, size in ((0, 4), (len(stored) - 8, 8), (len(stored) // 3, 1000), (7, 65536)):
            assert f.read_at(size, off) == stored[off : off + size], (off, size)

    part = table.slice(0, 40_000).append_column("p", pa.array([i % 4 for i in range(40_000)], pa.int32()))
    ds.write_dataset(part, f"{bucket}/ds", format="parquet", partitioning=["p"], filesystem=afs)
    assert _keys(s3, bucket, markers=False) == ["data/t.parquet"] + [f"ds/{p}/part-0.parquet" for p in range(4)]
    dataset = ds.dataset(f"{bucket}/ds", format="parquet", partitioning=ds.partitioning(pa.schema([("p", pa.int32())])), filesystem=afs)
    assert dataset.to_table().num_rows == 40_000
    two = dataset.to_table(filter=pc.field("p") == 2)
    assert two.num_rows == 10_000 and set(two.column("p").to_pylist()) == {2}

    blob = det_bytes("arrow-stream", 12 * MiB + 12345)
    with afs.open_output_stream(f"{bucket}/big.bin") as out:
        for i in range(0, len(blob), 1 << 20):
            out.write(blob[i : i + (1 << 20)])
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == blob
    afs.copy_file(f"{bucket}/big.bin", f"{bucket}/copy.bin")
    afs.move(f"{bucket}/copy.bin", f"{bucket}/moved.bin")
    assert hashlib.sha256(s3.get_object(Bucket=bucket, Key="moved.bin")["Body"].read()).digest() == hashlib.sha256(blob).digest()

    flat = sorted(i.path for i in afs.get_file_info(pafs.FileSelector(bucket)))
    assert flat == [f"{bucket}/{x}" for x in ("big.bin", "data", "ds", "moved.bin")]
    deep = afs.get_file_info(pafs.FileSelector(bucket, recursive=True))
    assert sum(1 for i in deep if i.type == pafs.FileType.File) == 7

    afs.delete_dir_contents(f"{bucket}/ds")
    afs.delete_file(f"{bucket}/moved.bin")
    assert _keys(s3, bucket, markers=False) == ["big.bin", "data/t.parquet"]
    afs.delete_dir(bucket)  # deletes what is left, then the bucket
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


class ViaRootNode(S3Node):
    def argv(self):
        return super().argv() + ["--s3-via-root"]


@pytest.fixture(scope="module")
def via_root_node(aisnode_binary, tmp_path_factory):
    n = conftest._start_or_fail(ViaRootNode(aisnode_binary, tmp_path_factory.mktemp("viaroot"), s3_keys=(ACCESS_KEY, SECRET_KEY)))
    yield n
    n.close()


def test_minio_sdk(via_root_node, tmp_path):
    from minio import Minio
    from minio.commonconfig import ComposeSource, CopySource, Tags
    from minio.deleteobjects import DeleteObject
    from minio.error import S3Error

    host = via_root_node.endpoint.split("://", 1)[1]
    mc = Minio(host, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region=REGION)
    s3 = boto3_client(f"{via_root_node.endpoint}/s3")
    bucket = unique_bucket("minio")

    mc.make_bucket(bucket)
    assert mc.bucket_exists(bucket) and not mc.bucket_exists(bucket + "-nope")
    assert bucket in [b.name for b in mc.list_buckets()]

    mc.put_object(bucket, "s.txt", io.BytesIO(b"hello"), 5, content_type="text/plain", metadata={"x-amz-meta-k": "v"})
    data = det_bytes("minio-big", 12 * MiB + 7)
    etag = mc.put_object(bucket, "big.bin", io.BytesIO(data), len(data), part_size=5 * MiB).etag
    assert etag.endswith("-3"), etag
    mc.put_object(bucket, "stream.bin", io.BytesIO(data), -1, part_size=5 * MiB)  # length unknown
    assert s3.get_object(Bucket=bucket, Key="stream.bin")["Body"].read() == data

    assert mc.get_object(bucket, "big.bin").read() == data
    assert mc.get_object(bucket, "big.bin", offset=5 * MiB - 3, length=10).read() == data[5 * MiB - 3 : 5 * MiB + 7]
    st = mc.stat_object(bucket, "s.txt")
    assert (st.size, st.content_type, st.metadata.get("x-amz-meta-k")) == (5, "text/plain", "v")

    assert [o.object_name for o in mc.list_objects(bucket)] == ["big.bin", "s.txt", "stream.bin"]
    assert [o.object_name for o in mc.list_objects(bucket, use_api_v1=True)] == ["big.bin", "s.txt", "stream.bin"]

    mc.copy_object(bucket, "copy.bin", CopySource(bucket, "big.bin"))
    mc.compose_object(bucket, "composed.bin", [ComposeSource(bucket, "big.bin"), ComposeSource(bucket, "s.txt")])
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="composed.bin")["Body"].read() == data + b"hello"

    url = mc.presigned_get_object(bucket, "s.txt", expires=timedelta(minutes=5))
    assert urllib.request.urlopen(url, timeout=30).read() == b"hello"

    errs = list(mc.remove_objects(bucket, [DeleteObject("copy.bin"), DeleteObject("composed.bin"), DeleteObject("nope")]))
    assert errs == [], errs
    mc.remove_object(bucket, "stream.bin")
    local = tmp_path / "f.bin"
    local.write_bytes(data[: 7 * MiB])
    mc.fput_object(bucket, "f.bin", str(local))
    mc.fget_object(bucket, "f.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data[: 7 * MiB]

    # Not implemented: refused by name, nothing changed.
    before = {k: s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in _keys(s3, bucket)}
    tags = Tags.new_object_tags()
    tags["team"] = "a"
    for call, what in (
        (lambda: mc.set_object_tags(bucket, "s.txt", tags), "tagging"),
        (lambda: mc.get_object_tags(bucket, "s.txt"), "tagging"),
        (lambda: mc.get_bucket_policy(bucket), "policy"),
        (lambda: mc.set_bucket_policy(bucket, '{"Version":"2012-10-17","Statement":[]}'), "policy"),
    ):
        with pytest.raises(S3Error) as ei:
            call()
        assert ei.value.code == "NotImplemented" and what in ei.value.message, (ei.value.code, ei.value.message)
    after = {k: s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in _keys(s3, bucket)}
    assert after == before and sorted(before) == ["big.bin", "f.bin", "s.txt"]
    assert mc.stat_object(bucket, "s.txt").metadata.get("x-amz-meta-k") == "v"
