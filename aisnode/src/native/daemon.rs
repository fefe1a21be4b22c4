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
    core.node
        .member_ready()
        .map_err(|why| ApiError::new(503, why))?;
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
        "tls_certificate" => super::x509::info(core, conn).await,
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
            send_json(conn, &node_status(core)).await
        }
        "log" if resource == "daemon" => log(conn, req).await,
        "metrics" if resource == "daemon" => send_json(conn, &cluster::metrics::names_json()).await,
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
        "backends" if resource == "cluster" => {
            send_json(conn, &cluster::remote::configured_providers()).await
        }
        // The attached remote AIS clusters (AIS `RemAisVec`), each with its Smap when it
        // answers (an offline one is listed without).
        "remote" => {
            let cfg = core.node.config.load();
            let mut a = Vec::new();
            for (alias, urls) in &cfg.cluster.backend.ais {
                let url = urls.first().cloned().unwrap_or_default();
                let smap = cluster::intra::daemon_query(&url, "smap").await.ok();
                let uuid = smap
                    .as_ref()
                    .and_then(|s| s["uuid"].as_str())
                    .unwrap_or("")
                    .to_string();
                a.push(serde_json::json!({"url": url, "alias": alias, "uuid": uuid, "smap": smap}));
            }
            send_json(
                conn,
                &serde_json::json!({"a": a, "ver": cfg.cluster.config_version.to_string()}),
            )
            .await
        }
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

/// The counters of this node's services (mirror, EC, health checker) by name.
fn service_stats() -> serde_json::Value {
    merge_json(
        merge_json(cluster::mirror::stats_json(), cluster::ec::stats_json()),
        cluster::fshc::stats_json(),
    )
}

/// AIS's node-state flags (`state.flags`) of this node now.
fn state_flags(core: &Core) -> u64 {
    use cluster::metrics::flags;
    let node = &core.node;
    let mut f = flags::NODE_STARTED;
    if node.cfg.role == Role::All
        || node.is_primary()
        || node.joined.load(std::sync::atomic::Ordering::Relaxed)
    {
        f |= flags::CLUSTER_STARTED;
    }
    let running = |kind: &str| {
        node.jobs
            .all()
            .iter()
            .any(|j| j.kind == kind && !j.is_finished())
    };
    if running("rebalance") {
        f |= flags::REBALANCING;
    }
    if running("resilver") || node.resilvering.load(std::sync::atomic::Ordering::Relaxed) {
        f |= flags::RESILVERING;
    }
    let smap = core.smap();
    let me = smap
        .tmap
        .get(node.self_id())
        .or_else(|| smap.pmap.get(node.self_id()));
    if me.is_some_and(|s| s.flags & cluster::meta::smap::FLAG_MAINTENANCE != 0) {
        f |= flags::MAINTENANCE_MODE;
    }
    if node.cfg.role != Role::Proxy && !core.mps().disabled.is_empty() {
        f |= flags::DISK_FAULT;
    }
    f
}

fn capacities(core: &Core) -> Vec<cluster::metrics::MpCapacity> {
    if core.node.cfg.role == Role::Proxy {
        return Vec::new();
    }
    let mps: Vec<(String, u64)> = core
        .mps()
        .avail
        .iter()
        .map(|m| (m.path_str.clone(), m.dev))
        .collect();
    cluster::metrics::capacities(&mps)
}

/// `what=node_status` in AIS's shape (stats.NodeStatus): the Snode, the `tracker` of
/// counters by AIS's internal names, `capacity` per mountpath, system info and versions.
fn node_status(core: &Core) -> serde_json::Value {
    let node = &core.node;
    let smap = core.smap();
    let uptime = node.started.elapsed();
    let mut tracker = cluster::metrics::tracker_json(uptime.as_nanos() as u64, state_flags(core));
    if let serde_json::Value::Object(m) = service_stats() {
        tracker.extend(m);
    }
    let caps = capacities(core);
    let mut mountpaths = serde_json::Map::new();
    let (mut used, mut avail) = (0u64, 0u64);
    let pcts: Vec<u64> = caps
        .iter()
        .map(cluster::metrics::MpCapacity::pct_used)
        .collect();
    for c in &caps {
        used += c.used;
        avail += c.avail;
        mountpaths.insert(
            c.path.clone(),
            serde_json::json!({
                "mountpath_label": "",
                "fs": {"fs": c.disk.as_ref().map(|d| format!("/dev/{d}")).unwrap_or_default(), "fs_type": "", "fs_id": c.fs},
                "disks": c.disk.iter().collect::<Vec<_>>(),
                "used": c.used.to_string(),
                "avail": c.avail.to_string(),
                "pct_used": c.pct_used(),
            }),
        );
    }
    let snode = if node.cfg.role == Role::Proxy {
        smap.pmap.get(&node.proxy_id).cloned()
    } else {
        smap.tmap.get(&node.target_id).cloned()
    };
    let (load1, load5, load15) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| {
            let v: Vec<f64> = t
                .split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        })
        .unwrap_or_default();
    serde_json::json!({
        "snode": snode,
        "tracker": tracker,
        "capacity": {
            "mountpaths": mountpaths,
            "cs_err": "",
            "total_used": used.to_string(),
            "total_avail": avail.to_string(),
            "pct_max": pcts.iter().max().copied().unwrap_or(0),
            "pct_avg": (pcts.iter().sum::<u64>()).checked_div(pcts.len() as u64).unwrap_or(0),
            "pct_min": pcts.iter().min().copied().unwrap_or(0),
        },
        "status": "online",
        "deployment": "dev",
        "ais_version": env!("CARGO_PKG_VERSION"),
        "build_time": "",
        "k8s_pod_name": "",
        "sys_info": {"load_avg": {"one": load1, "five": load5, "fifteen": load15}},
        "smap_version": smap.version.to_string(),
    })
}

/// `GET /metrics`: the Prometheus text exposition of this node (`cluster::metrics`).
pub async fn metrics(core: &Rc<Core>, conn: &mut Conn, req: &Req) -> Result<Outcome, ApiError> {
    if !matches!(req.head.method.as_str(), "GET" | "HEAD") {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let node = &core.node;
    let (role, id) = match node.cfg.role {
        Role::Proxy => ("proxy", node.proxy_id.as_str()),
        _ => ("target", node.target_id.as_str()),
    };
    let extra = match service_stats() {
        serde_json::Value::Object(m) if node.cfg.role != Role::Proxy => m,
        _ => serde_json::Map::new(),
    };
    let caps = capacities(core);
    let text = cluster::metrics::render_prometheus(&cluster::metrics::NodeInfo {
        role,
        node_id: id,
        uptime_s: node.started.elapsed().as_secs(),
        state_flags: state_flags(core),
        capacity: &caps,
        extra: &extra,
    });
    let body = if req.head.method == "HEAD" {
        &b""[..]
    } else {
        text.as_bytes()
    };
    conn.respond(
        200,
        &[("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
    .await
    .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `what=log`: this node's current log (`severity` info, the whole file; warning or error,
/// those lines only), or with `all=true` every log file, rotated ones too, as a tar.gz (the
/// SDK's `get_node_log` and `get_node_log_archive`). Reads files on the executor thread:
/// bounded by `--log-max-total`, and an operator's request.
async fn log(conn: &mut Conn, req: &Req) -> Result<Outcome, ApiError> {
    let severity = req.q("severity").unwrap_or("info");
    if !matches!(severity, "info" | "warning" | "error" | "i" | "w" | "e") {
        return Err(ApiError::bad_request(format!(
            "invalid log severity {severity:?}: expecting info, warning or error"
        )));
    }
    let severity = match severity {
        "i" => "info",
        "w" => "warning",
        "e" => "error",
        s => s,
    };
    let Some(log) = crate::logfile::get() else {
        return Err(ApiError::new(
            404,
            "this node writes no log file (its log directory could not be created)",
        ));
    };
    if req.q_true("all") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for (path, _) in log.files() {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // rotated away meanwhile
            };
            let mtime = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(crate::logfile::CURRENT);
            let body = crate::logfile::filter_severity(&text, severity);
            engine::tarball::append(&mut gz, name, body.as_bytes(), mtime)
                .map_err(|e| ApiError::internal(format!("log archive: {e}")))?;
        }
        engine::tarball::finish(&mut gz)
            .map_err(|e| ApiError::internal(format!("log archive: {e}")))?;
        let bytes = gz
            .finish()
            .map_err(|e| ApiError::internal(format!("log archive: {e}")))?;
        conn.respond(200, &[("Content-Type", "application/gzip")], &bytes)
            .await
            .map_err(io_err)?;
        return Ok(Outcome::KeepAlive);
    }
    let path = log.dir().join(crate::logfile::CURRENT);
    let mut text = std::fs::read_to_string(&path)
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    // AIS's `offset`: the log from that byte on (a reader that polls asks for what is new).
    if let Some(o) = req.q("offset") {
        let o: usize = o
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid log offset {o:?}")))?;
        let o = o.min(text.len());
        let start = (o..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text.drain(..start);
    }
    let body = crate::logfile::filter_severity(&text, severity);
    conn.respond(
        200,
        &[("Content-Type", "text/plain; charset=utf-8")],
        body.as_bytes(),
    )
    .await
    .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}
