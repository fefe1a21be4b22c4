//! Cluster membership and metadata sync for separate proxy and target processes:
//! join (`POST /v1/cluster/autoreg` to the primary), keepalive (`POST
//! /v1/cluster/keepalive/<id>`, with the slow path being a re-join), removal of nodes that
//! stopped answering (interval x factor), leave (`DELETE /v1/cluster/daemon/<id>`), and
//! metasync (`PUT /v1/metasync`, a jsp-framed `{"Smap":..,"BMD":..,"Config":..}` pushed by
//! the primary; the cluster config is `crate::config`).
//!
//! Every intra-cluster call has a deadline and a bounded number of retries. The control
//! plane runs as tasks on core 0; data-path cores only read published snapshots.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra::{self, call, call_once, INTRA_CALL_TIMEOUT_MS};
use crate::meta::version::Decision;
use crate::meta::{self, jsp, Bmd, Smap, Snode, FLAG_DECOMMISSION, FLAG_MAINTENANCE};
pub use crate::metasync::metasync;
use crate::node::Role;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most URLs of removed nodes a primary keeps asking for a newer map (the newest kept).
pub const LOST_PEERS_MAX: usize = 64;

/// Pause between join attempts while the primary is unreachable.
pub const JOIN_RETRY_MS: u64 = 500;
/// Longest pause between join attempts.
pub const JOIN_RETRY_MAX_MS: u64 = 10_000;

/// Join request body (AIS `cluMeta`, reduced to what we use).
#[derive(Serialize, Deserialize)]
pub struct JoinMsg {
    pub si: Snode,
    #[serde(default)]
    pub uuid: String,
}

#[derive(Serialize, Deserialize)]
pub struct JoinReply {
    pub smap: Smap,
    pub bmd: Bmd,
    /// The cluster configuration (AIS `cluMeta.config`).
    #[serde(default)]
    pub config: Option<crate::meta::config::ClusterConfig>,
}

/// Start the control-plane task of this node on the current (core 0) executor: one loop
/// that acts as the primary (watch keepalives) or as a member (join, keepalive, detect a
/// failed primary) by what the current Smap says, so the role follows failover and
/// `set-primary`.
pub fn start(node: Arc<Node>) {
    if node.cfg.role == Role::All {
        return;
    }
    glommio::spawn_local(control_loop(node)).detach();
}

/// Where a member joins and sends keepalives: the primary the Smap names, or (no Smap
/// yet) the configured `--primary-url`.
pub fn join_url(node: &Node) -> Option<String> {
    let smap = node.smap.load();
    let p = &smap.proxy_si;
    if smap.version > 0 && !p.daemon_id.is_empty() && p.daemon_id != node.self_id() {
        let u = &p.intra_control_net.direct_url;
        if net::client::parse_http_url(u).is_ok() {
            return Some(u.clone());
        }
    }
    node.cfg.primary_url.clone()
}

async fn join(node: &Arc<Node>, primary: &str) -> Result<()> {
    let msg = JoinMsg {
        si: node.self_snode(),
        uuid: node.smap.load().uuid.clone(),
    };
    let body = serde_json::to_vec(&msg).map_err(|e| Error::Internal(e.to_string()))?;
    let url = format!("{}/v1/cluster/autoreg", primary.trim_end_matches('/'));
    let r = call(
        "POST",
        &url,
        &[
            ("Content-Type", "application/json"),
            ("Ais-Node-Version", "5.0"),
        ],
        &body,
    )
    .await?
    .ok()?;
    let reply: JoinReply = serde_json::from_slice(&r.body)
        .map_err(|e| Error::PeerUnreachable(format!("bad join reply: {e}")))?;
    node.heard_from_primary();
    let applied = match apply(node.clone(), Some(reply.smap), Some(reply.bmd), Via::Fetch).await {
        // A metasync with a newer map may overtake the join reply: that is success too.
        Err(Error::Meta {
            decision: Decision::Older,
            ..
        }) => Ok(()),
        other => other,
    };
    if let Some(c) = reply.config {
        crate::config::apply_synced(node, c).await?;
    }
    applied
}

/// Re-join the primary with our current Snode (its mountpaths per core changed).
pub async fn rejoin(node: &Arc<Node>) -> Result<()> {
    if node.is_primary() {
        return Ok(());
    }
    let Some(primary) = join_url(node) else {
        return Ok(());
    };
    join(node, &primary).await
}

/// How a Smap reached us: pushed by the primary (metasync), or fetched (join reply, a
/// newer map found on a peer, our own set-primary). Only a push without us means the
/// cluster removed us on purpose (leave, decommission: the primary pushes the map to the
/// removed node too); a fetched map without us means "join again".
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Push,
    Fetch,
}

/// Apply metadata off the reactor (persisting and bucket directories block).
pub(crate) async fn apply(
    node: Arc<Node>,
    smap: Option<Smap>,
    bmd: Option<Bmd>,
    via: Via,
) -> Result<()> {
    let old = node.smap.load();
    let was_primary = node.is_primary();
    let n2 = node.clone();
    let changed = glommio::executor()
        .spawn_blocking(move || {
            let node = n2;
            if let Some(b) = bmd {
                node.apply_bmd(b)?;
            }
            if let Some(s) = smap {
                let changed = node.apply_smap(s)?;
                return Ok::<bool, Error>(changed);
            }
            Ok(false)
        })
        .await?;
    if changed {
        let new = node.smap.load();
        let me = node.self_id().to_string();
        let primary_moved = old.proxy_si.daemon_id != new.proxy_si.daemon_id;
        if was_primary && !node.is_primary() {
            // Deposed (an election while we were paused or cut off) or handed over by
            // set-primary: from now on a member of the new primary's cluster.
            tracing::warn!(new_primary = %new.proxy_si.daemon_id, smap_version = new.version, "no longer the primary: following the new one");
            node.joined.store(false, Ordering::Relaxed);
            node.heard_from_primary();
        } else if !was_primary && node.is_primary() {
            become_primary(&node);
            let n = node.clone();
            glommio::spawn_local(async move { crate::config::on_new_primary(&n).await }).detach();
            tracing::warn!(smap_version = new.version, "this proxy is now the primary");
        } else if primary_moved && old.version > 0 {
            tracing::warn!(new_primary = %new.proxy_si.daemon_id, smap_version = new.version, "the cluster has a new primary");
            node.heard_from_primary();
        }
        if !new.pmap.contains_key(&me) && !new.tmap.contains_key(&me) && new.version > 0 {
            if primary_moved || was_primary || via == Via::Fetch {
                // A new primary dropped us as failed (we were the old primary, or it had
                // not heard from us): join it again.
                node.joined.store(false, Ordering::Relaxed);
            } else {
                tracing::warn!(node_id = %me, smap_version = new.version, "removed from the cluster map: stopping keepalives");
                node.left.store(true, Ordering::Relaxed);
            }
        } else {
            tracing::info!(
                smap_version = new.version,
                targets = new.tmap.len(),
                proxies = new.pmap.len(),
                "new Smap"
            );
        }
        crate::rebalance::on_smap_change(&node, &old, &new);
    }
    Ok(())
}

/// Primary-only state on taking the role: every node in the map counts as just heard from
/// (it gets interval x factor to reach us), and the role is confirmed.
pub(crate) fn become_primary(node: &Node) {
    let now = Instant::now();
    let smap = node.smap.load();
    let mut seen = node.last_seen.lock().expect("last_seen lock");
    for id in smap.pmap.keys().chain(smap.tmap.keys()) {
        seen.insert(id.clone(), now);
    }
    drop(seen);
    *node.primacy_confirmed.lock().expect("primacy lock") = now;
    node.joined.store(true, Ordering::Relaxed);
}

/// The control loop: each turn acts by the role the current Smap gives this node.
async fn control_loop(node: Arc<Node>) {
    if node.is_primary() {
        become_primary(&node);
        // Restarted as primary from a persisted Smap: if the cluster elected another
        // primary meanwhile, one of the nodes we knew holds its newer map. No metadata
        // changes until we know.
        // (A map of ourselves alone: a proxy given --primary-url may still find the cluster
        // there.)
        if node.smap.load().nodes().count() > 1 || node.cfg.primary_url.is_some() {
            let now = Instant::now();
            *node.primacy_confirmed.lock().expect("primacy lock") =
                now.checked_sub(node.keepalive_timeout() * 2).unwrap_or(now);
            if !crate::vote::adopt_newer_smap(&node, Duration::from_millis(1000)).await {
                *node.primacy_confirmed.lock().expect("primacy lock") = Instant::now();
            }
        }
    }
    let mut member = Member::default();
    let mut last_tick = Instant::now();
    let mut turn: u64 = 0;
    loop {
        if node.is_primary() {
            crate::config::sleep_keepalive(&node).await;
            let gap = last_tick.elapsed();
            last_tick = Instant::now();
            turn += 1;
            // Every 4th turn: ask the nodes we removed for silence whether they follow a
            // newer map (we may be the side of a healed partition that lost the election).
            if turn.is_multiple_of(4)
                && !node.lost_peers.lock().expect("lost peers lock").is_empty()
                && crate::vote::adopt_newer_smap(&node, Duration::from_millis(500)).await
            {
                continue;
            }
            primary_tick(&node, gap).await;
        } else {
            member_tick(&node, &mut member).await;
            last_tick = Instant::now();
        }
    }
}

#[derive(Default)]
struct Member {
    failures: u32,
}

/// One turn of a member (non-primary proxy or target): join if not joined, else sleep one
/// interval and send a keepalive. A primary unheard of for interval x factor is failed:
/// [`crate::vote::primary_down`] starts (or asks for) an election.
async fn member_tick(node: &Arc<Node>, st: &mut Member) {
    let interval = node.keepalive_interval();
    if node.left.load(Ordering::Relaxed) {
        glommio::timer::sleep(interval).await;
        return;
    }
    let Some(primary) = join_url(node) else {
        glommio::timer::sleep(interval).await;
        return;
    };
    let silent = node.primary_contact.lock().expect("contact lock").elapsed();
    if !node.joined.load(Ordering::Relaxed) {
        // The primary our Smap names first; if it does not answer, the configured one.
        let mut r = join(node, &primary).await;
        if let (Err(Error::PeerUnreachable(_)), Some(cfg)) = (&r, &node.cfg.primary_url) {
            if *cfg != primary {
                r = join(node, cfg).await;
            }
        }
        match r {
            Ok(()) => {
                st.failures = 0;
                // The primary took us in: a metasync that overtook the join with an older
                // map without us (sent to the primary's newer member list) did not remove
                // us; without this the node stopped keepaliving for good and the primary
                // dropped it a few seconds after start.
                node.left.store(false, Ordering::Relaxed);
                node.joined.store(true, Ordering::Relaxed);
                if node.is_primary() {
                    return;
                }
                // A (re)joined target finishes whatever an interrupted run left behind.
                // (A metasync of the same map may be starting it on another core.)
                if node.cfg.role == Role::Target {
                    crate::rebalance::ensure(node, node.smap.load().version);
                }
                tracing::info!(primary = %primary, node_id = %node.self_id(), smap_version = node.smap.load().version, "joined cluster");
            }
            Err(e) => {
                st.failures += 1;
                // The primary refuses another cluster's node and duplicate IDs or URLs
                // with 409: retrying will not help until an operator acts.
                let refused = matches!(e, Error::Peer { status: 409, .. });
                // Log the first failures and then every 20th, and back off (up to
                // JOIN_RETRY_MAX_MS) so a refused node does not flood its log.
                if st.failures <= 3 || st.failures.is_multiple_of(20) {
                    if refused {
                        tracing::error!(primary = %primary, error = %e, attempt = st.failures, "join refused by the primary");
                    } else {
                        tracing::warn!(primary = %primary, error = %e, attempt = st.failures, "join failed; retrying");
                    }
                }
                if matches!(e, Error::PeerUnreachable(_)) {
                    // The primary we know may be gone for good (a whole-cluster restart
                    // without it, or it failed while we were down): find the cluster's
                    // newest map, else elect a new primary.
                    if crate::vote::adopt_newer_smap(node, interval).await {
                        return;
                    }
                    if silent > node.keepalive_timeout() * 2 {
                        crate::vote::primary_down(node).await;
                    }
                }
                let wait = (JOIN_RETRY_MS * u64::from(st.failures.min(20))).min(JOIN_RETRY_MAX_MS);
                let wait = Duration::from_millis(wait).min(interval * 2);
                glommio::timer::sleep(wait).await;
            }
        }
        return;
    }
    crate::config::sleep_keepalive(node).await;
    if node.is_primary() || !node.joined.load(Ordering::Relaxed) {
        return;
    }
    if node.rejoin_needed.swap(false, Ordering::AcqRel) {
        node.joined.store(false, Ordering::Relaxed);
        return;
    }
    let id = node.self_id().to_string();
    let ver = node.smap.load().version.to_string();
    let url = format!(
        "{}/v1/cluster/keepalive/{id}",
        primary.trim_end_matches('/')
    );
    let sent = std::time::Instant::now();
    let res = call_once(
        "POST",
        &url,
        &[("Ais-Caller-Id", &id), ("Ais-Caller-Smap-Ver", &ver)],
        b"",
        keepalive_call_ms(node),
    )
    .await;
    if res.is_ok() {
        crate::metrics::add(crate::metrics::M::KaliveN, 1);
        crate::metrics::add(
            crate::metrics::M::KaliveNsTotal,
            sent.elapsed().as_nanos() as u64,
        );
    }
    match res {
        Ok(r) if r.status == 200 => node.heard_from_primary(),
        Ok(r) => {
            node.heard_from_primary();
            tracing::info!(
                status = r.status,
                "keepalive refused; re-joining (slow path)"
            );
            node.joined.store(false, Ordering::Relaxed);
        }
        Err(e) => {
            let silent = node.primary_contact.lock().expect("contact lock").elapsed();
            tracing::warn!(error = %e, silent_ms = silent.as_millis() as u64, "keepalive to primary failed");
            if silent > node.keepalive_timeout() {
                crate::vote::primary_down(node).await;
            }
        }
    }
}

/// Deadline of one keepalive call: a paused primary must not hold the member longer than
/// an interval or two.
pub fn keepalive_call_ms(node: &Node) -> u64 {
    (node.keepalive_interval().as_millis() as u64 * 2).clamp(300, INTRA_CALL_TIMEOUT_MS)
}

/// One turn of the primary: confirm the role, then remove nodes not heard from within
/// interval x factor. A turn that comes late (this process was paused) or finds every
/// other node silent first asks the nodes whether the cluster moved on without us.
async fn primary_tick(node: &Arc<Node>, gap: Duration) {
    let timeout = node.keepalive_timeout();
    let smap = node.smap.load();
    let me = node.self_id().to_string();
    let now = Instant::now();
    let others: Vec<String> = smap
        .nodes()
        // A node shut down for a while is a known absence (crate::lifecycle).
        .filter(|n| !n.is_shut_down())
        .map(|n| n.daemon_id.clone())
        .filter(|id| *id != me)
        .collect();
    let stale: Vec<String> = {
        let mut seen = node.last_seen.lock().expect("last_seen lock");
        others
            .iter()
            .filter(|id| {
                now.duration_since(*seen.entry((*id).clone()).or_insert(now))
                    > node.keepalive_timeout_of(smap.tmap.contains_key(*id))
            })
            .cloned()
            .collect()
    };
    let paused = gap > timeout;
    // A metasync found a node with a newer Smap than ours (crate::metasync).
    let overtaken = node.newer_smap_seen.swap(false, Ordering::AcqRel);
    if overtaken && crate::vote::adopt_newer_smap(node, Duration::from_millis(1000)).await {
        return;
    }
    let isolated = others.len() >= 2 && stale.len() == others.len();
    if paused || isolated {
        tracing::warn!(
            gap_ms = gap.as_millis() as u64,
            silent = stale.len(),
            nodes = others.len(),
            "primary: late or cut off; checking whether the cluster has a newer map"
        );
        if crate::vote::adopt_newer_smap(
            node,
            node.keepalive_interval()
                .clamp(Duration::from_millis(300), Duration::from_millis(2000)),
        )
        .await
        {
            return;
        }
        if paused {
            // Nobody holds a newer map: we still lead. Everyone gets a fresh period to
            // reach us again (we could not hear them while paused).
            become_primary(node);
            return;
        }
    }
    // Nobody holds a newer map. (Cut off by a partition, we cannot know of an election on
    // the other side: when it heals, their newer map reaches us and we follow it.)
    *node.primacy_confirmed.lock().expect("primacy lock") = Instant::now();
    if stale.is_empty() {
        return;
    }
    let removed = stale.clone();
    match node.update_smap(move |s| {
        for id in &removed {
            s.remove(id);
        }
        Ok(())
    }) {
        Ok(new) => {
            tracing::warn!(nodes = ?stale, smap_version = new.version, "nodes stopped answering keepalives: removed from Smap");
            {
                let mut lost = node.lost_peers.lock().expect("lost peers lock");
                for id in &stale {
                    if let Some(n) = smap.node(id) {
                        lost.retain(|u| *u != n.intra_control_net.direct_url);
                        lost.push(n.intra_control_net.direct_url.clone());
                    }
                }
                let excess = lost.len().saturating_sub(LOST_PEERS_MAX);
                lost.drain(..excess);
            }
            metasync(node, Some(&new), None, &[]).await;
        }
        Err(e) => tracing::error!(error = %e, "Smap update failed"),
    }
}

/// Apply the payload of `PUT /v1/metasync` (a jsp-framed `{"Smap":..,"BMD":..}` from the
/// primary). A refusal by the version rule is [`Error::Meta`].
pub async fn apply_metasync(node: &Arc<Node>, body: &[u8], caller: Option<&str>) -> Result<()> {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(rename = "Smap")]
        smap: Option<Smap>,
        #[serde(rename = "BMD")]
        bmd: Option<Bmd>,
        #[serde(rename = "Config")]
        config: Option<serde_json::Value>,
        #[serde(rename = "Tokens")]
        tokens: Option<crate::auth::TokenList>,
    }
    let json = jsp::decode(body).map_err(|e| Error::BadRequest(e.to_string()))?;
    let p: Payload = serde_json::from_slice(json)
        .map_err(|e| Error::BadRequest(format!("bad metasync payload: {e}")))?;
    if let Some(c) = caller {
        // Only the primary our Smap names pushes metadata, or a sender whose (at least as
        // new) Smap names itself: an election's winner, the target of set-primary. A
        // deposed primary that woke up is refused as older and goes looking for the newer
        // map (crate::metasync).
        let cur = node.smap.load();
        let names_sender = p.smap.as_ref().is_some_and(|s| {
            s.proxy_si.daemon_id == c && s.uuid == cur.uuid && s.version >= cur.version
        });
        if cur.version > 0 && cur.proxy_si.daemon_id != c && !names_sender {
            return Err(Error::meta(
                "metasync",
                Decision::Older,
                format!(
                    "metasync from {c} refused: our Smap v{} names primary {}",
                    cur.version, cur.proxy_si.daemon_id
                ),
            ));
        }
    }
    if node.is_primary() {
        // Only a newer Smap naming another primary moves a primary (it was deposed or
        // handed the role over); anything else from another node is refused.
        let cur = node.smap.load();
        let newer = p.smap.as_ref().is_some_and(|s| {
            s.uuid == cur.uuid && s.version > cur.version && s.proxy_si.daemon_id != node.self_id()
        });
        if !newer {
            return Err(Error::Conflict(
                "metasync refused: this node is the primary".into(),
            ));
        }
    }
    let from_primary = p.smap.is_some();
    if let Err(e) = apply(node.clone(), p.smap, p.bmd, Via::Push).await {
        tracing::warn!(error = %e, "metasync refused");
        return Err(e);
    }
    if from_primary && !node.is_primary() {
        node.heard_from_primary();
    }
    if let Some(c) = p.config {
        crate::config::apply_synced_json(node, &c).await?;
    }
    if let Some(t) = p.tokens {
        if crate::auth::revoke(&t.tokens) {
            crate::auth::persist_revoked(node).await;
        }
    }
    Ok(())
}

/// What the primary answers a join with, and whether the Smap changed (then every node
/// must hear of it: [`spawn_metasync`] after answering).
pub struct Joined {
    pub reply: JoinReply,
    pub changed: bool,
}

/// Primary: a node joins or re-joins (`POST /v1/cluster/autoreg`, body [`JoinMsg`]).
pub async fn autoreg(node: &Arc<Node>, body: &[u8]) -> Result<Joined> {
    let msg: JoinMsg = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("bad join message: {e}")))?;
    let si = msg.si;
    if !meta::valid_node_id(&si.daemon_id) {
        return Err(Error::BadRequest(format!(
            "invalid node ID {:?}",
            si.daemon_id
        )));
    }
    if si.daemon_type != "proxy" && si.daemon_type != "target" {
        return Err(Error::BadRequest(format!(
            "invalid node type {:?}",
            si.daemon_type
        )));
    }
    if node
        .decommissioned
        .lock()
        .expect("decommissioned lock")
        .contains(&si.daemon_id)
    {
        tracing::warn!(node_id = %si.daemon_id, "join refused: node was decommissioned");
        return Err(Error::Conflict(format!(
            "node {} was decommissioned from this cluster and cannot re-join",
            si.daemon_id
        )));
    }
    let uuid = node.smap.load().uuid.clone();
    if !msg.uuid.is_empty() && msg.uuid != uuid {
        tracing::warn!(node_id = %si.daemon_id, their_cluster = %msg.uuid, "join refused: node belongs to another cluster");
        return Err(Error::Conflict(format!(
            "node {} belongs to another cluster ({}); this is cluster {uuid}",
            si.daemon_id, msg.uuid
        )));
    }
    let timeout = node.keepalive_timeout();
    let now = Instant::now();
    let alive = |id: &str| {
        node.last_seen
            .lock()
            .expect("last_seen lock")
            .get(id)
            .is_some_and(|t| now.duration_since(*t) <= timeout)
    };
    let smap_now = node.smap.load();
    let existing = smap_now.node(&si.daemon_id);
    if let Some(e) = existing {
        if e.public_net.direct_url != si.public_net.direct_url && alive(&si.daemon_id) {
            tracing::warn!(node_id = %si.daemon_id, "join refused: duplicate node ID");
            return Err(Error::Conflict(format!(
                "duplicate node ID {}: already in the cluster at {}",
                si.daemon_id, e.public_net.direct_url
            )));
        }
    }
    let dup_url: Vec<String> = smap_now
        .nodes()
        .filter(|n| {
            n.daemon_id != si.daemon_id && n.public_net.direct_url == si.public_net.direct_url
        })
        .map(|n| n.daemon_id.clone())
        .collect();
    if let Some(other) = dup_url.iter().find(|id| alive(id)) {
        return Err(Error::Conflict(format!(
            "duplicate URL {}: node {other} is there and alive",
            si.public_net.direct_url
        )));
    }
    // A re-join keeps the flags the primary set (maintenance, decommission), except
    // "shut down for a while": the node is back (crate::lifecycle).
    let mut si = si;
    if let Some(e) = existing {
        si.flags = e.flags & !meta::FLAG_SHUTDOWN;
    }
    let unchanged = existing.is_some_and(|e| *e == si);
    node.last_seen
        .lock()
        .expect("last_seen lock")
        .insert(si.daemon_id.clone(), now);
    node.lost_peers
        .lock()
        .expect("lost peers lock")
        .retain(|u| *u != si.intra_control_net.direct_url);
    let smap = if unchanged && dup_url.is_empty() {
        (*node.smap.load()).clone()
    } else {
        let si2 = si.clone();
        let dups = dup_url.clone();
        let n2 = node.clone();
        let new = glommio::executor()
            .spawn_blocking(move || {
                n2.update_smap(move |s| {
                    for d in &dups {
                        s.remove(d);
                    }
                    if si2.daemon_type == "proxy" {
                        s.pmap.insert(si2.daemon_id.clone(), si2);
                    } else {
                        s.tmap.insert(si2.daemon_id.clone(), si2);
                    }
                    Ok(())
                })
            })
            .await?;
        tracing::info!(node_id = %si.daemon_id, kind = %si.daemon_type, smap_version = new.version, "node joined");
        new
    };
    Ok(Joined {
        reply: JoinReply {
            smap,
            bmd: (*node.bmd.load()).clone(),
            config: Some(node.config.load().cluster.clone()),
        },
        changed: !unchanged,
    })
}

/// Push `smap` to every node in the background (the caller has answered already).
pub fn spawn_metasync(node: &Arc<Node>, smap: Smap) {
    let n = node.clone();
    glommio::spawn_local(async move { metasync(&n, Some(&smap), None, &[]).await }).detach();
}

/// Primary: a keepalive from `id` that holds Smap version `their_version` (fast path: known
/// and in sync; anything else sends the node down the slow path, a re-join).
pub fn keepalive(node: &Arc<Node>, id: &str, their_version: &str) -> Result<()> {
    let smap = node.smap.load();
    if smap.node(id).is_none() {
        return Err(Error::NodeNotFound {
            id: id.to_string(),
            smap_version: smap.version,
        });
    }
    node.last_seen
        .lock()
        .expect("last_seen lock")
        .insert(id.to_string(), Instant::now());
    if their_version.parse::<i64>().is_ok_and(|v| v > smap.version) {
        // The node follows a newer map than ours: we may have been deposed.
        let n = node.clone();
        glommio::spawn_local(async move {
            crate::vote::adopt_newer_smap(&n, Duration::from_millis(1000)).await;
        })
        .detach();
        return Err(Error::Conflict(format!(
            "node {id} has Smap v{their_version}, newer than this primary's v{}",
            smap.version
        )));
    }
    if their_version != smap.version.to_string() {
        return Err(Error::Conflict(format!(
            "node {id} has Smap v{their_version}, current is v{}",
            smap.version
        )));
    }
    Ok(())
}

/// Primary: node `id` leaves the cluster (`DELETE /v1/cluster/daemon/<id>`); every node,
/// the leaving one included, hears of the new Smap before this returns.
pub async fn leave(node: &Arc<Node>, id: &str) -> Result<()> {
    if id == node.self_id() {
        return Err(Error::BadRequest(
            "the primary cannot leave its own cluster".into(),
        ));
    }
    let smap = node.smap.load();
    let Some(sn) = smap.node(id).cloned() else {
        return Err(Error::NodeNotFound {
            id: id.to_string(),
            smap_version: smap.version,
        });
    };
    let id2 = id.to_string();
    let n2 = node.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            n2.update_smap(move |s| {
                s.remove(&id2);
                Ok(())
            })
        })
        .await?;
    node.last_seen.lock().expect("last_seen lock").remove(id);
    tracing::info!(node_id = %id, smap_version = new.version, "node left the cluster");
    metasync(
        node,
        Some(&new),
        None,
        std::slice::from_ref(&sn.intra_control_net.direct_url),
    )
    .await;
    Ok(())
}

/// A request relayed to the primary at `failed` could not reach it: wait (up to interval x
/// factor x 3 + 5 s) for the Smap to name another primary, and return its public URL (the
/// caller retries there once). `None` if the primary did not change.
pub async fn await_new_primary(node: &Node, failed: &str) -> Option<String> {
    let deadline = Instant::now() + node.keepalive_timeout() * 3 + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(u) = primary_url(node) {
            if u != failed {
                return Some(u);
            }
        }
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Relay a control-plane request to the primary: `send(primary URL)`; if the primary
/// cannot be reached and an election names a new one ([`await_new_primary`]), once more
/// there.
pub async fn relay_to_primary<T, F, Fut>(node: &Node, send: F) -> Result<T>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let primary = primary_url(node)?;
    match send(primary.clone()).await {
        Ok(r) => Ok(r),
        Err(e) => match await_new_primary(node, &primary).await {
            Some(p) => send(p).await,
            None => Err(e),
        },
    }
}

/// The primary's URL, for a non-primary proxy that relays a control-plane request there.
pub fn primary_url(node: &Node) -> Result<String> {
    let primary = node.smap.load().proxy_si.public_net.direct_url.clone();
    if primary.is_empty() || net::client::parse_http_url(&primary).is_err() {
        return Err(Error::Unavailable(
            "primary proxy unknown: not joined yet".into(),
        ));
    }
    Ok(primary)
}

/// Primary: `PUT /v1/cluster` with `{"action": "start-maintenance" | "stop-maintenance" |
/// "decommission-node", "value": {"sid": "<node id>"}}` (job `start`/`stop` are
/// `crate::jobs::cluster_action`). Maintenance and decommission flag the target in the Smap, which takes
/// it out of HRW placement and starts a rebalance that moves its objects away; a
/// decommissioned target leaves the Smap once its rebalance has finished without errors.
/// Returns the action's job ID.
pub async fn cluster_action(
    node: &Arc<Node>,
    action: &str,
    value: &serde_json::Value,
) -> Result<String> {
    let sid = value
        .get("sid")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let (set, clear): (u64, u64) = match action {
        "start-maintenance" => (FLAG_MAINTENANCE, 0),
        "stop-maintenance" => (0, FLAG_MAINTENANCE),
        "decommission-node" | "decommission" => (FLAG_DECOMMISSION, 0),
        a => {
            return Err(Error::NotImplemented(format!(
                "cluster action {a:?} is not supported by this node"
            )))
        }
    };
    let smap = node.smap.load();
    let Some(t) = smap.tmap.get(&sid).cloned() else {
        return Err(Error::NodeNotFound {
            id: sid,
            smap_version: smap.version,
        });
    };
    if set != 0 && t.is_active() && smap.active_targets().count() <= 1 {
        return Err(Error::Conflict(format!(
            "cannot take {sid} out of service: it is the last active target"
        )));
    }
    let n2 = node.clone();
    let sid2 = sid.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            n2.update_smap(move |s| {
                let t = s
                    .tmap
                    .get_mut(&sid2)
                    .ok_or_else(|| Error::Conflict(format!("target {sid2} left meanwhile")))?;
                t.flags = (t.flags | set) & !clear;
                Ok(())
            })
        })
        .await?;
    tracing::info!(node_id = %sid, action = %action, smap_version = new.version, "target flags changed");
    metasync(node, Some(&new), None, &[]).await;
    let job = format!("{action}-{}", meta::random_id(8));
    if set == FLAG_DECOMMISSION {
        let url = t.public_net.direct_url.clone();
        let ver = new.version;
        glommio::spawn_local(finish_decommission(node.clone(), sid.clone(), url, ver)).detach();
    }
    Ok(job)
}

/// Wait until the decommissioned target's rebalance (started by Smap `version` or later)
/// finished without errors, then remove it from the Smap.
async fn finish_decommission(node: Arc<Node>, sid: String, url: String, version: i64) {
    let poll = node
        .keepalive_interval()
        .clamp(Duration::from_millis(100), Duration::from_millis(2000));
    loop {
        glommio::timer::sleep(poll).await;
        if !node.smap.load().tmap.contains_key(&sid) {
            return;
        }
        let Ok(serde_json::Value::Array(jobs)) = intra::daemon_query(&url, "jobs").await else {
            continue;
        };
        let done = jobs.iter().any(|j| {
            j["kind"] == "rebalance"
                && j["finished"] == true
                && j["aborted"] == false
                && j["errors"].as_u64() == Some(0)
                && j["smap_version"].as_i64().unwrap_or(0) >= version
        });
        if !done {
            continue;
        }
        // Before it leaves the map: from then on its keepalives answer 404 and it would
        // re-join.
        node.decommissioned
            .lock()
            .expect("decommissioned lock")
            .insert(sid.clone());
        let id = sid.clone();
        let n2 = node.clone();
        match glommio::executor()
            .spawn_blocking(move || {
                n2.update_smap(move |s| {
                    s.tmap.remove(&id);
                    Ok(())
                })
            })
            .await
        {
            Ok(new) => {
                tracing::info!(node_id = %sid, smap_version = new.version, "decommissioned target left the cluster");
                metasync(&node, Some(&new), None, std::slice::from_ref(&url)).await;
            }
            Err(e) => tracing::error!(error = %e, "removing decommissioned target failed"),
        }
        return;
    }
}

/// Target: a request names a bucket our BMD does not have. Right after a join, other nodes
/// may already route to us (rebalance, clients) before our copy arrives: pull the BMD from
/// the primary once and apply it if newer. True if the bucket exists afterwards.
pub async fn refresh_bmd_for(node: &Arc<Node>, bucket: &str) -> bool {
    if node.is_primary() {
        return false;
    }
    let Some(primary) = join_url(node) else {
        return false;
    };
    let Ok(v) = intra::daemon_query(&primary, "bmd").await else {
        return false;
    };
    let Ok(bmd) = serde_json::from_value::<Bmd>(v) else {
        return false;
    };
    let n2 = node.clone();
    let _ = glommio::executor()
        .spawn_blocking(move || n2.apply_bmd(bmd))
        .await;
    node.bmd.load().buckets.contains_key(bucket)
}
