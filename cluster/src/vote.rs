//! Primary failover: AIS's election protocol (`/v1/vote/...`), finding the cluster's newest
//! Smap, and the administrative `set-primary`.
//!
//! - A member that has not heard from the primary for interval x factor calls
//!   [`primary_down`]. The candidate is the proxy [`Smap::hrw_proxy`] picks with the
//!   primary skipped (electable, not in maintenance, largest raw `id_digest`). The
//!   candidate runs the election itself; every other node asks it to (`PUT
//!   /v1/vote/init`), trying the next candidate if it does not answer.
//! - The candidate checks the primary itself, then asks every other node of its Smap for a
//!   vote (`GET /v1/vote/proxy`). A node votes YES only if it has not heard from the
//!   primary within one keepalive interval, cannot reach it now, and picks the same
//!   candidate by HRW. A node that does not answer counts as NO; the candidate wins with
//!   more YES than NO.
//! - The winner commits: the Smap with the old primary removed and itself as primary, the
//!   version bumped by 100 (past anything the deposed primary may still produce), pushed
//!   with the BMD to every node (metasync).
//! - No split brain: a node applies only newer Smaps (same UUID). A deposed primary that
//!   comes back (paused, partitioned, restarted from its persisted Smap) finds the newer
//!   map ([`adopt_newer_smap`]: its late keepalive turn, a metasync refused as older, a
//!   keepalive from a node with a newer map, its start-up) and follows the new primary. Until
//!   it has confirmed its role within the keepalive timeout a primary changes no metadata
//!   (`NodeState::primacy_ok`), so a paused primary that wakes up cannot commit a bucket
//!   the cluster never hears of.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra::call_once;
use crate::membership::Via;
use crate::meta::election::{self, Ballot, Voter};
use crate::meta::Smap;
use crate::node::Role;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub const VOTE_YES: &str = "YES";
pub const VOTE_NO: &str = "NO";

/// AIS `VoteRecord`: who runs, whom it replaces, and the Smap the election starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoteRecord {
    pub candidate: String,
    pub primary: String,
    pub smap: Smap,
    #[serde(default)]
    pub start_time: String,
    #[serde(default)]
    pub initiator: String,
}

/// `GET /v1/vote/proxy` body.
#[derive(Serialize, Deserialize)]
pub struct VoteMessage {
    pub vote_record: VoteRecord,
}

/// `PUT /v1/vote/init` body.
#[derive(Serialize, Deserialize)]
pub struct VoteInitiationMessage {
    pub vote_initiation: VoteRecord,
}

/// How long a voter or candidate waits for the primary to answer a direct check.
fn probe_ms(node: &Node) -> u64 {
    (node.keepalive_interval().as_millis() as u64).clamp(300, 2000)
}

fn record(node: &Node, candidate: &str, smap: &Smap) -> VoteRecord {
    VoteRecord {
        candidate: candidate.to_string(),
        primary: smap.proxy_si.daemon_id.clone(),
        smap: smap.clone(),
        start_time: net::time::format_go_datetime(net::time::now_unix_ns()),
        initiator: node.self_id().to_string(),
    }
}

/// The Smap a node holds (`GET /v1/daemon?what=smap`), with one attempt and a deadline.
async fn smap_of(url: &str, timeout_ms: u64) -> Option<Smap> {
    let r = call_once(
        "GET",
        &format!("{url}/v1/daemon?what=smap"),
        &[],
        b"",
        timeout_ms,
    )
    .await
    .ok()?;
    if r.status != 200 {
        return None;
    }
    serde_json::from_slice(&r.body).ok()
}

/// Ask every node we know (and the configured primary URL) for its Smap; apply the newest
/// one of our cluster if it is newer than ours. True if we applied one. Used by a primary
/// that may have been deposed and by a member whose primary is unreachable.
pub async fn adopt_newer_smap(node: &Arc<Node>, timeout: Duration) -> bool {
    let cur = node.smap.load();
    if cur.uuid.is_empty() {
        return false;
    }
    let me = node.self_id().to_string();
    let mut urls: Vec<String> = cur
        .nodes()
        .filter(|n| n.daemon_id != me)
        .map(|n| n.intra_control_net.direct_url.clone())
        .collect();
    urls.extend(node.cfg.primary_url.iter().cloned());
    urls.extend(
        node.lost_peers
            .lock()
            .expect("lost peers lock")
            .iter()
            .cloned(),
    );
    urls.sort();
    urls.dedup();
    let ms = timeout.as_millis() as u64;
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|u| glommio::spawn_local(async move { smap_of(&u, ms).await }))
        .collect();
    let mut best: Option<Smap> = None;
    for t in tasks {
        if let Some(s) = t.await {
            if s.uuid == cur.uuid
                && s.version > best.as_ref().map_or(cur.version, |b| b.version)
                && !s.proxy_si.daemon_id.is_empty()
            {
                best = Some(s);
            }
        }
    }
    let Some(newer) = best else {
        return false;
    };
    tracing::warn!(ours = cur.version, theirs = newer.version, primary = %newer.proxy_si.daemon_id, "the cluster has a newer Smap: adopting it");
    match crate::membership::apply(node.clone(), Some(newer), None, Via::Fetch).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "adopting the newer Smap failed");
            false
        }
    }
}

/// A member has not heard from the primary for interval x factor: run the election if we
/// are the HRW candidate, else ask the candidate to (the next one if it does not answer).
pub async fn primary_down(node: &Arc<Node>) {
    let smap = node.smap.load();
    let old = smap.proxy_si.daemon_id.clone();
    if old.is_empty() || node.is_primary() || smap.version == 0 {
        return;
    }
    let mut clone = (*smap).clone();
    loop {
        let Some(cand) = clone.hrw_proxy(&old).cloned() else {
            tracing::error!(primary = %old, "primary is down and no electable proxy is left");
            return;
        };
        if node.cfg.role == Role::Proxy && cand.daemon_id == node.proxy_id {
            tracing::warn!(primary = %old, "primary is down: starting election (candidate = self)");
            elect(node.clone(), record(node, &cand.daemon_id, &clone)).await;
            return;
        }
        let msg = VoteInitiationMessage {
            vote_initiation: record(node, &cand.daemon_id, &clone),
        };
        let body = serde_json::to_vec(&msg).expect("vote message serializes");
        let url = format!("{}/v1/vote/init", cand.intra_control_net.direct_url);
        match call_once(
            "PUT",
            &url,
            &[("Content-Type", "application/json")],
            &body,
            probe_ms(node) * 2,
        )
        .await
        {
            Ok(r) if r.status == 200 => {
                tracing::warn!(primary = %old, candidate = %cand.daemon_id, "primary is down: asked the candidate to run the election");
                return;
            }
            Ok(r) => {
                tracing::warn!(candidate = %cand.daemon_id, status = r.status, error = %r.message(), "candidate refused to run the election");
                return;
            }
            Err(e) => {
                tracing::warn!(candidate = %cand.daemon_id, error = %e, "candidate unreachable: trying the next one");
                clone.remove(&cand.daemon_id);
            }
        }
    }
}

/// The candidate's side: confirm the primary is down, collect votes, commit.
pub async fn elect(node: Arc<Node>, vr: VoteRecord) {
    if node.is_primary() || node.electing.swap(true, Ordering::AcqRel) {
        return;
    }
    let r = elect_inner(&node, vr).await;
    node.electing.store(false, Ordering::Release);
    if let Err(e) = r {
        tracing::warn!(error = %e, "election not won");
    }
}

async fn elect_inner(node: &Arc<Node>, vr: VoteRecord) -> Result<()> {
    let cur = node.smap.load();
    if cur.version > vr.smap.version && cur.proxy_si.daemon_id != vr.primary {
        return Err(Error::Conflict(format!(
            "Smap v{} already names primary {}",
            cur.version, cur.proxy_si.daemon_id
        )));
    }
    // 1. The primary itself: up and still primary means no election.
    if let Some(p) = vr.smap.node(&vr.primary) {
        if let Some(theirs) = smap_of(&p.intra_control_net.direct_url, probe_ms(node)).await {
            if theirs.proxy_si.daemon_id == vr.primary {
                return Err(Error::Conflict(format!(
                    "primary {} answers: no election",
                    vr.primary
                )));
            }
        }
    }
    // 2. Votes from every other node of the map.
    let me = node.proxy_id.clone();
    let msg = Rc::new(
        serde_json::to_vec(&VoteMessage {
            vote_record: vr.clone(),
        })
        .expect("vote serializes"),
    );
    let wait = probe_ms(node) * 2 + 1000;
    let tasks: Vec<_> = vr
        .smap
        .nodes()
        .filter(|n| n.daemon_id != me && n.daemon_id != vr.primary)
        .map(|n| {
            let url = format!("{}/v1/vote/proxy?can={me}", n.intra_control_net.direct_url);
            let id = n.daemon_id.clone();
            let body = msg.clone();
            glommio::spawn_local(async move {
                let r = call_once(
                    "GET",
                    &url,
                    &[("Content-Type", "application/json")],
                    &body,
                    wait,
                )
                .await;
                let yes = matches!(&r, Ok(r) if r.status == 200 && r.body == VOTE_YES.as_bytes());
                (id, yes, r.err().map(|e| e.to_string()))
            })
        })
        .collect();
    let (mut yes, mut no) = (0, 0);
    for t in tasks {
        let (id, y, err) = t.await;
        if y {
            yes += 1;
        } else {
            no += 1;
            tracing::info!(voter = %id, error = ?err, "vote: NO");
        }
    }
    tracing::warn!(yes, no, "election votes");
    if !election::won(yes, no) {
        return Err(Error::Conflict(format!("lost the vote {yes}:{no}")));
    }
    // 3. Commit: the new Smap (old primary removed, self primary, version + 100) and the
    // BMD to every node.
    let old = vr.primary.clone();
    let n2 = node.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            n2.update_smap_by(election::ELECTION_VERSION_BUMP, |s| {
                election::commit(s, &n2.proxy_id, &old)
                    .ok_or_else(|| Error::Conflict("the candidate is not in its own Smap".into()))
            })
        })
        .await?;
    crate::membership::become_primary(node);
    tracing::warn!(smap_version = new.version, deposed = %vr.primary, "elected primary");
    adopt_newest_bmd(node, &new).await;
    // Past any BMD version a deposed primary may have reached on its own (cut off, it may
    // have kept committing): its copy is then older, and it takes ours when it re-joins.
    let n2 = node.clone();
    glommio::executor()
        .spawn_blocking(move || n2.update_bmd_by(election::ELECTION_VERSION_BUMP, |_| Ok(())))
        .await?;
    let bmd = node.bmd.load();
    crate::membership::metasync(node, Some(&new), Some(&bmd), &[]).await;
    crate::config::on_new_primary(node).await;
    Ok(())
}

/// A new primary takes the newest BMD any node of `smap` holds: a bucket the old primary
/// acknowledged after pushing it to some nodes survives even if this proxy missed the push.
async fn adopt_newest_bmd(node: &Arc<Node>, smap: &Smap) {
    let me = node.self_id().to_string();
    let ms = probe_ms(node);
    let tasks: Vec<_> = smap
        .nodes()
        .filter(|n| n.daemon_id != me)
        .map(|n| {
            let url = format!("{}/v1/daemon?what=bmd", n.intra_control_net.direct_url);
            glommio::spawn_local(async move {
                let r = call_once("GET", &url, &[], b"", ms).await.ok()?;
                if r.status != 200 {
                    return None;
                }
                serde_json::from_slice::<crate::meta::Bmd>(&r.body).ok()
            })
        })
        .collect();
    let cur = node.bmd.load();
    let mut best: Option<crate::meta::Bmd> = None;
    for t in tasks {
        if let Some(b) = t.await {
            if b.uuid == cur.uuid && b.version > best.as_ref().map_or(cur.version, |x| x.version) {
                best = Some(b);
            }
        }
    }
    let Some(b) = best else {
        return;
    };
    tracing::warn!(
        ours = cur.version,
        theirs = b.version,
        "a node holds a newer BMD: the new primary takes it"
    );
    let n2 = node.clone();
    let r = glommio::executor()
        .spawn_blocking(move || n2.apply_bmd(b))
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "taking the newer BMD failed");
    }
}

/// `GET /v1/vote/proxy` (any node): this node's vote on `vote_record.candidate`.
/// `can`: the `?can=` query (AIS names the candidate there too); it must agree with the
/// vote record.
pub async fn vote(node: &Arc<Node>, body: &[u8], can: Option<&str>) -> Result<&'static str> {
    let msg: VoteMessage = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("bad vote message: {e}")))?;
    let vr = msg.vote_record;
    if let Some(c) = can.filter(|c| *c != vr.candidate) {
        return Err(Error::BadRequest(format!(
            "vote request: ?can={c} names another candidate than its vote record ({})",
            vr.candidate
        )));
    }
    let cur = node.smap.load();
    if vr.smap.uuid != cur.uuid {
        return Err(Error::BadRequest(format!(
            "vote request from cluster {} refused: this node belongs to cluster {}",
            vr.smap.uuid, cur.uuid
        )));
    }
    if !vr.smap.pmap.contains_key(&vr.candidate) {
        return Err(Error::BadRequest(format!(
            "candidate {} is not a proxy of the vote's Smap v{}",
            vr.candidate, vr.smap.version
        )));
    }
    let voter = Voter {
        held: &cur,
        is_primary: node.is_primary(),
        silent: node.primary_contact.lock().expect("contact lock").elapsed(),
        interval: node.keepalive_interval(),
    };
    let ballot = match election::vote_before_probe(&voter, &vr.primary, vr.smap.version) {
        Some(b) => b,
        None => {
            let answers = match cur.node(&vr.primary) {
                Some(p) => smap_of(&p.intra_control_net.direct_url, probe_ms(node))
                    .await
                    .is_some_and(|theirs| theirs.proxy_si.daemon_id == vr.primary),
                None => false,
            };
            if answers {
                node.heard_from_primary();
            }
            election::vote_after_probe(&voter, &vr.primary, &vr.candidate, answers)
        }
    };
    match ballot {
        Ballot::Yes => {
            tracing::warn!(candidate = %vr.candidate, primary = %vr.primary, "vote: YES");
            Ok(VOTE_YES)
        }
        Ballot::No(why) => {
            tracing::info!(candidate = %vr.candidate, why, "vote: NO");
            Ok(VOTE_NO)
        }
    }
}

/// `PUT /v1/vote/init` (proxies): another node asks us, its HRW candidate, to run the
/// election. Answers at once; the election runs in the background.
pub fn vote_init(node: &Arc<Node>, body: &[u8]) -> Result<()> {
    let msg: VoteInitiationMessage = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("bad vote initiation message: {e}")))?;
    let vr = msg.vote_initiation;
    if node.cfg.role != Role::Proxy || vr.candidate != node.proxy_id {
        return Err(Error::BadRequest(format!(
            "vote initiation names candidate {}, this node is {}",
            vr.candidate,
            node.self_id()
        )));
    }
    if node.cfg.non_electable {
        return Err(Error::Conflict(format!(
            "{} is non-electable",
            node.pname()
        )));
    }
    if vr.smap.uuid != node.smap.load().uuid {
        return Err(Error::BadRequest(format!(
            "vote initiation from cluster {} refused",
            vr.smap.uuid
        )));
    }
    if node.is_primary() {
        return Ok(());
    }
    glommio::spawn_local(elect(node.clone(), vr)).detach();
    Ok(())
}

/// Primary: `PUT /v1/cluster/proxy/<id>` moves the primary role to proxy `id` on purpose.
/// The new Smap goes to the new primary first (if it cannot take it, nothing changes),
/// then to everyone else.
pub async fn set_primary(node: &Arc<Node>, id: &str) -> Result<()> {
    node.primacy_ok()?;
    let smap = node.smap.load();
    if id == node.self_id() {
        return Ok(());
    }
    let Some(p) = smap.pmap.get(id).cloned() else {
        return Err(Error::NodeNotFound {
            id: id.to_string(),
            smap_version: smap.version,
        });
    };
    if p.is_non_electable() {
        return Err(Error::Conflict(format!(
            "proxy {id} is non-electable and cannot be primary"
        )));
    }
    if !p.is_active() {
        return Err(Error::Conflict(format!(
            "proxy {id} is in maintenance and cannot be primary"
        )));
    }
    let mut new = (*smap).clone();
    new.proxy_si = p.clone();
    new.version += 1;
    // Prepare: the new primary must take the map (and the BMD) before we let go.
    let payload = serde_json::json!({"Smap": &new, "BMD": &*node.bmd.load()});
    let framed = crate::meta::jsp::encode(1, &serde_json::to_vec(&payload).expect("serializes"));
    let r = crate::intra::call(
        "PUT",
        &format!("{}/v1/metasync", p.intra_control_net.direct_url),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Ais-Caller-Id", node.self_id()),
        ],
        &framed,
    )
    .await?;
    if r.status != 200 {
        return Err(Error::Peer {
            status: r.status,
            message: format!("set-primary: {id} refused the new Smap: {}", r.message()),
        });
    }
    // Commit: our copy, then everyone else.
    crate::membership::apply(node.clone(), Some(new.clone()), None, Via::Fetch).await?;
    tracing::warn!(new_primary = %id, smap_version = new.version, "primary role handed over");
    crate::membership::metasync(node, Some(&new), None, &[]).await;
    Ok(())
}
