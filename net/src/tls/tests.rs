//! Handshakes over loopback with certificates made by the `openssl` CLI: trust, refusal,
//! client certificates, reload, plain HTTP on a TLS port, and a session moved to another
//! thread mid-connection (the cross-core hand-off).

use super::*;
use glommio::net::TcpListener;
use glommio::LocalExecutorBuilder;
use std::process::Command;

/// A CA and a leaf for 127.0.0.1/localhost signed by it, in a fresh directory.
pub(crate) struct Pki {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("net-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for ca in ["ca", "ca2"] {
            openssl(
                &dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN={ca}"),
                ],
            );
        }
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        for (name, ca) in [
            ("server", "ca"),
            ("server2", "ca"),
            ("client", "ca"),
            ("other", "ca2"),
        ] {
            openssl(
                &dir,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            );
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.crt"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.crt"),
                    "-days",
                    "2",
                    "-extfile",
                    "ext.cnf",
                ],
            );
        }
        Pki { dir }
    }
    pub fn p(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run<F: std::future::Future<Output = T> + 'static, T: 'static>(f: F) -> T {
    LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .make()
        .unwrap()
        .run(f)
}

const T: Duration = Duration::from_secs(5);

/// Serve one connection: handshake, then echo each read back until the end.
async fn echo_server(l: TcpListener, cfg: Arc<ServerConfig>) -> Result<u64, String> {
    let tcp = l.accept().await.map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(T)).unwrap();
    tcp.set_write_timeout(Some(T)).unwrap();
    let mut s = match TlsStream::accept(tcp, cfg).await {
        Ok(s) => s,
        Err(AcceptError::NotTls(_)) => return Err("not tls".into()),
        Err(AcceptError::Io(e)) => return Err(e.to_string()),
    };
    let mut buf = vec![0u8; 100_000];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        s.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
    }
}

/// Connect, send `msg`, read it back; the server's result.
async fn echo_once(
    cfg: Arc<ServerConfig>,
    client: ClientTls,
    msg: Vec<u8>,
) -> (Result<(), String>, Result<u64, String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let srv = glommio::spawn_local(echo_server(l, cfg));
    let cli = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(T)).unwrap();
        tcp.set_write_timeout(Some(T)).unwrap();
        let mut s = TlsStream::connect(tcp, &client, "127.0.0.1")
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(&msg).await.map_err(|e| e.to_string())?;
        let mut got = vec![0u8; msg.len()];
        let mut off = 0;
        while off < got.len() {
            let n = s.read(&mut got[off..]).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("eof after {off}"));
            }
            off += n;
        }
        assert_eq!(got, msg);
        s.shutdown().await;
        Ok(())
    };
    let c = cli.await;
    let s = srv.await;
    (c, s)
}

fn client(o: ClientTlsOpts) -> ClientTls {
    ClientTls::new(&o).unwrap()
}

#[test]
fn handshake_with_the_ca_echoes_a_large_message_and_a_wrong_ca_is_refused() {
    let pki = Pki::new("basic");
    let store = CertStore::load(&pki.p("server.crt"), &pki.p("server.key")).unwrap();
    let cfg = server_config(store, None, ClientAuth::None).unwrap();
    let good = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        ..Default::default()
    });
    let wrong = client(ClientTlsOpts {
        ca: Some(pki.p("ca2.crt")),
        ..Default::default()
    });
    let skip = client(ClientTlsOpts {
        skip_verify: true,
        ..Default::default()
    });
    let msg: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (c, s) = run({
        let (cfg, msg) = (cfg.clone(), msg.clone());
        async move { echo_once(cfg, good, msg).await }
    });
    assert_eq!(c, Ok(()));
    assert_eq!(s, Ok(msg.len() as u64));
    let (c, s) = run({
        let cfg = cfg.clone();
        async move { echo_once(cfg, wrong, b"x".to_vec()).await }
    });
    let c = c.unwrap_err();
    assert!(
        c.contains("UnknownIssuer") || c.contains("unknown issuer"),
        "{c}"
    );
    assert!(s.is_err(), "the server sees the client's alert: {s:?}");
    let (c, _) = run(async move { echo_once(cfg, skip, b"hello".to_vec()).await });
    assert_eq!(c, Ok(()));
}

#[test]
fn required_client_certificate_refuses_a_client_without_one() {
    let pki = Pki::new("mtls");
    let store = CertStore::load(&pki.p("server.crt"), &pki.p("server.key")).unwrap();
    let cfg = server_config(store, Some(&pki.p("ca.crt")), ClientAuth::Require).unwrap();
    let with = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        cert: Some((pki.p("client.crt"), pki.p("client.key"))),
        ..Default::default()
    });
    let without = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        ..Default::default()
    });
    let foreign = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        cert: Some((pki.p("other.crt"), pki.p("other.key"))),
        ..Default::default()
    });
    let (c, s) = run({
        let cfg = cfg.clone();
        async move { echo_once(cfg, with, b"hi".to_vec()).await }
    });
    assert_eq!((c, s), (Ok(()), Ok(2)));
    let (c, s) = run({
        let cfg = cfg.clone();
        async move { echo_once(cfg, without, b"hi".to_vec()).await }
    });
    let s = s.unwrap_err();
    assert!(c.is_err() && s.contains("no certificates"), "{c:?} {s}");
    let (c, s) = run(async move { echo_once(cfg, foreign, b"hi".to_vec()).await });
    assert!(c.is_err() && s.is_err());
    assert!(ClientAuth::from_ais(1).is_err() && ClientAuth::from_ais(5).is_err());
    assert_eq!(ClientAuth::from_ais(4).unwrap(), ClientAuth::Require);
    assert!(server_config(
        CertStore::load(&pki.p("server.crt"), &pki.p("server.key")).unwrap(),
        None,
        ClientAuth::Require
    )
    .is_err());
}

#[test]
fn reload_serves_the_new_certificate_to_new_handshakes_and_a_bad_file_keeps_the_old() {
    let pki = Pki::new("reload");
    let crt = pki.p("live.crt");
    let key = pki.p("live.key");
    std::fs::copy(pki.p("server.crt"), &crt).unwrap();
    std::fs::copy(pki.p("server.key"), &key).unwrap();
    let store = CertStore::load(&crt, &key).unwrap();
    let first = store.chain()[0].clone();
    std::fs::write(&crt, b"garbage").unwrap();
    assert!(store.reload().is_err());
    assert_eq!(
        store.chain()[0],
        first,
        "a failed reload keeps the old certificate"
    );
    std::fs::copy(pki.p("server2.crt"), &crt).unwrap();
    std::fs::copy(pki.p("server2.key"), &key).unwrap();
    store.reload().unwrap();
    let second = store.chain()[0].clone();
    assert_ne!(first, second);
    assert!(
        !store.reload_if_changed().unwrap(),
        "nothing changed since the reload"
    );
    // A rotation half done (new certificate, old key) does not load; once the key follows,
    // the next check picks the pair up.
    std::fs::copy(pki.p("server.crt"), &crt).unwrap();
    assert!(store.reload_if_changed().is_err());
    assert_eq!(store.chain()[0], second);
    std::fs::copy(pki.p("server.key"), &key).unwrap();
    assert!(store.reload_if_changed().unwrap());
    assert_eq!(store.chain()[0], first);
    std::fs::copy(pki.p("server2.crt"), &crt).unwrap();
    std::fs::copy(pki.p("server2.key"), &key).unwrap();
    assert!(store.reload_if_changed().unwrap());
    assert_eq!(store.chain()[0], second);
    let cfg = server_config(store, None, ClientAuth::None).unwrap();
    let ca = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        ..Default::default()
    });
    let seen = run(async move {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let srv = glommio::spawn_local(echo_server(l, cfg));
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_read_timeout(Some(T)).unwrap();
        let s = TlsStream::connect(tcp, &ca, "localhost").await.unwrap();
        let leaf = s.peer_certificates().unwrap()[0].clone();
        s.shutdown().await;
        let _ = srv.await;
        leaf
    });
    assert_eq!(seen, second);
}

#[test]
fn plain_http_to_a_tls_port_is_recognised_before_the_handshake() {
    let pki = Pki::new("plain");
    let store = CertStore::load(&pki.p("server.crt"), &pki.p("server.key")).unwrap();
    let cfg = server_config(store, None, ClientAuth::None).unwrap();
    let r = run(async move {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let srv = glommio::spawn_local(echo_server(l, cfg));
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        futures_lite::AsyncWriteExt::write_all(&mut tcp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        srv.await
    });
    assert_eq!(r, Err("not tls".to_string()));
}

#[test]
fn a_session_moved_to_another_thread_mid_connection_keeps_working() {
    let pki = Pki::new("move");
    let store = CertStore::load(&pki.p("server.crt"), &pki.p("server.key")).unwrap();
    let cfg = server_config(store, None, ClientAuth::None).unwrap();
    let ca = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        ..Default::default()
    });
    let (tx, rx) = std::sync::mpsc::channel::<(std::os::fd::OwnedFd, TlsState)>();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // Thread A: handshake, read the first message, pass the session on.
    let a = std::thread::spawn(move || {
        run(async move {
            use std::os::fd::{FromRawFd, IntoRawFd};
            let (std_tcp, _) = l.accept().unwrap();
            // SAFETY: a freshly accepted, owned socket.
            #[allow(unsafe_code)]
            let tcp = unsafe { TcpStream::from_raw_fd(std_tcp.into_raw_fd()) };
            tcp.set_read_timeout(Some(T)).unwrap();
            let Ok(mut s) = TlsStream::accept(tcp, cfg).await else {
                panic!("handshake")
            };
            let mut b = [0u8; 5];
            let n = s.read(&mut b).await.unwrap();
            assert_eq!(&b[..n], b"first");
            let (tcp, st) = s.into_parts();
            // SAFETY: the descriptor of `tcp`, which is dropped right after the dup.
            #[allow(unsafe_code)]
            let fd = rustix::io::dup(unsafe {
                std::os::fd::BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&tcp))
            })
            .unwrap();
            drop(tcp);
            tx.send((fd, st)).unwrap();
        });
    });
    // Thread B: the rest of the conversation.
    let b = std::thread::spawn(move || {
        let (fd, st) = rx.recv_timeout(T).unwrap();
        run(async move {
            use std::os::fd::{FromRawFd, IntoRawFd};
            // SAFETY: an owned socket descriptor passed from thread A.
            #[allow(unsafe_code)]
            let tcp = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
            tcp.set_read_timeout(Some(T)).unwrap();
            let mut s = TlsStream::from_parts(tcp, st);
            let mut b = vec![0u8; 64];
            let mut got = Vec::new();
            while got.len() < 6 {
                let n = s.read(&mut b).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&b[..n]);
            }
            assert_eq!(got, b"second");
            s.write_all(b"reply").await.unwrap();
            s.shutdown().await;
        });
    });
    run(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_read_timeout(Some(T)).unwrap();
        let mut s = TlsStream::connect(tcp, &ca, "127.0.0.1").await.unwrap();
        s.write_all(b"first").await.unwrap();
        s.write_all(b"second").await.unwrap();
        let mut b = vec![0u8; 16];
        let mut got = Vec::new();
        loop {
            let n = s.read(&mut b).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, b"reply");
    });
    a.join().unwrap();
    b.join().unwrap();
}

/// Serve `n` connections of HTTP/1.1 over TLS: each request head gets a 200 with its path as
/// the body, kept alive; `/redirect` gets a 307 to `/final` on the same server.
async fn https_server(l: TcpListener, cfg: Arc<ServerConfig>, n: usize) -> usize {
    let mut served = 0;
    for _ in 0..n {
        let tcp = l.accept().await.unwrap();
        tcp.set_read_timeout(Some(T)).unwrap();
        let Ok(mut s) = TlsStream::accept(tcp, cfg.clone()).await else {
            continue;
        };
        let mut buf = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                let k = s.read(&mut b).await.unwrap_or(0);
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&b[..k]);
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
            served += 1;
            let resp = if path == "/redirect" {
                let loc = format!("https://127.0.0.1:{}/final", l.local_addr().unwrap().port());
                format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n")
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{path}",
                    path.len()
                )
            };
            s.write_all(resp.as_bytes()).await.unwrap();
        }
    }
    served
}

#[test]
fn net_client_speaks_https_reuses_pooled_sessions_follows_https_redirects_and_refuses_a_wrong_ca() {
    use crate::client::{
        parse_http_url, Client, ClientConfig, ClientError, Collect, Request, Unsigned,
    };
    let pki = Pki::new("client");
    let store = CertStore::load(&pki.p("server.crt"), &pki.p("server.key")).unwrap();
    let cfg = server_config(store, None, ClientAuth::None).unwrap();
    let good = client(ClientTlsOpts {
        ca: Some(pki.p("ca.crt")),
        ..Default::default()
    });
    let wrong = client(ClientTlsOpts {
        ca: Some(pki.p("ca2.crt")),
        ..Default::default()
    });
    run(async move {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let srv = glommio::spawn_local(https_server(l, cfg, 2));
        let (ep, _) = parse_http_url(&format!("https://127.0.0.1:{port}/")).unwrap();
        let mut c = Client::new(ClientConfig {
            tls: Some(good),
            ..Default::default()
        });
        for path in ["/a", "/b", "/redirect"] {
            let mut sink = Collect::new(1024);
            let req = Request {
                method: "GET",
                endpoint: &ep,
                target: path,
                headers: &[],
                body: &[],
            };
            let r = c
                .execute(
                    &req,
                    &mut Unsigned,
                    &mut sink,
                    std::time::Instant::now() + T,
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            let want = if path == "/redirect" { "/final" } else { path };
            assert_eq!(sink.body, want.as_bytes());
        }
        assert_eq!(c.connects(), 1, "one TLS session carried every request");
        drop(c); // its pooled connection closes; the one-at-a-time server moves on
        let mut w = Client::new(ClientConfig {
            tls: Some(wrong),
            ..Default::default()
        });
        let mut sink = Collect::new(1024);
        let req = Request {
            method: "GET",
            endpoint: &ep,
            target: "/x",
            headers: &[],
            body: &[],
        };
        let e = w
            .execute(
                &req,
                &mut Unsigned,
                &mut sink,
                std::time::Instant::now() + T,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ClientError::Tls { error, .. } if error.contains("UnknownIssuer")),
            "{e}"
        );
        assert_eq!(srv.await, 4);
    });
}
