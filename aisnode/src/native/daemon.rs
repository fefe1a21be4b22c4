//! Node and cluster queries: `GET /v1/health`, `GET /v1/daemon?what=...` and
//! `GET /v1/cluster?what=...` (Smap, BMD, Snode, config, job status and lists, mountpaths).

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{io_err, read_json, send_json};
use crate::req::{Listener, Outcome, Req};
use cluster::node::Role;
use net::conn::Conn;
use std::rc::Rc;

pub async fn health(core: &Rc<Core>, conn: &mut Conn, req: &Req) -> Result<Outcome, ApiError> {
    if !matches!(req.head.method.as_str(), "GET" | "HEAD") {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let on = |k: &str| req.q_true(k);
    if on("cii") || on("cii-apr") {
        let k = if on("cii") { "cii" } else { "cii-apr" };
        return Err(ApiError::not_implemented(format!(
            "/v1/health?{k}=true (the node-state info of AIS's intra-cluster health check) is not supported by this node"
        )));
    }
    let proxy_role = core.node.cfg.role == Role::Proxy;
    if on("apr") && proxy_role && !core.node.is_primary() {
        return Err(ApiError::bad_request(format!(
            "{} (non-primary): misdirected health-of-primary request",
            core.node.pname()
        )));
    }
    if on("prr") && proxy_role && !core.node.is_primary() {
        // "Is the primary ready to rebalance": the primary answers.
        let primary = cluster::membership::primary_url(&core.node)?;
        let r = cluster::intra::call("GET", &format!("{primary}/v1/health?prr=true"), &[], b"")
            .await
            .map_err(|e| ApiError::new(503, format!("asking the primary: {e}")))?;
        if r.status != 200 {
            return Err(ApiError::new(r.status, format!("primary: {}", r.message())));
        }
    }
    let smap = core.smap();
    let me = core.node.self_id();
    let joined =
        core.node.is_primary() || core.node.joined.load(std::sync::atomic::Ordering::Relaxed);
    if !joined || smap.version == 0 || (!smap.pmap.contains_key(me) && !smap.tmap.contains_key(me))
    {
        return Err(ApiError::new(
            503,
            format!("{me}: not ready: not a member of the cluster map yet"),
        ));
    }
    let up = core.node.started.elapsed().as_nanos().to_string();
    conn.respond(
        200,
        &[("Ais-Cluster-Uptime", &up), ("Ais-Node-Uptime", &up)],
        b"",
    )
    .await
    .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `GET /v1/daemon?what=...` and `GET /v1/cluster?what=...`.
pub async fn query(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    resource: &str,
    rest: &str,
) -> Result<Outcome, ApiError> {
    if req.head.method != "GET" {
        return Err(ApiError::not_implemented(format!(
            "{} /v1/{resource}/{rest} is not supported by this node",
            req.head.method
        )));
    }
    let body: Option<serde_json::Value> = if req.has_body() {
        read_json(conn, req).await?
    } else {
        None
    };
    let what = req.q("what").unwrap_or("").to_string();
    match what.as_str() {
        "status" | "qryxstats" if resource == "cluster" => {
            let v = cluster::jobs::query(&core.node, &core.smap(), &what, body.as_ref()).await?;
            send_json(conn, &v).await
        }
        "status_all" if resource == "cluster" => {
            let v = cluster::jobs::status_all(&core.node, &core.smap(), body.as_ref()).await?;
            send_json(conn, &v).await
        }
        "running_all" if resource == "cluster" => {
            let v = cluster::jobs::running_all(&core.node, &core.smap(), body.as_ref()).await?;
            send_json(conn, &v).await
        }
        "mountpaths" if resource == "daemon" && core.node.cfg.role != Role::Proxy => {
            send_json(conn, &core.mps().list_json()).await
        }
        "mountpaths" => send_json(conn, &super::mountpaths::gather(core).await?).await,
        cluster::listing::WHAT_MPT_UPLOADS
            if resource == "daemon" && core.node.cfg.role != Role::Proxy =>
        {
            let bucket = req.q("bck").unwrap_or("").to_string();
            engine::name::validate_bucket(&bucket)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let v = cluster::listing::uploads(&core.node, &core.smap(), &bucket).await?;
            send_json(conn, &v).await
        }
        "smap" => send_json(conn, &*core.smap()).await,
        "bmd" => send_json(conn, &*core.bmd()).await,
        "snode" => {
            let smap = core.smap();
            let sn = if core.node.cfg.role == Role::Target
                || (resource == "daemon" && req.listener == Listener::Core)
            {
                smap.tmap.get(&core.node.target_id).cloned()
            } else {
                Some(smap.proxy_si.clone())
            };
            send_json(conn, &sn).await
        }
        "config" | "cluster_config" => super::config::query(core, conn, resource, &what).await,
        "node_status" | "status" | "stats" if what != "status" || resource == "daemon" => {
            let tracker = merge_json(
                merge_json(cluster::mirror::stats_json(), cluster::ec::stats_json()),
                cluster::fshc::stats_json(),
            );
            let v = serde_json::json!({
                "snode": core.smap().tmap.get(&core.node.target_id),
                "smap_version": core.smap().version.to_string(),
                "deployment": "dev",
                "version": env!("CARGO_PKG_VERSION"),
                "build_time": "",
                "status": "online",
                "tracker": tracker,
            });
            send_json(conn, &v).await
        }
        "jobs" => {
            // One flat list over every target (a proxy) or this node's own jobs.
            let all: Vec<serde_json::Value> = cluster::jobs::gather(&core.node, &core.smap())
                .await?
                .into_iter()
                .flat_map(|(_, v)| match v {
                    serde_json::Value::Array(l) => l,
                    _ => Vec::new(),
                })
                .collect();
            send_json(conn, &all).await
        }
        // The configured remote backends (AIS lists cloud providers only): none.
        "backends" if resource == "cluster" => send_json(conn, &Vec::<String>::new()).await,
        "remote" => send_json(conn, &serde_json::json!({"a": [], "ver": "0"})).await,
        "" => Err(ApiError::bad_request(format!(
            "/v1/{resource}: missing query parameter 'what'"
        ))),
        w => {
            super::audit::check_what(resource, w)?;
            Err(ApiError::not_implemented(format!(
                "/v1/{resource}?what={w} is not supported by this node"
            )))
        }
    }
}

/// The keys of two JSON objects in one.
fn merge_json(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
