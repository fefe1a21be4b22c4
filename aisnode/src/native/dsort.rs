//! `/v1/sort`: dSort (cluster::dsort). On a proxy: `POST` starts a job from AIS's spec JSON
//! (answer: the job ID as text), `GET ?uuid=` its info per target (the SDK's `Dsort.wait` and
//! `get_job_info`), `GET` without it the list, `DELETE /abort?uuid=` aborts, `DELETE ?uuid=`
//! removes a finished job. On a target, the phases the proxy calls: `POST /extract`,
//! `POST /create`.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{read_body, send_json};
use crate::req::{Outcome, Req};
use cluster::dsort;
use cluster::node::Role;
use net::conn::Conn;
use std::rc::Rc;

/// Largest phase request (a target's share of the output plan).
const PHASE_BODY_BYTES_MAX: usize = 256 << 20;

pub async fn handle(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    rest: &str,
) -> Result<Outcome, ApiError> {
    let method = req.head.method.clone();
    let rest = rest.trim_matches('/');
    let role = core.node.cfg.role;
    let is_proxy = role != Role::Target;
    let is_target = role != Role::Proxy;
    match (method.as_str(), rest) {
        ("POST", "") if is_proxy => {
            let body = read_body(conn, req, PHASE_BODY_BYTES_MAX).await?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid dsort spec: {e}")))?;
            // AIS spec fields this node does not act on: refused by name, never ignored.
            for (field, what) in [
                ("ekm_file", "external key maps"),
                ("order_file", "external key maps"),
                ("max_mem_usage", "a memory limit per dsort"),
                ("dsorter_type", "a choice of dsorter"),
                (
                    "extract_concurrency_max_limit",
                    "an extraction concurrency limit",
                ),
                (
                    "create_concurrency_max_limit",
                    "a creation concurrency limit",
                ),
                ("config", "per-job dsort config"),
            ] {
                let set = match v.get(field) {
                    None | Some(serde_json::Value::Null) => false,
                    Some(serde_json::Value::String(x)) => !x.is_empty(),
                    Some(serde_json::Value::Number(n)) => n.as_f64() != Some(0.0),
                    Some(serde_json::Value::Object(o)) => !o.is_empty(),
                    Some(_) => true,
                };
                if set {
                    return Err(ApiError::not_implemented(format!(
                        "dsort spec: {field} ({what}) is not supported by this node"
                    )));
                }
            }
            let spec = dsort::parse_spec(&v).map_err(ApiError::bad_request)?;
            if !core.bmd().buckets.contains_key(spec.input_bck.as_str()) {
                return Err(ApiError::new(
                    404,
                    format!("bucket \"ais://{}\" does not exist", spec.input_bck),
                ));
            }
            if core.smap().tmap.is_empty() {
                return Err(ApiError::new(503, "dsort: no targets in the cluster map"));
            }
            // As AIS: a missing output bucket is created with the input bucket's props.
            dsort::create_output_bucket(&core.node, &spec).await?;
            let id = dsort::start(&core.node, spec);
            conn.respond(200, &[("Content-Type", "text/plain")], id.as_bytes())
                .await
                .map_err(crate::reply::io_err)?;
            Ok(Outcome::KeepAlive)
        }
        ("GET", "") if is_proxy => match req.q("uuid").filter(|u| !u.is_empty()) {
            Some(id) => match dsort::info(id) {
                Some(v) => send_json(conn, &v).await,
                None => Err(ApiError::new(
                    404,
                    format!("dsort job {id:?} does not exist"),
                )),
            },
            None => {
                if req.q("regex").is_some_and(|r| !r.is_empty()) {
                    return Err(ApiError::not_implemented(
                        "GET /v1/sort?regex=: filtering dsort jobs by regex is not supported by this node",
                    ));
                }
                let mut all = dsort::list();
                if req.q_true("only_active") {
                    if let serde_json::Value::Array(v) = &mut all {
                        v.retain(|j| j["finish_time"] == "" && j["aborted"] == false);
                    }
                }
                send_json(conn, &all).await
            }
        },
        ("DELETE", "abort") if is_proxy => {
            let id = req.q("uuid").unwrap_or("").to_string();
            if !dsort::abort(&id) {
                return Err(ApiError::new(
                    404,
                    format!("dsort job {id:?} does not exist"),
                ));
            }
            send_json(conn, &serde_json::json!({})).await
        }
        ("DELETE", "") if is_proxy => {
            let id = req.q("uuid").unwrap_or("").to_string();
            dsort::remove(&id).map_err(|e| {
                if e.contains("does not exist") {
                    ApiError::new(404, e)
                } else {
                    ApiError::bad_request(e)
                }
            })?;
            send_json(conn, &serde_json::json!({})).await
        }
        ("POST", "extract") if is_target => {
            let body = read_body(conn, req, PHASE_BODY_BYTES_MAX).await?;
            let spec: dsort::Spec = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid dsort phase request: {e}")))?;
            let r = dsort::extract(&core.node, &spec).await?;
            send_json(conn, &r).await
        }
        ("POST", "create") if is_target => {
            let body = read_body(conn, req, PHASE_BODY_BYTES_MAX).await?;
            let r: dsort::CreateReq = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid dsort phase request: {e}")))?;
            let done = dsort::create(&core.node, &r).await?;
            send_json(conn, &done).await
        }
        (m, r) => Err(ApiError::not_implemented(format!(
            "{m} /v1/sort/{r} is not supported by this {}",
            if is_proxy { "proxy" } else { "target" }
        ))),
    }
}
