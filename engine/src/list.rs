//! Listing a bucket's objects on one mountpath in name order, with prefix and an exclusive
//! start name, stopping after `limit` entries. Blocking (readdir); callers run it off the
//! reactor. Directories are walked in the order of `name + "/"`, which is exactly the byte
//! order of the full object names they contain, so the walk can stop early. A large directory
//! unchanged for a while is read once and its sorted names kept between pages
//! ([`crate::dircache`]): a page then finds its start by binary search.

use crate::dircache::{DirCache, Sorted, DIRS};
use crate::error::Error;
use crate::layout::{needs_escape, unescape_rel, Bck, CT_ESCAPED, CT_OBJECT};
use crate::lom::Lom;
use crate::mountpath::Mountpath;
use crate::Result;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ListEntry {
    pub name: String,
    pub size: u64,
    /// Present when metadata was requested and readable.
    pub lom: Option<Lom>,
}

/// Up to `limit` objects with names `> after` starting with `prefix`, in byte order.
pub fn list(
    mp: &Mountpath,
    bck: &Bck,
    prefix: &str,
    after: &str,
    limit: usize,
    with_md: bool,
) -> Result<Vec<ListEntry>> {
    list_in(mp, bck, Page::new(prefix, after, limit, &DIRS), with_md)
}

/// [`list`] for a job's walk that started at `since_ns` (Unix ns) and moves or removes what
/// it lists as it goes: a large directory is read about once per walk, not once per batch,
/// and a batch lists the names it held when read, less those whose files are gone since
/// (see [`DirCache::since`]). Objects added to a directory after the walk read it may be
/// missed, as they may be by any walk already past their names.
pub fn list_since(
    mp: &Mountpath,
    bck: &Bck,
    prefix: &str,
    after: &str,
    limit: usize,
    with_md: bool,
    since_ns: i64,
) -> Result<Vec<ListEntry>> {
    let page = Page {
        since_ns: Some(since_ns),
        ..Page::new(prefix, after, limit, &DIRS)
    };
    list_in(mp, bck, page, with_md)
}

/// The entries of `page`'s names.
fn list_in(mp: &Mountpath, bck: &Bck, page: Page, with_md: bool) -> Result<Vec<ListEntry>> {
    let found = |after: &str, want: usize| {
        let p = Page {
            after,
            limit: want,
            ..page
        };
        Ok(names_in(mp, bck, &p)?
            .into_iter()
            .map(|f| (f, ()))
            .collect())
    };
    Ok(fill(page.limit, page.after, with_md, found)?
        .into_iter()
        .map(|(e, ())| e)
        .collect())
}

/// A name a walk found and the file that holds it, not yet `stat`ed.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    pub path: PathBuf,
}

/// The first `limit` names `> after` starting with `prefix` on `mp`, in byte order, without
/// reading their files: a caller merging several mountpaths stats only the names it keeps
/// (see [`fill`]). With `collapse`, a directory below the prefix is one name, `dir/` (its
/// path the directory's), instead of the names inside it: the names a non-recursive listing
/// needs, found without walking subtrees. Escaped names are returned whole either way.
pub fn names(
    mp: &Mountpath,
    bck: &Bck,
    prefix: &str,
    after: &str,
    limit: usize,
    collapse: bool,
) -> Result<Vec<Found>> {
    let page = Page {
        collapse,
        ..Page::new(prefix, after, limit, &DIRS)
    };
    names_in(mp, bck, &page)
}

fn names_in(mp: &Mountpath, bck: &Bck, page: &Page) -> Result<Vec<Found>> {
    let root = bck.dir(&mp.path).join(CT_OBJECT);
    let mut out = Vec::new();
    if page.limit == 0 {
        return Ok(out);
    }
    match fs::metadata(&root) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("stat", &root, e)),
    }
    walk(&root, "", page, &mut out)?;
    if mp.has_escaped() {
        let esc = list_escaped(mp, bck, page.prefix, page.after, page.limit)?;
        if !esc.is_empty() {
            out.extend(esc);
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out.truncate(page.limit);
        }
    }
    Ok(out)
}

/// Up to `limit` listing entries named `> after`, from the names `found(start, want)` gives:
/// the first `want` names `> start` of each source it merges (any order; a name may come from
/// several sources, each tagged with a `T`: the first of them whose file is still there is
/// listed). Only the names listed are `stat`ed (and their metadata read when `with_md`); a
/// name whose file vanished since the readdir is replaced by asking for more.
pub fn fill<T: Clone>(
    limit: usize,
    after: &str,
    with_md: bool,
    mut found: impl FnMut(&str, usize) -> Result<Vec<(Found, T)>>,
) -> Result<Vec<(ListEntry, T)>> {
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    while out.len() < limit {
        let want = limit - out.len();
        let names = group(found(&cursor, want)?);
        for copies in names.iter().take(want) {
            cursor.clone_from(&copies[0].0.name);
            out.extend(first_present(copies, with_md));
        }
        if names.len() < want {
            break; // every source ran out
        }
    }
    Ok(out)
}

/// Names gathered from several sources, sorted, each with its copies in the order gathered.
pub fn group<T>(mut found: Vec<(Found, T)>) -> Vec<Vec<(Found, T)>> {
    found.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let mut out: Vec<Vec<(Found, T)>> = Vec::new();
    for f in found {
        match out.last_mut() {
            Some(g) if g[0].0.name == f.0.name => g.push(f),
            _ => out.push(vec![f]),
        }
    }
    out
}

/// The listing entry of the first of `copies` (one name's) whose file is still there.
pub fn first_present<T: Clone>(copies: &[(Found, T)], with_md: bool) -> Option<(ListEntry, T)> {
    copies
        .iter()
        .find_map(|(f, t)| Some((entry(&f.name, &f.path, with_md)?, t.clone())))
}

/// The objects stored at escaped paths (`%ox`, see [`crate::layout::escaped_rel`]) with
/// names `> after` starting with `prefix`, the first `limit` in byte order. The escaped
/// directory is read whole (its names are not in object-name order): it holds only the names
/// a plain path cannot (trailing `/` folder markers, `//`, dot segments, `p` beside `p/x`).
fn list_escaped(
    mp: &Mountpath,
    bck: &Bck,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();
    walk_escaped(
        &bck.dir(&mp.path).join(CT_ESCAPED),
        &mut Vec::new(),
        &mut |name, path| {
            if name.starts_with(prefix) && name.as_str() > after {
                // A plain-path name at its escaped path is a conflict fallback; if its plain path
                // holds the object (a crash between the two steps of a later PUT), that one is it.
                if needs_escape(&name) || !is_file(&bck.plain_fqn(&mp.path, &name)) {
                    found.push(Found { name, path });
                }
            }
        },
    )?;
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.truncate(limit);
    Ok(found)
}

pub(crate) fn walk_escaped(
    dir: &Path,
    dirs: &mut Vec<String>,
    f: &mut dyn FnMut(String, std::path::PathBuf),
) -> Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("readdir", dir, e)),
    };
    for e in rd {
        let e = e.map_err(|e| Error::io("readdir", dir, e))?;
        let Ok(fname) = e.file_name().into_string() else {
            continue;
        };
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            dirs.push(fname);
            walk_escaped(&e.path(), dirs, f)?;
            dirs.pop();
        } else {
            let d: Vec<&str> = dirs.iter().map(String::as_str).collect();
            if let Some(name) = unescape_rel(&d, &fname) {
                f(name, e.path());
            }
        }
    }
    Ok(())
}

fn is_file(p: &Path) -> bool {
    fs::symlink_metadata(p)
        .map(|m| m.is_file())
        .unwrap_or(false)
}

/// A listing entry for the object file at `path`; `None` if it went away meanwhile.
fn entry(name: &str, path: &Path, with_md: bool) -> Option<ListEntry> {
    let (size, lom) = if with_md {
        match crate::object::read_lom_path(path) {
            Ok(l) => (l.size, Some(l)),
            Err(Error::NotFound(_)) => return None,
            Err(_) => (fs::metadata(path).map(|m| m.len()).unwrap_or(0), None),
        }
    } else {
        (fs::metadata(path).ok()?.len(), None)
    };
    Some(ListEntry {
        name: name.to_string(),
        size,
        lom,
    })
}

/// What one page asks for (see [`names`]), and where large directories' names are kept.
#[derive(Clone, Copy)]
struct Page<'a> {
    prefix: &'a str,
    after: &'a str,
    limit: usize,
    collapse: bool,
    dirs: &'a DirCache,
    /// A job's walk started then (Unix ns): see [`DirCache::since`].
    since_ns: Option<i64>,
}

impl<'a> Page<'a> {
    fn new(prefix: &'a str, after: &'a str, limit: usize, dirs: &'a DirCache) -> Page<'a> {
        Page {
            prefix,
            after,
            limit,
            collapse: false,
            dirs,
            since_ns: None,
        }
    }
}

/// Sets `full` to the entry's name below the bucket (`rel/name`, with `/` appended for a
/// directory) and says whether the page can list it: a file named `> after` under `prefix`,
/// or a directory that can hold such names.
fn keeps(full: &mut String, rel: &str, name: &str, is_dir: bool, page: &Page) -> bool {
    let (prefix, after) = (page.prefix, page.after);
    full.clear();
    if !rel.is_empty() {
        full.push_str(rel);
        full.push('/');
    }
    full.push_str(name);
    if is_dir {
        full.push('/');
        let d = full.as_str();
        // The dir can contain matching names, and names after `after`: every name
        // inside is <= after when d < after and is not its prefix.
        (d.starts_with(prefix) || prefix.starts_with(d))
            && (after.is_empty() || d >= after || after.starts_with(d))
    } else {
        full.starts_with(prefix) && full.as_str() > after
    }
}

fn walk(dir: &Path, rel: &str, page: &Page, out: &mut Vec<Found>) -> Result<bool> {
    let names = match page.since_ns {
        Some(since) => page.dirs.since(dir, since),
        None => page.dirs.sorted(dir),
    };
    match names {
        Ok(Some(names)) => return walk_cached(&names, dir, rel, page, out),
        Ok(None) => {}
        Err(e) => return Err(Error::io("readdir", dir, e)),
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        // A directory removed by a concurrent DELETE simply has nothing left to list.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("readdir", dir, e)),
    };
    let mut ents: Vec<(String, bool)> = Vec::new();
    // Only what can be listed is kept. A page deep into a large flat directory then sorts
    // only the names after its start, not the whole directory.
    let mut full = String::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("readdir", dir, e))?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if keeps(&mut full, rel, &name, is_dir, page) {
            ents.push((name, is_dir));
        }
    }
    // Walk order: the first `need` entries sorted (each yields at least one name unless it is
    // an empty or vanished directory), then the rest only if those did not fill the page.
    let need = page.limit.saturating_sub(out.len());
    if ents.len() > need {
        ents.select_nth_unstable_by(need, walk_order);
    }
    let at = need.min(ents.len());
    let (head, tail) = ents.split_at_mut(at);
    for part in [head, tail] {
        part.sort_unstable_by(walk_order);
        for (name, is_dir) in part.iter() {
            keeps(&mut full, rel, name, *is_dir, page);
            if visit(dir, name, *is_dir, &full, page, out)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// [`walk`] over a directory's cached names (in walk order): the page's start and prefix are
/// found by binary search, so a page costs what it lists, not the directory's size.
fn walk_cached(
    names: &Sorted,
    dir: &Path,
    rel: &str,
    page: &Page,
    out: &mut Vec<Found>,
) -> Result<bool> {
    let base = if rel.is_empty() {
        String::new()
    } else {
        format!("{rel}/")
    };
    // The first name at or after `bound` (a name as seen from inside `dir`), or the directory
    // just before it whose names `bound` falls among.
    let from = |bound: &str| {
        let i = names.partition_point(|n, d| order(n, d, bound, false).is_lt());
        match i.checked_sub(1).map(|j| names.get(j)) {
            Some((n, true))
                if bound.len() > n.len()
                    && bound.starts_with(n)
                    && bound.as_bytes()[n.len()] == b'/' =>
            {
                i - 1
            }
            _ => i,
        }
    };
    let mut start = 0;
    match page.after.strip_prefix(base.as_str()) {
        Some(a) => start = from(a),
        // `after` sorts past every name in here.
        None if page.after > base.as_str() => return Ok(false),
        None => {}
    }
    match page.prefix.strip_prefix(base.as_str()) {
        Some(p) => start = start.max(from(p)),
        None if !base.starts_with(page.prefix) => return Ok(false),
        None => {}
    }
    let mut full = String::new();
    for i in start..names.len() {
        let (name, is_dir) = names.get(i);
        if !keeps(&mut full, rel, name, is_dir, page) {
            if full.as_str() > page.prefix && !full.starts_with(page.prefix) {
                break; // past the names under the prefix
            }
            continue;
        }
        if visit(dir, name, is_dir, &full, page, out)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Lists one kept entry of `dir`: a directory's names (recursively) or a file. `full` is as
/// [`keeps`] left it. True once `out` holds the page.
fn visit(
    dir: &Path,
    name: &str,
    is_dir: bool,
    full: &str,
    page: &Page,
    out: &mut Vec<Found>,
) -> Result<bool> {
    if is_dir {
        if page.collapse && full.len() > page.prefix.len() && full.starts_with(page.prefix) {
            // A directory below the prefix: one name, `dir/`, unless the page starts past it.
            if full > page.after {
                out.push(Found {
                    name: full.to_string(),
                    path: dir.join(name),
                });
            }
            return Ok(out.len() >= page.limit);
        }
        return walk(&dir.join(name), &full[..full.len() - 1], page, out);
    }
    out.push(Found {
        name: full.to_string(),
        path: dir.join(name),
    });
    Ok(out.len() >= page.limit)
}

/// The order a directory's entries are walked in: by `name`, with `/` appended to a
/// directory's (the byte order of the full object names below it). No allocation.
pub(crate) fn walk_order(a: &(String, bool), b: &(String, bool)) -> std::cmp::Ordering {
    order(&a.0, a.1, &b.0, b.1)
}

/// Compares `x` and `y`, each with `/` appended when its flag is set.
fn order(x: &str, x_dir: bool, y: &str, y_dir: bool) -> std::cmp::Ordering {
    let (x, y) = (x.as_bytes(), y.as_bytes());
    let n = x.len().min(y.len());
    x[..n].cmp(&y[..n]).then_with(|| {
        let slash = |d: bool| if d { &b"/"[..] } else { &b""[..] };
        x[n..]
            .iter()
            .chain(slash(x_dir))
            .cmp(y[n..].iter().chain(slash(y_dir)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dircache::SETTLE;
    use std::time::Duration;

    /// A mountpath at `dir` with bucket `b` holding `names`.
    fn filled(dir: &Path, names: &[String]) -> (Mountpath, Bck) {
        let mp = Mountpath::init(dir).unwrap();
        let b = Bck::ais("b");
        mp.create_bucket(&b).unwrap();
        mk(
            &mp,
            &b,
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        (mp, b)
    }

    fn mk(mp: &Mountpath, b: &Bck, names: &[&str]) {
        for n in names {
            let p = b.fqn(&mp.path, n);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, n.as_bytes()).unwrap();
        }
    }

    #[test]
    fn lists_in_byte_order_across_dirs_with_paging_and_prefix() {
        let t = tempfile::tempdir().unwrap();
        let mut names = vec!["a-c", "a/b", "a/c/d", "a0", "b", "a/b0", "ab", "z/y/x"];
        let (mp, b) = filled(
            t.path(),
            &names.iter().map(ToString::to_string).collect::<Vec<_>>(),
        );
        names.sort();
        let all: Vec<String> = list(&mp, &b, "", "", 100, false)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(all, names);
        // Paging by 3 with the last name as token returns each exactly once.
        let mut got = Vec::new();
        let mut after = String::new();
        loop {
            let page = list(&mp, &b, "", &after, 3, false).unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().unwrap().name.clone();
            got.extend(page.into_iter().map(|e| e.name));
        }
        assert_eq!(got, names);
        let pre: Vec<String> = list(&mp, &b, "a/", "", 100, false)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(pre, vec!["a/b", "a/b0", "a/c/d"]);
        let pre2: Vec<String> = list(&mp, &b, "a/c", "", 100, false)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(pre2, vec!["a/c/d"]);
    }

    #[test]
    fn pages_of_every_size_match_the_sorted_names_for_any_prefix_and_start() {
        // Names whose directory and file forms interleave in byte order ('-' < '.' < '/' <
        // '0'), several levels deep, and a flat run large enough that pages start mid-dir.
        let t = tempfile::tempdir().unwrap();
        let mut names: Vec<String> = [
            "a-b", "a.b", "a/x-", "a/x/y", "a/x0", "a0/z", "a00", "b", "ba", "c/d/e/f", "c/d-",
            "c/d0", "c/d/e0",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let dir = ["", "m/", "m/n/", "m-"][(x % 4) as usize];
            names.push(format!("{dir}{:x}{i}", x % 4096));
        }
        let (mp, b) = filled(t.path(), &names);
        names.sort();
        names.dedup();
        // Read per page (never settled), and from cached sorted names (every directory).
        let never = DirCache::new(Some(Duration::from_secs(u64::MAX / 4)), 0, 1 << 30);
        let always = DirCache::new(Some(Duration::ZERO), 0, 1 << 30);
        for (dirs, cached) in [(&never, false), (&always, true)] {
            for prefix in ["", "a", "a/", "m", "m/n", "m-", "c/d", "zz"] {
                let want: Vec<&String> = names.iter().filter(|n| n.starts_with(prefix)).collect();
                for page in [1usize, 2, 3, 7, 64, 1000] {
                    let mut got = Vec::new();
                    let mut after = String::new();
                    loop {
                        let p =
                            list_in(&mp, &b, Page::new(prefix, &after, page, dirs), false).unwrap();
                        assert!(p.len() <= page);
                        let Some(last) = p.last() else { break };
                        after = last.name.clone();
                        got.extend(p.into_iter().map(|e| e.name));
                    }
                    assert_eq!(
                        got.iter().collect::<Vec<_>>(),
                        want,
                        "prefix {prefix:?} page {page} cached {cached}"
                    );
                }
                // Collapsed: the names directly under the prefix and one `dir/` per directory
                // below it, as a non-recursive listing pages through them.
                let mut want_c: Vec<String> = want
                    .iter()
                    .map(|n| match n[prefix.len()..].find('/') {
                        Some(i) => n[..prefix.len() + i + 1].to_string(),
                        None => (*n).clone(),
                    })
                    .collect();
                want_c.dedup();
                for size in [1usize, 3, 1000] {
                    let (mut got, mut after) = (Vec::new(), String::new());
                    loop {
                        let page = Page {
                            collapse: true,
                            ..Page::new(prefix, &after, size, dirs)
                        };
                        let p = names_in(&mp, &b, &page).unwrap();
                        assert!(p.len() <= size);
                        let Some(last) = p.last() else { break };
                        after = last.name.clone();
                        got.extend(p.into_iter().map(|f| f.name));
                    }
                    assert_eq!(
                        got, want_c,
                        "collapsed: prefix {prefix:?} page {size} cached {cached}"
                    );
                }
                // A start name that is not itself an object.
                for after in ["a-", "a/x.", "m/", "m/n/8", "c/d/e"] {
                    let want2: Vec<&String> = want
                        .iter()
                        .copied()
                        .filter(|n| n.as_str() > after)
                        .collect();
                    let got2: Vec<String> =
                        list_in(&mp, &b, Page::new(prefix, after, 10_000, dirs), false)
                            .unwrap()
                            .into_iter()
                            .map(|e| e.name)
                            .collect();
                    assert_eq!(
                        got2.iter().collect::<Vec<_>>(),
                        want2,
                        "prefix {prefix:?} after {after:?} cached {cached}"
                    );
                }
            }
        }
        assert_eq!(never.held().0, 0);
        assert!(always.held().0 >= 5, "{:?}", always.held());
    }

    #[test]
    fn a_cached_directory_changed_between_pages_lists_its_new_state() {
        let t = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..600).map(|i| format!("o{i:04}")).collect();
        let (mp, b) = filled(t.path(), &names);
        let dirs = DirCache::new(Some(SETTLE), 512, 1 << 30);
        let page = |after: &str| -> Vec<String> {
            list_in(&mp, &b, Page::new("", after, 100, &dirs), false)
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect()
        };
        // Written just now: read per page, not kept.
        assert_eq!(page(""), names[..100]);
        assert_eq!(dirs.held().0, 0);
        std::thread::sleep(SETTLE + Duration::from_millis(100));
        assert_eq!(page(""), names[..100]);
        assert_eq!(dirs.held().0, 1, "a settled directory of 600 names is kept");
        assert_eq!(page("o0099"), names[100..200]);
        // One name removed, one added, one replaced by a larger file, in the kept directory.
        fs::remove_file(b.fqn(&mp.path, "o0250")).unwrap();
        fs::write(b.fqn(&mp.path, "o0250x"), b"new").unwrap();
        fs::write(b.fqn(&mp.path, "o0260"), vec![7u8; 5000]).unwrap();
        let p = list_in(&mp, &b, Page::new("", "o0199", 100, &dirs), false).unwrap();
        let got: Vec<&str> = p.iter().map(|e| e.name.as_str()).collect();
        let mut want: Vec<&str> = names[200..301].iter().map(String::as_str).collect();
        want.retain(|n| *n != "o0250");
        want.insert(50, "o0250x");
        assert_eq!(got[..100], want[..100]);
        assert_eq!(p.iter().find(|e| e.name == "o0260").unwrap().size, 5000);
        assert_eq!(
            dirs.held().0,
            0,
            "a changed directory is dropped until it settles"
        );
    }

    #[test]
    fn fill_stats_only_merged_names_and_replaces_vanished_ones() {
        // Two sources as two mountpaths' readdirs: names found whose files are then gone
        // (n05, n06 on the first), and a name on both whose first copy is gone (n05).
        let t = tempfile::tempdir().unwrap();
        let src: Vec<Vec<Found>> = [(0..20, "a"), (20..30, "b")]
            .into_iter()
            .map(|(r, d)| {
                fs::create_dir(t.path().join(d)).unwrap();
                let mut v: Vec<Found> = r
                    .map(|i| {
                        let name = format!("n{i:02}");
                        let path = t.path().join(d).join(&name);
                        fs::write(&path, vec![0u8; i]).unwrap();
                        Found { name, path }
                    })
                    .collect();
                if d == "b" {
                    let path = t.path().join("b/n05");
                    fs::write(&path, b"b").unwrap();
                    v.insert(
                        0,
                        Found {
                            name: "n05".into(),
                            path,
                        },
                    );
                }
                v
            })
            .collect();
        fs::remove_file(t.path().join("a/n05")).unwrap();
        fs::remove_file(t.path().join("a/n06")).unwrap();
        let asked = std::cell::Cell::new(0);
        let found = |after: &str, want: usize| {
            let mut all = Vec::new();
            for (i, s) in src.iter().enumerate() {
                asked.set(asked.get() + 1);
                let part = s.iter().filter(|f| f.name.as_str() > after).take(want);
                all.extend(part.cloned().map(|f| (f, i)));
            }
            Ok(all)
        };
        let page = fill(8, "", false, found).unwrap();
        let got: Vec<(&str, u64, usize)> = page
            .iter()
            .map(|(e, i)| (e.name.as_str(), e.size, *i))
            .collect();
        let want = [
            ("n00", 0, 0),
            ("n01", 1, 0),
            ("n02", 2, 0),
            ("n03", 3, 0),
            ("n04", 4, 0),
            ("n05", 1, 1),
            ("n07", 7, 0),
            ("n08", 8, 0),
        ];
        assert_eq!(got, want);
        assert_eq!(asked.get(), 4, "one more round for the vanished n06");
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let p = fill(3, &after, false, found).unwrap();
            assert!(p.len() <= 3);
            let Some(last) = p.last() else { break };
            after = last.0.name.clone();
            all.extend(p.into_iter().map(|(e, _)| e.name));
        }
        let mut names: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
        names.retain(|n| n != "n06");
        assert_eq!(all, names);
    }

    #[test]
    fn a_walk_that_removes_what_it_lists_lists_every_name_once() {
        // As rebalance does: list a batch, move its objects away, list the next.
        let t = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..2000).map(|i| format!("o{i:05}")).collect();
        let (mp, b) = filled(t.path(), &names);
        let since = crate::opencache::now_ns();
        let (mut got, mut after) = (Vec::new(), String::new());
        loop {
            let batch = list_since(&mp, &b, "", &after, 300, false, since).unwrap();
            let Some(last) = batch.last() else { break };
            after = last.name.clone();
            for e in batch {
                fs::remove_file(b.fqn(&mp.path, &e.name)).unwrap();
                got.push(e.name);
            }
        }
        assert_eq!(got, names);
    }

    #[test]
    fn missing_bucket_dir_lists_nothing() {
        let t = tempfile::tempdir().unwrap();
        let mp = Mountpath::init(t.path()).unwrap();
        assert!(list(&mp, &Bck::ais("nope"), "", "", 10, false)
            .unwrap()
            .is_empty());
    }
}
