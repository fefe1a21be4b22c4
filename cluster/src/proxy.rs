//! Proxy role: health, cluster queries, bucket control plane (create, destroy, HEAD, list
//! buckets), list-objects, and redirects of object requests to the owning target core.

use crate::api_error::ApiError;
use crate::meta::{self, Bprops};
use crate::server::{method_not_allowed, Core, Outcome, Req};
use crate::time;
use engine::layout::Bck;
use net::api::{ActMsg, LsoEntry, LsoMsg, LsoPage};
use net::conn::Conn;
use std::rc::Rc;

/// Control messages (JSON bodies) larger than this are refused.
pub const CONTROL_BODY_BYTES_MAX: usize = 1 << 20;

fn io_err(e: net::conn::ConnError) -> ApiError {
    ApiError::bad_request(format!("reading request: {e}")).closing()
}

async fn read_actmsg(conn: &mut Conn, req: &mut Req) -> Result<Option<ActMsg>, ApiError> {
    read_json(conn, req).await
}

/// A control request's JSON body; `None` if it is empty.
async fn read_json<T: serde::de::DeserializeOwned>(
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Option<T>, ApiError> {
    let body = conn
        .body(req.head.body)
        .read_to_vec(CONTROL_BODY_BYTES_MAX)
        .await
        .map_err(io_err)?;
    req.body_done = true;
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))
}

async fn send_json(conn: &mut Conn, v: &impl serde::Serialize) -> Result<Outcome, ApiError> {
    let body = serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?;
    conn.respond(200, &[("Content-Type", "application/json")], &body)
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

async fn send_ok(conn: &mut Conn) -> Result<Outcome, ApiError> {
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

pub async fn health(core: &Rc<Core>, conn: &mut Conn, req: &mut Req) -> Result<Outcome, ApiError> {
    if !matches!(req.head.method.as_str(), "GET" | "HEAD") {
        return Err(method_not_allowed("GET"));
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
            crate::xact::query(core, conn, &what, body).await
        }
        "mountpaths" if resource == "daemon" && core.node.cfg.role != crate::node::Role::Proxy => {
            send_json(conn, &core.mps().list_json()).await
        }
        "mountpaths" => {
            let all = crate::mountpaths::gather(core).await?;
            send_json(conn, &all).await
        }
        "smap" => send_json(conn, &*core.smap()).await,
        "bmd" => send_json(conn, &*core.bmd()).await,
        "snode" => {
            let smap = core.smap();
            let sn = if resource == "daemon" && req.listener == crate::server::Listener::Core {
                smap.tmap.get(&core.node.target_id).cloned()
            } else {
                Some(smap.proxy_si.clone())
            };
            send_json(conn, &sn).await
        }
        "config" | "cluster_config" => send_json(conn, &cluster_config(core)).await,
        "node_status" | "status" | "stats" if what != "status" || resource == "daemon" => {
            let v = serde_json::json!({
                "snode": core.smap().tmap.get(&core.node.target_id),
                "smap_version": core.smap().version.to_string(),
                "deployment": "dev",
                "version": env!("CARGO_PKG_VERSION"),
                "build_time": "",
                "status": "online",
            });
            send_json(conn, &v).await
        }
        "jobs" => {
            // One flat list over every target (a proxy) or this node's own jobs.
            let all: Vec<serde_json::Value> = crate::xact::gather(core)
                .await?
                .into_iter()
                .flat_map(|(_, v)| match v {
                    serde_json::Value::Array(l) => l,
                    _ => Vec::new(),
                })
                .collect();
            send_json(conn, &all).await
        }
        "remote" => send_json(conn, &serde_json::json!({"a": [], "ver": "0"})).await,
        "" => Err(ApiError::bad_request(format!(
            "/v1/{resource}: missing query parameter 'what'"
        ))),
        w => Err(ApiError::not_implemented(format!(
            "/v1/{resource}?what={w} is not supported by this node"
        ))),
    }
}

fn cluster_config(core: &Core) -> serde_json::Value {
    serde_json::json!({
        "uuid": core.smap().uuid,
        "version": "1",
        "checksum": {"type": "xxhash2", "validate_cold_get": true, "validate_warm_get": true, "validate_obj_move": false, "enable_read_range": false},
        "versioning": {"enabled": true, "validate_warm_get": false},
        "auth": {"enabled": false, "secret": ""},
        "keepalivetracker": {"proxy": {"name": "heartbeat", "interval": "10s", "factor": 3}, "target": {"name": "heartbeat", "interval": "10s", "factor": 3}, "num_retries": 3},
        "timeout": {"cplane_operation": "2s", "max_keepalive": "5s", "startup_time": "1m"},
        "net": {"l4": {"proto": "tcp"}, "http": {"use_https": false}},
        "features": "0",
    })
}

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
    let cname = format!("ais://{bucket}");
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
                "create-bck" => create_bucket(core, bucket, &cname)
                    .await
                    .map(|_| ())
                    .and(Ok(()))?,
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
                "destroy-bck" | "" => destroy_bucket(core, bucket, &cname).await?,
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
            list_objects(core, conn, req, bucket, lso).await
        }
        _ => Err(method_not_allowed("GET, HEAD, POST, DELETE")),
    }
}

pub(crate) async fn create_bucket(
    core: &Rc<Core>,
    bucket: &str,
    cname: &str,
) -> Result<(), ApiError> {
    if !core.node.is_primary() {
        return primary_bucket_op(core, "POST", bucket, "create-bck").await;
    }
    let node = core.node.clone();
    let b = bucket.to_string();
    let cname = cname.to_string();
    let n2 = node.clone();
    glommio::executor()
        .spawn_blocking(move || {
            node.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&b) {
                    return Err(ApiError::bucket_exists(&cname));
                }
                let bck = Bck::ais(&b);
                for m in node.mountpaths.load().with_data() {
                    m.create_bucket(&bck)
                        .map_err(|e| ApiError::internal(format!("create bucket {cname}: {e}")))?;
                }
                let bid = (1i64 << 62) | (bmd.version + 1);
                bmd.buckets
                    .insert(b.clone(), Bprops::new_ais(bid, time::now_unix_ns()));
                Ok(())
            })
        })
        .await?;
    sync_bmd(&n2).await;
    Ok(())
}

/// Primary of a multi-node cluster: push the new BMD to every node before answering, so a
/// client's next request finds the bucket wherever it lands.
async fn sync_bmd(node: &std::sync::Arc<crate::node::Node>) {
    if node.cfg.role != crate::node::Role::All {
        let bmd = node.bmd.load();
        crate::membership::metasync(node, None, Some(&bmd), &[]).await;
    }
}

/// Non-primary proxy: run a bucket create/destroy on the primary.
async fn primary_bucket_op(
    core: &Rc<Core>,
    method: &str,
    bucket: &str,
    action: &str,
) -> Result<(), ApiError> {
    let primary = core.smap().proxy_si.public_net.direct_url.clone();
    if primary.is_empty() {
        return Err(ApiError::new(503, "primary proxy unknown: not joined yet"));
    }
    let url = format!("{primary}/v1/buckets/{bucket}?provider=ais");
    let body = format!("{{\"action\":\"{action}\",\"name\":\"\",\"value\":null}}");
    let r = crate::membership::call(
        method,
        &url,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
    .map_err(|e| ApiError::new(503, format!("forwarding to primary: {e}")))?;
    if r.status == 200 {
        return Ok(());
    }
    let msg = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned());
    let mut e = ApiError::new(r.status, msg);
    e.tcode = match r.status {
        404 => "ErrBckNotFound",
        409 => "ErrBckAlreadyExists",
        _ => "",
    };
    Err(e)
}

pub(crate) async fn destroy_bucket(
    core: &Rc<Core>,
    bucket: &str,
    cname: &str,
) -> Result<(), ApiError> {
    if !core.node.is_primary() {
        return primary_bucket_op(core, "DELETE", bucket, "destroy-bck").await;
    }
    let node = core.node.clone();
    let n2 = node.clone();
    let b = bucket.to_string();
    let cname = cname.to_string();
    glommio::executor()
        .spawn_blocking(move || {
            // Drop it from the BMD first so no new PUT lands, then remove the data.
            node.update_bmd(|bmd| bmd.buckets.remove(&b).map(|_| ()).ok_or_else(|| ApiError::bucket_not_found(&cname)))?;
            let bck = Bck::ais(&b);
            for m in node.mountpaths.load().with_data() {
                if let Err(e) = m.destroy_bucket(&bck) {
                    tracing::error!(bucket = %cname, mountpath = %m.path_str, error = %e, "removing bucket data failed");
                }
            }
            Ok::<(), ApiError>(())
        })
        .await?;
    sync_bmd(&n2).await;
    Ok(())
}

async fn list_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    lso: LsoMsg,
) -> Result<Outcome, ApiError> {
    let page_size = match lso.pagesize as usize {
        0 => net::api::LSO_PAGE_SIZE_MAX,
        n => n.min(net::api::LSO_PAGE_SIZE_MAX),
    };
    let props: Vec<String> = lso
        .props
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let has = |p: &str| props.iter().any(|x| x == p);
    let name_only = lso.flags & net::api::LSO_FLAG_NAME_ONLY != 0 || props == ["name"];
    let with_md =
        has("checksum") || has("version") || has("atime") || has("custom") || has("last-modified");
    let after = if !lso.continuation_token.is_empty() {
        lso.continuation_token.clone()
    } else {
        lso.start_after.clone()
    };
    if core.node.cfg.role == crate::node::Role::Proxy {
        return list_across_targets(core, conn, req, bucket, lso, page_size).await;
    }
    let node = core.node.clone();
    let b = bucket.to_string();
    let prefix = lso.prefix.clone();
    let result = glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mut all = Vec::new();
            for m in node.mountpaths.load().with_data() {
                let part = engine::list::list(&m, &bck, &prefix, &after, page_size, with_md)?;
                all.extend(part.into_iter().map(|e| (e, m.path_str.clone())));
            }
            all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            all.dedup_by(|a, b| a.0.name == b.0.name);
            all.truncate(page_size);
            Ok::<_, engine::Error>(all)
        })
        .await
        .map_err(|e| ApiError::internal(format!("list {bucket}: {e}")))?;
    let full = result.len() == page_size;
    let tname = core.node.tname();
    let entries: Vec<LsoEntry> = result
        .into_iter()
        .map(|(e, mp)| {
            let lom = e.lom.as_ref();
            LsoEntry {
                size: if name_only { 0 } else { e.size as i64 },
                checksum: if has("checksum") {
                    lom.map(|l| l.cksum_value.clone()).unwrap_or_default()
                } else {
                    String::new()
                },
                version: if has("version") {
                    lom.map(|l| l.version.clone()).unwrap_or_default()
                } else {
                    String::new()
                },
                atime: if has("atime") {
                    lom.map(|l| time::format_rfc822(l.atime_ns))
                        .unwrap_or_default()
                } else {
                    String::new()
                },
                location: if has("location") {
                    format!("{tname}:{mp}")
                } else {
                    String::new()
                },
                custom: if has("custom") {
                    lom.map(|l| {
                        l.custom
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
                } else {
                    String::new()
                },
                copies: if has("copies") { 1 } else { 0 },
                flags: net::api::ENTRY_FLAG_PRESENT,
                mtime_ns: if has("last-modified") {
                    lom.map(|l| l.mtime_ns).unwrap_or(0)
                } else {
                    0
                },
                name: e.name,
            }
        })
        .collect();
    let page = LsoPage {
        uuid: if lso.uuid.is_empty() {
            meta::random_id(9)
        } else {
            lso.uuid.clone()
        },
        continuation_token: if full {
            entries.last().map(|e| e.name.clone()).unwrap_or_default()
        } else {
            String::new()
        },
        entries,
        flags: 0,
    };
    send_page(conn, req, &page).await
}

/// Redirect an object request to the owning core (spec §2.3): 301 for GET, 307 otherwise,
/// `Location` = core URL + original path + original query + `pid` + `utm`.
/// Where a redirect points: a core of this node, or another node's core URL.
pub enum RedirectTo {
    Core(usize),
    Url(String),
}

pub async fn redirect(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    owner: RedirectTo,
) -> Result<Outcome, ApiError> {
    let status = if req.head.method == "GET" { 301 } else { 307 };
    let utm = time::base36(time::now_unix_ns() as u64);
    let sep = if req.head.query.is_empty() { "" } else { "&" };
    let base = match owner {
        RedirectTo::Core(k) => format!("http://{}:{}", core.node.cfg.host, core.node.core_port(k)),
        RedirectTo::Url(u) => u,
    };
    let location = format!(
        "{base}{}?{}{sep}pid={}&utm={utm}",
        req.head.path, req.head.query, core.node.proxy_id
    );
    let mut close = false;
    if req.has_body() {
        if req.head.expect_continue {
            // The client has not sent the body; answer now and close rather than read it.
            close = true;
        } else {
            // Clients send the whole body before reading the response: consume it so the
            // client reliably sees the redirect.
            conn.body(req.head.body).drain().await.map_err(io_err)?;
        }
    }
    req.body_done = !close;
    let body: &[u8] = if status == 301 {
        b"<a href=\"\">Moved Permanently</a>.\n\n"
    } else {
        b""
    };
    let mut headers: Vec<(&str, &str)> = vec![("Location", &location)];
    if status == 301 {
        headers.push(("Content-Type", "text/html; charset=utf-8"));
    }
    if close {
        headers.push(("Connection", "close"));
    }
    conn.respond(status, &headers, body).await.map_err(io_err)?;
    Ok(if close {
        Outcome::Close
    } else {
        Outcome::KeepAlive
    })
}

/// Proxy of a multi-node cluster: ask every target for one page (names after the token),
/// merge by name, truncate to the page size; the token is the last name of a full page
/// (spec §2.4). Targets answer in msgpack; the client gets msgpack or JSON as it asked.
async fn list_across_targets(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    mut lso_in: LsoMsg,
    page_size: usize,
) -> Result<Outcome, ApiError> {
    let smap = core.smap();
    if lso_in.uuid.is_empty() {
        lso_in.uuid = meta::random_id(9);
    }
    let value = serde_json::json!({
        "prefix": lso_in.prefix,
        "pagesize": page_size,
        "uuid": lso_in.uuid,
        "props": lso_in.props,
        "continuation_token": lso_in.continuation_token,
        "start_after": lso_in.start_after,
        "flags": lso_in.flags.to_string(),
    });
    let body =
        serde_json::to_vec(&serde_json::json!({"action": "list", "name": "", "value": value}))
            .expect("json");
    let body = std::rc::Rc::new(body);
    let mut tasks = Vec::new();
    for t in smap
        .tmap
        .values()
        .filter(|t| t.flags & (crate::meta::FLAG_MAINTENANCE | crate::meta::FLAG_DECOMMISSION) == 0)
    {
        let url = format!(
            "{}/v1/buckets/{bucket}?provider=ais",
            t.public_net.direct_url
        );
        let body = body.clone();
        let id = t.daemon_id.clone();
        tasks.push(glommio::spawn_local(async move {
            let r = crate::membership::call(
                "GET",
                &url,
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/msgpack"),
                ],
                &body,
            )
            .await;
            (id, r)
        }));
    }
    let mut entries: Vec<LsoEntry> = Vec::new();
    for t in tasks {
        let (id, r) = t.await;
        let r =
            r.map_err(|e| ApiError::new(503, format!("listing {bucket} on target {id}: {e}")))?;
        if r.status != 200 {
            return Err(ApiError::new(
                r.status,
                format!(
                    "listing {bucket} on target {id}: {}",
                    String::from_utf8_lossy(&r.body)
                ),
            ));
        }
        let page: LsoPage = rmp_serde::from_slice(&r.body)
            .map_err(|e| ApiError::internal(format!("target {id} sent a bad listing page: {e}")))?;
        entries.extend(page.entries);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    entries.truncate(page_size);
    let full = entries.len() == page_size;
    let page = LsoPage {
        uuid: lso_in.uuid.clone(),
        continuation_token: if full {
            entries.last().map(|e| e.name.clone()).unwrap_or_default()
        } else {
            String::new()
        },
        entries,
        flags: 0,
    };
    send_page(conn, req, &page).await
}

/// A listing page as the client asked: msgpack (the SDK) or JSON.
async fn send_page(conn: &mut Conn, req: &Req, page: &LsoPage) -> Result<Outcome, ApiError> {
    let msgpack = req
        .head
        .header("accept")
        .map(|a| a.contains("application/msgpack"))
        .unwrap_or(false);
    let (ctype, body) = if msgpack {
        ("application/msgpack", page.to_msgpack())
    } else {
        ("application/json", page.to_json())
    };
    conn.respond(200, &[("Content-Type", ctype)], &body)
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// Proxy of a multi-node cluster: the object's HRW target (skipping maintenance and
/// decommission) and, from the cores it advertises, the URL of the core that owns the
/// object's mountpath.
pub fn owner_url(smap: &crate::meta::Smap, bucket: &str, object: &str) -> Option<String> {
    owner(smap, bucket, object).map(|(_, url)| url)
}

/// The object's HRW owner target in `smap` (skipping maintenance and decommission) and the
/// URL of the core that owns the object's mountpath there.
pub fn owner(smap: &crate::meta::Smap, bucket: &str, object: &str) -> Option<(String, String)> {
    let uname = engine::hrw::uname("ais", "", bucket, object);
    let d = engine::hrw::digest(uname.as_bytes());
    let targets: Vec<&crate::meta::Snode> = smap
        .tmap
        .values()
        .filter(|t| t.flags & (crate::meta::FLAG_MAINTENANCE | crate::meta::FLAG_DECOMMISSION) == 0)
        .collect();
    let t = targets[engine::hrw::choose(d, targets.iter().map(|t| t.id_digest))?];
    let mps: Vec<(&str, &str)> = t
        .cores
        .iter()
        .flat_map(|c| {
            c.mountpaths
                .iter()
                .map(move |m| (m.as_str(), c.direct_url.as_str()))
        })
        .collect();
    match engine::hrw::choose(
        d,
        mps.iter().map(|(m, _)| engine::hrw::digest(m.as_bytes())),
    ) {
        Some(i) => Some((t.daemon_id.clone(), mps[i].1.to_string())),
        None => Some((t.daemon_id.clone(), t.public_net.direct_url.clone())),
    }
}
