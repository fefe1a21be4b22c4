"""Small shared helpers: deterministic content, checksums, URLs."""

import random
from urllib.parse import quote

import xxhash

KiB = 1024
MiB = 1024 * KiB
CHECKSUM_TYPES = ("xxhash2", "xxhash")  # same digest (spec section 5)


def det_bytes(key, size):
    """Deterministic pseudo-random bytes derived from `key` (any str) and `size`."""
    if size == 0:
        return b""
    return random.Random(f"{key}#{size}").randbytes(size)


def xxh_hex(data):
    """AIS `xxhash`/`xxhash2` checksum value: XXH64 seed 0, 16 lowercase hex chars."""
    return f"{xxhash.xxh64_intdigest(data, seed=0):016x}"


def obj_path(bucket, name):
    return f"/v1/objects/{bucket}/{quote(name)}"


def obj_url(endpoint, bucket, name, query="provider=ais"):
    url = f"{endpoint}{obj_path(bucket, name)}"
    return f"{url}?{query}" if query else url


def bck_url(endpoint, bucket, query="provider=ais"):
    url = f"{endpoint}/v1/buckets/{bucket}"
    return f"{url}?{query}" if query else url


def make_client(endpoint, read_timeout_s=120.0, token=None):
    """An SDK client whose errors surface at once (no status retries, few network retries);
    `token`: an AuthN token it sends as `Authorization: Bearer`."""
    from aistore.sdk import Client
    from aistore.sdk.retry_config import NETWORK_RETRY_EXCEPTIONS, RetryConfig
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed
    from urllib3.util.retry import Retry

    retry = RetryConfig(
        http_retry=Retry(total=0, connect=0, read=0, status_forcelist=[], raise_on_status=False),
        network_retry=Retrying(
            stop=stop_after_attempt(3),
            wait=wait_fixed(0.1),
            retry=retry_if_exception_type(NETWORK_RETRY_EXCEPTIONS),
            reraise=True,
        ),
    )
    return Client(endpoint, timeout=(5.0, read_timeout_s), retry_config=retry, token=token)
