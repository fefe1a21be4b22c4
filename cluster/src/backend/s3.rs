//! [`S3Backend`]: an S3 client for remote buckets (`s3://bucket`), one per core (not `Send`).
//!
//! Requests are signed with SigV4 (`net::s3::signer`, the code the server side verifies with;
//! bodies as `UNSIGNED-PAYLOAD`, a session token as `x-amz-security-token`), or go unsigned
//! when there are no credentials. Addressing: path-style (`http://host:port[/base]/bucket/key`)
//! for a custom endpoint (`S3_ENDPOINT`, a bucket's `extra.aws.endpoint`), virtual-hosted
//! (`bucket.s3.REGION.amazonaws.com/key`) for AWS, falling back to path-style for bucket names
//! that are not DNS labels.
//!
//! Bodies stream both ways: [`S3Backend::get_object`] returns a [`RemoteBody`] the caller
//! pulls; [`S3Backend::put_object`] pulls from a [`RemoteSource`]. Nothing object-sized is
//! buffered.
//!
//! # Limits
//!
//! * One operation (connect, request head, response head) has [`S3Config::timeout_ms`]; each
//!   socket read or write while a body streams has the same timeout of its own.
//! * [`PUT_OBJECT_BYTES_MAX`]: S3's single-PUT limit; larger objects need multipart upload,
//!   which this client does not do yet (501).
//! * Error and listing bodies are bounded (`net::s3::xml::ERROR_XML_BYTES_MAX`,
//!   `LIST_RESULT_XML_BYTES_MAX`).
//!
//! Not done here: TLS (`https://` answers 501; real AWS is https), multipart, retries on
//! 503/SlowDown, following a bucket's region, `encoding-type=url` listings, delimiters.

use super::config::S3Config;
use super::http::{exchange, Body, Dest, Io, Pool, RemoteBody};
use super::{BackendError, RemoteAttrs, RemoteEntry, RemotePage, RemoteSource};
use net::client::{Framing, ResponseHead};
use net::http::{percent_encode_path, percent_encode_query};
use net::s3::signer::{Signer, EMPTY_SHA256, UNSIGNED_PAYLOAD};
use net::s3::xml;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The largest object one PUT may carry (S3's limit; beyond it S3 requires multipart upload).
pub const PUT_OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Most keys S3 returns in one ListObjectsV2 page (and our default page size).
pub const LIST_PAGE_KEYS_MAX: usize = 1000;
/// `User-Agent` of every request.
pub const USER_AGENT: &str = "aisnode-s3-backend";

/// Where requests for this backend go.
#[derive(Debug, Clone)]
struct Addr {
    https: bool,
    host: String,
    port: u16,
    /// Path prefix of the endpoint (`/s3` of `http://h:p/s3`), no trailing slash.
    base: String,
    path_style: bool,
    /// `http://host:port` for messages.
    display: String,
}

fn default_port(https: bool) -> u16 {
    if https {
        443
    } else {
        80
    }
}

/// `host` or `host:port` as the `Host` header and pool key (the port only if not the default).
fn authority(host: &str, port: u16, https: bool) -> String {
    let h = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if port == default_port(https) {
        h
    } else {
        format!("{h}:{port}")
    }
}

impl Addr {
    fn aws(region: &str) -> Addr {
        let host = format!("s3.{region}.amazonaws.com");
        Addr {
            https: true,
            display: format!("https://{host}"),
            host,
            port: 443,
            base: String::new(),
            path_style: false,
        }
    }

    /// Parse `http[s]://host[:port][/base]`.
    fn parse(url: &str, path_style: bool) -> Result<Addr, BackendError> {
        let bad = |why: &str| {
            BackendError::new(
                400,
                "InvalidArgument",
                format!("S3 endpoint {url:?}: {why} (expected http://host[:port][/path])"),
                url,
            )
        };
        let lower = url.to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (true, &url[8..])
        } else if lower.starts_with("http://") {
            (false, &url[7..])
        } else {
            return Err(bad("no http:// or https:// scheme"));
        };
        let split = rest.find('/').unwrap_or(rest.len());
        let (auth, base) = rest.split_at(split);
        if base.contains(['?', '#']) {
            return Err(bad("a query or fragment"));
        }
        let has_port = if auth.starts_with('[') {
            auth.contains("]:")
        } else {
            auth.contains(':')
        };
        let ep = if has_port {
            net::client::Endpoint::parse_authority(auth)
        } else {
            net::client::Endpoint::parse_authority(&format!("{auth}:{}", default_port(https)))
        }
        .map_err(|_| bad("bad host or port"))?;
        Ok(Addr {
            https,
            display: format!(
                "{}://{}",
                if https { "https" } else { "http" },
                authority(&ep.host, ep.port, https)
            ),
            host: ep.host,
            port: ep.port,
            base: base.trim_end_matches('/').to_owned(),
            path_style,
        })
    }

    /// `(host, request target)` of a request on `bucket`/`key` with `query` (already encoded).
    fn locate(&self, bucket: &str, key: Option<&str>, query: &str) -> (String, String) {
        let mut target = String::with_capacity(64);
        let virtual_hosted = !self.path_style && !bucket.is_empty() && dns_label(bucket);
        let host = if virtual_hosted {
            format!("{bucket}.{}", self.host)
        } else {
            self.host.clone()
        };
        target.push_str(&self.base);
        if !virtual_hosted && !bucket.is_empty() {
            target.push('/');
            target.push_str(&percent_encode_path(bucket));
        }
        match key {
            Some(k) => {
                target.push('/');
                target.push_str(&percent_encode_path(k));
            }
            // A bucket request path-style is `/bucket` (as the SDKs send it).
            None if !virtual_hosted && !bucket.is_empty() => {}
            None => target.push('/'),
        }
        if !query.is_empty() {
            target.push('?');
            target.push_str(query);
        }
        (host, target)
    }
}

/// A bucket name usable as a DNS label in `bucket.s3.region.amazonaws.com` (no dots, which
/// would break the TLS wildcard, no upper case or underscores).
fn dns_label(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// What a 404 without an S3 error code means for the operation.
#[derive(Clone, Copy)]
enum Missing {
    Bucket,
    Key,
}

/// An S3 client for one endpoint, sharing its connection pool with the backends made from it
/// by [`S3Backend::with_endpoint`].
pub struct S3Backend {
    cfg: S3Config,
    addr: Result<Addr, BackendError>,
    signer: RefCell<Option<Signer>>,
    pool: Rc<Pool>,
}

impl S3Backend {
    pub fn new(cfg: S3Config) -> S3Backend {
        S3Backend::with_pool(cfg, Rc::new(Pool::default()))
    }

    fn with_pool(cfg: S3Config, pool: Rc<Pool>) -> S3Backend {
        let addr = match &cfg.endpoint {
            Some(url) => Addr::parse(url, cfg.path_style),
            None => Ok(Addr::aws(&cfg.region)),
        };
        let signer = (!cfg.access_key.is_empty()).then(|| {
            Signer::new(&cfg.access_key, &cfg.secret_key, &cfg.region)
                .with_session_token(&cfg.session_token)
        });
        S3Backend {
            cfg,
            addr,
            signer: RefCell::new(signer),
            pool,
        }
    }

    /// The same credentials against another S3-compatible endpoint (a bucket's
    /// `extra.aws.endpoint`), path-style, sharing this backend's connection pool.
    pub fn with_endpoint(&self, endpoint: &str) -> S3Backend {
        let cfg = S3Config {
            endpoint: Some(endpoint.trim_end_matches('/').to_owned()),
            path_style: true,
            ..self.cfg.clone()
        };
        S3Backend::with_pool(cfg, self.pool.clone())
    }

    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    /// `http://host:port` (or the configuration error's endpoint) for messages.
    pub fn endpoint(&self) -> String {
        match &self.addr {
            Ok(a) => a.display.clone(),
            Err(e) => e.endpoint.clone(),
        }
    }

    /// The connection pool (tests look at keep-alive with it).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn error(&self, status: u16, code: &str, message: impl Into<String>) -> BackendError {
        BackendError::new(status, code, message, &self.endpoint())
    }

    fn check_bucket(&self, bucket: &str) -> Result<(), BackendError> {
        if bucket.is_empty() || bucket.contains(['/', '\r', '\n']) {
            return Err(self.error(
                400,
                "InvalidBucketName",
                format!("bucket name {bucket:?} cannot be sent to S3"),
            ));
        }
        Ok(())
    }

    fn check_key(&self, bucket: &str, key: &str) -> Result<(), BackendError> {
        self.check_bucket(bucket)?;
        if key.is_empty() {
            return Err(self.error(400, "InvalidArgument", "empty object name"));
        }
        if key.len() > net::s3::KEY_BYTES_MAX {
            return Err(self.error(
                400,
                "KeyTooLongError",
                format!(
                    "object name of {} bytes, more than S3's {} bytes",
                    key.len(),
                    net::s3::KEY_BYTES_MAX
                ),
            ));
        }
        Ok(())
    }

    /// One request; the response head and its (unread) body.
    #[allow(clippy::too_many_arguments)]
    async fn send<S: RemoteSource>(
        &self,
        method: &str,
        bucket: &str,
        key: Option<&str>,
        query: &str,
        headers: &[(&str, &str)],
        body: Body<'_, S>,
    ) -> Result<(ResponseHead, RemoteBody), BackendError> {
        let addr = self.addr.as_ref().map_err(Clone::clone)?;
        if addr.https {
            return Err(self.error(
                501,
                "NotImplemented",
                "https:// endpoints are not supported yet (no TLS in the S3 backend); \
                 use an http:// S3_ENDPOINT or extra.aws.endpoint",
            ));
        }
        let (host, target) = addr.locate(bucket, key, query);
        let auth = authority(&host, addr.port, addr.https);
        let body_len = match &body {
            Body::Stream { size, .. } => Some(*size),
            Body::None => None,
        };
        let mut head = Vec::with_capacity(512);
        head.extend_from_slice(method.as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        net::http::push_header_line(&mut head, "Host", &auth);
        net::http::push_header_line(&mut head, "User-Agent", USER_AGENT);
        for (n, v) in headers {
            net::http::push_header_line(&mut head, n, v);
        }
        if let Some(n) = body_len {
            net::http::push_header_line(&mut head, "Content-Length", &n.to_string());
        }
        if let Some(signer) = self.signer.borrow_mut().as_mut() {
            let payload = if body_len.is_some() {
                UNSIGNED_PAYLOAD
            } else {
                EMPTY_SHA256
            };
            let secs = net::time::now_unix_ns().div_euclid(1_000_000_000);
            let date = net::time::format_amz_date(secs);
            let lower: Vec<(String, &str)> = headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), *v))
                .collect();
            let signed: Vec<(&str, &str)> = lower.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            signer.write_headers(method, &auth, &target, &signed, payload, &date, &mut head);
        }
        head.extend_from_slice(b"\r\n");
        let timeout = Duration::from_millis(self.cfg.timeout_ms.max(1));
        let io = Io {
            deadline: Instant::now() + timeout,
            step_timeout: timeout,
        };
        let dest = Dest {
            host: &host,
            port: addr.port,
            authority: &auth,
            endpoint: &addr.display,
        };
        exchange(&self.pool, &dest, &head, body, method == "HEAD", io).await
    }

    /// The error of a non-2xx response: the S3 `<Error>` code and message if the body has
    /// them, else a code from the status (HEAD responses have no body).
    async fn response_error(
        &self,
        head: &ResponseHead,
        body: &mut RemoteBody,
        missing: Missing,
        what: &str,
    ) -> BackendError {
        let status = head.status;
        let (mut code, mut message) = (String::new(), String::new());
        if let Ok(bytes) = body.read_to_vec(xml::ERROR_XML_BYTES_MAX).await {
            match xml::parse_error_response(&bytes) {
                Ok((c, m)) => (code, message) = (c, m),
                Err(_) if !bytes.is_empty() => {
                    let text = String::from_utf8_lossy(&bytes);
                    message = text.chars().take(256).collect();
                }
                Err(_) => {}
            }
        }
        if code.is_empty() {
            code = match (status, missing) {
                (404, Missing::Key) => "NoSuchKey",
                (404, Missing::Bucket) => "NoSuchBucket",
                (400, _) => "BadRequest",
                (403, _) => "AccessDenied",
                (405, _) => "MethodNotAllowed",
                (409, _) => "Conflict",
                (412, _) => "PreconditionFailed",
                (416, _) => "InvalidRange",
                (429 | 503, _) => "SlowDown",
                (500, _) => "InternalError",
                (501, _) => "NotImplemented",
                _ => "UnexpectedStatus",
            }
            .to_owned();
        }
        let mut status = status;
        if matches!(status, 301 | 307 | 308) || code == "PermanentRedirect" {
            // The bucket lives in another region (or does not exist): AIS answers 404.
            let region = head.header("x-amz-bucket-region").unwrap_or("");
            message = format!(
                "{message} (S3 answered {status}: the bucket is in another region {region:?}; \
                 set AWS_REGION or the bucket's endpoint)"
            );
            status = 404;
            code = "PermanentRedirect".to_owned();
        }
        if message.is_empty() {
            message = format!("{what}: HTTP {status}");
        } else {
            message = format!("{what}: {message}");
        }
        self.error(status, &code, message)
    }

    /// HEAD the bucket: `Ok` if it exists and the credentials may use it.
    pub async fn head_bucket(&self, bucket: &str) -> Result<(), BackendError> {
        self.check_bucket(bucket)?;
        let (head, mut body) = self
            .send::<&[u8]>("HEAD", bucket, None, "", &[], Body::None)
            .await?;
        if head.status == 200 {
            return Ok(());
        }
        Err(self
            .response_error(
                &head,
                &mut body,
                Missing::Bucket,
                &format!("bucket {bucket}"),
            )
            .await)
    }

    /// Names of the buckets the credentials own (ListBuckets).
    pub async fn list_buckets(&self) -> Result<Vec<String>, BackendError> {
        let (head, mut body) = self
            .send::<&[u8]>("GET", "", None, "", &[], Body::None)
            .await?;
        if head.status != 200 {
            return Err(self
                .response_error(&head, &mut body, Missing::Bucket, "list buckets")
                .await);
        }
        let bytes = body.read_to_vec(xml::LIST_RESULT_XML_BYTES_MAX).await?;
        xml::parse_list_all_my_buckets_result(&bytes)
            .map_err(|e| self.error(502, "BadResponse", format!("ListBuckets: {}", e.message)))
    }

    /// One ListObjectsV2 page of `bucket` under `prefix`, from `continuation` (empty: the
    /// first page), at most `max` keys (0 or more than [`LIST_PAGE_KEYS_MAX`]: that many).
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: &str,
        max: usize,
    ) -> Result<RemotePage, BackendError> {
        self.list_v2(bucket, prefix, continuation, "", max).await
    }

    /// [`S3Backend::list_objects`] from the first name after `start_after` (ListObjectsV2
    /// `start-after`): pages keyed by names, as AIS's listing pages are.
    pub async fn list_objects_after(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        max: usize,
    ) -> Result<RemotePage, BackendError> {
        self.list_v2(bucket, prefix, "", start_after, max).await
    }

    async fn list_v2(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: &str,
        start_after: &str,
        max: usize,
    ) -> Result<RemotePage, BackendError> {
        self.check_bucket(bucket)?;
        let max = if max == 0 {
            LIST_PAGE_KEYS_MAX
        } else {
            max.min(LIST_PAGE_KEYS_MAX)
        };
        let mut query = String::from("list-type=2");
        if !continuation.is_empty() {
            query.push_str("&continuation-token=");
            query.push_str(&percent_encode_query(continuation));
        }
        query.push_str(&format!("&max-keys={max}"));
        if !start_after.is_empty() {
            query.push_str("&start-after=");
            query.push_str(&percent_encode_query(start_after));
        }
        if !prefix.is_empty() {
            query.push_str("&prefix=");
            query.push_str(&percent_encode_query(prefix));
        }
        let (head, mut body) = self
            .send::<&[u8]>("GET", bucket, None, &query, &[], Body::None)
            .await?;
        if head.status != 200 {
            return Err(self
                .response_error(&head, &mut body, Missing::Bucket, &format!("list {bucket}"))
                .await);
        }
        let bytes = body.read_to_vec(xml::LIST_RESULT_XML_BYTES_MAX).await?;
        let r = xml::parse_list_objects_v2_result(&bytes).map_err(|e| {
            self.error(
                502,
                "BadResponse",
                format!("ListObjectsV2 of {bucket}: {}", e.message),
            )
        })?;
        Ok(RemotePage {
            entries: r
                .objects
                .into_iter()
                .map(|o| RemoteEntry {
                    name: o.key,
                    size: o.size,
                    etag: o.etag,
                    last_modified_ns: o.last_modified_ns.unwrap_or(0),
                })
                .collect(),
            next: r.next_continuation_token,
        })
    }

    /// The object's attributes (HEAD).
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<RemoteAttrs, BackendError> {
        self.check_key(bucket, key)?;
        let (head, mut body) = self
            .send::<&[u8]>("HEAD", bucket, Some(key), "", &[], Body::None)
            .await?;
        if head.status != 200 {
            return Err(self
                .response_error(&head, &mut body, Missing::Key, &format!("{bucket}/{key}"))
                .await);
        }
        let size = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                self.error(
                    502,
                    "BadResponse",
                    format!("HEAD {bucket}/{key}: no valid Content-Length"),
                )
            })?;
        Ok(attrs(&head, size))
    }

    /// GET the object, or the bytes `first..=last` of it: its attributes (`size` is the whole
    /// object's) and the body to pull (`remaining()` is what this response carries).
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<(RemoteAttrs, RemoteBody), BackendError> {
        self.get_object_if(bucket, key, range, "").await
    }

    /// [`S3Backend::get_object`] of the version whose ETag is `if_match` (unquoted; empty:
    /// any): S3 answers 412 `PreconditionFailed` once the object changed, so the pieces of
    /// a ranged (blob) download all come from one version.
    pub async fn get_object_if(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: &str,
    ) -> Result<(RemoteAttrs, RemoteBody), BackendError> {
        self.check_key(bucket, key)?;
        let range_value = match range {
            Some((first, last)) if first > last => {
                return Err(self.error(
                    416,
                    "InvalidRange",
                    format!("range {first}-{last}: first byte after the last"),
                ))
            }
            Some((first, last)) => Some(format!("bytes={first}-{last}")),
            None => None,
        };
        let etag = format!("\"{if_match}\"");
        let mut hs: Vec<(&str, &str)> = range_value.iter().map(|r| ("Range", r.as_str())).collect();
        if !if_match.is_empty() {
            hs.push(("If-Match", etag.as_str()));
        }
        let (head, mut body) = self
            .send::<&[u8]>("GET", bucket, Some(key), "", &hs, Body::None)
            .await?;
        let what = format!("{bucket}/{key}");
        let size = match (head.status, range) {
            (200, _) => head.content_length(),
            (206, Some(_)) => head
                .header("content-range")
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, total)| total.trim().parse().ok()),
            _ => {
                return Err(self
                    .response_error(&head, &mut body, Missing::Key, &what)
                    .await)
            }
        };
        let Some(size) = size else {
            return Err(self.error(
                502,
                "BadResponse",
                format!(
                    "GET {what}: status {} without a usable Content-Length/Content-Range \
                     (framing {:?})",
                    head.status, head.framing
                ),
            ));
        };
        if let (Some((first, last)), 206) = (range, head.status) {
            let expect = last.min(size.saturating_sub(1)) - first.min(last) + 1;
            if head.framing != Framing::Length(expect) {
                return Err(self.error(
                    502,
                    "BadResponse",
                    format!(
                        "GET {what} bytes {first}-{last}: expected {expect} bytes, framing {:?}",
                        head.framing
                    ),
                ));
            }
        }
        Ok((attrs(&head, size), body))
    }

    /// PUT `size` bytes pulled from `src` as the object (streamed, `UNSIGNED-PAYLOAD`). More
    /// than [`PUT_OBJECT_BYTES_MAX`] answers 501 (multipart upload is not implemented).
    pub async fn put_object<S: RemoteSource>(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        src: &mut S,
    ) -> Result<RemoteAttrs, BackendError> {
        self.check_key(bucket, key)?;
        if size > PUT_OBJECT_BYTES_MAX {
            return Err(self.error(
                501,
                "NotImplemented",
                format!(
                    "{bucket}/{key}: {size} bytes is more than S3's single-PUT limit \
                     PUT_OBJECT_BYTES_MAX ({PUT_OBJECT_BYTES_MAX}); multipart upload is not \
                     implemented yet"
                ),
            ));
        }
        let (head, mut body) = self
            .send(
                "PUT",
                bucket,
                Some(key),
                "",
                &[],
                Body::Stream { size, src },
            )
            .await?;
        if head.status != 200 {
            return Err(self
                .response_error(
                    &head,
                    &mut body,
                    Missing::Bucket,
                    &format!("{bucket}/{key}"),
                )
                .await);
        }
        // Drain the (normally empty) body so the connection can be reused.
        body.read_to_vec(xml::ERROR_XML_BYTES_MAX).await?;
        let mut a = attrs(&head, size);
        a.content_type.clear();
        if a.last_modified_ns == 0 {
            a.last_modified_ns = head
                .header("date")
                .and_then(net::time::parse_http_date)
                .map_or_else(net::time::now_unix_ns, |s| s.saturating_mul(1_000_000_000));
        }
        Ok(a)
    }

    /// DELETE the object. S3 answers 204 also when there was nothing to delete.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), BackendError> {
        self.check_key(bucket, key)?;
        let (head, mut body) = self
            .send::<&[u8]>("DELETE", bucket, Some(key), "", &[], Body::None)
            .await?;
        if matches!(head.status, 200 | 204) {
            body.read_to_vec(xml::ERROR_XML_BYTES_MAX).await?;
            return Ok(());
        }
        Err(self
            .response_error(&head, &mut body, Missing::Key, &format!("{bucket}/{key}"))
            .await)
    }
}

/// Attributes from a response head; `size` as the caller determined it.
fn attrs(head: &ResponseHead, size: u64) -> RemoteAttrs {
    RemoteAttrs {
        size,
        etag: head
            .header("etag")
            .map(|e| net::s3::etag::unquote(e).to_owned())
            .unwrap_or_default(),
        version: head
            .header("x-amz-version-id")
            .unwrap_or_default()
            .to_owned(),
        last_modified_ns: head
            .header("last-modified")
            .and_then(net::time::parse_http_date)
            .map_or(0, |s| s.saturating_mul(1_000_000_000)),
        content_type: head.header("content-type").unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_default_ports_and_base_paths() {
        let a = Addr::parse("http://127.0.0.1:9000", true).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.base.as_str()),
            ("127.0.0.1", 9000, "")
        );
        assert_eq!(a.display, "http://127.0.0.1:9000");
        let a = Addr::parse("HTTP://minio.local/s3/", true).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.base.as_str()),
            ("minio.local", 80, "/s3")
        );
        assert_eq!(a.display, "http://minio.local");
        let a = Addr::parse("https://[::1]:8443", true).unwrap();
        assert!(a.https);
        assert_eq!(a.display, "https://[::1]:8443");
        for bad in [
            "ftp://x",
            "127.0.0.1:9000",
            "http://",
            "http://h:0",
            "http://h/x?y",
        ] {
            let e = Addr::parse(bad, true).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (400, "InvalidArgument"),
                "{bad}"
            );
        }
    }

    #[test]
    fn path_style_and_virtual_hosted_targets() {
        let p = Addr::parse("http://h:9000/base", true).unwrap();
        assert_eq!(
            p.locate("b", Some("a b/c+d"), ""),
            ("h".to_owned(), "/base/b/a%20b/c%2Bd".to_owned())
        );
        assert_eq!(
            p.locate("b", None, "list-type=2"),
            ("h".to_owned(), "/base/b?list-type=2".to_owned())
        );
        assert_eq!(
            p.locate("", None, ""),
            ("h".to_owned(), "/base/".to_owned())
        );
        let v = Addr::aws("eu-west-1");
        assert_eq!(v.host, "s3.eu-west-1.amazonaws.com");
        assert_eq!(
            v.locate("my-bucket", Some("k/1"), ""),
            (
                "my-bucket.s3.eu-west-1.amazonaws.com".to_owned(),
                "/k/1".to_owned()
            )
        );
        // Not a DNS label: path-style even on AWS.
        assert_eq!(
            v.locate("my.bucket", Some("k"), ""),
            (
                "s3.eu-west-1.amazonaws.com".to_owned(),
                "/my.bucket/k".to_owned()
            )
        );
        assert_eq!(
            v.locate("", None, ""),
            ("s3.eu-west-1.amazonaws.com".to_owned(), "/".to_owned())
        );
        assert_eq!(authority("h", 80, false), "h");
        assert_eq!(authority("h", 443, false), "h:443");
        assert_eq!(authority("::1", 9, false), "[::1]:9");
    }

    #[test]
    fn aws_without_tls_answers_501_and_bad_names_400() {
        let b = S3Backend::new(S3Config::default());
        assert_eq!(b.endpoint(), "https://s3.us-east-1.amazonaws.com");
        let ex = glommio::LocalExecutorBuilder::default().make().unwrap();
        ex.run(async {
            let e = b.head_bucket("bucket").await.unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (501, "NotImplemented"));
            assert!(
                e.to_string().contains("https://s3.us-east-1.amazonaws.com"),
                "{e}"
            );
            assert!(e.message.contains("TLS"), "{e}");
            let e = b.head_object("bucket", "").await.unwrap_err();
            assert_eq!(e.status, 400);
            let long = "k".repeat(net::s3::KEY_BYTES_MAX + 1);
            let e = b.head_object("bucket", &long).await.unwrap_err();
            assert_eq!(e.code, "KeyTooLongError");
            let ok = "k".repeat(net::s3::KEY_BYTES_MAX);
            let e = b.head_object("bucket", &ok).await.unwrap_err();
            assert_eq!(e.status, 501);
            let e = b.get_object("bucket", "k", Some((5, 4))).await.unwrap_err();
            assert_eq!(e.status, 416);
            let mut src: &[u8] = b"";
            let e = b
                .put_object("bucket", "k", PUT_OBJECT_BYTES_MAX + 1, &mut src)
                .await
                .unwrap_err();
            assert_eq!(e.status, 501);
            assert!(e.message.contains("PUT_OBJECT_BYTES_MAX"), "{e}");
            let bad = b.with_endpoint("nope://x");
            let e = bad.list_buckets().await.unwrap_err();
            assert_eq!(e.status, 400);
        });
    }
}
