//! `-direct`: route object requests by the cluster map straight to the owning target core,
//! as a client that knows the Smap can (aisnode's `docs/direct.md`): HRW over the active
//! targets' `id_digest`, then HRW over the owning target's mountpaths, whose cores (and their
//! URLs) aisnode lists in the Smap's `cores`. Requests carry `Ais-Direct: true`; a target
//! that is not the owner in its own map answers 421 and the run counts an error.
//!
//! The HRW arithmetic is AIS's (spec §4): XXH64 with seed `MLCG32` and the xoshiro256**
//! seeding mixer. aisloader sees the system only as a client does (its one workspace
//! dependency is `net`), so it carries its own copy of these few lines, checked against the
//! spec's vectors below.

use net::client::Endpoint;
use serde_json::Value;
use xxhash_rust::xxh64::xxh64;

/// Header a direct request carries.
pub const HDR_DIRECT: &str = "Ais-Direct";

const MLCG32: u64 = 1103515245;
/// Smap node flags that take a target out of placement (maintenance, decommission, shutdown).
const FLAGS_INACTIVE: u64 = 4 | 8 | (1 << 10);

fn digest(bytes: &[u8]) -> u64 {
    xxh64(bytes, MLCG32)
}

fn mix(s: u64) -> u64 {
    let mut z = s.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z = (z ^ (z >> 31)).wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z = (z ^ (z >> 31)).wrapping_mul(5);
    z.rotate_left(7).wrapping_mul(9)
}

fn choose(d: u64, digests: impl Iterator<Item = u64>) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, node) in digests.enumerate() {
        let w = mix(node ^ d);
        if best.is_none_or(|(_, bw)| w > bw) {
            best = Some((i, w));
        }
    }
    best.map(|(i, _)| i)
}

struct Target {
    id_digest: u64,
    /// (mountpath digest, index of its core's endpoint)
    mountpaths: Vec<(u64, usize)>,
    /// The target's public endpoint (a target that lists no cores).
    public: usize,
}

/// Placement of objects on target cores, from one Smap.
pub struct DirectMap {
    pub version: u64,
    targets: Vec<Target>,
    endpoints: Vec<Endpoint>,
}

fn endpoint_of(url: &str) -> Result<Endpoint, String> {
    net::client::parse_http_url(&format!("{}/", url.trim_end_matches('/')))
        .map(|(e, _)| e)
        .map_err(|e| format!("bad URL {url:?} in the cluster map: {e}"))
}

impl DirectMap {
    /// From the JSON of `GET /v1/daemon?what=smap`.
    pub fn from_smap(v: &Value) -> Result<DirectMap, String> {
        let tmap = v
            .get("tmap")
            .and_then(Value::as_object)
            .ok_or("the cluster map has no tmap")?;
        let mut m = DirectMap {
            version: v.get("version").and_then(Value::as_u64).unwrap_or(0),
            targets: Vec::new(),
            endpoints: Vec::new(),
        };
        let add = |m: &mut DirectMap, url: &str| -> Result<usize, String> {
            let e = endpoint_of(url)?;
            if let Some(i) = m.endpoints.iter().position(|x| x.authority == e.authority) {
                return Ok(i);
            }
            m.endpoints.push(e);
            Ok(m.endpoints.len() - 1)
        };
        for (id, t) in tmap {
            let flags = t.get("flags").and_then(Value::as_u64).unwrap_or(0);
            if flags & FLAGS_INACTIVE != 0 {
                continue;
            }
            let id_digest = t
                .get("id_digest")
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("target {id} has no id_digest"))?;
            let url = t
                .pointer("/public_net/direct_url")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("target {id} has no public URL"))?;
            let public = add(&mut m, url)?;
            let mut mountpaths = Vec::new();
            for c in t
                .get("cores")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(curl) = c.get("direct_url").and_then(Value::as_str) else {
                    continue;
                };
                let e = add(&mut m, curl)?;
                for mp in c
                    .get("mountpaths")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(p) = mp.as_str() {
                        mountpaths.push((digest(p.as_bytes()), e));
                    }
                }
            }
            m.targets.push(Target {
                id_digest,
                mountpaths,
                public,
            });
        }
        if m.targets.is_empty() {
            return Err("the cluster map has no active targets".into());
        }
        Ok(m)
    }

    /// The endpoint of the core that owns `provider://bucket/object` (global namespace).
    pub fn endpoint(&self, provider: &str, bucket: &str, object: &str) -> &Endpoint {
        let mut uname = String::with_capacity(provider.len() + bucket.len() + object.len() + 5);
        uname.push_str(provider);
        uname.push_str("/@#/");
        uname.push_str(bucket);
        uname.push('/');
        uname.push_str(object);
        let d = digest(uname.as_bytes());
        let t = &self.targets
            [choose(d, self.targets.iter().map(|t| t.id_digest)).expect("a map with targets")];
        let e = choose(d, t.mountpaths.iter().map(|(md, _)| *md))
            .map_or(t.public, |i| t.mountpaths[i].1);
        &self.endpoints[e]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec §4 vectors: the mixer, a target choice and a mountpath choice.
    #[test]
    fn hrw_matches_spec_vectors() {
        assert_eq!(mix(0), 1905207664160064169);
        assert_eq!(mix(4573842), 5026071747115404967);
        let d = digest(b"ais/@#/mybucket/obj1");
        assert_eq!(d, 17037399786638499582);
        let ids = ["lgGt8081", "Xyzt8082", "abct8083"];
        assert_eq!(choose(d, ids.iter().map(|i| digest(i.as_bytes()))), Some(0));
        assert_eq!(
            choose(d, [digest(b"/vdh"), digest(b"/vdi")].into_iter()),
            Some(1)
        );
    }

    #[test]
    fn routes_to_the_core_of_the_mountpath() {
        let v: Value = serde_json::from_str(
            r#"{"version": 7, "tmap": {
                "A": {"id_digest": 1, "flags": 0, "public_net": {"direct_url": "http://h:1"},
                      "cores": [{"core": 0, "direct_url": "http://h:10", "mountpaths": ["/a"]},
                                {"core": 1, "direct_url": "http://h:11", "mountpaths": ["/b"]}]},
                "M": {"id_digest": 2, "flags": 4, "public_net": {"direct_url": "http://h:2"}}}}"#,
        )
        .unwrap();
        let m = DirectMap::from_smap(&v).unwrap();
        assert_eq!(m.version, 7);
        let mut seen = std::collections::HashSet::new();
        for i in 0..64 {
            let o = format!("o{i}");
            let e = m.endpoint("ais", "b", &o);
            let d = digest(format!("ais/@#/b/{o}").as_bytes());
            let want = if mix(digest(b"/a") ^ d) > mix(digest(b"/b") ^ d) {
                10
            } else {
                11
            };
            assert_eq!(e.port, want);
            seen.insert(e.port);
        }
        assert_eq!(seen.len(), 2, "both cores get objects");
    }
}
