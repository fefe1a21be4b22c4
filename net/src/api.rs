//! Wire formats of the native AIS API (spec §2): control messages, list-objects request and
//! page (JSON and msgpack with Go field names), and the AIS-shaped JSON error body.

use serde::{Deserialize, Deserializer, Serialize};

/// Control message `{"action","name","value"}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ActMsg {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// List-objects flags (spec §2.4) we act on.
/// List only the objects present in the cluster (of a remote bucket).
pub const LSO_FLAG_CACHED: u64 = 1;
pub const LSO_FLAG_NAME_ONLY: u64 = 1 << 4;
pub const LSO_FLAG_NAME_SIZE: u64 = 1 << 5;
pub const LSO_FLAG_NO_RECURSION: u64 = 1 << 11;
pub const LSO_FLAG_NO_DIRS: u64 = 1 << 13;
/// Only objects that are not in the cluster (remote buckets).
pub const LSO_FLAG_NOT_CACHED: u64 = 1 << 9;
/// Compare with the remote backend's versions (remote buckets).
pub const LSO_FLAG_DIFF: u64 = 1 << 12;
/// Entry flag: object is present in the cluster.
pub const ENTRY_FLAG_PRESENT: u16 = 64;
/// Entry flag: virtual directory (non-recursive listings).
pub const ENTRY_FLAG_DIR: u16 = 256;
/// List-objects flag: expand shards into their files (`<shard>/<file>` entries).
pub const LSO_FLAG_ARCH_DIR: u64 = 1 << 3;
/// Entry flag: a file inside a shard (listed with [`LSO_FLAG_ARCH_DIR`]).
pub const ENTRY_FLAG_IN_ARCH: u16 = 128;
/// Entry flag: a shard whose files follow it (listed with [`LSO_FLAG_ARCH_DIR`]).
pub const ENTRY_FLAG_IS_ARCHIVE: u16 = 512;

/// AIS bucket listing page maximum.
pub const LSO_PAGE_SIZE_MAX: usize = 10_000;

fn de_u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        U(u64),
        Null(()),
    }
    match N::deserialize(d)? {
        N::S(s) if s.is_empty() => Ok(0),
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
        N::U(u) => Ok(u),
        N::Null(()) => Ok(0),
    }
}

fn de_string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `LsoMsg`: the list-objects request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LsoMsg {
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub prefix: String,
    #[serde(default, deserialize_with = "de_u64_lenient")]
    pub pagesize: u64,
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub uuid: String,
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub props: String,
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub continuation_token: String,
    #[serde(default, deserialize_with = "de_u64_lenient")]
    pub flags: u64,
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub start_after: String,
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub time_format: String,
    /// `target` (AIS `SID`): the target to run a remote bucket's listing on.
    #[serde(default, deserialize_with = "de_string_or_null")]
    pub target: String,
}

/// One entry of a listing page. Field names are the msgpack (Go) keys; JSON uses others.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LsoEntry {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(default, rename = "cs", skip_serializing_if = "String::is_empty")]
    pub checksum: String,
    #[serde(default, rename = "a", skip_serializing_if = "String::is_empty")]
    pub atime: String,
    #[serde(default, rename = "v", skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, rename = "t", skip_serializing_if = "String::is_empty")]
    pub location: String,
    #[serde(default, rename = "m", skip_serializing_if = "String::is_empty")]
    pub custom: String,
    #[serde(default, rename = "s", skip_serializing_if = "is_zero_i64")]
    pub size: i64,
    #[serde(default, rename = "c", skip_serializing_if = "is_zero_i16")]
    pub copies: i16,
    #[serde(default, rename = "f", skip_serializing_if = "is_zero_u16")]
    pub flags: u16,
    /// Ours (prop `last-modified`): mtime in unix ns, for S3 listings through a proxy.
    /// msgspec ignores unknown keys, so the SDK is unaffected.
    #[serde(default, rename = "lm", skip_serializing_if = "is_zero_i64")]
    pub mtime_ns: i64,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_zero_i16(v: &i16) -> bool {
    *v == 0
}
fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LsoPage {
    #[serde(rename = "UUID")]
    pub uuid: String,
    #[serde(rename = "ContinuationToken")]
    pub continuation_token: String,
    #[serde(rename = "Entries", default)]
    pub entries: Vec<LsoEntry>,
    #[serde(rename = "Flags")]
    pub flags: u32,
}

impl LsoPage {
    /// msgpack with Go field names, structs as maps, strings as `str`.
    pub fn to_msgpack(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("listing page always serializes")
    }

    /// JSON form: `{"uuid","continuation_token","entries":[...],"flags"}`, sizes as strings.
    pub fn to_json(&self) -> Vec<u8> {
        let entries: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut m = serde_json::Map::new();
                m.insert("name".into(), e.name.clone().into());
                let mut put = |k: &str, v: &str| {
                    if !v.is_empty() {
                        m.insert(k.into(), v.into());
                    }
                };
                put("checksum", &e.checksum);
                put("atime", &e.atime);
                put("version", &e.version);
                put("location", &e.location);
                put("custom-md", &e.custom);
                if e.size != 0 {
                    m.insert("size".into(), e.size.to_string().into());
                }
                if e.copies != 0 {
                    m.insert("copies".into(), e.copies.into());
                }
                if e.flags != 0 {
                    m.insert("flags".into(), e.flags.into());
                }
                serde_json::Value::Object(m)
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "uuid": self.uuid,
            "continuation_token": self.continuation_token,
            "entries": entries,
            "flags": self.flags,
        }))
        .expect("listing page always serializes")
    }
}

/// AIS error body (no trailing newline).
#[derive(Debug, Clone, Serialize)]
pub struct ErrBody<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub tcode: &'a str,
    pub message: &'a str,
    pub method: &'a str,
    pub url_path: &'a str,
    pub remote_addr: &'a str,
    pub caller: &'a str,
    pub node: &'a str,
    pub status: u16,
}

impl ErrBody<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("error body always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_msg_accepts_string_and_number_flags_and_nulls() {
        let m: LsoMsg = serde_json::from_str(
            r#"{"prefix":null,"pagesize":5,"flags":"8192","props":"name,size"}"#,
        )
        .unwrap();
        assert_eq!(m.flags, 8192);
        assert_eq!(m.pagesize, 5);
        let m: LsoMsg = serde_json::from_str(r#"{"flags":3,"uuid":"x"}"#).unwrap();
        assert_eq!(m.flags, 3);
        assert_eq!(m.uuid, "x");
    }

    #[test]
    fn msgpack_page_uses_go_keys_and_omits_zeros() {
        let p = LsoPage {
            uuid: "u".into(),
            continuation_token: "".into(),
            entries: vec![LsoEntry {
                name: "a".into(),
                size: 3,
                flags: ENTRY_FLAG_PRESENT,
                ..Default::default()
            }],
            flags: 0,
        };
        let v: rmpv::Value = rmp_serde::from_slice(&p.to_msgpack()).unwrap();
        let top = v.as_map().unwrap();
        let keys: Vec<&str> = top.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["UUID", "ContinuationToken", "Entries", "Flags"]);
        let e = top[2].1.as_array().unwrap()[0].as_map().unwrap();
        let ekeys: Vec<&str> = e.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(ekeys, ["n", "s", "f"]);
    }

    #[test]
    fn json_page_has_string_sizes() {
        let p = LsoPage {
            entries: vec![LsoEntry {
                name: "a".into(),
                size: 12,
                ..Default::default()
            }],
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["entries"][0]["size"], "12");
    }
}
