//! Control-plane calls made before and after a run: does the bucket exist, create it, list its
//! objects (AIS msgpack pages or S3 ListObjectsV2), destroy it. Native calls follow spec §2 and
//! §7 exactly (JSON `ActMsg` bodies, `Accept: application/msgpack` for listings).
//!
//! These run once, so they favour clarity over avoiding allocations.

use crate::s3::{parse_list_v2, S3Signer, EMPTY_SHA256};
use crate::{Error, Result};
use net::client::{
    BodySink, Client, ClientConfig, Collect, Endpoint, HopSigner, Request, Unsigned,
};
use net::http::{percent_encode_path, percent_encode_query};
use net::s3::signer::Signer as SigV4;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// Largest control-plane response body we keep (a listing page of 10,000 entries is ~1 MiB).
pub const CONTROL_BODY_BYTES_MAX: usize = 64 << 20;
/// Safety net against a server that never ends a listing.
pub const LIST_PAGES_MAX: usize = 1_000_000;
/// AIS entry flag: virtual directory.
const ENTRY_FLAG_DIR: u16 = 256;

/// An object found by listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub size: u64,
}

/// The API the loader talks to, with its credentials.
pub enum Api {
    Ais {
        endpoint: Endpoint,
        provider: String,
        /// AuthN token (`-tokenfile`).
        token: Option<String>,
    },
    S3 {
        endpoint: Endpoint,
        /// Path of the endpoint URL (e.g. `/s3` for aisnode), prefixed to every request.
        prefix: String,
        sig: SigV4,
    },
}

/// A control-plane session: one client, one deadline per call.
pub struct Control {
    pub api: Api,
    client: Client,
    timeout: Duration,
}

#[derive(Deserialize)]
struct LsoPageIn {
    #[serde(rename = "UUID", default)]
    uuid: String,
    #[serde(rename = "ContinuationToken", default)]
    continuation_token: String,
    #[serde(rename = "Entries", default)]
    entries: Option<Vec<LsoEntryIn>>,
}

#[derive(Deserialize)]
struct LsoEntryIn {
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "s", default)]
    size: i64,
    #[serde(rename = "f", default)]
    flags: u16,
}

/// Decode one msgpack listing page: (uuid, continuation token, entries without directories).
pub fn decode_lso_page(body: &[u8]) -> Result<(String, String, Vec<Listed>)> {
    let page: LsoPageIn = rmp_serde::from_slice(body).map_err(|source| Error::BadListingPage {
        bytes: body.len(),
        source,
    })?;
    let entries = page
        .entries
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.flags & ENTRY_FLAG_DIR == 0)
        .map(|e| Listed {
            name: e.name,
            size: e.size.max(0) as u64,
        })
        .collect();
    Ok((page.uuid, page.continuation_token, entries))
}

fn body_text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(512)]);
    s.trim().to_owned()
}

impl Control {
    pub fn new(api: Api, timeout: Duration) -> Control {
        let client = Client::new(ClientConfig {
            user_agent: "aisloader".to_owned(),
            ..ClientConfig::default()
        });
        Control {
            api,
            client,
            timeout,
        }
    }

    async fn call(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>)> {
        let mut sink = Collect::new(CONTROL_BODY_BYTES_MAX);
        let deadline = Instant::now() + self.timeout;
        let bodies: [&[u8]; 1] = [body];
        let prefixed;
        let (endpoint, mut signer, target): (&Endpoint, Signer, &str) = match &self.api {
            Api::Ais {
                endpoint,
                token: Some(t),
                ..
            } => (endpoint, Signer::Bearer(t.clone()), target),
            Api::Ais { endpoint, .. } => (endpoint, Signer::None, target),
            Api::S3 {
                endpoint,
                prefix,
                sig,
            } => {
                let mut s = S3Signer::new(sig.clone());
                s.payload_hash = EMPTY_SHA256;
                prefixed = format!("{prefix}{target}");
                (endpoint, Signer::S3(Box::new(s)), prefixed.as_str())
            }
        };
        let req = Request {
            method,
            endpoint,
            target,
            headers,
            body: if body.is_empty() { &[] } else { &bodies },
        };
        let r = self
            .client
            .execute(&req, &mut signer, &mut sink, deadline)
            .await
            .map_err(|source| Error::Request {
                method: method.to_owned(),
                url: format!("{}{target}", endpoint.authority),
                source,
            })?;
        if sink.truncated {
            return Err(Error::TooLarge {
                method: method.to_owned(),
                target: target.to_owned(),
            });
        }
        Ok((r.status, sink.body))
    }

    /// Whether `bucket` exists (AIS: list-buckets with a name filter; S3: a one-key listing).
    pub async fn bucket_exists(&mut self, bucket: &str) -> Result<bool> {
        match &self.api {
            Api::Ais { provider, .. } => {
                let target = format!("/v1/buckets?provider={provider}");
                let body = serde_json::json!({"action": "list", "name": bucket, "value": null})
                    .to_string();
                let (status, resp) = self
                    .call(
                        "GET",
                        &target,
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    )
                    .await?;
                if status != 200 {
                    return Err(Error::Status {
                        what: "list buckets".to_owned(),
                        status,
                        body: body_text(&resp),
                    });
                }
                let v: serde_json::Value =
                    serde_json::from_slice(&resp).map_err(|source| Error::BadJson {
                        what: "list buckets",
                        source,
                        body: body_text(&resp),
                    })?;
                let arr = v.as_array().ok_or(Error::UnexpectedJson {
                    what: "list buckets",
                    expected: "a JSON array",
                })?;
                Ok(arr.iter().any(|b| b["name"] == bucket))
            }
            Api::S3 { .. } => {
                let target = format!("/{}?list-type=2&max-keys=1", percent_encode_path(bucket));
                let (status, resp) = self.call("GET", &target, &[], b"").await?;
                match status {
                    200 => Ok(true),
                    404 => Ok(false),
                    status => Err(Error::Status {
                        what: format!("S3 list {bucket}"),
                        status,
                        body: body_text(&resp),
                    }),
                }
            }
        }
    }

    /// The cluster map (`GET /v1/daemon?what=smap`), as JSON.
    pub async fn smap(&mut self) -> Result<serde_json::Value> {
        let (status, resp) = self.call("GET", "/v1/daemon?what=smap", &[], b"").await?;
        if status != 200 {
            return Err(Error::Status {
                what: "get cluster map".to_owned(),
                status,
                body: body_text(&resp),
            });
        }
        serde_json::from_slice(&resp).map_err(|source| Error::BadJson {
            what: "cluster map",
            source,
            body: body_text(&resp),
        })
    }

    pub async fn create_bucket(&mut self, bucket: &str) -> Result<()> {
        let (status, resp) = match &self.api {
            Api::Ais { provider, .. } => {
                let target = format!(
                    "/v1/buckets/{}?provider={provider}",
                    percent_encode_path(bucket)
                );
                let body = r#"{"action":"create-bck","name":"","value":null}"#;
                self.call(
                    "POST",
                    &target,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                )
                .await?
            }
            Api::S3 { .. } => {
                let target = format!("/{}", percent_encode_path(bucket));
                self.call("PUT", &target, &[], b"").await?
            }
        };
        match status {
            200 => Ok(()),
            // Created concurrently by someone else: it exists, which is what we wanted.
            409 => Ok(()),
            status => Err(Error::Status {
                what: format!("create bucket {bucket}"),
                status,
                body: body_text(&resp),
            }),
        }
    }

    pub async fn destroy_bucket(&mut self, bucket: &str) -> Result<()> {
        let Api::Ais { provider, .. } = &self.api else {
            return Err(Error::Unsupported("destroying S3 buckets is not supported"));
        };
        let target = format!(
            "/v1/buckets/{}?provider={provider}",
            percent_encode_path(bucket)
        );
        let body = r#"{"action":"destroy-bck","name":"","value":null}"#;
        let (status, resp) = self
            .call(
                "DELETE",
                &target,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await?;
        match status {
            200 => Ok(()),
            status => Err(Error::Status {
                what: format!("destroy bucket {bucket}"),
                status,
                body: body_text(&resp),
            }),
        }
    }

    /// All objects under `prefix`, page by page until the continuation token is empty.
    pub async fn list_objects(&mut self, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut token = String::new();
        let mut uuid = String::new();
        for _ in 0..LIST_PAGES_MAX {
            let (entries, next) = match &self.api {
                Api::Ais { provider, .. } => {
                    let target = format!(
                        "/v1/buckets/{}?provider={provider}",
                        percent_encode_path(bucket)
                    );
                    let body = serde_json::json!({
                        "action": "list",
                        "name": "",
                        "value": {
                            "prefix": prefix, "pagesize": 0, "flags": "0", "uuid": uuid,
                            "continuation_token": token, "props": "name,size",
                        },
                    })
                    .to_string();
                    let (status, resp) = self
                        .call(
                            "GET",
                            &target,
                            &[
                                ("Content-Type", "application/json"),
                                ("Accept", "application/msgpack"),
                            ],
                            body.as_bytes(),
                        )
                        .await?;
                    if status != 200 {
                        return Err(Error::Status {
                            what: format!("list objects in {bucket}"),
                            status,
                            body: body_text(&resp),
                        });
                    }
                    let (u, next, entries) = decode_lso_page(&resp)?;
                    uuid = u;
                    (entries, next)
                }
                Api::S3 { .. } => {
                    let mut target = format!(
                        "/{}?list-type=2&prefix={}",
                        percent_encode_path(bucket),
                        percent_encode_query(prefix)
                    );
                    if !token.is_empty() {
                        target.push_str("&continuation-token=");
                        target.push_str(&percent_encode_query(&token));
                    }
                    let (status, resp) = self.call("GET", &target, &[], b"").await?;
                    if status != 200 {
                        return Err(Error::Status {
                            what: format!("S3 list {bucket}"),
                            status,
                            body: body_text(&resp),
                        });
                    }
                    let page = parse_list_v2(&resp).map_err(|e| Error::S3List {
                        bucket: bucket.to_owned(),
                        source: Box::new(e),
                    })?;
                    let entries = page
                        .objects
                        .into_iter()
                        .map(|(name, size)| Listed { name, size })
                        .collect();
                    (entries, page.next_token.unwrap_or_default())
                }
            };
            out.extend(entries);
            if next.is_empty() {
                return Ok(out);
            }
            if next == token {
                return Err(Error::RepeatedToken {
                    bucket: bucket.to_owned(),
                    token: next,
                });
            }
            token = next;
        }
        Err(Error::TooManyPages {
            bucket: bucket.to_owned(),
        })
    }
}

/// Per-request signing: none (native) or SigV4 (S3).
pub enum Signer {
    None,
    S3(Box<S3Signer>),
    /// An AuthN token (native API).
    Bearer(String),
}

impl HopSigner for Signer {
    fn sign(&mut self, method: &str, authority: &str, target: &str, out: &mut Vec<u8>) {
        match self {
            Signer::None => Unsigned.sign(method, authority, target, out),
            Signer::S3(s) => s.sign(method, authority, target, out),
            Signer::Bearer(t) => {
                net::http::push_header_line(out, "Authorization", &format!("Bearer {t}"));
            }
        }
    }
}

/// Collects the start of an error body; ignores success bodies.
#[derive(Default)]
pub struct ErrorBody {
    pub status: u16,
    pub text: Vec<u8>,
}

/// Error body bytes kept for messages.
pub const ERROR_BODY_BYTES_MAX: usize = 512;

impl BodySink for ErrorBody {
    fn head(&mut self, head: &net::client::ResponseHead) {
        self.status = head.status;
        self.text.clear();
    }

    fn data(&mut self, bytes: &[u8]) {
        if self.status >= 300 {
            let room = ERROR_BODY_BYTES_MAX.saturating_sub(self.text.len());
            self.text.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

impl ErrorBody {
    pub fn message(&self) -> String {
        body_text(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_page_decodes_go_keys_and_skips_dirs() {
        #[derive(serde::Serialize)]
        struct E<'a> {
            n: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            s: Option<i64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            f: Option<u16>,
            cs: &'a str,
        }
        #[derive(serde::Serialize)]
        struct P<'a> {
            #[serde(rename = "UUID")]
            uuid: &'a str,
            #[serde(rename = "ContinuationToken")]
            token: &'a str,
            #[serde(rename = "Entries")]
            entries: Vec<E<'a>>,
            #[serde(rename = "Flags")]
            flags: u32,
        }
        let page = P {
            uuid: "u1",
            token: "b",
            entries: vec![
                E {
                    n: "a",
                    s: Some(5),
                    f: Some(64),
                    cs: "x",
                },
                E {
                    n: "d/",
                    s: None,
                    f: Some(256),
                    cs: "",
                },
                E {
                    n: "b",
                    s: None,
                    f: None,
                    cs: "",
                },
            ],
            flags: 0,
        };
        let bytes = rmp_serde::to_vec_named(&page).unwrap();
        let (uuid, token, entries) = decode_lso_page(&bytes).unwrap();
        assert_eq!((uuid.as_str(), token.as_str()), ("u1", "b"));
        assert_eq!(
            entries,
            vec![
                Listed {
                    name: "a".into(),
                    size: 5
                },
                Listed {
                    name: "b".into(),
                    size: 0
                }
            ]
        );
        assert!(matches!(
            decode_lso_page(b"\xc1"),
            Err(Error::BadListingPage { bytes: 1, .. })
        ));
    }
}
