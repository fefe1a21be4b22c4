//! Remote buckets (AIS "cloud" buckets, `s3://b` / `?provider=aws`): this cluster as a cache in
//! front of a backend (`crate::backend`).
//!
//! * **The bucket** is added to the BMD on first access, as AIS does (`add-remote-bck`): the
//!   node that sees an unknown remote bucket HEADs it on the backend and has the primary add
//!   it (bucket key `aws:<name>`, `engine::layout::bucket_key`; on disk `@aws/<name>`).
//! * **Cold GET**: a GET that misses locally reads the object from the backend once and writes
//!   it into the local object (streamed: the body never sits whole in memory), with the
//!   backend's ETag, version and last-modified time in its custom metadata; the GET is then
//!   served from the local copy. Concurrent cold GETs of one object on its owning core (HRW
//!   sends every request for it to the same core) fetch it once: the others wait for the
//!   first and read what it stored. A failed or interrupted fetch leaves nothing (the work
//!   file is removed).
//! * **Warm GET** with `latest-ver` (query; the SDK's `latest`) or the bucket's `versioning.validate_warm_get`: the
//!   backend's ETag is compared with the stored one; a changed object is fetched again, one
//!   deleted remotely is deleted here too (404).
//! * **PUT** writes through: stored locally, then uploaded from the stored copy; if the upload
//!   fails the local copy is removed (the backend stays the source of truth) and the client
//!   gets the backend's error. **DELETE** deletes on the backend, then here.
//!
//! * **Listing** is the backend's, page by page; entries cached here carry AIS's
//!   `EntryIsCached` flag (one merge with the cached listing of the page's name range).
//!
//! Providers other than `aws` answer 501 naming them.

use crate::backend::{BackendError, RemoteAttrs, S3Backend, S3Config};
use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::meta::Bprops;
use crate::metrics::{self, M};
use engine::layout::{split_key, Bck};
use engine::mountpath::Mountpath;
use engine::object::{ObjectWriter, PutOpts};
use net::time;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// Bucket-key provider of a remote AIS cluster's bucket: `ais@<alias>` (key
/// `ais@<alias>:<bucket>`, on disk `@ais/@<alias>/<bucket>`, `ais://@alias/bucket`).
pub const REMAIS_PREFIX: &str = "ais@";

/// The action a node sends the primary to add a remote bucket to the BMD (AIS's name).
pub const ACT_ADD_REMOTE_BCK: &str = "add-remote-bck";

/// Custom metadata keys of a cached remote object (AIS's names).
pub const MD_ETAG: &str = "ETag";
pub const MD_VERSION: &str = "v";
pub const MD_SOURCE: &str = "source";

/// Whether bucket key `key` is a remote bucket.
pub fn is_remote(key: &str) -> bool {
    split_key(key).0 != "ais"
}

/// Providers with a backend here: `aws`; the others are refused by name.
pub fn check_provider(provider: &str) -> Result<()> {
    if provider.starts_with(REMAIS_PREFIX) {
        return Ok(()); // a remote AIS cluster: checked against the attached ones on use
    }
    match provider {
        "ais" | "aws" => Ok(()),
        "gcp" | "azure" | "oci" | "ht" => Err(Error::NotImplemented(format!(
            "remote backend {provider:?} is not implemented on this node (aws is)"
        ))),
        p => Err(Error::BadRequest(format!(
            "invalid provider {p:?} (expecting ais, aws (s3), gcp (gs), azure (az), oci, ht)"
        ))),
    }
}

/// The remote backends this node can reach (`what=backends`): `aws` when an endpoint or
/// credentials are configured.
pub fn configured_providers() -> Vec<String> {
    match S3Config::from_env() {
        Ok(c) if c.endpoint.is_some() || !c.access_key.is_empty() => vec!["aws".into()],
        _ => Vec::new(),
    }
}

thread_local! {
    /// The default S3 backend of this core (from the environment, made on first use).
    static S3: RefCell<Option<Rc<S3Backend>>> = const { RefCell::new(None) };
    /// Backends of the remote AIS clusters used on this core: alias -> (URL, backend).
    static REMAIS: RefCell<HashMap<String, (String, Rc<S3Backend>)>> = RefCell::new(HashMap::new());
    /// Cold GETs in flight on this core: waiters are woken when the semaphore closes.
    static INFLIGHT: RefCell<HashMap<(String, String), Rc<glommio::sync::Semaphore>>> =
        RefCell::new(HashMap::new());
}

/// The backend of remote bucket `key` on this core: the default S3 backend, with the
/// bucket's `extra.aws.endpoint` when it has one.
pub fn backend(node: &Node, key: &str) -> Result<Rc<S3Backend>> {
    let (provider, _) = split_key(key);
    check_provider(provider)?;
    if let Some(alias) = provider.strip_prefix(REMAIS_PREFIX) {
        // A remote AIS cluster, through its S3 API (`<url>/s3`: path-style, its `ais://`
        // buckets), which every AIS proxy serves without redirects.
        let cfg = node.config.load();
        let url = cfg
            .cluster
            .backend
            .ais
            .get(alias)
            .and_then(|u| u.first())
            .ok_or_else(|| Error::Peer {
                status: 404,
                message: format!("remote AIS cluster {alias:?} is not attached (attach it first: PUT /v1/cluster/attach)"),
            })?;
        return REMAIS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some((u, b)) = m.get(alias) {
                if u == url {
                    return Ok(b.clone());
                }
            }
            let b = Rc::new(S3Backend::new(S3Config::for_endpoint(&format!("{url}/s3"))));
            m.insert(alias.to_string(), (url.clone(), b.clone()));
            Ok(b)
        });
    }
    let dflt = S3.with(|s| -> Result<Rc<S3Backend>> {
        if let Some(b) = s.borrow().as_ref() {
            return Ok(b.clone());
        }
        let cfg = S3Config::from_env().map_err(|e| Error::Config(e.to_string()))?;
        if cfg.endpoint.is_none() && cfg.access_key.is_empty() {
            // Neither an S3-compatible endpoint nor AWS credentials: as AIS without its
            // aws backend configured.
            return Err(Error::NotImplemented(
                "remote backend aws is not configured on this node: set S3_ENDPOINT (an S3-compatible endpoint) or AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, AIS_S3_CONFIG_DIR) in its environment".into(),
            ));
        }
        let b = Rc::new(S3Backend::new(cfg));
        *s.borrow_mut() = Some(b.clone());
        Ok(b)
    })?;
    let endpoint = node
        .bmd
        .load()
        .buckets
        .get(key)
        .and_then(|p| bucket_endpoint(p).map(str::to_string));
    Ok(match endpoint {
        Some(ep) if !ep.is_empty() => Rc::new(dflt.with_endpoint(&ep)),
        _ => dflt,
    })
}

/// `extra.aws.endpoint` of a bucket's props.
fn bucket_endpoint(p: &Bprops) -> Option<&str> {
    p.rest.get("extra")?.get("aws")?.get("endpoint")?.as_str()
}

/// A backend error as a cluster error: its status passes through (404 stays 404, 403 stays
/// 403, an unreachable backend is 503), its message names the bucket and object.
pub fn backend_err(e: BackendError, key: &str, object: Option<&str>) -> Error {
    let what = match object {
        Some(o) => format!("{}/{o}", crate::buckets::cname(key)),
        None => crate::buckets::cname(key),
    };
    if e.status == 404 && object.is_none() {
        return Error::BucketNotFound(what);
    }
    Error::Peer {
        status: e.status,
        message: format!("{what}: {e}"),
    }
}

/// Make sure remote bucket `key` is in the BMD: HEAD it on the backend, then have the
/// primary add it. A bucket the backend does not have is `BucketNotFound`.
pub async fn ensure_bucket(node: &Arc<Node>, key: &str) -> Result<()> {
    if node.bmd.load().buckets.contains_key(key) {
        return Ok(());
    }
    let (provider, name) = split_key(key);
    check_provider(provider)?;
    backend(node, key)?
        .head_bucket(name)
        .await
        .map_err(|e| backend_err(e, key, None))?;
    add_to_bmd(node, key).await
}

/// Add remote bucket `key` to the BMD (on the primary, from any node); nothing if it is there.
pub async fn add_to_bmd(node: &Arc<Node>, key: &str) -> Result<()> {
    if !node.is_primary() {
        return crate::buckets::on_primary(
            node,
            "POST",
            key,
            ACT_ADD_REMOTE_BCK,
            &serde_json::Value::Null,
        )
        .await
        .map(|_| ());
    }
    let (provider, _) = split_key(key);
    check_provider(provider)?;
    let n2 = node.clone();
    let (k, p) = (key.to_string(), provider.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            n2.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&k) {
                    return Ok(());
                }
                let bid = (1i64 << 62) | (bmd.version + 1);
                let mut props = Bprops::new_ais(bid, time::now_unix_ns());
                props.provider = if p.starts_with(REMAIS_PREFIX) {
                    "ais".into()
                } else {
                    p
                };
                // AIS's defaults for a remote bucket: the cache may be evicted (the cluster
                // config's `lru.enabled`).
                props.lru.enabled = n2.config.load().effective.lru.enabled;
                crate::buckets::create_dirs(&n2, &k)?;
                bmd.buckets.insert(k.clone(), props);
                Ok(())
            })
        })
        .await?;
    crate::buckets::sync_bmd(node).await
}

/// Where a cold GET's bytes go besides the local object: the client that asked, as they
/// arrive (the response head once the backend's answer is known).
#[allow(async_fn_in_trait)]
pub trait ColdSink {
    async fn head(&mut self, attrs: &RemoteAttrs) -> std::io::Result<()>;
    async fn data(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// No client: the object is only stored.
pub struct NoSink;

impl ColdSink for NoSink {
    async fn head(&mut self, _: &RemoteAttrs) -> std::io::Result<()> {
        Ok(())
    }
    async fn data(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

/// What [`cold_get_to`] did with the client's sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Nothing was sent: another request fetched the object (or none could); serve it from
    /// the local copy.
    No,
    /// The whole object went to the client while it was stored.
    Yes,
    /// The client went away (or the fetch failed) after the response head: close.
    Cut,
}

/// Cold GET: fetch `object` of remote bucket `key` from the backend into the local object on
/// `mp` (replacing what is there). Concurrent calls for one object on this core fetch once.
pub async fn cold_get(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
) -> Result<()> {
    match cold_get_to(node, mp, key, object, cksum_type, &mut NoSink).await? {
        Served::No | Served::Yes => Ok(()),
        // With no client to cut, a cut fetch is a failed one (the reason is in the log); it
        // stored nothing.
        Served::Cut => Err(Error::Peer {
            status: 502,
            message: format!(
                "cold GET {}/{object}: the fetch from the backend did not complete",
                crate::buckets::cname(key)
            ),
        }),
    }
}

/// [`cold_get`] that also streams the bytes to `sink` as they arrive from the backend (one
/// backend read, no buffering of the object), when this call is the one that fetches.
/// Concurrent callers wait for the fetch and are served from the local copy. A client that
/// goes away does not stop the fetch: the object is stored for the next reader.
pub async fn cold_get_to<S: ColdSink>(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    sink: &mut S,
) -> Result<Served> {
    single_flight(key, object, fetch(node, mp, key, object, cksum_type, sink)).await
}

/// Run `fetch` (a fetch of `object` of remote bucket `key` from the backend) unless one is
/// in flight on this core: then wait for that one to end and answer [`Served::No`] (the
/// caller reads what it stored, or misses again). Cold GETs and blob downloads
/// (`crate::blob`) share it, so one object is fetched once per core at a time.
pub async fn single_flight<F: std::future::Future<Output = Result<Served>>>(
    key: &str,
    object: &str,
    fetch: F,
) -> Result<Served> {
    let id = (key.to_string(), object.to_string());
    let waiting = INFLIGHT.with(|m| m.borrow().get(&id).cloned());
    if let Some(sem) = waiting {
        // Another request is fetching it: wait until it is done (closed), then read what it
        // stored (or miss again, and the caller fails).
        let _ = sem.acquire(1).await;
        return Ok(Served::No);
    }
    let sem = Rc::new(glommio::sync::Semaphore::new(0));
    INFLIGHT.with(|m| m.borrow_mut().insert(id.clone(), sem.clone()));
    let r = fetch.await;
    INFLIGHT.with(|m| m.borrow_mut().remove(&id));
    sem.close();
    r
}

async fn fetch<S: ColdSink>(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    sink: &mut S,
) -> Result<Served> {
    let (_, name) = split_key(key);
    let be = backend(node, key)?;
    let t0 = std::time::Instant::now();
    metrics::add(M::AwsGetN, 1);
    let (attrs, mut body) = be
        .get_object(name, object, None)
        .await
        .map_err(|e| backend_err(e, key, Some(object)))?;
    let cname = crate::buckets::cname(key);
    let local = |e: engine::Error| Error::Internal(format!("cold GET {cname}/{object}: {e}"));
    let mut w = ObjectWriter::create(mp, &Bck::ais(key), object)
        .await
        .map_err(local)?;
    w.size_hint(attrs.size);
    let opts = put_opts(node, key, &attrs, cksum_type);
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(local(e));
    }
    // The client gets the head once the backend answered, then every piece as it arrives.
    let mut streaming = sink.head(&attrs).await.is_ok();
    let mut sent_head = streaming;
    let mut got = 0u64;
    let mut last: Vec<u8> = Vec::new();
    loop {
        let buf = w.spare();
        let n = match body.read(buf).await {
            Ok(n) => n,
            Err(e) => {
                w.abort().await;
                if sent_head {
                    tracing::warn!(bucket = %cname, object, error = %e, "cold GET cut short by the backend");
                    return Ok(Served::Cut);
                }
                return Err(backend_err(e, key, Some(object)));
            }
        };
        if n == 0 {
            break;
        }
        got += n as u64;
        if got == attrs.size {
            // The last piece goes to the client only after the commit: a reader that got the
            // whole object finds it stored, and a failed commit cuts the response.
            last = buf[..n].to_vec();
        } else if streaming && sink.data(&buf[..n]).await.is_err() {
            streaming = false; // the client went away; the object is still stored
        }
        if let Err(e) = w.advance(n, |_| {}).await {
            w.abort().await;
            if sent_head {
                tracing::error!(bucket = %cname, object, error = %e, "cold GET: storing failed");
                return Ok(Served::Cut);
            }
            return Err(local(e));
        }
    }
    if got != attrs.size {
        w.abort().await;
        if sent_head {
            return Ok(Served::Cut);
        }
        return Err(Error::Peer {
            status: 502,
            message: format!(
                "cold GET {cname}/{object}: the backend sent {got} of {} bytes",
                attrs.size
            ),
        });
    }
    if let Err(e) = w.commit(&opts).await {
        if sent_head {
            tracing::error!(bucket = %cname, object, error = %e, "cold GET: commit failed");
            return Ok(Served::Cut);
        }
        return Err(local(e));
    }
    if streaming && !last.is_empty() && sink.data(&last).await.is_err() {
        streaming = false;
    }
    sent_head &= streaming;
    metrics::add(M::AwsGetSize, got);
    metrics::add(M::AwsGetNsTotal, t0.elapsed().as_nanos() as u64);
    Ok(if sent_head {
        Served::Yes
    } else if streaming {
        Served::No
    } else {
        Served::Cut
    })
}

/// How a cached remote object is stored: its backend identity in custom metadata, its
/// backend modification time as the object's.
pub(crate) fn put_opts(node: &Node, key: &str, attrs: &RemoteAttrs, cksum_type: &str) -> PutOpts {
    let mut custom = vec![
        (MD_SOURCE.to_string(), source_of(key)),
        (MD_ETAG.to_string(), attrs.etag.clone()),
    ];
    if !attrs.version.is_empty() {
        custom.push((MD_VERSION.to_string(), attrs.version.clone()));
    }
    PutOpts {
        cksum_type: cksum_type.to_string(),
        client_cksum: None,
        skip_vc: true,
        custom,
        versioning: true,
        fsync: node.cfg.fsync,
        keep_version: None,
        keep_mtime_ns: (attrs.last_modified_ns > 0).then_some(attrs.last_modified_ns),
        no_replace: false,
        require: None,
    }
}

/// The `source` custom metadata of a cached object of remote bucket `key`: `aws`, or
/// `ais@<alias>` for a remote AIS cluster.
fn source_of(key: &str) -> String {
    split_key(key).0.to_string()
}

/// Whether `e` is the backend's "no such object".
pub fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Peer { status: 404, .. })
}

/// The backend's attributes of `object` (HEAD).
pub async fn head(node: &Arc<Node>, key: &str, object: &str) -> Result<RemoteAttrs> {
    let (_, name) = split_key(key);
    metrics::add(M::AwsHeadN, 1);
    backend(node, key)?
        .head_object(name, object)
        .await
        .map_err(|e| backend_err(e, key, Some(object)))
}

/// Whether the cached copy (`lom`) differs from the backend's object: another ETag or
/// version, or gone from the backend (then true as well: the cold GET that follows gets the
/// backend's 404).
pub async fn is_stale(
    node: &Arc<Node>,
    key: &str,
    object: &str,
    lom: &engine::lom::Lom,
) -> Result<bool> {
    let stale = match head(node, key, object).await {
        Ok(a) => {
            lom.custom_get(MD_ETAG) != Some(a.etag.as_str())
                || (!a.version.is_empty() && lom.custom_get(MD_VERSION) != Some(a.version.as_str()))
        }
        Err(e) if is_not_found(&e) => true,
        Err(e) => return Err(e),
    };
    if stale {
        metrics::add(M::VerChangeN, 1);
        metrics::add(M::VerChangeSize, lom.size);
    }
    Ok(stale)
}

/// Delete `object` on the backend (a backend 404 is not an error: the cached copy, if any,
/// goes next).
pub async fn delete(node: &Arc<Node>, key: &str, object: &str) -> Result<()> {
    let (_, name) = split_key(key);
    metrics::add(M::AwsDelN, 1);
    match backend(node, key)?.delete_object(name, object).await {
        Ok(()) => Ok(()),
        Err(e) if e.status == 404 => Ok(()),
        Err(e) => Err(backend_err(e, key, Some(object))),
    }
}

/// Write-through: upload the stored `object` (on `mp`) to the backend, then record the
/// backend's ETag and version in its custom metadata.
pub async fn put(node: &Arc<Node>, mp: &Arc<Mountpath>, key: &str, object: &str) -> Result<()> {
    let (_, name) = split_key(key);
    let be = backend(node, key)?;
    let cname = crate::buckets::cname(key);
    let local = |e: engine::Error| Error::Internal(format!("write-through {cname}/{object}: {e}"));
    let rd = engine::object::ObjectReader::open(mp, &Bck::ais(key), object)
        .await
        .map_err(local)?;
    let size = rd.lom.size;
    let mut src = StoredSource {
        s: rd.stream(0, size),
    };
    let t0 = std::time::Instant::now();
    metrics::add(M::AwsPutN, 1);
    let r = be.put_object(name, object, size, &mut src).await;
    let _ = src.s.close().await;
    let attrs = r.map_err(|e| backend_err(e, key, Some(object)))?;
    metrics::add(M::AwsPutSize, size);
    metrics::add(M::AwsPutNsTotal, t0.elapsed().as_nanos() as u64);
    let mut md = vec![
        (MD_SOURCE.to_string(), source_of(key)),
        (MD_ETAG.to_string(), attrs.etag.clone()),
    ];
    if !attrs.version.is_empty() {
        md.push((MD_VERSION.to_string(), attrs.version.clone()));
    }
    let (m2, k2, o2) = (mp.clone(), key.to_string(), object.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            let fqn = engine::object::locate(&m2, &Bck::ais(&k2), &o2);
            let mut custom = engine::object::read_lom_path(&fqn)?.custom;
            for (k, v) in md {
                custom.retain(|(ck, _)| *ck != k);
                custom.push((k, v));
            }
            engine::object::set_custom(&fqn, custom)
        })
        .await
        .map_err(local)?;
    Ok(())
}

/// A stored object read as an upload body.
struct StoredSource {
    s: glommio::io::DmaStreamReader,
}

impl crate::backend::RemoteSource for StoredSource {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use futures_lite::AsyncReadExt;
        self.s.read(buf).await
    }
}

/// One page of remote bucket `key`'s listing from the backend: names, sizes, ETags (as the
/// checksum column) and versions, the backend's continuation token as the page's. Entries
/// cached here carry AIS's `EntryIsCached` flag (and the local props `q` asks for, see
/// [`mark_cached`]); with `LSO_FLAG_NOT_CACHED` they are left out, so such a page may be
/// shorter than the page size and still have a continuation token (as in AIS).
pub async fn list_page(
    node: &Arc<Node>,
    smap: &crate::meta::Smap,
    key: &str,
    q: &crate::listing::ListQuery,
    uuid: &str,
) -> Result<net::api::LsoPage> {
    let mut entries = list(node, key, &q.prefix, &q.after, q.page_size).await?;
    mark_cached(node, smap, key, q, &mut entries).await?;
    let mut page = crate::listing::page(uuid, entries, q.page_size);
    if q.flags & net::api::LSO_FLAG_NOT_CACHED != 0 {
        page.entries
            .retain(|e| e.flags & net::api::ENTRY_FLAG_PRESENT == 0);
    }
    Ok(page)
}

/// Local props of a cached object that a remote listing reports when asked (AIS fills them
/// from the local object's metadata; the backend does not know them).
const LOCAL_PROPS: [&str; 3] = ["atime", "location", "copies"];

/// Flag the entries of a backend page (`entries`, in name order, after `q.after`) that are
/// cached here with `ENTRY_FLAG_PRESENT` (AIS `EntryIsCached`) and copy the local props `q`
/// asks for. One merge with the cached listing of the same name range (this target's
/// mountpaths walked, or every target's through a proxy), not a lookup per entry: the walk
/// reads directories, and object metadata only when atime is asked for. Names cached here
/// but gone from the backend are not added.
async fn mark_cached(
    node: &Arc<Node>,
    smap: &crate::meta::Smap,
    key: &str,
    q: &crate::listing::ListQuery,
    entries: &mut [net::api::LsoEntry],
) -> Result<()> {
    let Some(last) = entries.last().map(|e| e.name.clone()) else {
        return Ok(());
    };
    let wanted: Vec<&str> = q
        .props
        .split(',')
        .map(str::trim)
        .filter(|p| LOCAL_PROPS.contains(p))
        .collect();
    let index: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.as_str(), i))
        .collect();
    let mut marks: Vec<(usize, net::api::LsoEntry)> = Vec::new();
    let mut lq = crate::listing::ListQuery {
        prefix: q.prefix.clone(),
        after: q.after.clone(),
        page_size: entries.len(),
        props: std::iter::once("name")
            .chain(wanted.iter().copied())
            .collect::<Vec<_>>()
            .join(","),
        flags: net::api::LSO_FLAG_CACHED,
    };
    // Cached names the backend no longer has can fill a local page: continue past them
    // until the local listing reaches the end of the backend page.
    loop {
        let here = crate::listing::entries(node, smap, key, &lq).await?;
        let full = here.len() == lq.page_size;
        let next = here.last().map(|h| h.name.clone());
        for h in here {
            if h.name > last {
                break;
            }
            if let Some(&i) = index.get(h.name.as_str()) {
                marks.push((i, h));
            }
        }
        match next {
            Some(n) if full && n < last => lq.after = n,
            _ => break,
        }
    }
    for (i, h) in marks {
        let e = &mut entries[i];
        e.flags |= net::api::ENTRY_FLAG_PRESENT;
        for p in &wanted {
            match *p {
                "atime" => e.atime = h.atime.clone(),
                "location" => e.location = h.location.clone(),
                _ => e.copies = h.copies,
            }
        }
    }
    Ok(())
}

/// Up to `max` entries of remote bucket `key` with `prefix` after name `after`, in name
/// order, from the backend (ETags in the checksum column, modification times).
pub async fn list(
    node: &Arc<Node>,
    key: &str,
    prefix: &str,
    after: &str,
    max: usize,
) -> Result<Vec<net::api::LsoEntry>> {
    let (_, name) = split_key(key);
    let page = backend(node, key)?
        .list_objects_after(name, prefix, after, max)
        .await
        .map_err(|e| backend_err(e, key, None))?;
    Ok(page
        .entries
        .into_iter()
        .map(|e| net::api::LsoEntry {
            name: e.name,
            size: e.size as i64,
            checksum: e.etag,
            mtime_ns: e.last_modified_ns,
            ..Default::default()
        })
        .collect())
}
