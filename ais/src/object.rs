//! Object commands: `ais object put` (files, several files, directories with `--recursive`,
//! stdin), `ais object get` (one object to a file or stdout, or every object under `--prefix`
//! into a directory), `ais object rm`, `ais object cat`.
//!
//! Multi-object transfers run `--num-workers` tasks on the CLI's one executor, each with its
//! own client session (keep-alive connections to the proxy and the targets), taking work from
//! one queue; a progress bar counts bytes and objects, and a summary line reports objects,
//! bytes, time and errors. Every failed object is reported on stderr and makes the exit
//! status 1; a node that cannot be reached stops the whole transfer at once.
//!
//! # Invariants
//!
//! * A GET writes a local file only after a successful response head: an error status never
//!   leaves a file behind, and a transfer that breaks mid-body removes its partial file.
//! * Object names from a listing never escape the destination directory: absolute names and
//!   `..` components are refused per object.
//!
//! # What this module does not do
//!
//! * Local files use blocking `std::fs` calls on the executor thread. The executor serves only
//!   this process's own transfers, so a blocking page-cache read or write delays nothing
//!   but our own requests; glommio's DMA files would need aligned buffers for no gain here.
//! * A PUT body is read into memory first (see `api.rs`).

use crate::api::{Api, OBJECT_TIMEOUT_MS};
use crate::args::{parse_object, parse_uri, Bck};
use crate::bucket::list_all;
use crate::cli::{GetArgs, PutArgs};
use crate::error::{Error, Result};
use crate::format::{duration, emit, emit_bytes, size};
use crate::progress::Progress;
use net::client::{BodySink, ResponseHead};
use net::http::percent_encode_path;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Files found under the directories of one PUT, at most.
pub const PUT_FILES_MAX: usize = 10_000_000;

/// `/v1/objects/<bucket>/<object>?provider=..`
pub fn object_target(b: &Bck, name: &str) -> String {
    format!(
        "/v1/objects/{}/{}?{}",
        percent_encode_path(&b.name),
        percent_encode_path(name),
        b.query()
    )
}

/// Work shared by the tasks of one multi-object transfer.
struct Pool<T> {
    queue: RefCell<VecDeque<T>>,
    /// Set when a node cannot be reached: the other tasks stop taking work.
    stop: Cell<bool>,
    fatal: RefCell<Option<Error>>,
    done_objects: Cell<u64>,
    done_bytes: Cell<u64>,
    failures: RefCell<Vec<(String, Error)>>,
}

impl<T> Pool<T> {
    fn new(items: Vec<T>) -> Pool<T> {
        Pool {
            queue: RefCell::new(items.into()),
            stop: Cell::new(false),
            fatal: RefCell::new(None),
            done_objects: Cell::new(0),
            done_bytes: Cell::new(0),
            failures: RefCell::new(Vec::new()),
        }
    }

    fn next(&self) -> Option<T> {
        if self.stop.get() {
            return None;
        }
        self.queue.borrow_mut().pop_front()
    }

    fn done(&self, bytes: u64) {
        self.done_objects.set(self.done_objects.get() + 1);
        self.done_bytes.set(self.done_bytes.get() + bytes);
    }

    fn fail(&self, name: String, e: Error) {
        if matches!(e, Error::Unreachable { .. }) {
            self.stop.set(true);
            self.fatal.borrow_mut().get_or_insert(e);
            return;
        }
        self.failures.borrow_mut().push((name, e));
    }
}

// ---------------------------------------------------------------------------------------------
// PUT
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Stdin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PutItem {
    src: Source,
    name: String,
    size: u64,
}

/// `a/b` + `c` = `a/b/c`; `a/` + `c` = `a/c`; `` + `c` = `c`.
fn join_name(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn file_name(p: &Path) -> Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::Usage(format!("{}: no usable file name", p.display())))
}

/// Every regular file under `dir` (symlinks to files followed, symlinked directories not, so
/// that a link cycle cannot loop), with its path relative to `dir` using `/`.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, String, u64)>) -> Result<()> {
    let mut stack: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(d.display().to_string(), e))?;
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(d.display().to_string(), e))?;
            let path = ent.path();
            let name = ent.file_name().into_string().map_err(|n| {
                Error::Usage(format!("{}: file name {n:?} is not UTF-8", d.display()))
            })?;
            let rel_name = join_name(&rel, &name);
            let lmeta = std::fs::symlink_metadata(&path)
                .map_err(|e| Error::io(path.display().to_string(), e))?;
            if lmeta.is_dir() {
                stack.push((path, rel_name));
                continue;
            }
            let meta =
                std::fs::metadata(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
            if meta.is_file() {
                out.push((path, rel_name, meta.len()));
                if out.len() > PUT_FILES_MAX {
                    return Err(Error::Usage(format!(
                        "more than PUT_FILES_MAX ({PUT_FILES_MAX}) files under {}",
                        dir.display()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// What `ais object put SRC... DST` uploads: (bucket, items sorted by object name).
fn plan_put(a: &PutArgs) -> Result<(Bck, Vec<PutItem>)> {
    let (dst, srcs) = a
        .args
        .split_last()
        .expect("clap requires two or more arguments");
    let u = parse_uri(dst)?;
    let dst_obj = u.object.clone().unwrap_or_default();
    // One file (or stdin) to `ais://b/name` takes that name; otherwise the destination's
    // object part is a virtual directory.
    let single_named = srcs.len() == 1
        && !dst_obj.is_empty()
        && !dst_obj.ends_with('/')
        && (srcs[0] == "-" || !Path::new(&srcs[0]).is_dir());
    let vdir = match &a.prefix {
        Some(p) => join_name(p, if single_named { "" } else { &dst_obj }),
        None if single_named => String::new(),
        None => dst_obj.clone(),
    };
    let mut items = Vec::new();
    for s in srcs {
        if s == "-" {
            if !single_named {
                return Err(Error::Usage(
                    "PUT from stdin ('-') needs one source and an object name: ais put - ais://b/name"
                        .to_owned(),
                ));
            }
            items.push(PutItem {
                src: Source::Stdin,
                name: join_name(&vdir, &dst_obj),
                size: 0,
            });
            continue;
        }
        let p = Path::new(s);
        let meta = std::fs::metadata(p).map_err(|e| Error::io(s.clone(), e))?;
        if meta.is_dir() {
            if !a.recursive {
                return Err(Error::Usage(format!(
                    "{s} is a directory: add --recursive (-r) to upload it"
                )));
            }
            let mut found = Vec::new();
            walk(p, &mut found)?;
            for (path, rel, len) in found {
                items.push(PutItem {
                    src: Source::File(path),
                    name: join_name(&vdir, &rel),
                    size: len,
                });
            }
        } else {
            let name = if single_named {
                join_name(&vdir, &dst_obj)
            } else {
                join_name(&vdir, &file_name(p)?)
            };
            items.push(PutItem {
                src: Source::File(p.to_path_buf()),
                name,
                size: meta.len(),
            });
        }
    }
    items.sort_by(|x, y| x.name.cmp(&y.name));
    if let Some(w) = items.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::Usage(format!(
            "two sources would both become object {:?}",
            w[0].name
        )));
    }
    Ok((u.bck, items))
}

async fn put_one(api: &mut Api, bck: &Bck, item: &PutItem, stdin_data: &[u8]) -> Result<u64> {
    let data;
    let body: &[u8] = match &item.src {
        Source::Stdin => stdin_data,
        Source::File(p) => {
            data = std::fs::read(p).map_err(|e| Error::io(p.display().to_string(), e))?;
            &data
        }
    };
    let bodies: [&[u8]; 1] = [body];
    api.exchange(
        "PUT",
        &object_target(bck, &item.name),
        &[("Content-Type", "application/octet-stream")],
        if body.is_empty() { &[] } else { &bodies },
        &mut net::client::Discard,
        Duration::from_millis(OBJECT_TIMEOUT_MS),
    )
    .await?;
    Ok(body.len() as u64)
}

/// `ais object put SRC... DST`
pub async fn put(api: &Api, a: &PutArgs) -> Result<()> {
    let (bck, items) = plan_put(a)?;
    if items.is_empty() {
        return Err(Error::Usage("nothing to upload: no files found".to_owned()));
    }
    let stdin_data = if items.iter().any(|i| i.src == Source::Stdin) {
        let mut b = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut b)
            .map_err(|e| Error::io("reading stdin", e))?;
        b
    } else {
        Vec::new()
    };
    let total_objects = items.len() as u64;
    let total_bytes: u64 = items.iter().map(|i| i.size).sum();
    let progress = Progress::bytes(total_bytes);
    let pool = Rc::new(Pool::new(items));
    let stdin_data = Rc::new(stdin_data);
    let started = Instant::now();
    let workers = a
        .num_workers
        .min(u32::try_from(total_objects).unwrap_or(u32::MAX));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (pool, progress, bck, stdin_data) = (
            pool.clone(),
            progress.clone(),
            bck.clone(),
            stdin_data.clone(),
        );
        let mut api = api.fork();
        tasks.push(glommio::spawn_local(async move {
            while let Some(item) = pool.next() {
                match put_one(&mut api, &bck, &item, &stdin_data).await {
                    Ok(n) => {
                        pool.done(n);
                        progress.bar.inc(n);
                        progress.bar.set_message(format!(
                            "{}/{total_objects} objects",
                            pool.done_objects.get()
                        ));
                    }
                    Err(e) => pool.fail(item.name.clone(), e),
                }
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    progress.finish();
    if let Some(e) = pool.fatal.borrow_mut().take() {
        return Err(e);
    }
    let failures = pool.failures.take();
    for (name, e) in &failures {
        eprintln!("ais: PUT {}: {e}", join_name(&bck.cname(), name));
    }
    emit(&format!(
        "PUT {} objects ({}) to {} in {}, errors: {}\n",
        pool.done_objects.get(),
        size(pool.done_bytes.get(), a.units),
        bck.cname(),
        duration(started.elapsed()),
        failures.len()
    ))?;
    outcome(failures.len(), total_objects)
}

// ---------------------------------------------------------------------------------------------
// GET
// ---------------------------------------------------------------------------------------------

/// Writes a successful response body to a file created when the head arrives.
struct FileSink {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    error: Option<std::io::Error>,
    bytes: u64,
    progress: Option<Progress>,
}

impl FileSink {
    fn new(path: PathBuf, progress: Option<Progress>) -> FileSink {
        FileSink {
            path,
            file: None,
            error: None,
            bytes: 0,
            progress,
        }
    }

    /// Flush and close; on any failure remove what was written.
    fn finish(mut self, transfer: Result<u16>) -> Result<u64> {
        let flushed = match self.file.take() {
            Some(mut f) => f
                .flush()
                .map_err(|e| Error::io(self.path.display().to_string(), e)),
            None => Ok(()),
        };
        let r = transfer.and_then(|_| match self.error.take() {
            Some(e) => Err(Error::io(self.path.display().to_string(), e)),
            None => flushed,
        });
        match r {
            Ok(()) => {
                if self.bytes == 0 && !self.path.exists() {
                    // An empty object: the head created no file only if it failed.
                    File::create(&self.path)
                        .map_err(|e| Error::io(self.path.display().to_string(), e))?;
                }
                Ok(self.bytes)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                Err(e)
            }
        }
    }
}

impl BodySink for FileSink {
    fn head(&mut self, _head: &ResponseHead) {
        match File::create(&self.path) {
            Ok(f) => self.file = Some(BufWriter::with_capacity(1 << 20, f)),
            Err(e) => self.error = Some(e),
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Some(f) = &mut self.file {
            if let Err(e) = f.write_all(bytes) {
                self.error = Some(e);
                return;
            }
        }
        self.bytes += bytes.len() as u64;
        if let Some(p) = &self.progress {
            p.bar.inc(bytes.len() as u64);
        }
    }
}

/// Writes a response body to stdout.
struct StdoutSink {
    error: Option<Error>,
}

impl BodySink for StdoutSink {
    fn data(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = emit_bytes(bytes) {
                self.error = Some(e);
            }
        }
    }
}

async fn get_to_stdout(api: &mut Api, bck: &Bck, name: &str) -> Result<()> {
    let mut sink = StdoutSink { error: None };
    api.exchange(
        "GET",
        &object_target(bck, name),
        &[],
        &[],
        &mut sink,
        Duration::from_millis(OBJECT_TIMEOUT_MS),
    )
    .await?;
    if let Some(e) = sink.error {
        return Err(e);
    }
    std::io::stdout()
        .flush()
        .map_err(|e| Error::io("writing to stdout", e))
}

async fn get_to_file(
    api: &mut Api,
    bck: &Bck,
    name: &str,
    path: PathBuf,
    progress: Option<Progress>,
) -> Result<u64> {
    let mut sink = FileSink::new(path, progress);
    let r = api
        .exchange(
            "GET",
            &object_target(bck, name),
            &[],
            &[],
            &mut sink,
            Duration::from_millis(OBJECT_TIMEOUT_MS),
        )
        .await;
    sink.finish(r)
}

/// The local path of object `name` under `dir`, refusing names that would leave it.
fn local_path(dir: &Path, name: &str) -> Result<PathBuf> {
    let bad = name.starts_with('/')
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(Error::Usage(format!(
            "object name {name:?} cannot be a path under {} (empty, '.' or '..' component)",
            dir.display()
        )));
    }
    Ok(dir.join(name))
}

/// `ais object get`
pub async fn get(api: &mut Api, a: &GetArgs) -> Result<()> {
    if a.prefix.is_some() {
        return get_many(api, a).await;
    }
    let (bck, name) = parse_object(&a.object).map_err(|_| {
        Error::Usage(format!(
            "{:?} names no object: give ais://BUCKET/OBJECT, or --prefix PREFIX (\"\" for all) to get many",
            a.object
        ))
    })?;
    let base = name.rsplit('/').next().unwrap_or(&name).to_owned();
    let dest = match a.dest.as_deref() {
        Some("-") => return get_to_stdout(api, &bck, &name).await,
        None => PathBuf::from(&base),
        Some(d) if Path::new(d).is_dir() => Path::new(d).join(&base),
        Some(d) => PathBuf::from(d),
    };
    let started = Instant::now();
    let n = get_to_file(api, &bck, &name, dest.clone(), None).await?;
    emit(&format!(
        "GET {} => {} ({}) in {}\n",
        crate::object::uri_of(&bck, &name),
        dest.display(),
        size(n, a.units),
        duration(started.elapsed())
    ))
}

pub fn uri_of(bck: &Bck, name: &str) -> String {
    format!("{}/{name}", bck.cname())
}

async fn get_many(api: &mut Api, a: &GetArgs) -> Result<()> {
    let u = parse_uri(&a.object)?;
    // `ais get ais://b/dir/ --prefix x` gets what starts with `dir/x`.
    let prefix = format!(
        "{}{}",
        u.object.as_deref().unwrap_or(""),
        a.prefix.as_deref().unwrap_or("")
    );
    let dir = PathBuf::from(a.dest.as_deref().unwrap_or("."));
    if a.dest.as_deref() == Some("-") {
        return Err(Error::Usage(
            "--prefix gets many objects: give a destination directory, not '-'".to_owned(),
        ));
    }
    let entries = list_all(api, &u.bck, &prefix, "name,size", 0, a.limit, 0).await?;
    let total_objects = entries.len() as u64;
    let total_bytes: u64 = entries
        .iter()
        .map(|e| u64::try_from(e.size).unwrap_or(0))
        .sum();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    let progress = Progress::bytes(total_bytes);
    let pool = Rc::new(Pool::new(entries.into_iter().map(|e| e.name).collect()));
    let started = Instant::now();
    let workers = a
        .num_workers
        .min(u32::try_from(total_objects).unwrap_or(u32::MAX));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (pool, progress, bck, dir) =
            (pool.clone(), progress.clone(), u.bck.clone(), dir.clone());
        let mut api = api.fork();
        tasks.push(glommio::spawn_local(async move {
            while let Some(name) = pool.next() {
                let r = async {
                    let path = local_path(&dir, &name)?;
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| Error::io(parent.display().to_string(), e))?;
                    }
                    get_to_file(&mut api, &bck, &name, path, Some(progress.clone())).await
                }
                .await;
                match r {
                    Ok(n) => {
                        pool.done(n);
                        progress.bar.set_message(format!(
                            "{}/{total_objects} objects",
                            pool.done_objects.get()
                        ));
                    }
                    Err(e) => pool.fail(name, e),
                }
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    progress.finish();
    if let Some(e) = pool.fatal.borrow_mut().take() {
        return Err(e);
    }
    let failures = pool.failures.take();
    for (name, e) in &failures {
        eprintln!("ais: GET {}: {e}", uri_of(&u.bck, name));
    }
    emit(&format!(
        "GET {} objects ({}) from {} to {} in {}, errors: {}\n",
        pool.done_objects.get(),
        size(pool.done_bytes.get(), a.units),
        u.bck.cname(),
        dir.display(),
        duration(started.elapsed()),
        failures.len()
    ))?;
    outcome(failures.len(), total_objects)
}

/// `ais object cat ais://b/o`
pub async fn cat(api: &mut Api, object: &str) -> Result<()> {
    let (bck, name) = parse_object(object)?;
    get_to_stdout(api, &bck, &name).await
}

/// `ais object rm ais://b/o...`: every object is tried; the exit status says if any failed.
pub async fn rm(api: &mut Api, objects: &[String]) -> Result<()> {
    let parsed = objects
        .iter()
        .map(|o| parse_object(o))
        .collect::<Result<Vec<_>>>()?;
    let mut failed = 0;
    for (bck, name) in &parsed {
        match api
            .call("DELETE", &object_target(bck, name), &[], b"")
            .await
        {
            Ok(_) => emit(&format!("deleted \"{}\"\n", uri_of(bck, name)))?,
            Err(e @ Error::Unreachable { .. }) => return Err(e),
            Err(e) if parsed.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("ais: rm {}: {e}", uri_of(bck, name));
                failed += 1;
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{failed} of {} objects not removed",
            parsed.len()
        )))
    }
}

/// A multi-object PUT or GET's result: an error naming how many of `total` failed.
fn outcome(failed: usize, total: u64) -> Result<()> {
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::Failed(format!("{failed} of {total} objects failed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Units;

    fn put_args(args: &[&str], recursive: bool, prefix: Option<&str>) -> PutArgs {
        PutArgs {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            recursive,
            prefix: prefix.map(str::to_owned),
            num_workers: 1,
            units: Units::Iec,
        }
    }

    #[test]
    fn put_plan_names() {
        let d = std::env::temp_dir().join(format!("ais-cli-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        std::fs::write(d.join("a.txt"), b"aa").unwrap();
        std::fs::write(d.join("sub/b.bin"), b"bbb").unwrap();
        std::fs::write(d.join("sub/deeper/c"), b"").unwrap();
        let ds = d.to_str().unwrap();
        let file = d.join("a.txt");
        let fs = file.to_str().unwrap();

        let names = |a: &PutArgs| -> Vec<(String, u64)> {
            plan_put(a)
                .unwrap()
                .1
                .into_iter()
                .map(|i| (i.name, i.size))
                .collect()
        };
        assert_eq!(
            names(&put_args(&[fs, "ais://b"], false, None)),
            [("a.txt".into(), 2)]
        );
        assert_eq!(
            names(&put_args(&[fs, "ais://b/x/y"], false, None)),
            [("x/y".into(), 2)]
        );
        assert_eq!(
            names(&put_args(&[fs, "ais://b/x/"], false, None)),
            [("x/a.txt".into(), 2)]
        );
        assert_eq!(
            names(&put_args(&[ds, "ais://b"], true, None)),
            [
                ("a.txt".into(), 2),
                ("sub/b.bin".into(), 3),
                ("sub/deeper/c".into(), 0)
            ]
        );
        assert_eq!(
            names(&put_args(&[ds, "ais://b/dir"], true, None))[2],
            ("dir/sub/deeper/c".into(), 0)
        );
        assert_eq!(
            names(&put_args(&[ds, "ais://b/dir/"], true, Some("v")))[0],
            ("v/dir/a.txt".into(), 2)
        );
        assert_eq!(
            names(&put_args(&[ds, "ais://b"], true, Some("v")))[0],
            ("v/a.txt".into(), 2)
        );
        assert!(plan_put(&put_args(&[ds, "ais://b"], false, None)).is_err());
        assert!(
            plan_put(&put_args(&[fs, fs, "ais://b"], false, None)).is_err(),
            "duplicate names"
        );
        assert!(plan_put(&put_args(&["-", "ais://b"], false, None)).is_err());
        assert!(plan_put(&put_args(&["/nonexistent/x", "ais://b"], false, None)).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn local_paths_stay_inside() {
        let d = Path::new("/tmp/out");
        assert_eq!(local_path(d, "a/b").unwrap(), Path::new("/tmp/out/a/b"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/"] {
            assert!(local_path(d, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_targets_are_encoded() {
        let b = Bck {
            provider: "ais",
            name: "b".into(),
        };
        assert_eq!(
            object_target(&b, "d/a b?"),
            "/v1/objects/b/d/a%20b%3F?provider=ais"
        );
    }
}
