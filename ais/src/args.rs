//! Parsing of the CLI's own argument syntax (clap parses the command line; this module the
//! values): bucket and object URIs (`ais://bucket/object`), `key=value` property pairs into
//! the nested JSON of `set-bprops` and `set-config`, JSON flattening for display, and
//! durations (`500ms`, `1s`, `2m`).
//!
//! # Invariants
//!
//! * Pure: no I/O, every function is table-tested below.
//! * A URI's object name is passed to the node unchanged (the node validates names); only the
//!   bucket name is checked here, so that a typo fails before any request.
//!
//! # What this module does not do
//!
//! * No namespaces (`ais://@uuid#ns/bucket`): refused by name.
//! * No type knowledge of properties: a value is a JSON bool, integer or (nested) JSON literal
//!   if it parses as one, else a string; the node checks types and names the bad field.

use crate::error::Error;
use std::time::Duration;

/// Longest bucket name AIS accepts (spec §2.1).
pub const BUCKET_NAME_BYTES_MAX: usize = 64;

/// A bucket: provider (AIS's canonical name: `ais`, `aws`, `gcp`, `azure`, `oci`) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bck {
    pub provider: &'static str,
    pub name: String,
}

impl Bck {
    /// AIS's display form: `ais://name` (`s3://`, `gs://`, `az://` for the clouds, as AIS
    /// prints them).
    pub fn cname(&self) -> String {
        let scheme = match self.provider {
            "aws" => "s3",
            "gcp" => "gs",
            "azure" => "az",
            "oci" => "oc",
            p => p,
        };
        format!("{scheme}://{}", self.name)
    }

    /// The query string every bucket and object request carries.
    pub fn query(&self) -> String {
        format!("provider={}", self.provider)
    }
}

/// The canonical provider of a URI scheme (AIS accepts the cloud aliases).
pub fn provider_of(scheme: &str) -> Option<&'static str> {
    Some(match scheme {
        "ais" => "ais",
        "aws" | "s3" => "aws",
        "gcp" | "gs" => "gcp",
        "azure" | "az" => "azure",
        "oci" | "oc" => "oci",
        _ => return None,
    })
}

/// A parsed `[provider://]bucket[/object]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub bck: Bck,
    /// Everything after the bucket's `/` (may be empty: `ais://b/`), `None` without a `/`.
    pub object: Option<String>,
}

/// Parse `ais://bucket/object/name`, `ais://bucket`, or a bare `bucket[/object]` (provider
/// `ais`, as in AIS's CLI).
pub fn parse_uri(s: &str) -> Result<Uri, Error> {
    let bad = |why: &str| Error::Usage(format!("invalid bucket URI {s:?}: {why}"));
    let (provider, rest) = match s.split_once("://") {
        Some((scheme, rest)) => {
            let p = provider_of(scheme).ok_or_else(|| {
                bad("unknown provider (expected ais://, s3://, gs://, az://, oci://)")
            })?;
            (p, rest)
        }
        None => ("ais", s),
    };
    let (name, object) = match rest.split_once('/') {
        Some((b, o)) => (b, Some(o.to_owned())),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(bad("missing bucket name"));
    }
    if name.starts_with('@') || name.contains('#') {
        return Err(bad("namespaces (@uuid#ns) are not supported by this CLI"));
    }
    if name.len() > BUCKET_NAME_BYTES_MAX {
        return Err(bad(&format!(
            "bucket name is longer than {BUCKET_NAME_BYTES_MAX} bytes"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        || name.contains("..")
    {
        return Err(bad(
            "a bucket name has only letters, digits, '-', '_' and '.' (no '..')",
        ));
    }
    Ok(Uri {
        bck: Bck {
            provider,
            name: name.to_owned(),
        },
        object,
    })
}

/// A bucket URI that must not name an object (`ais://b` or `ais://b/`).
pub fn parse_bucket(s: &str) -> Result<Bck, Error> {
    let u = parse_uri(s)?;
    match u.object.as_deref() {
        None | Some("") => Ok(u.bck),
        Some(o) => Err(Error::Usage(format!(
            "{s:?} names an object ({o:?}); expected a bucket such as ais://{}",
            u.bck.name
        ))),
    }
}

/// A URI that must name an object (`ais://b/o`): the bucket and the object name.
pub fn parse_object(s: &str) -> Result<(Bck, String), Error> {
    let u = parse_uri(s)?;
    match u.object {
        Some(o) if !o.is_empty() => Ok((u.bck, o)),
        _ => Err(Error::Usage(format!(
            "{s:?} names no object; expected ais://{}/OBJECT_NAME",
            u.bck.name
        ))),
    }
}

/// Split `key=value` (the value may contain `=`).
pub fn parse_kv(s: &str) -> Result<(&str, &str), Error> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(Error::Usage(format!(
            "invalid property {s:?}: expected KEY=VALUE (e.g. mirror.enabled=true)"
        ))),
    }
}

/// The JSON value of a property's text: `true`/`false`, an integer, a JSON object or array,
/// or else the text as a string.
pub fn typed_value(v: &str) -> serde_json::Value {
    if let Ok(b) = v.parse::<bool>() {
        return serde_json::Value::Bool(b);
    }
    if let Ok(n) = v.parse::<i64>() {
        return serde_json::Value::from(n);
    }
    if v.starts_with(['{', '[']) {
        if let Ok(j) = serde_json::from_str(v) {
            return j;
        }
    }
    serde_json::Value::String(v.to_owned())
}

/// `["mirror.enabled=true", "mirror.copies=2"]` into `{"mirror":{"enabled":true,"copies":2}}`.
/// A single argument that is a JSON object is taken as the whole value (AIS's
/// `JSON_SPECIFICATION` form).
pub fn kv_to_json(pairs: &[String]) -> Result<serde_json::Value, Error> {
    if let [only] = pairs {
        if only.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(only)
                .map_err(|e| Error::Usage(format!("invalid JSON specification: {e}")))?;
            return Ok(v);
        }
    }
    let mut root = serde_json::Map::new();
    for p in pairs {
        let (key, value) = parse_kv(p)?;
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|c| c.is_empty()) {
            return Err(Error::Usage(format!(
                "invalid property name {key:?}: empty component"
            )));
        }
        let (last, path) = parts.split_last().expect("split yields at least one part");
        let mut node = &mut root;
        for c in path {
            let slot = node
                .entry((*c).to_owned())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            node = slot.as_object_mut().ok_or_else(|| {
                Error::Usage(format!(
                    "property {key:?} conflicts with a value set for {c:?}"
                ))
            })?;
        }
        if node.contains_key(*last) {
            return Err(Error::Usage(format!("property {key:?} is given twice")));
        }
        node.insert((*last).to_owned(), typed_value(value));
    }
    Ok(serde_json::Value::Object(root))
}

/// Flatten a JSON document into sorted `(dotted.key, text)` pairs (strings without quotes,
/// arrays and `null` as JSON text).
pub fn flatten(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out.sort();
    out
}

/// The pairs whose key is `key` or lies under it (`mirror` selects `mirror.copies`).
pub fn select<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a (String, String)> {
    pairs
        .iter()
        .filter(|(k, _)| {
            key.is_empty() || k == key || k.strip_prefix(key).is_some_and(|r| r.starts_with('.'))
        })
        .collect()
}

/// A duration as AIS's CLI takes it: `500ms`, `1.5s`, `2m`, `1h`, `100us`, `10ns`, or a bare
/// number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 500ms, 1s, 2m)"))?;
    let secs_per_unit = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" => 60.0,
        "h" => 3600.0,
        u => {
            return Err(format!(
                "invalid duration unit {u:?} in {s:?} (ns, us, ms, s, m, h)"
            ))
        }
    };
    Duration::try_from_secs_f64(n * secs_per_unit)
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uri_valid_table() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            ("ais://b", "ais", "b", None),
            ("ais://b/", "ais", "b", Some("")),
            ("ais://b/obj", "ais", "b", Some("obj")),
            ("ais://b/dir/sub/x.tar", "ais", "b", Some("dir/sub/x.tar")),
            ("b", "ais", "b", None),
            ("b/o", "ais", "b", Some("o")),
            ("s3://cloud-b/o", "aws", "cloud-b", Some("o")),
            ("gs://x", "gcp", "x", None),
            ("az://x", "azure", "x", None),
            ("ais://a_b.c-d/o=1", "ais", "a_b.c-d", Some("o=1")),
        ];
        for (s, p, b, o) in cases {
            let u = parse_uri(s).unwrap();
            assert_eq!(u.bck.provider, *p, "{s}");
            assert_eq!(u.bck.name, *b, "{s}");
            assert_eq!(u.object.as_deref(), *o, "{s}");
        }
        assert_eq!(parse_uri("s3://x").unwrap().bck.cname(), "s3://x");
        assert_eq!(parse_uri("x").unwrap().bck.cname(), "ais://x");
    }

    #[test]
    fn uri_invalid_table() {
        let long = format!("ais://{}", "a".repeat(BUCKET_NAME_BYTES_MAX + 1));
        let at_limit = format!("ais://{}", "a".repeat(BUCKET_NAME_BYTES_MAX));
        assert!(parse_uri(&at_limit).is_ok());
        for bad in [
            "",
            "ais://",
            "ais:///o",
            "ftp://b",
            "ais://b c",
            "ais://a..b",
            "ais://@uuid#ns/b",
            "ais://b#x",
            long.as_str(),
        ] {
            assert!(parse_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bucket_and_object_forms() {
        assert_eq!(parse_bucket("ais://b/").unwrap().name, "b");
        assert!(parse_bucket("ais://b/o").is_err());
        assert_eq!(
            parse_object("ais://b/a/b").unwrap(),
            (
                Bck {
                    provider: "ais",
                    name: "b".into()
                },
                "a/b".to_owned()
            )
        );
        assert!(parse_object("ais://b").is_err());
        assert!(parse_object("ais://b/").is_err());
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn kv_to_nested_json() {
        let v = kv_to_json(&strs(&[
            "mirror.enabled=true",
            "mirror.copies=2",
            "checksum.type=md5",
            "ec.objsize_limit=0",
            "versioning.enabled=false",
            "access=a=b",
        ]))
        .unwrap();
        assert_eq!(
            v,
            json!({
                "mirror": {"enabled": true, "copies": 2},
                "checksum": {"type": "md5"},
                "ec": {"objsize_limit": 0},
                "versioning": {"enabled": false},
                "access": "a=b",
            })
        );
        assert_eq!(
            kv_to_json(&strs(&[r#"{"mirror":{"copies":3}}"#])).unwrap(),
            json!({"mirror": {"copies": 3}})
        );
        assert_eq!(typed_value("-5"), json!(-5));
        assert_eq!(typed_value("1.5"), json!("1.5"));
        assert_eq!(typed_value("[1,2]"), json!([1, 2]));
        assert_eq!(typed_value("[oops"), json!("[oops"));
        assert_eq!(typed_value(""), json!(""));
    }

    #[test]
    fn kv_invalid_table() {
        for bad in [
            &["mirror.enabled"][..],
            &["=1"],
            &["a..b=1"],
            &[".a=1"],
            &["a=1", "a.b=2"],
            &["a.b=1", "a.b=2"],
            &["{not json"],
        ] {
            assert!(kv_to_json(&strs(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flatten_and_select() {
        let v = json!({"mirror": {"copies": 2, "enabled": true}, "provider": "ais", "x": null, "l": [1]});
        let f = flatten(&v);
        assert_eq!(
            f,
            vec![
                ("l".to_owned(), "[1]".to_owned()),
                ("mirror.copies".to_owned(), "2".to_owned()),
                ("mirror.enabled".to_owned(), "true".to_owned()),
                ("provider".to_owned(), "ais".to_owned()),
                ("x".to_owned(), "null".to_owned()),
            ]
        );
        assert_eq!(select(&f, "mirror").len(), 2);
        assert_eq!(select(&f, "mirror.copies").len(), 1);
        assert_eq!(select(&f, "mirr").len(), 0);
        assert_eq!(select(&f, "").len(), 5);
    }

    #[test]
    fn durations() {
        let ok: &[(&str, Duration)] = &[
            ("1s", Duration::from_secs(1)),
            ("2", Duration::from_secs(2)),
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("10us", Duration::from_micros(10)),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s).unwrap(), *d, "{s}");
        }
        for bad in ["", "s", "1x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
