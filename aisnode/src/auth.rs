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
    authorize_token(core, request_token(req), bck_key, perms)
}

/// [`authorize`] with the token given (an S3 user's, `--s3-keys`).
pub fn authorize_token(
    core: &Core,
    token: Option<&str>,
    bck_key: Option<&str>,
    perms: u64,
) -> Result<(), ApiError> {
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
pub fn request_token(req: &Req) -> Option<&str> {
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
    object_bits(
        req.head.method.as_str(),
        &|k| req.q(k).is_some(),
        req.has_body(),
    )
}

fn object_bits(method: &str, has: &dyn Fn(&str) -> bool, has_body: bool) -> u64 {
    use crate::native::{append, multipart, objects};
    let multipart = has(multipart::QPARAM_UPLOAD_ID) || has(multipart::QPARAM_PART_NUMBER);
    match method {
        "GET" => GET,
        "HEAD" => OBJ_HEAD,
        "POST" => RW,
        "PUT" | "DELETE" if multipart => RW,
        "PUT" if has(append::QPARAM_APPEND_TYPE) => APPEND,
        // A copy reads this object; the destination bucket is checked by the copy.
        "PUT" if has(objects::QPARAM_OBJECT_TO) => GET,
        "PUT" => PUT,
        // A DELETE with a body is a multipart abort.
        "DELETE" if has_body => RW,
        "DELETE" => OBJ_DELETE,
        "PATCH" => OBJ_UPDATE,
        _ => ADMIN,
    }
}

/// What a route needs of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing (`/v1/health`).
    Open,
    /// Be a node of this cluster (intra-cluster control).
    Intra,
    /// Any valid token (`POST /v1/tokens`, itself the validity check).
    Token,
    /// These access bits; with `bucket`, on the request's bucket (its ACL, else the
    /// cluster's), otherwise cluster bits that no bucket ACL grants.
    Bits { perms: u64, bucket: bool },
}

const fn bits(perms: u64) -> Need {
    Need::Bits {
        perms,
        bucket: false,
    }
}

const fn bck_bits(perms: u64) -> Need {
    Need::Bits {
        perms,
        bucket: true,
    }
}

/// Whether deciding the need of `method /v1/resource/rest` takes the body's action message.
pub fn needs_actmsg(method: &str, resource: &str, rest: &str) -> bool {
    match resource {
        "objects" => !rest.contains('/'),
        "buckets" => !rest.trim_end_matches('/').is_empty() && method != "HEAD",
        _ => false,
    }
}

/// What `method /v1/<resource>/<rest>` needs (`q`: its query; `msg`: its action message,
/// read when [`needs_actmsg`]), and the bucket name of the path it is about. AIS's
/// assignment (ais/prxauth.go and the handlers that call it); anything not named here,
/// administration included, needs admin.
pub fn native_need<'a>(
    method: &str,
    resource: &str,
    rest: &'a str,
    has: &dyn Fn(&str) -> bool,
    has_body: bool,
    msg: Option<&ActMsg>,
) -> (Need, Option<&'a str>) {
    let rest_t = rest.trim_end_matches('/');
    let first = rest.split_once('/').map_or(rest_t, |(b, _)| b);
    let none = ActMsg::default();
    let msg = msg.unwrap_or(&none);
    match resource {
        "health" => (Need::Open, None),
        "tokens" if method == "POST" => (Need::Token, None),
        "tokens" => (bits(ADMIN), None),
        "metasync" | "vote" => (Need::Intra, None),
        "cluster" if method == "POST" && matches!(rest_t, "autoreg" | "join") => {
            (Need::Intra, None)
        }
        "cluster" if method == "POST" && rest_t.starts_with("keepalive/") => (Need::Intra, None),
        "objects" if rest.contains('/') => {
            (bck_bits(object_bits(method, has, has_body)), Some(first))
        }
        // Bucket-level object actions (promote, blob download).
        "objects" => {
            let perms = if msg.action == "promote" { PROMOTE } else { RW };
            (bck_bits(perms), Some(rest_t))
        }
        "buckets" if rest_t.is_empty() => (bits(LIST_BUCKETS), None),
        "buckets" if method == "HEAD" => (bck_bits(BCK_HEAD), Some(first)),
        "buckets" => match (method, msg.action.as_str()) {
            // Cluster bits: no bucket ACL can grant them.
            ("POST", "create-bck") => (bits(CREATE_BUCKET), Some(first)),
            ("POST", "move-bck") => (bits(MOVE_BUCKET), Some(first)),
            _ => (bck_bits(bucket_action(method, msg)), Some(first)),
        },
        "daemon" | "cluster" if matches!(method, "GET" | "HEAD") => (bits(SHOW_CLUSTER), None),
        "ml" => match rest.strip_prefix("moss/").filter(|b| !b.is_empty()) {
            Some(b) => (bck_bits(GET), Some(b.trim_end_matches('/'))),
            None => (bits(ADMIN), None),
        },
        // Cluster and node administration, dSort, downloads, ETL, and anything else.
        _ => (bits(ADMIN), None),
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
    let msg = if needs_actmsg(&method, resource, rest) {
        Some(prefetch_actmsg(conn, req).await?)
    } else {
        None
    };
    let (need, bucket) = native_need(
        &method,
        resource,
        rest,
        &|k| req.q(k).is_some(),
        req.has_body(),
        msg.as_ref(),
    );
    match need {
        Need::Open | Need::Token => Ok(()),
        Need::Intra => intra_only(core, req, &method, resource, rest),
        Need::Bits { perms, bucket: on } => {
            let key = match bucket.filter(|_| on) {
                Some(b) => Some(bucket_key(req, b)?),
                None => None,
            };
            authorize(core, req, key.as_deref(), perms)
        }
    }
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
    s3_bits(
        req.head.method.as_str(),
        &|k| req.q(k).is_some(),
        bucket,
        key,
    )
}

fn s3_bits(m: &str, has: &dyn Fn(&str) -> bool, bucket: &str, key: &str) -> u64 {
    if bucket.is_empty() {
        return LIST_BUCKETS;
    }
    if key.is_empty() {
        return match m {
            "PUT" if has("versioning") => PATCH,
            "PUT" => CREATE_BUCKET,
            "DELETE" => DESTROY_BUCKET,
            "HEAD" => BCK_HEAD,
            "POST" if has("delete") => OBJ_DELETE,
            "GET" if has("location") || has("versioning") => BCK_HEAD,
            "GET" => OBJ_LIST,
            _ => ADMIN,
        };
    }
    match m {
        "GET" => GET,
        "HEAD" => OBJ_HEAD,
        "DELETE" if !has("uploadId") => OBJ_DELETE,
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
            if cluster::auth::client_key().is_none() {
                // Nothing to check the tokens with: refused, not taken and dropped.
                return Err(ApiError::bad_request(format!(
                    "cannot revoke tokens: this node has no key for tokens ({} or {})",
                    cluster::auth::ENV_SECRET,
                    cluster::auth::ENV_PUBLIC_KEY
                )));
            }
            authorize(core, req, None, ADMIN)?;
            if cluster::auth::revoke(&all) {
                cluster::auth::persist_revoked(&core.node).await;
            }
            // Every node of the map learns it (a node's own call is not passed on again).
            if req.head.header(cluster::auth::HDR_REVOKE_RELAYED).is_none() {
                cluster::auth::relay_revoked(&core.node, &all).await;
            }
            Ok(())
        }
        _ => Err(ApiError::method_not_allowed("POST, DELETE")),
    }
}

/// Which API a [`Route`] belongs to.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Native,
    S3,
}

/// One route of the route table ([`ROUTES`]): how it is called and what it needs. The
/// placeholders `{bucket}` (an existing bucket), `{new}` (a bucket that does not exist),
/// `{object}` (an existing object) and `{node}` (a target's ID) are filled in by whoever
/// calls it.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub api: Api,
    pub method: &'static str,
    pub path: &'static str,
    /// Query, without `?` (empty: none).
    pub query: &'static str,
    /// JSON body (empty: none).
    pub body: &'static str,
    pub need: Need,
}

#[cfg(test)]
const fn r(
    api: Api,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: &'static str,
    need: Need,
) -> Route {
    Route {
        api,
        method,
        path,
        query,
        body,
        need,
    }
}

#[cfg(test)]
use Api::{Native as N, S3};

/// Every route of the native and S3 APIs with what it needs: the checks themselves
/// ([`native_need`], [`s3_ace`]) are tested against it, `docs/route-table.json` is it as
/// JSON, and the attack suite (`tests/integration/test_attack_matrix.py`) calls each route
/// with every kind of bad credential. A test fails on a resource of `routes.rs` missing here.
#[cfg(test)]
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    r(N, "GET", "/v1/health", "", "", Need::Open),
    r(N, "POST", "/v1/tokens", "", "", Need::Token),
    r(N, "DELETE", "/v1/tokens", "", r#"{"token":"x.y.z"}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/metasync", "", "{}", Need::Intra),
    r(N, "GET", "/v1/vote/proxy", "", "{}", Need::Intra),
    r(N, "PUT", "/v1/vote/init", "", "{}", Need::Intra),
    r(N, "POST", "/v1/cluster/autoreg", "", "{}", Need::Intra),
    r(N, "POST", "/v1/cluster/join", "", "{}", Need::Intra),
    r(N, "POST", "/v1/cluster/keepalive/{node}", "", "{}", Need::Intra),
    r(N, "GET", "/v1/cluster", "what=smap", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/cluster", "what=config", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/cluster", "what=stats", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/cluster", "what=bmd", "", bits(SHOW_CLUSTER)),
    r(N, "HEAD", "/v1/cluster", "", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/daemon", "what=smap", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/daemon", "what=config", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/daemon", "what=jobs", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/daemon", "what=log", "", bits(SHOW_CLUSTER)),
    r(N, "GET", "/v1/daemon", "what=mountpaths", "", bits(SHOW_CLUSTER)),
    r(N, "PUT", "/v1/cluster/set-config", "periodic.stats_time=11s", "", bits(ADMIN)),
    r(N, "PUT", "/v1/cluster/set-config", "auth.client_auth_required=false", "", bits(ADMIN)),
    r(N, "PUT", "/v1/cluster", "", r#"{"action":"start-maintenance","value":{"sid":"{node}"}}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster", "", r#"{"action":"decommission-node","value":{"sid":"{node}"}}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster", "", r#"{"action":"shutdown"}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster", "", r#"{"action":"start","value":{"kind":"rebalance"}}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster", "", r#"{"action":"reset-stats"}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster/proxy/{node}", "", "", bits(ADMIN)),
    r(N, "DELETE", "/v1/cluster/daemon/{node}", "", "", bits(ADMIN)),
    r(N, "PUT", "/v1/cluster/attach", "", r#"{"action":"attach","value":{"alias":"x","url":"http://127.0.0.1:9"}}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster/detach", "", r#"{"action":"detach","value":{"alias":"x"}}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/cluster/load-x509", "", "", bits(ADMIN)),
    r(N, "PUT", "/v1/daemon/load-x509", "", "", bits(ADMIN)),
    r(N, "GET", "/v1/daemon", "what=tls_certificate", "", bits(SHOW_CLUSTER)),
    r(N, "PUT", "/v1/daemon/set-config", "periodic.stats_time=11s", "", bits(ADMIN)),
    r(N, "PUT", "/v1/daemon", "", r#"{"action":"rotate-logs"}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/daemon", "", r#"{"action":"shutdown-node"}"#, bits(ADMIN)),
    r(N, "PUT", "/v1/daemon/mountpaths", "", r#"{"action":"attach-mp","value":"/tmp/nonexistent-mp"}"#, bits(ADMIN)),
    r(N, "DELETE", "/v1/daemon/mountpaths", "", r#"{"action":"detach-mp","value":"/tmp/nonexistent-mp"}"#, bits(ADMIN)),
    r(N, "GET", "/v1/reverse/daemon", "what=smap", "", bits(ADMIN)),
    r(N, "PUT", "/v1/reverse/daemon/set-config", "periodic.stats_time=11s", "", bits(ADMIN)),
    r(N, "PUT", "/v1/reverse/daemon/mountpaths", "", r#"{"action":"attach-mp","value":"/tmp/nonexistent-mp"}"#, bits(ADMIN)),
    r(N, "POST", "/v1/sort/start", "", "{}", bits(ADMIN)),
    r(N, "GET", "/v1/sort/list", "", "", bits(ADMIN)),
    r(N, "POST", "/v1/download", "", r#"{"type":"single","bucket":{"name":"{bucket}","provider":"ais"},"link":"http://127.0.0.1:9/x","object_name":"dl"}"#, bits(ADMIN)),
    r(N, "GET", "/v1/download", "", "", bits(ADMIN)),
    r(N, "GET", "/v1/etl", "", "", bits(ADMIN)),
    r(N, "PUT", "/v1/ec/{bucket}/{object}", "", r#""forged""#, bits(ADMIN)),
    r(N, "GET", "/v1/ml/moss/{bucket}", "", "{}", bck_bits(GET)),
    r(N, "GET", "/v1/objects/{bucket}/{object}", "", "", bck_bits(GET)),
    r(N, "GET", "/ais/{bucket}/{object}", "", "", bck_bits(GET)),
    r(N, "HEAD", "/v1/objects/{bucket}/{object}", "", "", bck_bits(OBJ_HEAD)),
    r(N, "PUT", "/v1/objects/{bucket}/{object}", "", r#""forged""#, bck_bits(PUT)),
    r(N, "PUT", "/v1/objects/{bucket}/{new}", "", r#""forged""#, bck_bits(PUT)),
    r(N, "PUT", "/v1/objects/{bucket}/{object}", "append_type=append", r#""forged""#, bck_bits(APPEND)),
    r(N, "PUT", "/v1/objects/{bucket}/{object}", "object_to=ais/{bucket}/copied", "", bck_bits(GET)),
    r(N, "PUT", "/v1/objects/{bucket}/{object}", "partNumber=1&uploadId=x", r#""forged""#, bck_bits(RW)),
    r(N, "DELETE", "/v1/objects/{bucket}/{object}", "", "", bck_bits(OBJ_DELETE)),
    r(N, "PATCH", "/v1/objects/{bucket}/{object}", "", r#"{"k":"v"}"#, bck_bits(OBJ_UPDATE)),
    r(N, "POST", "/v1/objects/{bucket}/{object}", "", r#"{"action":"rename-obj","name":"renamed"}"#, bck_bits(RW)),
    r(N, "POST", "/v1/objects/{bucket}/{object}", "", r#"{"action":"mpt-upload"}"#, bck_bits(RW)),
    r(N, "POST", "/v1/objects/{bucket}", "", r#"{"action":"promote","name":"/etc","value":{"target":"","recursive":true}}"#, bck_bits(PROMOTE)),
    r(N, "POST", "/v1/objects/{bucket}", "", r#"{"action":"blob-download","name":"{object}"}"#, bck_bits(RW)),
    r(N, "GET", "/v1/buckets", "", "", bits(LIST_BUCKETS)),
    r(N, "GET", "/v1/buckets/", "provider=ais", "", bits(LIST_BUCKETS)),
    r(N, "HEAD", "/v1/buckets/{bucket}", "", "", bck_bits(BCK_HEAD)),
    r(N, "GET", "/v1/buckets/{bucket}", "", r#"{"action":"list","value":{"props":"name,size"}}"#, bck_bits(OBJ_LIST)),
    r(N, "GET", "/v1/buckets/{bucket}", "", r#"{"action":"summary-bck"}"#, bck_bits(OBJ_LIST | BCK_HEAD)),
    r(N, "POST", "/v1/buckets/{new}", "", r#"{"action":"create-bck"}"#, bits(CREATE_BUCKET)),
    r(N, "POST", "/v1/buckets/{bucket}", "", r#"{"action":"move-bck","name":"{new}"}"#, bits(MOVE_BUCKET)),
    r(N, "DELETE", "/v1/buckets/{bucket}", "", r#"{"action":"destroy-bck"}"#, bck_bits(DESTROY_BUCKET)),
    r(N, "DELETE", "/v1/buckets/{bucket}", "", r#"{"action":"delete-listrange","value":{"objnames":["{object}"]}}"#, bck_bits(OBJ_DELETE)),
    r(N, "DELETE", "/v1/buckets/{bucket}", "", r#"{"action":"evict-listrange","value":{"objnames":["{object}"]}}"#, bck_bits(OBJ_DELETE)),
    r(N, "DELETE", "/v1/buckets/{bucket}", "", r#"{"action":"evict-remote-bck"}"#, bck_bits(OBJ_DELETE)),
    r(N, "PATCH", "/v1/buckets/{bucket}", "", r#"{"action":"set-bprops","value":{"mirror":{"enabled":true,"copies":2}}}"#, bck_bits(PATCH)),
    r(N, "PATCH", "/v1/buckets/{bucket}", "", r#"{"action":"set-bprops","value":{"access":"0"}}"#, bck_bits(PATCH | BCK_SET_ACL)),
    r(N, "PATCH", "/v1/buckets/{bucket}", "", r#"{"action":"reset-bprops"}"#, bck_bits(PATCH)),
    r(N, "POST", "/v1/buckets/{bucket}", "", r#"{"action":"copy-bck","name":"{new}"}"#, bck_bits(RW)),
    r(N, "POST", "/v1/buckets/{bucket}", "", r#"{"action":"copy-listrange","name":"{new}","value":{"objnames":["{object}"]}}"#, bck_bits(RW)),
    r(N, "POST", "/v1/buckets/{bucket}", "", r#"{"action":"prefetch-listrange","value":{"objnames":["{object}"]}}"#, bck_bits(RW)),
    r(N, "POST", "/v1/buckets/{bucket}", "", r#"{"action":"make-n-copies","value":2}"#, bck_bits(RW)),
    r(N, "POST", "/v1/buckets/{bucket}", "", r#"{"action":"ec-encode","value":{"data":1,"parity":1}}"#, bck_bits(RW)),
    r(N, "PUT", "/v1/buckets/{bucket}", "", r#"{"action":"archive","value":{"objnames":["{object}"],"archname":"a.tar"}}"#, bck_bits(RW)),
    r(S3, "GET", "/s3", "", "", bck_bits(LIST_BUCKETS)),
    r(S3, "PUT", "/s3/{new}", "", "", bck_bits(CREATE_BUCKET)),
    r(S3, "DELETE", "/s3/{bucket}", "", "", bck_bits(DESTROY_BUCKET)),
    r(S3, "HEAD", "/s3/{bucket}", "", "", bck_bits(BCK_HEAD)),
    r(S3, "GET", "/s3/{bucket}", "", "", bck_bits(OBJ_LIST)),
    r(S3, "GET", "/s3/{bucket}", "list-type=2", "", bck_bits(OBJ_LIST)),
    r(S3, "GET", "/s3/{bucket}", "uploads", "", bck_bits(OBJ_LIST)),
    r(S3, "GET", "/s3/{bucket}", "location", "", bck_bits(BCK_HEAD)),
    r(S3, "GET", "/s3/{bucket}", "versioning", "", bck_bits(BCK_HEAD)),
    r(S3, "PUT", "/s3/{bucket}", "versioning", "", bck_bits(PATCH)),
    r(S3, "POST", "/s3/{bucket}", "delete", "", bck_bits(OBJ_DELETE)),
    r(S3, "GET", "/s3/{bucket}/{object}", "", "", bck_bits(GET)),
    r(S3, "HEAD", "/s3/{bucket}/{object}", "", "", bck_bits(OBJ_HEAD)),
    r(S3, "PUT", "/s3/{bucket}/{object}", "", r#""forged""#, bck_bits(PUT)),
    r(S3, "PUT", "/s3/{bucket}/{new}", "", r#""forged""#, bck_bits(PUT)),
    r(S3, "DELETE", "/s3/{bucket}/{object}", "", "", bck_bits(OBJ_DELETE)),
    r(S3, "POST", "/s3/{bucket}/{object}", "uploads", "", bck_bits(PUT)),
    r(S3, "PUT", "/s3/{bucket}/{object}", "partNumber=1&uploadId=x", r#""forged""#, bck_bits(PUT)),
    r(S3, "POST", "/s3/{bucket}/{object}", "uploadId=x", "", bck_bits(PUT)),
    r(S3, "DELETE", "/s3/{bucket}/{object}", "uploadId=x", "", bck_bits(PUT)),
    r(S3, "GET", "/s3/{bucket}/{object}", "tagging", "", bck_bits(GET)),
];

/// [`ROUTES`] as JSON (`docs/route-table.json`).
#[cfg(test)]
pub fn routes_json() -> serde_json::Value {
    let rows: Vec<serde_json::Value> = ROUTES
        .iter()
        .map(|rt| {
            let (need, perms, bucket) = match rt.need {
                Need::Open => ("open", 0, false),
                Need::Intra => ("intra", 0, false),
                Need::Token => ("token", 0, false),
                Need::Bits { perms, bucket } => ("perms", perms, bucket),
            };
            serde_json::json!({
                "api": if rt.api == Api::Native { "native" } else { "s3" },
                "method": rt.method,
                "path": rt.path,
                "query": rt.query,
                "body": rt.body,
                "need": need,
                "perms": perms,
                "bucket": bucket,
            })
        })
        .collect();
    serde_json::Value::Array(rows)
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

    /// The path, query and body of a table row with its placeholders filled.
    fn fill(s: &str) -> String {
        s.replace("{bucket}", "b")
            .replace("{new}", "nb")
            .replace("{object}", "o")
            .replace("{node}", "t1")
    }

    #[test]
    fn route_table_is_what_the_checks_do() {
        for rt in ROUTES {
            let path = fill(rt.path);
            let query = fill(rt.query);
            let keys: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
                .collect();
            let has = |k: &str| keys.contains(&k);
            let got = match rt.api {
                Api::Native => {
                    let p = path
                        .strip_prefix("/v1/")
                        .or_else(|| path.strip_prefix("/v1"))
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("objects/{}", &path["/ais/".len()..]));
                    let (resource, rest) = p.split_once('/').unwrap_or((p.as_str(), ""));
                    let body = fill(rt.body);
                    let msg: Option<ActMsg> = if needs_actmsg(rt.method, resource, rest) {
                        Some(serde_json::from_str(&body).unwrap_or_default())
                    } else {
                        None
                    };
                    let (need, bucket) = native_need(
                        rt.method,
                        resource,
                        rest,
                        &has,
                        !body.is_empty(),
                        msg.as_ref(),
                    );
                    if let Need::Bits { bucket: true, .. } = need {
                        assert!(bucket.is_some(), "{rt:?}: no bucket in the path");
                    }
                    need
                }
                Api::S3 => {
                    let rest = path.strip_prefix("/s3").unwrap().trim_start_matches('/');
                    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                    bck_bits(s3_bits(rt.method, &has, bucket, key))
                }
            };
            assert_eq!(
                got, rt.need,
                "{} {} ?{} {}",
                rt.method, rt.path, rt.query, rt.body
            );
        }
    }

    /// Every resource `routes.rs` dispatches has rows in [`ROUTES`]: a new route cannot be
    /// left out of the attack suite.
    #[test]
    fn every_resource_of_the_router_is_in_the_table() {
        let src = include_str!("routes.rs");
        let body = &src[src
            .find("match resource.as_str() {")
            .expect("the resource match")..];
        let body = &body[..body.find("\n}\n").expect("end of fn route")];
        let mut resources = std::collections::BTreeSet::new();
        for line in body.lines() {
            let t = line.trim_start();
            if line.len() - t.len() != 8 || !t.starts_with('"') {
                continue;
            }
            // The pattern: up to a guard or the arm's `=>`.
            let pat = t.split(" if ").next().unwrap_or(t);
            let pat = pat.split("=>").next().unwrap_or(pat);
            for part in pat.split('|') {
                let part = part.trim();
                if part.len() > 2 && part.starts_with('"') && part.ends_with('"') {
                    resources.insert(part.trim_matches('"').to_string());
                }
            }
        }
        assert!(resources.len() >= 10, "{resources:?}");
        let mut table = std::collections::BTreeSet::new();
        for r in ROUTES.iter().filter(|r| r.api == Api::Native) {
            let p = r
                .path
                .strip_prefix("/v1/")
                .or(r.path.strip_prefix("/v1"))
                .unwrap_or("");
            table.insert(p.split('/').next().unwrap_or("").to_string());
        }
        let missing: Vec<_> = resources.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "resources of routes.rs without rows in auth::ROUTES: {missing:?}"
        );
        // And the S3 API (routes.rs hands `/s3` to it) has rows for the service, buckets and objects.
        for p in ["/s3", "/s3/{bucket}", "/s3/{bucket}/{object}"] {
            assert!(
                ROUTES.iter().any(|r| r.api == Api::S3 && r.path == p),
                "{p}"
            );
        }
    }

    #[test]
    fn route_table_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/route-table.json");
        let want = serde_json::to_string_pretty(&routes_json()).unwrap() + "\n";
        if std::env::var_os("UPDATE_ROUTE_TABLE").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/route-table.json is stale: run `UPDATE_ROUTE_TABLE=1 cargo test -p aisnode route_table_json`"
        );
    }
}
