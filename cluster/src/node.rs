//! The node: configuration, identity, mountpaths and their owning cores, and the control
//! plane's published snapshots (Smap, BMD). Shared by every core (`Arc<Node>`); data-path
//! readers take snapshots through [`LocalView`] and so touch no lock per request.

use crate::meta::{self, Bmd, CoreInfo, NetInfo, Smap, Snode};
use crate::mountpaths::MpSet;
use anyhow::{bail, Context};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    Proxy,
    Target,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub role: Role,
    pub host: String,
    pub port: u16,
    pub core_port_base: u16,
    pub cores: usize,
    pub data_dir: PathBuf,
    pub mountpaths: Vec<PathBuf>,
    /// fdatasync objects and fsync their directories before acknowledging a PUT.
    pub fsync: bool,
    /// S3 access keys (access key, secret). Empty: anonymous S3 access.
    pub s3_credentials: Vec<(String, String)>,
    /// Intra-cluster control and data networks (host, port); `None`: same as public.
    pub intra_control: Option<(String, u16)>,
    pub intra_data: Option<(String, u16)>,
    /// Primary proxy's URL to join; `None` for the primary itself (and for `--role all`).
    pub primary_url: Option<String>,
    /// Keepalive period; a node silent for interval x factor leaves the Smap.
    pub keepalive_interval_ms: u64,
    pub keepalive_factor: u32,
    /// Objects in flight per rebalance or resilver on this node (throttle).
    pub rebalance_workers: usize,
    /// Most objects per second a rebalance or resilver moves (0: unlimited).
    pub rebalance_max_rate: u32,
}

/// A value the control plane replaces whole; readers on every core see a consistent snapshot.
pub struct Published<T> {
    generation: AtomicU64,
    value: Mutex<Arc<T>>,
}

impl<T> Published<T> {
    pub fn new(v: T) -> Self {
        Published {
            generation: AtomicU64::new(1),
            value: Mutex::new(Arc::new(v)),
        }
    }
    pub fn load(&self) -> Arc<T> {
        self.value
            .lock()
            .expect("publisher never panics while holding the lock")
            .clone()
    }
    pub fn store(&self, v: T) {
        *self
            .value
            .lock()
            .expect("publisher never panics while holding the lock") = Arc::new(v);
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// A core's cached view of a [`Published`] value: one atomic load per request, the lock only
/// when the value changed.
pub struct LocalView<T> {
    generation: Cell<u64>,
    value: RefCell<Option<Arc<T>>>,
}

impl<T> Default for LocalView<T> {
    fn default() -> Self {
        LocalView {
            generation: Cell::new(0),
            value: RefCell::new(None),
        }
    }
}

impl<T> LocalView<T> {
    pub fn get(&self, p: &Published<T>) -> Arc<T> {
        let g = p.generation.load(Ordering::Acquire);
        if g != self.generation.get() || self.value.borrow().is_none() {
            *self.value.borrow_mut() = Some(p.load());
            self.generation.set(g);
        }
        self.value.borrow().as_ref().expect("just filled").clone()
    }
}

pub struct Node {
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
    /// Set when this node was removed from the cluster through the API: stop keepalives.
    pub left: std::sync::atomic::AtomicBool,
    /// The previous Smap (targets, for get-from-neighbour).
    pub rebalance: crate::rebalance::RebalanceState,
    /// Jobs (rebalance, resilver) run on this node.
    pub jobs: crate::xact::Jobs,
    /// Non-primary nodes: the primary accepted our join (and has not disowned us since).
    pub joined: std::sync::atomic::AtomicBool,
}

impl Node {
    /// Blocking set-up before the reactors start: mountpaths, IDs, persisted Smap and BMD.
    pub fn init(cfg: NodeConfig) -> anyhow::Result<Node> {
        if cfg.cores == 0 {
            bail!("--cores must be at least 1");
        }
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
        let confdir = cfg.data_dir.join("conf");
        std::fs::create_dir_all(&confdir)
            .with_context(|| format!("cannot create {}", confdir.display()))?;
        let mut mps_cfg = cfg.mountpaths.clone();
        if cfg.role == Role::Proxy {
            if !mps_cfg.is_empty() {
                bail!("--mountpath is for targets; a proxy stores no objects");
            }
        } else if mps_cfg.is_empty() {
            mps_cfg = vec![cfg.data_dir.join("mp1"), cfg.data_dir.join("mp2")];
        }
        let (mpset, mp_detached, resilver_pending) = if cfg.role == Role::Proxy {
            (MpSet::default(), Vec::new(), false)
        } else {
            crate::mountpaths::init_set(&mps_cfg, &confdir, cfg.cores)?
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
                std::fs::write(&proxy_id_path, &id)
                    .with_context(|| format!("cannot write {}", proxy_id_path.display()))?;
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
            many => bail!(
                "mountpaths carry different target IDs {many:?}: they belong to different nodes"
            ),
        };
        for m in &mountpaths {
            if m.read_daemon_id().as_deref() != Some(target_id.as_str()) {
                m.write_daemon_id(&target_id)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }

        let smap_path = confdir.join(".ais.smap");
        let bmd_path = confdir.join(".ais.bmd");
        let old_smap: Option<Smap> = meta::load(&smap_path).map_err(|e| anyhow::anyhow!(e))?;
        let bmd: Option<Bmd> = meta::load(&bmd_path).map_err(|e| anyhow::anyhow!(e))?;
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
            bail!(
                "BMD in {} belongs to cluster {}, Smap to {uuid}",
                bmd_path.display(),
                bmd.uuid
            );
        }
        let node = Node {
            proxy_id,
            target_id,
            mountpaths: Published::new(mpset),
            mp_changing: Default::default(),
            mp_detached: Mutex::new(mp_detached),
            resilvering: std::sync::atomic::AtomicBool::new(resilver_pending),
            rejoin_needed: Default::default(),
            smap: Published::new(Smap {
                pmap: Default::default(),
                proxy_si: placeholder_snode(),
                tmap: Default::default(),
                uuid: uuid.clone(),
                creation_time: String::new(),
                version: 0,
            }),
            bmd: Published::new(bmd),
            control: Mutex::new(()),
            confdir,
            started: Instant::now(),
            last_seen: Mutex::new(Default::default()),
            left: std::sync::atomic::AtomicBool::new(false),
            rebalance: Default::default(),
            jobs: Default::default(),
            joined: std::sync::atomic::AtomicBool::new(false),
            cfg,
        };
        if node.cfg.role != Role::Proxy {
            let set = node.mountpaths.load();
            crate::mountpaths::persist(&node, &set, resilver_pending)
                .map_err(|e| anyhow::anyhow!(e))?;
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
        } else if node.is_primary() {
            // The primary owns the Smap: start from the persisted one (other nodes rejoin
            // and keepalives refresh them) with itself as primary.
            let me = node.self_snode();
            let mut smap = old_smap.unwrap_or_else(|| Smap {
                pmap: Default::default(),
                proxy_si: me.clone(),
                tmap: Default::default(),
                uuid: uuid.clone(),
                creation_time: crate::time::format_go_datetime(crate::time::now_unix_ns()),
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
            old_smap.unwrap_or(Smap {
                pmap: Default::default(),
                proxy_si: node.self_snode(),
                tmap: Default::default(),
                uuid: uuid.clone(),
                creation_time: String::new(),
                version: 0,
            })
        };
        if smap.uuid.is_empty() {
            smap.uuid = uuid.clone();
        }
        meta::persist(&smap_path, 2, &smap).context("persist Smap")?;
        meta::persist(&node.confdir.join(".ais.bmd"), 2, &*node.bmd.load())
            .context("persist BMD")?;
        node.smap.store(smap);
        Ok(node)
    }

    /// The primary proxy: a proxy (or all-in-one node) started without `--primary-url`.
    pub fn is_primary(&self) -> bool {
        self.cfg.role != Role::Target && self.cfg.primary_url.is_none()
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

    pub fn keepalive_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.cfg.keepalive_interval_ms * self.cfg.keepalive_factor as u64,
        )
    }

    /// Replace the Smap (primary, under `control`): bump version, persist, publish.
    pub fn update_smap(
        &self,
        f: impl FnOnce(&mut Smap) -> Result<(), crate::api_error::ApiError>,
    ) -> Result<Smap, crate::api_error::ApiError> {
        let _g = self.control.lock().expect("control lock");
        let mut smap = (*self.smap.load()).clone();
        f(&mut smap)?;
        smap.version += 1;
        meta::persist(&self.confdir.join(".ais.smap"), 2, &smap)
            .map_err(|e| crate::api_error::ApiError::internal(format!("persist Smap: {e}")))?;
        self.smap.store(smap.clone());
        Ok(smap)
    }

    /// Accept a Smap pushed by the primary (or returned at join): refuse another cluster's
    /// or an older version; persist and publish.
    pub fn apply_smap(&self, smap: Smap) -> Result<bool, String> {
        let _g = self.control.lock().expect("control lock");
        let cur = self.smap.load();
        if !cur.uuid.is_empty() && cur.version > 0 && smap.uuid != cur.uuid {
            return Err(format!(
                "Smap from cluster {} refused: this node belongs to cluster {}",
                smap.uuid, cur.uuid
            ));
        }
        if smap.version < cur.version {
            return Err(format!(
                "older Smap version {} refused (have {})",
                smap.version, cur.version
            ));
        }
        if smap.version == cur.version && cur.version > 0 {
            return Ok(false);
        }
        meta::persist(&self.confdir.join(".ais.smap"), 2, &smap)
            .map_err(|e| format!("persist Smap: {e}"))?;
        self.smap.store(smap);
        Ok(true)
    }

    /// Accept a BMD pushed by the primary; a target creates and removes bucket directories
    /// to match. Blocking (directory operations): call off the reactor.
    pub fn apply_bmd(&self, bmd: Bmd) -> Result<bool, String> {
        let _g = self.control.lock().expect("control lock");
        let cur = self.bmd.load();
        if !cur.uuid.is_empty() && cur.version > 0 && bmd.uuid != cur.uuid {
            return Err(format!(
                "BMD from cluster {} refused: this node belongs to cluster {}",
                bmd.uuid, cur.uuid
            ));
        }
        if bmd.version < cur.version {
            return Err(format!(
                "older BMD version {} refused (have {})",
                bmd.version, cur.version
            ));
        }
        if bmd.version == cur.version && cur.version > 0 {
            return Ok(false);
        }
        for (name, _) in bmd
            .buckets
            .iter()
            .filter(|(n, _)| !cur.buckets.contains_key(*n))
        {
            for m in self.mountpaths.load().with_data() {
                m.create_bucket(&engine::layout::Bck::ais(name))
                    .map_err(|e| e.to_string())?;
            }
        }
        for name in cur.buckets.keys().filter(|n| !bmd.buckets.contains_key(*n)) {
            for m in self.mountpaths.load().with_data() {
                if let Err(e) = m.destroy_bucket(&engine::layout::Bck::ais(name)) {
                    tracing::error!(bucket = %name, mountpath = %m.path_str, error = %e, "removing bucket data failed");
                }
            }
        }
        meta::persist(&self.confdir.join(".ais.bmd"), 2, &bmd)
            .map_err(|e| format!("persist BMD: {e}"))?;
        self.bmd.store(bmd);
        Ok(true)
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
        let host = &self.cfg.host;
        let public = NetInfo::new(host, self.cfg.port);
        let control = self
            .cfg
            .intra_control
            .as_ref()
            .map(|(h, p)| NetInfo::new(h, *p))
            .unwrap_or_else(|| public.clone());
        let data = self
            .cfg
            .intra_data
            .as_ref()
            .map(|(h, p)| NetInfo::new(h, *p))
            .unwrap_or_else(|| public.clone());
        let proxy = Snode {
            public_net: public.clone(),
            intra_control_net: control.clone(),
            intra_data_net: data.clone(),
            daemon_type: "proxy".into(),
            daemon_id: self.proxy_id.clone(),
            flags: 0,
            id_digest: engine::hrw::digest(self.proxy_id.as_bytes()),
            cores: vec![],
        };
        let mps = self.mountpaths.load();
        let cores = (0..self.cfg.cores)
            .map(|c| CoreInfo {
                core: c,
                direct_url: format!("http://{host}:{}", self.core_port(c)),
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
            creation_time: crate::time::format_go_datetime(crate::time::now_unix_ns()),
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
    pub fn update_bmd(
        &self,
        f: impl FnOnce(&mut Bmd) -> Result<(), crate::api_error::ApiError>,
    ) -> Result<(), crate::api_error::ApiError> {
        let _g = self.control.lock().expect("control lock");
        let mut bmd = (*self.bmd.load()).clone();
        f(&mut bmd)?;
        bmd.version += 1;
        meta::persist(&self.confdir.join(".ais.bmd"), 2, &bmd)
            .map_err(|e| crate::api_error::ApiError::internal(format!("persist BMD: {e}")))?;
        self.bmd.store(bmd);
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

fn placeholder_snode() -> Snode {
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
