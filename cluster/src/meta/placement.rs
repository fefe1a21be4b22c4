//! Placement, one function per question: which targets may own objects ([`Smap::active_targets`]),
//! which target owns an object ([`target`]), which of a target's mountpaths holds it
//! ([`mountpath`]), and where a proxy sends a client for it ([`owner`]: the URL of the core
//! that owns that mountpath). HRW exactly as AIS computes it (spec §4, `engine::hrw`).
//! Sans-IO and table-tested; every caller (proxy redirects, S3 forwarding, rebalance,
//! resilver, get-from-neighbour, the per-core hand-off) goes through here.

use super::smap::{Smap, Snode};
use engine::hrw;

/// HRW digest of an AIS-bucket object (its uname: provider, namespace, bucket, name).
pub fn object_digest(bucket: &str, object: &str) -> u64 {
    let b = engine::layout::Bck::ais(bucket);
    hrw::digest(hrw::uname(&b.provider, &b.ns, &b.name, object).as_bytes())
}

/// The object's owner among the map's active targets; `None` if there is none.
pub fn target(smap: &Smap, digest: u64) -> Option<&Snode> {
    let targets: Vec<&Snode> = smap.active_targets().collect();
    hrw::choose(digest, targets.iter().map(|t| t.id_digest)).map(|i| targets[i])
}

/// The map's active targets ranked by HRW for an object (rank 0 is its owner, the rest in
/// decreasing weight): where an erasure-coded object's slices go (slice i on rank i).
pub fn targets_ranked(smap: &Smap, digest: u64) -> Vec<&Snode> {
    let targets: Vec<&Snode> = smap.active_targets().collect();
    hrw::rank(digest, targets.iter().map(|t| t.id_digest))
        .into_iter()
        .map(|i| targets[i])
        .collect()
}

/// The URL of the core of target `t` that owns the object's mountpath (from the cores it
/// advertises), or its public URL if it advertises none.
pub fn core_url(t: &Snode, digest: u64) -> String {
    let mps: Vec<(&str, &str)> = t
        .cores
        .iter()
        .flat_map(|c| {
            c.mountpaths
                .iter()
                .map(move |m| (m.as_str(), c.direct_url.as_str()))
        })
        .collect();
    match mountpath(digest, mps.iter().map(|(m, _)| hrw::digest(m.as_bytes()))) {
        Some(i) => mps[i].1.to_string(),
        None => t.public_net.direct_url.clone(),
    }
}

/// Index of the object's mountpath among `mountpath_digests` (HRW over the digests of the
/// mountpaths' paths, in the order given); `None` if there is none.
pub fn mountpath<I: IntoIterator<Item = u64>>(digest: u64, mountpath_digests: I) -> Option<usize> {
    hrw::choose(digest, mountpath_digests)
}

/// Where to reach an object's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub target_id: String,
    /// The owning core's URL (from the cores the target advertises), or the target's public
    /// URL if it advertises none.
    pub url: String,
}

/// The object's owner target in `smap` and the URL of the core that owns its mountpath.
pub fn owner(smap: &Smap, bucket: &str, object: &str) -> Option<Owner> {
    let d = object_digest(bucket, object);
    let t = target(smap, d)?;
    Some(Owner {
        target_id: t.daemon_id.clone(),
        url: core_url(t, d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::smap::{CoreInfo, NetInfo, FLAG_DECOMMISSION, FLAG_MAINTENANCE};
    use std::collections::BTreeMap;

    fn target(id: &str, flags: u64, cores: &[(&str, &[&str])]) -> Snode {
        Snode {
            public_net: NetInfo::new("10.0.0.1", 8080),
            intra_control_net: NetInfo::new("10.0.0.1", 8080),
            intra_data_net: NetInfo::new("10.0.0.1", 8080),
            daemon_type: "target".into(),
            daemon_id: id.into(),
            flags,
            id_digest: hrw::digest(id.as_bytes()),
            cores: cores
                .iter()
                .enumerate()
                .map(|(i, (url, mps))| CoreInfo {
                    core: i,
                    direct_url: (*url).into(),
                    mountpaths: mps.iter().map(|m| (*m).to_string()).collect(),
                })
                .collect(),
        }
    }

    fn smap(targets: Vec<Snode>) -> Smap {
        Smap {
            pmap: BTreeMap::new(),
            proxy_si: Snode::placeholder(),
            tmap: targets
                .into_iter()
                .map(|t| (t.daemon_id.clone(), t))
                .collect(),
            uuid: "u".into(),
            creation_time: String::new(),
            version: 1,
        }
    }

    /// An independent model of HRW over targets: the highest mix(digest ^ id_digest) wins.
    fn model_owner(ids: &[&str], bucket: &str, object: &str) -> String {
        let d = object_digest(bucket, object);
        ids.iter()
            .max_by_key(|id| hrw::mix(d ^ hrw::digest(id.as_bytes())))
            .expect("non-empty")
            .to_string()
    }

    #[test]
    fn owner_is_hrw_over_active_targets_only() {
        let all = ["t1aaaaaa", "t2bbbbbb", "t3cccccc", "t4dddddd"];
        let s = smap(vec![
            target(all[0], 0, &[]),
            target(all[1], FLAG_MAINTENANCE, &[]),
            target(all[2], 0, &[]),
            target(all[3], FLAG_DECOMMISSION, &[]),
        ]);
        let active = [all[0], all[2]];
        for i in 0..500 {
            let o = format!("obj-{i}");
            let got = owner(&s, "b", &o).expect("owner");
            assert_eq!(got.target_id, model_owner(&active, "b", &o), "{o}");
            assert_eq!(got.url, "http://10.0.0.1:8080", "no cores advertised");
        }
    }

    #[test]
    fn targets_ranked_start_at_the_owner_in_decreasing_weight() {
        let all = ["t1aaaaaa", "t2bbbbbb", "t3cccccc", "t4dddddd", "t5eeeeee"];
        let s = smap(vec![
            target(all[0], 0, &[]),
            target(all[1], 0, &[]),
            target(all[2], FLAG_MAINTENANCE, &[]),
            target(all[3], 0, &[]),
            target(all[4], 0, &[]),
        ]);
        for i in 0..200 {
            let o = format!("obj-{i}");
            let d = object_digest("b", &o);
            let got: Vec<&str> = targets_ranked(&s, d)
                .iter()
                .map(|t| t.daemon_id.as_str())
                .collect();
            let mut want: Vec<&str> = vec![all[0], all[1], all[3], all[4]];
            want.sort_by_key(|id| std::cmp::Reverse(hrw::mix(d ^ hrw::digest(id.as_bytes()))));
            assert_eq!(got, want, "{o}");
            assert_eq!(got[0], owner(&s, "b", &o).expect("owner").target_id);
        }
    }

    #[test]
    fn no_active_target_no_owner() {
        assert_eq!(owner(&smap(vec![]), "b", "o"), None);
        let s = smap(vec![target("t1aaaaaa", FLAG_MAINTENANCE, &[])]);
        assert_eq!(owner(&s, "b", "o"), None);
    }

    #[test]
    fn owner_url_is_the_core_of_the_hrw_mountpath() {
        let mps = ["/mp/1", "/mp/2", "/mp/3"];
        let s = smap(vec![target(
            "t1aaaaaa",
            0,
            &[("http://h:1", &mps[..2]), ("http://h:2", &mps[2..])],
        )]);
        for i in 0..300 {
            let o = format!("o{i}");
            let d = object_digest("bk", &o);
            let best = mps
                .iter()
                .max_by_key(|m| hrw::mix(d ^ hrw::digest(m.as_bytes())))
                .expect("non-empty");
            let want = if *best == "/mp/3" {
                "http://h:2"
            } else {
                "http://h:1"
            };
            assert_eq!(owner(&s, "bk", &o).expect("owner").url, want, "{o}");
        }
    }

    #[test]
    fn mountpath_index_matches_choose() {
        assert_eq!(mountpath(7, []), None);
        assert_eq!(mountpath(7, [5]), Some(0));
    }
}
