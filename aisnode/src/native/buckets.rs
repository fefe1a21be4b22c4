//! Buckets: list them (`GET /v1/buckets`), and `/v1/buckets/<bucket>`: create (POST
//! `create-bck`), destroy (DELETE `destroy-bck`), HEAD (props; bucket info), list objects
//! (GET `list`, `native::listing`), bucket summary (GET `summary-bck`), multi-object jobs
//! and bucket copy/move (`cluster::multiobj`: DELETE `delete-listrange`, POST
//! `copy-listrange`, `copy-bck`, `move-bck`, PUT `archive`; the body is the job's ID), the
//! shard index (`cluster::shardidx`: POST `index-shard`, GET `summary-shard`). Known
//! actions this node does not implement answer 501 (`native::audit`); unknown ones 400, as
//! in AIS.

use super::audit::{self, Endpoint};
use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{io_err, read_actmsg, send_json, send_ok};
use crate::req::{Outcome, Req};
use cluster::meta::access;
use cluster::{buckets, multiobj, shardidx};
use net::api::{ActMsg, LsoMsg};
use net::conn::Conn;
use std::rc::Rc;

/// Query parameter of HEAD bucket asking for bucket info (AIS `bsumm_remote`).
const QPARAM_BINFO: &str = "bsumm_remote";
/// Query parameter naming the destination of `copy-bck` and `move-bck` (a bucket uname).
const QPARAM_BCK_TO: &str = "bck_to";
/// AIS `presence` filter values: 0..=5; 5 = exists outside the cluster only.
const FLT_EXISTS_OUTSIDE: u8 = 5;

/// The presence filter (`presence=`), if any.
fn presence(req: &Req) -> Result<Option<u8>, ApiError> {
    match req.q("presence") {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= FLT_EXISTS_OUTSIDE)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("invalid presence filter {v:?}"))),
    }
}

/// AIS's answer to an action it does not know.
fn invalid_action(action: &str) -> ApiError {
    ApiError::bad_request(format!("invalid action {action:?}"))
}

pub async fn list_buckets(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let msg = read_actmsg(conn, req).await?;
    let filter = msg.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let action = msg.as_ref().map(|m| m.action.as_str()).unwrap_or("");
    if !matches!(action, "" | "list" | "summary-bck") {
        audit::check_action(Endpoint::Bucket, "GET", action)?;
        return Err(invalid_action(action));
    }
    // Every ais:// bucket is present in the cluster: none "exists outside" only.
    let outside_only = presence(req)? == Some(FLT_EXISTS_OUTSIDE);
    // `provider` selects (none: all); remote buckets are listed once in the BMD (added on
    // first access), as AIS lists them with "present" buckets.
    let want = req
        .q("provider")
        .filter(|p| !p.is_empty())
        .map(engine::layout::normalize_provider);
    let bmd = core.bmd();
    let names: Vec<&String> = bmd
        .buckets
        .keys()
        .filter(|k| {
            let (p, n) = engine::layout::split_key(k);
            want.is_none_or(|w| w == p) && !outside_only && (filter.is_empty() || n == filter)
        })
        .collect();
    if action == "summary-bck" {
        let value = msg.map(|m| m.value).unwrap_or_default();
        let (uuid, prefix) = summary_args(&value)?;
        let names = names.into_iter().cloned().collect();
        return summary_round(core, conn, names, uuid, prefix).await;
    }
    let list: Vec<serde_json::Value> = names
        .into_iter()
        .map(|k| {
            let (p, n) = engine::layout::split_key(k);
            serde_json::json!({"name": n, "provider": p, "namespace": {"uuid": "", "name": ""}})
        })
        .collect();
    send_json(conn, &list).await
}

/// `uuid` and `prefix` of a `BsummCtrlMsg`.
fn summary_args(v: &serde_json::Value) -> Result<(String, String), ApiError> {
    if !(v.is_null() || v.is_object()) {
        return Err(ApiError::bad_request(format!(
            "invalid bucket-summary message {v}"
        )));
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    // A trailing `*` matches everything, as in AIS.
    let prefix = s("prefix");
    Ok((
        s("uuid"),
        prefix.strip_suffix('*').unwrap_or(&prefix).to_string(),
    ))
}

/// A bucket summary as AIS runs it: the first request (no `uuid`) starts it and answers 202
/// with its ID as text; asked with the ID, 202 while it runs, then 200 with
/// `[BsummResult]`. A target asked directly (a proxy adding up the targets) answers its own
/// share at once.
async fn summary_round(
    core: &Rc<Core>,
    conn: &mut Conn,
    names: Vec<String>,
    uuid: String,
    prefix: String,
) -> Result<Outcome, ApiError> {
    if core.node.cfg.role == cluster::node::Role::Target {
        let mut all = Vec::new();
        for n in &names {
            all.push(buckets::summary(&core.node, &core.smap(), n, &prefix).await?);
        }
        return send_json(conn, &all).await;
    }
    if uuid.is_empty() {
        let id = buckets::start_summary(&core.node, names, prefix);
        return send_polled(conn, Some(id), None).await;
    }
    let done = buckets::poll_summary(&uuid)?
        .map(|all| serde_json::to_vec(&all))
        .transpose()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    send_polled(conn, None, done).await
}

/// A step of AIS's start-then-poll protocol: 202 with the new ID as text (`started`), 202
/// while it runs, 200 with the JSON result (`done`).
async fn send_polled(
    conn: &mut Conn,
    started: Option<String>,
    done: Option<Vec<u8>>,
) -> Result<Outcome, ApiError> {
    let (status, ctype, body) = match (started, done) {
        (Some(id), _) => (202, "text/plain", id.into_bytes()),
        (None, Some(js)) => (200, "application/json", js),
        (None, None) => (202, "text/plain", Vec::new()),
    };
    conn.respond(status, &[("Content-Type", ctype)], &body)
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `/v1/buckets/<bucket>[/<prefix>]`: `prefix` only with HEAD (bucket info of a prefix).
pub async fn bucket(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    prefix: &str,
) -> Result<Outcome, ApiError> {
    let cname = buckets::cname(bucket);
    let method = req.head.method.clone();
    match method.as_str() {
        "HEAD" => head(core, conn, req, bucket, prefix).await,
        "POST" => {
            let msg = read_actmsg(conn, req).await?.unwrap_or_default();
            match msg.action.as_str() {
                "create-bck" if cluster::remote::is_remote(bucket) => {
                    return Err(ApiError::not_implemented(format!(
                        "create-bck of remote bucket {cname}: creating buckets on a backend is not supported (an existing one is added on first access)"
                    )));
                }
                "create-bck" => buckets::create(&core.node, bucket, &msg.value).await?,
                cluster::remote::ACT_ADD_REMOTE_BCK if cluster::remote::is_remote(bucket) => {
                    cluster::remote::add_to_bmd(&core.node, bucket).await?;
                }
                "make-n-copies" => {
                    let copies = parse_copies(&msg.value)?;
                    let xid = buckets::make_n_copies(&core.node, bucket, copies).await?;
                    return send_text(conn, &xid).await;
                }
                "ec-encode" => {
                    // Every ec-encode checks and repairs (AIS's "recover" is the same job).
                    if !matches!(msg.name.as_str(), "" | "recover") {
                        return Err(ApiError::bad_request(format!(
                            "ec-encode: invalid name {:?} (expected \"\" or \"recover\")",
                            msg.name
                        )));
                    }
                    let xid = buckets::ec_encode(&core.node, bucket, &msg.value).await?;
                    return send_text(conn, &xid).await;
                }
                shardidx::KIND => {
                    let xid = shardidx::start(&core.node, bucket, &msg.value).await?;
                    return send_text(conn, &xid).await;
                }
                a @ (multiobj::KIND_COPY
                | multiobj::KIND_COPY_BCK
                | multiobj::KIND_MOVE_BCK
                | multiobj::KIND_PREFETCH) => {
                    return start_job(core, conn, req, "POST", bucket, a, &msg.value).await;
                }
                "" => return Err(ApiError::bad_request("missing action in control message")),
                a => {
                    audit::check_action(Endpoint::Bucket, "POST", a)?;
                    return Err(invalid_action(a));
                }
            }
            send_ok(conn).await
        }
        "DELETE" => {
            // AIS refuses a bucket DELETE without a control message (it cannot unmarshal
            // one) or without an action: only `destroy-bck` destroys.
            let Some(msg) = read_actmsg(conn, req).await? else {
                return Err(ApiError::bad_request(format!(
                    "DELETE {cname}: missing control message (to destroy the bucket: {{\"action\": \"destroy-bck\"}})"
                )));
            };
            match msg.action.as_str() {
                "destroy-bck" => {
                    core.check_access(bucket, access::DESTROY_BUCKET)?;
                    buckets::destroy(&core.node, bucket).await?;
                }
                // A remote bucket leaves the cluster: its cached objects and its BMD entry go,
                // the backend keeps everything (AIS `evict-remote-bck`).
                "evict-remote-bck" if cluster::remote::is_remote(bucket) => {
                    core.check_access(bucket, access::OBJ_DELETE)?;
                    // The SDK sends Python's `str(bool)`: "True"/"False".
                    if req
                        .q("keep_bck_md")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
                    {
                        return Err(ApiError::not_implemented(
                            "evict-remote-bck with keep_bck_md (keep the bucket's metadata) is not supported by this node",
                        ));
                    }
                    buckets::destroy(&core.node, bucket).await?;
                }
                "evict-remote-bck" => {
                    return Err(ApiError::bad_request(format!(
                        "evict-remote-bck: {cname} is not a remote bucket"
                    )));
                }
                multiobj::KIND_DELETE | multiobj::KIND_EVICT => {
                    let a = msg.action.clone();
                    return start_job(core, conn, req, "DELETE", bucket, &a, &msg.value).await;
                }
                a => {
                    audit::check_action(Endpoint::Bucket, "DELETE", a)?;
                    return Err(invalid_action(a));
                }
            }
            send_ok(conn).await
        }
        "GET" => {
            let msg = read_actmsg(conn, req).await?.unwrap_or_default();
            match msg.action.as_str() {
                "" | "list" => {}
                "summary-bck" => return summary(core, conn, bucket, &msg).await,
                shardidx::SUMMARY => return shard_summary(core, conn, bucket, &msg).await,
                a => {
                    audit::check_action(Endpoint::Bucket, "GET", a)?;
                    return Err(invalid_action(a));
                }
            }
            if !core.bmd().buckets.contains_key(bucket) {
                return Err(ApiError::bucket_not_found(&cname));
            }
            let lso: LsoMsg = if msg.value.is_null() {
                LsoMsg::default()
            } else {
                serde_json::from_value(msg.value).map_err(|e| {
                    ApiError::bad_request(format!("invalid list-objects message: {e}"))
                })?
            };
            super::listing::list_objects(core, conn, req, bucket, &lso).await
        }
        "PATCH" | "PUT" => {
            let msg = read_actmsg(conn, req).await?.ok_or_else(|| {
                ApiError::bad_request(format!("{method} {cname}: missing control message"))
            })?;
            match msg.action.as_str() {
                // AIS answers the started job's ID as the body (empty: none started).
                "set-bprops" | "reset-bprops" if method == "PATCH" => {
                    let xid = buckets::set_props(&core.node, bucket, &msg.action, &msg.value)
                        .await?
                        .unwrap_or_default();
                    send_text(conn, &xid).await
                }
                multiobj::KIND_ARCHIVE if method == "PUT" => {
                    start_job(
                        core,
                        conn,
                        req,
                        "PUT",
                        bucket,
                        multiobj::KIND_ARCHIVE,
                        &msg.value,
                    )
                    .await
                }
                a => {
                    audit::check_action(Endpoint::Bucket, &method, a)?;
                    Err(invalid_action(a))
                }
            }
        }
        _ => Err(ApiError::method_not_allowed(
            "GET, HEAD, POST, DELETE, PATCH, PUT",
        )),
    }
}

/// Start a multi-object job or a bucket copy/move (`cluster::multiobj`); 200 with its ID.
async fn start_job(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    method: &str,
    bucket: &str,
    action: &str,
    value: &serde_json::Value,
) -> Result<Outcome, ApiError> {
    let bck_to = req.q(QPARAM_BCK_TO).map(str::to_string);
    let xid = multiobj::start(&core.node, method, bucket, action, value, bck_to.as_deref()).await?;
    send_text(conn, &xid).await
}

/// The number of copies of a `make-n-copies` message: a JSON number or a numeric string.
fn parse_copies(v: &serde_json::Value) -> Result<i64, ApiError> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        ApiError::bad_request(format!(
            "make-n-copies: invalid number of copies {v} (expected a number)"
        ))
    })
}

/// 200 with a plain-text body (a job ID, or empty), as AIS writes `writeXid`.
async fn send_text(conn: &mut Conn, text: &str) -> Result<Outcome, ApiError> {
    conn.respond(
        200,
        &[("Content-Type", "text/plain; charset=utf-8")],
        text.as_bytes(),
    )
    .await
    .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `GET /v1/buckets/<bucket>` `summary-bck` (the SDK's `Bucket.summary`).
async fn summary(
    core: &Rc<Core>,
    conn: &mut Conn,
    bucket: &str,
    msg: &ActMsg,
) -> Result<Outcome, ApiError> {
    let (uuid, prefix) = summary_args(&msg.value)?;
    if !core.bmd().buckets.contains_key(bucket) {
        return Err(ApiError::bucket_not_found(&buckets::cname(bucket)));
    }
    summary_round(core, conn, vec![bucket.to_string()], uuid, prefix).await
}

/// `GET /v1/buckets/<bucket>` `summary-shard` (AIS `api.GetBucketShardSummary`): on a
/// target its own counts at once; on a proxy or the all-in-one node 202 with the summary's ID
/// first, then, asked with `uuid`, 202 while it runs and 200 with the `ShardSummResult`.
async fn shard_summary(
    core: &Rc<Core>,
    conn: &mut Conn,
    bucket: &str,
    msg: &ActMsg,
) -> Result<Outcome, ApiError> {
    let (uuid, prefix) = shardidx::summary_args(&msg.value)?;
    if !core.bmd().buckets.contains_key(bucket) {
        return Err(ApiError::bucket_not_found(&buckets::cname(bucket)));
    }
    if core.node.cfg.role == cluster::node::Role::Target {
        let s = shardidx::summary(&core.node, bucket, &prefix).await?;
        return send_json(conn, &s.to_json()).await;
    }
    if uuid.is_empty() {
        let id = shardidx::start_summary(&core.node, bucket, &prefix);
        return send_polled(conn, Some(id), None).await;
    }
    let done = buckets::poll_summary(&uuid)?
        .map(|all| serde_json::to_vec(&all.into_iter().next().unwrap_or_default()))
        .transpose()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    send_polled(conn, None, done).await
}

/// HEAD `/v1/buckets/<bucket>[/<prefix>]`: props in `Ais-Bucket-Props`; with `bsumm_remote`
/// also bucket info (the SDK's `Bucket.info`): 202 with `Ais-Xaction-Id` first, then, asked
/// with `uuid=<that ID>`, 202 while the summary runs and 200 with `Ais-Bucket-Summ`.
async fn head(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
    prefix: &str,
) -> Result<Outcome, ApiError> {
    let cname = buckets::cname(bucket);
    presence(req)?;
    let binfo = req.q(QPARAM_BINFO).is_some();
    if !prefix.is_empty() && !binfo {
        return Err(ApiError::bad_request(format!(
            "invalid URL '{}': expecting just the bucket name, got '{bucket}' and '{prefix}'",
            req.head.path
        )));
    }
    let js = {
        let bmd = core.bmd();
        let props = bmd
            .buckets
            .get(bucket)
            .ok_or_else(|| ApiError::bucket_not_found(&cname))?;
        serde_json::to_string(props).map_err(|e| ApiError::internal(e.to_string()))?
    };
    let mut headers: Vec<(&str, String)> = vec![("Ais-Bucket-Props", js)];
    let mut status = 200;
    if binfo {
        let uuid = req.q("uuid").unwrap_or("").to_string();
        if core.node.cfg.role == cluster::node::Role::Target {
            let info = buckets::summary(&core.node, &core.smap(), bucket, prefix).await?;
            headers.push(("Ais-Bucket-Summ", info.to_string()));
        } else if uuid.is_empty() {
            status = 202;
            let names = vec![bucket.to_string()];
            let id = buckets::start_summary(&core.node, names, prefix.to_string());
            headers.push(("Ais-Xaction-Id", id));
        } else {
            match buckets::poll_summary(&uuid)? {
                None => status = 202,
                Some(all) => {
                    let info = all.into_iter().next().unwrap_or_default();
                    headers.push(("Ais-Bucket-Summ", info.to_string()));
                }
            }
            headers.push(("Ais-Xaction-Id", uuid));
        }
    }
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    conn.respond(status, &hs, b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}
