"""Disk errors: a full mountpath answers 507 with a clear message, leaves no partial object,
and the node keeps serving its other mountpath.

One of the node's two mountpaths is a 4 MiB tmpfs (mounted by the test; CI runs as root, and
the test fails with a clear message otherwise).
"""

import os
import subprocess

import pytest
import requests

from aisutil import bck_url, det_bytes, obj_url
import hrw

# pytest-timeout: under 1 s on a quiet box; the margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(120)

TMPFS_BYTES = 4 << 20
REQ_TIMEOUT = (3.0, 30.0)  # connect, read
MOUNT_TIMEOUT_S = 30


@pytest.fixture
def small_mountpath(tmp_path):
    mnt = tmp_path / "small-mp"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.fail("test_disk_errors needs root to mount a size-limited tmpfs mountpath")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mnt)], check=True,
                   timeout=MOUNT_TIMEOUT_S)
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=MOUNT_TIMEOUT_S)


@pytest.fixture
def node_with_small_mountpath(aisnode_binary, tmp_path, small_mountpath):
    from conftest import AisNode

    node = AisNode(aisnode_binary, tmp_path / "node")
    node.mountpaths[0] = small_mountpath
    node.start()
    try:
        yield node
    finally:
        node.close()


def test_full_mountpath_gives_507_and_other_mountpath_keeps_serving(node_with_small_mountpath, small_mountpath):
    node = node_with_small_mountpath
    ep = node.endpoint
    bucket = "diskfull"
    r = requests.post(bck_url(ep, bucket), json={"action": "create-bck", "name": "", "value": None},
                      timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text

    # Names that HRW puts on the small and on the regular mountpath.
    small_name = big_name = None
    for i in range(1000):
        name = f"obj-{i}"
        mp = hrw.choose_mountpath(node.mountpaths, bucket, name)
        if mp == hrw.clean_mountpath(small_mountpath) and small_name is None:
            small_name = name
        elif mp != hrw.clean_mountpath(small_mountpath) and big_name is None:
            big_name = name
        if small_name and big_name:
            break
    assert small_name and big_name

    too_big = det_bytes("too-big", 8 << 20)
    r = requests.put(obj_url(ep, bucket, small_name), data=too_big, timeout=REQ_TIMEOUT)
    assert r.status_code == 507, (r.status_code, r.text)
    assert "out of space" in r.json()["message"], r.text

    # Nothing partial is visible: HEAD/GET say 404, the listing does not show it.
    r = requests.head(obj_url(ep, bucket, small_name), allow_redirects=True, timeout=REQ_TIMEOUT)
    assert r.status_code == 404, r.headers
    assert requests.get(obj_url(ep, bucket, small_name), timeout=REQ_TIMEOUT).status_code == 404

    # The other mountpath keeps serving writes and reads.
    data = det_bytes("fits", 1 << 20)
    r = requests.put(obj_url(ep, bucket, big_name), data=data, timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    assert requests.get(obj_url(ep, bucket, big_name), timeout=REQ_TIMEOUT).content == data

    # And the full mountpath recovers once space is available for a small object.
    small = det_bytes("small", 64 << 10)
    r = requests.put(obj_url(ep, bucket, small_name), data=small, timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    assert requests.get(obj_url(ep, bucket, small_name), timeout=REQ_TIMEOUT).content == small

    r = requests.get(bck_url(ep, bucket), json={"action": "list", "name": "", "value": {"props": "name,size"}},
                     timeout=REQ_TIMEOUT)
    assert r.status_code == 200, r.text
    names = sorted(e["name"] for e in r.json()["entries"])
    assert names == sorted([small_name, big_name])
