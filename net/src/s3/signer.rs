//! The client side of SigV4: signs outgoing S3 requests with header authentication, for
//! aisloader's `-s3endpoint` mode and the node's S3 backend (`cluster::backend::s3`).
//!
//! Signing is [`sigv4::authorization`], the canonicalization the server verifies with, so what
//! this signs is what `sigv4::verify` checks. A [`Signer`] holds one set of credentials and
//! caches the signing key for the current UTC day: each request then costs two SHA-256 and one
//! HMAC-SHA256 over short strings.
//!
//! # Invariants
//!
//! * The secret key and the signing key never appear in `Debug` output or error messages.
//! * With a session token, `x-amz-security-token` is sent and signed (AWS requires it signed
//!   for temporary credentials).
//!
//! # What this module does not do
//!
//! * No presigned URLs, no `aws-chunked` payload signing (bodies go out as
//!   [`sigv4::UNSIGNED_PAYLOAD`] or with the hash the caller computed), no SigV4a.
//! * No clock: the caller passes the request time.

use super::sigv4::{self, RequestParts};
use super::S3Error;
use std::fmt;

/// `x-amz-content-sha256` for requests without a body.
pub const EMPTY_SHA256: &str = sigv4::EMPTY_SHA256_HEX;
/// `x-amz-content-sha256` for bodies that are not hashed.
pub const UNSIGNED_PAYLOAD: &str = sigv4::UNSIGNED_PAYLOAD;
/// The header that carries a session token of temporary credentials.
pub const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";

/// SigV4 credentials, region, and the cached per-day signing key.
#[derive(Clone)]
pub struct Signer {
    pub access_key: String,
    secret_key: String,
    session_token: Option<String>,
    pub region: String,
    key_date: String,
    key: [u8; 32],
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Signer {
        Signer {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            session_token: None,
            region: region.to_owned(),
            key_date: String::new(),
            key: [0; 32],
        }
    }

    /// The same signer with a session token (temporary credentials; empty: none).
    pub fn with_session_token(mut self, token: &str) -> Signer {
        self.session_token = (!token.is_empty()).then(|| token.to_owned());
        self
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    fn signing_key(&mut self, date: &str) -> [u8; 32] {
        if self.key_date != date {
            self.key = sigv4::signing_key(&self.secret_key, date, &self.region, "s3");
            self.key_date = date.to_owned();
        }
        self.key
    }

    /// The `Authorization` header value for a request.
    ///
    /// `headers` are the signed headers besides `host` (they must include `x-amz-date` and
    /// `x-amz-content-sha256`, and the session token header if there is one); `target` is the
    /// request target as sent. `InvalidURI` if the target is not valid percent-encoding (the
    /// server could not verify it either).
    pub fn authorization(
        &mut self,
        method: &str,
        authority: &str,
        target: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        amz_date: &str,
    ) -> Result<String, S3Error> {
        let date = amz_date.get(..8).unwrap_or(amz_date);
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let mut hs: Vec<(String, String)> = Vec::with_capacity(headers.len() + 1);
        hs.push(("host".to_owned(), authority.to_owned()));
        hs.extend(
            headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned())),
        );
        let key = self.signing_key(date);
        let req = RequestParts {
            method,
            raw_path,
            raw_query,
            headers: &hs,
        };
        sigv4::authorization(
            &req,
            &self.access_key,
            &self.region,
            &key,
            amz_date,
            payload_hash,
        )
    }

    /// Append the signing header lines (`Name: value\r\n`) of one request to `out`:
    /// `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a session token) and
    /// `Authorization`. `extra` are further headers the request sends that are to be signed
    /// too (e.g. `range`); the caller writes them itself. `amz_date` is
    /// `net::time::format_amz_date(now)`.
    ///
    /// A target that is not valid percent-encoding cannot be signed (nor verified): the request
    /// then goes out without `Authorization` and the server refuses it.
    #[allow(clippy::too_many_arguments)]
    pub fn write_headers(
        &mut self,
        method: &str,
        authority: &str,
        target: &str,
        extra: &[(&str, &str)],
        payload_hash: &str,
        amz_date: &str,
        out: &mut Vec<u8>,
    ) {
        let token = self.session_token.clone();
        let mut hs: Vec<(&str, &str)> = Vec::with_capacity(3 + extra.len());
        hs.push(("x-amz-content-sha256", payload_hash));
        hs.push(("x-amz-date", amz_date));
        if let Some(t) = &token {
            hs.push((SECURITY_TOKEN_HEADER, t));
        }
        hs.extend_from_slice(extra);
        let auth = self
            .authorization(method, authority, target, &hs, payload_hash, amz_date)
            .ok();
        let mut lines: Vec<(&str, &str)> = vec![
            ("x-amz-date", amz_date),
            ("x-amz-content-sha256", payload_hash),
        ];
        if let Some(t) = &token {
            lines.push((SECURITY_TOKEN_HEADER, t));
        }
        if let Some(a) = &auth {
            lines.push(("Authorization", a));
        }
        for (name, value) in lines {
            crate::http::push_header_line(out, name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::sigv4::{parse_auth, verify, AuthKind};

    /// AWS's published example: "GET Object" in "Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)".
    #[test]
    fn aws_get_object_example_signs_to_the_published_signature() {
        let mut s = Signer::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "us-east-1",
        );
        let auth = s
            .authorization(
                "GET",
                "examplebucket.s3.amazonaws.com",
                "/test.txt",
                &[
                    ("Range", "bytes=0-9"),
                    ("x-amz-content-sha256", EMPTY_SHA256),
                    ("x-amz-date", "20130524T000000Z"),
                ],
                EMPTY_SHA256,
                "20130524T000000Z",
            )
            .unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        // The cached key is reused, and header order does not matter.
        let again = s
            .authorization(
                "GET",
                "examplebucket.s3.amazonaws.com",
                "/test.txt",
                &[
                    ("x-amz-date", "20130524T000000Z"),
                    ("x-amz-content-sha256", EMPTY_SHA256),
                    ("range", "bytes=0-9"),
                ],
                EMPTY_SHA256,
                "20130524T000000Z",
            )
            .unwrap();
        assert_eq!(auth, again);
        // The same example through write_headers (which adds the same three signed headers).
        let mut out = Vec::new();
        s.write_headers(
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            &[("range", "bytes=0-9")],
            EMPTY_SHA256,
            "20130524T000000Z",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(&format!("Authorization: {auth}\r\n")),
            "{text}"
        );
    }

    fn verifies(target: &str, hs: &[(&str, &str)], auth: &str) -> Result<(), S3Error> {
        let headers: Vec<(String, String)> = [("host", "127.0.0.1:9000"), ("authorization", auth)]
            .iter()
            .chain(hs)
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let req = RequestParts {
            method: "PUT",
            raw_path,
            raw_query,
            headers: &headers,
        };
        let Ok(AuthKind::Header(parsed)) = parse_auth(&req) else {
            panic!("{target}: not header auth");
        };
        let secret = |ak: &str| (ak == "AK").then(|| "SK".to_owned());
        verify(&req, &parsed, secret, 1_369_353_600).map(|_| ())
    }

    /// What the signer writes verifies on the server side (net's SigV4 verification), for
    /// targets with unsorted, encoded and unencoded queries and paths; a target that is not
    /// percent-encoding cannot be signed.
    #[test]
    fn signed_requests_verify() {
        let mut s = Signer::new("AK", "SK", "us-east-1");
        for target in [
            "/b?prefix=a%2Fb&list-type=2&continuation-token=x y",
            "/b/o?uploads",
            "/b/a%20b/c",
            "/b/a b",
            "/",
        ] {
            let hs = [
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", "20130524T000000Z"),
            ];
            let auth = s
                .authorization(
                    "PUT",
                    "127.0.0.1:9000",
                    target,
                    &hs,
                    UNSIGNED_PAYLOAD,
                    "20130524T000000Z",
                )
                .unwrap();
            verifies(target, &hs, &auth).unwrap_or_else(|e| panic!("{target}: {e}"));
        }
        assert!(s
            .authorization("GET", "h", "/b/%zz", &[], EMPTY_SHA256, "20130524T000000Z")
            .is_err());
    }

    /// With a session token the token header is sent and signed, and the result verifies;
    /// dropping the token from the request breaks the signature.
    #[test]
    fn session_token_is_sent_and_signed() {
        let mut s = Signer::new("AK", "SK", "us-east-1").with_session_token("TOKEN/+=");
        let mut out = Vec::new();
        s.write_headers(
            "PUT",
            "127.0.0.1:9000",
            "/b/o",
            &[],
            UNSIGNED_PAYLOAD,
            "20130524T000000Z",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<(&str, &str)> = text.lines().map(|l| l.split_once(": ").unwrap()).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[2], ("x-amz-security-token", "TOKEN/+="));
        let auth = lines[3].1;
        assert!(auth
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
        let hs = &lines[..3];
        verifies("/b/o", hs, auth).unwrap();
        assert!(verifies("/b/o", &lines[..2], auth).is_err());
        assert!(!format!("{s:?}").contains("TOKEN") && !format!("{s:?}").contains("SK\""));
    }

    #[test]
    fn write_headers_without_token_writes_three_lines() {
        let mut s = Signer::new("AK", "SK", "us-east-1").with_session_token("");
        let mut out = Vec::new();
        s.write_headers(
            "GET",
            "h:1",
            "/b",
            &[],
            EMPTY_SHA256,
            "20130524T000000Z",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "x-amz-date: 20130524T000000Z");
        assert!(lines[2].starts_with("Authorization: AWS4-HMAC-SHA256 Credential=AK/20130524/"));
        assert!(lines[2].contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    }
}
