//! The HTTP server on a real socket (127.0.0.1, a free port): keep-alive, chunked bodies,
//! the body limit, malformed heads, and stopping.

use authn::config::{self, Config, Env};
use authn::server::{Server, BODY_BYTES_MAX};
use authn::service::Service;
use authn::store::Db;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

fn start(dir: &std::path::Path) -> (Server, std::net::SocketAddr) {
    start_with(dir, None)
}

fn start_with(
    dir: &std::path::Path,
    request_read: Option<Duration>,
) -> (Server, std::net::SocketAddr) {
    let env = Env {
        secret: Some("k".into()),
        ..Default::default()
    };
    let cfg = config::effective(Config::default(), &dir.join("authn.json"), &env).unwrap();
    let db = Db::open(&cfg.db_path, "admin", Some("pw")).unwrap();
    let mut s = Server::bind("127.0.0.1", 0, Arc::new(Service::new(db, cfg))).unwrap();
    if let Some(d) = request_read {
        s.set_request_read(d);
    }
    let addr = s.local_addr();
    (s, addr)
}

fn conn(addr: std::net::SocketAddr) -> TcpStream {
    let c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Read one response with a Content-Length body: (status line, head, body).
fn response(c: &mut TcpStream) -> (String, String, String) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            c.read(&mut b).unwrap(),
            1,
            "closed mid-head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(b[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).unwrap();
    (
        head.lines().next().unwrap().to_owned(),
        head,
        String::from_utf8(body).unwrap(),
    )
}

#[test]
fn keep_alive_chunked_limits_and_stop() {
    let d = tempfile::tempdir().unwrap();
    let (server, addr) = start(d.path());
    let stopper = server.stopper();
    let accept = std::thread::spawn(move || server.run());

    // Two requests on one connection; the second with a chunked body (a login).
    let mut c = conn(addr);
    c.write_all(b"GET /v1/roles HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, head, body) = response(&mut c);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("Content-Type: application/json"));
    assert!(body.contains("\"name\":\"Admin\""), "{body}");
    let login = br#"{"password":"pw"}"#;
    let mut req =
        b"POST /v1/users/admin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(format!("{:x}\r\n", login.len()).as_bytes());
    req.extend_from_slice(login);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    c.write_all(&req).unwrap();
    let (status, _, body) = response(&mut c);
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.starts_with("{\"token\":\"ey"), "{body}");

    // 405 names the methods.
    c.write_all(b"PATCH /v1/roles HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let (status, head, _) = response(&mut c);
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(head.contains("Allow: DELETE, GET, POST, PUT"), "{head}");

    // A body over the limit is refused before it is read, and the connection closed.
    let over = BODY_BYTES_MAX + 1;
    c.write_all(
        format!("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: {over}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let (status, head, body) = response(&mut c);
    assert_eq!(status, "HTTP/1.1 413 Content Too Large", "{body}");
    assert!(head.contains("Connection: close"));
    assert!(body.contains("BODY_BYTES_MAX"));
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap_or(0), 0);

    // A malformed head: 400 and closed.
    let mut c = conn(addr);
    c.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let (status, _, _) = response(&mut c);
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");

    // Stop: the accept loop ends; new connections are not served.
    stopper.stop();
    accept.join().unwrap();
    assert!(stopper.wait_idle(Duration::from_secs(5)));
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    if let Ok(mut c) = refused {
        // The listener may linger until dropped; it must not answer.
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let _ = c.write_all(b"GET /v1/roles HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut b = [0u8; 1];
        assert!(!matches!(c.read(&mut b), Ok(1)));
    }
}

#[test]
fn a_request_that_trickles_in_is_cut_off_with_408() {
    let d = tempfile::tempdir().unwrap();
    let (server, addr) = start_with(d.path(), Some(Duration::from_millis(300)));
    let stopper = server.stopper();
    let accept = std::thread::spawn(move || server.run());
    // A head that never ends, one byte at a time.
    let mut c = conn(addr);
    let mut answered = None;
    for b in b"GET /v1/roles HTTP/1.1\r\nX-Slow: "
        .iter()
        .cycle()
        .take(200)
    {
        if c.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        c.set_nonblocking(true).unwrap();
        let mut peek = [0u8; 1];
        let got = c.peek(&mut peek);
        c.set_nonblocking(false).unwrap();
        if matches!(got, Ok(1)) {
            answered = Some(response(&mut c).0);
            break;
        }
    }
    assert_eq!(answered.as_deref(), Some("HTTP/1.1 408 Request Timeout"));
    // A body that does not arrive: the same.
    let mut c = conn(addr);
    c.write_all(b"POST /v1/users/admin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    let (status, _, body) = response(&mut c);
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{body}");
    stopper.stop();
    accept.join().unwrap();
}
