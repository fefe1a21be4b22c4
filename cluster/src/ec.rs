//! Erasure coding across targets (AIS's `ec` bucket props): with D data and P parity slices,
//! an object's slices go to the first D+P targets of its HRW ranking over the Smap's active
//! targets (slice i on rank i; rank 0 is the owner, which keeps the object and slice 0).
//! Objects smaller than `ec.objsize_limit` (or every object when it is -1) are replicated
//! instead: full copies on ranks 1..=P. Slices and replicas are files under `%ec` with a
//! metafile under `%mt` (`engine::ecstore`, docs/on-disk-format.md).
//!
//! This module makes them after a PUT ([`after_put`]; the PUT is acknowledged only once every
//! slice is stored), restores a lost or corrupted object from them ([`restore`], asking every
//! active target, so slices placed under an older Smap are found), removes them with the
//! object ([`delete`], leaving tombstones), and runs the `ec-encode` job ([`start`]), a check
//! pass that verifies each owned object and every slice at its holder and repairs what is
//! corrupted or missing ([`check_and_repair`]).
//!
//! # Deletion and tombstones
//! A DELETE replaces the slice and metafile on every active target that had one, and on the
//! ranked targets, with a tombstone metafile whose generation is the deletion time. A restore
//! uses the newest generation among all metafiles it can reach, and a tombstone there means
//! "deleted": slices left on a target that was down during the DELETE never bring the object
//! back while any tombstone holder is reachable. Generations are wall-clock nanoseconds
//! (object mtime, deletion time): clocks of the targets are assumed to agree to well under
//! the time between a PUT and a DELETE of one name.
//!
//! # What this module does not do
//! - Move slices when the Smap changes (rebalance moves objects only); restore finds slices
//!   wherever they are. A restore rebuilds the object, not its slices: lost or corrupted
//!   slices are made again by `ec-encode` (the check pass), which also places slices on the
//!   current ranking (old ones elsewhere stay).
//! - Keep custom metadata: a restored object has its size, checksum, version and mtime.
//! - Guarantee P losses while a rebalance runs. The new owner of a moved object lays its
//!   slices out on its own ranking, overwriting the slice a target held under the old one;
//!   until that finishes (the sender keeps its copy until every slice is stored), the
//!   distinct slices of an object can be fewer than D+P, as in a RAID rebuild. The job API
//!   shows when the rebalance is done; from then on any P targets can be lost.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::{placement, Bprops};
use crate::transfer;
use crate::xact::Job;
use engine::ec::{Decoder, EcConf, EcMeta, CHUNK_BYTES_MAX, META_VERSION};
use engine::ecstore;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectWriter, PutOpts};
use net::time;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use xxhash_rust::xxh64::Xxh64;

/// Header carrying a slice's metafile (hex) on the intra-cluster EC endpoints.
pub const HDR_EC_META: &str = "Ais-Ec-Meta";
/// Header of a slice PUT the receiver did not store because it has a newer generation.
pub const HDR_EC_STALE: &str = "Ais-Ec-Stale";
/// Deadline of a metafile query during a restore: a target that does not answer within it
/// (down, hung) is skipped.
pub const EC_META_TIMEOUT_MS: u64 = 2_000;
/// Deadline of one slice-range read during a restore (at most [`CHUNK_BYTES_MAX`] bytes).
pub const EC_SLICE_READ_TIMEOUT_MS: u64 = 30_000;
/// Deadline of a slice removal (DELETE): best effort, an unreachable target is skipped.
pub const EC_DELETE_TIMEOUT_MS: u64 = 2_000;
/// Names listed per directory-walk batch of the `ec-encode` job.
pub const EC_ENCODE_BATCH: usize = 500;

/// Counters of erasure coding on this node (with the node's stats).
#[derive(Debug, Default)]
pub struct EcStats {
    pub encoded: AtomicU64,
    pub replicated: AtomicU64,
    pub slices_sent: AtomicU64,
    pub slices_received: AtomicU64,
    pub restored: AtomicU64,
    pub put_errors: AtomicU64,
    pub restore_errors: AtomicU64,
    pub delete_errors: AtomicU64,
    /// Objects (on their owner) found corrupted: by a GET or by the check pass.
    pub bad_objects: AtomicU64,
    /// Slices found corrupted (checksum against their metafile, or a metafile that does not
    /// decode), counted by their holder.
    pub bad_slices: AtomicU64,
    /// Replicas (full copies under `%ec`) found corrupted, counted by their holder.
    pub bad_replicas: AtomicU64,
    /// Objects the check pass (`ec-encode`) verified on their owner.
    pub checked: AtomicU64,
    /// Slices and replicas the check pass made again (bad, missing or of another layout).
    pub slices_remade: AtomicU64,
}

/// This process's EC counters.
pub static STATS: EcStats = EcStats {
    encoded: AtomicU64::new(0),
    replicated: AtomicU64::new(0),
    slices_sent: AtomicU64::new(0),
    slices_received: AtomicU64::new(0),
    restored: AtomicU64::new(0),
    put_errors: AtomicU64::new(0),
    restore_errors: AtomicU64::new(0),
    delete_errors: AtomicU64::new(0),
    bad_objects: AtomicU64::new(0),
    bad_slices: AtomicU64::new(0),
    bad_replicas: AtomicU64::new(0),
    checked: AtomicU64::new(0),
    slices_remade: AtomicU64::new(0),
};

/// Corrupted objects, slices and replicas found, per mountpath (where a disk goes bad).
static BAD_BY_MP: crate::stats::PerMountpath = crate::stats::PerMountpath::new();

/// What was found corrupted, for [`count_bad`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    Object,
    Slice,
    Replica,
}

/// Count a corrupted object, slice or replica found on `mountpath`.
pub fn count_bad(kind: BadKind, mountpath: &str) {
    let c = match kind {
        BadKind::Object => &STATS.bad_objects,
        BadKind::Slice => &STATS.bad_slices,
        BadKind::Replica => &STATS.bad_replicas,
    };
    c.fetch_add(1, Ordering::Relaxed);
    BAD_BY_MP.bump(mountpath);
}

/// The counters as JSON (`what=node_status`).
pub fn stats_json() -> serde_json::Value {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let by_mp = BAD_BY_MP.json();
    serde_json::json!({
        "ec.bad_objects": g(&STATS.bad_objects),
        "ec.bad_slices": g(&STATS.bad_slices),
        "ec.bad_replicas": g(&STATS.bad_replicas),
        "ec.bad_by_mountpath": by_mp,
        "ec.checked": g(&STATS.checked),
        "ec.slices_remade": g(&STATS.slices_remade),
        "ec.encoded": g(&STATS.encoded),
        "ec.replicated": g(&STATS.replicated),
        "ec.slices_sent": g(&STATS.slices_sent),
        "ec.slices_received": g(&STATS.slices_received),
        "ec.restored": g(&STATS.restored),
        "ec.put_errors": g(&STATS.put_errors),
        "ec.restore_errors": g(&STATS.restore_errors),
        "ec.delete_errors": g(&STATS.delete_errors),
    })
}

/// A bucket's EC configuration when EC is enabled.
pub fn conf_of(props: &Bprops) -> Option<EcConf> {
    if !props.ec.enabled {
        return None;
    }
    let conf = EcConf {
        data: usize::try_from(props.ec.data_slices).ok()?,
        parity: usize::try_from(props.ec.parity_slices).ok()?,
    };
    conf.validate().ok().map(|()| conf)
}

/// Whether an object of `size` bytes is replicated rather than encoded.
pub fn is_replicated(props: &Bprops, size: u64) -> bool {
    props.ec.objsize_limit == -1 || i128::from(size) < i128::from(props.ec.objsize_limit)
}

/// `<base>/v1/ec/<bucket>/<object>?<query>` with the intra-cluster marks.
fn ec_url(node: &Node, base: &str, bucket: &str, object: &str, query: &str) -> String {
    format!(
        "{base}/v1/ec/{bucket}/{}?provider=ais&{query}{}pid={}&utm={}",
        net::http::percent_encode_path(object),
        if query.is_empty() { "" } else { "&" },
        node.self_id(),
        time::base36(time::now_unix_ns() as u64)
    )
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// The metafile carried in [`HDR_EC_META`] (hex of its bytes).
pub fn parse_meta_header(v: &str) -> Result<EcMeta> {
    if !v.len().is_multiple_of(2) || !v.is_ascii() {
        return Err(Error::BadRequest(format!("{HDR_EC_META}: not hex")));
    }
    let b = (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|e| Error::BadRequest(format!("{HDR_EC_META}: {e}")))?;
    EcMeta::decode(&b).map_err(|e| Error::BadRequest(format!("{HDR_EC_META}: {e}")))
}

thread_local! {
    /// Keep-alive connections for slice transfers, per core.
    static POOL: Rc<transfer::Pool> = Rc::new(transfer::Pool::default());
}

fn engine_err(e: engine::Error) -> Error {
    Error::Internal(e.to_string())
}

/// After a PUT committed `object` on `mp` (this target owns it): store its slices (or
/// replicas) on the ranked targets. `Ok` once all D+P slices (P replicas) are stored; an error
/// names how many were, and the object itself stays. An object replaced or deleted meanwhile
/// is not encoded (the newer PUT encodes its own).
pub async fn after_put(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<()> {
    let Some(props) = node.bmd.load().buckets.get(bucket).cloned() else {
        return Ok(());
    };
    let Some(conf) = conf_of(&props) else {
        return Ok(());
    };
    let r = put_slices(node, mp, bucket, object, &props, conf, None).await;
    if let Err(e) = &r {
        STATS.put_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(bucket, object, error = %e, "storing EC slices failed");
    }
    r
}

async fn put_slices(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
    props: &Bprops,
    conf: EcConf,
    only: Option<&[usize]>,
) -> Result<()> {
    let bck = Bck::ais(bucket);
    let (m, b, o) = (mp.clone(), bck.clone(), object.to_string());
    let found = glommio::executor()
        .spawn_blocking(move || {
            let fqn = engine::object::locate(&m, &b, &o);
            engine::object::read_lom_path(&fqn).map(|l| (fqn, l))
        })
        .await;
    let (fqn, lom) = match found {
        Ok(x) => x,
        Err(engine::Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(engine_err(e)),
    };
    let smap = node.smap.load();
    let d = placement::object_digest(bucket, object);
    let ranked = placement::targets_ranked(&smap, d);
    let n = conf.slices();
    let mut targets: Vec<String> = ranked.iter().take(n).map(|t| t.daemon_id.clone()).collect();
    targets.resize(n, String::new());
    let replicated = is_replicated(props, lom.size);
    let base = EcMeta {
        version: META_VERSION,
        data: conf.data as u8,
        parity: conf.parity as u8,
        slice_index: 0,
        obj_size: lom.size,
        generation_ns: lom.mtime_ns,
        obj_cksum_type: lom.cksum_type.clone(),
        obj_cksum_value: lom.cksum_value.clone(),
        obj_version: lom.version.clone(),
        slice_cksum: 0,
        targets,
        replicated,
        deleted: false,
    };
    let fsync = node.cfg.fsync;
    // (slice index, file to send, checksum); a work file is removed when done.
    let mut sends: Vec<(usize, std::path::PathBuf, u64, bool)> = Vec::new();
    let (wanted, size) = if replicated {
        let f = fqn.clone();
        let (cksum, len) = glommio::executor()
            .spawn_blocking(move || ecstore::file_xxh64(&f))
            .await
            .map_err(engine_err)?;
        if len != lom.size {
            // Replaced meanwhile: that PUT encodes its own bytes.
            return Ok(());
        }
        for i in 1..=conf.parity {
            sends.push((i, fqn.clone(), cksum, false));
        }
        (conf.parity, lom.size)
    } else {
        let (f, m, b, o, size) = (
            fqn.clone(),
            mp.clone(),
            bck.clone(),
            object.to_string(),
            lom.size,
        );
        let works = glommio::executor()
            .spawn_blocking(move || ecstore::encode_to_work(&f, size, &m, &b, &o, conf, fsync))
            .await
            .map_err(engine_err)?;
        for (i, w) in works.into_iter().enumerate() {
            sends.push((i, w.path, w.cksum, true));
        }
        (n, engine::ec::slice_size(lom.size, conf.data))
    };
    // Only the slices asked for (the check pass re-makes the bad ones); the other work files go.
    let (sends, wanted) = match only {
        None => (sends, wanted),
        Some(keep) => {
            let (keep, drop): (Vec<_>, Vec<_>) =
                sends.into_iter().partition(|s| keep.contains(&s.0));
            let gone: Vec<_> = drop.into_iter().filter(|s| s.3).map(|s| s.1).collect();
            if !gone.is_empty() {
                glommio::executor()
                    .spawn_blocking(move || {
                        for p in gone {
                            let _ = std::fs::remove_file(p);
                        }
                    })
                    .await;
            }
            let n = keep.len();
            (keep, n)
        }
    };
    let mut tasks = Vec::with_capacity(sends.len());
    let mut stored = 0usize;
    let mut failures: Vec<String> = Vec::new();
    for (i, path, cksum, is_work) in sends {
        let meta = EcMeta {
            slice_index: i as u8,
            slice_cksum: cksum,
            ..base.clone()
        };
        let Some(t) = ranked.get(i) else {
            if is_work {
                let _ = std::fs::remove_file(&path);
            }
            failures.push(format!("slice {i}: no target at rank {i}"));
            continue;
        };
        if t.daemon_id == node.target_id {
            // This target's own slice: into place on the object's mountpath.
            let (m, b, o) = (mp.clone(), bck.clone(), object.to_string());
            let r = glommio::executor()
                .spawn_blocking(move || -> engine::Result<ecstore::Installed> {
                    let work = if is_work {
                        path
                    } else {
                        let (w, _) = ecstore::create_work(&m, &b, &o, "rp")?;
                        if let Err(e) = std::fs::copy(&path, &w) {
                            let _ = std::fs::remove_file(&w);
                            return Err(engine::Error::io("copy", &w, e));
                        }
                        w
                    };
                    ecstore::install(&m, &b, &o, Some(&work), &meta, fsync)
                })
                .await;
            match r {
                Ok(_) => stored += 1,
                Err(e) => failures.push(format!("slice {i} on this target: {e}")),
            }
            continue;
        }
        let url = placement::core_url(t, d);
        let target = ec_url(node, "", bucket, object, "");
        let pool = POOL.with(Rc::clone);
        let tid = t.daemon_id.clone();
        tasks.push(glommio::spawn_local(async move {
            let h = hex(&meta.encode());
            let headers = [(HDR_EC_META, h.as_str())];
            let r = transfer::put_file(&pool, &url, &target, &headers, &path, size).await;
            if is_work {
                let p = path.clone();
                glommio::executor()
                    .spawn_blocking(move || {
                        let _ = std::fs::remove_file(p);
                    })
                    .await;
            }
            r.map_err(|e| format!("slice {i} to target {tid}: {e}"))
        }));
    }
    for t in tasks {
        match t.await {
            Ok(()) => {
                stored += 1;
                STATS.slices_sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => failures.push(e),
        }
    }
    if stored < wanted {
        return Err(Error::Unavailable(format!(
            "ais://{bucket}/{object} is stored, but only {stored} of its {wanted} EC {} were: {}",
            if replicated { "replicas" } else { "slices" },
            failures.join("; ")
        )));
    }
    if only.is_some() {
        STATS
            .slices_remade
            .fetch_add(stored as u64, Ordering::Relaxed);
    } else if replicated {
        STATS.replicated.fetch_add(1, Ordering::Relaxed);
    } else {
        STATS.encoded.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A metafile found on a target, and where to read its slice.
#[derive(Clone)]
struct Holder {
    url: String,
    target_id: String,
    meta: EcMeta,
}

/// Every active target's metafile of `object` (a target that does not answer within
/// [`EC_META_TIMEOUT_MS`] is skipped).
async fn gather_metas(node: &Arc<Node>, bucket: &str, object: &str) -> Vec<Holder> {
    let smap = node.smap.load();
    let d = placement::object_digest(bucket, object);
    let mut tasks = Vec::new();
    for t in smap.active_targets() {
        let base = placement::core_url(t, d);
        let url = ec_url(node, &base, bucket, object, "what=meta");
        let tid = t.daemon_id.clone();
        tasks.push(glommio::spawn_local(async move {
            match intra::call_once("GET", &url, &[], b"", EC_META_TIMEOUT_MS).await {
                Ok(r) if r.status == 200 => match EcMeta::decode(&r.body) {
                    Ok(meta) => Some(Holder {
                        url: base,
                        target_id: tid,
                        meta,
                    }),
                    Err(e) => {
                        tracing::warn!(target = %tid, error = %e, "bad EC metafile skipped");
                        None
                    }
                },
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(target = %tid, error = %e, "EC restore: target skipped");
                    None
                }
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Some(h) = t.await {
            out.push(h);
        }
    }
    out
}

/// The slice set to restore from: the newest generation among `metas` that has enough
/// consistent slices to rebuild (D, or 1 replica), never one older than a tombstone (the
/// object was deleted: `None`). A newer generation with too few slices is a PUT that was never
/// acknowledged (an acknowledged one stored all D+P, of which at most P can be lost), so the
/// last acknowledged object is the older complete generation.
fn newest_set(metas: Vec<Holder>) -> Option<Vec<Holder>> {
    let mut gens: Vec<i64> = metas.iter().map(|h| h.meta.generation_ns).collect();
    gens.sort_unstable_by(|a, b| b.cmp(a));
    gens.dedup();
    for g in gens {
        if metas
            .iter()
            .any(|h| h.meta.generation_ns == g && h.meta.deleted)
        {
            return None;
        }
        let mut set: Vec<Holder> = metas
            .iter()
            .filter(|h| h.meta.generation_ns == g)
            .cloned()
            .collect();
        let first = set[0].meta.clone();
        set.retain(|h| {
            let m = &h.meta;
            (m.data, m.parity, m.obj_size, m.replicated)
                == (first.data, first.parity, first.obj_size, first.replicated)
                && m.obj_cksum_value == first.obj_cksum_value
        });
        set.sort_by_key(|h| h.meta.slice_index);
        set.dedup_by_key(|h| h.meta.slice_index);
        let need = if first.replicated {
            1
        } else {
            usize::from(first.data)
        };
        if set.len() >= need {
            return Some(set);
        }
        tracing::warn!(generation = g, have = set.len(), need, "EC restore: a newer generation is incomplete (never acknowledged): trying an older one");
    }
    None
}

/// Self-healing of an EC object on `mp` that is missing (`corrupted` false) or failed its
/// checksum: rebuild it from the slices (or a replica) on the targets and commit it without
/// replacing one a client PUT meanwhile. `Ok(true)`: the object is in place; `Ok(false)`: too
/// few slices (or a tombstone): it cannot be restored.
pub async fn restore(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
    corrupted: bool,
) -> Result<bool> {
    let bck = Bck::ais(bucket);
    if corrupted {
        count_bad(BadKind::Object, &mp.path_str);
        let (m, b, o) = (mp.clone(), bck.clone(), object.to_string());
        match glommio::executor()
            .spawn_blocking(move || engine::object::delete(&m, &b, &o))
            .await
        {
            Ok(()) | Err(engine::Error::NotFound(_)) => {}
            Err(e) => return Err(engine_err(e)),
        }
    }
    let Some(mut set) = newest_set(gather_metas(node, bucket, object).await) else {
        return Ok(false);
    };
    let m0 = set[0].meta.clone();
    let need = if m0.replicated {
        1
    } else {
        usize::from(m0.data)
    };
    while set.len() >= need {
        let use_set: Vec<Holder> = set.iter().take(need).cloned().collect();
        match rebuild(node, mp, &bck, bucket, object, &use_set).await {
            Ok(()) => {
                STATS.restored.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bucket, object, corrupted, from = ?use_set.iter().map(|h| &h.target_id).collect::<Vec<_>>(), "restored an object from its EC slices");
                return Ok(true);
            }
            Err(Rebuild::Exists) => return Ok(true),
            Err(Rebuild::BadHolder(k, why)) => {
                STATS.restore_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(bucket, object, target = %use_set[k].target_id, slice = use_set[k].meta.slice_index, why, "EC slice unusable: trying others");
                let idx = use_set[k].meta.slice_index;
                set.retain(|h| h.meta.slice_index != idx);
            }
            Err(Rebuild::Failed(e)) => {
                STATS.restore_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    Ok(false)
}

enum Rebuild {
    /// A client PUT placed the object meanwhile.
    Exists,
    /// Holder k (of the set used) gave no or bad bytes.
    BadHolder(usize, String),
    Failed(Error),
}

/// Read `len` bytes at `offset` of holder `h`'s slice (of generation `gen`).
async fn read_range(
    node: &Node,
    h: &Holder,
    bucket: &str,
    object: &str,
    offset: u64,
    len: usize,
) -> std::result::Result<Vec<u8>, String> {
    let q = format!(
        "what=slice&gen={}&offset={offset}&len={len}",
        h.meta.generation_ns
    );
    let url = ec_url(node, &h.url, bucket, object, &q);
    match intra::call_once("GET", &url, &[], b"", EC_SLICE_READ_TIMEOUT_MS).await {
        Ok(r) if r.status == 200 && r.body.len() == len => Ok(r.body),
        Ok(r) if r.status == 200 => Err(format!("{} bytes at {offset}, want {len}", r.body.len())),
        Ok(r) => Err(format!("status {}: {}", r.status, r.message())),
        Err(e) => Err(e.to_string()),
    }
}

/// Rebuild the object from `set` (one replica, or D slices) into a work file on `mp` and
/// commit it (no replace). Memory: one stripe of chunks.
async fn rebuild(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    bck: &Bck,
    bucket: &str,
    object: &str,
    set: &[Holder],
) -> std::result::Result<(), Rebuild> {
    let m0 = &set[0].meta;
    let typed = !m0.obj_cksum_type.is_empty() && m0.obj_cksum_type != "none";
    let opts = PutOpts {
        cksum_type: if typed {
            m0.obj_cksum_type.clone()
        } else {
            "none".into()
        },
        // The rebuilt bytes must hash to the object's own checksum.
        client_cksum: if typed {
            engine::cksum::Cksum::parse(&m0.obj_cksum_type, &m0.obj_cksum_value).ok()
        } else {
            None
        },
        skip_vc: false,
        custom: Vec::new(),
        versioning: false,
        fsync: node.cfg.fsync,
        keep_version: Some(m0.obj_version.clone()),
        keep_mtime_ns: Some(m0.generation_ns),
        no_replace: true,
        require: None,
    };
    let mut w = ObjectWriter::create(mp, bck, object)
        .await
        .map_err(|e| Rebuild::Failed(engine_err(e)))?;
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(Rebuild::Failed(engine_err(e)));
    }
    w.size_hint(m0.obj_size);
    let mut hashers: Vec<Xxh64> = set.iter().map(|_| Xxh64::new(0)).collect();
    let r = if m0.replicated {
        let mut off = 0u64;
        let mut r = Ok(());
        while off < m0.obj_size {
            let len = (m0.obj_size - off).min(CHUNK_BYTES_MAX as u64) as usize;
            let b = match read_range(node, &set[0], bucket, object, off, len).await {
                Ok(b) => b,
                Err(why) => {
                    r = Err(Rebuild::BadHolder(0, why));
                    break;
                }
            };
            hashers[0].update(&b);
            if let Err(e) = w.write(&b).await {
                r = Err(Rebuild::Failed(engine_err(e)));
                break;
            }
            off += len as u64;
        }
        r
    } else {
        decode_into(node, &mut w, &mut hashers, bucket, object, set).await
    };
    if let Err(e) = r {
        w.abort().await;
        return Err(e);
    }
    for (k, (h, holder)) in hashers.iter().zip(set).enumerate() {
        if h.digest() != holder.meta.slice_cksum {
            w.abort().await;
            return Err(Rebuild::BadHolder(
                k,
                format!(
                    "slice checksum {:016x}, metafile says {:016x}",
                    h.digest(),
                    holder.meta.slice_cksum
                ),
            ));
        }
    }
    match w.commit(&opts).await {
        Ok(_) => Ok(()),
        Err(engine::Error::Exists(_)) => Err(Rebuild::Exists),
        Err(e @ engine::Error::ChecksumMismatch { .. }) => {
            Err(Rebuild::Failed(Error::Internal(format!(
                "ais://{bucket}/{object}: object rebuilt from EC slices fails its checksum: {e}"
            ))))
        }
        Err(e) => Err(Rebuild::Failed(engine_err(e))),
    }
}

/// Decode the object's stripes from the D slices of `set` into `w`, hashing each slice.
async fn decode_into(
    node: &Arc<Node>,
    w: &mut ObjectWriter,
    hashers: &mut [Xxh64],
    bucket: &str,
    object: &str,
    set: &[Holder],
) -> std::result::Result<(), Rebuild> {
    let m0 = &set[0].meta;
    let conf = EcConf {
        data: m0.data.into(),
        parity: m0.parity.into(),
    };
    let present: Vec<usize> = set.iter().map(|h| h.meta.slice_index.into()).collect();
    let mut dec = Some(
        Decoder::new(conf, m0.obj_size, &present)
            .map_err(|e| Rebuild::Failed(Error::Internal(e.to_string())))?,
    );
    loop {
        let Some(st) = dec.as_ref().and_then(Decoder::stripe) else {
            return Ok(());
        };
        let mut chunks: Vec<(usize, Vec<u8>)> = Vec::with_capacity(set.len());
        for (k, h) in set.iter().enumerate() {
            let b = read_range(node, h, bucket, object, st.slice_offset(), st.chunk)
                .await
                .map_err(|why| Rebuild::BadHolder(k, why))?;
            hashers[k].update(&b);
            chunks.push((h.meta.slice_index.into(), b));
        }
        let mut d = dec.take().expect("a decoder between stripes");
        let (d, r) = glommio::executor()
            .spawn_blocking(move || {
                let refs: Vec<(usize, &[u8])> =
                    chunks.iter().map(|(i, c)| (*i, c.as_slice())).collect();
                let r = d.decode_stripe(&refs).map(|s| s.object.to_vec());
                (d, r)
            })
            .await;
        dec = Some(d);
        let bytes = r.map_err(|e| {
            Rebuild::Failed(Error::Internal(format!(
                "ais://{bucket}/{object}: decoding stripe {}: {e}",
                st.index
            )))
        })?;
        w.write(&bytes)
            .await
            .map_err(|e| Rebuild::Failed(engine_err(e)))?;
    }
}

/// Remove `object`'s slices on every active target, leaving tombstones (see the module
/// docs); best effort: an unreachable target is logged and counted. Called before the object
/// itself is removed.
pub async fn delete(node: &Arc<Node>, bucket: &str, object: &str) {
    let Some(props) = node.bmd.load().buckets.get(bucket).cloned() else {
        return;
    };
    let Some(conf) = conf_of(&props) else {
        return;
    };
    let smap = node.smap.load();
    let d = placement::object_digest(bucket, object);
    let ranked = placement::targets_ranked(&smap, d);
    let n = conf.slices();
    let mut targets: Vec<String> = ranked.iter().take(n).map(|t| t.daemon_id.clone()).collect();
    targets.resize(n, String::new());
    let tomb = EcMeta {
        version: META_VERSION,
        data: conf.data as u8,
        parity: conf.parity as u8,
        slice_index: 0,
        obj_size: 0,
        generation_ns: time::now_unix_ns(),
        obj_cksum_type: String::new(),
        obj_cksum_value: String::new(),
        obj_version: String::new(),
        slice_cksum: 0,
        targets,
        replicated: false,
        deleted: true,
    };
    let h = hex(&tomb.encode());
    let mut tasks = Vec::new();
    for (rank, t) in ranked.iter().enumerate() {
        let always = rank < n;
        let url = ec_url(
            node,
            &placement::core_url(t, d),
            bucket,
            object,
            &format!("always={always}"),
        );
        let (h, tid) = (h.clone(), t.daemon_id.clone());
        tasks.push(glommio::spawn_local(async move {
            let r = intra::call_once(
                "DELETE",
                &url,
                &[(HDR_EC_META, &h)],
                b"",
                EC_DELETE_TIMEOUT_MS,
            )
            .await;
            (tid, r.and_then(intra::CallResult::ok))
        }));
    }
    for t in tasks {
        if let (tid, Err(e)) = t.await {
            STATS.delete_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bucket, object, target = %tid, error = %e, "removing an EC slice failed (a tombstone elsewhere keeps the object deleted)");
        }
    }
}

/// Deadline of one slice verification (the holder reads and hashes its whole slice file).
pub const EC_VERIFY_TIMEOUT_MS: u64 = 60_000;

/// A holder's answer to `GET /v1/ec/...?what=verify` (JSON `{"status", "detail"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The slice is there, of the generation and layout asked about, and hashes to its
    /// metafile's checksum.
    Ok,
    /// The holder has a newer generation (a PUT meanwhile): nothing to do.
    Newer,
    /// The slice fails its checksum, or its metafile does not decode (the holder counted it).
    Bad,
    /// No slice, a tombstone, or a slice of an older generation or another layout.
    Missing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Newer => "newer",
            Verdict::Bad => "bad",
            Verdict::Missing => "missing",
        }
    }

    fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Ok, Verdict::Newer, Verdict::Bad, Verdict::Missing]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What a verification asks of a holder: slice `index` of generation `gen`, of this layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub gen: i64,
    pub index: u8,
    pub replicated: bool,
    pub data: u8,
    pub parity: u8,
}

impl Expect {
    fn query(&self) -> String {
        format!(
            "what=verify&gen={}&index={}&replicated={}&data={}&parity={}",
            self.gen, self.index, self.replicated, self.data, self.parity
        )
    }
}

/// Holder side of `what=verify`: check this target's slice of `object` on `mp` against its
/// metafile and `want`. A corrupted one is counted ([`count_bad`]) and left in place (a
/// restore skips it by its checksum; the checking owner sends a good one). Blocking.
pub fn verify_local(
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    want: &Expect,
) -> (Verdict, String) {
    let bck = Bck::ais(bucket);
    match ecstore::check_slice(&mp.path, &bck, object) {
        Ok(ecstore::SliceCheck::Intact(m)) => {
            if m.generation_ns > want.gen {
                (Verdict::Newer, format!("generation {}", m.generation_ns))
            } else if (
                m.generation_ns,
                m.slice_index,
                m.replicated,
                m.data,
                m.parity,
            ) == (
                want.gen,
                want.index,
                want.replicated,
                want.data,
                want.parity,
            ) {
                (Verdict::Ok, String::new())
            } else {
                (
                    Verdict::Missing,
                    format!(
                        "have slice {} of generation {} (replicated {}, D={} P={})",
                        m.slice_index, m.generation_ns, m.replicated, m.data, m.parity
                    ),
                )
            }
        }
        Ok(ecstore::SliceCheck::Bad(m, why)) => {
            let kind = if m.as_ref().is_some_and(|m| m.replicated) {
                BadKind::Replica
            } else {
                BadKind::Slice
            };
            count_bad(kind, &mp.path_str);
            tracing::error!(bucket, object, mountpath = %mp.path_str, why, "corrupted EC {} found", if kind == BadKind::Replica { "replica" } else { "slice" });
            (Verdict::Bad, why)
        }
        Ok(ecstore::SliceCheck::Missing(m)) => match m {
            Some(m) if m.generation_ns > want.gen => {
                (Verdict::Newer, format!("generation {}", m.generation_ns))
            }
            Some(m) if m.deleted => (Verdict::Missing, "tombstone".into()),
            Some(_) => (Verdict::Missing, "metafile without slice file".into()),
            None => (Verdict::Missing, "no metafile".into()),
        },
        Err(e) => (Verdict::Bad, format!("reading the slice: {e}")),
    }
}

/// What [`check_and_repair`] did to one object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// The object itself was corrupted and rebuilt from its slices.
    pub object_rebuilt: bool,
    /// Slices (replicas) made again.
    pub slices_remade: usize,
}

/// The check pass of `ec-encode` for one object this target owns on `mp`: verify the object
/// against its own checksum (a corrupted one is rebuilt from its slices, [`restore`]), then
/// ask every ranked target to verify its slice or replica against its metafile
/// (`what=verify`, no slice bytes move) and make again the ones that are bad, missing, of
/// an older generation or of another layout (a changed `ec` config), from the verified
/// object. `Ok` with what was done; an error when the object could not be rebuilt or a slice
/// not stored.
pub async fn check_and_repair(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Repair> {
    let mut done = Repair::default();
    let Some(props) = node.bmd.load().buckets.get(bucket).cloned() else {
        return Ok(done);
    };
    let Some(conf) = conf_of(&props) else {
        return Ok(done);
    };
    let bck = Bck::ais(bucket);
    let check = || {
        let (m, b, o) = (mp.clone(), bck.clone(), object.to_string());
        glommio::executor()
            .spawn_blocking(move || engine::object::check_path(&engine::object::locate(&m, &b, &o)))
    };
    let mut lom = None;
    for attempt in 0..2 {
        match check().await {
            Ok((l, None)) => {
                lom = Some(l);
                break;
            }
            // Removed meanwhile (a DELETE): nothing to check.
            Err(engine::Error::NotFound(_)) => return Ok(done),
            // Checked twice, in case a PUT replaced the file while it was read.
            Ok((_, Some(_))) | Err(engine::Error::Corrupt { .. }) if attempt == 0 => {}
            Ok((_, Some(why))) | Err(engine::Error::Corrupt { detail: why, .. }) => {
                tracing::error!(
                    bucket,
                    object,
                    why,
                    "EC check: corrupted object, rebuilding it from its slices"
                );
                if !restore(node, mp, bucket, object, true).await? {
                    return Err(Error::Internal(format!(
                        "ais://{bucket}/{object} is corrupted and too few EC slices are left to rebuild it"
                    )));
                }
                done.object_rebuilt = true;
            }
            Err(e) => return Err(engine_err(e)),
        }
    }
    let lom = match lom {
        Some(l) => l,
        None => match check().await {
            Ok((l, None)) => l,
            Ok((_, Some(why))) => {
                return Err(Error::Internal(format!(
                    "ais://{bucket}/{object}: rebuilt, and still fails its check: {why}"
                )))
            }
            Err(engine::Error::NotFound(_)) => return Ok(done),
            Err(e) => return Err(engine_err(e)),
        },
    };
    let replicated = is_replicated(&props, lom.size);
    let smap = node.smap.load();
    let d = placement::object_digest(bucket, object);
    let ranked = placement::targets_ranked(&smap, d);
    let indices: Vec<usize> = if replicated {
        (1..=conf.parity).collect()
    } else {
        (0..conf.slices()).collect()
    };
    let mut tasks = Vec::with_capacity(indices.len());
    for i in indices {
        let Some(t) = ranked.get(i) else {
            continue;
        };
        let want = Expect {
            gen: lom.mtime_ns,
            index: i as u8,
            replicated,
            data: conf.data as u8,
            parity: conf.parity as u8,
        };
        let url = ec_url(
            node,
            &placement::core_url(t, d),
            bucket,
            object,
            &want.query(),
        );
        let tid = t.daemon_id.clone();
        tasks.push(glommio::spawn_local(async move {
            let r = intra::call_once("GET", &url, &[], b"", EC_VERIFY_TIMEOUT_MS).await;
            let v = match r {
                Ok(r) if r.status == 200 => serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["status"].as_str().and_then(Verdict::parse))
                    .ok_or_else(|| format!("unexpected answer {:?}", r.message())),
                Ok(r) => Err(format!("status {}: {}", r.status, r.message())),
                Err(e) => Err(e.to_string()),
            };
            (i, tid, v)
        }));
    }
    let mut remake = Vec::new();
    for t in tasks {
        match t.await {
            (_, _, Ok(Verdict::Ok | Verdict::Newer)) => {}
            (i, tid, Ok(v)) => {
                tracing::warn!(bucket, object, slice = i, target = %tid, verdict = v.as_str(), "EC check: making the slice again");
                remake.push(i);
            }
            (i, tid, Err(e)) => {
                // Unreachable: try to store it anyway (the PUT says whether it can be).
                tracing::warn!(bucket, object, slice = i, target = %tid, error = %e, "EC check: slice not verified");
                remake.push(i);
            }
        }
    }
    STATS.checked.fetch_add(1, Ordering::Relaxed);
    if remake.is_empty() {
        return Ok(done);
    }
    let r = put_slices(node, mp, bucket, object, &props, conf, Some(&remake)).await;
    if let Err(e) = &r {
        STATS.put_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(bucket, object, error = %e, "EC check: re-making slices failed");
    }
    r.map(|()| {
        done.slices_remade = remake.len();
        done
    })
}

/// Start `ec-encode` of `bucket` on this target (the current executor runs it): the check
/// pass ([`check_and_repair`]) over every object this target owns, which verifies the object
/// and every slice or replica, rebuilds a corrupted object and makes the missing, corrupted
/// or outdated slices (all of them when EC was just enabled or its config changed). AIS's
/// `ec-encode` with `name: "recover"` (check and recover) is this same job. Its ID.
pub fn start(node: &Arc<Node>, bucket: &str, id: Option<String>) -> String {
    let job = node.jobs.begin_bck(
        "ec-encode",
        bucket,
        id,
        node.self_id(),
        node.smap.load().version,
    );
    tracing::info!(job = %job.id, bucket, "ec-encode started");
    crate::xact::pending_update(node, PENDING_FILE, bucket, true);
    let jid = job.id.clone();
    let node = node.clone();
    let bucket = bucket.to_string();
    glommio::spawn_local(async move {
        node.jobs.wait_turn(&job).await;
        run(&node, &job, &bucket).await;
        job.finish();
        job.log_finished(1);
        if !job.is_aborted()
            && job.errors.load(std::sync::atomic::Ordering::Relaxed) == 0
            && node.jobs.is_newest(&job)
        {
            crate::xact::pending_update(&node, PENDING_FILE, &bucket, false);
        }
    })
    .detach();
    jid
}

/// File (in the config dir) naming the buckets whose `ec-encode` has not finished cleanly: a
/// restarted target runs it again ([`resume`]), so enabling EC never stays half done.
pub const PENDING_FILE: &str = ".ais.ec-pending";

/// After a (re)start, once this target is in the cluster map: run `ec-encode` again for the
/// EC buckets whose last run did not finish cleanly.
pub fn resume(node: &Arc<Node>) {
    let node = node.clone();
    glommio::spawn_local(async move {
        crate::xact::wait_in_map(&node).await;
        let bmd = node.bmd.load();
        for b in crate::xact::pending(&node, PENDING_FILE) {
            match bmd.buckets.get(&b) {
                Some(p) if p.ec.enabled => {
                    tracing::info!(bucket = %b, "resuming ec-encode after a restart");
                    start(&node, &b, None);
                }
                _ => crate::xact::pending_update(&node, PENDING_FILE, &b, false),
            }
        }
    })
    .detach();
}

async fn run(node: &Arc<Node>, job: &Arc<Job>, bucket: &str) {
    if !node
        .bmd
        .load()
        .buckets
        .get(bucket)
        .is_some_and(|p| p.ec.enabled)
    {
        job.abort(&format!("bucket {bucket} is gone or not erasure-coded"));
        return;
    }
    let set = node.mountpaths.load();
    for mp in set.avail.clone() {
        let mut after = String::new();
        while let Some(batch) =
            crate::xact::next_batch(job, &mp, bucket, &mut after, EC_ENCODE_BATCH).await
        {
            for e in batch {
                if job.is_aborted() {
                    return;
                }
                let smap = node.smap.load();
                let owned = placement::target(&smap, placement::object_digest(bucket, &e.name))
                    .is_some_and(|t| t.daemon_id == node.target_id);
                if !owned {
                    continue;
                }
                match check_and_repair(node, &mp, bucket, &e.name).await {
                    Ok(_) => {
                        job.objects.fetch_add(1, Ordering::Relaxed);
                        job.bytes.fetch_add(e.size, Ordering::Relaxed);
                    }
                    Err(err) => {
                        tracing::error!(bucket, object = %e.name, error = %err, "ec-encode: object not repaired");
                        job.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str, slice: u8, gen: i64, deleted: bool) -> Holder {
        Holder {
            url: format!("http://{id}"),
            target_id: id.into(),
            meta: EcMeta {
                version: META_VERSION,
                data: 2,
                parity: 1,
                slice_index: slice,
                obj_size: if deleted { 0 } else { 10 },
                generation_ns: gen,
                obj_cksum_type: String::new(),
                obj_cksum_value: if deleted { String::new() } else { "ab".into() },
                obj_version: String::new(),
                slice_cksum: 0,
                targets: vec!["a".into(), "b".into(), "c".into()],
                replicated: false,
                deleted,
            },
        }
    }

    #[test]
    fn the_newest_generation_wins_and_a_tombstone_means_deleted() {
        let ids = |s: Option<Vec<Holder>>| -> Option<Vec<String>> {
            s.map(|v| v.into_iter().map(|h| h.target_id).collect())
        };
        assert_eq!(ids(newest_set(vec![])), None);
        let set = newest_set(vec![
            holder("c", 2, 5, false),
            holder("a", 0, 5, false),
            holder("x", 1, 3, false),
            holder("b", 1, 5, false),
        ]);
        assert_eq!(ids(set), Some(vec!["a".into(), "b".into(), "c".into()]));
        // A newer generation with too few slices (D = 2 here) was never acknowledged: the
        // older complete one is the object.
        assert_eq!(
            ids(newest_set(vec![
                holder("a", 0, 5, false),
                holder("b", 1, 5, false),
                holder("c", 2, 9, false),
            ])),
            Some(vec!["a".into(), "b".into()])
        );
        // A newer tombstone hides older slices; an older one does not.
        assert_eq!(
            ids(newest_set(vec![
                holder("a", 0, 5, false),
                holder("b", 0, 9, true)
            ])),
            None
        );
        assert_eq!(
            ids(newest_set(vec![
                holder("a", 0, 9, false),
                holder("c", 1, 9, false),
                holder("b", 0, 5, true)
            ])),
            Some(vec!["a".into(), "c".into()])
        );
        // An incomplete generation after a deletion: the deletion was the last acknowledged.
        assert_eq!(
            ids(newest_set(vec![
                holder("a", 0, 9, false),
                holder("b", 0, 5, true)
            ])),
            None
        );
    }

    #[test]
    fn meta_header_round_trips_and_refuses_garbage() {
        let m = holder("a", 1, 7, false).meta;
        assert_eq!(parse_meta_header(&hex(&m.encode())).unwrap(), m);
        for bad in ["", "abc", "zz", "00"] {
            assert!(parse_meta_header(bad).is_err(), "{bad:?}");
        }
    }
}
