//! Cluster metadata: the Smap (cluster map), the BMD (bucket metadata) and bucket props, in
//! AIS's JSON shapes (spec §3), persisted with AIS's "jsp" framing; node IDs.
//!
//! jsp framing as written here: bytes 0..7 `"aistore"`, byte 7 jsp version (1), bytes 8..12
//! BE u32 meta-version (Smap 2, BMD 2), bytes 12..16 BE u32 flags (bit1 = checksummed), then
//! 8 bytes BE XXH64(seed 0) of the JSON, then the JSON. See docs/on-disk-format.md.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetInfo {
    pub node_ip_addr: String,
    pub daemon_port: String,
    pub direct_url: String,
}

impl NetInfo {
    pub fn new(host: &str, port: u16) -> NetInfo {
        NetInfo {
            node_ip_addr: host.into(),
            daemon_port: port.to_string(),
            direct_url: format!("http://{host}:{port}"),
        }
    }
}

/// Where a target core listens and which mountpaths it owns (fields the SDK ignores), so a
/// proxy can redirect straight to the owning core.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CoreInfo {
    pub core: usize,
    pub direct_url: String,
    pub mountpaths: Vec<String>,
}

/// Snode flags (spec §3).
pub const FLAG_MAINTENANCE: u64 = 4;
pub const FLAG_DECOMMISSION: u64 = 8;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snode {
    pub public_net: NetInfo,
    pub intra_control_net: NetInfo,
    pub intra_data_net: NetInfo,
    pub daemon_type: String,
    pub daemon_id: String,
    pub flags: u64,
    pub id_digest: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cores: Vec<CoreInfo>,
}

fn ser_str<S: Serializer, T: ToString>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

fn de_str_num<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        I(i64),
    }
    match N::deserialize(d)? {
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
        N::I(i) => Ok(i),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Smap {
    pub pmap: BTreeMap<String, Snode>,
    pub proxy_si: Snode,
    pub tmap: BTreeMap<String, Snode>,
    pub uuid: String,
    pub creation_time: String,
    #[serde(serialize_with = "ser_str", deserialize_with = "de_str_num")]
    pub version: i64,
}

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

/// Bucket props: the typed sections we act on plus the rest kept verbatim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bprops {
    pub provider: String,
    pub checksum: CksumConf,
    pub versioning: VersionConf,
    #[serde(serialize_with = "ser_str", deserialize_with = "de_str_num")]
    pub created: i64,
    #[serde(serialize_with = "ser_str", deserialize_with = "de_str_num")]
    pub bid: i64,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl Bprops {
    /// Defaults inherited from the cluster config at creation.
    pub fn new_ais(bid: i64, created_ns: i64) -> Bprops {
        let rest = serde_json::json!({
            "backend_bck": {"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}},
            "write_policy": {"data": "", "md": ""},
            "mirror": {"copies": 1, "burst_buffer": 128, "enabled": false},
            "ec": {"objsize_limit": 262144, "compression": "never", "bundle_multiplier": 2, "data_slices": 2, "parity_slices": 2, "enabled": false, "disk_only": false},
            "lru": {"dont_evict_time": "2h0m", "capacity_upd_time": "10m", "enabled": false},
            "access": "4194303",
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
        let mut providers = BTreeMap::new();
        if !self.buckets.is_empty() {
            let mut ns = BTreeMap::new();
            ns.insert("@#".to_string(), self.buckets.clone());
            providers.insert("ais".to_string(), ns);
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
        let buckets = j
            .providers
            .get("ais")
            .and_then(|p| p.get("@#"))
            .cloned()
            .unwrap_or_default();
        Ok(Bmd {
            buckets,
            uuid: j.uuid,
            version: j.version,
        })
    }
}

const JSP_MAGIC: &[u8; 7] = b"aistore";
const JSP_VERSION: u8 = 1;
const JSP_FLAG_CHECKSUM: u32 = 1 << 1;
const JSP_PREFIX_BYTES: usize = 16;

/// Frame JSON with the jsp prefix and an XXH64 checksum.
pub fn jsp_encode(meta_version: u32, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(JSP_PREFIX_BYTES + 8 + json.len());
    out.extend_from_slice(JSP_MAGIC);
    out.push(JSP_VERSION);
    out.extend_from_slice(&meta_version.to_be_bytes());
    out.extend_from_slice(&JSP_FLAG_CHECKSUM.to_be_bytes());
    out.extend_from_slice(&xxhash_rust::xxh64::xxh64(json, 0).to_be_bytes());
    out.extend_from_slice(json);
    out
}

pub fn jsp_decode(buf: &[u8]) -> Result<&[u8], String> {
    if buf.len() < JSP_PREFIX_BYTES || &buf[..7] != JSP_MAGIC {
        return Err("not a jsp file (bad prefix)".into());
    }
    let flags = u32::from_be_bytes(buf[12..16].try_into().expect("4 bytes"));
    if flags & 1 != 0 {
        return Err("lz4-compressed jsp files are not supported".into());
    }
    if flags & JSP_FLAG_CHECKSUM == 0 {
        return Ok(&buf[JSP_PREFIX_BYTES..]);
    }
    if buf.len() < JSP_PREFIX_BYTES + 8 {
        return Err("jsp file truncated".into());
    }
    let want = u64::from_be_bytes(buf[16..24].try_into().expect("8 bytes"));
    let json = &buf[24..];
    let got = xxhash_rust::xxh64::xxh64(json, 0);
    if want != got {
        return Err(format!(
            "jsp checksum mismatch: stored {want:016x}, computed {got:016x}"
        ));
    }
    Ok(json)
}

/// Write atomically: temp file, fsync, rename, fsync dir. Control plane only (blocking).
pub fn persist<T: Serialize>(path: &Path, meta_version: u32, v: &T) -> std::io::Result<()> {
    use std::io::Write;
    let json = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&jsp_encode(meta_version, &json))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, String> {
    let buf = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let json = jsp_decode(&buf).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(json)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Random alphanumeric string starting with a letter (node IDs, cluster UUID, job IDs).
pub fn random_id(len: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if ok.is_err() {
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7)
            ^ ((std::process::id() as u64) << 32);
        for b in bytes.iter_mut() {
            x = engine::hrw::mix(x);
            *b = x as u8;
        }
    }
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| if i == 0 { LETTERS[*b as usize % LETTERS.len()] } else { ALNUM[*b as usize % ALNUM.len()] } as char)
        .collect()
}

/// Node ID rules (spec §1): at least 8 chars, starts with a letter, alphanumeric plus `-_`.
pub fn valid_node_id(id: &str) -> bool {
    id.len() >= 8
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphabetic()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsp_roundtrip_and_corruption() {
        let b = jsp_encode(2, b"{\"a\":1}");
        assert_eq!(jsp_decode(&b).unwrap(), b"{\"a\":1}");
        let mut c = b.clone();
        let last = c.len() - 2;
        c[last] ^= 1;
        assert!(jsp_decode(&c).unwrap_err().contains("checksum"));
    }

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
    }

    #[test]
    fn node_ids() {
        for _ in 0..100 {
            assert!(valid_node_id(&random_id(8)));
        }
        assert!(!valid_node_id("1abcdefg"));
        assert!(!valid_node_id("short"));
        assert!(!valid_node_id("abc def gh"));
    }
}
