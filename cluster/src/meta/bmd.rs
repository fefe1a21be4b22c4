//! The BMD (bucket metadata) and bucket props in AIS's JSON shape (spec §3): AIS buckets in
//! the global namespace (`providers.ais["@#"]`).

use super::{de_str_num, ser_str};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Checksum section of bucket props.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CksumConf {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default = "yes")]
    pub validate_cold_get: bool,
    #[serde(default = "yes")]
    pub validate_warm_get: bool,
    #[serde(default)]
    pub validate_obj_move: bool,
    #[serde(default)]
    pub enable_read_range: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionConf {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub validate_warm_get: bool,
    #[serde(default)]
    pub synchronize: bool,
}

/// N-way mirroring: `copies` replicas (the object itself included) on distinct mountpaths of
/// the owning target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MirrorConf {
    pub copies: i64,
    #[serde(default = "burst_dflt")]
    pub burst_buffer: i64,
    pub enabled: bool,
}

fn burst_dflt() -> i64 {
    512
}

impl Default for MirrorConf {
    fn default() -> Self {
        MirrorConf {
            copies: 2,
            burst_buffer: 512,
            enabled: false,
        }
    }
}

/// Erasure coding across targets: `data_slices` + `parity_slices` Reed-Solomon slices, objects
/// smaller than `objsize_limit` replicated on `parity_slices` other targets instead (-1:
/// always replicate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EcConf {
    pub objsize_limit: i64,
    #[serde(default = "never")]
    pub compression: String,
    #[serde(default = "two")]
    pub bundle_multiplier: i64,
    #[serde(default = "burst_dflt")]
    pub burst_buffer: i64,
    pub data_slices: i64,
    pub parity_slices: i64,
    pub enabled: bool,
    #[serde(default)]
    pub disk_only: bool,
}

fn never() -> String {
    "never".into()
}

fn two() -> i64 {
    2
}

impl Default for EcConf {
    fn default() -> Self {
        EcConf {
            objsize_limit: 262_144,
            compression: "never".into(),
            bundle_multiplier: 2,
            burst_buffer: 512,
            data_slices: 2,
            parity_slices: 2,
            enabled: false,
            disk_only: false,
        }
    }
}

/// LRU eviction (of cached remote objects; never enabled on `ais://` buckets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LruConf {
    pub dont_evict_time: String,
    pub capacity_upd_time: String,
    #[serde(default = "lru_batch")]
    pub batch_size: i64,
    pub enabled: bool,
}

fn lru_batch() -> i64 {
    32_768
}

impl Default for LruConf {
    fn default() -> Self {
        LruConf {
            dont_evict_time: "2h0m".into(),
            capacity_upd_time: "10m".into(),
            batch_size: 32_768,
            enabled: false,
        }
    }
}

/// Bucket props: the typed sections we act on plus the rest (AIS sections this node does not
/// implement, kept at their defaults: `set-bprops` refuses changing them) kept verbatim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bprops {
    pub provider: String,
    pub checksum: CksumConf,
    pub versioning: VersionConf,
    #[serde(default)]
    pub mirror: MirrorConf,
    #[serde(default)]
    pub ec: EcConf,
    #[serde(default)]
    pub lru: LruConf,
    /// AIS access bits (`apc.AccessAttrs`), a decimal string on the wire.
    #[serde(
        default = "access_all",
        serialize_with = "ser_str",
        deserialize_with = "de_str_u64"
    )]
    pub access: u64,
    #[serde(serialize_with = "ser_str", deserialize_with = "de_str_num")]
    pub created: i64,
    #[serde(serialize_with = "ser_str", deserialize_with = "de_str_num")]
    pub bid: i64,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// Every access bit: AIS's default for a new bucket.
pub const ACCESS_ALL: u64 = u64::MAX;

fn access_all() -> u64 {
    ACCESS_ALL
}

/// Reads a u64 written as a JSON string or as a number.
fn de_str_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        U(u64),
    }
    match N::deserialize(d)? {
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
        N::U(u) => Ok(u),
    }
}

impl Bprops {
    /// Defaults inherited from the cluster config at creation.
    pub fn new_ais(bid: i64, created_ns: i64) -> Bprops {
        let rest = serde_json::json!({
            "backend_bck": {"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}},
            "write_policy": {"data": "immediate", "md": "immediate"},
            "features": "0",
        });
        let serde_json::Value::Object(rest) = rest else {
            unreachable!("literal object")
        };
        Bprops {
            provider: "ais".into(),
            checksum: CksumConf {
                ty: "xxhash2".into(),
                validate_cold_get: true,
                validate_warm_get: true,
                validate_obj_move: false,
                enable_read_range: false,
            },
            versioning: VersionConf {
                enabled: true,
                validate_warm_get: false,
                synchronize: false,
            },
            mirror: MirrorConf::default(),
            ec: EcConf::default(),
            lru: LruConf::default(),
            access: ACCESS_ALL,
            created: created_ns,
            bid,
            rest,
        }
    }
}

/// BMD: AIS buckets in the global namespace (`providers.ais["@#"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bmd {
    pub buckets: BTreeMap<String, Bprops>,
    pub uuid: String,
    pub version: i64,
}

#[derive(Serialize, Deserialize)]
struct BmdJson {
    providers: BTreeMap<String, BTreeMap<String, BTreeMap<String, Bprops>>>,
    uuid: String,
    #[serde(serialize_with = "ser_str", deserialize_with = "de_str_num")]
    version: i64,
}

impl Serialize for Bmd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Keys are bucket keys (engine::layout::bucket_key): remote buckets go under their
        // provider, as in AIS's BMD.
        let mut providers: BTreeMap<String, BTreeMap<String, BTreeMap<String, Bprops>>> =
            BTreeMap::new();
        for (key, props) in &self.buckets {
            // A remote AIS cluster's bucket goes under `ais` in namespace `@<alias>#`.
            let b = engine::layout::Bck::ais(key);
            let ns = if b.ns.is_empty() {
                "@#".to_string()
            } else {
                format!("{}#", b.ns)
            };
            providers
                .entry(b.provider)
                .or_default()
                .entry(ns)
                .or_default()
                .insert(b.name, props.clone());
        }
        BmdJson {
            providers,
            uuid: self.uuid.clone(),
            version: self.version,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Bmd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = BmdJson::deserialize(d)?;
        let mut buckets = BTreeMap::new();
        for (provider, nss) in &j.providers {
            for (ns, bs) in nss {
                let p = match ns.as_str() {
                    "@#" => provider.clone(),
                    ns if provider == "ais" && ns.starts_with('@') => {
                        format!("ais{}", ns.trim_end_matches('#'))
                    }
                    _ => continue, // a namespace this node does not have
                };
                for (name, props) in bs {
                    buckets.insert(engine::layout::bucket_key(&p, name), props.clone());
                }
            }
        }
        Ok(Bmd {
            buckets,
            uuid: j.uuid,
            version: j.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmd_json_shape_matches_ais() {
        let mut bmd = Bmd {
            buckets: BTreeMap::new(),
            uuid: "U".into(),
            version: 3,
        };
        bmd.buckets.insert("b1".into(), Bprops::new_ais(1, 2));
        let v = serde_json::to_value(&bmd).unwrap();
        assert_eq!(v["version"], "3");
        assert_eq!(
            v["providers"]["ais"]["@#"]["b1"]["checksum"]["type"],
            "xxhash2"
        );
        assert_eq!(v["providers"]["ais"]["@#"]["b1"]["created"], "2");
        let back: Bmd = serde_json::from_value(v).unwrap();
        assert_eq!(back, bmd);
        // A remote bucket goes under its provider, and comes back under its key.
        bmd.buckets.insert("aws:b2".into(), Bprops::new_ais(1, 2));
        let v = serde_json::to_value(&bmd).unwrap();
        assert!(v["providers"]["aws"]["@#"]["b2"].is_object(), "{v}");
        assert!(v["providers"]["ais"]["@#"].get("aws:b2").is_none());
        let back: Bmd = serde_json::from_value(v).unwrap();
        assert_eq!(back, bmd);
        // A remote AIS cluster's bucket: under ais, namespace @alias#.
        bmd.buckets
            .insert("ais@rem:b3".into(), Bprops::new_ais(1, 2));
        let v = serde_json::to_value(&bmd).unwrap();
        assert!(v["providers"]["ais"]["@rem#"]["b3"].is_object(), "{v}");
        let back: Bmd = serde_json::from_value(v).unwrap();
        assert_eq!(back, bmd);
    }
}
