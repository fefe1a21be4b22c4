//! Fuzz SigV4 parsing and verification (`net::s3::sigv4`) on arbitrary requests: `parse_auth`,
//! `canonical_request` and `verify` must never panic, whatever the method, path, query, headers
//! and clock; a request that verifies must carry the signature it was verified with.
//!
//! Input layout: byte 0 picks the shape, the rest is split on `\n`:
//! * shape even: line 0 method, line 1 raw path, line 2 raw query, then `name:value` headers;
//! * shape odd: the lines replace, in order, the `Authorization` value, the `x-amz-date` value
//!   and the raw query of the AWS "GET Object" example, so the fuzzer starts next to valid
//!   signatures.
//!   The clock is 2013-05-24T00:00:00Z shifted by `(shape as i64 - 128) * 600` seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::s3::sigv4::{canonical_request, parse_auth, verify, AuthKind, RequestParts};

const EXAMPLE_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
    SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
    Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn run(method: &str, raw_path: &str, raw_query: &str, headers: &[(String, String)], now: i64) {
    let req = RequestParts {
        method,
        raw_path,
        raw_query,
        headers,
    };
    let auth = match parse_auth(&req) {
        Ok(AuthKind::Header(auth)) | Ok(AuthKind::Presigned(auth)) => auth,
        Ok(AuthKind::Anonymous) | Err(_) => return,
    };
    let _ = canonical_request(&req, &auth);
    let lookup = |access_key: &str| {
        (!access_key.is_empty()).then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned())
    };
    if let Ok(ctx) = verify(&req, &auth, lookup, now) {
        assert_eq!(ctx.seed_signature, auth.signature);
        assert_eq!(ctx.access_key, auth.access_key);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let now = 1_369_353_600 + (i64::from(shape) - 128) * 600;
    if shape % 2 == 0 {
        let method = lines.next().unwrap_or("GET");
        let path = lines.next().unwrap_or("/");
        let query = lines.next().unwrap_or("");
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                (name.to_ascii_lowercase(), value.to_owned())
            })
            .collect();
        run(method, path, query, &headers, now);
    } else {
        let authorization = lines.next().unwrap_or(EXAMPLE_AUTHORIZATION);
        let amz_date = lines.next().unwrap_or("20130524T000000Z");
        let query = lines.next().unwrap_or("");
        let headers: Vec<(String, String)> = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("authorization", authorization),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", amz_date),
        ]
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        run("GET", "/test.txt", query, &headers, now);
    }
});
