//! Conditional requests (RFC 9110 §13) as S3 applies them to GET/HEAD object, the
//! `x-amz-copy-source-if-*` conditions of CopyObject / UploadPartCopy, and the conditional
//! writes of PutObject / CompleteMultipartUpload ([`WriteConditions`]).
//!
//! Evaluation order (RFC 9110 §13.2.2, which S3 follows):
//! 1. `If-Match` present and false → 412. Otherwise, if absent, `If-Unmodified-Since` valid
//!    and the object was modified after it → 412.
//! 2. `If-None-Match` present and an ETag matches → 304 for GET/HEAD, 412 otherwise. Otherwise,
//!    if absent, for GET/HEAD `If-Modified-Since` valid and the object not modified after it
//!    → 304.
//!
//! ETags compare without quotes (clients send both forms); `If-Match` uses the strong comparison
//! (a `W/` tag never matches), `If-None-Match` the weak one. Times compare at one-second
//! granularity, as HTTP-dates have. Invalid dates are ignored (RFC 9110). For copy sources every
//! failure is 412 (S3 never answers a copy with 304).

use super::error::{S3Error, S3ErrorCode};
use super::etag::unquote;
use crate::time::parse_http_date;

/// The conditional headers of a request (values as received).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preconditions<'a> {
    /// `If-Match` (or `x-amz-copy-source-if-match`).
    pub if_match: Option<&'a str>,
    /// `If-None-Match` (or `x-amz-copy-source-if-none-match`).
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since` (or `x-amz-copy-source-if-modified-since`).
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since` (or `x-amz-copy-source-if-unmodified-since`).
    pub if_unmodified_since: Option<&'a str>,
    /// The conditions are on a copy source: failures are always 412.
    pub copy_source: bool,
}

impl<'a> Preconditions<'a> {
    /// The `If-*` headers of a request (lowercase names; the first of repeated fields).
    pub fn from_headers(headers: &'a [(String, String)]) -> Self {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Preconditions {
            if_match: get("if-match"),
            if_none_match: get("if-none-match"),
            if_modified_since: get("if-modified-since"),
            if_unmodified_since: get("if-unmodified-since"),
            copy_source: false,
        }
    }

    /// The `x-amz-copy-source-if-*` headers of a CopyObject / UploadPartCopy request.
    pub fn from_copy_source_headers(headers: &'a [(String, String)]) -> Self {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Preconditions {
            if_match: get("x-amz-copy-source-if-match"),
            if_none_match: get("x-amz-copy-source-if-none-match"),
            if_modified_since: get("x-amz-copy-source-if-modified-since"),
            if_unmodified_since: get("x-amz-copy-source-if-unmodified-since"),
            copy_source: true,
        }
    }

    /// No conditional header is present.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// Evaluate against the current object's `etag` (quoted or not) and last-modified time.
    /// `get_or_head` selects 304 (GET/HEAD) over 412 for a failed `If-None-Match`, and enables
    /// `If-Modified-Since`. `Err` is `NotModified` (304, send no body) or `PreconditionFailed`.
    pub fn evaluate(
        &self,
        etag: &str,
        last_modified_unix_secs: i64,
        get_or_head: bool,
    ) -> Result<(), S3Error> {
        let not_modified_applies = get_or_head && !self.copy_source;
        if let Some(if_match) = self.if_match {
            if !etag_list_matches(if_match, etag, false) {
                return Err(failed("If-Match", self.copy_source));
            }
        } else if let Some(since) = self.if_unmodified_since.and_then(parse_http_date) {
            if last_modified_unix_secs > since {
                return Err(failed("If-Unmodified-Since", self.copy_source));
            }
        }
        if let Some(if_none_match) = self.if_none_match {
            if etag_list_matches(if_none_match, etag, true) {
                return Err(if not_modified_applies {
                    S3Error::from_code(S3ErrorCode::NotModified)
                } else {
                    failed("If-None-Match", self.copy_source)
                });
            }
        } else if get_or_head || self.copy_source {
            if let Some(since) = self.if_modified_since.and_then(parse_http_date) {
                if last_modified_unix_secs <= since {
                    return Err(if not_modified_applies {
                        S3Error::from_code(S3ErrorCode::NotModified)
                    } else {
                        failed("If-Modified-Since", self.copy_source)
                    });
                }
            }
        }
        Ok(())
    }
}

/// The conditions of a write (PutObject, CompleteMultipartUpload): `If-None-Match: *` (only
/// if the key does not exist) and `If-Match: <etag>` (only if the current object has that
/// ETag). Evaluated against the object as it is right before the write commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteConditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
}

impl<'a> WriteConditions<'a> {
    /// The `If-Match` / `If-None-Match` headers of a write. S3 supports `If-None-Match` only
    /// with `*` on writes: another value is `NotImplemented`.
    pub fn from_headers(headers: &'a [(String, String)]) -> Result<Self, S3Error> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let c = WriteConditions {
            if_match: get("if-match"),
            if_none_match: get("if-none-match"),
        };
        if let Some(v) = c.if_none_match {
            if v.trim() != "*" {
                return Err(S3Error::new(
                    S3ErrorCode::NotImplemented,
                    "A header you provided implies functionality that is not implemented: \
                     If-None-Match on a write supports only \"*\"",
                ));
            }
        }
        Ok(c)
    }

    /// No condition.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Evaluate against the current object's ETag (`None`: the key does not exist):
    /// `PreconditionFailed` if `If-None-Match: *` and the key exists, or `If-Match` and the key
    /// is missing or its ETag differs.
    pub fn evaluate(&self, current_etag: Option<&str>) -> Result<(), S3Error> {
        if self.if_none_match.is_some() && current_etag.is_some() {
            return Err(failed("If-None-Match", false));
        }
        if let Some(if_match) = self.if_match {
            match current_etag {
                Some(etag) if etag_list_matches(if_match, etag, false) => {}
                _ => return Err(failed("If-Match", false)),
            }
        }
        Ok(())
    }
}

fn failed(header: &str, copy_source: bool) -> S3Error {
    let name = if copy_source {
        format!("x-amz-copy-source-{}", header.to_ascii_lowercase())
    } else {
        header.to_owned()
    };
    S3Error::new(
        S3ErrorCode::PreconditionFailed,
        format!("At least one of the pre-conditions you specified did not hold ({name})"),
    )
}

/// Does the `If-Match` / `If-None-Match` value `list` (`*` or comma-separated entity tags)
/// match `etag`? `weak` allows `W/` tags to match (If-None-Match); otherwise they never do.
pub fn etag_list_matches(list: &str, etag: &str, weak: bool) -> bool {
    let etag = unquote(etag);
    list.split(',').map(str::trim).any(|candidate| {
        if candidate == "*" {
            return true;
        }
        let candidate = match candidate.strip_prefix("W/") {
            Some(tag) if weak => tag,
            Some(_) => return false,
            None => candidate,
        };
        !candidate.is_empty() && unquote(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"d41d8cd98f00b204e9800998ecf8427e\"";
    /// Last-Modified: Fri, 24 May 2013 00:00:00 GMT.
    const MTIME: i64 = 1_369_353_600;
    const BEFORE: &str = "Thu, 23 May 2013 23:59:59 GMT";
    const AT: &str = "Fri, 24 May 2013 00:00:00 GMT";

    fn code(p: Preconditions, get: bool) -> Option<u16> {
        p.evaluate(ETAG, MTIME, get).err().map(|e| e.status())
    }

    #[test]
    fn etag_lists_match_quoted_unquoted_star_and_weak() {
        assert!(etag_list_matches(ETAG, ETAG, false));
        assert!(etag_list_matches(
            "d41d8cd98f00b204e9800998ecf8427e",
            ETAG,
            false
        ));
        assert!(etag_list_matches(
            "\"x\", \"d41d8cd98f00b204e9800998ecf8427e\"",
            ETAG,
            false
        ));
        assert!(etag_list_matches("*", ETAG, false));
        assert!(!etag_list_matches("\"x\"", ETAG, false));
        assert!(!etag_list_matches(
            "W/\"d41d8cd98f00b204e9800998ecf8427e\"",
            ETAG,
            false
        ));
        assert!(etag_list_matches(
            "W/\"d41d8cd98f00b204e9800998ecf8427e\"",
            ETAG,
            true
        ));
        assert!(!etag_list_matches("", ETAG, true));
        assert!(!etag_list_matches(",,", ETAG, true));
    }

    #[test]
    fn get_conditions_follow_rfc9110_order() {
        let none = Preconditions::default();
        assert!(none.is_empty());
        assert_eq!(code(none, true), None);
        let p = |m, nm, ms, us| Preconditions {
            if_match: m,
            if_none_match: nm,
            if_modified_since: ms,
            if_unmodified_since: us,
            copy_source: false,
        };
        // If-Match.
        assert_eq!(code(p(Some(ETAG), None, None, None), true), None);
        assert_eq!(code(p(Some("\"x\""), None, None, None), true), Some(412));
        // If-Unmodified-Since only counts without If-Match.
        assert_eq!(code(p(None, None, None, Some(BEFORE)), true), Some(412));
        assert_eq!(code(p(None, None, None, Some(AT)), true), None);
        assert_eq!(code(p(Some(ETAG), None, None, Some(BEFORE)), true), None);
        assert_eq!(code(p(None, None, None, Some("garbage")), true), None);
        // If-None-Match: 304 on GET/HEAD, 412 otherwise.
        assert_eq!(code(p(None, Some(ETAG), None, None), true), Some(304));
        assert_eq!(code(p(None, Some(ETAG), None, None), false), Some(412));
        assert_eq!(code(p(None, Some("*"), None, None), false), Some(412));
        assert_eq!(code(p(None, Some("\"x\""), None, None), true), None);
        // If-Modified-Since only counts without If-None-Match, and only for GET/HEAD.
        assert_eq!(code(p(None, None, Some(AT), None), true), Some(304));
        assert_eq!(code(p(None, None, Some(BEFORE), None), true), None);
        assert_eq!(code(p(None, None, Some(AT), None), false), None);
        assert_eq!(code(p(None, Some("\"x\""), Some(AT), None), true), None);
        // If-Match failing wins over If-None-Match.
        assert_eq!(
            code(p(Some("\"x\""), Some(ETAG), None, None), true),
            Some(412)
        );
    }

    #[test]
    fn write_conditions() {
        let h = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = h(&[]);
        let c = WriteConditions::from_headers(&none).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.evaluate(None), Ok(()));
        assert_eq!(c.evaluate(Some(ETAG)), Ok(()));
        let star = h(&[("if-none-match", "*")]);
        let c = WriteConditions::from_headers(&star).unwrap();
        assert_eq!(c.evaluate(None), Ok(()));
        assert_eq!(c.evaluate(Some(ETAG)).unwrap_err().status(), 412);
        let other = h(&[("if-none-match", ETAG)]);
        assert_eq!(
            WriteConditions::from_headers(&other).unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        let m = h(&[("If-Match", "d41d8cd98f00b204e9800998ecf8427e")]);
        let c = WriteConditions::from_headers(&m).unwrap();
        assert_eq!(c.evaluate(Some(ETAG)), Ok(()));
        assert_eq!(c.evaluate(Some("\"x\"")).unwrap_err().status(), 412);
        assert_eq!(c.evaluate(None).unwrap_err().status(), 412);
    }

    #[test]
    fn copy_source_conditions_are_always_412() {
        let headers: Vec<(String, String)> = [
            ("x-amz-copy-source-if-none-match", ETAG),
            ("if-none-match", "\"other\""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let copy = Preconditions::from_copy_source_headers(&headers);
        let err = copy.evaluate(ETAG, MTIME, true).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::PreconditionFailed);
        assert!(
            err.message.contains("x-amz-copy-source-if-none-match"),
            "{}",
            err.message
        );
        assert_eq!(
            Preconditions::from_headers(&headers).evaluate(ETAG, MTIME, true),
            Ok(())
        );
        let copy = Preconditions {
            if_modified_since: Some(AT),
            copy_source: true,
            ..Preconditions::default()
        };
        assert_eq!(code(copy, false), Some(412));
    }
}
