//! `/v1/download`: the downloader (cluster::download). On a proxy: `POST` starts a job from
//! AIS's `dload.Body` (answer `{"id": "dnl-..."}`), `GET` with an `id` its `StatusResp`,
//! without one the list (`regex`, `only_active_tasks`), `DELETE /abort` and `DELETE /remove`
//! (the ID and flags in AIS's `AdminBody` JSON body, or in the query). On a target, what the
//! proxy calls: `POST /fetch` downloads one link into the object this core owns, `DELETE
//! /fetch?id=` stops a job's downloads in flight.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{read_body, send_json};
use crate::req::{Outcome, Req};
use cluster::download::{self, Admin, FetchReq, Fetched};
use cluster::node::Role;
use engine::object::PutOpts;
use net::conn::Conn;
use std::rc::Rc;

/// Largest admin request body (an ID, a regex).
const ADMIN_BODY_BYTES_MAX: usize = 64 * 1024;

/// The admin fields: the JSON body AIS's Go client sends, else the query (`id`, `regex`,
/// `only_active_tasks`).
async fn admin(conn: &mut Conn, req: &mut Req) -> Result<Admin, ApiError> {
    let body = read_body(conn, req, ADMIN_BODY_BYTES_MAX).await?;
    let mut a: Admin = if body.iter().all(u8::is_ascii_whitespace) {
        Admin::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid download admin body: {e}")))?
    };
    if a.id.is_empty() {
        a.id = req.q("id").unwrap_or("").to_string();
    }
    if a.regex.is_empty() {
        a.regex = req.q("regex").unwrap_or("").to_string();
    }
    a.only_active |= req.q_true("only_active_tasks") || req.q_true("only_active");
    if !a.id.is_empty() && !a.regex.is_empty() {
        return Err(ApiError::bad_request(format!(
            "regex {:?} and job ID {:?} cannot be defined together (choose one or the other)",
            a.regex, a.id
        )));
    }
    Ok(a)
}

fn require_id(a: &Admin) -> Result<&str, ApiError> {
    if a.id.is_empty() {
        return Err(ApiError::bad_request("download job ID (id) not specified"));
    }
    Ok(&a.id)
}

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
            let body = read_body(conn, req, download::START_BODY_BYTES_MAX).await?;
            let st = download::parse_start(&body)?;
            if !core.bmd().buckets.contains_key(st.bucket.as_str()) {
                return Err(ApiError::new(
                    404,
                    format!("bucket \"ais://{}\" does not exist", st.bucket),
                ));
            }
            if core.smap().tmap.is_empty() {
                return Err(ApiError::new(
                    503,
                    "download: no targets in the cluster map",
                ));
            }
            let id = download::start(&core.node, st);
            send_json(conn, &serde_json::json!({ "id": id })).await
        }
        ("GET", "") if is_proxy => {
            let a = admin(conn, req).await?;
            if a.id.is_empty() {
                send_json(conn, &download::list(&a.regex, a.only_active)?).await
            } else {
                send_json(conn, &download::status(&a.id, a.only_active)?).await
            }
        }
        ("DELETE", "abort") if is_proxy => {
            let a = admin(conn, req).await?;
            download::abort(&core.node, require_id(&a)?).await?;
            send_json(conn, &serde_json::json!({})).await
        }
        ("DELETE", "remove") if is_proxy => {
            let a = admin(conn, req).await?;
            download::remove(require_id(&a)?)?;
            send_json(conn, &serde_json::json!({})).await
        }
        ("POST", "fetch") if is_target => {
            let bucket = req.q("bucket").unwrap_or("").to_string();
            let object = req.q("object").unwrap_or("").to_string();
            let id = req.q("id").unwrap_or("").to_string();
            if bucket.is_empty() || object.is_empty() || id.is_empty() {
                return Err(ApiError::bad_request(
                    "download fetch: missing id, bucket or object",
                ));
            }
            let (cksum_type, versioning) =
                core.with_props(&bucket, |p| (p.checksum.ty.clone(), p.versioning.enabled))?;
            let (mp, owner) = core.owner(&bucket, &object);
            if owner != core.id {
                return Ok(Outcome::Handoff(owner));
            }
            let body = read_body(conn, req, download::FETCH_BODY_BYTES_MAX).await?;
            let fr: FetchReq = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid download fetch: {e}")))?;
            let opts = PutOpts {
                cksum_type,
                client_cksum: None,
                skip_vc: false,
                custom: Vec::new(),
                versioning,
                fsync: core.node.cfg.fsync,
                keep_version: None,
                keep_mtime_ns: None,
                no_replace: false,
                require: None,
            };
            let res = download::fetch(&id, &mp, &bucket, &object, &fr, &opts).await?;
            if res.changed {
                let tname = core.node.tname();
                let cname = format!("ais://{bucket}");
                core.mirror_after_put(&mp, &bucket, &object)
                    .await
                    .map_err(|e| ApiError::from_engine(e, &tname, &cname, &object))?;
                core.ec_after_put(&mp, &bucket, &object).await?;
            }
            send_json(conn, &Fetched { size: res.lom.size }).await
        }
        ("DELETE", "fetch") if is_target => {
            let id = req.q("id").unwrap_or("");
            if id.is_empty() {
                return Err(ApiError::bad_request("download abort: missing id"));
            }
            download::abort_local(id);
            send_json(conn, &serde_json::json!({})).await
        }
        (m, r) => Err(ApiError::not_implemented(format!(
            "{m} /v1/download/{r} is not supported by this {}",
            if is_proxy { "proxy" } else { "target" }
        ))),
    }
}
