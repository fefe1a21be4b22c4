//! The Smap (cluster map) and its nodes (Snodes) in AIS's JSON shape (spec §3), and the
//! node-flag predicates every placement decision uses.

use super::{de_str_num, ser_str};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetInfo {
    pub node_ip_addr: String,
    pub daemon_port: String,
    pub direct_url: String,
}

impl NetInfo {
    pub fn new(host: &str, port: u16) -> NetInfo {
        NetInfo::with_scheme("http", host, port)
    }

    /// `scheme`: `http` or `https` (the network's TLS).
    pub fn with_scheme(scheme: &str, host: &str, port: u16) -> NetInfo {
        NetInfo {
            node_ip_addr: host.into(),
            daemon_port: port.to_string(),
            direct_url: format!("{scheme}://{host}:{port}"),
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
pub const FLAG_NON_ELECTABLE: u64 = 1;
pub const FLAG_MAINTENANCE: u64 = 4;
pub const FLAG_DECOMMISSION: u64 = 8;
/// Our extension (AIS has no such bit; AIS uses 1, 2, 4, 8 and 16): the node is shut down
/// for a while and will come back (SIGTERM, `shutdown-node`, `shutdown`). A target so
/// flagged is out of HRW placement like one in maintenance, but its absence starts no
/// rebalance (see [`Smap::rebalance_target_ids`]), the primary's keepalive watcher does not
/// remove it, and its re-join clears the flag. AIS tools that do not know the bit show the
/// node as an ordinary member that does not answer.
pub const FLAG_SHUTDOWN: u64 = 1 << 10;

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

impl Snode {
    /// In HRW placement: neither in maintenance nor being decommissioned. A target that is
    /// not active keeps its Smap entry (it still answers) but owns no objects.
    pub fn is_active(&self) -> bool {
        self.flags & (FLAG_MAINTENANCE | FLAG_DECOMMISSION | FLAG_SHUTDOWN) == 0
    }

    /// Shut down for a while ([`FLAG_SHUTDOWN`]): a known, temporary absence.
    pub fn is_shut_down(&self) -> bool {
        self.flags & FLAG_SHUTDOWN != 0
    }

    /// Counted as a member whose objects stay where they are: active, or shut down for a
    /// while; not in maintenance and not being decommissioned (those move their objects
    /// away).
    pub fn keeps_its_objects(&self) -> bool {
        self.flags & (FLAG_MAINTENANCE | FLAG_DECOMMISSION) == 0
    }

    /// A proxy that must never become primary (AIS `non_electable`).
    pub fn is_non_electable(&self) -> bool {
        self.flags & FLAG_NON_ELECTABLE != 0
    }

    /// An Snode with no identity and no addresses (the Smap of a node that has not joined).
    pub fn placeholder() -> Snode {
        let n = NetInfo::new("", 0);
        Snode {
            public_net: n.clone(),
            intra_control_net: n.clone(),
            intra_data_net: n,
            daemon_type: String::new(),
            daemon_id: String::new(),
            flags: 0,
            id_digest: 0,
            cores: vec![],
        }
    }
}

impl Smap {
    /// A map of cluster `uuid` with no nodes and no primary yet.
    pub fn empty(uuid: &str, version: i64) -> Smap {
        Smap {
            pmap: BTreeMap::new(),
            proxy_si: Snode::placeholder(),
            tmap: BTreeMap::new(),
            uuid: uuid.into(),
            creation_time: String::new(),
            version,
        }
    }

    /// The targets HRW places objects on (see [`Snode::is_active`]), in ID order.
    pub fn active_targets(&self) -> impl Iterator<Item = &Snode> {
        self.tmap.values().filter(|t| t.is_active())
    }

    /// IDs of the active targets, sorted: two maps with the same list place every object
    /// alike.
    pub fn active_target_ids(&self) -> Vec<&str> {
        self.active_targets()
            .map(|t| t.daemon_id.as_str())
            .collect()
    }

    /// IDs of the targets a rebalance distributes objects over, sorted: the active ones
    /// plus those shut down for a while ([`Snode::keeps_its_objects`]). A target leaving
    /// or coming back from a temporary shutdown changes placement (`active_target_ids`)
    /// but not this list, so it starts no rebalance.
    pub fn rebalance_target_ids(&self) -> Vec<&str> {
        self.tmap
            .values()
            .filter(|t| t.keeps_its_objects())
            .map(|t| t.daemon_id.as_str())
            .collect()
    }

    /// A proxy or target of this map.
    pub fn node(&self, id: &str) -> Option<&Snode> {
        self.pmap.get(id).or_else(|| self.tmap.get(id))
    }

    /// Every node (proxies, then targets).
    pub fn nodes(&self) -> impl Iterator<Item = &Snode> {
        self.pmap.values().chain(self.tmap.values())
    }

    /// The proxy that becomes primary if `skip` (the primary) fails: among the electable
    /// proxies not in maintenance, the one with the largest raw `id_digest` (AIS's
    /// `HrwProxy`; ties by ID).
    pub fn hrw_proxy(&self, skip: &str) -> Option<&Snode> {
        self.pmap
            .values()
            .filter(|p| p.daemon_id != skip && p.is_active() && !p.is_non_electable())
            .max_by(|a, b| (a.id_digest, &a.daemon_id).cmp(&(b.id_digest, &b.daemon_id)))
    }

    /// Take a node out of the map (it left, was decommissioned or stopped answering).
    pub fn remove(&mut self, id: &str) {
        self.pmap.remove(id);
        self.tmap.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, flags: u64) -> Snode {
        let mut t = Snode::placeholder();
        t.daemon_id = id.into();
        t.daemon_type = "target".into();
        t.flags = flags;
        t
    }

    #[test]
    fn active_targets_skip_maintenance_and_decommission() {
        let mut s = Smap::empty("u", 1);
        for (id, flags) in [
            ("t1", 0),
            ("t2", FLAG_MAINTENANCE),
            ("t3", FLAG_DECOMMISSION),
            ("t4", FLAG_MAINTENANCE | FLAG_DECOMMISSION),
            ("t5", 1), // another flag: still active
        ] {
            s.tmap.insert(id.into(), target(id, flags));
        }
        assert_eq!(s.active_target_ids(), vec!["t1", "t5"]);
        assert_eq!(s.rebalance_target_ids(), vec!["t1", "t5"]);
        assert!(s.node("t2").is_some());
        s.remove("t2");
        assert!(s.node("t2").is_none());
    }

    #[test]
    fn hrw_proxy_is_the_largest_digest_among_electable_active_proxies() {
        let mut s = Smap::empty("u", 1);
        for (id, digest, flags) in [
            ("p1", 50, 0),
            ("p2", 90, FLAG_NON_ELECTABLE),
            ("p3", 70, 0),
            ("p4", 80, FLAG_MAINTENANCE),
        ] {
            let mut p = target(id, flags);
            p.daemon_type = "proxy".into();
            p.id_digest = digest;
            s.pmap.insert(id.into(), p);
        }
        assert_eq!(s.hrw_proxy("p1").unwrap().daemon_id, "p3");
        assert_eq!(s.hrw_proxy("p3").unwrap().daemon_id, "p1");
        s.pmap.remove("p1");
        assert!(s.hrw_proxy("p3").is_none());
    }

    #[test]
    fn shut_down_target_leaves_placement_but_not_the_rebalance_set() {
        let mut s = Smap::empty("u", 1);
        for (id, flags) in [
            ("t1", 0),
            ("t2", FLAG_SHUTDOWN),
            ("t3", FLAG_SHUTDOWN | FLAG_MAINTENANCE),
        ] {
            s.tmap.insert(id.into(), target(id, flags));
        }
        assert_eq!(s.active_target_ids(), vec!["t1"]);
        assert_eq!(s.rebalance_target_ids(), vec!["t1", "t2"]);
        assert!(s.tmap["t2"].is_shut_down() && !s.tmap["t2"].is_active());
    }
}
