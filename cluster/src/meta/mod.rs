//! Layer 1: cluster metadata, sans-IO. The Smap and BMD in AIS's JSON shapes, the jsp framing
//! they are persisted and synced in, the cluster configuration, placement (which targets, which target, which
//! mountpath), the typed rule for accepting a new version, and IDs. Nothing here does I/O
//! or names a node's state: every higher layer builds on these values.

pub mod access;
pub mod bmd;
pub mod bprops;
pub mod config;
pub mod election;
pub mod ids;
pub mod jsp;
pub mod placement;
pub mod smap;
pub mod space;
pub mod template;
pub mod version;

pub use bmd::{Bmd, Bprops, CksumConf, EcConf, LruConf, MirrorConf, VersionConf};
pub use ids::{random_id, valid_node_id};
pub use smap::{
    CoreInfo, NetInfo, Smap, Snode, FLAG_DECOMMISSION, FLAG_MAINTENANCE, FLAG_NON_ELECTABLE,
    FLAG_SHUTDOWN,
};

use serde::{Deserialize, Deserializer, Serializer};

/// AIS writes some integers as JSON strings (versions, bucket IDs, times).
pub(crate) fn ser_str<S: Serializer, T: ToString>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// Reads an integer written as a JSON string or as a number.
pub(crate) fn de_str_num<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
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

/// `<name>?provider=<provider>` of bucket key `key`, the start of a request target for it
/// (`/v1/objects/` or `/v1/buckets/` before, more query parameters after with `&`).
pub fn url_path_q(key: &str) -> String {
    let b = engine::layout::Bck::ais(key);
    if b.ns.is_empty() {
        format!("{}?provider={}", b.name, b.provider)
    } else {
        format!("{}?provider={}&namespace={}%23", b.name, b.provider, b.ns)
    }
}

/// `<name>/<object>?provider=<provider>` for an object of bucket key `key` (the object
/// percent-encoded).
pub fn url_obj_q(key: &str, object: &str) -> String {
    let b = engine::layout::Bck::ais(key);
    let q = url_path_q(key);
    let q = q.strip_prefix(b.name.as_str()).unwrap_or(&q);
    format!("{}/{}{q}", b.name, net::http::percent_encode_path(object))
}
