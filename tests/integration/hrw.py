"""Independent Python model of AIS placement (spec/ais-api.md section 4) and on-disk layout (section 6).

Written from the spec, not from the SDK, so that tests can cross-check the SDK's
own `get_digest`/`xoshiro256_hash` and the node's choice of mountpath.

    d      = xxh64(uname, seed=MLCG32)       uname = "ais/@#/<bucket>/<objname>"
    digest = xxh64(cleaned abs mountpath, seed=MLCG32)
    w      = mix(digest ^ d)                 (SplitMix64 twice + xoshiro256** scrambler)
    owner  = argmax w
"""

import os

import xxhash

MLCG32 = 1103515245
MASK64 = (1 << 64) - 1


def xxh64(data, seed=MLCG32):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return xxhash.xxh64_intdigest(data, seed=seed)


def mix(s):
    """The xoshiro256** seeding mixer of spec section 4, all arithmetic mod 2^64."""
    z = (s + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z = ((z ^ (z >> 31)) + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z = ((z ^ (z >> 31)) * 5) & MASK64
    rotl = ((z << 7) | (z >> 57)) & MASK64
    return (rotl * 9) & MASK64


def uname(bucket, objname, provider="ais", ns="@#"):
    return f"{provider}/{ns}/{bucket}/{objname}"


def uname_digest(bucket, objname, provider="ais", ns="@#"):
    return xxh64(uname(bucket, objname, provider, ns))


def clean_mountpath(path):
    """Cleaned absolute path string, as hashed for the mountpath digest."""
    return os.path.normpath(os.path.abspath(path))


def path_digest(mountpath):
    return xxh64(clean_mountpath(mountpath))


def weight(node_digest, obj_digest):
    return mix(node_digest ^ obj_digest)


def choose_by_digest(candidates, obj_digest):
    """candidates: iterable of (key, digest). Returns the key with the max weight."""
    best_key, best_w = None, -1
    for key, digest in candidates:
        w = weight(digest, obj_digest)
        if w > best_w:
            best_key, best_w = key, w
    if best_key is None:
        raise ValueError("no candidates")
    return best_key


def choose_target(target_ids, bucket, objname):
    return choose_by_digest(((t, xxh64(t)) for t in target_ids), uname_digest(bucket, objname))


def choose_mountpath(mountpaths, bucket, objname):
    d = uname_digest(bucket, objname)
    return choose_by_digest(((clean_mountpath(m), path_digest(m)) for m in mountpaths), d)


def rank_mountpaths(mountpaths, bucket, objname):
    """Mountpaths from the highest HRW weight to the lowest (ties: the earlier first): the
    object's own first, then where its mirror copies go."""
    d = uname_digest(bucket, objname)
    ms = [clean_mountpath(m) for m in mountpaths]
    order = sorted(range(len(ms)), key=lambda i: (-weight(path_digest(ms[i]), d), i))
    return [ms[i] for i in order]


def object_fqn(mountpath, bucket, objname, provider="ais"):
    """<mountpath>/@<provider>/<bucket>/%ob/<objname> (global namespace)."""
    return os.path.join(clean_mountpath(mountpath), f"@{provider}", bucket, "%ob", objname)


def bucket_dir(mountpath, bucket, provider="ais"):
    return os.path.join(clean_mountpath(mountpath), f"@{provider}", bucket)


def expected_fqn(mountpaths, bucket, objname):
    return object_fqn(choose_mountpath(mountpaths, bucket, objname), bucket, objname)
