//! Layer 5: who may do what (issue 18). With the cluster config's `auth.client_auth_required`
//! every client request carries an AuthN token (`cluster::auth`) whose permissions cover what
//! the request does: the access bits of each route are here, as AIS's proxy assigns them
//! (ais/prxauth.go and the handlers that call it). A missing or invalid token is 401, a
//! token without the permission 403; either way nothing runs.
//!
//! Checked: every request a proxy (or a `--role all` node's public port) takes, and on a
//! target every request that neither a proxy signed (a redirect's `sig`, a forward's
//! `Ais-Forward-Sig`: `cluster::auth`) nor a node sent with its own token. So a client that
//! reaches a target's ports directly, with or without a forged `pid`/`utm`, is checked like
//! one at the proxy. The intra-cluster control endpoints (metasync, vote, keepalive, join)
//! take nodes only. Not checked: `/v1/health` and `/metrics`.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{parse_json, read_body, CONTROL_BODY_BYTES_MAX};
use crate::req::{Listener, Req, HDR_DIRECT};
use cluster::meta::access::*;
use cluster::node::Role;
use net::api::ActMsg;
use net::conn::Conn;

/// Authentication is on in the cluster config.
pub fn enabled(core: &Core) -> bool {
    core.config().cluster.auth.required()
}

/// A request to check (authentication, and the bucket `access` prop): every request a proxy
/// (or a single node's public port) takes, whatever its query says; on a target, everything
/// but what a node of this cluster checked or sent. With the cluster key (`cluster::auth`)
/// that is a redirect or forward the proxy signed, or a call carrying a node's own token; a
/// bare `pid`/`utm` proves nothing. Without a key nothing can be verified (and authentication
/// cannot be on): a redirect marker is taken at its word, as AIS's targets take it, and only
/// direct requests (`Ais-Direct`) are checked. `path` is the decoded path.
pub fn client_facing(core: &Core, req: &Req, path: &str) -> bool {
    if matches!(
        (core.node.cfg.role, req.listener),
        (Role::Proxy | Role::All, Listener::Public)
    ) {
        return true;
    }
    if cluster::auth::secret().is_none() {
        return !req.redirected() || req.head.header(HDR_DIRECT).is_some();
    }
    let m = req.head.method.as_str();
    let q = req.head.query.as_str();
    !(cluster::auth::redirect_signed(m, path, q, req.q("utm"))
        || cluster::auth::forward_signed(
            m,
            path,
            q,
            req.head.header(cluster::auth::HDR_FORWARD_SIG),
        )
        || cluster::auth::from_node(req.head.header("authorization")))
}

/// Check that the request's token grants `perms` (on bucket `bck_key` for bucket bits).
pub fn authorize(
    core: &Core,
    req: &Req,
    bck_key: Option<&str>,
    perms: u64,
) -> Result<(), ApiError> {
    let token = request_token(req);
    let uuid = core.smap().uuid.clone();
    let bck = bck_key.map(|k| {
        let (provider, name) = engine::layout::split_key(k);
        (name, provider)
    });
    cluster::auth::check(token, &uuid, bck, perms)
        .map(|_| ())
        .map_err(|d| ApiError::new(d.status, d.message))
}

/// The token a request carries (`Authorization: Bearer`, or S3's `X-Amz-Security-Token`).
fn request_token(req: &Req) -> Option<&str> {
    cluster::auth::token_of(
        req.head.header("authorization"),
        req.head.header("x-amz-security-token"),
    )
}

/// The bits an action on a bucket needs (`POST|PUT|PATCH|DELETE|GET /v1/buckets/B`).
fn bucket_action(method: &str, msg: &ActMsg) -> u64 {
    match (method, msg.action.as_str()) {
        ("POST", "create-bck") => CREATE_BUCKET,
        ("POST", "move-bck") => MOVE_BUCKET,
        ("DELETE", "destroy-bck") => DESTROY_BUCKET,
        ("DELETE", _) => OBJ_DELETE,
        ("PATCH", _) => {
            let acl = msg.value.get("access").is_some();
            PATCH | if acl { BCK_SET_ACL } else { 0 }
        }
        ("GET", "summary-bck") => OBJ_LIST | BCK_HEAD,
        ("GET", _) => OBJ_LIST,
        // Copies, archives, prefetch, mirroring, EC, index jobs: read-write on the bucket.
        _ => RW,
    }
}

/// The object bits of `PUT|GET|HEAD|DELETE|PATCH|POST /v1/objects/B/O` (also used for
/// the bucket `access` prop without authentication).
pub fn object_ace(req: &Req) -> u64 {
    let multipart = req.q(crate::native::multipart::QPARAM_UPLOAD_ID).is_some()
        || req
            .q(crate::native::multipart::QPARAM_PART_NUMBER)
            .is_some();
    match req.head.method.as_str() {
        "GET" => GET,
        "HEAD" => OBJ_HEAD,
        "POST" => RW,
        "PUT" | "DELETE" if multipart => RW,
        "PUT" if req.q(crate::native::append::QPARAM_APPEND_TYPE).is_some() => APPEND,
        // A copy reads this object; the destination bucket is checked by the copy.
        "PUT" if req.q(crate::native::objects::QPARAM_OBJECT_TO).is_some() => GET,
        "PUT" => PUT,
        // A DELETE with a body is a multipart abort.
        "DELETE" if req.has_body() => RW,
        "DELETE" => OBJ_DELETE,
        "PATCH" => OBJ_UPDATE,
        _ => ADMIN,
    }
}

/// Authorize a native API request by its route, before its handler. `bucket_key` maps a
/// bucket name of the path to its key (provider, namespace). Bucket actions are read first
/// (the handler gets the same bytes) so that the action decides.
pub async fn route(
    core: &Core,
    conn: &mut Conn,
    req: &mut Req,
    resource: &str,
    rest: &str,
    bucket_key: impl Fn(&Req, &str) -> Result<String, ApiError>,
) -> Result<(), ApiError> {
    let method = req.head.method.clone();
    let rest_t = rest.trim_end_matches('/');
    let (perms, bck): (u64, Option<String>) = match resource {
        // Each handles its own: tokens (revocation needs admin, validation any token).
        "health" | "tokens" => return Ok(()),
        // Intra-cluster control: nodes only (their calls carry a node token and never get
        // here); an admin user is still refused.
        "metasync" | "vote" => return intra_only(core, req, &method, resource, rest),
        "cluster" if method == "POST" && matches!(rest_t, "autoreg" | "join") => {
            return intra_only(core, req, &method, resource, rest)
        }
        "cluster" if method == "POST" && rest_t.starts_with("keepalive/") => {
            return intra_only(core, req, &method, resource, rest)
        }
        "objects" => match rest.split_once('/') {
            Some((b, _)) => (object_ace(req), Some(bucket_key(req, b)?)),
            // Bucket-level object actions (promote, blob download).
            None => {
                let msg = prefetch_actmsg(conn, req).await?;
                let perms = if msg.action == "promote" { PROMOTE } else { RW };
                (perms, Some(bucket_key(req, rest_t)?))
            }
        },
        "buckets" if rest_t.is_empty() => (LIST_BUCKETS, None),
        "buckets" => {
            let name = match rest.split_once('/') {
                Some((b, _)) => b,
                None => rest_t,
            };
            let key = bucket_key(req, name)?;
            let perms = match method.as_str() {
                "HEAD" => BCK_HEAD,
                m => {
                    let msg = prefetch_actmsg(conn, req).await?;
                    if m == "POST" && matches!(msg.action.as_str(), "create-bck" | "move-bck") {
                        // Cluster bits: no bucket ACL can grant them.
                        return authorize(core, req, None, bucket_action(m, &msg));
                    }
                    bucket_action(m, &msg)
                }
            };
            (perms, Some(key))
        }
        "daemon" | "cluster" if matches!(method.as_str(), "GET" | "HEAD") => (SHOW_CLUSTER, None),
        "ml" => match rest.strip_prefix("moss/").filter(|b| !b.is_empty()) {
            Some(b) => (GET, Some(bucket_key(req, b.trim_end_matches('/'))?)),
            None => (ADMIN, None),
        },
        // Cluster and node administration, dSort, downloads, ETL, and anything else.
        _ => (ADMIN, None),
    };
    authorize(core, req, bck.as_deref(), perms)
}

/// An intra-cluster endpoint called by a client: 401 without a valid token, else 403.
fn intra_only(
    core: &Core,
    req: &Req,
    method: &str,
    resource: &str,
    rest: &str,
) -> Result<(), ApiError> {
    if cluster::auth::from_node(req.head.header("authorization")) {
        return Ok(());
    }
    authorize(core, req, None, ADMIN)?;
    Err(ApiError::new(
        403,
        format!("{method} /v1/{resource}/{rest}: an intra-cluster endpoint, for nodes of this cluster only"),
    ))
}

/// The request's action message, read now and kept for the handler (`Req::prefetched`).
async fn prefetch_actmsg(conn: &mut Conn, req: &mut Req) -> Result<ActMsg, ApiError> {
    let body = read_body(conn, req, CONTROL_BODY_BYTES_MAX).await?;
    let msg = parse_json(&body)?.unwrap_or_default();
    req.prefetched = Some(body);
    Ok(msg)
}

/// The bits of an S3 request (bucket `bucket`, empty for the service; `key` empty for
/// bucket requests).
pub fn s3_ace(req: &Req, bucket: &str, key: &str) -> u64 {
    let m = req.head.method.as_str();
    if bucket.is_empty() {
        return LIST_BUCKETS;
    }
    if key.is_empty() {
        return match m {
            "PUT" if req.q("versioning").is_some() => PATCH,
            "PUT" => CREATE_BUCKET,
            "DELETE" => DESTROY_BUCKET,
            "HEAD" => BCK_HEAD,
            "POST" if req.q("delete").is_some() => OBJ_DELETE,
            "GET" if req.q("location").is_some() || req.q("versioning").is_some() => BCK_HEAD,
            "GET" => OBJ_LIST,
            _ => ADMIN,
        };
    }
    match m {
        "GET" => GET,
        "HEAD" => OBJ_HEAD,
        "DELETE" if req.q("uploadId").is_none() => OBJ_DELETE,
        _ => PUT,
    }
}

/// `DELETE /v1/tokens` (revoke; admin) and `POST /v1/tokens` (is this token valid here).
pub async fn tokens(core: &Core, conn: &mut Conn, req: &mut Req) -> Result<(), ApiError> {
    #[derive(serde::Deserialize)]
    struct TokenList {
        #[serde(default)]
        tokens: Vec<String>,
        #[serde(default)]
        token: String,
    }
    match req.head.method.as_str() {
        "POST" => {
            let _ = read_body(conn, req, CONTROL_BODY_BYTES_MAX).await?;
            let token = request_token(req).ok_or_else(|| ApiError::new(401, "token required"))?;
            cluster::auth::validate(token)
                .map(|_| ())
                .map_err(|d| ApiError::new(d.status, d.message))
        }
        "DELETE" => {
            let body = read_body(conn, req, CONTROL_BODY_BYTES_MAX).await?;
            let list: TokenList = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid token list: {e}")))?;
            let mut all = list.tokens;
            if !list.token.is_empty() {
                all.push(list.token);
            }
            if all.is_empty() {
                return Err(ApiError::bad_request("empty token list"));
            }
            if cluster::auth::secret().is_none() {
                // Nothing to check the tokens with: refused, not taken and dropped.
                return Err(ApiError::bad_request(format!(
                    "cannot revoke tokens: this node has no signing key ({})",
                    cluster::auth::ENV_SECRET
                )));
            }
            authorize(core, req, None, ADMIN)?;
            cluster::auth::revoke(&all);
            // Every node of the map learns it (a node's own call is not passed on again).
            if req.head.header(cluster::auth::HDR_REVOKE_RELAYED).is_none() {
                cluster::auth::relay_revoked(&core.node, &all).await;
            }
            Ok(())
        }
        _ => Err(ApiError::method_not_allowed("POST, DELETE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_actions_map_to_ais_bits() {
        let m = |a: &str, v: serde_json::Value| ActMsg {
            action: a.into(),
            value: v,
            ..Default::default()
        };
        let null = serde_json::Value::Null;
        assert_eq!(
            bucket_action("POST", &m("create-bck", null.clone())),
            CREATE_BUCKET
        );
        assert_eq!(
            bucket_action("DELETE", &m("destroy-bck", null.clone())),
            DESTROY_BUCKET
        );
        assert_eq!(
            bucket_action("DELETE", &m("delete-listrange", null.clone())),
            OBJ_DELETE
        );
        assert_eq!(bucket_action("POST", &m("copy-bck", null.clone())), RW);
        assert_eq!(
            bucket_action(
                "PATCH",
                &m("set-bprops", serde_json::json!({"access": "1"}))
            ),
            PATCH | BCK_SET_ACL
        );
        assert_eq!(
            bucket_action("PATCH", &m("set-bprops", serde_json::json!({}))),
            PATCH
        );
        assert_eq!(bucket_action("GET", &m("", null)), OBJ_LIST);
    }
}
