//! Layer 5: the per-core servers. Each core runs one pinned glommio executor that accepts on
//! the node's public port (SO_REUSEPORT, shared by all cores) and on a port of its own. The
//! public port plays the proxy (object requests are redirected to the owning core's port); a
//! core port plays the target. A target request that lands on a core that does not own the
//! object's mountpath is handed to the owner through a bounded cross-core channel: the
//! connection's descriptor and its buffered bytes move, the owner re-reads the head and
//! serves it. The route table is `routes.rs`.
//!
//! TLS (`net.http`, per network): a listener with a server config does the handshake on
//! the accepting core (under the head deadline) before the connection is served. A TLS
//! connection is handed off like a plain one: rustls is sans-IO and its session state is
//! `Send`, so the session (and the ciphertext read but not yet decrypted) moves with the
//! descriptor and the owner core continues it (`net::tls::TlsStream::into_parts`). Neither
//! a redirect (an extra round trip, and S3 clients do not follow it) nor serving on the
//! accepting core (its I/O would cross to another core's mountpaths) is needed. Plain HTTP
//! sent to a TLS port gets a plain-text 400 naming the mismatch, then the connection closes.
//!
//! Stopping (SIGTERM, SIGINT, or the API raising SIGTERM): the node first has the primary
//! flag it shut down for a while (`cluster::lifecycle`), so proxies stop redirecting to it;
//! then it drains (`drain.rs`): every response says `Connection: close`, after a short
//! grace the listening sockets of every core are shut down, running jobs are aborted (their
//! persisted markers resume them at the next start), and the process exits 0 once no
//! request is in flight or the drain deadline passed.

use crate::core::{Core, Handoff};
use crate::drain::Drain;
use crate::error::ApiError;
use crate::reply::send_error;
use crate::req::{Listener, Outcome, Req};
use cluster::node::tls::Network;
use cluster::node::{LocalView, Role};
use cluster::Node;
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement, PoolPlacement};
use net::conn::{Conn, ConnError};
use net::http::{self, BodyKind, RequestHead};
use net::tls::rustls::ServerConfig;
use net::tls::{AcceptError, Stream, TlsStream};
use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use tracing::Instrument;

/// Pending hand-offs per (source, destination) core pair.
pub const HANDOFF_QUEUE_MAX: usize = 256;
/// Connections one core serves at once; past it new connections are closed.
pub const CONNS_PER_CORE_MAX: usize = 8192;

/// How the node stops (flags `--drain-timeout-ms`, `--drain-grace-ms`).
#[derive(Clone, Copy, Debug)]
pub struct StopOpts {
    /// Most time in-flight requests get to finish after the listeners closed.
    pub drain_timeout_ms: u64,
    /// Time between telling the primary and closing the listeners: requests redirected
    /// under the previous Smap still arrive and are served (with `Connection: close`).
    pub drain_grace_ms: u64,
}

/// Default of `--drain-timeout-ms`.
pub const DRAIN_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Default of `--drain-grace-ms`.
pub const DRAIN_GRACE_MS_DEFAULT: u64 = 250;
/// Most time a stopping node waits for the primary to flag it shut down.
pub const ANNOUNCE_TIMEOUT_MS: u64 = 5_000;
/// How often a core checks whether the drain closed the listeners, and the main thread
/// whether requests are still in flight.
pub const DRAIN_POLL_MS: u64 = 10;

/// Why the node could not start (ports, mountpaths, executors); printed by `main`.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn start_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> StartError {
    StartError(format!("{what}: {e}"))
}

/// Start every core and block until they exit. Errors during start-up (ports in use,
/// mountpaths unusable) are returned before any core serves.
pub fn run(node: Node, stop: StopOpts) -> Result<(), StartError> {
    // Block SIGTERM/SIGINT here, before any thread exists, so every thread inherits the mask
    // and the main thread alone takes them with sigwait below.
    let sigs = net::signals::termination_signals();
    net::signals::block_signals(&sigs);
    let node = Arc::new(node);
    let drain = Arc::new(Drain::default());
    cluster::fshc::register(&node);
    let n = node.cfg.cores;
    let host = node.cfg.host.clone();
    check_shared_listeners(&node)?;
    if let Some(c) = &node.tls.client {
        net::tls::set_default_client(c.clone());
    }
    // glommio binds with SO_REUSEPORT, which would silently share a port with another
    // process of the same user; probe each port exclusively first for a clear error.
    let mut ports = vec![node.cfg.port];
    ports.extend(node.extra_listen().into_iter().map(|(_, p)| p));
    ports.extend((0..n).map(|c| node.core_port(c)));
    for p in &ports {
        bind_probe(&host, *p).map_err(|e| {
            start_err(
                format!("cannot listen on {host}:{p} (port in use or address not available)"),
                e,
            )
        })?;
    }
    let mut senders: Vec<Vec<Option<SharedSender<Handoff>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut receivers: Vec<Vec<SharedReceiver<Handoff>>> = (0..n).map(|_| Vec::new()).collect();
    for (i, row) in senders.iter_mut().enumerate() {
        for (j, slot) in row.iter_mut().enumerate() {
            if i != j {
                let (s, r) = shared_channel::new_bounded(HANDOFF_QUEUE_MAX);
                *slot = Some(s);
                receivers[j].push(r);
            }
        }
    }
    let cpus = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<usize, String>>();
    let cache_cap = open_cache_cap(n);
    let mut handles = Vec::new();
    for (k, (sends, recvs)) in senders.into_iter().zip(receivers).enumerate() {
        let node = node.clone();
        let drain = drain.clone();
        let ready = ready_tx.clone();
        let h = LocalExecutorBuilder::new(Placement::Fixed(k % cpus))
            .name(&format!("core-{k}"))
            .blocking_thread_pool_placement(PoolPlacement::Unbound(1))
            .spawn(move || async move {
                if let Err(e) =
                    core_main(k, node, drain, sends, recvs, ready.clone(), cache_cap).await
                {
                    let _ = ready.send(Err(format!("core {k}: {e:#}")));
                }
            })
            .map_err(|e| start_err(format!("cannot start executor for core {k}"), e))?;
        handles.push(h);
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(StartError(e)),
            Err(_) => return Err(StartError("a core exited during start-up".into())),
        }
    }
    tracing::info!(
        port = node.cfg.port,
        cores = n,
        proxy_id = %node.proxy_id,
        target_id = %node.target_id,
        smap_version = node.smap.load().version,
        "aisnode ready"
    );
    let what = match node.cfg.role {
        Role::All => format!("proxy {}, target {}", node.proxy_id, node.target_id),
        Role::Proxy => format!(
            "proxy {}{}",
            node.proxy_id,
            if node.is_primary() { " (primary)" } else { "" }
        ),
        Role::Target => format!("target {}", node.target_id),
    };
    let mps = node
        .mountpaths
        .load()
        .avail
        .iter()
        .map(|m| m.path_str.clone())
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "aisnode ready: {}://{}:{} ({what}, {n} cores{})",
        node.tls.scheme(Network::Public),
        node.cfg.host,
        node.cfg.port,
        if mps.is_empty() {
            String::new()
        } else {
            format!(", mountpaths: {mps}")
        }
    );
    crate::notify::ready_when_healthy(node.clone());
    let sig = net::signals::wait_signal(&sigs);
    tracing::info!(signal = sig, "stopping on signal");
    eprintln!("aisnode: stopping on signal {sig}");
    crate::notify::send("STOPPING=1\nSTATUS=draining");
    drain_and_stop(&node, &drain, stop)?;
    // Every acknowledged PUT is already durable and requests cut off by the deadline only
    // ever touched work files (removed at the next start), so exiting now loses nothing.
    drop(handles);
    Ok(())
}

/// The stop sequence, on the main thread (an executor of its own for the call to the
/// primary): announce, drain, close, abort jobs, wait for in-flight requests.
fn drain_and_stop(node: &Arc<Node>, drain: &Arc<Drain>, stop: StopOpts) -> Result<(), StartError> {
    use futures_lite::future;
    let ex = glommio::LocalExecutorBuilder::new(Placement::Unbound)
        .name("stop")
        .make()
        .map_err(|e| start_err("cannot start the stop executor", e))?;
    ex.run(async {
        let t0 = std::time::Instant::now();
        let announced = future::or(
            async { Some(cluster::lifecycle::announce_shutdown(node).await) },
            async {
                glommio::timer::sleep(std::time::Duration::from_millis(ANNOUNCE_TIMEOUT_MS)).await;
                None
            },
        )
        .await;
        match announced {
            Some(Ok(())) => tracing::info!(
                elapsed_ms = t0.elapsed().as_millis() as u64,
                "primary flagged this node shut down for a while"
            ),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "could not tell the primary; draining anyway");
            }
            None => tracing::warn!("the primary did not answer in time; draining anyway"),
        }
        drain.start_draining();
        glommio::timer::sleep(std::time::Duration::from_millis(stop.drain_grace_ms)).await;
        drain.close_listeners();
        let mut aborted = 0;
        for j in node.jobs.all() {
            if !j.is_finished() {
                j.abort("node shutting down");
                aborted += 1;
            }
        }
        tracing::info!(
            in_flight = drain.in_flight(),
            jobs_aborted = aborted,
            "listeners closed; draining"
        );
        let t1 = std::time::Instant::now();
        while !drain.idle() {
            if t1.elapsed() > std::time::Duration::from_millis(stop.drain_timeout_ms) {
                tracing::warn!(
                    in_flight = drain.in_flight(),
                    "drain deadline passed; exiting with requests in flight"
                );
                break;
            }
            glommio::timer::sleep(std::time::Duration::from_millis(DRAIN_POLL_MS)).await;
        }
        tracing::info!(
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "drained; exiting"
        );
        eprintln!("aisnode: drained; exiting");
    });
    Ok(())
}

/// Most time start-up waits for a port that is still in use.
pub const BIND_RETRY_MS: u64 = 3000;

/// Bind `host:port` exclusively (then release it). A predecessor that just exited can hold
/// its listening socket for a moment: io_uring requests in flight (glommio's pending
/// accepts) keep the file open until the kernel tears the ring down after the exit. So
/// EADDRINUSE is retried for up to [`BIND_RETRY_MS`] before it is reported.
fn bind_probe(host: &str, port: u16) -> std::io::Result<()> {
    let t0 = std::time::Instant::now();
    loop {
        match std::net::TcpListener::bind((host, port)) {
            Ok(_) => return Ok(()),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && t0.elapsed() < std::time::Duration::from_millis(BIND_RETRY_MS) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn core_main(
    k: usize,
    node: Arc<Node>,
    drain: Arc<Drain>,
    sends: Vec<Option<SharedSender<Handoff>>>,
    recvs: Vec<SharedReceiver<Handoff>>,
    ready: std::sync::mpsc::Sender<Result<usize, String>>,
    cache_cap: usize,
) -> Result<(), StartError> {
    let set = node.mountpaths.load();
    for (m, _) in set.avail.iter().zip(&set.core).filter(|(_, c)| **c == k) {
        m.prime_dma().await.map_err(|e| StartError(e.to_string()))?;
    }
    if k == 0 {
        for (m, _) in &set.leaving {
            m.prime_dma().await.map_err(|e| StartError(e.to_string()))?;
        }
    }
    drop(set);
    let host = node.cfg.host.clone();
    let public = listen(&host, node.cfg.port, &drain)?;
    let own = listen(&host, node.core_port(k), &drain)?;
    let mut extra = Vec::new();
    for (h, p) in node.extra_listen() {
        let tls = node.tls.listener(network_of(&node, &h, p));
        extra.push((listen(&h, p, &drain)?, tls));
    }
    // Receivers connect concurrently with our senders, or two cores would wait on each other.
    let recv_tasks: Vec<_> = recvs
        .into_iter()
        .map(|r| glommio::spawn_local(r.connect()))
        .collect();
    let mut senders = Vec::new();
    for s in sends {
        senders.push(match s {
            Some(s) => Some(s.connect().await),
            None => None,
        });
    }
    let core = Rc::new(Core {
        id: k,
        node,
        smap: LocalView::default(),
        bmd: LocalView::default(),
        mps: LocalView::default(),
        config: LocalView::default(),
        senders,
        conns: Cell::new(0),
        next_req: Cell::new(0),
        drain,
        closing: glommio::sync::Semaphore::new(0),
    });
    {
        let core = core.clone();
        glommio::spawn_local(async move {
            let tick = std::time::Duration::from_millis(DRAIN_POLL_MS);
            while !core.drain.is_draining() {
                glommio::timer::sleep(tick).await;
            }
            // From now on every response of this core (requests in flight included) tells
            // the client to take its next request elsewhere.
            net::http::set_closing_responses(true);
            while !core.drain.is_closed() {
                glommio::timer::sleep(tick).await;
            }
            core.closing.close();
        })
        .detach();
    }
    start_open_cache(&core, cache_cap);
    cluster::space::start_core(&core.node, k);
    cluster::metrics::register_core(k);
    if k == 0 {
        start_stats_tick(&core);
        start_cert_watch(&core);
    }
    for t in recv_tasks {
        let r = t.await;
        let core = core.clone();
        glommio::spawn_local(async move {
            while let Some(h) = r.recv().await {
                // SAFETY-free: OwnedFd guarantees the descriptor is open and ours.
                let tcp = unsafe_stream(h.fd);
                let stream = match h.tls {
                    Some(st) => Stream::Tls(Box::new(TlsStream::from_parts(tcp, st))),
                    None => Stream::Plain(tcp),
                };
                let conn = Conn::from_parts(stream, h.buf);
                glommio::spawn_local(serve(core.clone(), conn, Listener::Core, true)).detach();
            }
        })
        .detach();
    }
    let _ = ready.send(Ok(k));
    if k == 0 {
        cluster::membership::start(core.node.clone());
        if core.node.cfg.role != Role::Proxy
            && core
                .node
                .resilvering
                .load(std::sync::atomic::Ordering::Acquire)
        {
            // A mountpath change whose resilver did not finish (or mountpaths changed
            // across the restart): finish it.
            cluster::resilver::start(&core.node);
        }
        if core.node.cfg.role != Role::Proxy {
            cluster::mirror::resume(&core.node);
            cluster::ec::resume(&core.node);
        }
    }
    for (l, tls) in extra {
        glommio::spawn_local(accept_loop(core.clone(), l, Listener::Public, tls)).detach();
    }
    let public_tls = core.node.tls.listener(Network::Public);
    let a = glommio::spawn_local(accept_loop(
        core.clone(),
        public,
        Listener::Public,
        public_tls.clone(),
    ));
    let b = glommio::spawn_local(accept_loop(core, own, Listener::Core, public_tls));
    a.await;
    b.await;
    // The listeners closed (the node is stopping): the connections this core still serves
    // are tasks of its executor, which must keep running until the process exits (the
    // main thread decides when: drained, or the deadline passed).
    futures_lite::future::pending::<()>().await;
    Ok(())
}

/// Listening socket with SO_REUSEPORT (every core accepts on the public port) and
/// SO_REUSEADDR (a restarted node binds despite its predecessor's TIME_WAIT connections).
/// glommio's own `bind` sets only the former.
/// The socket is registered with the drain, which shuts it down when the node stops.
fn listen(host: &str, port: u16, drain: &Drain) -> Result<TcpListener, StartError> {
    use rustix::net::{AddressFamily, SocketType};
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| start_err(format!("resolve {host}:{port}"), e))?
        .next()
        .ok_or_else(|| StartError(format!("no address for {host}")))?;
    let family = if addr.is_ipv6() {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    let fd = rustix::net::socket(family, SocketType::STREAM, None)
        .map_err(|e| start_err("socket", e))?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)
        .map_err(|e| start_err("SO_REUSEADDR", e))?;
    rustix::net::sockopt::set_socket_reuseport(&fd, true)
        .map_err(|e| start_err("SO_REUSEPORT", e))?;
    rustix::net::bind(&fd, &addr).map_err(|e| start_err(format!("bind {addr}"), e))?;
    rustix::net::listen(&fd, 1024).map_err(|e| start_err(format!("listen {addr}"), e))?;
    drain.register_listener(fd.as_raw_fd());
    #[allow(unsafe_code)]
    // SAFETY: `fd` is an owned, listening TCP socket; ownership moves into the listener.
    Ok(unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) })
}

#[allow(unsafe_code)]
fn unsafe_stream(fd: OwnedFd) -> TcpStream {
    // SAFETY: `fd` is an owned, open TCP socket descriptor (dup'ed on the sending core);
    // ownership moves into the stream, which closes it on drop.
    unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) }
}

/// Resolves when the drain closed the listeners (this core's `closing` semaphore).
async fn closing(core: &Core) {
    let _ = core.closing.acquire(1).await;
}

async fn accept_loop(
    core: Rc<Core>,
    l: TcpListener,
    kind: Listener,
    tls: Option<Arc<ServerConfig>>,
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(l.accept().await) }, async {
            closing(&core).await;
            None
        })
        .await;
        let Some(accepted) = accepted else {
            return;
        };
        match accepted {
            Ok(s) => {
                if core.conns.get() >= CONNS_PER_CORE_MAX {
                    tracing::warn!(
                        core = core.id,
                        "connection limit {CONNS_PER_CORE_MAX} reached; closing new connection"
                    );
                    drop(s);
                    continue;
                }
                match &tls {
                    None => {
                        glommio::spawn_local(serve(
                            core.clone(),
                            Conn::new(Stream::Plain(s)),
                            kind,
                            false,
                        ))
                        .detach();
                    }
                    Some(cfg) => {
                        glommio::spawn_local(accept_tls(core.clone(), s, kind, cfg.clone()))
                            .detach();
                    }
                }
            }
            Err(_) if core.drain.is_draining() => {
                // Most likely the drain shut the socket down; the listener is dropped (and
                // its descriptor closed) only once the drain is done with every socket.
                closing(&core).await;
                return;
            }
            Err(e) => {
                tracing::warn!(core = core.id, error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// What a client that sent plain HTTP to a TLS port reads before the connection closes.
const PLAIN_TO_TLS_BODY: &str = "this port speaks HTTPS: use https://\n";

/// The TLS handshake of an accepted connection (bounded by the head deadline), then serve
/// it. A client speaking plain HTTP gets a plain-text 400.
async fn accept_tls(core: Rc<Core>, s: TcpStream, kind: Listener, cfg: Arc<ServerConfig>) {
    let t = Some(std::time::Duration::from_millis(
        net::conn::HEADER_TIMEOUT_MS,
    ));
    if s.set_read_timeout(t).is_err() || s.set_write_timeout(t).is_err() {
        return;
    }
    match TlsStream::accept(s, cfg).await {
        Ok(t) => serve(core, Conn::new(Stream::Tls(Box::new(t))), kind, false).await,
        Err(AcceptError::NotTls(mut s)) => {
            use futures_lite::AsyncWriteExt;
            let msg = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\
                 Content-Length: {}\r\n\r\n{PLAIN_TO_TLS_BODY}",
                PLAIN_TO_TLS_BODY.len()
            );
            let _ = s.write_all(msg.as_bytes()).await;
            let _ = s.shutdown(std::net::Shutdown::Both).await;
        }
        Err(AcceptError::Io(e)) => {
            tracing::debug!(core = core.id, error = %e, "TLS handshake failed");
        }
    }
}

/// The network of an extra listener (intra-control or intra-data) at `host:port`.
fn network_of(node: &Node, host: &str, port: u16) -> Network {
    let at = (host.to_string(), port);
    if node.cfg.intra_control.as_ref() == Some(&at) {
        Network::Control
    } else {
        Network::Data
    }
}

/// Networks that share a listener must agree on TLS.
fn check_shared_listeners(node: &Node) -> Result<(), StartError> {
    let public = (node.cfg.host.clone(), node.cfg.port);
    let control = node.cfg.intra_control.clone().unwrap_or(public.clone());
    let data = node.cfg.intra_data.clone().unwrap_or(public.clone());
    let nets = [
        (Network::Public, &public),
        (Network::Control, &control),
        (Network::Data, &data),
    ];
    for (i, (na, a)) in nets.iter().enumerate() {
        for (nb, b) in &nets[i + 1..] {
            if a == b && node.tls.https[*na as usize] != node.tls.https[*nb as usize] {
                return Err(StartError(format!(
                    "net.http: the {na:?} and {nb:?} networks share {}:{} but not their \
                     HTTPS setting (give them separate addresses or the same setting)",
                    a.0, a.1
                )));
            }
        }
    }
    Ok(())
}

/// Serve one connection. `handed_off`: another core passed it on with its request still
/// counted in flight (`Drain`); that count ends once the head was read here again.
async fn serve(core: Rc<Core>, mut conn: Conn, kind: Listener, handed_off: bool) {
    core.conns.set(core.conns.get() + 1);
    let remote = conn
        .stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut held = handed_off;
    loop {
        // An idle keep-alive connection ends when the drain closes the listeners.
        let read = futures_lite::future::or(async { Some(conn.read_head().await) }, async {
            closing(&core).await;
            None
        })
        .await;
        let in_flight = matches!(read, Some(Ok(Some(_)))).then(|| core.drain.begin_request());
        if std::mem::take(&mut held) {
            core.drain.end_handed_off();
        }
        let Some(read) = read else {
            break;
        };
        let head = match read {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                let status = match &e {
                    ConnError::Http(h) => h.status(),
                    ConnError::Timeout(_) => 408,
                    _ => 0,
                };
                if status != 0 {
                    let err = ApiError::new(status, e.to_string()).closing();
                    let req = Req {
                        head: RequestHead {
                            method: String::new(),
                            path: String::new(),
                            query: String::new(),
                            minor_version: 1,
                            headers: vec![],
                            body: BodyKind::Empty,
                            keep_alive: false,
                            expect_continue: false,
                        },
                        query: vec![],
                        remote: remote.clone(),
                        listener: kind,
                        body_done: true,
                        prefetched: None,
                    };
                    let _ = send_error(&core, &mut conn, &req, &err).await;
                }
                break;
            }
        };
        let id = core.next_req.get();
        core.next_req.set(id + 1);
        let span = tracing::debug_span!("req", id = %format!("{}-{id}", core.id), method = %head.method, path = %head.path);
        let outcome = dispatch(&core, &mut conn, head, kind, &remote)
            .instrument(span)
            .await;
        match outcome {
            Outcome::KeepAlive => continue,
            Outcome::Close => break,
            Outcome::Handoff(to) => {
                core.conns.set(core.conns.get() - 1);
                if handoff(&core, conn, to).await {
                    // The receiving core ends this count (see `serve`'s `handed_off`).
                    if let Some(g) = in_flight {
                        g.keep();
                    }
                }
                return;
            }
        }
    }
    core.conns.set(core.conns.get() - 1);
    conn.close().await;
}

/// Pass the connection to core `to`; false if it could not be (the connection is dropped).
async fn handoff(core: &Core, conn: Conn, to: usize) -> bool {
    assert_ne!(to, core.id, "a hand-off never targets its own core");
    let (stream, buf) = conn.into_parts_rewound();
    let (stream, tls) = match stream {
        Stream::Plain(s) => (s, None),
        Stream::Tls(t) => {
            let (s, st) = t.into_parts();
            (s, Some(st))
        }
    };
    // SAFETY: the descriptor belongs to `stream`, alive for this borrow.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let fd = match rustix::io::dup(borrowed) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!(error = %e, "dup for hand-off failed; dropping connection");
            return false;
        }
    };
    drop(stream);
    let Some(Some(s)) = core.senders.get(to) else {
        tracing::error!(to, "no hand-off channel to core");
        return false;
    };
    if s.send(Handoff { fd, buf, tls }).await.is_err() {
        tracing::error!(to, "hand-off channel closed");
        return false;
    }
    true
}

async fn dispatch(
    core: &Rc<Core>,
    conn: &mut Conn,
    head: RequestHead,
    listener: Listener,
    remote: &str,
) -> Outcome {
    let query = match http::parse_query(&head.query) {
        Ok(q) => q,
        Err(e) => vec![("__bad_query".to_string(), e.to_string())],
    };
    let mut req = Req {
        head,
        query,
        remote: remote.to_string(),
        listener,
        body_done: false,
        prefetched: None,
    };
    if core.drain.is_draining() {
        // Answer, and tell the client to take its next request elsewhere.
        net::http::set_closing_responses(true);
        req.head.keep_alive = false;
    }
    if !req.has_body() {
        req.body_done = true;
    }
    let op = crate::routes::metrics_op(core, &req);
    let started = std::time::Instant::now();
    let _inflight = cluster::metrics::begin_request();
    crate::routes::count_redirect(op, &req);
    let result = match req.q("__bad_query") {
        Some(m) => Err(ApiError::bad_request(format!("invalid query string: {m}"))),
        None => crate::routes::route(core, conn, &mut req).await,
    };
    let keep = req.head.keep_alive;
    let outcome = match result {
        Ok(Outcome::KeepAlive) if keep && req.body_done => Outcome::KeepAlive,
        Ok(Outcome::KeepAlive) => Outcome::Close,
        Ok(o) => o,
        Err(mut e) => {
            if !req.body_done || !keep {
                e.close = true;
            }
            if send_error(core, conn, &req, &e).await.is_err() || e.close {
                Outcome::Close
            } else {
                Outcome::KeepAlive
            }
        }
    };
    let st = conn.request_stats();
    // A redirect is counted where the object is served; only a gateway counts its own
    // answers (AIS's proxy `get.n`), not a single-process node redirecting to its own core.
    let op = if (300..400).contains(&st.status) && core.node.cfg.role != Role::Proxy {
        cluster::metrics::Op::Other
    } else {
        op
    };
    if !matches!(outcome, Outcome::Handoff(_)) {
        // A hand-off is counted once, by the core that serves it.
        cluster::metrics::request_done(
            op,
            st.status,
            st.bytes_in,
            st.bytes_out,
            started.elapsed().as_nanos() as u64,
        );
    }
    outcome
}

/// Close a metrics interval every `stats_interval` (core 0; AIS `periodic.stats_time`): the
/// averaged latencies and the rates of the disks under the mountpaths.
fn start_stats_tick(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            let set = core.mps();
            let mut disks: Vec<String> = set
                .avail
                .iter()
                .filter_map(|m| cluster::metrics::disk_of_dev(m.dev))
                .collect();
            disks.sort();
            disks.dedup();
            cluster::metrics::tick(&disks);
            glommio::timer::sleep(core.node.cfg.stats_interval).await;
        }
    })
    .detach();
}

/// How often core 0 checks whether the certificate or key file changed (then reloads them,
/// as `load-x509` does).
pub const CERT_CHECK_MS: u64 = 2_000;

/// Reload the node's certificate when its files change (rotation without calling
/// `load-x509`); the stat and the reads run on the blocking pool, off the executor.
fn start_cert_watch(core: &Rc<Core>) {
    let Some(store) = core.node.tls.store.clone() else {
        return;
    };
    glommio::spawn_local(async move {
        let mut failing = String::new();
        loop {
            glommio::timer::sleep(std::time::Duration::from_millis(CERT_CHECK_MS)).await;
            let s = store.clone();
            match glommio::executor()
                .spawn_blocking(move || s.reload_if_changed())
                .await
            {
                Ok(true) => {
                    failing.clear();
                    tracing::info!(server_crt = %store.crt_path().display(), "X.509 certificate changed on disk; reloaded");
                }
                Ok(false) => {}
                Err(e) => {
                    let m = e.to_string();
                    if m != failing {
                        tracing::warn!(error = %m, "X.509 files changed but do not load; the previous certificate stays in use");
                        failing = m;
                    }
                }
            }
        }
    })
    .detach();
}

/// How often a core checks whether its mountpath set changed (then its open-file cache is
/// dropped, so a detached mountpath's file system is released).
const OPEN_CACHE_CHECK_MS: u64 = 200;
/// Open-file cache entries unused for this long (two sweeps) are closed.
const OPEN_CACHE_SWEEP_MS: u64 = 5_000;
/// At most this many cached open files per core.
const OPEN_CACHE_MAX: usize = 16_384;

/// Raise the soft open-file limit to the hard one (the open-file caches and the connections
/// of every core share it); the cache size each core may use: a quarter of the limit split
/// over the cores, at most [`OPEN_CACHE_MAX`].
pub fn open_cache_cap(cores: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
        l = getrlimit(Resource::Nofile);
    }
    let soft = l.current.unwrap_or(1 << 20) as usize;
    (soft / 4 / cores.max(1)).min(OPEN_CACHE_MAX)
}

/// Turn on this core's open-file cache (engine::opencache) and its upkeep: cleared when
/// the mountpath set changes, swept of idle entries.
fn start_open_cache(core: &Rc<Core>, cap: usize) {
    if core.node.cfg.role == Role::Proxy || cap == 0 {
        return;
    }
    engine::opencache::enable(cap);
    let core = core.clone();
    glommio::spawn_local(async move {
        let mut seen = core.mps();
        let mut since_sweep = 0u64;
        loop {
            glommio::timer::sleep(std::time::Duration::from_millis(OPEN_CACHE_CHECK_MS)).await;
            let now = core.mps();
            if !Arc::ptr_eq(&now, &seen) {
                engine::opencache::clear();
                seen = now;
            }
            since_sweep += OPEN_CACHE_CHECK_MS;
            if since_sweep >= OPEN_CACHE_SWEEP_MS {
                engine::opencache::sweep();
                engine::dircache::DIRS.sweep();
                since_sweep = 0;
            }
        }
    })
    .detach();
}
