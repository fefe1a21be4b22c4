//! Object transfers between targets over the intra-data network: a PUT of one object's
//! bytes, checksum and custom metadata to the core that owns the destination, on keep-alive
//! connections pooled per destination. Rebalance moves objects with it (keeping the version,
//! never replacing a newer copy); single-object copy writes a new version at the
//! destination.

use crate::daemon::Node;
use crate::error::Error;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, READ_BUFFER_BYTES};
use net::client::Endpoint;
use net::time;
use net::tls::Stream;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Intra-cluster header of a moved object: its modification time (ns since the epoch).
pub const HDR_MTIME_NS: &str = "Ais-Mtime-Ns";

/// Per-object transfer deadline for each socket operation.
pub const TRANSFER_IO_TIMEOUT_MS: u64 = 60_000;
/// Idle keep-alive connections kept per destination.
pub const TRANSFER_POOL_PER_DEST_MAX: usize = 16;
/// Deadline to connect to a destination.
pub const TRANSFER_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Largest reply head from a destination.
pub const TRANSFER_REPLY_HEAD_BYTES_MAX: usize = 32 * 1024;

/// What the destination does with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rebalance: the same object at its new owner, its version kept; a copy the destination
    /// already has is newer (a client PUT after the map change) and stays.
    Move,
    /// A copy under another name or bucket: a new version there, replacing what it had.
    Copy,
}

/// Where an object goes: the owning core's URL, bucket and name.
pub struct Dest<'a> {
    pub base_url: &'a str,
    pub bucket: &'a str,
    pub object: &'a str,
}

/// Keep-alive connections to destinations, reused across objects (a connection per object
/// costs more than a small object's transfer).
#[derive(Default)]
pub struct Pool {
    idle: RefCell<HashMap<String, Vec<Stream>>>,
}

impl Pool {
    fn take(&self, addr: &str) -> Option<Stream> {
        self.idle
            .borrow_mut()
            .get_mut(addr)
            .and_then(std::vec::Vec::pop)
    }
    /// Drop every idle connection to `addr` (one of them was found dead: the peer restarted
    /// or closed idle connections, so the others are likely dead too).
    fn forget(&self, addr: &str) {
        self.idle.borrow_mut().remove(addr);
    }
    fn give(&self, addr: &str, s: Stream) {
        let mut m = self.idle.borrow_mut();
        let v = m.entry(addr.to_string()).or_default();
        if v.len() < TRANSFER_POOL_PER_DEST_MAX {
            v.push(s);
        }
    }
}

/// Stream `bucket/object` from mountpath `mp` to `to`, with its checksum (the receiver
/// verifies it) and custom metadata. `Ok(None)`: the source is gone (deleted since it was
/// listed). The receiver has the object durably when this returns `Ok(Some(bytes))`.
pub async fn send(
    node: &Node,
    pool: &Pool,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    to: &Dest<'_>,
    mode: Mode,
) -> Result<Option<u64>, Error> {
    let bck = Bck::ais(bucket);
    let rd = match ObjectReader::open(mp, &bck, object).await {
        Ok(rd) => rd,
        // Deleted (or already moved) since the walk listed it: nothing to do.
        Err(engine::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(Error::Internal(e.to_string())),
    };
    let lom = rd.lom.clone();
    let (ep, _) = net::client::parse_http_url(&format!("{}/", to.base_url))
        .map_err(|e| Error::PeerUnreachable(e.to_string()))?;
    let addr = format!("{}:{}", ep.host, ep.port);
    let mut up = match connect(pool, &ep, &addr).await {
        Ok(s) => s,
        Err(e) => {
            rd.close().await;
            return Err(e);
        }
    };
    let target = format!(
        "/v1/objects/{}{}&pid={}&utm={}",
        crate::meta::url_obj_q(to.bucket, to.object),
        if mode == Mode::Move {
            "&rebalance=true"
        } else {
            ""
        },
        node.self_id(),
        time::base36(time::now_unix_ns() as u64)
    );
    let custom: Vec<String> = lom.custom.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(3 + custom.len());
    if !lom.cksum_type.is_empty() {
        headers.push(("Ais-Checksum-Type", &lom.cksum_type));
        headers.push(("Ais-Checksum-Value", &lom.cksum_value));
    }
    if mode == Mode::Move && !lom.version.is_empty() {
        headers.push(("Ais-Version", &lom.version));
    }
    // A moved object keeps its modification time: it is the same stored object (an EC
    // bucket's slice generation is that time, so the new owner's slices match the old ones).
    let mtime = lom.mtime_ns.to_string();
    if mode == Mode::Move {
        headers.push((HDR_MTIME_NS, &mtime));
    }
    for kv in &custom {
        headers.push(("Ais-Custom-Md", kv));
    }
    // The receiver checks requests without a proxy's signature: this node's token passes.
    let authz = crate::auth::node_authorization();
    if let Some(a) = &authz {
        headers.push(("Authorization", a));
    }
    let mut head = Vec::with_capacity(512);
    net::client::write_request_head(&mut head, "PUT", &addr, &target, &headers, lom.size);
    if let Err(e) = up.write_all(&head).await {
        rd.close().await;
        return Err(Error::PeerUnreachable(format!("send to {addr}: {e}")));
    }
    let size = lom.size;
    if size > 0 {
        let mut s = rd.stream(0, size);
        let mut sent = 0u64;
        while sent < size {
            let b = match s.get_buffer_aligned(READ_BUFFER_BYTES as u64).await {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => {
                    let _ = s.close().await;
                    return Err(Error::Internal(
                        "local copy shorter than its metadata".into(),
                    ));
                }
                Err(e) => {
                    let _ = s.close().await;
                    return Err(Error::Internal(format!("read: {e}")));
                }
            };
            if let Err(e) = up.write_all(&b).await {
                let _ = s.close().await;
                return Err(Error::PeerUnreachable(format!("send to {addr}: {e}")));
            }
            sent += b.len() as u64;
        }
        let _ = s.close().await;
    } else {
        rd.close().await;
    }
    finish(pool, &addr, up).await?;
    crate::metrics::add(crate::metrics::M::StreamOutN, 1);
    crate::metrics::add(crate::metrics::M::StreamOutSize, size);
    Ok(Some(size))
}

/// A connection to `addr` from the pool, or a new one.
async fn connect(pool: &Pool, ep: &Endpoint, addr: &str) -> Result<Stream, Error> {
    if let Some(s) = pool.take(addr) {
        return Ok(s);
    }
    connect_new(ep).await
}

/// A new connection to `addr` (never a pooled one).
async fn connect_new(ep: &Endpoint) -> Result<Stream, Error> {
    let deadline = std::time::Instant::now() + Duration::from_millis(TRANSFER_CONNECT_TIMEOUT_MS);
    let s = net::client::connect_stream(ep, deadline)
        .await
        .map_err(|e| Error::PeerUnreachable(format!("connect {}: {e}", ep.authority)))?;
    let t = Some(Duration::from_millis(TRANSFER_IO_TIMEOUT_MS));
    let _ = s.set_read_timeout(t);
    let _ = s.set_write_timeout(t);
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Read the destination's reply to a PUT whose body was sent; 200 gives the connection back
/// to the pool (if it can be reused), anything else is an error.
async fn finish(pool: &Pool, addr: &str, mut up: Stream) -> Result<(), Error> {
    let mut resp = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let (status, reusable) = loop {
        let n = up
            .read(&mut buf)
            .await
            .map_err(|e| Error::PeerUnreachable(format!("read reply from {addr}: {e}")))?;
        if n == 0 {
            return Err(Error::PeerUnreachable(format!(
                "{addr} closed without a reply"
            )));
        }
        resp.extend_from_slice(&buf[..n]);
        let mut rh = net::client::ResponseHead::default();
        match net::client::parse_response_head(&resp, &mut rh, false) {
            Ok(Some(used)) => {
                let empty = matches!(
                    rh.framing,
                    net::client::Framing::None | net::client::Framing::Length(0)
                );
                break (rh.status, rh.keep_alive && empty && used == resp.len());
            }
            Ok(None) if resp.len() < TRANSFER_REPLY_HEAD_BYTES_MAX => continue,
            Ok(None) => {
                return Err(Error::PeerUnreachable(format!(
                    "{addr}: oversized reply head"
                )))
            }
            Err(e) => return Err(Error::PeerUnreachable(format!("{addr}: {e}"))),
        }
    };
    if status != 200 {
        return Err(Error::Peer {
            status,
            message: format!("{addr}: {}", String::from_utf8_lossy(&resp)),
        });
    }
    if reusable {
        pool.give(addr, up);
    }
    Ok(())
}

/// Stream the file at `path` (`size` bytes, read on the blocking thread a chunk at a time) as
/// the body of `PUT <base_url><target>` with `headers`; the receiver has it when this returns
/// `Ok` (a 200 reply). Erasure coding sends slice files with it.
pub async fn put_file(
    pool: &Pool,
    base_url: &str,
    target: &str,
    headers: &[(&str, &str)],
    path: &std::path::Path,
    size: u64,
) -> Result<(), Error> {
    let (ep, _) = net::client::parse_http_url(&format!("{base_url}/"))
        .map_err(|e| Error::PeerUnreachable(e.to_string()))?;
    let addr = format!("{}:{}", ep.host, ep.port);
    // A pooled connection may be dead (the peer restarted, or closed it idle): then the other
    // idle ones go too and the PUT runs once more on a new connection. Repeating the PUT is
    // safe: the receiver replaces what the first attempt left.
    let mut pooled = pool.take(&addr);
    loop {
        let reused = pooled.is_some();
        let up = match pooled.take() {
            Some(s) => s,
            None => connect_new(&ep).await?,
        };
        match put_file_on(pool, up, &addr, target, headers, path, size).await {
            Err(Error::PeerUnreachable(_)) if reused => pool.forget(&addr),
            r => return r,
        }
    }
}

async fn put_file_on(
    pool: &Pool,
    mut up: Stream,
    addr: &str,
    target: &str,
    headers: &[(&str, &str)],
    path: &std::path::Path,
    size: u64,
) -> Result<(), Error> {
    let p = path.to_path_buf();
    let file = glommio::executor()
        .spawn_blocking(move || std::fs::File::open(p))
        .await
        .map_err(|e| Error::Internal(format!("open {}: {e}", path.display())))?;
    let authz = crate::auth::node_authorization();
    let mut all = headers.to_vec();
    if let Some(a) = &authz {
        all.push(("Authorization", a));
    }
    let mut head = Vec::with_capacity(512 + all.len() * 64);
    net::client::write_request_head(&mut head, "PUT", addr, target, &all, size);
    up.write_all(&head)
        .await
        .map_err(|e| Error::PeerUnreachable(format!("send to {addr}: {e}")))?;
    stream_file(&mut up, file, path, size, addr).await?;
    finish(pool, addr, up).await
}

/// Write `size` bytes of `file` to `up`, read on the blocking thread a chunk at a time.
async fn stream_file(
    up: &mut Stream,
    mut file: std::fs::File,
    path: &std::path::Path,
    size: u64,
    addr: &str,
) -> Result<(), Error> {
    use std::io::Read;
    let mut sent = 0u64;
    while sent < size {
        let want = (size - sent).min(READ_BUFFER_BYTES as u64) as usize;
        let (f, chunk) = glommio::executor()
            .spawn_blocking(move || {
                let mut b = vec![0u8; want];
                let r = file.read(&mut b).map(|n| {
                    b.truncate(n);
                    b
                });
                (file, r)
            })
            .await;
        file = f;
        let chunk = chunk.map_err(|e| Error::Internal(format!("read {}: {e}", path.display())))?;
        if chunk.is_empty() {
            return Err(Error::Internal(format!(
                "{} shrank while it was read ({sent} of {size} bytes)",
                path.display()
            )));
        }
        up.write_all(&chunk)
            .await
            .map_err(|e| Error::PeerUnreachable(format!("send to {addr}: {e}")))?;
        sent += chunk.len() as u64;
    }
    Ok(())
}

/// Stream a plain file (`size` bytes at `path`, read on the blocking thread a chunk at a
/// time) to `to` as a new version of the object there (promote). The receiver computes the
/// checksum.
pub async fn send_file(
    node: &Node,
    pool: &Pool,
    path: &std::path::Path,
    size: u64,
    to: &Dest<'_>,
) -> Result<u64, Error> {
    let (ep, _) = net::client::parse_http_url(&format!("{}/", to.base_url))
        .map_err(|e| Error::PeerUnreachable(e.to_string()))?;
    let addr = format!("{}:{}", ep.host, ep.port);
    let p = path.to_path_buf();
    let file = glommio::executor()
        .spawn_blocking(move || std::fs::File::open(p))
        .await
        .map_err(|e| Error::BadRequest(format!("promote: {}: {e}", path.display())))?;
    let mut up = connect(pool, &ep, &addr).await?;
    let target = format!(
        "/v1/objects/{}&pid={}&utm={}",
        crate::meta::url_obj_q(to.bucket, to.object),
        node.self_id(),
        time::base36(time::now_unix_ns() as u64)
    );
    let authz = crate::auth::node_authorization();
    let hdrs: Vec<(&str, &str)> = authz
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    let mut head = Vec::with_capacity(512);
    net::client::write_request_head(&mut head, "PUT", &addr, &target, &hdrs, size);
    up.write_all(&head)
        .await
        .map_err(|e| Error::PeerUnreachable(format!("send to {addr}: {e}")))?;
    stream_file(&mut up, file, path, size, &addr)
        .await
        .map_err(|e| match e {
            Error::Internal(m) => Error::Internal(format!("promote: {m}")),
            e => e,
        })?;
    finish(pool, &addr, up).await?;
    Ok(size)
}
