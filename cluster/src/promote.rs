//! Promote: files and directories on a target's local file system become objects (AIS's
//! `promote`, the SDK's `Object.promote`). Only under the node's configured source root
//! (`--promote-root`), never outside it (the source is resolved with symlinks first), never
//! from a mountpath, and only regular files (symlinks inside the tree are skipped). Each file
//! goes to its object's owning core like any PUT, as a new version; with the default shared
//! file-system semantics a target promotes only the files whose objects it owns (every target
//! sees the same tree), with `notshr` it sends every file it sees to the owner.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::placement;
use crate::transfer;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Most files one promote request takes (bounds the walk and the request's duration).
pub const PROMOTE_FILES_MAX: usize = 100_000;

/// The request's value (AIS's `PromoteArgs`, JSON names as the SDK sends them).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PromoteArgs {
    /// Only this target promotes (empty: every target).
    #[serde(default)]
    pub tid: String,
    /// The source file or directory.
    #[serde(default)]
    pub src: String,
    /// Object name (a file) or name prefix (a directory); empty: the file's name.
    #[serde(default)]
    pub obj: String,
    /// Walk subdirectories.
    #[serde(default)]
    pub rcr: bool,
    /// Replace objects that exist.
    #[serde(default)]
    pub ovw: bool,
    /// Remove each source file once its object is stored.
    #[serde(default)]
    pub dls: bool,
    /// The source is not a file share: send every file seen here to its owner.
    #[serde(default)]
    pub notshr: bool,
}

/// What a promote did on this target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Promoted {
    pub objects: u64,
    pub bytes: u64,
    /// Files left alone: their object exists (without `ovw`), or another target owns it.
    pub skipped: u64,
}

/// The files to promote: (path, size, object name).
fn collect(
    root: &Path,
    mountpaths: &[String],
    a: &PromoteArgs,
) -> Result<Vec<(PathBuf, u64, String)>> {
    if a.src.is_empty() {
        return Err(Error::BadRequest("promote: source path is empty".into()));
    }
    let src = std::fs::canonicalize(&a.src)
        .map_err(|e| Error::BadRequest(format!("promote: source {:?}: {e}", a.src)))?;
    if !src.starts_with(root) {
        return Err(Error::Forbidden(format!(
            "promote: source {} is outside the promote root {}",
            src.display(),
            root.display()
        )));
    }
    if mountpaths
        .iter()
        .any(|m| src.starts_with(m) || Path::new(m).starts_with(&src))
    {
        return Err(Error::Forbidden(format!(
            "promote: source {} overlaps a mountpath",
            src.display()
        )));
    }
    let md = std::fs::metadata(&src)
        .map_err(|e| Error::BadRequest(format!("promote: {}: {e}", src.display())))?;
    let mut out = Vec::new();
    if md.is_file() {
        let name = if a.obj.is_empty() {
            src.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            a.obj.clone()
        };
        out.push((src, md.len(), name));
    } else if md.is_dir() {
        let prefix = a.obj.trim_end_matches('/');
        let mut dirs = vec![src.clone()];
        while let Some(d) = dirs.pop() {
            let rd = std::fs::read_dir(&d)
                .map_err(|e| Error::Internal(format!("promote: read {}: {e}", d.display())))?;
            for e in rd.flatten() {
                let p = e.path();
                let Ok(m) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                if m.is_dir() {
                    if a.rcr {
                        dirs.push(p);
                    }
                } else if m.is_file() {
                    let rel = p
                        .strip_prefix(&src)
                        .map(|r| r.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let name = if prefix.is_empty() {
                        rel
                    } else {
                        format!("{prefix}/{rel}")
                    };
                    out.push((p, m.len(), name));
                    if out.len() > PROMOTE_FILES_MAX {
                        return Err(Error::BadRequest(format!(
                            "promote: more than {PROMOTE_FILES_MAX} files under {}",
                            src.display()
                        )));
                    }
                }
                // Symlinks and special files are skipped: only regular files in the tree.
            }
        }
        out.sort_by(|x, y| x.2.cmp(&y.2));
    } else {
        return Err(Error::BadRequest(format!(
            "promote: {} is neither a file nor a directory",
            src.display()
        )));
    }
    for (_, _, name) in &out {
        engine::name::validate_native_object(name)
            .map_err(|e| Error::BadRequest(format!("promote: object name {name:?}: {e}")))?;
    }
    Ok(out)
}

/// Promote on this target (or all-in-one node).
pub async fn run(node: &Node, bucket: &str, a: &PromoteArgs) -> Result<Promoted> {
    let Some(root) = node.cfg.promote_root.clone() else {
        return Err(Error::Forbidden(
            "promote is disabled on this node: start it with --promote-root DIR".into(),
        ));
    };
    let mountpaths: Vec<String> = node
        .mountpaths
        .load()
        .with_data()
        .iter()
        .map(|m| m.path_str.clone())
        .collect();
    let args = a.clone();
    let files = glommio::executor()
        .spawn_blocking(move || collect(&root, &mountpaths, &args))
        .await?;
    let smap = node.smap.load();
    let pool = transfer::Pool::default();
    let mut done = Promoted::default();
    for (path, size, name) in files {
        let Some(owner) = placement::owner(&smap, bucket, &name) else {
            return Err(Error::Unavailable(
                "promote: no targets in the cluster map".into(),
            ));
        };
        if owner.target_id != node.target_id && !a.notshr {
            done.skipped += 1;
            continue;
        }
        if !a.ovw {
            let url = format!(
                "{}/v1/objects/{bucket}/{}?provider=ais",
                owner.url,
                net::http::percent_encode_path(&name)
            );
            if intra::call("HEAD", &url, &[], b"").await?.status == 200 {
                done.skipped += 1;
                continue;
            }
        }
        let to = transfer::Dest {
            base_url: &owner.url,
            bucket,
            object: &name,
        };
        done.bytes += transfer::send_file(node, &pool, &path, size, &to).await?;
        done.objects += 1;
        if a.dls {
            let p = path.clone();
            if let Err(e) = glommio::executor()
                .spawn_blocking(move || std::fs::remove_file(p))
                .await
            {
                tracing::error!(path = %path.display(), error = %e, "promote: removing the promoted source failed");
            }
        }
    }
    tracing::info!(bucket, src = %a.src, objects = done.objects, bytes = done.bytes, skipped = done.skipped, "promoted");
    Ok(done)
}
