//! dSort: distributed shuffle and resharding of tar shard datasets (AIS's `dsort` extension,
//! docs/dsort.md; the SDK's `Dsort` and `DsortFramework`).
//!
//! A *record* is the set of files in a shard that share a name up to the first dot of the
//! base name (`000123.jpg` and `000123.cls` are record `000123`), as WebDataset packs samples.
//!
//! 1. **Extraction** (each target): the input shards this target owns (HRW) are read and their
//!    records listed: member names, offsets and sizes, and for the `content` algorithm the
//!    key read from the record's member with the key extension. Only metadata leaves the
//!    target.
//! 2. **Sorting** (the proxy that started the job): all records sorted (`alphanumeric` by
//!    record name, `shuffle` by a seeded permutation, `content` by the key as int, float or
//!    string; `decreasing` reverses), then cut into output shards of at least
//!    `output_shard_size` bytes of record content, named in order from `output_format`'s
//!    template. Each output shard goes to its HRW owner in the output bucket.
//! 3. **Creation** (each target): for each of its output shards, the members are read from
//!    their input shards' owners by byte range and written in the output format, stored with
//!    a PUT to the owning core (so bucket props, checksums, mirroring and EC apply as to any
//!    PUT).
//!
//! Memory: a target holds one input shard while extracting and one output shard while
//! creating (both bounded by [`SHARD_BYTES_MAX`]); the proxy holds record metadata only.
//! Input and output shards may be tar, tgz, zip or tar.lz4 (read by engine::archive,
//! written by engine::tarball::Shard: zip entries stored, compression off the executor).

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::placement;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest input or output shard a target reads or builds in memory.
pub const SHARD_BYTES_MAX: u64 = 256 << 20;
/// Most names a template may expand to.
pub const TEMPLATE_NAMES_MAX: usize = crate::meta::template::TEMPLATE_NAMES_MAX as usize;
/// Deadline of one phase call to a target (AIS `distributed_sort.call_timeout` is 10m).
pub const PHASE_CALL_TIMEOUT_MS: u64 = 600_000;
/// Deadline of one record or shard transfer between targets.
const TRANSFER_TIMEOUT_MS: u64 = 60_000;

/// How records are ordered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Algo {
    Alphanumeric,
    Shuffle {
        seed: u64,
    },
    Content {
        extension: String,
        key_type: KeyType,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    Int,
    Float,
    String,
}

/// A validated dSort request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spec {
    pub input_bck: String,
    pub input_names: Vec<String>,
    pub input_extension: String,
    pub output_bck: String,
    pub output_template: String,
    pub output_extension: String,
    pub output_shard_size: u64,
    pub algo: Algo,
    pub decreasing: bool,
    pub description: String,
    pub dry_run: bool,
}

/// A member of a record: where its bytes are in its input shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// Where its bytes are in the input shard object when stored as they are (tar, stored
    /// zip member): they are read by byte range; otherwise through `archpath`.
    pub offset: Option<u64>,
    pub size: u64,
}

/// The content key of a record (`content` algorithm).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Key {
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub shard: String,
    pub members: Vec<Member>,
    pub key: Option<Key>,
}

impl Record {
    fn size(&self) -> u64 {
        self.members.iter().map(|m| m.size).sum()
    }
}

/// An output shard and the records it holds, in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutShard {
    pub name: String,
    pub records: Vec<Record>,
}

// ---- spec, templates, sizes (sans-IO) -----------------------------------------------------

fn bck_name(v: &serde_json::Value, field: &str) -> std::result::Result<String, String> {
    let b = v
        .get(field)
        .ok_or_else(|| format!("dsort spec: missing {field:?}"))?;
    let name = b
        .get("name")
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("dsort spec: {field}.name is missing"))?;
    match b.get("provider").and_then(|p| p.as_str()).unwrap_or("ais") {
        "" | "ais" => {}
        p => {
            return Err(format!(
                "dsort spec: {field}: provider {p:?} is not supported (only ais)"
            ))
        }
    }
    Ok(name.to_string())
}

/// AIS's `dsort-create-output-bck`: a missing output bucket is created with the input
/// bucket's props (on the primary; from another proxy, with the defaults, through the primary).
pub async fn create_output_bucket(node: &Arc<Node>, spec: &Spec) -> Result<()> {
    if node.bmd.load().buckets.contains_key(&spec.output_bck) {
        return Ok(());
    }
    if node.is_primary() {
        let props = node.bmd.load().buckets.get(&spec.input_bck).cloned();
        crate::multiobj::create_like(node, &spec.output_bck, props).await
    } else {
        match crate::buckets::create(node, &spec.output_bck, &serde_json::Value::Null).await {
            Err(Error::BucketExists(_)) => Ok(()),
            r => r,
        }
    }
}

/// The names a range template expands to, as AIS reads them: a name without an archive
/// extension gets `ext` appended; one with another archive extension is not an input.
fn with_extension(names: Vec<String>, ext: &str) -> Vec<String> {
    let want = engine::archive::Format::by_name(ext);
    names
        .into_iter()
        .filter_map(|n| match engine::archive::Format::by_name(&n) {
            None => Some(format!("{n}{ext}")),
            Some(f) => (Some(f) == want).then_some(n),
        })
        .collect()
}

/// An output shard's object name: the template's name, with the output extension unless it
/// already has an archive extension (as AIS names them).
pub fn output_object(name: &str, ext: &str) -> String {
    if engine::archive::Format::by_name(name).is_some() {
        name.to_string()
    } else {
        format!("{name}{ext}")
    }
}

/// `field`'s archive extension (with its dot), or `default` when absent or empty.
fn ext_of(
    v: &serde_json::Value,
    field: &str,
    default: &str,
) -> std::result::Result<String, String> {
    let e = v.get(field).and_then(|e| e.as_str()).unwrap_or(default);
    let e = if e.is_empty() { default } else { e };
    let e = if e.starts_with('.') {
        e.to_string()
    } else {
        format!(".{e}")
    };
    // Every format read is also written (engine::tarball::Shard), input and output alike.
    if engine::archive::Format::by_name(&e)
        .is_some_and(|f| f.ext().len() == e.len() || e == ".tar.gz")
    {
        Ok(e)
    } else {
        Err(format!(
            "dsort spec: {field} {e:?}: expecting .tar, .tgz, .tar.gz, .zip or .tar.lz4"
        ))
    }
}

/// AIS's size strings: a number of bytes, or with a unit (`KB`, `MiB`, `10GB`, ...).
pub fn parse_size(v: &serde_json::Value) -> std::result::Result<u64, String> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let s = v
        .as_str()
        .ok_or("dsort spec: output_shard_size must be a size")?
        .trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("dsort spec: invalid output_shard_size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        u => return Err(format!("dsort spec: invalid size unit {u:?} in {s:?}")),
    };
    Ok((num * mult as f64) as u64)
}

/// The names of an input or output template (AIS's forms, `meta::template`), at most
/// `limit`; a template without a range is one name.
pub fn expand_template(t: &str, limit: usize) -> std::result::Result<Vec<String>, String> {
    use crate::meta::template::Template;
    let tpl = Template::parse(t).map_err(|e| e.to_string())?;
    match tpl.count() {
        None => Ok(vec![t.to_string()]),
        Some(n) if n > limit as u64 => {
            Err(format!("template {t:?} expands to more than {limit} names"))
        }
        Some(_) => Ok(tpl.names().collect()),
    }
}

/// Validate AIS's dSort spec JSON (what the SDK's `DsortFramework.to_spec` sends).
pub fn parse_spec(v: &serde_json::Value) -> std::result::Result<Spec, String> {
    let input_bck = bck_name(v, "input_bck")?;
    let output_bck = match v.get("output_bck") {
        Some(b)
            if b.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| !n.is_empty()) =>
        {
            bck_name(v, "output_bck")?
        }
        _ => input_bck.clone(),
    };
    let input_extension = ext_of(v, "input_extension", ".tar")?;
    let input_names = match v.get("input_format") {
        Some(serde_json::Value::String(t)) => {
            with_extension(expand_template(t, TEMPLATE_NAMES_MAX)?, &input_extension)
        }
        Some(f) if f.get("template").is_some() => with_extension(
            expand_template(
                f["template"]
                    .as_str()
                    .ok_or("dsort spec: input_format.template must be a string")?,
                TEMPLATE_NAMES_MAX,
            )?,
            &input_extension,
        ),
        Some(f) if f.get("objnames").is_some() => f["objnames"]
            .as_array()
            .ok_or("dsort spec: input_format.objnames must be a list")?
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_string)
                    .ok_or("dsort spec: object names are strings")
            })
            .collect::<std::result::Result<_, _>>()?,
        _ => return Err("dsort spec: missing input_format (template or objnames)".into()),
    };
    if input_names.is_empty() {
        return Err(format!(
            "dsort spec: input_format names no {input_extension} shards"
        ));
    }
    let output_template = match v.get("output_format") {
        Some(serde_json::Value::String(t)) if !t.is_empty() => t.clone(),
        Some(f) if f.get("template").and_then(|t| t.as_str()).is_some() => {
            f["template"].as_str().unwrap_or_default().to_string()
        }
        _ => {
            return Err(
                "dsort spec: missing output_format (a template; external key maps are not supported by this node)"
                    .into(),
            )
        }
    };
    // Validate now: a bad output template fails the request, not the job.
    expand_template(&output_template, TEMPLATE_NAMES_MAX)?;
    let output_shard_size = match v.get("output_shard_size") {
        Some(s) => parse_size(s)?,
        None => 0,
    };
    for f in ["ekm_file", "order_file"] {
        if v.get(f)
            .and_then(|x| x.as_str())
            .is_some_and(|x| !x.is_empty())
        {
            return Err(format!(
                "dsort spec: {f} (external key maps) is not supported by this node"
            ));
        }
    }
    let a = v.get("algorithm").cloned().unwrap_or_default();
    let decreasing = a
        .get("decreasing")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let algo = match a
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("alphanumeric")
    {
        "" | "alphanumeric" => Algo::Alphanumeric,
        "shuffle" => {
            let seed = a.get("seed").and_then(|s| s.as_str()).unwrap_or("");
            let seed = if seed.is_empty() {
                net::time::now_unix_ns() as u64
            } else {
                xxhash_rust::xxh64::xxh64(seed.as_bytes(), 0)
            };
            Algo::Shuffle { seed }
        }
        "content" => {
            let extension = a
                .get("extension")
                .and_then(|e| e.as_str())
                .filter(|e| !e.is_empty())
                .ok_or("dsort spec: algorithm \"content\" needs an extension")?
                .to_string();
            let key_type = match a.get("content_key_type").and_then(|k| k.as_str()) {
                Some("int") => KeyType::Int,
                Some("float") => KeyType::Float,
                Some("string") => KeyType::String,
                k => {
                    return Err(format!(
                        "dsort spec: content_key_type {k:?}: expecting int, float or string"
                    ))
                }
            };
            Algo::Content {
                extension,
                key_type,
            }
        }
        k => {
            return Err(format!(
                "dsort spec: algorithm kind {k:?}: expecting alphanumeric, shuffle or content"
            ))
        }
    };
    Ok(Spec {
        input_bck,
        input_names,
        output_extension: ext_of(v, "output_extension", &input_extension)?,
        input_extension,
        output_bck,
        output_template,
        output_shard_size,
        algo,
        decreasing,
        description: v
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_string(),
        dry_run: v
            .get("dry_run")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    })
}

// ---- records, sorting and planning (sans-IO) ---------------------------------------------

/// The record a member belongs to and its extension: `dir/000123.jpg` -> (`dir/000123`, `.jpg`).
pub fn record_of(member: &str) -> (&str, &str) {
    let base = member.rfind('/').map_or(0, |i| i + 1);
    match member[base..].find('.') {
        Some(d) => member.split_at(base + d),
        None => (member, ""),
    }
}

fn parse_key(text: &str, ty: KeyType) -> std::result::Result<Key, String> {
    let t = text.trim();
    match ty {
        KeyType::Int => t
            .parse()
            .map(Key::Int)
            .map_err(|_| format!("content key {t:?} is not an int")),
        KeyType::Float => t
            .parse()
            .map(Key::Float)
            .map_err(|_| format!("content key {t:?} is not a float")),
        KeyType::String => Ok(Key::Str(t.to_string())),
    }
}

/// The records of shard `shard` (its bytes `data`, in `format`), in the order they first
/// appear.
pub fn records_of_shard(
    data: &[u8],
    shard: &str,
    format: engine::archive::Format,
    algo: &Algo,
) -> std::result::Result<Vec<Record>, String> {
    let idx = engine::archive::index(data, format).map_err(|e| format!("{shard}: {e}"))?;
    let mut order: Vec<Record> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for m in &idx.members {
        let (rec, ext) = record_of(&m.name);
        let i = *at.entry(rec.to_string()).or_insert_with(|| {
            order.push(Record {
                name: rec.to_string(),
                shard: shard.to_string(),
                members: Vec::new(),
                key: None,
            });
            order.len() - 1
        });
        if let Algo::Content {
            extension,
            key_type,
        } = algo
        {
            if ext == extension {
                let bytes = engine::archive::read_member(data, &idx, m)
                    .map_err(|e| format!("{shard}/{}: {e}", m.name))?;
                let key = parse_key(&String::from_utf8_lossy(&bytes), *key_type)
                    .map_err(|e| format!("{shard}/{}: {e}", m.name))?;
                order[i].key = Some(key);
            }
        }
        order[i].members.push(Member {
            name: m.name.clone(),
            offset: idx.contiguous(m).map(|(o, _)| o),
            size: m.size,
        });
    }
    if let Algo::Content { extension, .. } = algo {
        if let Some(r) = order.iter().find(|r| r.key.is_none()) {
            return Err(format!(
                "{shard}: record {:?} has no {extension} member (the content key)",
                r.name
            ));
        }
    }
    Ok(order)
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Order `recs` as the spec asks. Ties (and the input order for `shuffle`) are broken by
/// record and shard name so that every run of a spec gives the same result.
pub fn sort_records(recs: &mut [Record], algo: &Algo, decreasing: bool) {
    recs.sort_by(|a, b| (&a.name, &a.shard).cmp(&(&b.name, &b.shard)));
    match algo {
        Algo::Alphanumeric => {}
        Algo::Shuffle { seed } => {
            let mut s = *seed;
            for i in (1..recs.len()).rev() {
                let j = (splitmix(&mut s) % (i as u64 + 1)) as usize;
                recs.swap(i, j);
            }
        }
        Algo::Content { .. } => recs.sort_by(|a, b| match (&a.key, &b.key) {
            (Some(Key::Int(x)), Some(Key::Int(y))) => x.cmp(y),
            (Some(Key::Float(x)), Some(Key::Float(y))) => x.total_cmp(y),
            (Some(Key::Str(x)), Some(Key::Str(y))) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        }),
    }
    if decreasing {
        recs.reverse();
    }
}

/// Cut sorted records into output shards of at least `shard_size` content bytes (0: one
/// shard), named in order from `names`.
pub fn plan(
    recs: Vec<Record>,
    names: &[String],
    shard_size: u64,
) -> std::result::Result<Vec<OutShard>, String> {
    let mut out: Vec<OutShard> = Vec::new();
    let mut cur: Vec<Record> = Vec::new();
    let mut bytes = 0u64;
    let flush =
        |cur: &mut Vec<Record>, out: &mut Vec<OutShard>| -> std::result::Result<(), String> {
            if cur.is_empty() {
                return Ok(());
            }
            let name = names.get(out.len()).ok_or_else(|| {
                format!(
                    "output_format names {} shards, more are needed for the records",
                    names.len()
                )
            })?;
            out.push(OutShard {
                name: name.clone(),
                records: std::mem::take(cur),
            });
            Ok(())
        };
    for r in recs {
        bytes += r.size();
        cur.push(r);
        if shard_size > 0 && bytes >= shard_size {
            flush(&mut cur, &mut out)?;
            bytes = 0;
        }
    }
    flush(&mut cur, &mut out)?;
    Ok(out)
}

// ---- job state (on the proxy that runs the job) -----------------------------------------

/// One target's part of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TargetStats {
    pub shards: u64,
    pub shard_bytes: u64,
    pub records: u64,
    pub to_create: u64,
    pub created: u64,
    pub created_bytes: u64,
}

#[derive(Debug, Default)]
struct JobState {
    id: String,
    spec: Option<Spec>,
    started_ns: i64,
    extraction_end_ns: i64,
    sorting_end_ns: i64,
    creation_end_ns: i64,
    per_target: HashMap<String, TargetStats>,
    phase: u8,
    aborted: bool,
    finished: bool,
    errors: Vec<String>,
    warnings: Vec<String>,
}

static JOBS: Mutex<Vec<Arc<Mutex<JobState>>>> = Mutex::new(Vec::new());

fn job(id: &str) -> Option<Arc<Mutex<JobState>>> {
    JOBS.lock()
        .expect("dsort jobs lock")
        .iter()
        .find(|j| j.lock().expect("dsort job lock").id == id)
        .cloned()
}

fn iso(ns: i64) -> String {
    if ns == 0 {
        String::new()
    } else {
        net::time::format_rfc3339_nano(ns)
    }
}

fn phase_json(
    start: i64,
    end: i64,
    running: bool,
    finished: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("started_time".into(), iso(start).into());
    m.insert("end_time".into(), iso(end).into());
    m.insert(
        "elapsed".into(),
        (if end > start && start > 0 {
            (end - start) / 1_000_000
        } else {
            0
        })
        .into(),
    );
    m.insert("running".into(), running.into());
    m.insert("finished".into(), finished.into());
    m
}

/// AIS's `GET /v1/sort?uuid=` answer: per target, the job info with its metrics
/// (the SDK's `JobInfo`).
fn info_json(j: &JobState) -> serde_json::Value {
    let (src, dst) = j
        .spec
        .as_ref()
        .map(|s| (s.input_bck.clone(), s.output_bck.clone()))
        .unwrap_or_default();
    let now = net::time::now_unix_ns();
    let mut out = serde_json::Map::new();
    for (tid, st) in &j.per_target {
        let mut le = phase_json(
            j.started_ns,
            j.extraction_end_ns,
            j.phase == 1 && !j.aborted,
            j.phase > 1,
        );
        le.insert("total_count".into(), st.shards.to_string().into());
        le.insert("extracted_count".into(), st.shards.to_string().into());
        le.insert("extracted_size".into(), st.shard_bytes.to_string().into());
        le.insert(
            "extracted_record_count".into(),
            st.records.to_string().into(),
        );
        le.insert("extracted_to_disk_count".into(), "0".into());
        le.insert("extracted_to_disk_size".into(), "0".into());
        let ms = phase_json(
            j.extraction_end_ns,
            j.sorting_end_ns,
            j.phase == 2 && !j.aborted,
            j.phase > 2,
        );
        let mut sc = phase_json(
            j.sorting_end_ns,
            j.creation_end_ns,
            j.phase == 3 && !j.aborted && !j.finished,
            j.finished,
        );
        sc.insert("to_create".into(), st.to_create.to_string().into());
        sc.insert("created_count".into(), st.created.to_string().into());
        sc.insert("moved_shard_count".into(), "0".into());
        let end = if j.finished { j.creation_end_ns } else { 0 };
        out.insert(
            tid.clone(),
            serde_json::json!({
                "id": j.id,
                "src-bck": {"name": src, "provider": "ais", "namespace": {"uuid": "", "name": ""}},
                "dst-bck": {"name": dst, "provider": "ais", "namespace": {"uuid": "", "name": ""}},
                "started_time": iso(j.started_ns),
                "finish_time": iso(end),
                "started_meta_sorting": if j.extraction_end_ns > 0 { j.extraction_end_ns - j.started_ns } else { 0 },
                "started_shard_creation": if j.sorting_end_ns > 0 { j.sorting_end_ns - j.started_ns } else { 0 },
                "finished_shard_creation": if end > 0 { end - j.started_ns } else { 0 },
                "loc-objs": st.created.to_string(),
                "loc-bytes": st.created_bytes.to_string(),
                "Metrics": {
                    "local_extraction": le,
                    "meta_sorting": ms,
                    "shard_creation": sc,
                    "aborted": j.aborted,
                    "archived": j.finished,
                    "description": j.spec.as_ref().map(|s| s.description.clone()).unwrap_or_default(),
                    "warnings": j.warnings,
                    "errors": j.errors,
                    "extended": false,
                },
                "aborted": j.aborted,
                "archived": j.finished,
                "elapsed_ms": (now - j.started_ns) / 1_000_000,
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// The job's info per target; `None` if there is no such job.
pub fn info(id: &str) -> Option<serde_json::Value> {
    job(id).map(|j| info_json(&j.lock().expect("dsort job lock")))
}

/// Every job this proxy ran (AIS's `ais show job dsort`): ID, description, state.
pub fn list() -> serde_json::Value {
    let jobs = JOBS.lock().expect("dsort jobs lock");
    serde_json::Value::Array(
        jobs.iter()
            .map(|j| {
                let j = j.lock().expect("dsort job lock");
                serde_json::json!({
                    "id": j.id,
                    "description": j.spec.as_ref().map(|s| s.description.clone()).unwrap_or_default(),
                    "start_time": iso(j.started_ns),
                    "finish_time": if j.finished { iso(j.creation_end_ns) } else { String::new() },
                    "aborted": j.aborted,
                    "archived": j.finished,
                })
            })
            .collect(),
    )
}

/// Abort a running job (it stops at the next shard); `false` if there is no such job.
pub fn abort(id: &str) -> bool {
    let Some(j) = job(id) else { return false };
    let mut j = j.lock().expect("dsort job lock");
    if !j.finished {
        j.aborted = true;
    }
    true
}

/// Remove a finished or aborted job's record; an error if it still runs or does not exist.
pub fn remove(id: &str) -> std::result::Result<(), String> {
    let mut jobs = JOBS.lock().expect("dsort jobs lock");
    let Some(i) = jobs
        .iter()
        .position(|j| j.lock().expect("dsort job lock").id == id)
    else {
        return Err(format!("dsort job {id:?} does not exist"));
    };
    {
        let j = jobs[i].lock().expect("dsort job lock");
        if !j.finished && !j.aborted {
            return Err(format!("dsort job {id:?} is still running: abort it first"));
        }
    }
    jobs.remove(i);
    Ok(())
}

fn is_aborted(j: &Arc<Mutex<JobState>>) -> bool {
    j.lock().expect("dsort job lock").aborted
}

fn fail(j: &Arc<Mutex<JobState>>, e: String) {
    tracing::error!(error = %e, "dsort failed");
    let mut s = j.lock().expect("dsort job lock");
    s.errors.push(e);
    s.aborted = true;
}

// ---- the coordinator (proxy) ---------------------------------------------------------------

/// Start a job on this proxy (the current executor runs it); its ID.
pub fn start(node: &Arc<Node>, spec: Spec) -> String {
    let id = format!("srt-{}", net::time::base36(net::time::now_unix_ns() as u64));
    let smap = node.smap.load();
    let mut st = JobState {
        id: id.clone(),
        spec: Some(spec.clone()),
        started_ns: net::time::now_unix_ns(),
        phase: 1,
        ..Default::default()
    };
    for t in smap.tmap.keys() {
        st.per_target.insert(t.clone(), TargetStats::default());
    }
    let j = Arc::new(Mutex::new(st));
    JOBS.lock().expect("dsort jobs lock").push(j.clone());
    let node = node.clone();
    let id2 = id.clone();
    glommio::spawn_local(async move {
        if let Err(e) = run(&node, &id2, &spec, &j).await {
            fail(&j, e.to_string());
        }
        let mut s = j.lock().expect("dsort job lock");
        s.creation_end_ns = net::time::now_unix_ns();
        if !s.aborted {
            s.finished = true;
        }
        tracing::info!(job = %s.id, aborted = s.aborted, errors = s.errors.len(), "dsort finished");
    })
    .detach();
    id
}

fn target_url(node: &Node, tid: &str) -> Result<String> {
    let smap = node.smap.load();
    smap.tmap
        .get(tid)
        .map(|t| t.intra_control_net.direct_url.clone())
        .ok_or_else(|| {
            Error::Unavailable(format!("target {tid} left the cluster map during dsort"))
        })
}

async fn phase_call(url: &str, body: &[u8]) -> Result<Vec<u8>> {
    let r = intra::call_once(
        "POST",
        url,
        &[("Content-Type", "application/json")],
        body,
        PHASE_CALL_TIMEOUT_MS,
    )
    .await?;
    Ok(r.ok()?.body)
}

async fn run(node: &Arc<Node>, id: &str, spec: &Spec, j: &Arc<Mutex<JobState>>) -> Result<()> {
    let tids: Vec<String> = j
        .lock()
        .expect("dsort job lock")
        .per_target
        .keys()
        .cloned()
        .collect();
    let body = serde_json::to_vec(spec).map_err(|e| Error::Internal(e.to_string()))?;
    // 1. Extraction on every target, concurrently.
    let mut tasks = Vec::new();
    for tid in &tids {
        let url = format!("{}/v1/sort/extract?uuid={id}", target_url(node, tid)?);
        let body = body.clone();
        let tid = tid.clone();
        tasks.push(glommio::spawn_local(async move {
            (tid, phase_call(&url, &body).await)
        }));
    }
    let mut records: Vec<Record> = Vec::new();
    for t in tasks {
        let (tid, r) = t.await;
        let r: Extracted = serde_json::from_slice(&r?)
            .map_err(|e| Error::Internal(format!("dsort extraction answer of {tid}: {e}")))?;
        {
            let mut s = j.lock().expect("dsort job lock");
            let st = s.per_target.entry(tid.clone()).or_default();
            st.shards = r.shards;
            st.shard_bytes = r.shard_bytes;
            st.records = r.records.len() as u64;
            s.warnings.extend(r.warnings);
        }
        records.extend(r.records);
    }
    if is_aborted(j) {
        return Ok(());
    }
    {
        let mut s = j.lock().expect("dsort job lock");
        s.extraction_end_ns = net::time::now_unix_ns();
        s.phase = 2;
    }
    // 2. Sorting and the plan.
    let mut seen = std::collections::HashSet::new();
    let dups: Vec<String> = records
        .iter()
        .filter(|r| !seen.insert(r.name.clone()))
        .map(|r| format!("{}/{}", r.shard, r.name))
        .take(10)
        .collect();
    if !dups.is_empty() {
        // AIS's `duplicated_records` default is "ignore": keep both, say so.
        j.lock()
            .expect("dsort job lock")
            .warnings
            .push(format!("duplicated records (kept): {}", dups.join(", ")));
    }
    sort_records(&mut records, &spec.algo, spec.decreasing);
    let names =
        expand_template(&spec.output_template, TEMPLATE_NAMES_MAX).map_err(Error::BadRequest)?;
    let shards = plan(records, &names, spec.output_shard_size).map_err(Error::BadRequest)?;
    let smap = node.smap.load();
    let mut per: HashMap<String, Vec<OutShard>> = HashMap::new();
    for s in shards {
        let obj = output_object(&s.name, &spec.output_extension);
        let owner = placement::owner(&smap, &spec.output_bck, &obj)
            .ok_or_else(|| Error::Unavailable("no targets in the cluster map".into()))?;
        per.entry(owner.target_id).or_default().push(s);
    }
    {
        let mut s = j.lock().expect("dsort job lock");
        for (tid, v) in &per {
            s.per_target.entry(tid.clone()).or_default().to_create = v.len() as u64;
        }
        s.sorting_end_ns = net::time::now_unix_ns();
        s.phase = 3;
    }
    if spec.dry_run || is_aborted(j) {
        return Ok(());
    }
    // 3. Creation on the owners of the output shards, concurrently.
    let mut tasks = Vec::new();
    for (tid, shards) in per {
        let url = format!("{}/v1/sort/create?uuid={id}", target_url(node, &tid)?);
        let req = CreateReq {
            spec: spec.clone(),
            shards,
        };
        let body = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))?;
        tasks.push(glommio::spawn_local(async move {
            (tid, phase_call(&url, &body).await)
        }));
    }
    let mut err = None;
    for t in tasks {
        let (tid, r) = t.await;
        match r.and_then(|b| {
            serde_json::from_slice::<Created>(&b)
                .map_err(|e| Error::Internal(format!("dsort creation answer of {tid}: {e}")))
        }) {
            Ok(c) => {
                let mut s = j.lock().expect("dsort job lock");
                let st = s.per_target.entry(tid).or_default();
                st.created = c.created;
                st.created_bytes = c.bytes;
            }
            Err(e) => err = Some(Error::Internal(format!("target {tid}: {e}"))),
        }
    }
    err.map_or(Ok(()), Err)
}

// ---- the targets' phases --------------------------------------------------------------------

/// A target's extraction result.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Extracted {
    pub shards: u64,
    pub shard_bytes: u64,
    pub records: Vec<Record>,
    pub warnings: Vec<String>,
}

/// What a target is asked to create.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateReq {
    pub spec: Spec,
    pub shards: Vec<OutShard>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Created {
    pub created: u64,
    pub bytes: u64,
}

fn object_url(node: &Node, bucket: &str, object: &str) -> Result<String> {
    let smap = node.smap.load();
    let o = placement::owner(&smap, bucket, object)
        .ok_or_else(|| Error::Unavailable("no targets in the cluster map".into()))?;
    Ok(format!(
        "{}/v1/objects/{}/{}",
        o.url,
        net::http::percent_encode_path(bucket),
        net::http::percent_encode_path(object)
    ))
}

/// Phase 1 on a target: the records of the input shards it owns.
pub async fn extract(node: &Node, spec: &Spec) -> Result<Extracted> {
    let smap = node.smap.load();
    // The target's ID (`self_id` is the proxy's on an all-in-one node).
    let me = node.target_id.as_str();
    let mut out = Extracted::default();
    for name in &spec.input_names {
        let d = placement::object_digest(&spec.input_bck, name);
        if placement::target(&smap, d).is_none_or(|t| t.daemon_id != me) {
            continue;
        }
        let url = object_url(node, &spec.input_bck, name)?;
        let r = intra::call_once(
            "GET",
            &url,
            &[("Ais-Direct", "true")],
            b"",
            TRANSFER_TIMEOUT_MS,
        )
        .await?;
        if r.status == 404 {
            // AIS's `missing_shards` default: ignore (and say so).
            out.warnings.push(format!(
                "input shard {}/{name} does not exist",
                spec.input_bck
            ));
            continue;
        }
        let data = r.ok()?.body;
        if data.len() as u64 > SHARD_BYTES_MAX {
            return Err(Error::BadRequest(format!(
                "input shard {name}: {} bytes is over the {SHARD_BYTES_MAX}-byte limit",
                data.len()
            )));
        }
        let format = engine::archive::Format::by_name(name)
            .or_else(|| engine::archive::Format::by_magic(&data[..data.len().min(512)]))
            .or_else(|| engine::archive::Format::by_name(&spec.input_extension))
            .unwrap_or(engine::archive::Format::Tar);
        let recs = records_of_shard(&data, name, format, &spec.algo).map_err(Error::BadRequest)?;
        out.shards += 1;
        out.shard_bytes += data.len() as u64;
        out.records.extend(recs);
    }
    Ok(out)
}

/// One intra-cluster GET of an input shard (`query`: `archpath=...`, or a `Range` header).
async fn get_part(src: &str, range: Option<&str>, what: &str) -> Result<Vec<u8>> {
    let mut hs = vec![("Ais-Direct", "true")];
    if let Some(r) = range {
        hs.push(("Range", r));
    }
    let got = intra::call_once("GET", src, &hs, b"", TRANSFER_TIMEOUT_MS).await?;
    let want = if range.is_some() { 206 } else { 200 };
    if got.status != want {
        return Err(got.ok().map_or_else(
            |e| e,
            |g| Error::Internal(format!("{what}: answered {} instead of {want}", g.status)),
        ));
    }
    Ok(got.body)
}

/// The bytes of each of record `r`'s members. Members stored as they are (tar, stored zip)
/// come with one byte-range read of the span they occupy (a record's members are adjacent);
/// compressed ones are read one by one through `archpath` (the owner decompresses).
async fn fetch_record(node: &Node, spec: &Spec, r: &Record) -> Result<Vec<Vec<u8>>> {
    let src = object_url(node, &spec.input_bck, &r.shard)?;
    let ranged: Vec<(u64, u64)> = r
        .members
        .iter()
        .filter_map(|m| m.offset.map(|o| (o, m.size)))
        .collect();
    if ranged.len() == r.members.len() {
        let start = ranged.iter().map(|(o, _)| *o).min().unwrap_or(0);
        let end = ranged.iter().map(|(o, s)| o + s).max().unwrap_or(0);
        let span = if end > start {
            get_part(&src, Some(&format!("bytes={start}-{}", end - 1)), &r.shard).await?
        } else {
            Vec::new()
        };
        if span.len() as u64 != end - start {
            return Err(Error::Internal(format!(
                "{}/{}: read {} bytes of record {}, expected {}",
                spec.input_bck,
                r.shard,
                span.len(),
                r.name,
                end - start
            )));
        }
        return Ok(ranged
            .iter()
            .map(|(o, sz)| span[(o - start) as usize..(o - start + sz) as usize].to_vec())
            .collect());
    }
    let mut out = Vec::with_capacity(r.members.len());
    for m in &r.members {
        let url = format!(
            "{src}?archpath={}",
            net::http::percent_encode_query(&m.name)
        );
        let data = get_part(&url, None, &format!("{}/{}", r.shard, m.name)).await?;
        if data.len() as u64 != m.size {
            return Err(Error::Internal(format!(
                "{}/{}: member {} has {} bytes, expected {}",
                spec.input_bck,
                r.shard,
                m.name,
                data.len(),
                m.size
            )));
        }
        out.push(data);
    }
    Ok(out)
}

/// Phase 3 on a target: build each output shard from its records' bytes (byte ranges of the
/// input shards, read from their owners) and store it with a PUT to its owning core.
pub async fn create(node: &Node, req: &CreateReq) -> Result<Created> {
    let spec = &req.spec;
    let mut done = Created::default();
    for s in &req.shards {
        let obj = output_object(&s.name, &spec.output_extension);
        let fmt = engine::archive::Format::by_name(&obj)
            .map(engine::tarball::ShardFormat::of)
            .unwrap_or(engine::tarball::ShardFormat::Tar);
        let mut shard = engine::tarball::Shard::new(fmt);
        let mtime = (net::time::now_unix_ns() / 1_000_000_000) as u64;
        for r in &s.records {
            let bytes = fetch_record(node, spec, r).await?;
            for (m, data) in r.members.iter().zip(bytes) {
                shard
                    .add(&m.name, &data, mtime)
                    .map_err(|e| Error::BadRequest(e.to_string()))?;
                if shard.len() as u64 > SHARD_BYTES_MAX {
                    return Err(Error::BadRequest(format!(
                        "output shard {obj} would be over the {SHARD_BYTES_MAX}-byte limit"
                    )));
                }
            }
        }
        let tar = glommio::executor()
            .spawn_blocking(move || shard.seal())
            .await
            .map_err(|e| Error::Internal(format!("dsort: sealing {obj}: {e}")))?;
        let url = object_url(node, &spec.output_bck, &obj)?;
        intra::call_once(
            "PUT",
            &url,
            &[("Ais-Direct", "true")],
            &tar,
            TRANSFER_TIMEOUT_MS,
        )
        .await?
        .ok()?;
        done.created += 1;
        done.bytes += tar.len() as u64;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_as_ais() {
        assert_eq!(
            expand_template("s-{0..2}.tar", 10).unwrap(),
            ["s-0.tar", "s-1.tar", "s-2.tar"]
        );
        assert_eq!(
            expand_template("a{08..12..2}", 10).unwrap(),
            ["a08", "a10", "a12"]
        );
        assert_eq!(
            expand_template("{0..1}-{0..1}", 10).unwrap(),
            ["0-0", "0-1", "1-0", "1-1"]
        );
        assert_eq!(expand_template("plain", 10).unwrap(), ["plain"]);
        assert!(expand_template("s-{0..20}", 10)
            .unwrap_err()
            .contains("more than 10"));
        assert!(expand_template("s-{5..1}", 10).is_err());
        assert!(expand_template("s-{1..x}", 10).is_err());
        assert!(expand_template("s-{1..2", 10).is_err());
        assert!(expand_template("{0..999}{0..999}{0..999}", 1_000_000).is_err());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size(&serde_json::json!(1000)).unwrap(), 1000);
        assert_eq!(parse_size(&serde_json::json!("10KiB")).unwrap(), 10240);
        assert_eq!(parse_size(&serde_json::json!("1MB")).unwrap(), 1 << 20);
        assert!(parse_size(&serde_json::json!("ten")).is_err());
        assert!(parse_size(&serde_json::json!("1XB")).is_err());
    }

    fn shard(names: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (n, d) in names {
            engine::tarball::append(&mut v, n, d, 0).unwrap();
        }
        engine::tarball::finish(&mut v).unwrap();
        v
    }

    #[test]
    fn records_group_members_and_read_content_keys() {
        let t = shard(&[
            ("a/1.jpg", b"JJ"),
            ("a/1.cls", b" 7\n"),
            ("a/2.jpg", b"K"),
            ("a/2.cls", b"-3"),
        ]);
        let algo = Algo::Content {
            extension: ".cls".into(),
            key_type: KeyType::Int,
        };
        let mut r = records_of_shard(&t, "s0.tar", engine::archive::Format::Tar, &algo).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "a/1");
        assert_eq!(r[0].members.len(), 2);
        assert_eq!(r[0].key, Some(Key::Int(7)));
        sort_records(&mut r, &algo, false);
        assert_eq!(r[0].name, "a/2");
        sort_records(&mut r, &algo, true);
        assert_eq!(r[0].name, "a/1");
        let bad = shard(&[("x.jpg", b"J"), ("x.cls", b"seven")]);
        assert!(
            records_of_shard(&bad, "s", engine::archive::Format::Tar, &algo)
                .unwrap_err()
                .contains("not an int")
        );
        let missing = shard(&[("y.jpg", b"J")]);
        assert!(
            records_of_shard(&missing, "s", engine::archive::Format::Tar, &algo)
                .unwrap_err()
                .contains("no .cls member")
        );
        assert!(records_of_shard(
            b"nope",
            "s",
            engine::archive::Format::Tar,
            &Algo::Alphanumeric
        )
        .is_err());
    }

    #[test]
    fn shuffle_is_a_seeded_permutation_and_plan_cuts_by_size() {
        let recs: Vec<Record> = (0..50)
            .map(|i| Record {
                name: format!("{i:03}"),
                shard: "s".into(),
                members: vec![Member {
                    name: format!("{i:03}.x"),
                    offset: Some(0),
                    size: 10,
                }],
                key: None,
            })
            .collect();
        let mut a = recs.clone();
        let mut b = recs.clone();
        sort_records(&mut a, &Algo::Shuffle { seed: 42 }, false);
        sort_records(&mut b, &Algo::Shuffle { seed: 42 }, false);
        assert_eq!(a, b);
        assert_ne!(a, recs);
        let mut names: Vec<String> = a.iter().map(|r| r.name.clone()).collect();
        names.sort();
        assert_eq!(
            names,
            recs.iter().map(|r| r.name.clone()).collect::<Vec<_>>()
        );
        let out_names = expand_template("o-{0..9}", 100).unwrap();
        let p = plan(recs.clone(), &out_names, 100).unwrap();
        assert_eq!(p.len(), 5);
        assert!(p.iter().all(|s| s.records.len() == 10));
        assert_eq!(p[4].name, "o-4");
        assert!(plan(recs, &out_names[..2], 100)
            .unwrap_err()
            .contains("more are needed"));
    }

    #[test]
    fn spec_is_validated() {
        let ok = serde_json::json!({
            "input_bck": {"name": "in", "provider": "ais"},
            "input_format": {"template": "shard-{0..9}"},
            "input_extension": ".tar",
            "output_bck": {"name": "out", "provider": "ais"},
            "output_format": "new-{00..99}",
            "output_extension": ".tar",
            "output_shard_size": "10KiB",
            "algorithm": {"kind": "alphanumeric", "decreasing": false, "seed": ""},
            "description": "d",
        });
        let s = parse_spec(&ok).unwrap();
        assert_eq!(s.input_names.len(), 10);
        // As AIS reads a range template (the SDK's DsortFramework sends `shard-{0..9}` with
        // `input_extension`): the extension is appended; names with another archive
        // extension are not inputs; listed names (`objnames`) are taken as they are.
        assert_eq!(s.input_names[3], "shard-3.tar");
        assert_eq!(s.output_shard_size, 10240);
        let mut mixed = ok.clone();
        mixed["input_format"] = serde_json::json!({"template": "s-{0..3}.tgz"});
        mixed["input_extension"] = serde_json::json!(".tar.gz");
        let m = parse_spec(&mixed).unwrap();
        assert_eq!(m.input_names, ["s-0.tgz", "s-1.tgz", "s-2.tgz", "s-3.tgz"]);
        assert_eq!(m.output_extension, ".tar", "given");
        mixed["input_extension"] = serde_json::json!(".zip");
        assert!(parse_spec(&mixed).unwrap_err().contains("no .zip shards"));
        let mut listed = ok.clone();
        listed["input_format"] = serde_json::json!({"objnames": ["a", "b.tar"]});
        assert_eq!(parse_spec(&listed).unwrap().input_names, ["a", "b.tar"]);
        let mut dflt = ok.clone();
        dflt["input_extension"] = serde_json::json!(".tgz");
        dflt.as_object_mut().unwrap().remove("output_extension");
        assert_eq!(
            parse_spec(&dflt).unwrap().output_extension,
            ".tgz",
            "AIS: the input's"
        );
        assert_eq!(output_object("new-01", ".tgz"), "new-01.tgz");
        assert_eq!(output_object("new-01.tgz", ".tgz"), "new-01.tgz");
        for (k, v, want) in [
            (
                "input_extension",
                serde_json::json!(".rar"),
                "expecting .tar",
            ),
            (
                "output_extension",
                serde_json::json!(".rar"),
                "expecting .tar",
            ),
            (
                "output_format",
                serde_json::json!("new-{9..1}"),
                "greater than",
            ),
            (
                "algorithm",
                serde_json::json!({"kind": "magic"}),
                "expecting alphanumeric",
            ),
            (
                "algorithm",
                serde_json::json!({"kind": "content"}),
                "needs an extension",
            ),
            (
                "input_bck",
                serde_json::json!({"name": "x", "provider": "aws"}),
                "provider",
            ),
            ("ekm_file", serde_json::json!("http://x"), "not supported"),
        ] {
            let mut bad = ok.clone();
            bad[k] = v;
            let e = parse_spec(&bad).unwrap_err();
            assert!(e.contains(want), "{k}: {e}");
        }
    }
}
