//! Job (xaction) commands: `ais job ls` (`GET /v1/cluster?what=jobs`, one flat list over every
//! target, grouped here by job ID), `ais job wait` (polls `what=status` for the end and
//! `what=qryxstats` for the counters), `ais job stop` and `ais job start`.
//!
//! `ais job wait` exits 1 when the job was aborted or reports an error, and when `--timeout`
//! passes first.

use crate::api::Api;
use crate::args::parse_bucket;
use crate::bucket::bucket_target;
use crate::cli::{JobStartCmd, JobWaitArgs};
use crate::error::{Error, Result};
use crate::format::{duration, emit, size, Table, Units};
use crate::progress::Progress;
use std::time::{Duration, Instant};

/// One job summed over the targets that run it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JobSum {
    pub id: String,
    pub kind: String,
    pub bucket: String,
    pub objects: u64,
    pub bytes: u64,
    pub errors: u64,
    pub running: bool,
    pub aborted: bool,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Group `what=jobs` entries (one per job per target) by job ID, oldest first.
pub fn group_jobs(list: &[serde_json::Value]) -> Vec<JobSum> {
    let mut out: Vec<JobSum> = Vec::new();
    for j in list {
        let id = j["id"].as_str().unwrap_or("").to_owned();
        let i = if let Some(i) = out.iter().position(|s| s.id == id) {
            i
        } else {
            out.push(JobSum {
                id,
                kind: j["kind"].as_str().unwrap_or("").to_owned(),
                bucket: j["bck"]["name"]
                    .as_str()
                    .map(|b| format!("ais://{b}"))
                    .unwrap_or_default(),
                start_ns: i64::MAX,
                ..JobSum::default()
            });
            out.len() - 1
        };
        let s = &mut out[i];
        s.objects += j["objects"].as_u64().unwrap_or(0);
        s.bytes += j["bytes"].as_u64().unwrap_or(0);
        s.errors += j["errors"].as_u64().unwrap_or(0);
        s.running |= j["finished"] == false;
        s.aborted |= j["aborted"] == true;
        s.start_ns = s.start_ns.min(j["start_time_ns"].as_i64().unwrap_or(0));
        s.end_ns = s.end_ns.max(j["end_time_ns"].as_i64().unwrap_or(0));
    }
    out.sort_by_key(|s| s.start_ns);
    out
}

fn state(s: &JobSum) -> &'static str {
    if s.aborted {
        "aborted"
    } else if s.running {
        "running"
    } else {
        "finished"
    }
}

fn ns_duration(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

/// `ais job ls [KIND] [--all] [--json]`
pub async fn ls(
    api: &mut Api,
    kind: Option<&str>,
    all: bool,
    json: bool,
    units: Units,
) -> Result<()> {
    let v = api.get_json("/v1/cluster?what=jobs", &[]).await?;
    let list = v.as_array().cloned().unwrap_or_default();
    let jobs: Vec<JobSum> = group_jobs(&list)
        .into_iter()
        .filter(|s| kind.is_none_or(|k| s.kind == k) && (all || s.running))
        .collect();
    if json {
        let keep: Vec<&serde_json::Value> = list
            .iter()
            .filter(|j| jobs.iter().any(|s| j["id"] == s.id.as_str()))
            .collect();
        let s = serde_json::to_string_pretty(&keep).expect("JSON values serialize");
        return emit(&format!("{s}\n"));
    }
    if jobs.is_empty() {
        return emit(if all {
            "No jobs\n"
        } else {
            "No running jobs (--all: finished ones too)\n"
        });
    }
    let now = net::time::now_unix_ns();
    let mut t = Table::new(&["ID", "KIND", "BUCKET", "OBJECTS", "BYTES", "STATE", "TIME"]);
    for s in &jobs {
        let end = if s.running || s.end_ns == 0 {
            now
        } else {
            s.end_ns
        };
        t.row(vec![
            s.id.clone(),
            s.kind.clone(),
            if s.bucket.is_empty() {
                "-".into()
            } else {
                s.bucket.clone()
            },
            s.objects.to_string(),
            size(s.bytes, units),
            state(s).to_owned(),
            duration(ns_duration(end - s.start_ns)),
        ]);
    }
    emit(&t.render(true))
}

/// Counters of job `id` summed over the targets: (kind, objects, bytes, errors).
async fn counters(api: &mut Api, id: &str) -> Result<(String, u64, u64, u64)> {
    let v = api
        .get_json_with("/v1/cluster?what=qryxstats", &serde_json::json!({"ID": id}))
        .await?;
    let (mut kind, mut objs, mut bytes, mut errs) = (String::new(), 0, 0, 0);
    for snaps in v.as_object().into_iter().flat_map(|m| m.values()) {
        for s in snaps.as_array().into_iter().flatten() {
            if kind.is_empty() {
                kind = s["kind"].as_str().unwrap_or("").to_owned();
            }
            objs += s["stats"]["loc-objs"].as_u64().unwrap_or(0);
            bytes += s["stats"]["loc-bytes"].as_u64().unwrap_or(0);
            errs += s["errors"].as_u64().unwrap_or(0);
        }
    }
    Ok((kind, objs, bytes, errs))
}

/// `ais job wait ID [--timeout T] [--refresh R]`
pub async fn wait(api: &mut Api, a: &JobWaitArgs) -> Result<()> {
    let started = Instant::now();
    let progress = Progress::spinner();
    let mut last_line = String::new();
    let result = loop {
        let st = api
            .get_json_with("/v1/cluster?what=status", &serde_json::json!({"ID": a.id}))
            .await;
        let st = match st {
            Ok(s) => s,
            Err(e) => break Err(e),
        };
        let (kind, objs, bytes, errs) = match counters(api, &a.id).await {
            Ok(c) => c,
            Err(e) => break Err(e),
        };
        let line = format!(
            "{kind}[{}]: {objs} objects, {}, errors: {errs}",
            a.id,
            size(bytes, Units::Iec)
        );
        if line != last_line {
            progress.line(line.clone());
            last_line = line;
        }
        let end = st["end_time"].as_i64().unwrap_or(0);
        if end != 0 {
            let aborted = st["aborted"] == true;
            let err = st["err"].as_str().unwrap_or("").to_owned();
            break Ok((kind, objs, bytes, aborted, err));
        }
        if let Some(t) = a.timeout {
            if started.elapsed() >= t {
                progress.finish();
                return Err(Error::Failed(format!(
                    "timed out after {} waiting for job {} (still running)",
                    duration(t),
                    a.id
                )));
            }
        }
        glommio::timer::sleep(a.refresh).await;
    };
    progress.finish();
    let (kind, objs, bytes, aborted, err) = result?;
    let took = duration(started.elapsed());
    if aborted || !err.is_empty() {
        let why = if err.is_empty() {
            String::new()
        } else {
            format!(": {err}")
        };
        return Err(Error::Failed(format!(
            "job {kind}[{}] {}{why} ({objs} objects, {})",
            a.id,
            if aborted { "was aborted" } else { "failed" },
            size(bytes, Units::Iec)
        )));
    }
    emit(&format!(
        "Job {kind}[{}] finished: {objs} objects, {} (waited {took})\n",
        a.id,
        size(bytes, Units::Iec)
    ))
}

/// `ais job stop ID`
pub async fn stop(api: &mut Api, id: &str) -> Result<()> {
    // Unknown IDs are an error (the stop itself answers 200 for anything).
    let st = api
        .get_json_with("/v1/cluster?what=status", &serde_json::json!({"ID": id}))
        .await?;
    if st["end_time"].as_i64().unwrap_or(0) != 0 {
        return emit(&format!("Job {id} already finished\n"));
    }
    api.act(
        "PUT",
        "/v1/cluster",
        &[],
        "stop",
        &serde_json::json!({"ID": id}),
    )
    .await?;
    emit(&format!("Stopped job {id}\n"))
}

/// `ais job start rebalance|resilver|mirror`
pub async fn start(api: &mut Api, cmd: &JobStartCmd) -> Result<()> {
    let r = match cmd {
        JobStartCmd::Rebalance => {
            api.act(
                "PUT",
                "/v1/cluster",
                &[],
                "start",
                &serde_json::json!({"Kind": "rebalance"}),
            )
            .await?
        }
        JobStartCmd::Resilver { node } => {
            let v = serde_json::json!({"Kind": "resilver", "DaemonID": node.clone().unwrap_or_default()});
            api.act("PUT", "/v1/cluster", &[], "start", &v).await?
        }
        JobStartCmd::Mirror { bucket, copies } => {
            let bck = parse_bucket(bucket)?;
            api.act(
                "POST",
                &bucket_target(&bck),
                &[],
                "make-n-copies",
                &serde_json::json!(copies),
            )
            .await?
        }
    };
    let xid = r.text();
    emit(&format!(
        "Started job {xid} (to wait: ais job wait {xid})\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jobs_grouped_per_id_over_targets() {
        let list = vec![
            json!({"id": "a", "kind": "rebalance", "objects": 2, "bytes": 10, "finished": true, "start_time_ns": 5, "end_time_ns": 9}),
            json!({"id": "b", "kind": "make-n-copies", "bck": {"name": "x"}, "objects": 1, "bytes": 1, "finished": false, "start_time_ns": 7}),
            json!({"id": "a", "kind": "rebalance", "objects": 3, "bytes": 5, "finished": true, "aborted": true, "start_time_ns": 4, "end_time_ns": 12}),
        ];
        let g = group_jobs(&list);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].id.as_str(), g[0].objects, g[0].bytes), ("a", 5, 15));
        assert!(g[0].aborted && !g[0].running);
        assert_eq!((g[0].start_ns, g[0].end_ns), (4, 12));
        assert_eq!((g[1].bucket.as_str(), g[1].running), ("ais://x", true));
        assert_eq!(state(&g[1]), "running");
    }
}
