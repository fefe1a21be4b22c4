"""Parser for the `user.ais.lom` xattr, as laid out in spec/ais-api.md section 6.

    byte 0      meta-version (2; 1 is legacy)
    byte 1      metadata checksum type (1 = xxhash)
    bytes 2..9  BE xxh64(payload, seed=MLCG32)
    payload     records `BE u16 key + value`, separated by b"\\xe3\\x2f\\xbd"

Keys: 0 checksum type, 1 checksum value, 2 version, 3 size (BE u64), 4 copies (FQNs joined
by NUL), 5 custom (k, v alternating, joined by \\x01), 6 LID (BE u64), 7 flags (BE u64).
Fixed-width values (3, 6, 7) are read by length so that a separator-looking byte sequence
inside them does not split the record.
"""

import struct

import xxhash

XATTR_LOM = "user.ais.lom"
MLCG32 = 1103515245
RECORD_SEPA = b"\xe3\x2f\xbd"
PREFIX_LEN = 10

KEY_CKSUM_TYPE = 0
KEY_CKSUM_VALUE = 1
KEY_VERSION = 2
KEY_SIZE = 3
KEY_COPIES = 4
KEY_CUSTOM = 5
KEY_LID = 6
KEY_FLAGS = 7
FIXED_U64_KEYS = (KEY_SIZE, KEY_LID, KEY_FLAGS)


class LomError(ValueError):
    pass


def parse(buf):
    """Returns a dict with keys: meta_version, cksum_type, cksum_value, version, size, custom, copies, raw."""
    if len(buf) < PREFIX_LEN:
        raise LomError(f"lom xattr too short: {len(buf)} bytes")
    meta_version, md_cksum_type = buf[0], buf[1]
    if md_cksum_type != 1:
        raise LomError(f"lom metadata checksum type {md_cksum_type}, expected 1 (xxhash)")
    (expected,) = struct.unpack(">Q", buf[2:10])
    payload = bytes(buf[PREFIX_LEN:])
    actual = xxhash.xxh64_intdigest(payload, seed=MLCG32)
    if expected != actual:
        raise LomError(f"lom metadata checksum mismatch: stored {expected:#x}, computed {actual:#x}")
    out = {"meta_version": meta_version, "raw": {}, "custom": {}, "copies": []}
    off = 0
    while off < len(payload):
        if off + 2 > len(payload):
            raise LomError(f"truncated record key at payload offset {off}")
        (key,) = struct.unpack(">H", payload[off:off + 2])
        off += 2
        if key in FIXED_U64_KEYS:
            if off + 8 > len(payload):
                raise LomError(f"truncated u64 value of key {key} at payload offset {off}")
            value = payload[off:off + 8]
            off += 8
        else:
            i = payload.find(RECORD_SEPA, off)
            end = len(payload) if i < 0 else i
            value = payload[off:end]
            off = end
        if key in out["raw"]:
            raise LomError(f"duplicate record key {key}")
        out["raw"][key] = value
        if off < len(payload):
            if payload[off:off + 3] != RECORD_SEPA:
                raise LomError(f"expected record separator at payload offset {off}, got {payload[off:off + 3]!r}")
            off += 3
    raw = out["raw"]
    if KEY_SIZE not in raw:
        raise LomError("lom has no size record (key 3)")
    out["size"] = struct.unpack(">Q", raw[KEY_SIZE])[0]
    out["cksum_type"] = raw.get(KEY_CKSUM_TYPE, b"").decode()
    out["cksum_value"] = raw.get(KEY_CKSUM_VALUE, b"").decode()
    out["version"] = raw.get(KEY_VERSION, b"").decode()
    if KEY_CUSTOM in raw and raw[KEY_CUSTOM]:
        parts = raw[KEY_CUSTOM].split(b"\x01")
        if len(parts) % 2:
            raise LomError(f"custom metadata has an odd number of fields: {parts!r}")
        out["custom"] = {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts), 2)}
    if KEY_COPIES in raw and raw[KEY_COPIES]:
        out["copies"] = [p.decode() for p in raw[KEY_COPIES].split(b"\x00")]
    return out


def encode(md):
    """The xattr bytes of `md` (a dict as `parse` returns; `cksum_type`, `cksum_value`, `version`,
    `size`, `custom` are written, in the order the node writes them)."""
    records = []
    if md.get("cksum_type"):
        records.append(struct.pack(">H", KEY_CKSUM_TYPE) + md["cksum_type"].encode())
        records.append(struct.pack(">H", KEY_CKSUM_VALUE) + md["cksum_value"].encode())
    if md.get("version"):
        records.append(struct.pack(">H", KEY_VERSION) + md["version"].encode())
    records.append(struct.pack(">H", KEY_SIZE) + struct.pack(">Q", md["size"]))
    if md.get("custom"):
        fields = []
        for k, v in md["custom"].items():
            fields += [k.encode(), v.encode()]
        records.append(struct.pack(">H", KEY_CUSTOM) + b"\x01".join(fields))
    payload = RECORD_SEPA.join(records)
    digest = xxhash.xxh64_intdigest(payload, seed=MLCG32)
    return bytes([2, 1]) + struct.pack(">Q", digest) + payload
