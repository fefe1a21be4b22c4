//! Calls from AuthN to a registered cluster (cmd/authn/aisreq.go in NVIDIA/aistore): check that
//! the cluster accepts this AuthN's tokens (`POST /v1/tokens`) and pass it revoked tokens
//! (`DELETE /v1/tokens` with `{"tokens":[...],"version":"0"}`), each with a short-lived admin
//! token of AuthN's own (`sub` "AuthN", `aud` the cluster).
//!
//! A tiny blocking HTTP/1.1 client: one connection per request (`Connection: close`), a
//! deadline on connect, on every read and write; the request head is written and the response
//! head parsed by `net::client`'s sans-IO functions. A cluster's URLs are tried in order until
//! one answers; a 503 is retried with backoff for up to [`RETRY_503_MS`].
//!
//! Not done: `https://` cluster URLs (refused by name), redirects (a proxy answers these two
//! requests itself).

use crate::store::{CluAcl, Fail};
use net::client::{parse_http_url, parse_response_head, write_request_head, Framing, ResponseHead};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest response body kept (error messages; the bodies of these calls are empty on success).
pub const RESPONSE_BODY_BYTES_MAX: usize = 64 * 1024;
/// How long a cluster answering 503 (starting, electing) is retried.
pub const RETRY_503_MS: u64 = 60_000;
/// First pause before a retry; doubled each time up to [`RETRY_SLEEP_MAX_MS`].
pub const RETRY_SLEEP_MIN_MS: u64 = 250;
pub const RETRY_SLEEP_MAX_MS: u64 = 3_000;

/// The body of `DELETE /v1/tokens` to a cluster (AIS `authn.TokenList`).
#[derive(serde::Serialize)]
pub struct TokenList<'a> {
    pub tokens: &'a [String],
    /// AIS writes its `int64` version as a string; nodes ignore it.
    pub version: &'static str,
}

/// A response: status and (capped) body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One request to `base` (`http://host:port`, maybe with a path prefix) + `path`.
pub fn call_url(
    method: &str,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Reply, String> {
    if base.len() >= 8 && base[..8].eq_ignore_ascii_case("https://") {
        return Err(format!(
            "{base}: https cluster URLs are not supported by this AuthN yet"
        ));
    }
    let (ep, prefix) = parse_http_url(base).map_err(|e| format!("{base}: {e}"))?;
    let target = format!("{}{path}", prefix.trim_end_matches('/'));
    let addrs: Vec<_> = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| format!("{base}: resolving {}: {e}", ep.host))?
        .collect();
    let mut last = format!("{base}: no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{base}: connect {a}: {e}"),
        }
    }
    let mut s = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("{base}{path}: {e}");
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut all_headers: Vec<(&str, &str)> = headers.to_vec();
    all_headers.push(("Connection", "close"));
    let mut out = Vec::with_capacity(256 + body.len());
    write_request_head(
        &mut out,
        method,
        &ep.authority,
        &target,
        &all_headers,
        body.len() as u64,
    );
    out.extend_from_slice(body);
    s.write_all(&out).map_err(io)?;
    read_response(&mut s, method == "HEAD").map_err(|e| format!("{base}{path}: {e}"))
}

fn read_response(s: &mut TcpStream, head_request: bool) -> Result<Reply, String> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut head = ResponseHead::default();
    let consumed = loop {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(c) =
            parse_response_head(&buf, &mut head, head_request).map_err(|e| e.to_string())?
        {
            if head.status >= 200 {
                break c;
            }
            // An interim 1xx: drop it and read on.
            buf.drain(..c);
        }
    };
    let rest = buf.split_off(consumed);
    let body = match head.framing {
        Framing::None => Vec::new(),
        Framing::Length(n) => read_up_to(s, rest, (n as usize).min(RESPONSE_BODY_BYTES_MAX))?,
        Framing::Chunked => {
            let mut dec = net::http::ChunkedDecoder::new();
            let mut body = Vec::new();
            let mut outb = vec![0u8; 4096];
            let mut input = rest;
            loop {
                let mut off = 0;
                while off < input.len() {
                    let p = dec
                        .decode(&input[off..], &mut outb)
                        .map_err(|e| e.to_string())?;
                    off += p.consumed;
                    if body.len() < RESPONSE_BODY_BYTES_MAX {
                        body.extend_from_slice(&outb[..p.written]);
                    }
                    if p.done {
                        body.truncate(RESPONSE_BODY_BYTES_MAX);
                        return Ok(Reply {
                            status: head.status,
                            body,
                        });
                    }
                    if p.consumed == 0 && p.written == 0 {
                        break;
                    }
                }
                let k = s.read(&mut chunk).map_err(|e| e.to_string())?;
                if k == 0 {
                    return Err("connection closed inside a chunked body".into());
                }
                input = chunk[..k].to_vec();
            }
        }
        Framing::UntilClose => read_up_to(s, rest, RESPONSE_BODY_BYTES_MAX)?,
    };
    Ok(Reply {
        status: head.status,
        body,
    })
}

/// `have` plus what `s` sends until `want` bytes or the end of the stream, cut at `want`.
fn read_up_to(s: &mut TcpStream, mut have: Vec<u8>, want: usize) -> Result<Vec<u8>, String> {
    let mut chunk = [0u8; 16 * 1024];
    while have.len() < want {
        let k = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if k == 0 {
            break;
        }
        have.extend_from_slice(&chunk[..k]);
    }
    have.truncate(want);
    Ok(have)
}

/// The message of an error reply: AIS's JSON `message`, else the text (shortened).
fn reply_message(r: &Reply) -> String {
    #[derive(serde::Deserialize)]
    struct ErrBody {
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<ErrBody>(&r.body) {
        return e.message;
    }
    let t = String::from_utf8_lossy(&r.body);
    let t = t.trim();
    let mut end = t.len().min(512);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_owned()
}

/// `method` `path` with `body` to the cluster `clu`: its URLs in order until one answers;
/// `token` is AuthN's own token for this cluster. An error keeps the cluster's status (502 if
/// none answered).
pub fn call(
    clu: &CluAcl,
    method: &str,
    path: &str,
    body: &[u8],
    token: &str,
    timeout: Duration,
    what: &str,
) -> Result<(), Fail> {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let shown = if clu.alias.is_empty() {
        format!("[{}]", clu.id)
    } else {
        format!("{}[{}]", clu.alias, clu.id)
    };
    let mut last = Fail::new(502, format!("failed to {what} with {shown}: no URLs"));
    for url in &clu.urls {
        let deadline = Instant::now() + Duration::from_millis(RETRY_503_MS);
        let mut sleep_ms = RETRY_SLEEP_MIN_MS;
        let r = loop {
            match call_url(method, url, path, &headers, body, timeout) {
                Ok(r)
                    if r.status == 503
                        && Instant::now() + Duration::from_millis(sleep_ms) < deadline =>
                {
                    tracing::info!(cluster = %shown, url = %url, "{what}: 503, retrying");
                    std::thread::sleep(Duration::from_millis(sleep_ms));
                    sleep_ms = (sleep_ms * 2).min(RETRY_SLEEP_MAX_MS);
                }
                r => break r,
            }
        };
        match r {
            Ok(r) if (200..300).contains(&r.status) => return Ok(()),
            Ok(r) => {
                last = Fail::new(
                    r.status,
                    format!(
                        "failed to {what} with {shown}: {} ({url})",
                        reply_message(&r)
                    ),
                );
            }
            Err(e) => last = Fail::new(502, format!("failed to {what} with {shown}: {e}")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server on 127.0.0.1 answering each connection with the next of `replies`,
    /// returning what it received.
    fn serve(replies: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut got = Vec::new();
            for reply in replies {
                let (mut c, _) = l.accept().unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                // Read the head and the Content-Length body.
                loop {
                    n += c.read(&mut buf[n..]).unwrap();
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let cl: usize = text
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if n >= i + 4 + cl {
                            got.push(text);
                            break;
                        }
                    }
                }
                c.write_all(reply.as_bytes()).unwrap();
            }
            got
        });
        (url, h)
    }

    fn cluster(urls: Vec<String>) -> CluAcl {
        CluAcl {
            id: "U1".into(),
            urls,
            ..Default::default()
        }
    }

    #[test]
    fn sends_the_token_and_body_and_takes_2xx() {
        let (url, h) = serve(vec!["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
        let body = serde_json::to_vec(&TokenList {
            tokens: &["t1".to_owned()],
            version: "0",
        })
        .unwrap();
        call(
            &cluster(vec![url]),
            "DELETE",
            "/v1/tokens",
            &body,
            "TOK",
            Duration::from_secs(5),
            "x",
        )
        .unwrap();
        let got = h.join().unwrap();
        assert!(
            got[0].starts_with("DELETE /v1/tokens HTTP/1.1\r\n"),
            "{}",
            got[0]
        );
        assert!(got[0].contains("Authorization: Bearer TOK\r\n"));
        assert!(
            got[0].ends_with(r#"{"tokens":["t1"],"version":"0"}"#),
            "{}",
            got[0]
        );
    }

    #[test]
    fn keeps_the_cluster_s_status_and_message_and_tries_the_next_url() {
        let (url, h) = serve(vec![
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n{\"message\":\"bad\"}\r\n0\r\n\r\n",
        ]);
        let e = call(
            &cluster(vec![url]),
            "POST",
            "/v1/tokens",
            b"{}",
            "T",
            Duration::from_secs(5),
            "validate",
        )
        .unwrap_err();
        h.join().unwrap();
        assert_eq!(e.status, 401);
        assert!(
            e.message.contains("failed to validate with [U1]: bad"),
            "{}",
            e.message
        );
        // A dead first URL, then a live one.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let (url, h) = serve(vec![
            "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n",
        ]);
        call(
            &cluster(vec![dead.clone(), url]),
            "POST",
            "/v1/tokens",
            b"",
            "T",
            Duration::from_secs(5),
            "v",
        )
        .unwrap();
        assert_eq!(h.join().unwrap().len(), 2, "a 503 is retried");
        let e = call(
            &cluster(vec![dead]),
            "POST",
            "/v1/tokens",
            b"",
            "T",
            Duration::from_secs(5),
            "v",
        )
        .unwrap_err();
        assert_eq!(e.status, 502);
        let e = call(
            &cluster(vec!["https://h:1".into()]),
            "POST",
            "/v1/tokens",
            b"",
            "T",
            Duration::from_secs(5),
            "v",
        )
        .unwrap_err();
        assert!(e.message.contains("https"), "{}", e.message);
    }
}
