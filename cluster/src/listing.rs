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

/// Greater than every character of an object name: `dir + AFTER_ALL` sorts after every name
/// under `dir` (how a non-recursive listing skips a virtual directory's subtree).
const AFTER_ALL: &str = "\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}";

/// One listed item before it becomes an entry: an object (with the mountpath it is on) or a
/// virtual directory of a non-recursive listing.
enum Item {
    Object(engine::list::ListEntry, String),
    Dir(String),
    /// A shard of an `arch-dir` listing (its files follow it).
    Shard(engine::list::ListEntry, String),
    /// A file inside a shard: `<shard>/<file>` and its size.
    InArch(String, u64),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Object(e, _) | Item::Shard(e, _) => &e.name,
            Item::Dir(n) | Item::InArch(n, _) => n,
        }
    }
}

/// Shards whose files may still follow a continuation token: every prefix of it that is
/// named like a shard (`s.tar` for `s.tar/1.jpg`, for `s.tar` itself, and for `s.tar.idx`,
/// which sorts before `s.tar/...`).
fn shards_before(after: &str) -> Vec<&str> {
    (1..=after.len())
        .filter(|i| after.is_char_boundary(*i))
        .map(|i| &after[..i])
        .filter(|p| engine::archive::Format::by_name(p).is_some())
        .collect()
}

/// The files of shard `name` (by its extension, as AIS lists) in name order; `None` when it
/// cannot be read as an archive (it is then listed as a plain object). Indexes are kept in
/// `engine::archive`'s per-thread cache (this runs on a blocking thread), keyed by the file's
/// size and mtime, so paging through a shard reads its headers once.
fn shard_files(path: &std::path::Path, name: &str) -> Option<Vec<(String, u64)>> {
    use engine::archive::{self as arch, ArchError, FileSource, Stamp};
    let format = arch::Format::by_name(name)?;
    let read = FileSource::open(path)
        .map_err(ArchError::Io)
        .and_then(|src| {
            let stamp = Stamp {
                size: src.size,
                mtime_ns: src.mtime_ns,
                cksum: String::new(),
                version: String::new(),
                format,
            };
            if let Some(idx) = arch::cached(path, &stamp) {
                return Ok(idx);
            }
            let idx = std::rc::Rc::new(arch::index(&src, format)?);
            arch::remember(path, stamp, idx.clone());
            Ok(idx)
        });
    match read {
        Ok(idx) => Some(
            idx.sorted()
                .into_iter()
                .map(|m| (format!("{name}/{}", m.name.trim_start_matches('/')), m.size))
                .collect(),
        ),
        Err(e) => {
            // The client's data, not ours to fix: listed as a plain object.
            tracing::debug!(object = name, error = %e, "arch-dir listing: not a readable shard");
            None
        }
    }
}

/// One page of an `arch-dir` listing: objects, and after each shard its files as
/// `<shard>/<file>`, all `> after` with `prefix`, in name order. A page never reaches past
/// the last object read (files of the next objects come with them on the next page), and
/// shards are read only until the page is complete.
fn with_shard_files(
    mps: &[Arc<engine::mountpath::Mountpath>],
    bck: &Bck,
    q: &ListQuery,
    with_md: bool,
) -> engine::Result<Vec<Item>> {
    let all = objects(mps, bck, &q.prefix, &q.after, q.page_size, with_md)?;
    let full = all.len() == q.page_size;
    let mut last = all.last().map(|(e, _)| e.name.clone());
    let mut out: std::collections::BTreeMap<String, Item> = std::collections::BTreeMap::new();
    let add_files = |out: &mut std::collections::BTreeMap<String, Item>,
                     path: &std::path::Path,
                     name: &str|
     -> bool {
        let Some(files) = shard_files(path, name) else {
            return false;
        };
        for (n, size) in files {
            if n.as_str() > q.after.as_str() && n.starts_with(&q.prefix) {
                out.entry(n.clone()).or_insert(Item::InArch(n, size));
            }
        }
        true
    };
    for shard in shards_before(&q.after) {
        if let Some(path) = mps
            .iter()
            .map(|m| engine::object::locate(m, bck, shard))
            .find(|p| p.is_file())
        {
            add_files(&mut out, &path, shard);
        }
    }
    let mut complete = false;
    for (e, mp) in all {
        // Everything from here on sorts after `e`: with a page's worth before it, done.
        if out.len() >= q.page_size
            && out
                .range::<str, _>((
                    std::ops::Bound::Unbounded,
                    std::ops::Bound::Excluded(e.name.as_str()),
                ))
                .count()
                >= q.page_size
        {
            complete = true;
            break;
        }
        let is_shard = engine::archive::Format::by_name(&e.name).is_some() && {
            let m = mps.iter().find(|m| m.path_str == mp);
            m.is_some_and(|m| {
                add_files(&mut out, &engine::object::locate(m, bck, &e.name), &e.name)
            })
        };
        let item = if is_shard {
            Item::Shard(e, mp)
        } else {
            Item::Object(e, mp)
        };
        out.insert(item.name().to_string(), item);
    }
    if complete {
        last = None;
    }
    let mut page: Vec<Item> = out.into_values().collect();
    if let (true, Some(last)) = (full, last) {
        page.retain(|i| i.name() <= last.as_str());
    }
    page.truncate(q.page_size);
    Ok(page)
}

/// Up to `limit` objects of `bck` named `> after` with `prefix` over all `mps`, in name
/// order, each name once (the first mountpath's copy that is there), with the mountpath that
/// holds it (blocking: readdir). Names are merged before any file is read: a page stats
/// `limit` objects, not `limit` per mountpath.
fn objects(
    mps: &[Arc<engine::mountpath::Mountpath>],
    bck: &Bck,
    prefix: &str,
    after: &str,
    limit: usize,
    with_md: bool,
) -> engine::Result<Vec<(engine::list::ListEntry, String)>> {
    let found = |after: &str, want: usize| names(mps, bck, prefix, after, want, false);
    Ok(engine::list::fill(limit, after, with_md, found)?
        .into_iter()
        .map(|(e, i)| (e, mps[i].path_str.clone()))
        .collect())
}

/// The first `want` names `> after` with `prefix` on each of `mps`, tagged with the
/// mountpath's index; no file read (blocking: readdir). With `collapse`, a directory below
/// the prefix is one name, `dir/` (see [`engine::list::names`]).
fn names(
    mps: &[Arc<engine::mountpath::Mountpath>],
    bck: &Bck,
    prefix: &str,
    after: &str,
    want: usize,
    collapse: bool,
) -> engine::Result<Vec<(engine::list::Found, usize)>> {
    let mut all = Vec::new();
    for (i, m) in mps.iter().enumerate() {
        let part = engine::list::names(m, bck, prefix, after, want, collapse)?;
        all.extend(part.into_iter().map(|f| (f, i)));
    }
    Ok(all)
}

/// The virtual directory `name` is in, one level below `prefix` (AIS `LsNoRecursion`):
/// `prefix` + the rest of the name up to and including its first `/`; `None` for a name
/// directly under the prefix.
pub fn dir_below(prefix: &str, name: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    rest.find('/').map(|i| format!("{prefix}{}", &rest[..=i]))
}

/// One page of a non-recursive listing (AIS `LsNoRecursion`, as for an S3 delimiter `/`):
/// the objects directly under `prefix` and, unless `no_dirs`, one entry per virtual
/// directory below it (`prefix` + one more path level + `/`), all `> after`, in name order.
/// A directory's subtree is skipped, not listed and dropped: names are read without their
/// files, and only the objects listed are `stat`ed.
fn one_level(
    mps: &[Arc<engine::mountpath::Mountpath>],
    bck: &Bck,
    q: &ListQuery,
    with_md: bool,
    no_dirs: bool,
) -> engine::Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut cursor = q.after.clone();
    let mut last_dir = String::new();
    while out.len() < q.page_size {
        let want = q.page_size - out.len();
        let batch = engine::list::group(names(mps, bck, &q.prefix, &cursor, want, true)?);
        let exhausted = batch.len() < want;
        for copies in batch.iter().take(want) {
            let name = &copies[0].0.name;
            if *name <= cursor {
                continue; // inside a directory already passed
            }
            match dir_below(&q.prefix, name) {
                None => {
                    cursor.clone_from(name);
                    if let Some((e, i)) = engine::list::first_present(copies, with_md) {
                        out.push(Item::Object(e, mps[i].path_str.clone()));
                    }
                }
                Some(dir) => {
                    // Next: what sorts after the directory's subtree (the cursor always grows).
                    let past = format!("{dir}{AFTER_ALL}");
                    cursor = if past > *name { past } else { name.clone() };
                    if dir != last_dir && !no_dirs && dir > q.after {
                        out.push(Item::Dir(dir.clone()));
                    }
                    last_dir = dir;
                }
            }
            if out.len() == q.page_size {
                break;
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(out)
}

/// This target's entries: every mountpath walked on the core's blocking thread.
async fn local(node: &Arc<Node>, bucket: &str, q: &ListQuery) -> Result<Vec<LsoEntry>> {
    let props = q.props();
    let has = |p: &str| props.contains(&p);
    let name_only = q.flags & net::api::LSO_FLAG_NAME_ONLY != 0 || props == ["name"];
    let with_md =
        has("checksum") || has("version") || has("atime") || has("custom") || has("last-modified");
    let no_recursion = q.flags & net::api::LSO_FLAG_NO_RECURSION != 0;
    let no_dirs = q.flags & net::api::LSO_FLAG_NO_DIRS != 0;
    let arch_dir = q.flags & net::api::LSO_FLAG_ARCH_DIR != 0;
    if arch_dir && no_recursion {
        return Err(Error::NotImplemented(
            "list-objects flags arch-dir and no-recursion together are not supported by this node"
                .into(),
        ));
    }
    // Replicas are counted only where there can be more than one (a mirrored bucket).
    let mirror_props = node
        .bmd
        .load()
        .buckets
        .get(bucket)
        .filter(|p| has("copies") && crate::mirror::copies_wanted(p) > 1)
        .cloned();
    let n2 = node.clone();
    let (b, q2) = (bucket.to_string(), q.clone());
    let (found, copies) = glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mps = n2.mountpaths.load().with_data();
            let items = if no_recursion {
                one_level(&mps, &bck, &q2, with_md || mirror_props.is_some(), no_dirs)?
            } else if arch_dir {
                with_shard_files(&mps, &bck, &q2, with_md || mirror_props.is_some())?
            } else {
                let all = objects(
                    &mps,
                    &bck,
                    &q2.prefix,
                    &q2.after,
                    q2.page_size,
                    with_md || mirror_props.is_some(),
                )?;
                all.into_iter().map(|(e, mp)| Item::Object(e, mp)).collect()
            };
            // Per item, its replicas (0: not counted).
            let set = n2.mountpaths.load();
            let copies: Vec<usize> = items
                .iter()
                .map(|item| match (item, &mirror_props) {
                    (Item::Object(e, mp) | Item::Shard(e, mp), Some(p)) => {
                        match (e.lom.as_ref(), mps.iter().find(|m| m.path_str == *mp)) {
                            (Some(lom), Some(m)) => crate::mirror::replica_mountpaths(
                                &set,
                                Some(p),
                                m,
                                &b,
                                &e.name,
                                lom,
                            )
                            .len(),
                            _ => 1,
                        }
                    }
                    _ => 0,
                })
                .collect();
            Ok::<_, engine::Error>((items, copies))
        })
        .await
        .map_err(|e| Error::Internal(format!("list {bucket}: {e}")))?;
    let tname = node.tname();
    Ok(found
        .into_iter()
        .zip(copies)
        .map(|(item, replicas)| {
            let (e, mp, flags) = match item {
                Item::Object(e, mp) => (e, mp, net::api::ENTRY_FLAG_PRESENT),
                Item::Shard(e, mp) => (
                    e,
                    mp,
                    net::api::ENTRY_FLAG_PRESENT | net::api::ENTRY_FLAG_IS_ARCHIVE,
                ),
                Item::Dir(name) => {
                    return LsoEntry {
                        name,
                        flags: net::api::ENTRY_FLAG_DIR,
                        ..LsoEntry::default()
                    }
                }
                // As AIS: name, size and the shard's flags but is-archive, plus in-archive.
                Item::InArch(name, size) => {
                    return LsoEntry {
                        name,
                        size: size as i64,
                        flags: net::api::ENTRY_FLAG_PRESENT | net::api::ENTRY_FLAG_IN_ARCH,
                        ..LsoEntry::default()
                    }
                }
            };
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
                copies: if has("copies") {
                    i16::try_from(replicas.max(1)).unwrap_or(i16::MAX)
                } else {
                    0
                },
                flags,
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

/// One target's share of a bucket summary (AIS `BsummResult`, before aggregation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub bytes: u64,
    /// Smallest and largest object (meaningless while `count` is 0).
    pub min: u64,
    pub max: u64,
    /// Capacity of the filesystems of the mountpaths (AIS `total_disks_size`).
    pub disks: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        if o.count > 0 {
            self.min = if self.count == 0 {
                o.min
            } else {
                self.min.min(o.min)
            };
            self.max = self.max.max(o.max);
        }
        self.count += o.count;
        self.bytes += o.bytes;
        self.disks += o.disks;
    }
}

/// Count and size the objects of `bucket` with `prefix` on this target's mountpaths, and
/// the mountpaths' capacity (blocking walks on the core's blocking thread).
pub async fn local_tally(node: &Arc<Node>, bucket: &str, prefix: &str) -> Result<Tally> {
    let n2 = node.clone();
    let (b, prefix) = (bucket.to_string(), prefix.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mps = n2.mountpaths.load().with_data();
            let mut t = Tally::default();
            for m in &mps {
                if let Ok(v) = rustix::fs::statvfs(&m.path) {
                    t.disks += v.f_blocks * v.f_frsize;
                }
            }
            let mut after = String::new();
            loop {
                let page = objects(
                    &mps,
                    &bck,
                    &prefix,
                    &after,
                    net::api::LSO_PAGE_SIZE_MAX,
                    false,
                )?;
                for (e, _) in &page {
                    t.add(&Tally {
                        count: 1,
                        bytes: e.size,
                        min: e.size,
                        max: e.size,
                        disks: 0,
                    });
                }
                match page.last() {
                    Some((e, _)) if page.len() == net::api::LSO_PAGE_SIZE_MAX => {
                        after.clone_from(&e.name);
                    }
                    _ => return Ok::<_, engine::Error>(t),
                }
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("summarizing {bucket}: {e}")))
}

/// A proxy: one page merged from every active target's entries (msgpack, targets asked in
/// parallel), by name, each name once, truncated to the page size.
///
/// HRW spreads names evenly, so a target is first asked for its share of the page with a
/// margin ([`target_quota`]), not for a whole page it would list (stat, read metadata) only
/// for most of it to be dropped here; a target that sent its full quota while its last name
/// sorts before the page's end is asked again after that name until the page is exact.
pub(crate) async fn gather(smap: &Smap, bucket: &str, q: &ListQuery) -> Result<Vec<LsoEntry>> {
    let targets: Vec<&crate::meta::Snode> = smap.active_targets().collect();
    let quota = target_quota(q.page_size, targets.len());
    let mut got: Vec<Vec<LsoEntry>> = vec![Vec::new(); targets.len()];
    let mut full = vec![false; targets.len()];
    let mut ask: Vec<(usize, String)> = (0..targets.len()).map(|i| (i, q.after.clone())).collect();
    while !ask.is_empty() {
        let mut tasks = Vec::new();
        for (i, after) in ask {
            let t = targets[i];
            let value = serde_json::json!({
                "prefix": q.prefix,
                "pagesize": quota,
                "props": q.props,
                "continuation_token": after,
                "flags": q.flags.to_string(),
            });
            let body = serde_json::to_vec(
                &serde_json::json!({"action": "list", "name": "", "value": value}),
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
            let url = format!(
                "{}/v1/buckets/{}",
                t.public_net.direct_url,
                crate::meta::url_path_q(bucket)
            );
            let id = t.daemon_id.clone();
            tasks.push(glommio::spawn_local(async move {
                let headers = [
                    ("Content-Type", "application/json"),
                    ("Accept", "application/msgpack"),
                ];
                (i, id, intra::call("GET", &url, &headers, &body).await)
            }));
        }
        for t in tasks {
            let (i, id, r) = t.await;
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
            let page: LsoPage = rmp_serde::from_slice(&r.body).map_err(|e| {
                Error::Internal(format!("target {id} sent a bad listing page: {e}"))
            })?;
            // Full: it may have more (a page that does not move past its last name never is).
            let moved = page.entries.last().is_some_and(|e| {
                got[i]
                    .last()
                    .is_none_or(|l| e.name.as_str() > l.name.as_str())
            });
            full[i] = quota > 0 && page.entries.len() >= quota && moved;
            got[i].extend(page.entries);
        }
        ask = ask_again(q.page_size, &got, &full)
            .into_iter()
            .map(|i| (i, got[i].last().map(|e| e.name.clone()).unwrap_or_default()))
            .collect();
    }
    let mut entries: Vec<LsoEntry> = got.into_iter().flatten().collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    entries.truncate(q.page_size);
    Ok(entries)
}

/// How many entries a proxy first asks each of `targets` for, toward a page of `page_size`:
/// an even share and half again, plus 32 (a whole page from a lone target, or when that is
/// no fewer).
fn target_quota(page_size: usize, targets: usize) -> usize {
    if targets <= 1 {
        return page_size;
    }
    page_size.min(page_size.saturating_mul(3) / (2 * targets) + 32)
}

/// The targets a proxy must ask for more (after the last name each sent), given what each
/// sent so far (`got`, sorted per target) and whether its last answer filled the quota
/// (`full`; if not, it has nothing more): every full target whose last name sorts before the
/// end of the page the names so far make, or any full target while they make less than a
/// page.
fn ask_again(page_size: usize, got: &[Vec<LsoEntry>], full: &[bool]) -> Vec<usize> {
    let mut names: Vec<&str> = got.iter().flatten().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let end = names.get(page_size.saturating_sub(1)).copied();
    (0..got.len())
        .filter(|&i| full[i])
        .filter(|&i| match (end, got[i].last()) {
            (Some(end), Some(last)) => last.name.as_str() < end,
            _ => true,
        })
        .collect()
}

/// One multipart upload in progress (S3 ListMultipartUploads), as targets report it to a proxy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadInfo {
    pub object: String,
    pub id: String,
    pub created_ns: i64,
}

/// `GET /v1/daemon?what=mpt_uploads&bck=<bucket>`: a target's uploads in progress (intra-cluster).
pub const WHAT_MPT_UPLOADS: &str = "mpt_uploads";

/// Every multipart upload in progress in `bucket`, sorted by (object, id): this target's, or
/// every active target's (a proxy; an upload lives on its object's owner).
pub async fn uploads(node: &Arc<Node>, smap: &Smap, bucket: &str) -> Result<Vec<UploadInfo>> {
    let mut all =
        if node.cfg.role == Role::Proxy {
            gather_uploads(smap, bucket).await?
        } else {
            let n2 = node.clone();
            let b = bucket.to_string();
            glommio::executor()
                .spawn_blocking(move || {
                    let bck = Bck::ais(&b);
                    let mut v = Vec::new();
                    for m in n2.mountpaths.load().with_data() {
                        v.extend(engine::multipart::list(&m, &bck)?.into_iter().map(|u| {
                            UploadInfo {
                                object: u.object,
                                id: u.id,
                                created_ns: u.created_ns,
                            }
                        }));
                    }
                    Ok::<_, engine::Error>(v)
                })
                .await
                .map_err(|e| Error::Internal(format!("listing uploads of {bucket}: {e}")))?
        };
    all.sort_by(|a, b| (&a.object, &a.id).cmp(&(&b.object, &b.id)));
    all.dedup_by(|a, b| a.object == b.object && a.id == b.id);
    Ok(all)
}

async fn gather_uploads(smap: &Smap, bucket: &str) -> Result<Vec<UploadInfo>> {
    let mut tasks = Vec::new();
    for t in smap.active_targets() {
        let url = format!(
            "{}/v1/daemon?what={WHAT_MPT_UPLOADS}&bck={}",
            t.intra_control_net.direct_url,
            net::http::percent_encode_path(bucket)
        );
        let id = t.daemon_id.clone();
        tasks.push(glommio::spawn_local(async move {
            (id, intra::call("GET", &url, &[], b"").await)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let (id, r) = t.await;
        let r = r.map_err(|e| {
            Error::Unavailable(format!("listing uploads of {bucket} on target {id}: {e}"))
        })?;
        if r.status != 200 {
            return Err(Error::Peer {
                status: r.status,
                message: format!(
                    "listing uploads of {bucket} on target {id}: {}",
                    String::from_utf8_lossy(&r.body)
                ),
            });
        }
        let v: Vec<UploadInfo> = serde_json::from_slice(&r.body)
            .map_err(|e| Error::Internal(format!("target {id} sent a bad uploads list: {e}")))?;
        out.extend(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::mountpath::Mountpath;

    fn names(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.name().to_string()).collect()
    }

    /// Two mountpaths holding `names` (alternating), as one target sees them.
    fn two_mountpaths(t: &std::path::Path, b: &Bck, objs: &[&str]) -> Vec<Arc<Mountpath>> {
        let mps: Vec<Arc<Mountpath>> = ["mp1", "mp2"]
            .iter()
            .map(|d| {
                let p = t.join(d);
                std::fs::create_dir_all(&p).unwrap();
                let m = Mountpath::init(&p).unwrap();
                m.create_bucket(b).unwrap();
                Arc::new(m)
            })
            .collect();
        for (i, n) in objs.iter().enumerate() {
            let p = b.fqn(&mps[i % 2].path, n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, n.as_bytes()).unwrap();
        }
        mps
    }

    fn q(prefix: &str, after: &str, page_size: usize) -> ListQuery {
        ListQuery {
            prefix: prefix.into(),
            after: after.into(),
            page_size,
            ..ListQuery::default()
        }
    }

    #[test]
    fn a_proxy_asks_each_target_for_its_share_then_more_only_where_the_page_needs_it() {
        assert_eq!(target_quota(1000, 1), 1000);
        assert_eq!(target_quota(1000, 3), 532);
        assert_eq!(target_quota(1000, 16), 125);
        assert_eq!(target_quota(10, 3), 10);
        let e = |names: &[&str]| -> Vec<LsoEntry> {
            names
                .iter()
                .map(|n| LsoEntry {
                    name: n.to_string(),
                    ..LsoEntry::default()
                })
                .collect()
        };
        // Page of 4 from three targets asked for 2 each: a, b | c, d | e (short: done).
        let got = [e(&["a", "b"]), e(&["c", "d"]), e(&["e"])];
        // Names so far a..e: the page ends at d; the first target (full, last b < d) may
        // hold names between b and d; the second's last is the end itself.
        assert_eq!(ask_again(4, &got, &[true, true, false]), vec![0]);
        // Fewer names than a page so far: every full target.
        assert_eq!(ask_again(9, &got, &[true, true, false]), vec![0, 1]);
        // Nobody full: the page is what there is.
        assert!(ask_again(9, &got, &[false, false, false]).is_empty());
        // A name on two targets (mid-rebalance) counts once.
        let got = [e(&["a", "b"]), e(&["b", "c"])];
        assert_eq!(ask_again(3, &got, &[true, true]), vec![0]);
    }

    #[test]
    fn dir_below_is_one_level_under_the_prefix() {
        assert_eq!(dir_below("", "a/b/c"), Some("a/".into()));
        assert_eq!(dir_below("a/", "a/b/c"), Some("a/b/".into()));
        assert_eq!(dir_below("a/", "a/b"), None);
        assert_eq!(dir_below("a", "ab/c"), Some("ab/".into()));
        assert_eq!(dir_below("x/", "a/b"), None);
    }

    #[test]
    fn one_level_lists_objects_and_virtual_dirs_in_pages() {
        let t = tempfile::tempdir().unwrap();
        let b = Bck::ais("b");
        let objs = [
            "top", "a/1", "a/2", "a/x/1", "a/x/y/2", "a/y/1", "a0", "b/c/d", "b/e", "z",
        ];
        let mps = two_mountpaths(t.path(), &b, &objs);
        let all = one_level(&mps, &b, &q("", "", 100), false, false).unwrap();
        assert_eq!(names(&all), ["a/", "a0", "b/", "top", "z"]);
        let dirs_only_once = one_level(&mps, &b, &q("a/", "", 100), false, false).unwrap();
        assert_eq!(names(&dirs_only_once), ["a/1", "a/2", "a/x/", "a/y/"]);
        let no_dirs = one_level(&mps, &b, &q("a/", "", 100), false, true).unwrap();
        assert_eq!(names(&no_dirs), ["a/1", "a/2"]);
        // Paging by 2 with the last name as the token: every entry exactly once.
        let mut got = Vec::new();
        let mut after = String::new();
        loop {
            let page = names(&one_level(&mps, &b, &q("", &after, 2), false, false).unwrap());
            if page.is_empty() {
                break;
            }
            after = page.last().unwrap().clone();
            let full = page.len() == 2;
            got.extend(page);
            if !full {
                break;
            }
        }
        assert_eq!(got, ["a/", "a0", "b/", "top", "z"]);
        // Every page size, under two prefixes: a directory met mid-batch is skipped and the
        // batch goes on past it.
        for (prefix, want) in [
            ("", vec!["a/", "a0", "b/", "top", "z"]),
            ("a/", vec!["a/1", "a/2", "a/x/", "a/y/"]),
        ] {
            for size in 1..=6 {
                let (mut got, mut after) = (Vec::new(), String::new());
                loop {
                    let page = names(
                        &one_level(&mps, &b, &q(prefix, &after, size), false, false).unwrap(),
                    );
                    assert!(page.len() <= size);
                    let Some(last) = page.last() else { break };
                    after.clone_from(last);
                    got.extend(page);
                }
                assert_eq!(got, want, "prefix {prefix:?} page {size}");
            }
        }
        // A name on both mountpaths (as while resilver copies it) is listed once.
        std::fs::write(b.fqn(&mps[1].path, "a0"), b"second").unwrap();
        std::fs::write(b.fqn(&mps[0].path, "top"), b"second").unwrap();
        let all = one_level(&mps, &b, &q("", "", 100), false, false).unwrap();
        assert_eq!(names(&all), ["a/", "a0", "b/", "top", "z"]);
        // A partial last path element: S3-delimiter semantics.
        let partial = one_level(&mps, &b, &q("a/x", "", 100), false, false).unwrap();
        assert_eq!(names(&partial), ["a/x/"]);
    }

    #[test]
    fn arch_dir_pages_list_every_shard_file_once_in_name_order() {
        let t = tempfile::tempdir().unwrap();
        let b = Bck::ais("b");
        let objs = ["a", "s.tar", "s.tar.idx", "s.tar0", "t.tar", "z"];
        let mps = two_mountpaths(t.path(), &b, &objs);
        // Real shards in place of the placeholder bytes.
        let shard = |files: &[&str]| {
            let mut v = Vec::new();
            for f in files {
                engine::tarball::append(&mut v, f, f.as_bytes(), 1).unwrap();
            }
            engine::tarball::finish(&mut v).unwrap();
            v
        };
        std::fs::write(
            b.fqn(&mps[1].path, "s.tar"),
            shard(&["2.cls", "1.jpg", "1.cls"]),
        )
        .unwrap();
        std::fs::write(b.fqn(&mps[0].path, "t.tar"), b"not a tar at all").unwrap();
        let want = [
            "a",
            "s.tar",
            "s.tar.idx",
            "s.tar/1.cls",
            "s.tar/1.jpg",
            "s.tar/2.cls",
            "s.tar0",
            "t.tar",
            "z",
        ];
        let all = with_shard_files(&mps, &b, &q("", "", 100), false).unwrap();
        assert_eq!(names(&all), want);
        assert!(matches!(all[1], Item::Shard(..)));
        assert!(
            matches!(all[7], Item::Object(..)),
            "unreadable shard listed as an object"
        );
        assert!(matches!(all[3], Item::InArch(_, 5)));
        for size in 1..=4 {
            let mut got = Vec::new();
            let mut after = String::new();
            loop {
                let page = names(&with_shard_files(&mps, &b, &q("", &after, size), false).unwrap());
                if page.is_empty() {
                    break;
                }
                after = page.last().unwrap().clone();
                let full = page.len() == size;
                got.extend(page);
                if !full {
                    break;
                }
            }
            assert_eq!(got, want, "page size {size}");
        }
        let prefixed = with_shard_files(&mps, &b, &q("s.tar", "", 100), false).unwrap();
        assert_eq!(
            names(&prefixed),
            [
                "s.tar",
                "s.tar.idx",
                "s.tar/1.cls",
                "s.tar/1.jpg",
                "s.tar/2.cls",
                "s.tar0"
            ]
        );
        assert_eq!(shards_before("s.tar/1.cls"), ["s.tar"]);
        assert_eq!(shards_before("s.tar.idx"), ["s.tar"]);
        assert_eq!(shards_before("d/x.tar.gz/y/z"), ["d/x.tar", "d/x.tar.gz"]);
        assert!(shards_before("plain").is_empty());
    }
}
