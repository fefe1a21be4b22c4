//! Request bodies of object writes (PUT, multipart parts): streamed into an object writer,
//! and the checksum the client declared for them. Shared by `objects`, `multipart` and
//! `append`.

use crate::error::ApiError;
use crate::reply::io_err;
use crate::req::Req;
use engine::object::ObjectWriter;
use net::conn::Conn;

/// The checksum a client declared (`Ais-Checksum-Type` / `-Value`), lower-cased type; `None`
/// for none.
pub(crate) fn client_cksum(req: &Req) -> Option<(String, String)> {
    match (
        req.head.header("ais-checksum-type"),
        req.head.header("ais-checksum-value"),
    ) {
        (Some(t), Some(v)) if !t.is_empty() && t != "none" => {
            Some((t.to_ascii_lowercase(), v.to_string()))
        }
        _ => None,
    }
}

/// Stream the request body into `w` (100-continue answered, size hinted), passing each
/// piece to `seen` (a digest) as well; the writer comes back ready to commit. On any failure
/// it is aborted, so no work file is left; engine errors go through `fail` and close the
/// connection (the body is unread).
pub(crate) async fn receive_into(
    conn: &mut Conn,
    req: &mut Req,
    mut w: ObjectWriter,
    mut seen: impl FnMut(&[u8]),
    fail: impl Fn(engine::Error) -> ApiError,
) -> Result<ObjectWriter, ApiError> {
    if let net::http::BodyKind::Length(n) = req.head.body {
        w.size_hint(n);
    }
    if req.head.expect_continue {
        if let Err(e) = conn.send_continue().await {
            w.abort().await;
            return Err(io_err(e));
        }
    }
    let mut buf = vec![0u8; crate::core::PUT_RECV_BYTES];
    let mut body = conn.body(req.head.body);
    loop {
        let n = match body.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                w.abort().await;
                return Err(io_err(e));
            }
        };
        seen(&buf[..n]);
        if let Err(e) = w.write(&buf[..n]).await {
            w.abort().await;
            return Err(fail(e).closing());
        }
    }
    req.body_done = true;
    Ok(w)
}
