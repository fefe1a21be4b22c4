//! S3 authentication when access keys are configured: SigV4 (header or presigned) and the
//! legacy SigV2 (header `Authorization: AWS ak:sig`, and presigned query URLs, which boto3's
//! `generate_presigned_url` still produces by default). With no keys configured the node is
//! anonymous: every request is accepted and any authentication it carries is ignored.

use super::*;
use net::s3::sigv2;
use net::s3::sigv4::{self, AuthKind, RequestParts, SigningContext};

/// The raw paths a SigV2 client may have signed: ours (`/s3/b/k`), without our `/s3` prefix
/// (clients configured with `.../s3` as the endpoint sign the path they think they send), and
/// for a bucket (`/b`) also `/b/`, the form botocore signs for bucket requests.
fn signed_paths(raw_path: &str) -> Vec<String> {
    let mut v = vec![raw_path.to_string()];
    if let Some(rest) = raw_path.strip_prefix("/s3") {
        v.push(if rest.is_empty() { "/" } else { rest }.to_string());
    }
    for p in v.clone() {
        if p.len() > 1 && !p.ends_with('/') && !p[1..].contains('/') {
            v.push(format!("{p}/"));
        }
    }
    v
}

fn request_parts(req: &Req) -> RequestParts<'_> {
    RequestParts {
        method: &req.head.method,
        raw_path: &req.head.path,
        raw_query: &req.head.query,
        headers: &req.head.headers,
    }
}

/// The AuthN token of the user whose access key signed the request (`--s3-keys`), the
/// signature verified; `None` when the request names no such key.
pub(crate) fn key_token(core: &Core, req: &Req) -> S3Result<Option<String>> {
    let map = &core.node.cfg.s3_key_tokens;
    if map.is_empty() {
        return Ok(None);
    }
    let parts = request_parts(req);
    let ak = if sigv2::is_v2(&parts) {
        sigv2::parse(&parts)?.map(|a| a.access_key)
    } else {
        match sigv4::parse_auth(&parts)? {
            AuthKind::Anonymous => None,
            AuthKind::Header(a) | AuthKind::Presigned(a) => Some(a.access_key),
        }
    };
    let Some(token) = ak.and_then(|ak| map.iter().find(|(k, _)| *k == ak).map(|(_, t)| t)) else {
        return Ok(None);
    };
    // The key alone is no proof: the signature (and its time) must be good.
    authenticate(core, req)?;
    Ok(Some(token.clone()))
}

/// Verify the request's signature when access keys are configured. Returns the SigV4 signing
/// context (for aws-chunked bodies with chunk signatures), `None` for SigV2 and anonymous.
pub(crate) fn authenticate(core: &Core, req: &Req) -> S3Result<Option<SigningContext>> {
    let creds = &core.node.cfg.s3_credentials;
    if creds.is_empty() {
        // Anonymous: whatever authentication the client sent (SigV4, SigV2, presigned, or
        // something we do not know) is ignored.
        return Ok(None);
    }
    let parts = request_parts(req);
    let now = time::now_unix_ns() / 1_000_000_000;
    let lookup = |ak: &str| creds.iter().find(|(k, _)| k == ak).map(|(_, s)| s.clone());
    if sigv2::is_v2(&parts) {
        let Some(auth) = sigv2::parse(&parts)? else {
            return Err(s3err(S3ErrorCode::AccessDenied, "Access Denied"));
        };
        let paths = signed_paths(&req.head.path);
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        sigv2::verify(&parts, &auth, lookup, now, &paths)?;
        return Ok(None);
    }
    let auth = match sigv4::parse_auth(&parts)? {
        AuthKind::Anonymous => {
            return Err(s3err(
                S3ErrorCode::AccessDenied,
                "Access Denied: anonymous requests are not allowed",
            ))
        }
        AuthKind::Header(a) | AuthKind::Presigned(a) => a,
    };
    match sigv4::verify(&parts, &auth, lookup, now) {
        Err(e) if e.code == S3ErrorCode::SignatureDoesNotMatch => {
            // Clients configured with `http://h:p/s3` as the endpoint sign the path without
            // our `/s3` prefix: s3fs signs `/b/k` with `Host: h:p`; s3cmd moves the prefix
            // into the signed host (`h:p/s3`). Either signature still covers method, path,
            // query, headers and payload, and `/s3/b/k` names nothing else on this port.
            let Some(rest) = req.head.path.strip_prefix("/s3") else {
                return Err(e);
            };
            let path = if rest.is_empty() { "/" } else { rest };
            let prefixed_host: Vec<(String, String)> = req
                .head
                .headers
                .iter()
                .map(|(k, v)| {
                    if k == "host" {
                        (k.clone(), format!("{v}/s3"))
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect();
            let verified = [&req.head.headers, &prefixed_host]
                .into_iter()
                .find_map(|headers| {
                    let alt = RequestParts {
                        method: &req.head.method,
                        raw_path: path,
                        raw_query: &req.head.query,
                        headers,
                    };
                    sigv4::verify(&alt, &auth, lookup, now).ok()
                });
            verified.map(Some).ok_or(e)
        }
        other => other.map(Some),
    }
}
