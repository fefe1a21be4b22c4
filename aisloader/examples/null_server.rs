//! A "null" AIS endpoint for measuring aisloader itself: it speaks just enough of the native API
//! (bucket `null` exists, lists 1,000 objects, GET answers 301 then 200 with a fixed body, PUT
//! answers 307 then 200) and stores nothing, so the loader, not storage, is the bottleneck.
//!
//! `cargo run --release -p aisloader --example null_server -- PORT CPU OBJECT_BYTES`
//! then e.g. `aisloader -port PORT -bucket ais://null -cleanup=false -pctput=0 ...`.
//! One glommio executor pinned to CPU; keep-alive connections; redirects to itself.

use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use net::api::{LsoEntry, LsoPage};
use net::conn::Conn;
use std::rc::Rc;

const LISTED_OBJECTS: usize = 1000;

async fn serve(mut conn: Conn, port: u16, body: Rc<Vec<u8>>, page: Rc<Vec<u8>>) {
    let size = body.len().to_string();
    while let Ok(Some(head)) = conn.read_head().await {
        let redirected = head.query.contains("pid=");
        if conn.body(head.body).drain().await.is_err() {
            return;
        }
        let r = if head.path == "/v1/buckets" {
            let js = br#"[{"name":"null","provider":"ais","namespace":{"uuid":"","name":""}}]"#;
            conn.respond(200, &[("Content-Type", "application/json")], js)
                .await
        } else if head.path.starts_with("/v1/buckets/") {
            conn.respond(200, &[("Content-Type", "application/msgpack")], &page)
                .await
        } else if !redirected {
            let loc = format!(
                "http://127.0.0.1:{port}{}?{}&pid=null&utm=0",
                head.path, head.query
            );
            let status = if head.method == "GET" { 301 } else { 307 };
            conn.respond(status, &[("Location", &loc)], b"").await
        } else if head.method == "GET" {
            conn.respond(200, &[("Content-Type", "application/octet-stream")], &body)
                .await
        } else {
            conn.respond(
                200,
                &[("Ais-Checksum-Type", "none"), ("X-Size", &size)],
                b"",
            )
            .await
        };
        if r.is_err() {
            return;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: null_server PORT CPU OBJECT_BYTES";
    let port: u16 = args.first().and_then(|a| a.parse().ok()).expect(usage);
    let cpu: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let page = LsoPage {
        entries: (0..LISTED_OBJECTS)
            .map(|i| LsoEntry {
                name: format!("o{i:05}"),
                size: size as i64,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
    .to_msgpack();
    LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .name("null-server")
        .spawn(move || async move {
            let l = TcpListener::bind(("127.0.0.1", port)).expect("bind");
            println!("null server on 127.0.0.1:{port}, cpu {cpu}, {size}-byte objects");
            let body = Rc::new(vec![b'x'; size]);
            let page = Rc::new(page);
            loop {
                if let Ok(s) = l.accept().await {
                    glommio::spawn_local(serve(
                        Conn::new(net::tls::Stream::Plain(s)),
                        port,
                        body.clone(),
                        page.clone(),
                    ))
                    .detach();
                }
            }
        })
        .expect("executor")
        .join()
        .expect("join");
}
