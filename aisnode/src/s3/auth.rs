//! S3 authentication: SigV4 (header or presigned) when access keys are configured, and
//! SigV2 presigned URLs (boto3's `generate_presigned_url` default); anonymous otherwise.

use super::*;
use net::s3::sigv4::{self, AuthKind, RequestParts, SigningContext};

/// Presigned URLs in the legacy SigV2 query form (`AWSAccessKeyId`, `Expires`,
/// `Signature` = base64 HMAC-SHA1), which boto3's `generate_presigned_url` still produces
/// by default. Clients sign the resource with or without our `/s3` prefix; both are tried.
pub(crate) fn verify_sigv2_query(req: &Req, creds: &[(String, String)]) -> S3Result<()> {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let ak = req.q("AWSAccessKeyId").unwrap_or("");
    let sig = req.q("Signature").unwrap_or("");
    let expires = req.q("Expires").unwrap_or("");
    let Some((_, secret)) = creds.iter().find(|(k, _)| k == ak) else {
        return Err(S3Error::from_code(S3ErrorCode::InvalidAccessKeyId));
    };
    let exp: i64 = expires
        .parse()
        .map_err(|_| s3err(S3ErrorCode::AccessDenied, "Expires is not a number"))?;
    if exp < time::now_unix_ns() / 1_000_000_000 {
        return Err(s3err(S3ErrorCode::AccessDenied, "Request has expired"));
    }
    let want = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| {
            s3err(
                S3ErrorCode::SignatureDoesNotMatch,
                "Signature is not base64",
            )
        })?;
    let mut amz: Vec<(String, String)> = req
        .head
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-amz-"))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    amz.sort();
    let amz: String = amz.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let md5 = req.head.header("content-md5").unwrap_or("");
    let ctype = req.head.header("content-type").unwrap_or("");
    let full = req.head.path.as_str();
    let short = full
        .strip_prefix("/s3")
        .filter(|r| !r.is_empty())
        .unwrap_or(full);
    for resource in [full, short] {
        let sts = format!(
            "{}\n{md5}\n{ctype}\n{expires}\n{amz}{resource}",
            req.head.method
        );
        let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes any key");
        mac.update(sts.as_bytes());
        if mac.verify_slice(&want).is_ok() {
            return Ok(());
        }
    }
    Err(s3err(S3ErrorCode::SignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided (SigV2 presigned URL)"))
}

/// SigV4 when access keys are configured. Returns the signing context for aws-chunked bodies.
pub(crate) fn authenticate(core: &Core, req: &Req) -> S3Result<Option<SigningContext>> {
    let creds = &core.node.cfg.s3_credentials;
    let parts = RequestParts {
        method: &req.head.method,
        raw_path: &req.head.path,
        raw_query: &req.head.query,
        headers: &req.head.headers,
    };
    let auth = sigv4::parse_auth(&parts);
    if creds.is_empty() {
        // Anonymous access: signatures are not verified, but a malformed one is still an error.
        auth?;
        return Ok(None);
    }
    if req.q("AWSAccessKeyId").is_some() && req.q("Signature").is_some() {
        verify_sigv2_query(req, creds)?;
        return Ok(None);
    }
    let auth = match auth? {
        AuthKind::Anonymous => {
            return Err(s3err(
                S3ErrorCode::AccessDenied,
                "Access Denied: anonymous requests are not allowed",
            ))
        }
        AuthKind::Header(a) | AuthKind::Presigned(a) => a,
    };
    let now = time::now_unix_ns() / 1_000_000_000;
    let lookup = |ak: &str| creds.iter().find(|(k, _)| k == ak).map(|(_, s)| s.clone());
    match sigv4::verify(&parts, &auth, lookup, now) {
        Err(e) if e.code == S3ErrorCode::SignatureDoesNotMatch => {
            // Some clients (s3cmd) put our `/s3` path prefix into the signed host instead of
            // the signed path: `Host: h:p` + `/s3/b/k` is signed as host `h:p/s3` + `/b/k`.
            // The signature still covers method, path, query, headers and payload.
            let Some(rest) = req.head.path.strip_prefix("/s3") else {
                return Err(e);
            };
            let path = if rest.is_empty() { "/" } else { rest };
            let headers: Vec<(String, String)> = req
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
            let alt = RequestParts {
                method: &req.head.method,
                raw_path: path,
                raw_query: &req.head.query,
                headers: &headers,
            };
            sigv4::verify(&alt, &auth, lookup, now)
                .map(Some)
                .map_err(|_| e)
        }
        other => other.map(Some),
    }
}
