//! Bucket commands: `ais ls` (buckets, or a bucket's objects through the paginated native
//! list-objects API), `ais bucket create|rm`, `ais bucket props show|set`.
//!
//! Listing pages are requested as msgpack (`Accept: application/msgpack`, the form the AIS
//! SDK uses) and decoded into `net::api::LsoPage`; the loop passes the page's `uuid` and
//! `continuation_token` back until the token is empty (spec §2.4).

use crate::api::Api;
use crate::args::{flatten, kv_to_json, parse_bucket, parse_uri, provider_of, select, Bck};
use crate::cli::LsArgs;
use crate::error::{Error, Result};
use crate::format::{emit, size, Table};
use net::api::{LsoEntry, LsoPage, ENTRY_FLAG_DIR, LSO_FLAG_NAME_ONLY, LSO_PAGE_SIZE_MAX};
use net::http::percent_encode_path;
use std::io::{BufRead, IsTerminal, Write};

/// Pages of one listing, at most (a server that never ends a listing).
pub const LIST_PAGES_MAX: usize = 10_000_000;
/// Every object property `--props all` asks for.
const PROPS_ALL: &str = "name,size,checksum,atime,version,copies,location,custom";

/// `/v1/buckets/<name>?provider=..`
pub fn bucket_target(b: &Bck) -> String {
    format!("/v1/buckets/{}?{}", percent_encode_path(&b.name), b.query())
}

/// Ask before a destructive action: `--yes`, or an interactive `y`.
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!(
            "{question}: not confirmed (stdin is not a terminal); add --yes (-y)"
        )));
    }
    eprint!("{question} [Y/N]: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the answer", e))?;
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Failed("operation canceled".to_owned())),
    }
}

/// `ais ls [BUCKET|PROVIDER]`.
pub async fn ls(api: &mut Api, a: &LsArgs) -> Result<()> {
    let Some(arg) = a.bucket.as_deref() else {
        return ls_buckets(api, None, a.no_headers).await;
    };
    // `ais ls ais://`, `ais ls s3:`, `ais ls ais`: the buckets of one provider.
    let scheme = arg.trim_end_matches("://").trim_end_matches(':');
    if let Some(p) = provider_of(scheme).filter(|_| !arg.contains('/') || arg.ends_with("://")) {
        return ls_buckets(api, Some(p), a.no_headers).await;
    }
    let u = parse_uri(arg)?;
    let prefix = match (&a.prefix, u.object.as_deref()) {
        (Some(p), _) => p.clone(),
        (None, Some(o)) => o.to_owned(),
        (None, None) => String::new(),
    };
    ls_objects(api, &u.bck, &prefix, a).await
}

async fn ls_buckets(api: &mut Api, provider: Option<&str>, no_headers: bool) -> Result<()> {
    let target = match provider {
        Some(p) => format!("/v1/buckets?provider={p}"),
        None => "/v1/buckets".to_owned(),
    };
    let v = api
        .act("GET", &target, &[], "list", &serde_json::Value::Null)
        .await?
        .json("list buckets")?;
    let arr = v.as_array().cloned().unwrap_or_default();
    let mut t = Table::new(&["NAME"]);
    let mut names: Vec<String> = arr
        .iter()
        .map(|b| {
            let p = b["provider"]
                .as_str()
                .and_then(provider_of)
                .unwrap_or("ais");
            Bck {
                provider: p,
                name: b["name"].as_str().unwrap_or("").to_owned(),
            }
            .cname()
        })
        .collect();
    names.sort();
    for n in &names {
        t.row(vec![n.clone()]);
    }
    let mut out = t.render(!no_headers);
    if !no_headers {
        out.push_str(&format!("Total: {} bucket(s)\n", names.len()));
    }
    emit(&out)
}

/// Every object of `bck` under `prefix` (at most `limit`, 0: all), page by page.
pub async fn list_all(
    api: &mut Api,
    bck: &Bck,
    prefix: &str,
    props: &str,
    flags: u64,
    limit: u64,
    page_size: u64,
) -> Result<Vec<LsoEntry>> {
    let target = bucket_target(bck);
    let mut out: Vec<LsoEntry> = Vec::new();
    let (mut uuid, mut token) = (String::new(), String::new());
    for _ in 0..LIST_PAGES_MAX {
        let want = if limit == 0 {
            page_size
        } else {
            let left = limit - out.len() as u64;
            if page_size == 0 {
                left.min(LSO_PAGE_SIZE_MAX as u64)
            } else {
                left.min(page_size)
            }
        };
        let msg = serde_json::json!({
            "prefix": prefix,
            "pagesize": want,
            "uuid": uuid,
            "props": props,
            "continuation_token": token,
            "flags": flags.to_string(),
        });
        let body = serde_json::json!({"action": "list", "name": "", "value": msg}).to_string();
        let r = api
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
        let page: LsoPage = rmp_serde::from_slice(&r.body).map_err(|e| Error::BadResponse {
            what: format!("list objects of {}", bck.cname()),
            error: format!("msgpack page of {} bytes: {e}", r.body.len()),
        })?;
        out.extend(
            page.entries
                .into_iter()
                .filter(|e| e.flags & ENTRY_FLAG_DIR == 0),
        );
        if limit != 0 && out.len() as u64 >= limit {
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(out);
        }
        if page.continuation_token.is_empty() {
            return Ok(out);
        }
        uuid = page.uuid;
        token = page.continuation_token;
    }
    Err(Error::BadResponse {
        what: format!("list objects of {}", bck.cname()),
        error: format!("more than LIST_PAGES_MAX ({LIST_PAGES_MAX}) pages"),
    })
}

async fn ls_objects(api: &mut Api, bck: &Bck, prefix: &str, a: &LsArgs) -> Result<()> {
    let props = if a.name_only {
        "name".to_owned()
    } else {
        match a.props.as_deref() {
            None | Some("") => "name,size".to_owned(),
            Some("all") => PROPS_ALL.to_owned(),
            Some(p) => {
                let mut ps: Vec<&str> = p
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if !ps.contains(&"name") {
                    ps.insert(0, "name");
                }
                ps.join(",")
            }
        }
    };
    let flags = if a.name_only { LSO_FLAG_NAME_ONLY } else { 0 };
    let entries = list_all(api, bck, prefix, &props, flags, a.limit, a.page_size).await?;
    let cols: Vec<&str> = props.split(',').collect();
    for c in &cols {
        if !PROPS_ALL.split(',').any(|k| k == *c) {
            return Err(Error::Usage(format!(
                "unknown object property {c:?} in --props (known: {PROPS_ALL}, all)"
            )));
        }
    }
    let header: Vec<String> = cols
        .iter()
        .map(|c| match *c {
            "location" => "TARGET".to_owned(),
            "custom" => "CUSTOM".to_owned(),
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = Table::new(&header_refs);
    for e in &entries {
        let row = cols
            .iter()
            .map(|c| match *c {
                "name" => e.name.clone(),
                "size" => size(u64::try_from(e.size).unwrap_or(0), a.units),
                "checksum" => e.checksum.clone(),
                "atime" => e.atime.clone(),
                "version" => e.version.clone(),
                "copies" => e.copies.to_string(),
                "location" => e.location.clone(),
                "custom" => e.custom.clone(),
                _ => String::new(),
            })
            .collect();
        t.row(row);
    }
    let mut out = t.render(!a.no_headers);
    if !a.no_headers {
        out.push_str(&format!("Listed {} names\n", entries.len()));
    }
    emit(&out)
}

/// `ais bucket create BUCKET...`
pub async fn create(api: &mut Api, buckets: &[String]) -> Result<()> {
    for b in buckets {
        let bck = parse_bucket(b)?;
        api.act(
            "POST",
            &bucket_target(&bck),
            &[],
            "create-bck",
            &serde_json::Value::Null,
        )
        .await?;
        emit(&format!("\"{}\" created\n", bck.cname()))?;
    }
    Ok(())
}

/// `ais bucket rm BUCKET... [-y]`
pub async fn rm(api: &mut Api, buckets: &[String], yes: bool) -> Result<()> {
    let bcks = buckets
        .iter()
        .map(|b| parse_bucket(b))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = bcks.iter().map(Bck::cname).collect();
    confirm(
        &format!("Remove {} with all their objects?", names.join(", ")),
        yes,
    )?;
    for bck in &bcks {
        api.act(
            "DELETE",
            &bucket_target(bck),
            &[],
            "destroy-bck",
            &serde_json::Value::Null,
        )
        .await?;
        emit(&format!("\"{}\" destroyed\n", bck.cname()))?;
    }
    Ok(())
}

/// The bucket's properties (`HEAD`, header `Ais-Bucket-Props`).
pub async fn props_of(api: &mut Api, bck: &Bck) -> Result<serde_json::Value> {
    api.call("HEAD", &bucket_target(bck), &[], b"").await?;
    let h = api
        .head()
        .header("ais-bucket-props")
        .unwrap_or("")
        .to_owned();
    serde_json::from_str(&h).map_err(|e| Error::BadResponse {
        what: format!("HEAD {}", bck.cname()),
        error: format!("Ais-Bucket-Props is not JSON: {e}"),
    })
}

/// `ais bucket props show BUCKET [PROP_PREFIX] [--json]`
pub async fn props_show(
    api: &mut Api,
    bucket: &str,
    prefix: Option<&str>,
    json: bool,
) -> Result<()> {
    let bck = parse_bucket(bucket)?;
    let props = props_of(api, &bck).await?;
    show_json_or_table(&props, prefix.unwrap_or(""), json)
}

/// Print a JSON document (or its subtree at the dotted `key`) as pretty JSON, or as a
/// `PROPERTY VALUE` table of its flattened keys.
pub fn show_json_or_table(doc: &serde_json::Value, key: &str, json: bool) -> Result<()> {
    if json {
        let mut v = doc;
        for c in key.split('.').filter(|c| !c.is_empty()) {
            v = v
                .get(c)
                .ok_or_else(|| Error::Usage(format!("no property {key:?}")))?;
        }
        let s = serde_json::to_string_pretty(v).expect("a JSON value serializes");
        return emit(&format!("{s}\n"));
    }
    let flat = flatten(doc);
    let sel = select(&flat, key);
    if sel.is_empty() {
        return Err(Error::Usage(format!("no property {key:?}")));
    }
    let mut t = Table::new(&["PROPERTY", "VALUE"]);
    for (k, v) in sel {
        t.row(vec![k.clone(), v.clone()]);
    }
    emit(&t.render(true))
}

/// `ais bucket props set BUCKET KEY=VALUE...`: `set-bprops`, then what changed, and the job
/// the change started (mirroring, EC encoding), if any.
pub async fn props_set(api: &mut Api, bucket: &str, pairs: &[String]) -> Result<()> {
    let bck = parse_bucket(bucket)?;
    let value = kv_to_json(pairs)?;
    let before = flatten(&props_of(api, &bck).await?);
    let r = api
        .act("PATCH", &bucket_target(&bck), &[], "set-bprops", &value)
        .await?;
    let xid = r.text();
    let after = flatten(&props_of(api, &bck).await?);
    let mut out = String::new();
    for (k, v) in &after {
        let old = before
            .iter()
            .find(|(bk, _)| bk == k)
            .map(|(_, v)| v.as_str());
        if old != Some(v.as_str()) {
            out.push_str(&format!(
                "\"{k}\" set to: \"{v}\" (was: \"{}\")\n",
                old.unwrap_or("")
            ));
        }
    }
    if out.is_empty() {
        out.push_str(&format!("{}: no property changed\n", bck.cname()));
    }
    if !xid.is_empty() {
        out.push_str(&format!(
            "Started job {xid} (to wait: ais job wait {xid})\n"
        ));
    }
    emit(&out)
}
