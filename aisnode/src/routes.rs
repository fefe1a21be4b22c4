//! Layer 5: the route table. Maps `/v1/<resource>/...`, the easy URL `/ais/<bucket>/<object>`
//! and `/s3/...` to the handlers of the native API (`native`) and of S3 (`s3`), by node role
//! and listener.

use crate::core::Core;
use crate::error::ApiError;
use crate::native::{self, audit, buckets, daemon, objects, redirect};
use crate::req::{Listener, Outcome, Req};
use cluster::meta::placement;
use cluster::node::Role;
use net::conn::Conn;
use net::http;
use std::rc::Rc;

/// An S3 request; `path` is decoded and starts with `/s3`. S3 clients do not follow
/// redirects for uploads: a proxy streams object requests through to the owning target core
/// and serves bucket requests itself.
async fn s3(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    path: &str,
) -> Result<Outcome, ApiError> {
    if crate::auth::enabled(core) && crate::auth::client_facing(core, req, path) {
        let rest = path
            .strip_prefix("/s3")
            .unwrap_or("")
            .trim_start_matches('/');
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let perms = crate::auth::s3_ace(req, bucket, key);
        let bck = (!bucket.is_empty()).then_some(bucket);
        // A token (`X-Amz-Security-Token`, AIS's way), else the one of the user whose access
        // key signed the request (`--s3-keys`).
        let token = match crate::auth::request_token(req) {
            Some(t) => Some(t.to_string()),
            None => match crate::s3::auth::key_token(core, req) {
                Ok(t) => t,
                Err(e) => return Ok(crate::s3::send_error(core, conn, req, e).await),
            },
        };
        if let Err(e) = crate::auth::authorize_token(core, token.as_deref(), bck, perms) {
            let e = net::s3::S3Error::new(net::s3::S3ErrorCode::AccessDenied, e.message);
            return Ok(crate::s3::send_error(core, conn, req, e).await);
        }
    }
    if core.node.cfg.role == Role::Proxy {
        let rest = path
            .strip_prefix("/s3")
            .unwrap_or("")
            .trim_start_matches('/');
        if let Some((bucket, key)) = rest.split_once('/') {
            if !key.is_empty()
                && engine::name::validate_bucket(bucket).is_ok()
                && engine::name::validate_object(key).is_ok()
            {
                let Some(url) = placement::owner(&core.smap(), bucket, key).map(|o| o.url) else {
                    return Err(ApiError::new(503, "no targets in the cluster map"));
                };
                return crate::forward::forward(conn, req, &url, &core.node.proxy_id).await;
            }
        }
    }
    Ok(crate::s3::handle(core, conn, req, path).await)
}

/// Route by path: `/v1/<resource>/...` and the easy URL `/ais/<bucket>/<object>`.
pub async fn route(core: &Rc<Core>, conn: &mut Conn, req: &mut Req) -> Result<Outcome, ApiError> {
    let raw = req.head.path.clone();
    let path = http::percent_decode_path(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid URL path {raw:?}: {e}")))?;
    if path == "/metrics" {
        return daemon::metrics(core, conn, req).await;
    }
    let (resource, rest) = if let Some(r) = path.strip_prefix("/v1/") {
        match r.split_once('/') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (r.to_string(), String::new()),
        }
    } else if let Some(r) = path.strip_prefix("/ais/") {
        ("objects".to_string(), r.to_string())
    } else if path == "/s3" || path.starts_with("/s3/") {
        return s3(core, conn, req, &path).await;
    } else if core.node.cfg.s3_via_root {
        // AIS's S3-API-via-Root: `/<bucket>/<key>` is `/s3/<bucket>/<key>`.
        return s3(core, conn, req, &format!("/s3{path}")).await;
    } else {
        return Err(ApiError::new(
            404,
            format!("invalid URL path {raw:?}: expected /v1/<resource>/..."),
        ));
    };
    // Whether a node of this cluster checked or sent the request (a signature or token check,
    // done at most once per request).
    let facing = std::cell::OnceCell::new();
    let client_facing =
        |req: &Req| *facing.get_or_init(|| crate::auth::client_facing(core, req, &path));
    if crate::auth::enabled(core) && client_facing(req) {
        crate::auth::route(core, conn, req, &resource, &rest, |r, b| {
            bucket_key(core, r, b)
        })
        .await?;
    }
    let method = req.head.method.as_str();
    let role = core.node.cfg.role;
    match resource.as_str() {
        "health" => daemon::health(core, conn, req).await,
        "tokens" => {
            crate::auth::tokens(core, conn, req).await?;
            crate::reply::send_ok(conn).await
        }
        "sort" => native::dsort::handle(core, conn, req, &rest).await,
        "download" => native::download::handle(core, conn, req, &rest).await,
        "metasync" if method == "PUT" => native::cluster::metasync(core, conn, req).await,
        "vote" if role != Role::All => native::cluster::vote(core, conn, req, &rest).await,
        "cluster" if method == "PUT" && rest.trim_end_matches('/') == "set-config" => {
            if role == Role::Target {
                return Err(ApiError::bad_request(
                    "PUT /v1/cluster/set-config goes to a proxy, not a target",
                ));
            }
            if !core.node.is_primary() {
                return native::cluster::forward_to_primary(core, conn, req).await;
            }
            native::config::set_query(core, conn, req, native::config::Scope::Cluster).await
        }
        "cluster"
            if method == "PUT"
                && role == Role::All
                && matches!(rest.trim_end_matches('/'), "attach" | "detach") =>
        {
            let a = if rest.starts_with("attach") {
                "attach"
            } else {
                "detach"
            };
            native::cluster::remote_ais(core, conn, req, a).await
        }
        "cluster" if method == "PUT" && x509_path(&rest).is_some() => {
            let id = x509_path(&rest).flatten();
            native::x509::load_cluster(core, conn, req, id).await
        }
        "daemon" if method == "PUT" && rest.trim_end_matches('/') == "load-x509" => {
            native::x509::load_daemon(core, conn, req).await
        }
        "cluster" if method == "PUT" && rest.is_empty() && role == Role::All => {
            // Job start/stop (maintenance actions answer that this is the only target).
            native::cluster::action(core, conn, req).await
        }
        "cluster" if method != "GET" && method != "HEAD" => {
            if role == Role::All {
                return Err(ApiError::not_implemented(format!("{method} /v1/cluster/{rest}: single-process node (--role all) has no cluster membership")));
            }
            if !core.node.is_primary() {
                if role == Role::Target {
                    return Err(ApiError::bad_request(format!(
                        "{method} /v1/cluster/{rest} goes to a proxy, not a target"
                    )));
                }
                return native::cluster::forward_to_primary(core, conn, req).await;
            }
            let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
            match (method, parts.as_slice()) {
                ("POST", ["autoreg"]) | ("POST", ["join"]) => {
                    native::cluster::autoreg(core, conn, req).await
                }
                ("POST", ["keepalive", id]) => {
                    native::cluster::keepalive(core, conn, req, id).await
                }
                ("DELETE", ["daemon", id]) => native::cluster::leave(core, conn, req, id).await,
                ("PUT", ["proxy", id]) => native::cluster::set_primary(core, conn, req, id).await,
                ("PUT", [a @ ("attach" | "detach")]) => {
                    native::cluster::remote_ais(core, conn, req, a).await
                }
                ("PUT", []) => native::cluster::action(core, conn, req).await,
                _ => Err(ApiError::not_implemented(format!(
                    "{method} /v1/cluster/{rest} is not supported by this node"
                ))),
            }
        }
        "daemon" if rest.trim_end_matches('/') == "mountpaths" && method != "GET" => {
            native::mountpaths::handle(core, conn, req).await
        }
        "daemon" if method == "PUT" && rest.trim_end_matches('/') == "set-config" => {
            native::config::set_query(core, conn, req, native::config::Scope::Node).await
        }
        "daemon" if method == "PUT" && rest.is_empty() => {
            native::config::daemon_put(core, conn, req).await
        }
        "reverse" if rest.trim_end_matches('/') == "daemon/mountpaths" => {
            if role != Role::Proxy {
                return native::mountpaths::handle(core, conn, req).await;
            }
            // AIS's api.AttachMountpath & co. go through a proxy: on to the target named
            // by Ais-Node-Id.
            let id = req.head.header("ais-node-id").unwrap_or("").to_string();
            let smap = core.smap();
            let Some(t) = smap.tmap.get(&id) else {
                return Err(ApiError::new(
                    404,
                    format!(
                        "target {id:?} (Ais-Node-Id) is not in Smap v{}",
                        smap.version
                    ),
                ));
            };
            let url = t.intra_control_net.direct_url.clone();
            crate::forward::forward(conn, req, &url, &core.node.proxy_id).await
        }
        "reverse" if rest.trim_end_matches('/') == "daemon" || rest == "daemon/set-config" => {
            reverse_daemon(core, conn, req, &rest).await
        }
        "daemon" | "cluster" => daemon::query(core, conn, req, &resource, &rest).await,
        "buckets" => {
            if rest.is_empty() {
                match method {
                    "GET" => buckets::list_buckets(core, conn, req).await,
                    _ => Err(ApiError::method_not_allowed("GET")),
                }
            } else {
                // HEAD /v1/buckets/B/<prefix>: bucket info of a prefix (AIS `Bucket.info`).
                let (bucket, prefix) = match rest.split_once('/') {
                    Some((b, p)) if method == "HEAD" => (b, p.strip_suffix('*').unwrap_or(p)),
                    _ => (rest.trim_end_matches('/'), ""),
                };
                engine::name::validate_bucket(bucket)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let key = bucket_key(core, req, bucket)?;
                if cluster::remote::is_remote(&key) && role != Role::Target {
                    cluster::remote::ensure_bucket(&core.node, &key).await?;
                }
                buckets::bucket(core, conn, req, &key, prefix).await
            }
        }
        "ec" if role != Role::Proxy => {
            // Intra-cluster: slices of erasure-coded objects (native::ec).
            let Some((bucket, object)) = rest.split_once('/') else {
                return Err(ApiError::bad_request(format!(
                    "missing object name in {raw:?}"
                )));
            };
            engine::name::validate_bucket(bucket)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            engine::name::validate_object(object)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            if !req.redirected() {
                return Err(ApiError::bad_request(format!(
                    "{method} /v1/ec/{rest}: an intra-cluster endpoint (missing pid/utm)"
                )));
            }
            if !core.bmd().buckets.contains_key(bucket)
                && !cluster::membership::refresh_bmd_for(&core.node, bucket).await
            {
                return Err(ApiError::bucket_not_found(&format!("ais://{bucket}")));
            }
            let (mp, owner) = core.owner(bucket, object);
            if owner != core.id {
                return Ok(Outcome::Handoff(owner));
            }
            native::ec::handle(core, conn, req, mp, bucket, object).await
        }
        "objects" => {
            let Some((bucket, object)) = rest.split_once('/') else {
                if method == "POST" && !rest.is_empty() {
                    // Bucket-level object actions (promote, blob-download).
                    let msg = crate::reply::read_actmsg(conn, req)
                        .await?
                        .unwrap_or_default();
                    let bucket = rest.trim_end_matches('/');
                    if msg.action == native::promote::ACT_PROMOTE {
                        engine::name::validate_bucket(bucket)
                            .map_err(|e| ApiError::bad_request(e.to_string()))?;
                        let key = bucket_key(core, req, bucket)?;
                        if cluster::remote::is_remote(&key) {
                            return Err(ApiError::not_implemented(format!(
                                "promote into remote bucket {} is not supported by this node",
                                cluster::buckets::cname(&key)
                            )));
                        }
                        return native::promote::handle(core, conn, bucket, msg).await;
                    }
                    if msg.action == native::blob::ACT_BLOB_DOWNLOAD {
                        engine::name::validate_bucket(bucket)
                            .map_err(|e| ApiError::bad_request(e.to_string()))?;
                        let key = bucket_key(core, req, bucket)?;
                        return native::blob::handle(core, conn, &key, msg).await;
                    }
                    audit::check_action(audit::Endpoint::ObjectsBucket, "POST", &msg.action)?;
                }
                return Err(ApiError::bad_request(format!(
                    "missing object name in {raw:?}"
                )));
            };
            engine::name::validate_bucket(bucket)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let key = bucket_key(core, req, bucket)?;
            let bucket = key.as_str();
            // Clients of the native API get AIS's name rules; node-to-node calls (redirected,
            // rebalance, get-from-neighbour) also carry names stored through S3.
            if req.redirected() {
                engine::name::validate_object(object)
            } else {
                engine::name::validate_native_object(object)
            }
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
            if !matches!(method, "GET" | "PUT" | "HEAD" | "DELETE" | "PATCH" | "POST") {
                return Err(ApiError::method_not_allowed(
                    "GET, PUT, HEAD, DELETE, PATCH, POST",
                ));
            }
            let mut known = core.bmd().buckets.contains_key(bucket)
                || (role == Role::Target
                    && cluster::membership::refresh_bmd_for(&core.node, bucket).await);
            if !known && role != Role::Target && cluster::remote::is_remote(bucket) {
                // A remote bucket is added on first access (AIS `add-remote-bck`).
                cluster::remote::ensure_bucket(&core.node, bucket).await?;
                known = true;
            }
            if !known {
                return Err(ApiError::bucket_not_found(&cluster::buckets::cname(bucket)));
            }
            // A bucket being renamed takes no writes (cluster::multiobj): refused, never lost.
            if !matches!(method, "GET" | "HEAD")
                && !req.q_true("rebalance")
                && core
                    .with_props(bucket, cluster::multiobj::renaming)
                    .unwrap_or(false)
            {
                return Err(ApiError::new(
                    409,
                    format!(
                        "{} is being renamed (move-bck): {method} {object} refused until the job ends",
                        cluster::buckets::cname(bucket)
                    ),
                ));
            }
            let ace = crate::auth::object_ace(req);
            if ace & !cluster::meta::access::ALWAYS_ALLOWED != 0 && client_facing(req) {
                // A client's request (on a proxy's port, whatever its query, or routed
                // directly): the bucket's `access` prop decides; what a proxy redirected was
                // checked there.
                core.check_access(bucket, ace)?;
            }
            if role == Role::Proxy {
                let Some(url) = placement::owner(&core.smap(), bucket, object).map(|o| o.url)
                else {
                    return Err(ApiError::new(
                        503,
                        format!(
                            "no targets in the cluster map (Smap v{}) to serve {bucket}/{object}",
                            core.smap().version
                        ),
                    ));
                };
                return redirect::redirect(core, conn, req, redirect::RedirectTo::Url(url)).await;
            }
            let (mp, owner) = core.owner(bucket, object);
            if role == Role::All && req.listener == Listener::Public && !req.redirected() {
                return redirect::redirect(core, conn, req, redirect::RedirectTo::Core(owner))
                    .await;
            }
            if owner != core.id {
                return Ok(Outcome::Handoff(owner));
            }
            if (req.listener == Listener::Core || role == Role::Target) && !req.redirected() {
                if let Some(v) = req.head.header(HDR_DIRECT) {
                    if !v.eq_ignore_ascii_case("true") {
                        return Err(ApiError::bad_request(format!(
                            "invalid {HDR_DIRECT} {v:?}: the only value is \"true\" (docs/direct.md)"
                        )));
                    }
                    // A client routing by the cluster map itself (docs/direct.md): only the
                    // owner in this node's map may take it.
                    check_direct_owner(core, bucket, object)?;
                } else if !matches!(method, "GET" | "HEAD") {
                    return Err(ApiError::bad_request(format!(
                        "{}: {method} {bucket}/{object} is expected to be redirected (missing pid/utm; or route it yourself with the {HDR_DIRECT} header, see docs/direct.md)",
                        core.node.tname()
                    )));
                }
            }
            objects::object(core, conn, req, mp, bucket, object).await
        }
        "ml" => native::ml::handle(core, conn, req, &rest).await,
        _ => {
            audit::check_resource(&resource)?;
            Err(ApiError::new(
                404,
                format!("unknown resource /v1/{resource}"),
            ))
        }
    }
}

/// `/v1/reverse/daemon` (AIS's per-node API through any proxy, the node named by
/// `Ais-Node-Id`): GET queries are answered by that node's `GET /v1/daemon` (this node's if it
/// is the one named); PUT `set-config` and `reset-config` change that node's override
/// (`native::config`); other per-node admin actions are refused by name.
async fn reverse_daemon(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    rest: &str,
) -> Result<Outcome, ApiError> {
    let method = req.head.method.clone();
    let id = req.head.header("ais-node-id").unwrap_or("").to_string();
    match method.as_str() {
        "GET" => {}
        "PUT" => {
            let node = &core.node;
            if id.is_empty() {
                // Name the action first (a refused one is 501 with or without a node).
                if rest != "daemon/set-config" {
                    let msg = crate::reply::require_actmsg(conn, req).await?;
                    if !native::config::is_config_action(&msg.action) {
                        audit::check_action(audit::Endpoint::ReverseDaemon, "PUT", &msg.action)?;
                        return Err(ApiError::bad_request(format!(
                            "invalid action {:?}",
                            msg.action
                        )));
                    }
                }
                return Err(ApiError::bad_request(
                    "/v1/reverse/daemon: missing node ID (header Ais-Node-Id)",
                ));
            }
            if id == node.target_id || id == node.proxy_id {
                return native::config::reverse_put_here(core, conn, req, rest).await;
            }
            if node.cfg.role != Role::Proxy {
                return Err(cluster::Error::NodeNotFound {
                    id,
                    smap_version: core.smap().version,
                }
                .into());
            }
            // Another node's: relayed to it below (it answers as the node named).
        }
        _ => return Err(ApiError::method_not_allowed("GET, PUT")),
    }
    if id.is_empty() {
        return Err(ApiError::bad_request(
            "/v1/reverse/daemon: missing node ID (header Ais-Node-Id)",
        ));
    }
    let node = &core.node;
    if id == node.target_id || id == node.proxy_id || node.cfg.role != Role::Proxy {
        if id != node.target_id && id != node.proxy_id {
            return Err(cluster::Error::NodeNotFound {
                id,
                smap_version: core.smap().version,
            }
            .into());
        }
        return daemon::query(core, conn, req, "daemon", "").await;
    }
    let smap = core.smap();
    let Some(sn) = smap.tmap.get(&id).or_else(|| smap.pmap.get(&id)) else {
        return Err(cluster::Error::NodeNotFound {
            id,
            smap_version: smap.version,
        }
        .into());
    };
    let url = sn.intra_control_net.direct_url.clone();
    crate::forward::forward(conn, req, &url, &core.node.proxy_id).await
}

/// The bucket key (`engine::layout::bucket_key`) of bucket `name` with the request's
/// `provider` (`s3` is `aws`): the name of an AIS bucket, `aws:<name>` of a remote one.
/// Providers without a backend here, and namespaces other than the global one, are refused.
fn bucket_key(core: &Core, req: &Req, name: &str) -> Result<String, ApiError> {
    let provider = engine::layout::normalize_provider(req.q("provider").unwrap_or(""));
    cluster::remote::check_provider(provider)?;
    // `ais://@alias/b` (namespace `@alias#`): a bucket of an attached remote AIS cluster.
    if let Some(alias) = req
        .q("namespace")
        .and_then(|ns| ns.strip_prefix('@'))
        .map(|ns| ns.trim_end_matches('#'))
        .filter(|a| !a.is_empty() && !a.contains('#') && provider == "ais")
    {
        if !core
            .node
            .config
            .load()
            .cluster
            .backend
            .ais
            .contains_key(alias)
        {
            return Err(ApiError::new(
                404,
                format!("remote AIS cluster {alias:?} is not attached (PUT /v1/cluster/attach)"),
            ));
        }
        return Ok(engine::layout::bucket_key(
            &format!("{}{alias}", cluster::remote::REMAIS_PREFIX),
            name,
        ));
    }
    check_namespace(req)?;
    Ok(engine::layout::bucket_key(provider, name))
}

fn check_namespace(req: &Req) -> Result<(), ApiError> {
    match req.q("namespace").unwrap_or("") {
        "" | "@#" => Ok(()),
        ns => Err(ApiError::not_implemented(format!(
            "namespace {ns:?}: only the global namespace is supported"
        ))),
    }
}

pub use crate::req::HDR_DIRECT;

/// A direct request (see [`HDR_DIRECT`]) must reach the object's owner in this node's Smap;
/// otherwise 421 Misdirected Request names the owner, so the client refreshes its map.
fn check_direct_owner(core: &Rc<Core>, bucket: &str, object: &str) -> Result<(), ApiError> {
    let smap = core.smap();
    let digest = placement::object_digest(bucket, object);
    if placement::target(&smap, digest).is_some_and(|t| t.daemon_id == core.node.target_id) {
        return Ok(());
    }
    let owner = placement::owner(&smap, bucket, object).map_or_else(
        || "no target".to_string(),
        |o| format!("t[{}] at {}", o.target_id, o.url),
    );
    Err(ApiError::new(
        421,
        format!(
            "{}: {bucket}/{object} belongs to {owner} in Smap v{}: refresh the cluster map and route again",
            core.node.tname(),
            smap.version
        ),
    ))
}

/// What a request counts as in the node's metrics (`get.n`, `put.n`, ... of
/// `cluster::metrics`): object GET/PUT/HEAD/DELETE/APPEND of the native API, the easy URL and
/// S3, list-objects, and objects received from peers (`stream.in`).
pub fn metrics_op(core: &Core, req: &Req) -> cluster::metrics::Op {
    use cluster::metrics::Op;
    let path = req.head.path.as_str();
    let m = req.head.method.as_str();
    let object_op = |m: &str| match m {
        "GET" => Op::Get,
        "PUT" => Op::Put,
        "HEAD" => Op::Head,
        "DELETE" => Op::Del,
        _ => Op::Other,
    };
    let s3_path = path
        .strip_prefix("/s3")
        .filter(|r| r.is_empty() || r.starts_with('/'))
        .or_else(|| {
            (core.node.cfg.s3_via_root && !path.starts_with("/v1/") && !path.starts_with("/ais/"))
                .then_some(path)
        });
    if let Some(r) = path
        .strip_prefix("/v1/objects/")
        .or(path.strip_prefix("/ais/"))
    {
        if r.is_empty() {
            return Op::Other;
        }
        if m == "PUT" && req.q("rebalance").is_some() {
            return Op::StreamIn;
        }
        if m == "PUT" && req.q("appendty").is_some() {
            return Op::Append;
        }
        object_op(m)
    } else if let Some(b) = path.strip_prefix("/v1/buckets/") {
        // AIS list-objects: GET /v1/buckets/<bucket> with a `list` action in the body.
        if m == "GET"
            && !b.trim_end_matches('/').is_empty()
            && !b.trim_end_matches('/').contains('/')
        {
            Op::List
        } else {
            Op::Other
        }
    } else if path.starts_with("/v1/ec/") || path.starts_with("/v1/mirror/") {
        if m == "PUT" {
            Op::StreamIn
        } else {
            Op::Other
        }
    } else if let Some(r) = s3_path {
        let r = r.trim_start_matches('/');
        match r.split_once('/') {
            Some((_, key)) if !key.is_empty() => {
                // Multipart bookkeeping (list parts, create, complete, abort) is not an
                // object transfer.
                let mpu = req.q("uploadId").is_some() || req.q("uploads").is_some();
                match m {
                    "PUT" if req.q("uploadId").is_some() => Op::Put,
                    _ if mpu || req.q("tagging").is_some() || req.q("acl").is_some() => Op::Other,
                    _ => object_op(m),
                }
            }
            _ if !r.trim_end_matches('/').is_empty() && m == "GET" => {
                const SUB: [&str; 9] = [
                    "location",
                    "versioning",
                    "uploads",
                    "acl",
                    "policy",
                    "tagging",
                    "lifecycle",
                    "cors",
                    "encryption",
                ];
                if SUB.iter().any(|s| req.q(s).is_some()) {
                    Op::Other
                } else {
                    Op::List
                }
            }
            _ => Op::Other,
        }
    } else {
        Op::Other
    }
}

/// A GET or PUT a gateway redirected here (`utm`: the redirect's time, ns since the epoch in
/// base 36): count the gateway-to-target latency (`get.redir.ns`).
pub fn count_redirect(op: cluster::metrics::Op, req: &Req) {
    use cluster::metrics::{add, Op, M};
    let (n, ns) = match op {
        Op::Get => (M::GetRedirN, M::GetRedirNsTotal),
        Op::Put => (M::PutRedirN, M::PutRedirNsTotal),
        _ => return,
    };
    let Some(utm) = req.q("utm").and_then(|v| u64::from_str_radix(v, 36).ok()) else {
        return;
    };
    let now = net::time::now_unix_ns() as u64;
    add(n, 1);
    add(ns, now.saturating_sub(utm));
}

/// `load-x509` (all nodes: `Some(None)`) or `load-x509/NODE_ID` (`Some(Some(id))`).
fn x509_path(rest: &str) -> Option<Option<&str>> {
    match rest.trim_end_matches('/').strip_prefix("load-x509")? {
        "" => Some(None),
        r => r.strip_prefix('/').filter(|id| !id.contains('/')).map(Some),
    }
}
