//! Buckets: list them (`GET /v1/buckets`), and `/v1/buckets/<bucket>`: create (POST
//! `create-bck`), destroy (DELETE), HEAD (props), list objects (GET, `native::listing`).

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{io_err, read_actmsg, send_json, send_ok};
use crate::req::{Outcome, Req};
use cluster::buckets;
use net::api::LsoMsg;
use net::conn::Conn;
use std::rc::Rc;

pub async fn list_buckets(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let msg = read_actmsg(conn, req).await?;
    let filter = msg.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    if let Some(m) = &msg {
        if !m.action.is_empty() && m.action != "list" {
            return Err(ApiError::bad_request(format!(
                "invalid action {:?} for GET /v1/buckets",
                m.action
            )));
        }
    }
    match req.q("provider").unwrap_or("") {
        "" | "ais" => {}
        _ => return send_json(conn, &Vec::<serde_json::Value>::new()).await,
    }
    let bmd = core.bmd();
    let list: Vec<serde_json::Value> = bmd
        .buckets
        .keys()
        .filter(|n| filter.is_empty() || **n == filter)
        .map(|n| serde_json::json!({"name": n, "provider": "ais", "namespace": {"uuid": "", "name": ""}}))
        .collect();
    send_json(conn, &list).await
}

/// `/v1/buckets/<bucket>`: create, destroy, HEAD, list objects.
pub async fn bucket(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
) -> Result<Outcome, ApiError> {
    let cname = buckets::cname(bucket);
    match req.head.method.as_str() {
        "HEAD" => {
            let bmd = core.bmd();
            let props = bmd
                .buckets
                .get(bucket)
                .ok_or_else(|| ApiError::bucket_not_found(&cname))?;
            let js = serde_json::to_string(props).map_err(|e| ApiError::internal(e.to_string()))?;
            conn.respond(200, &[("Ais-Bucket-Props", &js)], b"")
                .await
                .map_err(io_err)?;
            Ok(Outcome::KeepAlive)
        }
        "POST" => {
            let msg = read_actmsg(conn, req).await?.unwrap_or_default();
            match msg.action.as_str() {
                "create-bck" => buckets::create(&core.node, bucket).await?,
                "" => return Err(ApiError::bad_request("missing action in control message")),
                a => {
                    return Err(ApiError::not_implemented(format!(
                        "bucket action {a:?} is not supported by this node"
                    )))
                }
            }
            send_ok(conn).await
        }
        "DELETE" => {
            let msg = read_actmsg(conn, req).await?.unwrap_or_default();
            match msg.action.as_str() {
                "destroy-bck" | "" => buckets::destroy(&core.node, bucket).await?,
                a => {
                    return Err(ApiError::not_implemented(format!(
                        "bucket action {a:?} is not supported by this node"
                    )))
                }
            }
            send_ok(conn).await
        }
        "GET" => {
            let msg = read_actmsg(conn, req).await?.unwrap_or_default();
            if !msg.action.is_empty() && msg.action != "list" {
                return Err(ApiError::bad_request(format!(
                    "invalid action {:?} for GET /v1/buckets/{bucket}",
                    msg.action
                )));
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
        _ => Err(ApiError::method_not_allowed("GET, HEAD, POST, DELETE")),
    }
}
