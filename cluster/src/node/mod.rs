//! Layer 2: node state. Identity, configuration, the published snapshots every core reads
//! (Smap, BMD, the mountpath set) and the rules that replace them. Shared by every core
//! (`Arc`); data-path readers take snapshots through [`LocalView`] and so touch no lock per
//! request. The services that act on this state (membership, jobs, rebalance, resilver)
//! are layer 3 and are not named here.

pub mod config;
mod confview;
pub mod mpset;
pub mod published;
pub mod store;
pub mod tls;

pub use config::{NodeConfig, Role};
pub use mpset::MpSet;
pub use published::{LocalView, Published};

use crate::error::{Error, Result};
use crate::meta::version::{self, Decision};
use crate::meta::{self, Bmd, CoreInfo, NetInfo, Smap, Snode};
use net::time;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The persisted Smap and BMD, in the node's `conf/` directory.
pub const SMAP_FILE: &str = ".ais.smap";
pub const BMD_FILE: &str = ".ais.bmd";

pub struct NodeState {
    pub cfg: NodeConfig,
    pub proxy_id: String,
    pub target_id: String,
    /// The runtime mountpath set (targets): HRW placement, owning cores, leaving, disabled.
    pub mountpaths: Published<MpSet>,
    /// A mountpath change (or a resilver finishing one) is being applied.
    pub mp_changing: std::sync::atomic::AtomicBool,
    /// Mountpaths detached at runtime (kept so a flag naming them does not bring them back).
    pub mp_detached: Mutex<Vec<String>>,
    /// A resilver is pending or running: a read that misses on its HRW mountpath looks on
    /// the others.
    pub resilvering: std::sync::atomic::AtomicBool,
    /// The primary has not yet heard of our current Snode (mountpaths changed): re-join.
    pub rejoin_needed: std::sync::atomic::AtomicBool,
    pub smap: Published<Smap>,
    pub bmd: Published<Bmd>,
    /// Serializes control-plane changes (BMD updates and their persistence).
    pub control: Mutex<()>,
    pub confdir: PathBuf,
    pub started: Instant,
    /// Primary only: when each node was last heard from (keepalive or join).
    pub last_seen: Mutex<std::collections::HashMap<String, Instant>>,
    /// Primary only: targets decommissioned since it started. Their joins are refused: a
    /// decommissioned target whose keepalive hits the primary between its removal and the
    /// metasync that tells it must not come back through the keepalive's slow path.
    pub decommissioned: Mutex<std::collections::HashSet<String>>,
    /// Set when this node was removed from the cluster through the API: stop keepalives.
    pub left: std::sync::atomic::AtomicBool,
    /// The Smap before the last change of the active target set: where objects may still be
    /// while a rebalance moves them (get-from-neighbour).
    pub prev_smap: Mutex<Option<Arc<Smap>>>,
    /// Non-primary nodes: the primary accepted our join (and has not disowned us since).
    pub joined: std::sync::atomic::AtomicBool,
    /// Non-primary nodes: when the primary last answered us (keepalive, join, metasync). A
    /// node that heard from the primary this recently votes against replacing it.
    pub primary_contact: Mutex<Instant>,
    /// Primary: when it last confirmed it still leads (its keepalive watch ran on time and
    /// heard from other nodes). Metadata changes need a recent confirmation, so a primary
    /// that was paused or cut off does not change metadata the cluster has moved past.
    pub primacy_confirmed: Mutex<Instant>,
    /// An election this node runs as candidate is in progress.
    pub electing: std::sync::atomic::AtomicBool,
    /// Primary: a metasync found a node holding a newer Smap (we may have been deposed).
    pub newer_smap_seen: std::sync::atomic::AtomicBool,
    /// Primary: intra-control URLs of nodes it removed for silence. A primary cut off by a
    /// partition removes the other side; once the partition heals, only these can tell it
    /// that the other side elected a newer primary (nobody there sends to it any more).
    pub lost_peers: Mutex<Vec<String>>,
    /// The cluster configuration, this node's override and the two combined (what the node
    /// uses); loaded and replaced by `crate::config`.
    pub config: Published<meta::config::ConfigView>,
    /// TLS of the three networks, from the start-up config's `net.http`.
    pub tls: tls::NodeTls,
}

impl NodeState {
    /// Blocking set-up before the reactors start: mountpaths, IDs, persisted Smap and BMD.
    pub fn init(cfg: NodeConfig) -> Result<NodeState> {
        if cfg.cores == 0 {
            return Err(Error::Config("--cores must be at least 1".into()));
        }
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            Error::Config(format!(
                "cannot create data directory {}: {e}",
                cfg.data_dir.display()
            ))
        })?;
        let confdir = cfg.data_dir.join("conf");
        std::fs::create_dir_all(&confdir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", confdir.display())))?;
        let mut mps_cfg = cfg.mountpaths.clone();
        if cfg.role == Role::Proxy {
            if !mps_cfg.is_empty() {
                return Err(Error::Config(
                    "--mountpath is for targets; a proxy stores no objects".into(),
                ));
            }
        } else if mps_cfg.is_empty() {
            mps_cfg = vec![cfg.data_dir.join("mp1"), cfg.data_dir.join("mp2")];
        }
        let (mpset, mp_detached, resilver_pending) = if cfg.role == Role::Proxy {
            (MpSet::default(), Vec::new(), false)
        } else {
            mpset::init_set(&mps_cfg, &confdir, cfg.cores)?
        };
        let mountpaths = mpset.with_data();

        let proxy_id_path = confdir.join(".ais.proxy_id");
        let proxy_id = match std::fs::read_to_string(&proxy_id_path) {
            Ok(s) if meta::valid_node_id(s.trim()) => s.trim().to_string(),
            _ => {
                let id = std::env::var("AIS_DAEMON_ID")
                    .ok()
                    .filter(|s| meta::valid_node_id(s))
                    .unwrap_or_else(|| meta::random_id(8));
                std::fs::write(&proxy_id_path, &id).map_err(|e| {
                    Error::Config(format!("cannot write {}: {e}", proxy_id_path.display()))
                })?;
                id
            }
        };
        let ids: Vec<Option<String>> = mountpaths.iter().map(|m| m.read_daemon_id()).collect();
        let mut known: Vec<&String> = ids.iter().flatten().collect();
        known.dedup();
        let target_id = match known.as_slice() {
            [] => std::env::var("AIS_DAEMON_ID")
                .ok()
                .filter(|s| meta::valid_node_id(s) && cfg.role == Role::Target)
                .unwrap_or_else(|| meta::random_id(8)),
            [one] => (*one).clone(),
            many => {
                return Err(Error::Config(format!(
                    "mountpaths carry different target IDs {many:?}: they belong to different nodes"
                )))
            }
        };
        for m in &mountpaths {
            if m.read_daemon_id().as_deref() != Some(target_id.as_str()) {
                m.write_daemon_id(&target_id)
                    .map_err(|e| Error::Config(e.to_string()))?;
            }
        }

        let smap_path = confdir.join(SMAP_FILE);
        let bmd_path = confdir.join(BMD_FILE);
        let mut old_smap: Option<Smap> = store::load(&smap_path)?;
        let mut bmd: Option<Bmd> = store::load(&bmd_path)?;
        if cfg.role != Role::Proxy {
            // A target whose conf/ was lost recovers its cluster from the backups on its
            // mountpaths (the newest of each).
            if old_smap.is_none() {
                old_smap = newest_backup(&mountpaths, SMAP_FILE, |s: &Smap| s.version);
            }
            if bmd.is_none() {
                bmd = newest_backup(&mountpaths, BMD_FILE, |b: &Bmd| b.version);
            }
        }
        let uuid = old_smap
            .as_ref()
            .map(|s| s.uuid.clone())
            .or_else(|| bmd.as_ref().map(|b| b.uuid.clone()))
            .unwrap_or_else(|| {
                if cfg.primary_url.is_some() {
                    String::new() // adopted from the primary at join
                } else {
                    meta::random_id(9)
                }
            });
        let bmd = bmd.unwrap_or(Bmd {
            buckets: Default::default(),
            uuid: uuid.clone(),
            version: if cfg.primary_url.is_some() { 0 } else { 1 },
        });
        if bmd.uuid != uuid {
            return Err(Error::Config(format!(
                "BMD in {} belongs to cluster {}, Smap to {uuid}",
                bmd_path.display(),
                bmd.uuid
            )));
        }
        let tls = tls::NodeTls::from_conf(&cfg.initial_config.net.http).map_err(Error::Config)?;
        let node = NodeState {
            tls,
            proxy_id,
            target_id,
            mountpaths: Published::new(mpset),
            mp_changing: Default::default(),
            mp_detached: Mutex::new(mp_detached),
            resilvering: std::sync::atomic::AtomicBool::new(resilver_pending),
            rejoin_needed: Default::default(),
            smap: Published::new(Smap::empty(&uuid, 0)),
            bmd: Published::new(bmd),
            control: Mutex::new(()),
            confdir,
            started: Instant::now(),
            last_seen: Mutex::new(Default::default()),
            decommissioned: Mutex::new(Default::default()),
            left: std::sync::atomic::AtomicBool::new(false),
            prev_smap: Mutex::new(None),
            joined: std::sync::atomic::AtomicBool::new(false),
            primary_contact: Mutex::new(Instant::now()),
            primacy_confirmed: Mutex::new(Instant::now()),
            electing: Default::default(),
            newer_smap_seen: Default::default(),
            lost_peers: Mutex::new(Vec::new()),
            config: Published::new(meta::config::ConfigView::new(cfg.initial_config.clone())),
            cfg,
        };
        if node.cfg.role != Role::Proxy {
            let set = node.mountpaths.load();
            node.persist_mountpaths(&set, resilver_pending)?;
        }
        let mut smap = if node.cfg.role == Role::All {
            let mut smap = node.build_smap(&uuid);
            if let Some(old) = old_smap {
                smap.creation_time = old.creation_time.clone();
                smap.version = if old.pmap == smap.pmap && old.tmap == smap.tmap {
                    old.version
                } else {
                    old.version + 1
                };
            }
            smap
        } else if node.cfg.role == Role::Proxy
            && match &old_smap {
                // The persisted Smap names the primary (it moves on failover); without
                // one, a proxy started with no primary to join founds the cluster.
                Some(s) if s.version > 0 && !s.proxy_si.daemon_id.is_empty() => {
                    s.proxy_si.daemon_id == node.proxy_id
                }
                _ => node.cfg.primary_url.is_none(),
            }
        {
            // The primary owns the Smap: start from the persisted one (other nodes rejoin
            // and keepalives refresh them) with itself as primary. If the cluster elected
            // another primary meanwhile, membership finds its newer Smap and steps down.
            let me = node.self_snode();
            let mut smap = old_smap.unwrap_or_else(|| Smap {
                pmap: Default::default(),
                proxy_si: me.clone(),
                tmap: Default::default(),
                uuid: uuid.clone(),
                creation_time: time::format_go_datetime(time::now_unix_ns()),
                version: 0,
            });
            smap.pmap.insert(me.daemon_id.clone(), me.clone());
            smap.proxy_si = me;
            smap.version += 1;
            let now = Instant::now();
            let mut seen = node.last_seen.lock().expect("last_seen lock");
            for id in smap.pmap.keys().chain(smap.tmap.keys()) {
                seen.insert(id.clone(), now);
            }
            drop(seen);
            smap
        } else {
            // Joining node: whatever it had until the primary sends the current map.
            old_smap.unwrap_or_else(|| Smap::empty(&uuid, 0))
        };
        if smap.uuid.is_empty() {
            smap.uuid = uuid.clone();
        }
        node.persist_meta(SMAP_FILE, &smap)?;
        node.persist_meta(BMD_FILE, &*node.bmd.load())?;
        node.smap.store(smap);
        Ok(node)
    }

    /// Ready to serve (`/v1/health` 200, systemd's READY=1): the primary, or a member that
    /// joined and is in the cluster map it holds. The error says why not.
    pub fn member_ready(&self) -> std::result::Result<(), String> {
        let smap = self.smap.load();
        let me = self.self_id();
        let joined = self.is_primary() || self.joined.load(std::sync::atomic::Ordering::Relaxed);
        if !joined
            || smap.version == 0
            || (!smap.pmap.contains_key(me) && !smap.tmap.contains_key(me))
        {
            return Err(format!(
                "{me}: not ready: not a member of the cluster map yet"
            ));
        }
        Ok(())
    }

    /// The primary proxy: an all-in-one node, or the proxy the current Smap names.
    pub fn is_primary(&self) -> bool {
        match self.cfg.role {
            Role::All => true,
            Role::Target => false,
            Role::Proxy => self.smap.load().proxy_si.daemon_id == self.proxy_id,
        }
    }

    /// The primary may change metadata: it is the primary and confirmed so within the
    /// keepalive timeout (see [`NodeState::primacy_confirmed`]).
    pub fn primacy_ok(&self) -> Result<()> {
        if self.cfg.role != Role::Proxy {
            return Ok(());
        }
        if !self.is_primary() {
            return Err(Error::Unavailable(format!(
                "{} is not the primary (Smap v{} names {})",
                self.pname(),
                self.smap.load().version,
                self.smap.load().proxy_si.daemon_id
            )));
        }
        let age = self
            .primacy_confirmed
            .lock()
            .expect("primacy lock")
            .elapsed();
        if age > self.keepalive_timeout() {
            return Err(Error::Unavailable(format!(
                "{}: primary has not confirmed its role for {} ms (paused or cut off?): re-checking the cluster map",
                self.pname(),
                age.as_millis()
            )));
        }
        Ok(())
    }

    /// Note that the primary answered us (non-primary nodes).
    pub fn heard_from_primary(&self) {
        *self.primary_contact.lock().expect("contact lock") = Instant::now();
    }

    pub fn self_id(&self) -> &str {
        match self.cfg.role {
            Role::Target => &self.target_id,
            _ => &self.proxy_id,
        }
    }

    /// This node's target Snode (targets and all-in-one nodes).
    pub fn self_snode_target(&self) -> Snode {
        self.build_smap("")
            .tmap
            .get(&self.target_id)
            .cloned()
            .expect("a storing node builds its target snode")
    }

    /// This node's Snode (the proxy's for `all`).
    pub fn self_snode(&self) -> Snode {
        let smap = self.build_smap("");
        match self.cfg.role {
            Role::Target => smap
                .tmap
                .get(&self.target_id)
                .cloned()
                .expect("target role builds its target snode"),
            _ => smap
                .pmap
                .get(&self.proxy_id)
                .cloned()
                .expect("proxy role builds its proxy snode"),
        }
    }

    /// The longest a node may stay silent (of proxies and targets) before it leaves the Smap.
    pub fn keepalive_timeout(&self) -> std::time::Duration {
        let c = self.effective_config();
        let k = &c.keepalivetracker;
        k.proxy.timeout().max(k.target.timeout())
    }

    /// Replace the Smap (primary, under `control`): bump version, persist, publish.
    pub fn update_smap(&self, f: impl FnOnce(&mut Smap) -> Result<()>) -> Result<Smap> {
        self.primacy_ok()?;
        self.update_smap_by(1, f)
    }

    /// Replace the Smap with its version bumped by `bump` (an election's commit jumps by
    /// 100, as AIS does, past anything a deposed primary may still have produced).
    pub fn update_smap_by(
        &self,
        bump: i64,
        f: impl FnOnce(&mut Smap) -> Result<()>,
    ) -> Result<Smap> {
        let _g = self.control.lock().expect("control lock");
        let mut smap = (*self.smap.load()).clone();
        f(&mut smap)?;
        smap.version += bump;
        self.persist_meta(SMAP_FILE, &smap)?;
        self.publish_smap(smap.clone());
        Ok(smap)
    }

    /// Persist a metadata file in `conf/` and, on targets, a backup copy at the root of
    /// every mountpath (AIS keeps the BMD and Smap there too): a node whose `conf/` is lost
    /// recovers its cluster from its disks. The backups are best effort.
    pub fn persist_meta<T: serde::Serialize>(&self, file: &str, v: &T) -> Result<()> {
        store::persist(&self.confdir.join(file), 2, v)?;
        if self.cfg.role != Role::Proxy {
            for m in self.mountpaths.load().with_data() {
                if let Err(e) = store::persist(&m.path.join(file), 2, v) {
                    tracing::warn!(mountpath = %m.path_str, file, error = %e, "backup of cluster metadata failed");
                }
            }
        }
        Ok(())
    }

    /// Publish a new Smap. Versions only grow: a lower one here is a bug.
    fn publish_smap(&self, smap: Smap) {
        let cur = self.smap.load().version;
        assert!(
            smap.version >= cur,
            "Smap version goes back: v{} after v{cur}",
            smap.version
        );
        self.smap.store(smap);
    }

    /// Publish a new BMD. Versions only grow: a lower one here is a bug.
    fn publish_bmd(&self, bmd: Bmd) {
        let cur = self.bmd.load().version;
        assert!(
            bmd.version >= cur,
            "BMD version goes back: v{} after v{cur}",
            bmd.version
        );
        self.bmd.store(bmd);
    }

    /// Accept a Smap pushed by the primary (or returned at join) by the version rule:
    /// `Ok(true)` applied (persisted and published), `Ok(false)` the same version; another
    /// cluster's or an older one is refused with [`Error::Meta`].
    pub fn apply_smap(&self, smap: Smap) -> Result<bool> {
        let _g = self.control.lock().expect("control lock");
        let cur = self.smap.load();
        if !version_rule("Smap", (&cur.uuid, cur.version), (&smap.uuid, smap.version))? {
            return Ok(false);
        }
        self.persist_meta(SMAP_FILE, &smap)?;
        self.publish_smap(smap);
        Ok(true)
    }

    /// Accept a BMD pushed by the primary (same rule as [`NodeState::apply_smap`]); a target
    /// creates and removes bucket directories to match. Blocking (directory operations):
    /// call off the reactor.
    pub fn apply_bmd(&self, bmd: Bmd) -> Result<bool> {
        let _g = self.control.lock().expect("control lock");
        let cur = self.bmd.load();
        if !version_rule("BMD", (&cur.uuid, cur.version), (&bmd.uuid, bmd.version))? {
            return Ok(false);
        }
        for (name, _) in bmd
            .buckets
            .iter()
            .filter(|(n, _)| !cur.buckets.contains_key(*n))
        {
            for m in self.mountpaths.load().with_data() {
                m.create_bucket(&engine::layout::Bck::ais(name))
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
        for name in cur.buckets.keys().filter(|n| !bmd.buckets.contains_key(*n)) {
            for m in self.mountpaths.load().with_data() {
                if let Err(e) = m.destroy_bucket(&engine::layout::Bck::ais(name)) {
                    tracing::error!(bucket = %name, mountpath = %m.path_str, error = %e, "removing bucket data failed");
                }
            }
        }
        self.persist_meta(BMD_FILE, &bmd)?;
        self.publish_bmd(bmd);
        Ok(true)
    }

    /// Persist the mountpath set with the resilver-pending mark (blocking).
    pub fn persist_mountpaths(&self, set: &MpSet, resilver_pending: bool) -> Result<()> {
        let detached = self.mp_detached.lock().expect("detached lock").clone();
        mpset::persist(&self.confdir, set, &detached, resilver_pending)
    }

    /// Extra listening addresses (intra-control, intra-data) that differ from the public one.
    pub fn extra_listen(&self) -> Vec<(String, u16)> {
        let mut v: Vec<(String, u16)> = Vec::new();
        for a in [&self.cfg.intra_control, &self.cfg.intra_data]
            .into_iter()
            .flatten()
        {
            let is_public = a.0 == self.cfg.host && a.1 == self.cfg.port;
            if !is_public && !v.contains(a) {
                v.push(a.clone());
            }
        }
        v
    }

    pub fn core_port(&self, core: usize) -> u16 {
        self.cfg.core_port_base + core as u16
    }

    fn build_smap(&self, uuid: &str) -> Smap {
        use tls::Network;
        let host = &self.cfg.host;
        let public = NetInfo::with_scheme(self.tls.scheme(Network::Public), host, self.cfg.port);
        let control = self
            .cfg
            .intra_control
            .as_ref()
            .map(|(h, p)| NetInfo::with_scheme(self.tls.scheme(Network::Control), h, *p))
            .unwrap_or_else(|| public.clone());
        let data = self
            .cfg
            .intra_data
            .as_ref()
            .map(|(h, p)| NetInfo::with_scheme(self.tls.scheme(Network::Data), h, *p))
            .unwrap_or_else(|| public.clone());
        let proxy = Snode {
            public_net: public.clone(),
            intra_control_net: control.clone(),
            intra_data_net: data.clone(),
            daemon_type: "proxy".into(),
            daemon_id: self.proxy_id.clone(),
            flags: if self.cfg.non_electable {
                meta::FLAG_NON_ELECTABLE
            } else {
                0
            },
            id_digest: engine::hrw::digest(self.proxy_id.as_bytes()),
            cores: vec![],
        };
        let mps = self.mountpaths.load();
        let cores = (0..self.cfg.cores)
            .map(|c| CoreInfo {
                core: c,
                direct_url: format!(
                    "{}://{host}:{}",
                    self.tls.scheme(Network::Public),
                    self.core_port(c)
                ),
                mountpaths: mps
                    .avail
                    .iter()
                    .zip(&mps.core)
                    .filter(|(_, k)| **k == c)
                    .map(|(m, _)| m.path_str.clone())
                    .collect(),
            })
            .collect();
        let target = Snode {
            public_net: public.clone(),
            intra_control_net: control,
            intra_data_net: data,
            daemon_type: "target".into(),
            daemon_id: self.target_id.clone(),
            flags: 0,
            id_digest: engine::hrw::digest(self.target_id.as_bytes()),
            cores,
        };
        let mut smap = Smap {
            pmap: Default::default(),
            proxy_si: proxy.clone(),
            tmap: Default::default(),
            uuid: uuid.into(),
            creation_time: time::format_go_datetime(time::now_unix_ns()),
            version: 1,
        };
        if self.cfg.role != Role::Target {
            smap.pmap.insert(proxy.daemon_id.clone(), proxy);
        }
        if self.cfg.role != Role::Proxy {
            smap.tmap.insert(target.daemon_id.clone(), target);
        }
        smap
    }

    /// Replace the BMD (control plane, under `control`): bump version, persist, publish.
    pub fn update_bmd(&self, f: impl FnOnce(&mut Bmd) -> Result<()>) -> Result<()> {
        self.update_bmd_by(1, f)
    }

    /// [`NodeState::update_bmd`] with the version bumped by `bump` (an election's winner
    /// jumps by 100, as it does with the Smap).
    pub fn update_bmd_by(&self, bump: i64, f: impl FnOnce(&mut Bmd) -> Result<()>) -> Result<()> {
        self.primacy_ok()?;
        let _g = self.control.lock().expect("control lock");
        let mut bmd = (*self.bmd.load()).clone();
        f(&mut bmd)?;
        bmd.version += bump;
        self.persist_meta(BMD_FILE, &bmd)?;
        self.publish_bmd(bmd);
        Ok(())
    }

    /// `t[ID]` as AIS names nodes in messages.
    pub fn tname(&self) -> String {
        format!("t[{}]", self.target_id)
    }
    pub fn pname(&self) -> String {
        format!("p[{}]", self.proxy_id)
    }
}

/// The newest readable backup of a metadata file among the mountpaths' roots.
fn newest_backup<T: for<'de> serde::Deserialize<'de>>(
    mps: &[Arc<engine::mountpath::Mountpath>],
    file: &str,
    version: impl Fn(&T) -> i64,
) -> Option<T> {
    let mut best: Option<T> = None;
    for m in mps {
        match store::load::<T>(&m.path.join(file)) {
            Ok(Some(v)) if best.as_ref().is_none_or(|b| version(&v) > version(b)) => {
                tracing::warn!(mountpath = %m.path_str, file, version = version(&v), "conf/ has no {file}: using the backup on a mountpath");
                best = Some(v);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(mountpath = %m.path_str, file, error = %e, "unreadable metadata backup");
            }
        }
    }
    best
}

/// The version rule for a received Smap or BMD (`what`), held `(uuid, version)` against
/// offered: `Ok(true)` apply it, `Ok(false)` the same version, refusals as [`Error::Meta`].
fn version_rule(what: &'static str, held: (&str, i64), offered: (&str, i64)) -> Result<bool> {
    match version::decide(held.0, held.1, offered.0, offered.1) {
        Decision::Apply => Ok(true),
        Decision::Same => Ok(false),
        d @ Decision::OtherCluster => Err(Error::meta(
            what,
            d,
            format!(
                "{what} from cluster {} refused: this node belongs to cluster {}",
                offered.0, held.0
            ),
        )),
        d @ Decision::Older => Err(Error::meta(
            what,
            d,
            format!(
                "older {what} version {} refused (have {})",
                offered.1, held.1
            ),
        )),
    }
}
