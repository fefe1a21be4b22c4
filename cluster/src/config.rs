//! The cluster configuration service (layer 3): loading it at start, `set-config` and
//! `reset-config` on the cluster (primary: version + 1, persisted to `conf/.ais.conf`, pushed
//! with metasync) and on one node (its override, `conf/.ais.override_config`), and applying
//! the config the primary sends (join reply, metasync) by the version rule.
//!
//! # Invariants
//! - Only the primary changes the cluster config; its version only grows and its UUID is
//!   the cluster's.
//! - A refused change leaves the published config and the files as they were: the new
//!   config is computed and validated whole before anything is written.
//! - What a node uses is `NodeState::config` (cluster config with its override): the
//!   start-up flags only seed a config when none is persisted.
//!
//! # What this module does not do
//! A transient (not persisted) change of the cluster config is refused (501); a node
//! override may be transient (so are the per-node flags of `NodeConfig::startup_override`).
//! Cluster `reset-config` leaves node overrides alone; a node's `reset-config` drops them all.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::meta::config::{self, ClusterConfig, ConfigError, ConfigView, Patch, SETTABLE};
use crate::meta::version::{self, Decision};
use crate::node::{store, NodeState, Role};
use net::time;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// The persisted cluster config and node override, in the node's `conf/` directory.
pub const CONFIG_FILE: &str = ".ais.conf";
pub const OVERRIDE_FILE: &str = ".ais.override_config";
/// jsp meta-version of both files.
const CONFIG_META_VERSION: u32 = 2;
/// A keepalive wait re-reads the interval this often, so a changed interval takes effect
/// at once rather than after the old one ran out.
pub const KEEPALIVE_WAKE_MS: u64 = 100;

fn config_path(node: &NodeState) -> PathBuf {
    node.confdir.join(CONFIG_FILE)
}
fn override_path(node: &NodeState) -> PathBuf {
    node.confdir.join(OVERRIDE_FILE)
}

/// A refused configuration or change as the API error it is (501 for a field this node
/// reports but does not honour, 400 otherwise).
pub fn refusal(what: &str, e: ConfigError) -> Error {
    if e.not_implemented {
        Error::NotImplemented(format!("{what}: {e}"))
    } else {
        Error::BadRequest(format!("{what}: {e}"))
    }
}

/// At start (blocking, before the reactors): the persisted config if any (the start-up
/// values otherwise, which the primary persists as version 1), with the node override.
pub fn load(node: &NodeState) -> Result<()> {
    let path = config_path(node);
    let file_err = |p: &PathBuf, e: ConfigError| Error::Config(format!("{}: {e}", p.display()));
    let persisted: Option<Value> = store::load(&path)?;
    let smap_uuid = node.smap.load().uuid.clone();
    let me_url = node.self_snode().public_net.direct_url;
    let primary = node.is_primary();
    let (mut cluster, mut dirty) = match persisted {
        Some(v) => {
            let c = ClusterConfig::from_json(&v).map_err(|e| file_err(&path, e))?;
            if !c.uuid.is_empty() && !smap_uuid.is_empty() && c.uuid != smap_uuid {
                return Err(Error::Config(format!(
                    "{} belongs to cluster {}, the Smap to {smap_uuid}",
                    path.display(),
                    c.uuid
                )));
            }
            let init = &node.cfg.initial_config;
            if (&init.keepalivetracker, &init.rebalance) != (&c.keepalivetracker, &c.rebalance) {
                tracing::info!(config_version = c.config_version, "start-up keepalive/rebalance values differ from the persisted cluster config, which is used (change it with set-config)");
            }
            (c, false)
        }
        None if primary => {
            let mut c = node.cfg.initial_config.clone();
            c.config_version = 1;
            (c, true)
        }
        None => {
            // Until the primary's arrives (join): the start-up values, not persisted.
            let mut c = node.cfg.initial_config.clone();
            c.config_version = 0;
            c.uuid = String::new();
            (c, false)
        }
    };
    if primary {
        if cluster.uuid != smap_uuid || cluster.proxy.primary_url != me_url {
            if !dirty {
                cluster.config_version += 1;
            }
            cluster.uuid = smap_uuid;
            cluster.proxy.primary_url = me_url;
            dirty = true;
        }
        if dirty {
            cluster.lastupdate_time = time::format_go_datetime(time::now_unix_ns());
            store::persist(&path, CONFIG_META_VERSION, &cluster.to_json())?;
        }
    }
    let opath = override_path(node);
    let persisted: Value =
        store::load(&opath)?.unwrap_or_else(|| Value::Object(Default::default()));
    // Per-node flags given at start-up override the persisted override, for this run.
    let mut overrides = persisted.clone();
    config::merge_override(&mut overrides, &node.cfg.startup_override);
    let view = ConfigView::with(cluster, overrides, persisted).map_err(|e| file_err(&opath, e))?;
    tracing::info!(
        config_version = view.cluster.config_version,
        "cluster config loaded"
    );
    node.config.store(view);
    Ok(())
}

fn stamp(c: &mut ClusterConfig) {
    c.lastupdate_time = time::format_go_datetime(time::now_unix_ns());
}

fn persist_cluster(node: &NodeState, c: &ClusterConfig) -> Result<()> {
    store::persist(&config_path(node), CONFIG_META_VERSION, &c.to_json())
}

/// Replace the cluster config (primary, under `control`) with what `f` makes of the current
/// one; version + 1, persisted, published, then pushed to every node.
async fn change_cluster(
    node: &Arc<Node>,
    what: &'static str,
    f: impl FnOnce(&ClusterConfig) -> Result<ClusterConfig> + Send + 'static,
) -> Result<ClusterConfig> {
    if !node.is_primary() {
        return Err(Error::Conflict(format!(
            "{what}: the cluster config changes on the primary only"
        )));
    }
    let n2 = node.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            let node = n2;
            let _g = node.control.lock().expect("control lock");
            let cur = node.config.load();
            let mut new = f(&cur.cluster)?;
            new.uuid = cur.cluster.uuid.clone();
            new.config_version = cur.cluster.config_version + 1;
            stamp(&mut new);
            let view = cur.with_cluster(new.clone()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "node override no longer applies: ignored");
                ConfigView::new(new.clone())
            });
            persist_cluster(&node, &new)?;
            node.config.store(view);
            // Keepalive timeouts may have shrunk: every node gets the new timeout from now
            // to be heard (it hears of the change within the metasync below).
            let now = std::time::Instant::now();
            node.last_seen
                .lock()
                .expect("last_seen lock")
                .values_mut()
                .for_each(|t| *t = now);
            Ok::<_, Error>(new)
        })
        .await?;
    tracing::info!(
        config_version = new.config_version,
        action = what,
        "cluster config changed"
    );
    if node.cfg.role != Role::All {
        crate::metasync::metasync(node, None, None, &[]).await;
    }
    Ok(new)
}

/// A proxy that just became primary (election, set-primary) names itself in the cluster
/// config's `proxy.primary_url` (version + 1, pushed to every node), so the config keeps
/// telling the truth after a failover.
pub async fn on_new_primary(node: &Arc<Node>) {
    let me_url = node.self_snode().public_net.direct_url;
    if !node.is_primary() || node.config.load().cluster.proxy.primary_url == me_url {
        return;
    }
    let r = change_cluster(node, "new primary", move |cur| {
        let mut c = cur.clone();
        c.proxy.primary_url = me_url;
        Ok(c)
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "recording the new primary in the cluster config failed");
    }
}

/// Primary: `set-config` on the cluster (`patch` of [`SETTABLE`] fields).
pub async fn set_cluster(node: &Arc<Node>, patch: Patch, transient: bool) -> Result<ClusterConfig> {
    if transient {
        return Err(Error::NotImplemented(
            "set-config: transient=true (a cluster config change that is not persisted) is not supported by this node".into(),
        ));
    }
    change_cluster(node, "set-config", move |cur| {
        let p = patch
            .to_json(&cur.to_json())
            .map_err(|e| refusal("set-config", e))?;
        config::apply_patch(cur, &p, SETTABLE).map_err(|e| refusal("set-config", e))
    })
    .await
}

/// Primary: `reset-config`: the start-up values (defaults, `--config`, flags), keeping the
/// cluster's identity and primary URL.
pub async fn reset_cluster(node: &Arc<Node>) -> Result<ClusterConfig> {
    let init = node.cfg.initial_config.clone();
    change_cluster(node, "reset-config", move |cur| {
        let mut c = init;
        c.proxy.primary_url = cur.proxy.primary_url.clone();
        Ok(c)
    })
    .await
}

/// This node's `set-config` (its override): [`config::OVERRIDABLE`] fields; persisted unless
/// `transient`.
pub async fn set_node(node: &Arc<Node>, patch: Patch, transient: bool) -> Result<()> {
    let n2 = node.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let node = n2;
            let _g = node.control.lock().expect("control lock");
            let cur = node.config.load();
            let what = "set-config (node)";
            let p = patch
                .to_json(&cur.effective.to_json())
                .map_err(|e| refusal(what, e))?;
            let mut ov = cur.overrides.clone();
            config::merge_override(&mut ov, &p);
            let mut persisted = cur.persisted.clone();
            if !transient {
                config::merge_override(&mut persisted, &p);
            }
            let view = ConfigView::with(cur.cluster.clone(), ov, persisted)
                .map_err(|e| refusal(what, e))?;
            if !transient {
                store::persist(&override_path(&node), CONFIG_META_VERSION, &view.persisted)?;
            }
            tracing::info!(overrides = %view.overrides, transient, "node config override changed");
            node.config.store(view);
            Ok::<_, Error>(())
        })
        .await
}

/// This node's `reset-config`: no override (the cluster config applies as it is).
pub async fn reset_node(node: &Arc<Node>) -> Result<()> {
    let n2 = node.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let node = n2;
            let _g = node.control.lock().expect("control lock");
            let path = override_path(&node);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Internal(format!("remove {}: {e}", path.display()))),
            }
            let cur = node.config.load();
            node.config.store(ConfigView::new(cur.cluster.clone()));
            tracing::info!("node config override removed");
            Ok(())
        })
        .await
}

/// A cluster config from the primary (join reply, metasync), applied by the version rule:
/// `Ok(true)` applied; the same or an older version is `Ok(false)` (a config only comes
/// with other metadata, which has its own rule); another cluster's is refused.
pub async fn apply_synced(node: &Arc<Node>, c: ClusterConfig) -> Result<bool> {
    let n2 = node.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let node = n2;
            let _g = node.control.lock().expect("control lock");
            let cur = node.config.load();
            let held = &cur.cluster;
            match version::decide(&held.uuid, held.config_version, &c.uuid, c.config_version) {
                Decision::Apply => {}
                Decision::Same | Decision::Older => return Ok(false),
                d @ Decision::OtherCluster => {
                    return Err(Error::meta(
                        "Config",
                        d,
                        format!(
                            "cluster config of cluster {} refused: this node belongs to cluster {}",
                            c.uuid, held.uuid
                        ),
                    ))
                }
            }
            let view = cur.with_cluster(c.clone()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "node override no longer applies to the new cluster config: ignored");
                ConfigView::new(c.clone())
            });
            persist_cluster(&node, &c)?;
            node.config.store(view);
            tracing::info!(config_version = c.config_version, "new cluster config");
            Ok(true)
        })
        .await
}

/// [`apply_synced`] for the JSON of a metasync payload.
pub async fn apply_synced_json(node: &Arc<Node>, v: &Value) -> Result<bool> {
    let c = ClusterConfig::from_json(v).map_err(|e| refusal("metasync Config", e))?;
    apply_synced(node, c).await
}

/// Wait one keepalive interval (`NodeState::keepalive_interval`), following a change of the
/// interval while waiting.
pub async fn sleep_keepalive(node: &NodeState) {
    let start = std::time::Instant::now();
    loop {
        let left = node.keepalive_interval().saturating_sub(start.elapsed());
        if left.is_zero() {
            return;
        }
        glommio::timer::sleep(left.min(std::time::Duration::from_millis(KEEPALIVE_WAKE_MS))).await;
    }
}

/// Primary: attach remote AIS cluster `alias` at `url` (AIS `api.AttachRemoteAIS`): recorded
/// in the cluster config's `backend.ais` and pushed to every node; its buckets are then
/// `ais://@alias/<bucket>`.
pub async fn attach_remote_ais(node: &Arc<Node>, alias: &str, url: &str) -> Result<()> {
    let alias = alias.trim().to_string();
    let url = url.trim().trim_end_matches('/').to_string();
    if alias.is_empty()
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::BadRequest(format!(
            "attach: invalid remote cluster alias {alias:?} (letters, digits, '-' and '_')"
        )));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 8 {
        return Err(Error::BadRequest(format!(
            "attach: invalid remote cluster URL {url:?} (expecting http://host:port)"
        )));
    }
    change_cluster(node, "attach", move |cur| {
        let mut c = cur.clone();
        c.backend.ais.insert(alias, vec![url]);
        Ok(c)
    })
    .await
    .map(|_| ())
}

/// Primary: detach remote AIS cluster `alias` (404 if it is not attached).
pub async fn detach_remote_ais(node: &Arc<Node>, alias: &str) -> Result<()> {
    if !node.config.load().cluster.backend.ais.contains_key(alias) {
        return Err(Error::Peer {
            status: 404,
            message: format!("remote cluster {alias:?} is not attached"),
        });
    }
    let alias = alias.to_string();
    change_cluster(node, "detach", move |cur| {
        let mut c = cur.clone();
        c.backend.ais.remove(&alias);
        Ok(c)
    })
    .await
    .map(|_| ())
}
