"""The independent HRW model (hrw.py) against the spec section 4 vectors and the SDK's own code."""

import random

import pytest
import xxhash

import hrw

# pytest-timeout: pure computation; the margin is for a loaded 2-CPU CI box.
pytestmark = pytest.mark.timeout(60)


def test_xxh64_seed0_vectors():
    assert hrw.xxh64(b"", seed=0) == 0xEF46DB3751D8E999
    assert hrw.xxh64(b"abc", seed=0) == 0x44BC2CF5AD770999
    assert hrw.xxh64(b"hello", seed=0) == 0x26C7827D889F6DA3


def test_mix_vectors():
    assert hrw.mix(0) == 1905207664160064169
    assert hrw.mix(4573842) == 5026071747115404967


def test_node_digest_vectors():
    assert hrw.xxh64("lgGt8081") == 14833867757108564157
    assert hrw.xxh64("Xyzt8082") == 2068147387359476385
    assert hrw.xxh64("abct8083") == 2683757838127109402


def test_target_selection_vector():
    d = hrw.uname_digest("mybucket", "obj1")
    assert hrw.uname("mybucket", "obj1") == "ais/@#/mybucket/obj1"
    assert d == 17037399786638499582
    assert hrw.weight(hrw.xxh64("lgGt8081"), d) == 15721621995959914754
    assert hrw.weight(hrw.xxh64("Xyzt8082"), d) == 13045397399144962678
    assert hrw.weight(hrw.xxh64("abct8083"), d) == 13416372772759942303
    assert hrw.choose_target(["Xyzt8082", "lgGt8081", "abct8083"], "mybucket", "obj1") == "lgGt8081"


def test_mountpath_selection_vector():
    d = hrw.uname_digest("mybucket", "obj1")
    assert hrw.path_digest("/vdh") == 16110015626313856420
    assert hrw.path_digest("/vdi") == 2289950066244532534
    assert hrw.weight(hrw.path_digest("/vdh"), d) == 1776551579408888955
    assert hrw.weight(hrw.path_digest("/vdi"), d) == 11967674779712728669
    assert hrw.choose_mountpath(["/vdh", "/vdi"], "mybucket", "obj1") == "/vdi"
    # order of candidates must not matter; unclean spellings hash as the clean path
    assert hrw.choose_mountpath(["/vdi/", "/vdh//"], "mybucket", "obj1") == "/vdi"


def test_model_agrees_with_installed_sdk():
    from aistore.sdk.utils import get_digest, xoshiro256_hash

    rng = random.Random(7)
    for _ in range(2000):
        s = rng.getrandbits(64)
        assert hrw.mix(s) == xoshiro256_hash(s)
    for name in ["", "a", "ais/@#/b/o", "ais/@#/bucket/dir/sub/ünïcode name+%"]:
        assert hrw.xxh64(name) == get_digest(name) == xxhash.xxh64(name.encode(), seed=hrw.MLCG32).intdigest()


def test_object_fqn_layout():
    assert hrw.object_fqn("/mnt/d1/", "bck", "dir/obj") == "/mnt/d1/@ais/bck/%ob/dir/obj"
