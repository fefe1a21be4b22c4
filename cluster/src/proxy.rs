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
    if req.has_body() {
        let _ = read_actmsg(conn, req).await?;
    }
    let what = req.q("what").unwrap_or("").to_string();
    match what.as_str() {
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
    let node = core.node.clone();
    let b = bucket.to_string();
    let cname = cname.to_string();
    glommio::executor()
        .spawn_blocking(move || {
            node.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&b) {
                    return Err(ApiError::bucket_exists(&cname));
                }
                let bck = Bck::ais(&b);
                for m in &node.mountpaths {
                    m.create_bucket(&bck)
                        .map_err(|e| ApiError::internal(format!("create bucket {cname}: {e}")))?;
                }
                let bid = (1i64 << 62) | (bmd.version + 1);
                bmd.buckets
                    .insert(b.clone(), Bprops::new_ais(bid, time::now_unix_ns()));
                Ok(())
            })
        })
        .await
}

pub(crate) async fn destroy_bucket(
    core: &Rc<Core>,
    bucket: &str,
    cname: &str,
) -> Result<(), ApiError> {
    let node = core.node.clone();
    let b = bucket.to_string();
    let cname = cname.to_string();
    glommio::executor()
        .spawn_blocking(move || {
            // Drop it from the BMD first so no new PUT lands, then remove the data.
            node.update_bmd(|bmd| bmd.buckets.remove(&b).map(|_| ()).ok_or_else(|| ApiError::bucket_not_found(&cname)))?;
            let bck = Bck::ais(&b);
            for m in &node.mountpaths {
                if let Err(e) = m.destroy_bucket(&bck) {
                    tracing::error!(bucket = %cname, mountpath = %m.path_str, error = %e, "removing bucket data failed");
                }
            }
            Ok(())
        })
        .await
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
    let with_md = has("checksum") || has("version") || has("atime") || has("custom");
    let after = if !lso.continuation_token.is_empty() {
        lso.continuation_token.clone()
    } else {
        lso.start_after.clone()
    };
    let node = core.node.clone();
    let b = bucket.to_string();
    let prefix = lso.prefix.clone();
    let result = glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mut all = Vec::new();
            for m in &node.mountpaths {
                let part = engine::list::list(m, &bck, &prefix, &after, page_size, with_md)?;
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
    let msgpack = req
        .head
        .header("accept")
        .map(|a| a.contains("application/msgpack"))
        .unwrap_or(false);
    if msgpack {
        conn.respond(
            200,
            &[("Content-Type", "application/msgpack")],
            &page.to_msgpack(),
        )
        .await
        .map_err(io_err)?;
    } else {
        conn.respond(
            200,
            &[("Content-Type", "application/json")],
            &page.to_json(),
        )
        .await
        .map_err(io_err)?;
    }
    Ok(Outcome::KeepAlive)
}

/// Redirect an object request to the owning core (spec §2.3): 301 for GET, 307 otherwise,
/// `Location` = core URL + original path + original query + `pid` + `utm`.
pub async fn redirect(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    owner: usize,
) -> Result<Outcome, ApiError> {
    let status = if req.head.method == "GET" { 301 } else { 307 };
    let utm = time::base36(time::now_unix_ns() as u64);
    let sep = if req.head.query.is_empty() { "" } else { "&" };
    let location = format!(
        "http://{}:{}{}?{}{sep}pid={}&utm={utm}",
        core.node.cfg.host,
        core.node.core_port(owner),
        req.head.path,
        req.head.query,
        core.node.proxy_id
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
