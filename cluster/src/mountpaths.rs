//! A target's mountpaths at runtime: the published set the data path reads (HRW over the
//! available ones, each owned by one core), its persistence in `<confdir>/.ais.mountpaths`,
//! and the daemon API that attaches, detaches, enables and disables them.
//!
//! Detach and disable never drop data: the mountpath first leaves HRW placement ("waiting
//! detach/disable", AIS's `waiting_dd`) while a resilver moves every object it holds to the
//! mountpath HRW now names; only when that pass finished with no errors and the mountpath
//! holds no object does it become disabled or detached. Attach and enable add the mountpath
//! to placement at once and the resilver moves the objects HRW now places on it. While a
//! resilver is pending, reads that miss on the HRW mountpath look on the others.
//!
//! API (spec: daemon API; also through any proxy as `/v1/reverse/daemon/mountpaths` with
//! the `Ais-Node-Id` header): `GET /v1/daemon?what=mountpaths`; `PUT /v1/daemon/mountpaths`
//! `{"action":"attach-mp","value":PATH}`; `DELETE ...` `detach-mp`; `POST ...` `enable-mp`
//! or `disable-mp`. Changes that change nothing answer 204.

use crate::api_error::ApiError;
use crate::node::{Node, Role};
use crate::server::{Core, Outcome, Req};
use engine::mountpath::Mountpath;
use net::conn::Conn;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// File (in the config dir) that keeps the runtime mountpath changes across restarts.
pub const PERSIST_FILE: &str = ".ais.mountpaths";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MpState {
    Enabled,
    /// Being disabled: out of placement until the resilver moved its objects off.
    Disabling,
    /// Being detached: likewise.
    Detaching,
    Disabled,
    Detached,
}

/// Why a mountpath is leaving placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    Disable,
    Detach,
}

/// The mountpath set one snapshot of which every request reads.
#[derive(Debug, Default)]
pub struct MpSet {
    pub version: u64,
    /// In HRW placement, in configuration order.
    pub avail: Vec<Arc<Mountpath>>,
    /// Owning core of each available mountpath (same index).
    pub core: Vec<usize>,
    /// Out of placement, still holding objects the resilver moves off.
    pub leaving: Vec<(Arc<Mountpath>, Leaving)>,
    /// Disabled mountpaths (no I/O; `enable-mp` brings them back).
    pub disabled: Vec<String>,
}

impl MpSet {
    /// HRW mountpath (and its owning core) of an object uname.
    pub fn choose(&self, uname: &str) -> Option<(Arc<Mountpath>, usize)> {
        let i = engine::hrw::choose(
            engine::hrw::digest(uname.as_bytes()),
            self.avail.iter().map(|m| m.digest),
        )?;
        Some((self.avail[i].clone(), self.core[i]))
    }

    /// Every mountpath that may hold objects: available and leaving.
    pub fn with_data(&self) -> Vec<Arc<Mountpath>> {
        self.avail
            .iter()
            .cloned()
            .chain(self.leaving.iter().map(|(m, _)| m.clone()))
            .collect()
    }

    /// `GET /v1/daemon?what=mountpaths` (AIS's MountpathList).
    pub fn list_json(&self) -> serde_json::Value {
        serde_json::json!({
            "available": self.avail.iter().map(|m| m.path_str.clone()).collect::<Vec<_>>(),
            "waiting_dd": self.leaving.iter().map(|(m, _)| m.path_str.clone()).collect::<Vec<_>>(),
            "disabled": self.disabled.clone(),
        })
    }

    fn find(&self, path: &str) -> Option<MpState> {
        if self.avail.iter().any(|m| m.path_str == path) {
            return Some(MpState::Enabled);
        }
        if let Some((_, l)) = self.leaving.iter().find(|(m, _)| m.path_str == path) {
            return Some(match l {
                Leaving::Disable => MpState::Disabling,
                Leaving::Detach => MpState::Detaching,
            });
        }
        if self.disabled.iter().any(|p| p == path) {
            return Some(MpState::Disabled);
        }
        None
    }

    fn persisted(&self, resilver_pending: bool, detached: &[String]) -> Persisted {
        let mut mountpaths: Vec<PersistedMp> = self
            .avail
            .iter()
            .map(|m| PersistedMp {
                path: m.path_str.clone(),
                state: MpState::Enabled,
            })
            .collect();
        for (m, l) in &self.leaving {
            mountpaths.push(PersistedMp {
                path: m.path_str.clone(),
                state: match l {
                    Leaving::Disable => MpState::Disabling,
                    Leaving::Detach => MpState::Detaching,
                },
            });
        }
        for p in &self.disabled {
            mountpaths.push(PersistedMp {
                path: p.clone(),
                state: MpState::Disabled,
            });
        }
        for p in detached {
            if !mountpaths.iter().any(|m| &m.path == p) {
                mountpaths.push(PersistedMp {
                    path: p.clone(),
                    state: MpState::Detached,
                });
            }
        }
        Persisted {
            mountpaths,
            resilver_pending,
        }
    }

    /// A copy to change, one version newer.
    fn successor(&self) -> MpSet {
        MpSet {
            version: self.version + 1,
            avail: self.avail.clone(),
            core: self.core.clone(),
            leaving: self.leaving.clone(),
            disabled: self.disabled.clone(),
        }
    }

    /// Core with the fewest available mountpaths (a newly attached one goes there).
    fn least_loaded_core(&self, cores: usize) -> usize {
        (0..cores)
            .min_by_key(|c| self.core.iter().filter(|k| *k == c).count())
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersistedMp {
    pub path: String,
    pub state: MpState,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub mountpaths: Vec<PersistedMp>,
    /// A change was made whose resilver has not finished yet.
    #[serde(default)]
    pub resilver_pending: bool,
}

fn clean(p: &Path) -> Result<String, String> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("getcwd: {e}"))?
            .join(p)
    };
    engine::layout::clean_abs(&abs.to_string_lossy())
        .ok_or_else(|| format!("mountpath {}: not absolute", abs.display()))
}

/// Start-up: the configured mountpaths (flags) merged with the runtime changes persisted
/// earlier. A mountpath detached or disabled at runtime stays so even if a flag names it;
/// one attached at runtime stays attached. Returns the set, the detached paths to keep
/// remembering, and whether a resilver must run (pending, or placement changed).
pub fn init_set(
    configured: &[PathBuf],
    confdir: &Path,
    cores: usize,
) -> anyhow::Result<(MpSet, Vec<String>, bool)> {
    let file = confdir.join(PERSIST_FILE);
    let persisted: Option<Persisted> = match std::fs::read(&file) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .map_err(|e| anyhow::anyhow!("{}: invalid: {e}", file.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!("{}: {e}", file.display()),
    };
    let mut entries: Vec<PersistedMp> = Vec::new();
    for p in configured {
        let path = clean(p).map_err(|e| anyhow::anyhow!(e))?;
        let state = persisted
            .as_ref()
            .and_then(|ps| ps.mountpaths.iter().find(|m| m.path == path))
            .map(|m| m.state)
            .unwrap_or(MpState::Enabled);
        if matches!(state, MpState::Detached | MpState::Disabled) {
            tracing::warn!(mountpath = %path, state = ?state, "configured mountpath was {state:?} at runtime and stays so (attach or enable it through the API)");
        }
        if !entries.iter().any(|e| e.path == path) {
            entries.push(PersistedMp { path, state });
        }
    }
    if let Some(ps) = &persisted {
        for m in &ps.mountpaths {
            if !entries.iter().any(|e| e.path == m.path) {
                entries.push(m.clone());
            }
        }
    }
    let mut set = MpSet {
        version: 1,
        ..Default::default()
    };
    let mut detached = Vec::new();
    for e in &entries {
        match e.state {
            MpState::Enabled => {
                let m = Mountpath::init(Path::new(&e.path)).map_err(|e| anyhow::anyhow!("{e}"))?;
                set.core.push(set.avail.len() % cores);
                set.avail.push(Arc::new(m));
            }
            MpState::Disabling | MpState::Detaching => {
                let m = Mountpath::init(Path::new(&e.path)).map_err(|e| anyhow::anyhow!("{e}"))?;
                let l = if e.state == MpState::Disabling {
                    Leaving::Disable
                } else {
                    Leaving::Detach
                };
                set.leaving.push((Arc::new(m), l));
            }
            MpState::Disabled => set.disabled.push(e.path.clone()),
            MpState::Detached => detached.push(e.path.clone()),
        }
    }
    let all: Vec<&Mountpath> = set
        .avail
        .iter()
        .chain(set.leaving.iter().map(|(m, _)| m))
        .map(|m| m.as_ref())
        .collect();
    engine::mountpath::check_not_nested_refs(&all).map_err(|e| anyhow::anyhow!("{e}"))?;
    if set.avail.is_empty() && !configured.is_empty() {
        anyhow::bail!(
            "no available mountpaths: all of them are disabled or detached ({})",
            file.display()
        );
    }
    let pending = match &persisted {
        None => false,
        Some(ps) => {
            let before: std::collections::BTreeSet<&str> = ps
                .mountpaths
                .iter()
                .filter(|m| m.state == MpState::Enabled)
                .map(|m| m.path.as_str())
                .collect();
            let now: std::collections::BTreeSet<&str> =
                set.avail.iter().map(|m| m.path_str.as_str()).collect();
            ps.resilver_pending || before != now || !set.leaving.is_empty()
        }
    };
    Ok((set, detached, pending))
}

/// Persist the current set (blocking; call under the node's mountpath lock).
pub fn persist(node: &Node, set: &MpSet, resilver_pending: bool) -> Result<(), String> {
    let detached = node.mp_detached.lock().expect("detached lock").clone();
    let p = set.persisted(resilver_pending, &detached);
    let body = serde_json::to_vec_pretty(&p).map_err(|e| e.to_string())?;
    let path = node.confdir.join(PERSIST_FILE);
    let tmp = node.confdir.join(format!("{PERSIST_FILE}.tmp"));
    (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&node.confdir)?.sync_all()
    })()
    .map_err(|e| format!("persist {}: {e}", path.display()))
}

/// What a mountpath request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Attach,
    Detach,
    Enable,
    Disable,
}

impl Action {
    pub fn parse(method: &str, action: &str) -> Result<Action, ApiError> {
        let a = match action {
            "attach-mp" => Action::Attach,
            "detach-mp" => Action::Detach,
            "enable-mp" => Action::Enable,
            "disable-mp" => Action::Disable,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid mountpath action {other:?} (expected attach-mp, detach-mp, enable-mp or disable-mp)"
                )))
            }
        };
        let want = match a {
            Action::Attach => "PUT",
            Action::Detach => "DELETE",
            Action::Enable | Action::Disable => "POST",
        };
        if method != want {
            return Err(ApiError::bad_request(format!(
                "mountpath action {action:?} goes with {want}, not {method}"
            )));
        }
        Ok(a)
    }
}

/// `PUT|DELETE|POST /v1/daemon/mountpaths` on a target.
pub async fn handle(core: &Rc<Core>, conn: &mut Conn, req: &mut Req) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    if node.cfg.role == Role::Proxy {
        return Err(ApiError::bad_request(format!(
            "{}: a proxy has no mountpaths; send the request to a target (or through a proxy as /v1/reverse/daemon/mountpaths with Ais-Node-Id)",
            node.pname()
        )));
    }
    let body = conn
        .body(req.head.body)
        .read_to_vec(crate::proxy::CONTROL_BODY_BYTES_MAX)
        .await
        .map_err(|e| ApiError::bad_request(format!("{e}")).closing())?;
    req.body_done = true;
    let msg: net::api::ActMsg = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))?;
    let action = Action::parse(&req.head.method, &msg.action)?;
    let path = match &msg.value {
        serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "mountpath is not defined (value must be the mountpath's path)",
            ))
        }
    };
    let dont_resilver = req.q_true("dont-resilver");
    match change(&node, action, &path, dont_resilver).await? {
        None => {
            conn.respond(204, &[], b"")
                .await
                .map_err(|e| ApiError::bad_request(format!("{e}")).closing())?;
            Ok(Outcome::KeepAlive)
        }
        Some(job) => crate::xact::respond_job_id(conn, &job).await,
    }
}

/// Apply one mountpath change; `Some(job id)` of the resilver it started, `None` if nothing
/// changed. Only one change runs at a time per node (409 otherwise).
pub async fn change(
    node: &Arc<Node>,
    action: Action,
    path: &str,
    dont_resilver: bool,
) -> Result<Option<String>, ApiError> {
    let path = clean(Path::new(path)).map_err(ApiError::bad_request)?;
    if node
        .mp_changing
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(ApiError::new(
            409,
            format!(
                "{}: another mountpath change is in progress; retry",
                node.tname()
            ),
        ));
    }
    let r = change_locked(node, action, &path, dont_resilver).await;
    node.mp_changing.store(false, Ordering::Release);
    r
}

async fn change_locked(
    node: &Arc<Node>,
    action: Action,
    path: &str,
    dont_resilver: bool,
) -> Result<Option<String>, ApiError> {
    let cur = node.mountpaths.load();
    let state = cur.find(path);
    let tname = node.tname();
    let not_found = || {
        ApiError::new(
            404,
            format!("{tname}: mountpath {path} not found (see GET /v1/daemon?what=mountpaths)"),
        )
    };
    let mut next = cur.successor();
    match (action, state) {
        (Action::Attach, Some(MpState::Enabled)) | (Action::Enable, Some(MpState::Enabled)) => {
            return Ok(None)
        }
        (Action::Attach | Action::Enable, Some(MpState::Disabling | MpState::Detaching)) => {
            // Back into placement: the objects still there are found where HRW says.
            let i = next
                .leaving
                .iter()
                .position(|(m, _)| m.path_str == path)
                .expect("found above");
            let (m, _) = next.leaving.remove(i);
            let c = next.least_loaded_core(node.cfg.cores);
            next.avail.push(m);
            next.core.push(c);
        }
        (Action::Attach, Some(MpState::Disabled)) => {
            return Err(ApiError::new(
                409,
                format!("{tname}: mountpath {path} is disabled: enable it (enable-mp) instead"),
            ))
        }
        (Action::Enable, None) => return Err(not_found()),
        (Action::Attach, None) | (Action::Enable, Some(MpState::Disabled)) => {
            let m = open_new(node, &cur, path).await?;
            next.disabled.retain(|p| p != path);
            let c = next.least_loaded_core(node.cfg.cores);
            next.avail.push(Arc::new(m));
            next.core.push(c);
        }
        (Action::Detach | Action::Disable, None) => return Err(not_found()),
        (Action::Disable, Some(MpState::Disabled | MpState::Disabling)) => return Ok(None),
        (Action::Detach, Some(MpState::Detaching)) => return Ok(None),
        (Action::Detach, Some(MpState::Disabled)) => {
            // Nothing on it is in use: forget it.
            next.disabled.retain(|p| p != path);
            let mut d = node.mp_detached.lock().expect("detached lock");
            if !d.iter().any(|p| p == path) {
                d.push(path.to_string());
            }
        }
        (Action::Disable, Some(MpState::Detaching))
        | (Action::Detach, Some(MpState::Disabling)) => {
            let to = if action == Action::Detach {
                Leaving::Detach
            } else {
                Leaving::Disable
            };
            for (m, l) in next.leaving.iter_mut() {
                if m.path_str == path {
                    *l = to;
                }
            }
        }
        // Detached mountpaths are not in the set (find never answers Detached).
        (_, Some(MpState::Detached)) => return Err(not_found()),
        (Action::Detach | Action::Disable, Some(MpState::Enabled)) => {
            if next.avail.len() <= 1 {
                return Err(ApiError::new(
                    409,
                    format!(
                        "{tname}: cannot {} {path}: it is the last available mountpath",
                        if action == Action::Detach {
                            "detach"
                        } else {
                            "disable"
                        }
                    ),
                ));
            }
            let i = next
                .avail
                .iter()
                .position(|m| m.path_str == path)
                .expect("found above");
            let m = next.avail.remove(i);
            next.core.remove(i);
            next.leaving.push((
                m,
                if action == Action::Detach {
                    Leaving::Detach
                } else {
                    Leaving::Disable
                },
            ));
        }
    }
    if action == Action::Attach || action == Action::Enable {
        node.mp_detached
            .lock()
            .expect("detached lock")
            .retain(|p| p != path);
    }
    publish(node, next, true).await?;
    tracing::info!(mountpath = %path, action = ?action, "mountpath change");
    if dont_resilver {
        tracing::warn!(mountpath = %path, "dont-resilver: objects stay where they are until the next resilver");
        return Ok(Some(String::new()));
    }
    let job = crate::resilver::start(node);
    Ok(Some(job))
}

/// Init a new mountpath (blocking part off the reactor), check it against the others and
/// this node's ID, create the buckets, and prime DMA on its device before any other DMA
/// open can touch it.
async fn open_new(node: &Arc<Node>, cur: &MpSet, path: &str) -> Result<Mountpath, ApiError> {
    let others: Vec<Arc<Mountpath>> = cur.with_data();
    let p = PathBuf::from(path);
    let id = node.target_id.clone();
    let buckets: Vec<String> = node.bmd.load().buckets.keys().cloned().collect();
    let m = glommio::executor()
        .spawn_blocking(move || -> Result<Mountpath, ApiError> {
            let m = Mountpath::init(&p).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let mut all: Vec<&Mountpath> = others.iter().map(|m| m.as_ref()).collect();
            all.push(&m);
            engine::mountpath::check_not_nested_refs(&all)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            match m.read_daemon_id() {
                Some(other) if other != id => {
                    return Err(ApiError::new(
                        409,
                        format!(
                            "mountpath {} belongs to target {other}, not to this target {id}",
                            m.path_str
                        ),
                    ))
                }
                Some(_) => {}
                None => m
                    .write_daemon_id(&id)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            }
            for b in &buckets {
                m.create_bucket(&engine::layout::Bck::ais(b))
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            Ok(m)
        })
        .await?;
    m.prime_dma()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(m)
}

/// Persist (with the resilver-pending mark), publish, and tell the cluster where this
/// target's mountpaths now are (the Snode lists them per core for direct redirects).
pub async fn publish(
    node: &Arc<Node>,
    next: MpSet,
    resilver_pending: bool,
) -> Result<(), ApiError> {
    let n2 = node.clone();
    let next = glommio::executor()
        .spawn_blocking(move || persist(&n2, &next, resilver_pending).map(|_| next))
        .await
        .map_err(ApiError::internal)?;
    if resilver_pending {
        node.resilvering.store(true, Ordering::Release);
    }
    let placement = |s: &MpSet| -> Vec<(String, usize)> {
        s.avail
            .iter()
            .map(|m| m.path_str.clone())
            .zip(s.core.iter().copied())
            .collect()
    };
    let moved = placement(&node.mountpaths.load()) != placement(&next);
    node.mountpaths.store(next);
    if moved {
        announce(node).await;
    }
    Ok(())
}

/// The Snode changed (mountpaths per core): the primary learns it through a re-join; an
/// all-in-one node updates its own map.
async fn announce(node: &Arc<Node>) {
    match node.cfg.role {
        Role::All => {
            let me = node.self_snode_target();
            let n2 = node.clone();
            let _ = glommio::executor()
                .spawn_blocking(move || {
                    n2.update_smap(|s| {
                        s.tmap.insert(me.daemon_id.clone(), me);
                        Ok(())
                    })
                })
                .await;
        }
        Role::Target => {
            if let Err(e) = crate::membership::rejoin(node).await {
                tracing::warn!(error = %e, "could not tell the primary about the mountpath change; the next keepalive retries");
                node.rejoin_needed.store(true, Ordering::Release);
            }
        }
        Role::Proxy => {}
    }
}

/// Called when a resilver finished cleanly: leaving mountpaths that hold nothing become
/// disabled or detached, and the pending mark is cleared.
pub async fn finish_resilver(node: &Arc<Node>) -> Result<(), String> {
    if node
        .mp_changing
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err("a mountpath change is in progress".into());
    }
    let r = async {
        let cur = node.mountpaths.load();
        let buckets: Vec<String> = node.bmd.load().buckets.keys().cloned().collect();
        let leaving = cur.leaving.clone();
        let empty = glommio::executor()
            .spawn_blocking(move || {
                leaving
                    .iter()
                    .map(|(m, _)| {
                        buckets.iter().all(|b| {
                            matches!(engine::list::list(m, &engine::layout::Bck::ais(b), "", "", 1, false), Ok(v) if v.is_empty())
                        })
                    })
                    .collect::<Vec<bool>>()
            })
            .await;
        if empty.iter().any(|e| !e) {
            return Err("a leaving mountpath still holds objects".to_string());
        }
        let mut next = cur.successor();
        next.leaving.clear();
        for (m, l) in &cur.leaving {
            match l {
                Leaving::Disable => next.disabled.push(m.path_str.clone()),
                Leaving::Detach => {
                    let mut d = node.mp_detached.lock().expect("detached lock");
                    if !d.contains(&m.path_str) {
                        d.push(m.path_str.clone());
                    }
                }
            }
            tracing::info!(mountpath = %m.path_str, to = ?l, "mountpath emptied by resilver");
        }
        publish(node, next, false).await.map_err(|e| e.message)?;
        node.resilvering.store(false, Ordering::Release);
        Ok(())
    }
    .await;
    node.mp_changing.store(false, Ordering::Release);
    r
}

/// `GET /v1/cluster?what=mountpaths` on a proxy: `{target id: MountpathList}`.
pub async fn gather(core: &Rc<Core>) -> Result<serde_json::Value, ApiError> {
    if core.node.cfg.role != Role::Proxy {
        let mut out = serde_json::Map::new();
        out.insert(core.node.target_id.clone(), core.mps().list_json());
        return Ok(serde_json::Value::Object(out));
    }
    crate::xact::from_targets(core, "mountpaths")
        .await
        .map(serde_json::Value::Object)
}
