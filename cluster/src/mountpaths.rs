//! Mountpath changes at runtime: attach, detach, enable and disable (the set itself and its
//! persistence are node state, `crate::node::mpset`; the HTTP API is in `aisnode`).
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

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::node::mpset::{self, Leaving, MpSet, MpState};
use crate::node::Role;
use engine::mountpath::Mountpath;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Why a clean resilver could not finish the mountpath change yet.
#[derive(Debug)]
pub enum FinishError {
    /// Another mountpath change is being applied: retry.
    Busy,
    /// A leaving mountpath still holds objects (they arrived behind the walk).
    NotEmpty,
    /// The new set could not be persisted.
    Publish(Error),
}

impl std::fmt::Display for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FinishError::Busy => write!(f, "a mountpath change is in progress"),
            FinishError::NotEmpty => write!(f, "a leaving mountpath still holds objects"),
            FinishError::Publish(e) => write!(f, "publishing the mountpath set: {e}"),
        }
    }
}

/// What a mountpath request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Attach,
    Detach,
    Enable,
    Disable,
    /// Disable a failing mountpath at once, without moving its objects off it first (the
    /// disk health checker, crate::fshc; never an API request).
    Fault,
}

impl Action {
    pub fn parse(method: &str, action: &str) -> Result<Action> {
        let a = match action {
            "attach-mp" => Action::Attach,
            "detach-mp" => Action::Detach,
            "enable-mp" => Action::Enable,
            "disable-mp" => Action::Disable,
            other => {
                return Err(Error::BadRequest(format!(
                    "invalid mountpath action {other:?} (expected attach-mp, detach-mp, enable-mp or disable-mp)"
                )))
            }
        };
        let want = match a {
            Action::Attach => "PUT",
            Action::Detach => "DELETE",
            Action::Enable | Action::Disable | Action::Fault => "POST",
        };
        if method != want {
            return Err(Error::BadRequest(format!(
                "mountpath action {action:?} goes with {want}, not {method}"
            )));
        }
        Ok(a)
    }
}

/// Apply one mountpath change; `Some(job id)` of the resilver it started, `None` if nothing
/// changed. Only one change runs at a time per node (409 otherwise).
pub async fn change(
    node: &Arc<Node>,
    action: Action,
    path: &str,
    dont_resilver: bool,
) -> Result<Option<String>> {
    let path = mpset::clean(Path::new(path))?;
    if node
        .mp_changing
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(Error::Conflict(format!(
            "{}: another mountpath change is in progress; retry",
            node.tname()
        )));
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
) -> Result<Option<String>> {
    let cur = node.mountpaths.load();
    let state = cur.find(path);
    let tname = node.tname();
    let not_found = || {
        Error::MountpathNotFound(format!(
            "{tname}: mountpath {path} not found (see GET /v1/daemon?what=mountpaths)"
        ))
    };
    let mut next = cur.successor();
    match (action, state) {
        (Action::Fault, Some(MpState::Enabled)) => {
            if next.avail.len() <= 1 {
                return Err(Error::Conflict(format!(
                    "{tname}: mountpath {path} failed, but it is the last available one: left enabled"
                )));
            }
            let i = next
                .avail
                .iter()
                .position(|m| m.path_str == path)
                .expect("found above");
            next.avail.remove(i);
            next.core.remove(i);
            next.disabled.push(path.to_string());
        }
        (Action::Fault, Some(MpState::Disabling | MpState::Detaching)) => {
            next.leaving.retain(|(m, _)| m.path_str != path);
            next.disabled.push(path.to_string());
        }
        (Action::Fault, _) => return Ok(None),
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
            return Err(Error::Conflict(format!(
                "{tname}: mountpath {path} is disabled: enable it (enable-mp) instead"
            )))
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
            for (m, l) in &mut next.leaving {
                if m.path_str == path {
                    *l = to;
                }
            }
        }
        // Detached mountpaths are not in the set (find never answers Detached).
        (_, Some(MpState::Detached)) => return Err(not_found()),
        (Action::Detach | Action::Disable, Some(MpState::Enabled)) => {
            if next.avail.len() <= 1 {
                return Err(Error::Conflict(format!(
                    "{tname}: cannot {} {path}: it is the last available mountpath",
                    if action == Action::Detach {
                        "detach"
                    } else {
                        "disable"
                    }
                )));
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
async fn open_new(node: &Arc<Node>, cur: &MpSet, path: &str) -> Result<Mountpath> {
    let others: Vec<Arc<Mountpath>> = cur.with_data();
    let p = PathBuf::from(path);
    let id = node.target_id.clone();
    let buckets: Vec<String> = node.bmd.load().buckets.keys().cloned().collect();
    let m = glommio::executor()
        .spawn_blocking(move || -> Result<Mountpath> {
            let m = Mountpath::init(&p).map_err(|e| Error::BadRequest(e.to_string()))?;
            let mut all: Vec<&Mountpath> = others.iter().map(std::convert::AsRef::as_ref).collect();
            all.push(&m);
            engine::mountpath::check_not_nested_refs(&all)
                .map_err(|e| Error::BadRequest(e.to_string()))?;
            match m.read_daemon_id() {
                Some(other) if other != id => {
                    return Err(Error::Conflict(format!(
                        "mountpath {} belongs to target {other}, not to this target {id}",
                        m.path_str
                    )))
                }
                Some(_) => {}
                None => m
                    .write_daemon_id(&id)
                    .map_err(|e| Error::Internal(e.to_string()))?,
            }
            for b in &buckets {
                m.create_bucket(&engine::layout::Bck::ais(b))
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
            Ok(m)
        })
        .await?;
    m.prime_dma()
        .await
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(m)
}

/// Persist (with the resilver-pending mark), publish, and tell the cluster where this
/// target's mountpaths now are (the Snode lists them per core for direct redirects).
pub async fn publish(node: &Arc<Node>, next: MpSet, resilver_pending: bool) -> Result<()> {
    let n2 = node.clone();
    let next = glommio::executor()
        .spawn_blocking(move || {
            n2.persist_mountpaths(&next, resilver_pending)
                .map(|()| next)
        })
        .await?;
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
pub async fn finish_resilver(node: &Arc<Node>) -> Result<(), FinishError> {
    if node
        .mp_changing
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(FinishError::Busy);
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
            return Err(FinishError::NotEmpty);
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
        publish(node, next, false).await.map_err(FinishError::Publish)?;
        node.resilvering.store(false, Ordering::Release);
        Ok(())
    }
    .await;
    node.mp_changing.store(false, Ordering::Release);
    r
}
