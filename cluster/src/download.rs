//! The downloader (AIS `ext/dload`, docs/downloader.md): jobs that fetch objects from HTTP
//! URLs into an `ais://` bucket. The wire format is AIS's `dload.Body` (`type` single, range,
//! multi; `bucket`, `description`, `timeout`, `limits`, `headers`), answered with
//! `{"id": "dnl-..."}`; status is AIS's `StatusResp`, the list AIS's `JobInfos`.
//!
//! * **The proxy** that took the request owns the job: it expands the request into
//!   (object name, link) pairs, sends each to the core that owns the object (HRW over targets,
//!   then mountpaths), at most [`Limits::connections`] at a time, and records every result.
//!   Its job table is process-wide, so status, list, abort and remove work on any core.
//! * **The owning target** ([`fetch`]) GETs the link and streams the body into the local
//!   object (ObjectWriter spare/advance): the body never sits whole in memory, and a failed,
//!   timed-out or aborted download removes the work file, so no partial object ever exists.
//! * **Per-URL errors** (HTTP 404, connection refused, `https://`) are recorded by name in
//!   `download_errors` and counted in `error_cnt`; they never stop the job.
//! * **Abort** marks the job on the proxy (no more links are sent) and on every target (the
//!   downloads in flight stop within [`ABORT_POLL_MS`]).
//!
//! # What it does not do
//!
//! * No `https://` (TLS is not implemented on this node): such a link is a per-URL error.
//! * `backend` jobs (prefetching a remote bucket), ETL, `from_remote` and
//!   `limits.bytes_per_hour` answer 501 by name.
//! * Jobs are not persisted: a restarted proxy forgets them (objects already stored stay).

use crate::backend::http::{exchange, Body, Dest, Io, Pool};
use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::placement;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectWriter, PutOpts, PutResult};
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// AIS's prefix of downloader job IDs (`xact.PrefixDnlID`).
pub const JOB_ID_PREFIX: &str = "dnl-";
/// The job kind in the generic job API (AIS's `apc.ActDownload`).
pub const KIND: &str = "download";
/// Most objects one job may name (every one keeps a line of status on the proxy).
pub const JOB_OBJECTS_MAX: usize = 100_000;
/// Largest start request body.
pub const START_BODY_BYTES_MAX: usize = 16 << 20;
/// Links in flight per job when `limits.connections` is 0.
pub const CONNECTIONS_DEFAULT: usize = 16;
/// Most links in flight per job.
pub const CONNECTIONS_MAX: usize = 256;
/// Per-link deadline when the request names no `timeout`: connecting and the response head,
/// and then each read of the body.
pub const LINK_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// Extra time the proxy gives a target beyond the link's own timeout before giving up on it.
const FETCH_CALL_SLACK_MS: u64 = 10_000;
/// Deadline of one whole download as the proxy waits for it (a large object takes long; a
/// stalled one is caught by the target's per-read timeout).
pub const FETCH_CALL_TIMEOUT_MS_MAX: u64 = 24 * 3600 * 1000;
/// How often a download in flight looks at its job's abort flag.
pub const ABORT_POLL_MS: u64 = 50;
/// Jobs kept (finished ones are dropped oldest first past it; running ones never).
pub const JOBS_MAX: usize = 1024;
/// Aborted job IDs a target remembers.
const ABORTED_IDS_MAX: usize = 4096;
/// Largest link request a target accepts.
pub const FETCH_BODY_BYTES_MAX: usize = 1 << 20;

const _: () = assert!(CONNECTIONS_DEFAULT <= CONNECTIONS_MAX);

// ---- the request ----------------------------------------------------------------------------

/// A validated start request.
#[derive(Debug, Clone)]
pub struct Start {
    /// The `ais://` bucket (its BMD key, the name).
    pub bucket: String,
    pub description: String,
    pub timeout_ms: Option<u64>,
    pub connections: usize,
    pub headers: Vec<(String, String)>,
    /// (object name, link), in request order.
    pub objects: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BckJson {
    name: String,
    provider: String,
}

/// AIS's `dload.Limits`.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
#[serde(default)]
pub struct Limits {
    pub connections: i64,
    pub bytes_per_hour: i64,
}

/// AIS's `dload.Base` with the fields of every type (unknown fields are refused by name
/// below, never ignored).
#[derive(Deserialize, Default)]
#[serde(default)]
struct BodyJson {
    #[serde(rename = "type")]
    ty: String,
    description: String,
    bucket: BckJson,
    timeout: String,
    progress_interval: String,
    limits: Limits,
    headers: Option<serde_json::Map<String, serde_json::Value>>,
    etl_name: String,
    etl_args: String,
    // single
    object_name: String,
    link: String,
    from_remote: bool,
    // range
    template: String,
    subdir: String,
    // multi
    objects: Option<serde_json::Value>,
    // backend
    prefix: String,
    suffix: String,
    synchronize: bool,
}

const BODY_FIELDS: &[&str] = &[
    "type",
    "description",
    "bucket",
    "timeout",
    "progress_interval",
    "limits",
    "headers",
    "etl_name",
    "etl_args",
    "object_name",
    "link",
    "from_remote",
    "template",
    "subdir",
    "objects",
    "prefix",
    "suffix",
    "synchronize",
];

/// Go's `time.ParseDuration` for the forms AIS clients send ("30s", "1m30s", "500ms",
/// "1.5h", "0"); milliseconds.
pub fn parse_go_duration(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("invalid duration {s:?}");
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_ms = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if n == 0 {
            return Err(bad());
        }
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return Err(bad()),
        };
        total_ms += v * mult;
        rest = &rest[u..];
    }
    Ok(total_ms.ceil() as u64)
}

/// Go's `path.Base` of a link (the object name of range and multi-list downloads).
fn path_base(link: &str) -> &str {
    let t = link.trim_end_matches('/');
    if t.is_empty() {
        return "/";
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// AIS's `NormalizeObjName`: whatever follows `?` (a query) or `#` is not part of the name;
/// the name is percent-decoded and must be a valid object name.
pub fn normalize_name(name: &str) -> std::result::Result<String, String> {
    let cut = name.find(['?', '#']).unwrap_or(name.len());
    let raw = &name[..cut];
    let decoded = net::http::percent_decode_path(raw)
        .map_err(|e| format!("invalid object name {name:?}: {e}"))?;
    if decoded.is_empty()
        || decoded == "."
        || decoded == "/"
        || decoded.contains('\0')
        || decoded.split('/').any(|c| c == "..")
    {
        return Err(format!("invalid object name {decoded:?} (from {name:?})"));
    }
    Ok(decoded)
}

/// The object name of a link with no name given (range, multi list, single without
/// `object_name`).
fn name_of_link(link: &str) -> std::result::Result<String, String> {
    let b = path_base(link);
    if b == "." || b == "/" || b.is_empty() {
        return Err(format!(
            "cannot extract a valid object name from the download link {link:?}"
        ));
    }
    normalize_name(b)
}

/// Parse and validate a start request. `Err` is a client error: `BadRequest`, or
/// `NotImplemented` naming what this node does not do.
pub fn parse_start(body: &[u8]) -> Result<Start> {
    let bad = |m: String| Error::BadRequest(format!("download request: {m}"));
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("expected a JSON object".into()))?;
    for k in obj.keys() {
        if !BODY_FIELDS.contains(&k.as_str()) {
            return Err(bad(format!("unknown field {k:?}")));
        }
    }
    let b: BodyJson = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    match b.ty.as_str() {
        "" => return Err(bad("'type' field is empty".into())),
        "single" | "range" | "multi" => {}
        "backend" => {
            return Err(Error::NotImplemented(
                "download type \"backend\" (prefetching a remote bucket through the downloader) is not supported by this node: use prefetch".into(),
            ))
        }
        t => {
            return Err(bad(format!(
                "invalid type {t:?} (expecting single, range, multi, backend)"
            )))
        }
    }
    if b.bucket.name.is_empty() {
        return Err(bad("missing 'bucket.name'".into()));
    }
    match b.bucket.provider.as_str() {
        "" | "ais" => {}
        p => {
            return Err(Error::NotImplemented(format!(
            "downloading into a {p:?} bucket is not supported by this node (ais:// buckets only)"
        )))
        }
    }
    if !b.etl_name.is_empty() || !b.etl_args.is_empty() {
        return Err(Error::NotImplemented(
            "download with etl_name/etl_args (ETL) is not supported by this node".into(),
        ));
    }
    if b.from_remote {
        return Err(Error::NotImplemented(
            "download from_remote (from the bucket's backend) is not supported by this node".into(),
        ));
    }
    if b.limits.connections < 0 {
        return Err(bad(format!(
            "'limit.connections' must be non-negative (got: {})",
            b.limits.connections
        )));
    }
    if b.limits.bytes_per_hour < 0 {
        return Err(bad(format!(
            "'limit.bytes_per_hour' must be non-negative (got: {})",
            b.limits.bytes_per_hour
        )));
    }
    if b.limits.bytes_per_hour > 0 {
        return Err(Error::NotImplemented(
            "download limits.bytes_per_hour (bandwidth throttling) is not supported by this node"
                .into(),
        ));
    }
    let timeout_ms = match b.timeout.as_str() {
        "" => None,
        t => match parse_go_duration(t).map_err(|e| bad(format!("timeout: {e}")))? {
            0 => None,
            ms => Some(ms),
        },
    };
    if !b.progress_interval.is_empty() {
        parse_go_duration(&b.progress_interval)
            .map_err(|e| bad(format!("progress_interval: {e}")))?;
    }
    let mut headers = Vec::new();
    for (k, val) in b.headers.unwrap_or_default() {
        // Go's http.Header: name -> list of values.
        let vals: Vec<String> = match val {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(a) => a
                .into_iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("header {k:?}: values must be strings")))?,
            _ => return Err(bad(format!("header {k:?}: values must be strings"))),
        };
        let ok = |s: &str| !s.bytes().any(|c| c == b'\r' || c == b'\n' || c == 0);
        if k.is_empty() || !ok(&k) || k.contains(':') || !vals.iter().all(|x| ok(x)) {
            return Err(bad(format!("invalid header {k:?}")));
        }
        for x in vals {
            headers.push((k.clone(), x));
        }
    }
    let mut objects = Vec::new();
    match b.ty.as_str() {
        "single" => {
            if b.link.is_empty() {
                return Err(bad("missing 'link' in the request body".into()));
            }
            let name = if b.object_name.is_empty() {
                name_of_link(&b.link).map_err(bad)?
            } else {
                normalize_name(&b.object_name).map_err(bad)?
            };
            objects.push((name, b.link.clone()));
        }
        "range" => {
            if b.template.is_empty() {
                return Err(bad("missing 'template' in the request body".into()));
            }
            let links: Vec<String> = if b.template.contains('{') {
                let t = crate::meta::template::Template::parse(&b.template)
                    .map_err(|e| bad(e.to_string()))?;
                match t.count() {
                    Some(n) if n > JOB_OBJECTS_MAX as u64 => {
                        return Err(bad(format!(
                            "template {:?} expands to {n} links, more than {JOB_OBJECTS_MAX} (the most one job may name)",
                            b.template
                        )))
                    }
                    Some(_) => t.names().collect(),
                    None => vec![b.template.clone()],
                }
            } else {
                vec![b.template.clone()]
            };
            for link in links {
                let base = name_of_link(&link).map_err(bad)?;
                let name = if b.subdir.is_empty() {
                    base
                } else {
                    format!("{}/{base}", b.subdir.trim_end_matches('/'))
                };
                objects.push((normalize_name(&name).map_err(bad)?, link));
            }
        }
        _ => match b.objects {
            Some(serde_json::Value::Array(a)) => {
                for x in a {
                    let link = x.as_str().ok_or_else(|| {
                        bad(format!("expected download link to be a string, got: {x}"))
                    })?;
                    objects.push((name_of_link(link).map_err(bad)?, link.to_string()));
                }
            }
            Some(serde_json::Value::Object(m)) => {
                for (k, x) in m {
                    let link = x.as_str().ok_or_else(|| {
                        bad(format!("values in map should be strings, found: {x}"))
                    })?;
                    objects.push((normalize_name(&k).map_err(bad)?, link.to_string()));
                }
            }
            None | Some(serde_json::Value::Null) => {
                return Err(bad("body should not be empty ('objects')".into()))
            }
            Some(_) => {
                return Err(bad(
                    "'objects' should be a map (string -> string) or an array of strings".into(),
                ))
            }
        },
    }
    if objects.is_empty() {
        return Err(bad("no objects to download".into()));
    }
    if objects.len() > JOB_OBJECTS_MAX {
        return Err(bad(format!(
            "{} objects, more than {JOB_OBJECTS_MAX} (the most one job may name)",
            objects.len()
        )));
    }
    // One object per name: the last link given wins, as AIS's map does.
    let mut seen = HashSet::new();
    let mut dedup: Vec<(String, String)> = Vec::with_capacity(objects.len());
    for (n, l) in objects.into_iter().rev() {
        if seen.insert(n.clone()) {
            dedup.push((n, l));
        }
    }
    dedup.reverse();
    let description = if !b.description.is_empty() {
        b.description.clone()
    } else {
        match b.ty.as_str() {
            "single" => format!("{} -> ais://{}/{}", b.link, b.bucket.name, dedup[0].0),
            "range" => format!("{} -> ais://{}", b.template, b.bucket.name),
            _ => format!("multi-download -> ais://{}", b.bucket.name),
        }
    };
    Ok(Start {
        bucket: b.bucket.name,
        description,
        timeout_ms,
        connections: match b.limits.connections {
            0 => CONNECTIONS_DEFAULT,
            n => (n as usize).min(CONNECTIONS_MAX),
        },
        headers,
        objects: dedup,
    })
}

/// AIS's `dload.AdminBody` (status, list, abort, remove), from a JSON body or the query.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default)]
pub struct Admin {
    pub id: String,
    pub regex: String,
    #[serde(rename = "only_active_tasks")]
    pub only_active: bool,
}

// ---- the job table (proxy) ------------------------------------------------------------------

#[derive(Debug, Default)]
struct JobState {
    id: String,
    description: String,
    bucket: String,
    started_ns: i64,
    finished_ns: i64,
    total: usize,
    scheduled: usize,
    finished: usize,
    all_dispatched: bool,
    aborted: bool,
    /// name -> start time of downloads in flight.
    current: Vec<(String, i64)>,
    /// (name, bytes, start, end).
    done: Vec<(String, u64, i64, i64)>,
    errors: Vec<(String, String)>,
    /// The job as the generic job API shows it (kind `download`, on this proxy).
    xjob: Option<Arc<crate::xact::Job>>,
}

static JOBS: Mutex<VecDeque<Arc<Mutex<JobState>>>> = Mutex::new(VecDeque::new());
static ABORTED: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

fn job(id: &str) -> Option<Arc<Mutex<JobState>>> {
    JOBS.lock()
        .expect("download jobs lock")
        .iter()
        .find(|j| j.lock().expect("download job lock").id == id)
        .cloned()
}

fn time_json(ns: i64) -> String {
    if ns == 0 {
        // Go's zero time.Time, which AIS clients read as "not yet".
        "0001-01-01T00:00:00Z".to_string()
    } else {
        net::time::format_rfc3339_nano(ns)
    }
}

/// AIS's `dload.TaskDlInfo`.
#[derive(Serialize)]
struct TaskJson<'a> {
    name: &'a str,
    downloaded: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    total: String,
    start_time: String,
    end_time: String,
}

impl JobState {
    fn running(&self) -> bool {
        self.finished_ns == 0
    }

    /// AIS's `dload.Job`.
    fn job_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "xaction_id": self.id,
            "description": self.description,
            "bucket": {"name": self.bucket, "provider": "ais", "namespace": {"uuid": "", "name": ""}},
            "started_time": time_json(self.started_ns),
            "finished_time": time_json(self.finished_ns),
            "finished_cnt": self.finished,
            "scheduled_cnt": self.scheduled,
            "skipped_cnt": 0,
            "error_cnt": self.errors.len(),
            "total": self.total,
            "all_dispatched": self.all_dispatched,
            "aborted": self.aborted,
        })
    }

    /// AIS's `dload.StatusResp`: the job, then its tasks in flight, finished and failed
    /// (the last two left out with `only_active`).
    fn status_json(&self, only_active: bool) -> serde_json::Value {
        let mut v = self.job_json();
        let m = v.as_object_mut().expect("job_json is an object");
        let mut cur: Vec<TaskJson> = self
            .current
            .iter()
            .map(|(n, t0)| TaskJson {
                name: n,
                downloaded: "0".into(),
                total: String::new(),
                start_time: time_json(*t0),
                end_time: time_json(0),
            })
            .collect();
        cur.sort_by(|a, b| a.name.cmp(b.name));
        if !cur.is_empty() {
            m.insert("current_tasks".into(), serde_json::json!(cur));
        }
        if !only_active {
            let mut fin: Vec<TaskJson> = self
                .done
                .iter()
                .map(|(n, size, t0, t1)| TaskJson {
                    name: n,
                    downloaded: size.to_string(),
                    total: size.to_string(),
                    start_time: time_json(*t0),
                    end_time: time_json(*t1),
                })
                .collect();
            fin.sort_by(|a, b| a.name.cmp(b.name));
            if !fin.is_empty() {
                m.insert("finished_tasks".into(), serde_json::json!(fin));
            }
            let mut errs: Vec<_> = self
                .errors
                .iter()
                .map(|(n, e)| serde_json::json!({"name": n, "error": e}))
                .collect();
            errs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            if !errs.is_empty() {
                m.insert("download_errors".into(), serde_json::Value::Array(errs));
            }
        }
        v
    }
}

/// The status of job `id` (AIS's `StatusResp`); `JobNotFound` if there is none.
pub fn status(id: &str, only_active: bool) -> Result<serde_json::Value> {
    let j = job(id).ok_or_else(|| not_found(id))?;
    let s = j.lock().expect("download job lock");
    Ok(s.status_json(only_active))
}

fn not_found(id: &str) -> Error {
    Error::JobNotFound(format!("download job {id:?} does not exist"))
}

/// Jobs whose description matches `regex` (AIS's `JobInfos`: running ones first, by start
/// time, then finished ones by finish time). A regex with metacharacters is refused by name:
/// this node matches literal text only (unanchored, as a regex of plain text does).
pub fn list(regex: &str, only_active: bool) -> Result<serde_json::Value> {
    if regex.contains(|c: char| "\\^$.|?*+()[]{}".contains(c)) {
        return Err(Error::NotImplemented(format!(
            "download list: regex {regex:?} has regular-expression metacharacters; this node matches plain text only"
        )));
    }
    let jobs = JOBS.lock().expect("download jobs lock");
    let mut out: Vec<(bool, i64, serde_json::Value)> = jobs
        .iter()
        .filter_map(|j| {
            let s = j.lock().expect("download job lock");
            if !s.description.contains(regex) || (only_active && !s.running()) {
                return None;
            }
            let key = if s.running() {
                s.started_ns
            } else {
                s.finished_ns
            };
            Some((!s.running(), key, s.job_json()))
        })
        .collect();
    out.sort_by_key(|x| (x.0, x.1));
    Ok(serde_json::Value::Array(
        out.into_iter().map(|x| x.2).collect(),
    ))
}

/// Remove a finished or aborted job's record.
pub fn remove(id: &str) -> Result<()> {
    let mut jobs = JOBS.lock().expect("download jobs lock");
    let i = jobs
        .iter()
        .position(|j| j.lock().expect("download job lock").id == id)
        .ok_or_else(|| not_found(id))?;
    if jobs[i].lock().expect("download job lock").running() {
        return Err(Error::BadRequest(format!(
            "download job {id:?} is still running: abort it first"
        )));
    }
    jobs.remove(i);
    Ok(())
}

/// Whether a target was told to abort job `id`.
pub fn is_aborted(id: &str) -> bool {
    ABORTED
        .lock()
        .expect("download aborted lock")
        .iter()
        .any(|x| x == id)
}

/// On a target: stop job `id`'s downloads in flight and refuse its further links.
pub fn abort_local(id: &str) {
    let mut a = ABORTED.lock().expect("download aborted lock");
    if !a.iter().any(|x| x == id) {
        if a.len() >= ABORTED_IDS_MAX {
            a.pop_front();
        }
        a.push_back(id.to_string());
    }
}

/// Abort job `id`: no more links are sent, and every target stops the ones in flight. A
/// finished job stays as it is.
pub async fn abort(node: &Arc<Node>, id: &str) -> Result<()> {
    let j = job(id).ok_or_else(|| not_found(id))?;
    {
        let mut s = j.lock().expect("download job lock");
        if !s.running() {
            return Ok(());
        }
        s.aborted = true;
        s.finished_ns = net::time::now_unix_ns();
        if let Some(x) = &s.xjob {
            x.abort("download aborted through the API");
        }
    }
    abort_local(id);
    let smap = node.smap.load();
    let mut calls = Vec::new();
    for t in smap.tmap.values() {
        let url = format!(
            "{}/v1/download/fetch?id={}",
            t.intra_control_net.direct_url,
            net::http::percent_encode_query(id)
        );
        calls.push(glommio::spawn_local(async move {
            let r = intra::call("DELETE", &url, &[], b"").await;
            (url, r.and_then(intra::CallResult::ok))
        }));
    }
    for c in calls {
        let (url, r) = c.await;
        if let Err(e) = r {
            tracing::warn!(job = %id, url = %url, error = %e, "download abort did not reach a target");
        }
    }
    Ok(())
}

/// What the proxy sends the owning target for one link.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FetchReq {
    pub link: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub timeout_ms: u64,
}

/// What the target answers for a stored object.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Fetched {
    pub size: u64,
}

/// Start a job on this proxy (the current executor dispatches it); its ID.
pub fn start(node: &Arc<Node>, st: Start) -> String {
    let id = format!(
        "{JOB_ID_PREFIX}{}",
        net::time::base36(net::time::now_unix_ns() as u64)
    );
    let xjob = node.jobs.begin_concurrent(
        KIND,
        &st.bucket,
        id.clone(),
        &node.proxy_id,
        node.smap.load().version,
    );
    let j = Arc::new(Mutex::new(JobState {
        xjob: Some(xjob),
        id: id.clone(),
        description: st.description.clone(),
        bucket: st.bucket.clone(),
        started_ns: net::time::now_unix_ns(),
        total: st.objects.len(),
        ..Default::default()
    }));
    {
        let mut jobs = JOBS.lock().expect("download jobs lock");
        while jobs.len() >= JOBS_MAX {
            let Some(i) = jobs
                .iter()
                .position(|x| !x.lock().expect("download job lock").running())
            else {
                break;
            };
            jobs.remove(i);
        }
        jobs.push_back(j.clone());
    }
    let node = node.clone();
    let id2 = id.clone();
    glommio::spawn_local(async move { run(&node, &id2, st, &j).await }).detach();
    id
}

async fn run(node: &Arc<Node>, id: &str, st: Start, j: &Arc<Mutex<JobState>>) {
    let sem = Rc::new(glommio::sync::Semaphore::new(st.connections as u64));
    let link_timeout_ms = st.timeout_ms.unwrap_or(LINK_TIMEOUT_MS_DEFAULT);
    let call_timeout_ms = match st.timeout_ms {
        Some(t) => t + FETCH_CALL_SLACK_MS,
        None => FETCH_CALL_TIMEOUT_MS_MAX,
    };
    let mut tasks = Vec::with_capacity(st.objects.len());
    let xjob = j.lock().expect("download job lock").xjob.clone();
    // A stop through the generic job API (`PUT /v1/cluster` stop, kind `download`) aborts
    // the job as `DELETE /v1/download/abort` does.
    if let Some(x) = xjob.clone() {
        let (node, id, j) = (node.clone(), id.to_string(), j.clone());
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(Duration::from_millis(ABORT_POLL_MS)).await;
                let (running, aborted) = {
                    let s = j.lock().expect("download job lock");
                    (s.running(), s.aborted)
                };
                if !running || aborted {
                    break;
                }
                if x.is_aborted() {
                    let _ = abort(&node, &id).await;
                    break;
                }
            }
        })
        .detach();
    }
    for (name, link) in st.objects {
        let Ok(permit) = sem.clone().acquire_static_permit(1).await else {
            break;
        };
        {
            let mut s = j.lock().expect("download job lock");
            if s.aborted {
                break;
            }
            s.scheduled += 1;
            s.current.push((name.clone(), net::time::now_unix_ns()));
        }
        let req = FetchReq {
            link,
            headers: st.headers.clone(),
            timeout_ms: link_timeout_ms,
        };
        let node = node.clone();
        let j = j.clone();
        let bucket = st.bucket.clone();
        let id = id.to_string();
        tasks.push(glommio::spawn_local(async move {
            let t0 = net::time::now_unix_ns();
            let r = send_link(&node, &id, &bucket, &name, &req, call_timeout_ms).await;
            let mut s = j.lock().expect("download job lock");
            s.current.retain(|(n, _)| n != &name);
            if let Some(x) = &s.xjob {
                match &r {
                    Ok(size) => {
                        x.objects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        x.bytes
                            .fetch_add(*size, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => {
                        x.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            match r {
                Ok(size) => {
                    s.finished += 1;
                    s.done.push((name, size, t0, net::time::now_unix_ns()));
                }
                Err(e) => s.errors.push((name, e)),
            }
            drop(permit);
        }));
    }
    j.lock().expect("download job lock").all_dispatched = true;
    for t in tasks {
        t.await;
    }
    let mut s = j.lock().expect("download job lock");
    if s.finished_ns == 0 {
        s.finished_ns = net::time::now_unix_ns();
    }
    if let Some(x) = &s.xjob {
        x.finish();
    }
    tracing::info!(job = %s.id, finished = s.finished, errors = s.errors.len(), aborted = s.aborted, "download finished");
}

/// Send one link to the core that owns its object; the stored size, or the per-URL error.
async fn send_link(
    node: &Arc<Node>,
    id: &str,
    bucket: &str,
    name: &str,
    req: &FetchReq,
    timeout_ms: u64,
) -> std::result::Result<u64, String> {
    let smap = node.smap.load();
    let owner = placement::owner(&smap, bucket, name)
        .ok_or_else(|| format!("no targets in the cluster map (Smap v{})", smap.version))?;
    let url = format!(
        "{}/v1/download/fetch?id={}&bucket={}&object={}",
        owner.url,
        net::http::percent_encode_query(id),
        net::http::percent_encode_query(bucket),
        net::http::percent_encode_query(name)
    );
    let body = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    let r = intra::call_once(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        &body,
        timeout_ms,
    )
    .await
    .map_err(|e| format!("target {}: {e}", owner.target_id))?;
    if r.status != 200 {
        return Err(r.message());
    }
    serde_json::from_slice::<Fetched>(&r.body)
        .map(|f| f.size)
        .map_err(|e| format!("target {}: unreadable answer: {e}", owner.target_id))
}

// ---- the owning target ------------------------------------------------------------------------

thread_local! {
    /// Keep-alive connections to download sources, per core.
    static POOL: Rc<Pool> = Rc::new(Pool::default());
}

/// Resolves when job `id` is aborted.
async fn aborted(id: &str) {
    while !is_aborted(id) {
        glommio::timer::sleep(Duration::from_millis(ABORT_POLL_MS)).await;
    }
}

fn link_err(link: &str, m: impl std::fmt::Display) -> Error {
    Error::Peer {
        status: 502,
        message: format!("download {link}: {m}"),
    }
}

/// Download `req.link` into `object` of `ais://bucket` on `mp` (this core owns it). Nothing is
/// stored unless the whole body arrived (Content-Length or chunked framing, never a short
/// success).
pub async fn fetch(
    job_id: &str,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
    req: &FetchReq,
    opts: &PutOpts,
) -> Result<PutResult> {
    let link = req.link.as_str();
    if is_aborted(job_id) {
        return Err(Error::Conflict(format!(
            "download job {job_id} was aborted"
        )));
    }
    let lower = link.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(Error::NotImplemented(format!(
            "download {link}: https:// links need TLS, which this node does not support yet"
        )));
    }
    // AIS prepends a protocol to a link without one.
    let full = if link.contains("://") {
        link.to_string()
    } else {
        format!("http://{link}")
    };
    if !full.to_ascii_lowercase().starts_with("http://") {
        return Err(Error::BadRequest(format!(
            "download {link}: unsupported scheme (http:// only)"
        )));
    }
    let (ep, target) = net::client::parse_http_url(&full)
        .map_err(|e| Error::BadRequest(format!("download {link}: {e}")))?;
    let host_hdr = if ep.port == 80 {
        ep.host.clone()
    } else {
        ep.authority.clone()
    };
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_hdr}\r\nUser-Agent: aisnode-downloader\r\nAccept: */*\r\n"
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let endpoint = format!("http://{}", ep.authority);
    let dest = Dest {
        host: &ep.host,
        port: ep.port,
        authority: &ep.authority,
        endpoint: &endpoint,
    };
    let timeout = Duration::from_millis(req.timeout_ms.max(1));
    let io = Io {
        deadline: Instant::now() + timeout,
        step_timeout: timeout,
    };
    let pool = POOL.with(Rc::clone);
    let got = futures_lite::future::or(
        async {
            Some(exchange::<&[u8]>(&pool, &dest, head.as_bytes(), Body::None, false, io).await)
        },
        async {
            aborted(job_id).await;
            None
        },
    )
    .await;
    let Some(got) = got else {
        return Err(Error::Conflict(format!(
            "download {link}: job {job_id} was aborted"
        )));
    };
    let (rh, mut body) = got.map_err(|e| link_err(link, &e.message))?;
    if rh.status != 200 {
        // The source's status as the per-URL error (404 stays 404).
        let status = if (400..600).contains(&rh.status) {
            rh.status
        } else {
            502
        };
        return Err(Error::Peer {
            status,
            message: format!("download {link}: the source answered HTTP {}", rh.status),
        });
    }
    let cname = format!("ais://{bucket}");
    let local =
        |e: engine::Error| Error::Internal(format!("download {link} -> {cname}/{object}: {e}"));
    let mut w = ObjectWriter::create(mp, &Bck::ais(bucket), object)
        .await
        .map_err(local)?;
    if let Some(n) = body.remaining() {
        w.size_hint(n);
    }
    if let Err(e) = w.set_cksums(opts) {
        w.abort().await;
        return Err(local(e));
    }
    loop {
        let step = futures_lite::future::or(async { Some(body.read(w.spare()).await) }, async {
            aborted(job_id).await;
            None
        })
        .await;
        let n = match step {
            None => {
                w.abort().await;
                return Err(Error::Conflict(format!(
                    "download {link}: job {job_id} was aborted"
                )));
            }
            Some(Err(e)) => {
                w.abort().await;
                return Err(link_err(link, &e.message));
            }
            Some(Ok(n)) => n,
        };
        if n == 0 {
            break;
        }
        if let Err(e) = w.advance(n, |_| {}).await {
            w.abort().await;
            return Err(local(e));
        }
    }
    if is_aborted(job_id) {
        w.abort().await;
        return Err(Error::Conflict(format!(
            "download {link}: job {job_id} was aborted"
        )));
    }
    w.commit(opts).await.map_err(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (s, ms) in [
            ("0", 0),
            ("30s", 30_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1.5h", 5_400_000),
            ("2m", 120_000),
        ] {
            assert_eq!(parse_go_duration(s), Ok(ms), "{s}");
        }
        for s in ["", "s", "10", "1x", "-1s", "1s2"] {
            assert!(parse_go_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn names_of_links() {
        for (link, name) in [
            ("http://h:1/a/b/shard-001.tar", "shard-001.tar"),
            ("http://h/x.tar?sig=1&y=2", "x.tar"),
            ("http://h/dir/", "dir"),
            ("http://h/a%20b.txt", "a b.txt"),
        ] {
            assert_eq!(name_of_link(link).as_deref(), Ok(name), "{link}");
        }
        assert!(name_of_link("/").is_err());
        assert!(normalize_name("../x").is_err());
        assert!(normalize_name("?x").is_err());
    }

    fn start(v: serde_json::Value) -> Result<Start> {
        parse_start(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn start_requests() {
        let s = start(
            serde_json::json!({"type": "range", "bucket": {"name": "b", "provider": "ais"},
            "template": "http://h:8/s-{0..2}.tar", "subdir": "d/"}),
        )
        .unwrap();
        let names: Vec<_> = s.objects.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["d/s-0.tar", "d/s-1.tar", "d/s-2.tar"]);
        assert_eq!(s.objects[2].1, "http://h:8/s-2.tar");
        let s = start(serde_json::json!({"type": "multi", "bucket": {"name": "b"},
            "objects": {"x": "http://h/1", "y": "http://h/2"}, "limits": {"connections": 2}}))
        .unwrap();
        assert_eq!(s.objects.len(), 2);
        assert_eq!(s.connections, 2);
        let s = start(
            serde_json::json!({"type": "single", "bucket": {"name": "b"},
            "link": "http://h/p/q.bin", "timeout": "5s"}),
        )
        .unwrap();
        assert_eq!(
            s.objects,
            [("q.bin".to_string(), "http://h/p/q.bin".to_string())]
        );
        assert_eq!(s.timeout_ms, Some(5000));
        for (v, implemented) in [
            (
                serde_json::json!({"type": "nope", "bucket": {"name": "b"}}),
                true,
            ),
            (serde_json::json!({"bucket": {"name": "b"}}), true),
            (
                serde_json::json!({"type": "single", "bucket": {"name": ""}, "link": "http://h/x"}),
                true,
            ),
            (
                serde_json::json!({"type": "single", "bucket": {"name": "b"}}),
                true,
            ),
            (
                serde_json::json!({"type": "range", "bucket": {"name": "b"}, "template": "http://h/{1..x}"}),
                true,
            ),
            (
                serde_json::json!({"type": "multi", "bucket": {"name": "b"}, "objects": 3}),
                true,
            ),
            (
                serde_json::json!({"type": "single", "bucket": {"name": "b"}, "link": "http://h/x", "bogus": 1}),
                true,
            ),
            (
                serde_json::json!({"type": "single", "bucket": {"name": "b"}, "link": "http://h/x", "timeout": "xs"}),
                true,
            ),
            (
                serde_json::json!({"type": "backend", "bucket": {"name": "b", "provider": "aws"}}),
                false,
            ),
            (
                serde_json::json!({"type": "single", "bucket": {"name": "b"}, "link": "http://h/x", "limits": {"bytes_per_hour": 10}}),
                false,
            ),
        ] {
            match start(v.clone()) {
                Err(Error::BadRequest(_)) if implemented => {}
                Err(Error::NotImplemented(_)) if !implemented => {}
                r => panic!("{v}: {r:?}"),
            }
        }
    }
}
