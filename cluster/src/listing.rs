//! Listing a bucket, for both front ends (native list-objects and S3 ListObjects): a target
//! walks its mountpaths; a proxy of a multi-node cluster asks every active target for one
//! page in parallel and merges by name. The continuation token is the last name of a full
//! page (spec §2.4).

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::{random_id, Smap};
use crate::node::Role;
use engine::layout::Bck;
use net::api::{LsoEntry, LsoMsg, LsoPage};
use net::time;
use std::rc::Rc;
use std::sync::Arc;

/// What one listing page asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    /// List names after this one (continuation token or start-after).
    pub after: String,
    pub page_size: usize,
    /// Comma-separated AIS props (`name,size,checksum,version,atime,location,custom,copies,last-modified`).
    pub props: String,
    /// LSO flags (name-only is honoured).
    pub flags: u64,
}

impl ListQuery {
    /// The query of a native list-objects message (page size capped at
    /// [`net::api::LSO_PAGE_SIZE_MAX`], 0 meaning the maximum).
    pub fn from_lso(lso: &LsoMsg) -> ListQuery {
        ListQuery {
            prefix: lso.prefix.clone(),
            after: if lso.continuation_token.is_empty() {
                lso.start_after.clone()
            } else {
                lso.continuation_token.clone()
            },
            page_size: match lso.pagesize as usize {
                0 => net::api::LSO_PAGE_SIZE_MAX,
                n => n.min(net::api::LSO_PAGE_SIZE_MAX),
            },
            props: lso.props.clone(),
            flags: lso.flags,
        }
    }

    fn props(&self) -> Vec<&str> {
        self.props
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// One page of `bucket`'s entries, sorted by name, at most `q.page_size` of them: this
/// target's (walking its mountpaths), or every active target's merged (a proxy).
pub async fn entries(
    node: &Arc<Node>,
    smap: &Smap,
    bucket: &str,
    q: &ListQuery,
) -> Result<Vec<LsoEntry>> {
    if node.cfg.role == Role::Proxy {
        gather(smap, bucket, q).await
    } else {
        local(node, bucket, q).await
    }
}

/// A page as the client sees it: a continuation token if the page is full.
pub fn page(uuid: &str, entries: Vec<LsoEntry>, page_size: usize) -> LsoPage {
    let full = entries.len() == page_size;
    LsoPage {
        uuid: if uuid.is_empty() {
            random_id(9)
        } else {
            uuid.to_string()
        },
        continuation_token: if full {
            entries.last().map(|e| e.name.clone()).unwrap_or_default()
        } else {
            String::new()
        },
        entries,
        flags: 0,
    }
}

/// This target's entries: every mountpath walked on the core's blocking thread.
async fn local(node: &Arc<Node>, bucket: &str, q: &ListQuery) -> Result<Vec<LsoEntry>> {
    let props = q.props();
    let has = |p: &str| props.contains(&p);
    let name_only = q.flags & net::api::LSO_FLAG_NAME_ONLY != 0 || props == ["name"];
    let with_md =
        has("checksum") || has("version") || has("atime") || has("custom") || has("last-modified");
    let n2 = node.clone();
    let (b, prefix, after, page_size) = (
        bucket.to_string(),
        q.prefix.clone(),
        q.after.clone(),
        q.page_size,
    );
    let found = glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mut all = Vec::new();
            for m in n2.mountpaths.load().with_data() {
                let part = engine::list::list(&m, &bck, &prefix, &after, page_size, with_md)?;
                all.extend(part.into_iter().map(|e| (e, m.path_str.clone())));
            }
            all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            all.dedup_by(|a, b| a.0.name == b.0.name);
            all.truncate(page_size);
            Ok::<_, engine::Error>(all)
        })
        .await
        .map_err(|e| Error::Internal(format!("list {bucket}: {e}")))?;
    let tname = node.tname();
    Ok(found
        .into_iter()
        .map(|(e, mp)| {
            let lom = e.lom.as_ref();
            let md = |want: bool, f: &dyn Fn(&engine::lom::Lom) -> String| {
                if want {
                    lom.map(f).unwrap_or_default()
                } else {
                    String::new()
                }
            };
            LsoEntry {
                size: if name_only { 0 } else { e.size as i64 },
                checksum: md(has("checksum"), &|l| l.cksum_value.clone()),
                version: md(has("version"), &|l| l.version.clone()),
                atime: md(has("atime"), &|l| time::format_rfc822(l.atime_ns)),
                location: if has("location") {
                    format!("{tname}:{mp}")
                } else {
                    String::new()
                },
                custom: md(has("custom"), &|l| {
                    l.custom
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                copies: i16::from(has("copies")),
                flags: net::api::ENTRY_FLAG_PRESENT,
                mtime_ns: if has("last-modified") {
                    lom.map(|l| l.mtime_ns).unwrap_or(0)
                } else {
                    0
                },
                name: e.name,
            }
        })
        .collect())
}

/// A proxy: one page from every active target in parallel (msgpack), merged by name and
/// truncated to the page size.
async fn gather(smap: &Smap, bucket: &str, q: &ListQuery) -> Result<Vec<LsoEntry>> {
    let value = serde_json::json!({
        "prefix": q.prefix,
        "pagesize": q.page_size,
        "props": q.props,
        "continuation_token": q.after,
        "flags": q.flags.to_string(),
    });
    let body =
        serde_json::to_vec(&serde_json::json!({"action": "list", "name": "", "value": value}))
            .map_err(|e| Error::Internal(e.to_string()))?;
    let body = Rc::new(body);
    let mut tasks = Vec::new();
    for t in smap.active_targets() {
        let url = format!(
            "{}/v1/buckets/{bucket}?provider=ais",
            t.public_net.direct_url
        );
        let body = body.clone();
        let id = t.daemon_id.clone();
        tasks.push(glommio::spawn_local(async move {
            let r = intra::call(
                "GET",
                &url,
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/msgpack"),
                ],
                &body,
            )
            .await;
            (id, r)
        }));
    }
    let mut entries: Vec<LsoEntry> = Vec::new();
    for t in tasks {
        let (id, r) = t.await;
        let r =
            r.map_err(|e| Error::Unavailable(format!("listing {bucket} on target {id}: {e}")))?;
        if r.status != 200 {
            return Err(Error::Peer {
                status: r.status,
                message: format!(
                    "listing {bucket} on target {id}: {}",
                    String::from_utf8_lossy(&r.body)
                ),
            });
        }
        let page: LsoPage = rmp_serde::from_slice(&r.body)
            .map_err(|e| Error::Internal(format!("target {id} sent a bad listing page: {e}")))?;
        entries.extend(page.entries);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    entries.truncate(q.page_size);
    Ok(entries)
}
