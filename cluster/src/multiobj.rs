//! Multi-object jobs and bucket copy/move, as AIS runs them (the SDK's `ObjectGroup.delete`,
//! `.copy`, `.archive`, `Bucket.copy`, `Bucket.rename`):
//!
//! | kind | request | what each target does |
//! |---|---|---|
//! | `delete-listrange` | `DELETE /v1/buckets/B` `{objnames \| template}` | deletes the selected objects it owns |
//! | `copy-listrange` | `POST /v1/buckets/B` TCOMsg (`tobck`, `prepend`, `prefix`, `dry_run`, `ext`) | copies the selected objects it owns to their owners in `tobck` |
//! | `archive` | `PUT /v1/buckets/B` ArchiveMsg (`archname`, `mime`, `tobck`, `isbn`, `aate`, `bnonly`) | the shard's owner gathers every member (intra-cluster GETs) into one tar, tgz, tar.lz4 or zip |
//! | `copy-bck` | `POST /v1/buckets/B?bck_to=U` TCBMsg (`prefix`, `prepend`, `dry_run`, `ext`) | walks its objects of B (with the prefix) and copies each |
//! | `move-bck` | `POST /v1/buckets/B?bck_to=U` | moves its objects of B to their owners in the new bucket |
//! | `prefetch-listrange` | `POST /v1/buckets/B` PrefetchMsg (`objnames \| template`, `latest-ver`, `blob-threshold`, `blob-chunk-size`, `blob-num-workers`) on a remote bucket | cold-GETs the selected objects it owns that are not cached (or changed, with `latest-ver`); those of at least `blob-threshold` bytes by the blob downloader (`crate::blob`: parallel ranged GETs, a `blob-download` job each) |
//! | `evict-listrange` | `DELETE /v1/buckets/B` `{objnames \| template}` on a remote bucket | drops its cached copies of the selected objects (the backend keeps them) |
//!
//! On a remote bucket a prefix template (or none: the whole bucket) selects from the
//! backend's listing for `prefetch-listrange` and `delete-listrange` (which deletes on the
//! backend too), from what is cached for `evict-listrange`.
//!
//! The proxy (or an all-in-one node) validates the request (source bucket, destination,
//! template, archive format: 4xx naming the fault, nothing changed), creates a missing
//! destination (copies; `move-bck` requires that it does not exist), and starts the job on
//! every active target (`PUT /v1/daemon` `start` with the [`Spec`] as `mobj`), all under one
//! ID: the response body, which the SDK's `Job` waits on (`what=qryxstats`, `what=status`).
//!
//! Selection (AIS `ListRange`): `objnames` (a list; a missing name fails the job unless
//! `coer`), else `template` (`meta::template`: names that do not exist are skipped; a
//! template without ranges is a name prefix; empty: the whole bucket).
//!
//! # Consistency under concurrent clients
//! - `copy-bck`, `copy-listrange`: each object is copied as it is when the job reaches it
//!   (bytes, checksum verified by the receiver, custom metadata). Objects PUT into the
//!   source while the job runs are copied if the walk reaches them afterwards, and not
//!   otherwise, as in AIS: the copy is of the bucket as the walk saw it.
//! - `move-bck`: the primary marks the source `renamed` in the BMD (AIS's `Props.Renamed`)
//!   and creates the destination with the source's props in the same BMD version. From then
//!   on writes to the source (PUT, DELETE, ...) are refused with 409 naming the move: a
//!   client is told, never silently dropped. Objects are moved (kept version; a newer copy a
//!   client already PUT to the destination wins) and the source copy is removed only after
//!   the destination acknowledged it; passes repeat until one moves nothing. Only when every
//!   target finished without errors does the primary drop the source from the BMD; if any
//!   failed, the source stays with what it still has, its mark removed, and the job reports
//!   the error. Reads of the source may miss objects already moved (404). A native PUT is
//!   checked on arrival and again just before its commit (`aisnode` `native::objects::put`),
//!   so one admitted before the mark commits before the passes start, or is refused.
//!
//! # What this module does not do
//! Copies and archives into or out of remote buckets, `synchronize`, ETL, archive members over [`intra::INTRA_BODY_BYTES_MAX`] or shards
//! over [`ARCHIVE_BYTES_MAX`] (the shard is assembled in memory): refused by name.

use crate::blob;
use crate::buckets::cname;
use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::placement;
use crate::meta::template::{Template, TEMPLATE_NAMES_MAX};
use crate::meta::Bprops;
use crate::node::Role;
use crate::transfer;
use crate::xact::Job;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::tarball::{ShardFormat, UnknownFormat};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub const KIND_DELETE: &str = "delete-listrange";
pub const KIND_COPY: &str = "copy-listrange";
pub const KIND_ARCHIVE: &str = "archive";
pub const KIND_COPY_BCK: &str = "copy-bck";
pub const KIND_MOVE_BCK: &str = "move-bck";
/// Remote buckets: fetch the selected objects into the cluster (cold GETs).
pub const KIND_PREFETCH: &str = "prefetch-listrange";
/// Remote buckets: drop the selected objects' cached copies (the backend keeps them).
pub const KIND_EVICT: &str = "evict-listrange";

/// Most names in one `objnames` list (the same bound as a template's expansion).
pub const OBJNAMES_MAX: usize = TEMPLATE_NAMES_MAX as usize;
/// Objects in flight per job per target.
pub const MOBJ_WORKERS: u64 = 16;
/// Most objects in flight per job per target a message may ask for (`num-workers`).
pub const MOBJ_WORKERS_MAX: i64 = 256;
/// Names per directory-walk batch (and spawned tasks awaited at a time).
pub const MOBJ_BATCH: usize = 1000;
/// Largest shard an `archive` job assembles (in memory on the shard's owner).
pub const ARCHIVE_BYTES_MAX: usize = 256 << 20;
/// Passes of a `move-bck` (each after the first retries what failed).
pub const MOVE_PASSES_MAX: u32 = 20;
/// How often the primary looks whether every target finished its part of a `move-bck`.
pub const MOVE_POLL_MS: u64 = 100;
/// How long the primary waits for a target to show its part of a `move-bck` (and for the
/// targets to answer at all) before it fails the move.
pub const MOVE_START_WAIT_MS: u64 = 30_000;
/// Bucket prop (in the props' `rest`, AIS's `renamed`) marking a bucket being renamed.
pub const PROP_RENAMED: &str = "renamed";

/// Is `kind` one of this module's jobs?
pub fn is_kind(kind: &str) -> bool {
    matches!(
        kind,
        KIND_DELETE
            | KIND_COPY
            | KIND_ARCHIVE
            | KIND_COPY_BCK
            | KIND_MOVE_BCK
            | KIND_PREFETCH
            | KIND_EVICT
    )
}

/// Is the bucket with these props being renamed (`move-bck` running)?
pub fn renaming(props: &Bprops) -> bool {
    props
        .rest
        .get(PROP_RENAMED)
        .and_then(|v| v.as_str())
        .is_some_and(|s| !s.is_empty())
}

/// What a target runs: the parsed, validated request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Spec {
    pub kind: String,
    pub id: String,
    pub bucket: String,
    #[serde(default)]
    pub to_bucket: String,
    #[serde(default)]
    pub objnames: Vec<String>,
    #[serde(default)]
    pub template: String,
    /// Only names with this prefix (copy).
    #[serde(default)]
    pub prefix: String,
    /// Prepended to destination names (copy).
    #[serde(default)]
    pub prepend: String,
    /// Extension remapping (copy: `{"jpg": "png"}`).
    #[serde(default)]
    pub ext: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub dry_run: bool,
    /// Continue on error (a missing listed object is skipped).
    #[serde(default)]
    pub coer: bool,
    #[serde(default)]
    pub archname: String,
    #[serde(default)]
    pub mime: String,
    /// Archive: member names prefixed with the source bucket name.
    #[serde(default)]
    pub isbn: bool,
    /// Archive: append to the shard if it exists.
    #[serde(default)]
    pub aate: bool,
    /// Archive: member names are the objects' base names.
    #[serde(default)]
    pub bnonly: bool,
    /// Prefetch: fetch again what changed on the backend (AIS `latest-ver`).
    #[serde(default)]
    pub latest: bool,
    /// Objects in flight per target (AIS `num-workers`: 0 the default [`MOBJ_WORKERS`], -1
    /// one at a time).
    #[serde(default)]
    pub workers: i64,
    /// Prefetch: objects of at least this many bytes are fetched by the blob downloader
    /// (`crate::blob`); 0: none.
    #[serde(default)]
    pub blob_threshold: u64,
    /// Prefetch: the blob downloads' chunk size (0: the default).
    #[serde(default)]
    pub blob_chunk_size: u64,
    /// Prefetch: the blob downloads' workers per object (0: the default, -1: one).
    #[serde(default)]
    pub blob_workers: i64,
}

impl Spec {
    fn workers(&self) -> u64 {
        match self.workers {
            0 => MOBJ_WORKERS,
            n => n.max(1) as u64,
        }
    }

    /// The destination name of source object `name` (AIS `TCBMsg.ToName`).
    pub fn to_name(&self, name: &str) -> String {
        let mut n = name.to_string();
        if let Some(i) = n.rfind('.') {
            if let Some(r) = self.ext.get(&n[i + 1..]) {
                n = format!("{}{}", &n[..=i], r.trim_start_matches('.'));
            }
        }
        format!("{}{n}", self.prepend)
    }

    /// An archive member's name (AIS `nameInArch`).
    fn name_in_arch(&self, name: &str) -> String {
        let n = if self.bnonly {
            name.rsplit('/').next().unwrap_or(name)
        } else {
            name
        };
        if self.isbn {
            format!("{}/{n}", self.bucket)
        } else {
            n.to_string()
        }
    }

    fn selection(&self) -> Result<Selection> {
        if !self.objnames.is_empty() {
            return Ok(Selection::Names(self.objnames.clone()));
        }
        Template::parse(&self.template)
            .map(Selection::Template)
            .map_err(|e| Error::BadRequest(format!("{}: {e}", self.kind)))
    }
}

/// Which objects a job acts on.
enum Selection {
    Names(Vec<String>),
    Template(Template),
}

/// A bucket named in a message: `ais/@#/name/` (the SDK's `get_path`), `ais://name`, or a
/// plain name; remote providers and namespaces are refused by name.
pub fn parse_bck(s: &str) -> Result<String> {
    let s = s.trim();
    let (provider, rest) = if let Some((p, r)) = s.split_once("://") {
        (p, r.to_string())
    } else if let Some((p, r)) = s.split_once('/') {
        let (ns, name) = r.split_once('/').unwrap_or(("", r));
        if !(ns.is_empty() || ns == "@#") {
            return Err(Error::NotImplemented(format!(
                "bucket {s:?}: namespace {ns:?} (only the global namespace is supported)"
            )));
        }
        (p, name.trim_end_matches('/').to_string())
    } else {
        ("ais", s.to_string())
    };
    if !(provider.is_empty() || provider == "ais") {
        return Err(Error::NotImplemented(format!(
            "bucket {s:?}: provider {provider:?} (remote backends are not configured on this cluster)"
        )));
    }
    engine::name::validate_bucket(&rest)
        .map_err(|e| Error::BadRequest(format!("bucket {s:?}: {e}")))?;
    Ok(rest)
}

/// The bucket of a message's `tobck` (`{name, provider, namespace}`).
fn parse_tobck(v: &serde_json::Value) -> Result<Option<String>> {
    let Some(b) = v.get("tobck").filter(|b| !b.is_null()) else {
        return Ok(None);
    };
    let name = b["name"].as_str().unwrap_or("");
    if name.is_empty() {
        return Ok(None);
    }
    let provider = b["provider"].as_str().unwrap_or("ais");
    if !(provider.is_empty() || provider == "ais") {
        return Err(Error::NotImplemented(format!(
            "destination bucket \"{provider}://{name}\": remote backends are not configured on this cluster"
        )));
    }
    let ns = &b["namespace"];
    if ns["name"].as_str().is_some_and(|s| !s.is_empty())
        || ns["uuid"].as_str().is_some_and(|s| !s.is_empty())
    {
        return Err(Error::NotImplemented(format!(
            "destination bucket {name:?} in namespace {ns}: only the global namespace is supported"
        )));
    }
    parse_bck(name).map(Some)
}

/// The fields of an AIS message this node acts on, and those it refuses by name when set.
fn parse_msg(
    kind: &str,
    bucket: &str,
    v: &serde_json::Value,
    bck_to: Option<&str>,
) -> Result<Spec> {
    if !(v.is_null() || v.is_object()) {
        return Err(Error::BadRequest(format!(
            "{kind}: invalid message {v} (expecting a JSON object)"
        )));
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let b = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    let blob = if kind == KIND_PREFETCH {
        parse_blob(v)?
    } else {
        BlobSpec::default()
    };
    for k in ["synchronize", "non-recurs"] {
        if b(k) {
            return Err(Error::NotImplemented(format!(
                "{kind}: {k:?} is not supported"
            )));
        }
    }
    for k in ["id", "pipeline"] {
        if v.get(k).is_some_and(|x| !x.is_null() && x != "") {
            return Err(Error::NotImplemented(format!(
                "{kind}: ETL ({k:?}) is not supported"
            )));
        }
    }
    let objnames: Vec<String> = match v.get("objnames") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    Error::BadRequest(format!("{kind}: objnames: {x} is not a string"))
                })
            })
            .collect::<Result<_>>()?,
        Some(x) => {
            return Err(Error::BadRequest(format!(
                "{kind}: objnames: {x} is not a list of names"
            )))
        }
    };
    if objnames.len() > OBJNAMES_MAX {
        return Err(Error::BadRequest(format!(
            "{kind}: {} names in objnames, more than {OBJNAMES_MAX} (the most one request may name)",
            objnames.len()
        )));
    }
    for n in &objnames {
        engine::name::validate_native_object(n)
            .map_err(|e| Error::BadRequest(format!("{kind}: objnames: {e}")))?;
    }
    let ext = match v.get("ext") {
        None | Some(serde_json::Value::Null) => Default::default(),
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, x)| (k.clone(), x.as_str().unwrap_or("").to_string()))
            .collect(),
        Some(x) => {
            return Err(Error::BadRequest(format!(
                "{kind}: ext: {x} is not an object"
            )))
        }
    };
    let to_bucket = match kind {
        KIND_COPY_BCK | KIND_MOVE_BCK => {
            let to = bck_to.filter(|s| !s.is_empty()).ok_or_else(|| {
                Error::BadRequest(format!(
                    "{kind} {}: the destination bucket is not defined (query \"bck_to\")",
                    cname(bucket)
                ))
            })?;
            parse_bck(to)?
        }
        KIND_COPY => parse_tobck(v)?.ok_or_else(|| {
            Error::BadRequest(format!(
                "{kind}: the destination bucket is not defined (\"tobck\")"
            ))
        })?,
        KIND_ARCHIVE => parse_tobck(v)?.unwrap_or_else(|| bucket.to_string()),
        _ => String::new(),
    };
    let spec = Spec {
        kind: kind.to_string(),
        id: String::new(),
        bucket: bucket.to_string(),
        to_bucket,
        objnames,
        template: s("template"),
        prefix: s("prefix").trim_end_matches('*').to_string(),
        prepend: s("prepend"),
        ext,
        dry_run: b("dry_run"),
        coer: b("coer"),
        archname: s("archname"),
        mime: s("mime"),
        isbn: b("isbn"),
        aate: b("aate"),
        bnonly: b("bnonly"),
        latest: b("latest-ver"),
        workers: match v.get("num-workers") {
            None | Some(serde_json::Value::Null) => 0,
            Some(x) => x
                .as_i64()
                .filter(|n| (-1..=MOBJ_WORKERS_MAX).contains(n))
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "{kind}: invalid num-workers {x} (-1: one at a time, 0: the default, or 1 to {MOBJ_WORKERS_MAX})"
                    ))
                })?,
        },
        blob_threshold: blob.threshold,
        blob_chunk_size: blob.chunk_size,
        blob_workers: blob.workers,
    };
    spec.selection()?;
    Ok(spec)
}

/// A prefetch's blob-download fields (AIS `PrefetchMsg`).
#[derive(Debug, Default)]
struct BlobSpec {
    threshold: u64,
    chunk_size: u64,
    workers: i64,
}

/// `blob-threshold` (bytes; 0 or absent: no blob downloads; below
/// [`blob::PREFETCH_THRESHOLD_BYTES_MIN`] raised to it, as AIS), `blob-chunk-size` and
/// `blob-num-workers` (as a `blob-download`'s `chunk-size` and `num-workers`).
fn parse_blob(v: &serde_json::Value) -> Result<BlobSpec> {
    let threshold = match v.get("blob-threshold") {
        None | Some(serde_json::Value::Null) => 0,
        Some(x) => x.as_u64().ok_or_else(|| {
            Error::BadRequest(format!(
                "{KIND_PREFETCH}: invalid blob-threshold {x} (expecting a size in bytes, 0 for none)"
            ))
        })?,
    };
    let m = blob::BlobMsg::from_value(&serde_json::json!({
        "chunk-size": v.get("blob-chunk-size"),
        "num-workers": v.get("blob-num-workers"),
    }))
    .map_err(|e| {
        Error::BadRequest(format!(
            "{KIND_PREFETCH}: {}",
            e.to_string()
                .replace("chunk-size", "blob-chunk-size")
                .replace("num-workers", "blob-num-workers")
        ))
    })?;
    Ok(BlobSpec {
        threshold: if threshold > 0 {
            threshold.max(blob::PREFETCH_THRESHOLD_BYTES_MIN)
        } else {
            0
        },
        chunk_size: m.chunk_bytes,
        workers: m.workers,
    })
}

/// Proxy or all-in-one node: validate and start `action` on `bucket` (`value`: the action
/// message's value; `bck_to`: the query's destination); the job's ID. Any other proxy
/// relays the request to the primary (copies may create, moves always change, the BMD).
pub async fn start(
    node: &Arc<Node>,
    method: &str,
    bucket: &str,
    action: &str,
    value: &serde_json::Value,
    bck_to: Option<&str>,
) -> Result<String> {
    if !node.is_primary() {
        return relay(node, method, bucket, action, value, bck_to).await;
    }
    let bmd = node.bmd.load();
    let src = bmd
        .buckets
        .get(bucket)
        .ok_or_else(|| Error::BucketNotFound(cname(bucket)))?;
    if renaming(src) {
        return Err(Error::Conflict(format!(
            "{action}: {} is being renamed (move-bck)",
            cname(bucket)
        )));
    }
    let mut spec = parse_msg(action, bucket, value, bck_to)?;
    let same = spec.to_bucket == spec.bucket;
    let dst = bmd.buckets.get(&spec.to_bucket);
    if dst.is_some_and(renaming) {
        return Err(Error::Conflict(format!(
            "{action}: {} is being renamed (move-bck)",
            cname(&spec.to_bucket)
        )));
    }
    let remote = crate::remote::is_remote(bucket);
    match action {
        KIND_PREFETCH | KIND_EVICT if !remote => {
            return Err(Error::BadRequest(format!(
                "{action}: {} is not a remote bucket (nothing to {})",
                cname(bucket),
                if action == KIND_EVICT {
                    "evict"
                } else {
                    "prefetch"
                }
            )));
        }
        KIND_COPY | KIND_COPY_BCK | KIND_MOVE_BCK | KIND_ARCHIVE if remote => {
            return Err(Error::NotImplemented(format!(
                "{action} of remote bucket {} is not supported by this node",
                cname(bucket)
            )));
        }
        _ => {}
    }
    // The bucket's `access` prop (AIS without client authentication): deleting needs
    // DELETE-OBJECT on the bucket, writing into a destination needs PUT there.
    let access = |b: &crate::meta::bmd::Bprops, name: &str, ace: u64| {
        crate::meta::access::bucket_allows(&cname(name), b.access, ace).map_err(Error::Forbidden)
    };
    match action {
        KIND_DELETE | KIND_EVICT => access(src, bucket, crate::meta::access::OBJ_DELETE)?,
        KIND_COPY | KIND_COPY_BCK | KIND_ARCHIVE => {
            if let Some(d) = dst {
                access(d, &spec.to_bucket, crate::meta::access::PUT)?;
            }
        }
        _ => {}
    }
    let mut create_dst = false;
    match action {
        KIND_COPY | KIND_COPY_BCK => {
            if same && !spec.dry_run && spec.prepend.is_empty() && spec.ext.is_empty() {
                return Err(Error::BadRequest(format!(
                    "cannot {action} {} onto itself",
                    cname(bucket)
                )));
            }
            create_dst = dst.is_none() && !spec.dry_run;
        }
        KIND_MOVE_BCK => {
            if same {
                return Err(Error::BadRequest(format!(
                    "cannot rename bucket {} to itself",
                    cname(bucket)
                )));
            }
            if dst.is_some() {
                return Err(Error::BucketExists(cname(&spec.to_bucket)));
            }
        }
        KIND_ARCHIVE => {
            if dst.is_none() {
                return Err(Error::BucketNotFound(cname(&spec.to_bucket)));
            }
            if spec.archname.is_empty() {
                return Err(Error::BadRequest(
                    "archive: the shard's name is not defined (\"archname\")".into(),
                ));
            }
            engine::name::validate_native_object(&spec.archname)
                .map_err(|e| Error::BadRequest(format!("archive: archname: {e}")))?;
            ShardFormat::detect(&spec.archname, &spec.mime).map_err(|UnknownFormat(f)| {
                Error::BadRequest(format!(
                    "archive: {f:?} is not an archive format (tar, tgz, tar.gz, zip, tar.lz4)"
                ))
            })?;
        }
        _ => {}
    }
    drop(bmd);
    spec.id = format!(
        "{}-{}",
        match action {
            KIND_DELETE => "del",
            KIND_COPY => "tco",
            KIND_ARCHIVE => "arch",
            KIND_COPY_BCK => "tcb",
            KIND_PREFETCH => "prf",
            KIND_EVICT => "evct",
            _ => "mvb",
        },
        crate::meta::random_id(8)
    );
    if action == KIND_MOVE_BCK {
        begin_move(node, bucket, &spec.to_bucket).await?;
    } else if create_dst {
        let props = node.bmd.load().buckets.get(bucket).cloned();
        create_like(node, &spec.to_bucket, props).await?;
    }
    let smap = node.smap.load();
    let spec_json = serde_json::to_value(&spec).map_err(|e| Error::Internal(e.to_string()))?;
    if node.cfg.role != Role::Proxy {
        return start_local(node, &spec_json);
    }
    let targets: Vec<_> = if action == KIND_ARCHIVE {
        let owner = placement::owner(&smap, &spec.to_bucket, &spec.archname)
            .ok_or_else(|| no_targets(smap.version))?;
        smap.active_targets()
            .filter(|t| t.daemon_id == owner.target_id)
            .cloned()
            .collect()
    } else {
        smap.active_targets().cloned().collect()
    };
    if targets.is_empty() {
        return Err(no_targets(smap.version));
    }
    if action == KIND_MOVE_BCK {
        // The primary's part: the job stays running here until the source is dropped.
        let job = node.jobs.begin_concurrent(
            KIND_MOVE_BCK,
            bucket,
            spec.id.clone(),
            node.self_id(),
            smap.version,
        );
        let ids: Vec<String> = targets.iter().map(|t| t.daemon_id.clone()).collect();
        let (n2, s2) = (node.clone(), spec.clone());
        glommio::spawn_local(async move {
            let ok = await_targets(&n2, &job, &ids).await;
            if let Err(e) = end_move(&n2, &s2.bucket, &s2.to_bucket, ok).await {
                job.abort(&e.to_string());
            }
            job.finish();
            job.log_finished(0);
        })
        .detach();
    }
    let payload = serde_json::to_vec(&serde_json::json!({
        "action": "start",
        "value": {"ID": spec.id, "Kind": action, "mobj": spec_json},
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    for t in &targets {
        crate::jobs::daemon_put(t, action, &payload).await?;
    }
    Ok(spec.id)
}

fn no_targets(v: i64) -> Error {
    Error::Unavailable(format!("no active targets in the cluster map (Smap v{v})"))
}

/// A non-primary proxy: the same request on the primary; its answer (the job ID).
async fn relay(
    node: &Node,
    method: &str,
    bucket: &str,
    action: &str,
    value: &serde_json::Value,
    bck_to: Option<&str>,
) -> Result<String> {
    let body =
        serde_json::to_vec(&serde_json::json!({"action": action, "name": "", "value": value}))
            .map_err(|e| Error::Internal(e.to_string()))?;
    let query = match bck_to {
        Some(b) => format!("&bck_to={}", net::http::percent_encode_path(b)),
        None => String::new(),
    };
    let (body, query) = (&body, &query);
    let r = crate::membership::relay_to_primary(node, |primary| async move {
        let url = format!("{primary}/v1/buckets/{bucket}?provider=ais{query}");
        intra::call(method, &url, &[("Content-Type", "application/json")], body).await
    })
    .await?;
    r.ok().map(|r| String::from_utf8_lossy(&r.body).to_string())
}

/// Primary: create `bucket` with `props` (the source's, as AIS clones them; new BID and
/// creation time), and push the BMD.
pub(crate) async fn create_like(
    node: &Arc<Node>,
    bucket: &str,
    props: Option<Bprops>,
) -> Result<()> {
    let (n2, b) = (node.clone(), bucket.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            n2.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&b) {
                    return Ok(()); // created meanwhile: copy into it
                }
                let now = net::time::now_unix_ns();
                let bid = (1i64 << 62) | (bmd.version + 1);
                let mut p = props.unwrap_or_else(|| Bprops::new_ais(bid, now));
                p.bid = bid;
                p.created = now;
                p.rest.remove(PROP_RENAMED);
                crate::buckets::create_dirs(&n2, &b)?;
                bmd.buckets.insert(b.clone(), p);
                Ok(())
            })
        })
        .await?;
    crate::buckets::sync_bmd(node).await
}

/// Primary: one BMD version with `to` created (the source's props) and `from` marked
/// renamed; pushed to every node before the targets start.
async fn begin_move(node: &Arc<Node>, from: &str, to: &str) -> Result<()> {
    let (n2, f, t) = (node.clone(), from.to_string(), to.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            n2.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&t) {
                    return Err(Error::BucketExists(cname(&t)));
                }
                let src = bmd
                    .buckets
                    .get_mut(&f)
                    .ok_or_else(|| Error::BucketNotFound(cname(&f)))?;
                let mut p = src.clone();
                src.rest.insert(
                    PROP_RENAMED.into(),
                    serde_json::Value::String(KIND_MOVE_BCK.into()),
                );
                let now = net::time::now_unix_ns();
                p.bid = (1i64 << 62) | (bmd.version + 1);
                p.created = now;
                crate::buckets::create_dirs(&n2, &t)?;
                bmd.buckets.insert(t.clone(), p);
                Ok(())
            })
        })
        .await?;
    crate::buckets::sync_bmd(node).await
}

/// Primary: end a move. `ok`: drop the source (its data goes on every node with the BMD);
/// otherwise keep it (with what it still holds) and lift the write refusal.
async fn end_move(node: &Arc<Node>, from: &str, to: &str, ok: bool) -> Result<()> {
    let (n2, f) = (node.clone(), from.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            n2.update_bmd(|bmd| {
                if ok {
                    bmd.buckets.remove(&f);
                } else if let Some(p) = bmd.buckets.get_mut(&f) {
                    p.rest.remove(PROP_RENAMED);
                }
                Ok(())
            })?;
            if ok && n2.cfg.role == Role::All {
                for m in n2.mountpaths.load().with_data() {
                    if let Err(e) = m.destroy_bucket(&Bck::ais(&f)) {
                        tracing::error!(bucket = %cname(&f), mountpath = %m.path_str, error = %e, "removing the renamed bucket's directories failed");
                    }
                }
            }
            Ok::<(), Error>(())
        })
        .await?;
    crate::buckets::sync_bmd(node).await?;
    tracing::info!(from = %cname(from), to = %cname(to), ok, "move-bck ended");
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "move-bck {} => {}: a target failed; the source keeps the objects not moved",
            cname(from),
            cname(to)
        )))
    }
}

/// Primary: wait until the job (`job.id`) finished on every target in `ids`; true if none
/// aborted or counted errors. A target that cannot be asked counts as not finished; one that
/// has not shown the job within [`MOVE_START_WAIT_MS`] (its start failed, or it restarted)
/// fails the move.
async fn await_targets(node: &Arc<Node>, job: &Arc<Job>, ids: &[String]) -> bool {
    let t0 = std::time::Instant::now();
    let mut answered = std::time::Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        glommio::timer::sleep(Duration::from_millis(MOVE_POLL_MS)).await;
        let smap = node.smap.load();
        let all = match crate::jobs::from_targets(&smap, "jobs").await {
            Ok(all) => all,
            Err(e) if answered.elapsed() > Duration::from_millis(MOVE_START_WAIT_MS) => {
                tracing::error!(job = %job.id, error = %e, "move-bck: targets do not answer");
                return false;
            }
            Err(_) => continue,
        };
        answered = std::time::Instant::now();
        let mut done = 0;
        let mut ok = true;
        for id in ids {
            let Some(snap) = all
                .get(id)
                .and_then(|v| v.as_array())
                .and_then(|l| l.iter().find(|s| s["id"] == job.id.as_str()))
            else {
                if !seen.contains(id) && t0.elapsed() > Duration::from_millis(MOVE_START_WAIT_MS) {
                    tracing::error!(job = %job.id, target = %id, "move-bck: the target does not run the job");
                    return false;
                }
                continue;
            };
            seen.insert(id.clone());
            if snap["finished"] == true {
                done += 1;
                ok &= snap["aborted"] == false && snap["errors"] == 0;
            }
        }
        if done == ids.len() {
            return ok;
        }
    }
}

/// Target (or all-in-one node): run the job `spec` describes on the objects this node
/// owns; its ID.
pub fn start_local(node: &Arc<Node>, spec: &serde_json::Value) -> Result<String> {
    let spec: Spec = serde_json::from_value(spec.clone())
        .map_err(|e| Error::BadRequest(format!("multi-object job: invalid spec: {e}")))?;
    let sel = spec.selection()?;
    let job = node.jobs.begin_concurrent(
        &spec.kind,
        &spec.bucket,
        spec.id.clone(),
        node.self_id(),
        node.smap.load().version,
    );
    tracing::info!(job = %job.id, kind = %spec.kind, bucket = %cname(&spec.bucket), to = %spec.to_bucket, "job started");
    let id = job.id.clone();
    let node = node.clone();
    glommio::spawn_local(async move {
        let spec = Rc::new(spec);
        let passes = match spec.kind.as_str() {
            KIND_ARCHIVE => {
                if let Err(e) = archive(&node, &job, &spec, &sel).await {
                    job.errors.fetch_add(1, Ordering::Relaxed);
                    job.abort(&e.to_string());
                }
                1
            }
            KIND_MOVE_BCK => {
                crate::xact::run_passes(&job, MOVE_PASSES_MAX, || drive(&node, &job, &spec, &sel))
                    .await
            }
            _ => {
                drive(&node, &job, &spec, &sel).await;
                1
            }
        };
        if spec.kind == KIND_MOVE_BCK && node.cfg.role == Role::All {
            let ok = !job.is_aborted() && job.errors.load(Ordering::Relaxed) == 0;
            if let Err(e) = end_move(&node, &spec.bucket, &spec.to_bucket, ok).await {
                job.abort(&e.to_string());
            }
        }
        job.finish();
        job.log_finished(passes);
    })
    .detach();
    Ok(id)
}

/// This node's mountpath of `bucket/name` if this node owns the object.
fn local_mp(
    node: &Node,
    smap: &crate::meta::Smap,
    bucket: &str,
    name: &str,
) -> Option<Arc<Mountpath>> {
    if node.cfg.role != Role::All {
        let owner = placement::owner(smap, bucket, name)?;
        if owner.target_id != node.target_id {
            return None;
        }
    }
    node.mountpaths
        .load()
        .choose(placement::object_digest(bucket, name))
        .map(|(m, _)| m)
}

/// Run the per-object step of the job on every selected object this node owns, at most
/// [`Spec::workers`] at a time.
async fn drive(node: &Arc<Node>, job: &Arc<Job>, spec: &Rc<Spec>, sel: &Selection) {
    let sem = Rc::new(glommio::sync::Semaphore::new(spec.workers()));
    let pool = Rc::new(transfer::Pool::default());
    let smap = node.smap.load();
    let bucket = spec.bucket.as_str();
    let mut tasks = Vec::new();
    let listed = matches!(sel, Selection::Names(_));
    let one = |mp: Arc<Mountpath>, name: String, tasks: &mut Vec<glommio::Task<()>>| {
        let (node, job, spec, pool, sem) = (
            node.clone(),
            job.clone(),
            spec.clone(),
            pool.clone(),
            sem.clone(),
        );
        tasks.push(glommio::spawn_local(async move {
            let _permit = sem.acquire_static_permit(1).await.expect("semaphore never closed");
            if job.is_aborted() {
                return;
            }
            match step(&node, &pool, &spec, &mp, &name).await {
                Ok(Some(bytes)) => {
                    job.objects.fetch_add(1, Ordering::Relaxed);
                    job.bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                Ok(None) if listed && !spec.coer => {
                    job.errors.fetch_add(1, Ordering::Relaxed);
                    job.abort(&format!("{}/{name} does not exist", cname(&spec.bucket)));
                }
                Ok(None) => {}
                Err(e) => {
                    job.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = %job.id, bucket = %spec.bucket, object = %name, error = %e, "multi-object step failed");
                    if !spec.coer && spec.kind != KIND_MOVE_BCK {
                        job.abort(&format!("{}/{name}: {e}", cname(&spec.bucket)));
                    }
                }
            }
        }));
    };
    async fn settle(tasks: &mut Vec<glommio::Task<()>>) {
        for t in tasks.drain(..) {
            t.await;
        }
    }
    match sel {
        Selection::Names(names) => {
            for n in names {
                if job.is_aborted() {
                    break;
                }
                if !n.starts_with(&spec.prefix) {
                    continue;
                }
                if let Some(mp) = local_mp(node, &smap, bucket, n) {
                    one(mp, n.clone(), &mut tasks);
                }
                if tasks.len() >= MOBJ_BATCH {
                    settle(&mut tasks).await;
                }
            }
        }
        Selection::Template(t @ Template::Ranges { .. }) => {
            for n in t.names() {
                if job.is_aborted() {
                    break;
                }
                if !n.starts_with(&spec.prefix) {
                    continue;
                }
                if let Some(mp) = local_mp(node, &smap, bucket, &n) {
                    one(mp, n, &mut tasks);
                }
                if tasks.len() >= MOBJ_BATCH {
                    settle(&mut tasks).await;
                }
            }
        }
        Selection::Template(Template::Prefix(p)) => {
            // Walk this node's copies (the prefix of the template and of the message).
            let prefix = if p.starts_with(&spec.prefix) {
                p.clone()
            } else {
                spec.prefix.clone()
            };
            if !(p.starts_with(&spec.prefix) || spec.prefix.starts_with(p.as_str())) {
                return; // disjoint prefixes select nothing
            }
            if crate::remote::is_remote(bucket) && spec.kind != KIND_EVICT {
                // What the backend has, page by page; each node takes the names it owns.
                let mut after = String::new();
                while !job.is_aborted() {
                    let page = match crate::remote::list(node, bucket, &prefix, &after, MOBJ_BATCH)
                        .await
                    {
                        Ok(p) => p,
                        Err(e) => {
                            job.errors.fetch_add(1, Ordering::Relaxed);
                            job.abort(&format!("listing {}: {e}", cname(bucket)));
                            break;
                        }
                    };
                    let Some(last) = page.last() else { break };
                    after.clone_from(&last.name);
                    for e in page {
                        if let Some(mp) = local_mp(node, &smap, bucket, &e.name) {
                            one(mp, e.name, &mut tasks);
                        }
                    }
                    settle(&mut tasks).await;
                }
                return;
            }
            for mp in node.mountpaths.load().with_data() {
                let mut after = String::new();
                loop {
                    if job.is_aborted() {
                        break;
                    }
                    let (m2, b, pf, a) = (
                        mp.clone(),
                        bucket.to_string(),
                        prefix.clone(),
                        after.clone(),
                    );
                    let since = job.start_time_ns;
                    let batch = glommio::executor()
                        .spawn_blocking(move || {
                            let bck = Bck::ais(&b);
                            engine::list::list_since(&m2, &bck, &pf, &a, MOBJ_BATCH, false, since)
                        })
                        .await;
                    let batch = match batch {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::error!(job = %job.id, bucket, error = %e, "walk failed");
                            job.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    };
                    let Some(last) = batch.last() else { break };
                    after.clone_from(&last.name);
                    for e in batch {
                        one(mp.clone(), e.name, &mut tasks);
                    }
                    settle(&mut tasks).await;
                }
            }
        }
    }
    settle(&mut tasks).await;
}

/// One object of a delete, copy or move: `Some(bytes)` done, `None` the object does not
/// exist (here).
async fn step(
    node: &Arc<Node>,
    pool: &transfer::Pool,
    spec: &Spec,
    mp: &Arc<Mountpath>,
    name: &str,
) -> Result<Option<u64>> {
    let bucket = spec.bucket.as_str();
    match spec.kind.as_str() {
        KIND_DELETE if crate::remote::is_remote(bucket) => {
            // On the backend (a name it does not have is skipped), then here.
            match crate::remote::head(node, bucket, name).await {
                Err(e) if crate::remote::is_not_found(&e) => {
                    return Ok(remove_local(node, mp, bucket, name).await?.then_some(0));
                }
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            crate::remote::delete(node, bucket, name).await?;
            remove_local(node, mp, bucket, name).await?;
            Ok(Some(0))
        }
        KIND_EVICT => {
            let size =
                engine::object::read_lom_path(&engine::object::locate(mp, &Bck::ais(bucket), name))
                    .map(|l| l.size)
                    .ok();
            Ok(match size {
                Some(sz) => remove_local(node, mp, bucket, name).await?.then_some(sz),
                None => None,
            })
        }
        KIND_PREFETCH => {
            let fqn = engine::object::locate(mp, &Bck::ais(bucket), name);
            if let Ok(lom) = engine::object::read_lom_path(&fqn) {
                if !spec.latest || !crate::remote::is_stale(node, bucket, name, &lom).await? {
                    return Ok(Some(0)); // cached already
                }
            }
            let ck = node
                .bmd
                .load()
                .buckets
                .get(bucket)
                .map(|p| p.checksum.ty.clone())
                .unwrap_or_default();
            if spec.blob_threshold > 0 {
                // The backend's size decides: large objects as parallel ranged GETs.
                let attrs = match crate::remote::head(node, bucket, name).await {
                    Ok(a) => a,
                    Err(e) if crate::remote::is_not_found(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                if attrs.size >= spec.blob_threshold {
                    let msg = blob::BlobMsg {
                        chunk_bytes: spec.blob_chunk_size,
                        workers: spec.blob_workers,
                        ..Default::default()
                    };
                    let parent = format!("{KIND_PREFETCH}[{}]", spec.id);
                    return blob::download(node, mp, bucket, name, &ck, &attrs, &msg, &parent)
                        .await
                        .map(Some);
                }
            }
            match crate::remote::cold_get(node, mp, bucket, name, &ck).await {
                Ok(()) => Ok(Some(
                    engine::object::read_lom_path(&fqn).map_or(0, |l| l.size),
                )),
                Err(e) if crate::remote::is_not_found(&e) => Ok(None),
                Err(e) => Err(e),
            }
        }
        KIND_DELETE => {
            if !engine::object::exists(mp, &Bck::ais(bucket), name) {
                return Ok(None);
            }
            if node
                .bmd
                .load()
                .buckets
                .get(bucket)
                .is_some_and(|p| p.ec.enabled)
            {
                crate::ec::delete(node, bucket, name).await;
            }
            remove_local(node, mp, bucket, name)
                .await
                .map(|gone| gone.then_some(0))
        }
        KIND_COPY | KIND_COPY_BCK | KIND_MOVE_BCK => {
            if spec.dry_run {
                return Ok(engine::object::exists(mp, &Bck::ais(bucket), name).then_some(0));
            }
            let to_name = spec.to_name(name);
            let smap = node.smap.load();
            let owner = placement::owner(&smap, &spec.to_bucket, &to_name)
                .ok_or_else(|| no_targets(smap.version))?;
            let dest = transfer::Dest {
                base_url: &owner.url,
                bucket: &spec.to_bucket,
                object: &to_name,
            };
            let mode = if spec.kind == KIND_MOVE_BCK {
                transfer::Mode::Move
            } else {
                transfer::Mode::Copy
            };
            let Some(size) = transfer::send(node, pool, mp, bucket, name, &dest, mode).await?
            else {
                return Ok(None);
            };
            if mode == transfer::Mode::Move {
                // The destination has it durably: drop ours, and its slices on the other
                // targets (else a move that fails later leaves them behind in the source).
                if node
                    .bmd
                    .load()
                    .buckets
                    .get(bucket)
                    .is_some_and(|p| p.ec.enabled)
                {
                    crate::ec::delete(node, bucket, name).await;
                }
                remove_local(node, mp, bucket, name).await?;
            }
            Ok(Some(size))
        }
        k => Err(Error::Internal(format!("{k}: not a per-object job"))),
    }
}

/// Remove `bucket/name` (and its mirror copies) from this node; false if it was not there.
async fn remove_local(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    bucket: &str,
    name: &str,
) -> Result<bool> {
    let (n2, m2, b, o) = (
        node.clone(),
        mp.clone(),
        bucket.to_string(),
        name.to_string(),
    );
    let r = glommio::executor()
        .spawn_blocking(move || {
            crate::mirror::remove_copies(&n2.mountpaths.load(), &b, &o)
                .and_then(|()| engine::object::delete(&m2, &Bck::ais(&b), &o))
        })
        .await;
    match r {
        Ok(()) => Ok(true),
        Err(engine::Error::NotFound(_)) => Ok(false),
        Err(e) => Err(Error::Internal(format!(
            "deleting {}/{name}: {e}",
            cname(bucket)
        ))),
    }
}

/// Every name of `bucket` with `prefix` in the cluster (the members of an archive selected
/// by prefix), through the listing pages of every target.
async fn list_all(node: &Arc<Node>, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let q = crate::listing::ListQuery {
            prefix: prefix.to_string(),
            after: after.clone(),
            page_size: net::api::LSO_PAGE_SIZE_MAX,
            props: "name".into(),
            flags: net::api::LSO_FLAG_NAME_ONLY,
        };
        let smap = node.smap.load();
        let page = if node.cfg.role == Role::All {
            crate::listing::entries(node, &smap, bucket, &q).await?
        } else {
            crate::listing::gather(&smap, bucket, &q).await?
        };
        let full = page.len() >= q.page_size;
        let Some(last) = page.last() else { break };
        after.clone_from(&last.name);
        out.extend(page.into_iter().map(|e| e.name));
        if out.len() > OBJNAMES_MAX {
            return Err(Error::BadRequest(format!(
                "archive: more than {OBJNAMES_MAX} objects with prefix {prefix:?}"
            )));
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// The shard's owner: GET every member from its owner, append it, and PUT the shard.
async fn archive(node: &Arc<Node>, job: &Arc<Job>, spec: &Spec, sel: &Selection) -> Result<()> {
    let fmt = ShardFormat::detect(&spec.archname, &spec.mime)
        .map_err(|e| Error::BadRequest(format!("archive: {e:?}")))?;
    let names: Vec<String> = match sel {
        Selection::Names(v) => v.clone(),
        Selection::Template(t @ Template::Ranges { .. }) => t.names().collect(),
        Selection::Template(Template::Prefix(p)) => list_all(node, &spec.bucket, p).await?,
    };
    let listed = matches!(sel, Selection::Names(_));
    let smap = node.smap.load();
    let shard_owner = placement::owner(&smap, &spec.to_bucket, &spec.archname)
        .ok_or_else(|| no_targets(smap.version))?;
    let shard_url = format!(
        "{}/v1/objects/{}/{}?provider=ais",
        shard_owner.url,
        spec.to_bucket,
        net::http::percent_encode_path(&spec.archname)
    );
    let mut shard = engine::tarball::Shard::new(fmt);
    if spec.aate {
        let r = intra::call("GET", &shard_url, &[], b"").await?;
        match r.status {
            200 => {
                shard = glommio::executor()
                    .spawn_blocking(move || engine::tarball::Shard::reopen(fmt, &r.body))
                    .await
                    .map_err(|e| {
                        Error::BadRequest(format!(
                            "archive: cannot append to {}/{}: {e}",
                            cname(&spec.to_bucket),
                            spec.archname
                        ))
                    })?;
            }
            404 => {}
            _ => {
                return Err(r
                    .ok()
                    .err()
                    .unwrap_or_else(|| Error::Internal("GET shard".into())))
            }
        }
    }
    let mtime = u64::try_from(net::time::now_unix_ns() / 1_000_000_000).unwrap_or(0);
    for name in &names {
        if job.is_aborted() {
            return Ok(());
        }
        let owner =
            placement::owner(&smap, &spec.bucket, name).ok_or_else(|| no_targets(smap.version))?;
        let url = format!(
            "{}/v1/objects/{}/{}?provider=ais",
            owner.url,
            spec.bucket,
            net::http::percent_encode_path(name)
        );
        let r = intra::call("GET", &url, &[], b"").await?;
        match r.status {
            200 => {}
            404 if !listed || spec.coer => continue,
            404 => {
                return Err(Error::BadRequest(format!(
                    "archive: {}/{name} does not exist",
                    cname(&spec.bucket)
                )))
            }
            _ if spec.coer => {
                job.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            _ => {
                return Err(Error::Peer {
                    status: r.status,
                    message: format!(
                        "archive: GET {}/{name}: {}",
                        cname(&spec.bucket),
                        r.message()
                    ),
                })
            }
        }
        if shard.len() + r.body.len() + 1024 > ARCHIVE_BYTES_MAX {
            return Err(Error::BadRequest(format!(
                "archive: the shard would be over {ARCHIVE_BYTES_MAX} bytes (the largest this node assembles)"
            )));
        }
        shard
            .add(&spec.name_in_arch(name), &r.body, mtime)
            .map_err(|e| Error::BadRequest(format!("archive: {name}: {e}")))?;
        job.objects.fetch_add(1, Ordering::Relaxed);
        job.bytes.fetch_add(r.body.len() as u64, Ordering::Relaxed);
    }
    let shard = glommio::executor()
        .spawn_blocking(move || shard.seal())
        .await
        .map_err(|e| Error::Internal(format!("archive: sealing the shard: {e}")))?;
    // Stage it in the destination bucket's work directory and PUT it like a promoted file:
    // the owner writes it as a new version with its checksum.
    let (mp, _) = node
        .mountpaths
        .load()
        .choose(placement::object_digest(&spec.to_bucket, &spec.archname))
        .ok_or_else(|| Error::Unavailable("no available mountpath".into()))?;
    let dir = Bck::ais(&spec.to_bucket).work_dir(&mp.path);
    let path = dir.join(format!("archive.{}", spec.id));
    let size = shard.len() as u64;
    let p2 = path.clone();
    glommio::executor()
        .spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&p2, &shard)
        })
        .await
        .map_err(|e| Error::Internal(format!("archive: staging {}: {e}", path.display())))?;
    let pool = transfer::Pool::default();
    let dest = transfer::Dest {
        base_url: &shard_owner.url,
        bucket: &spec.to_bucket,
        object: &spec.archname,
    };
    let sent = transfer::send_file(node, &pool, &path, size, &dest).await;
    let p3 = path.clone();
    let _ = glommio::executor()
        .spawn_blocking(move || std::fs::remove_file(p3))
        .await;
    sent.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_names_follow_ext_then_prepend() {
        let mut s = Spec {
            prepend: "bk/".into(),
            ..Default::default()
        };
        assert_eq!(s.to_name("a/b.jpg"), "bk/a/b.jpg");
        s.ext.insert("jpg".into(), ".png".into());
        assert_eq!(s.to_name("a/b.jpg"), "bk/a/b.png");
        assert_eq!(s.to_name("a/b.txt"), "bk/a/b.txt");
    }

    #[test]
    fn member_names_follow_bnonly_and_isbn() {
        let mut s = Spec {
            bucket: "src".into(),
            ..Default::default()
        };
        assert_eq!(s.name_in_arch("d/e/f.bin"), "d/e/f.bin");
        s.bnonly = true;
        assert_eq!(s.name_in_arch("d/e/f.bin"), "f.bin");
        s.isbn = true;
        assert_eq!(s.name_in_arch("d/e/f.bin"), "src/f.bin");
    }

    #[test]
    fn buckets_in_messages() {
        assert_eq!(parse_bck("ais/@#/dst/").unwrap(), "dst");
        assert_eq!(parse_bck("ais://dst").unwrap(), "dst");
        assert_eq!(parse_bck("dst").unwrap(), "dst");
        assert!(matches!(parse_bck("s3://x"), Err(Error::NotImplemented(_))));
        assert!(matches!(
            parse_bck("ais/@ns#x/dst/"),
            Err(Error::NotImplemented(_))
        ));
        assert!(matches!(parse_bck("ais/@#/../"), Err(Error::BadRequest(_))));
    }

    #[test]
    fn messages_are_parsed_as_the_sdk_sends_them() {
        // ObjectGroup.copy
        let v = serde_json::json!({"objnames": ["a", "b"], "prepend": "p/", "prefix": "", "dry_run": false,
            "force": false, "latest-ver": false, "synchronize": false,
            "tobck": {"name": "dst", "provider": "ais", "namespace": null}, "coer": false});
        let s = parse_msg(KIND_COPY, "src", &v, None).unwrap();
        assert_eq!(
            (s.to_bucket.as_str(), s.prepend.as_str(), s.objnames.len()),
            ("dst", "p/", 2)
        );
        // Bucket.copy: the destination in the query
        let v = serde_json::json!({"prefix": "x/", "prepend": "", "dry_run": true, "force": false,
            "latest-ver": false, "synchronize": false});
        let s = parse_msg(KIND_COPY_BCK, "src", &v, Some("ais/@#/dst/")).unwrap();
        assert_eq!(
            (s.to_bucket.as_str(), s.prefix.as_str(), s.dry_run),
            ("dst", "x/", true)
        );
        assert!(matches!(
            parse_msg(KIND_COPY_BCK, "src", &v, None),
            Err(Error::BadRequest(_))
        ));
        // ObjectGroup.archive
        let v = serde_json::json!({"template": "o-{0..9}", "archname": "a.tar", "isbn": true, "aate": false, "coer": false});
        let s = parse_msg(KIND_ARCHIVE, "src", &v, None).unwrap();
        assert_eq!((s.to_bucket.as_str(), s.isbn), ("src", true));
        // Refused by name.
        let v = serde_json::json!({"template": "o-{0..9}", "synchronize": true, "tobck": {"name": "d"}});
        assert!(
            matches!(parse_msg(KIND_COPY, "src", &v, None), Err(Error::NotImplemented(m)) if m.contains("synchronize"))
        );
        // A bad template: 400 naming it.
        let v = serde_json::json!({"template": "o-{9..0}"});
        assert!(
            matches!(parse_msg(KIND_DELETE, "src", &v, None), Err(Error::BadRequest(m)) if m.contains("o-{9..0}"))
        );
        let v = serde_json::json!({"objnames": "a"});
        assert!(matches!(
            parse_msg(KIND_DELETE, "src", &v, None),
            Err(Error::BadRequest(_))
        ));
    }
}
