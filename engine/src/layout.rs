//! The AIS on-disk layout (spec §6): `<mountpath>/@<provider>[/[@uuid]#ns]/<bucket>/%<ct>/<name>`.
//! Object files hold exactly their bytes, so data stays readable without this software.

use std::path::{Path, PathBuf};

/// Content type directory of whole objects.
pub const CT_OBJECT: &str = "%ob";
/// Content type directory of objects whose names cannot be plain paths under `%ob` (see
/// [`escaped_rel`] and docs/on-disk-format.md).
pub const CT_ESCAPED: &str = "%ox";
/// Content type directory of work (temporary) files.
pub const CT_WORK: &str = "%wk";
/// All content-type directories a bucket gets at creation.
pub const CT_ALL: [&str; 8] = ["%ob", "%wk", "%ec", "%mt", "%ch", "%ut", "%ds", "%dw"];
/// Directory for per-mountpath markers (and the DMA probe file).
pub const MARKERS_DIR: &str = ".ais.markers";
/// Trash directory: destroyed buckets are renamed here, then removed.
pub const TRASH_DIR: &str = ".$deleted";

/// A bucket as the engine sees it. `ns` is "" for the global namespace, else `@uuid#name`
/// or `#name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bck {
    pub provider: String,
    pub ns: String,
    pub name: String,
}

/// The key of a bucket in the node's tables (BMD, caches, jobs): the bare name for an AIS
/// bucket, `<provider>:<name>` for a remote one (`aws:b` is `s3://b`). AIS bucket names
/// never contain `:`, so the two never collide.
pub fn bucket_key(provider: &str, name: &str) -> String {
    match provider {
        "" | "ais" => name.to_string(),
        p => format!("{p}:{name}"),
    }
}

/// `(provider, name)` of a bucket key ([`bucket_key`]).
pub fn split_key(key: &str) -> (&str, &str) {
    match key.split_once(':') {
        Some((p, n)) => (p, n),
        None => ("ais", key),
    }
}

/// AIS's provider name for what clients may write: `s3` is `aws`, `gs` `gcp`, `az` `azure`.
pub fn normalize_provider(p: &str) -> &str {
    match p {
        "" => "ais",
        "s3" => "aws",
        "gs" => "gcp",
        "az" => "azure",
        p => p,
    }
}

impl Bck {
    /// The bucket of a bucket key ([`bucket_key`]): an AIS bucket for a bare name.
    pub fn ais(key: &str) -> Bck {
        let (provider, name) = split_key(key);
        // `ais@<alias>`: a bucket of remote AIS cluster `alias`, namespace `@alias`.
        if let Some(alias) = provider.strip_prefix("ais@") {
            return Bck {
                provider: "ais".into(),
                ns: format!("@{alias}"),
                name: name.into(),
            };
        }
        Bck {
            provider: provider.into(),
            ns: String::new(),
            name: name.into(),
        }
    }

    /// The bucket key of this bucket.
    pub fn key(&self) -> String {
        match self.ns.strip_prefix('@') {
            Some(alias) if self.provider == "ais" => {
                bucket_key(&format!("ais@{}", alias.trim_end_matches('#')), &self.name)
            }
            _ => bucket_key(&self.provider, &self.name),
        }
    }

    /// `ais://name` (global namespace) or `ais://@uuid#ns/name`.
    pub fn cname(&self) -> String {
        if self.ns.is_empty() {
            format!("{}://{}", self.provider, self.name)
        } else {
            format!("{}://{}/{}", self.provider, self.ns, self.name)
        }
    }

    /// `<mountpath>/@<provider>[/<ns>]/<bucket>`.
    pub fn dir(&self, mountpath: &Path) -> PathBuf {
        let mut p = mountpath.join(format!("@{}", self.provider));
        if !self.ns.is_empty() {
            p.push(&self.ns);
        }
        p.push(&self.name);
        p
    }

    /// The object's first-choice path ("FQN") on a mountpath: `%ob/<name>` for a name that
    /// is a plain relative path, else its escaped form under `%ox`. The name must have passed
    /// [`crate::name::validate_object`]. An object that met a file/directory conflict lives
    /// at its escaped path instead: [`crate::object::locate`] finds where it is.
    pub fn fqn(&self, mountpath: &Path, object: &str) -> PathBuf {
        if needs_escape(object) {
            self.escaped_fqn(mountpath, object)
        } else {
            self.plain_fqn(mountpath, object)
        }
    }

    /// `%ob/<name>`; only for names where [`needs_escape`] is false.
    pub fn plain_fqn(&self, mountpath: &Path, object: &str) -> PathBuf {
        debug_assert!(crate::name::validate_object(object).is_ok() && !needs_escape(object));
        let mut p = self.dir(mountpath);
        p.push(CT_OBJECT);
        p.push(object);
        p
    }

    /// `%ox/<escaped name>` (any valid name).
    pub fn escaped_fqn(&self, mountpath: &Path, object: &str) -> PathBuf {
        debug_assert!(crate::name::validate_object(object).is_ok());
        let mut p = self.dir(mountpath);
        p.push(CT_ESCAPED);
        p.push(escaped_rel(object));
        p
    }

    pub fn work_dir(&self, mountpath: &Path) -> PathBuf {
        let mut p = self.dir(mountpath);
        p.push(CT_WORK);
        p
    }
}

/// Longest directory or file name the file systems we run on take (ext4, xfs: 255 bytes).
pub const FILE_NAME_BYTES_MAX: usize = 255;

/// True when an object name is not a plain relative path, so `%ob/<name>` could not hold
/// it: a leading or trailing `/`, an empty (`//`), `.` or `..` component, or a component
/// longer than a file name may be. S3 allows all of these.
pub fn needs_escape(name: &str) -> bool {
    name.starts_with('/')
        || name.ends_with('/')
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.len() > FILE_NAME_BYTES_MAX)
}

/// The escaped form of a name, relative to `%ox`: the name's bytes with `%` written `%25`,
/// `/` written `%2F` and a leading `.` written `%2E`, so it is one file name that is never
/// `.`, `..` or hidden. When that is longer than a file name may be, it is cut into pieces
/// of at most 254 bytes, each but the last a directory whose name ends in a bare `%` (which
/// the encoding never produces, so a piece directory cannot meet a file of the same name).
/// Decoding is the reverse ([`unescape_rel`]): drop each directory's trailing `%`, join,
/// percent-decode.
pub fn escaped_rel(name: &str) -> PathBuf {
    let mut enc = String::with_capacity(name.len() + 8);
    for (i, c) in name.char_indices() {
        match c {
            '%' => enc.push_str("%25"),
            '/' => enc.push_str("%2F"),
            '.' if i == 0 => enc.push_str("%2E"),
            c => enc.push(c),
        }
    }
    if enc.len() <= FILE_NAME_BYTES_MAX {
        return PathBuf::from(enc);
    }
    let mut p = PathBuf::new();
    let mut rest = enc.as_str();
    while rest.len() > FILE_NAME_BYTES_MAX {
        // Cut at a char boundary: a directory name must stay valid UTF-8 to be listed.
        let mut cut = FILE_NAME_BYTES_MAX - 1;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        p.push(format!("{}%", &rest[..cut]));
        rest = &rest[cut..];
    }
    p.push(rest);
    p
}

/// The object name of a path relative to `%ox` (its components as [`escaped_rel`] made
/// them); `None` for anything that encoding cannot have produced.
pub fn unescape_rel(dirs: &[&str], file: &str) -> Option<String> {
    let mut enc = String::new();
    for d in dirs {
        enc.push_str(d.strip_suffix('%')?);
    }
    enc.push_str(file);
    let b = enc.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(out).ok()?;
    let mut canonical = PathBuf::from_iter(dirs);
    canonical.push(file);
    (escaped_rel(&name) == canonical).then_some(name)
}

/// Clean an absolute path the way Go's `filepath.Clean` does for the forms we accept:
/// collapse `//`, drop `.` components, resolve `..`, drop a trailing `/`.
pub fn clean_abs(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqn_follows_ais_layout() {
        let b = Bck::ais("mybucket");
        assert_eq!(
            b.fqn(Path::new("/mp1"), "dir/obj1"),
            PathBuf::from("/mp1/@ais/mybucket/%ob/dir/obj1")
        );
        let ns = Bck {
            provider: "gcp".into(),
            ns: "#prod".into(),
            name: "llm-data".into(),
        };
        assert_eq!(
            ns.fqn(Path::new("/m"), "images/dog.jpeg"),
            PathBuf::from("/m/@gcp/#prod/llm-data/%ob/images/dog.jpeg")
        );
        assert_eq!(b.cname(), "ais://mybucket");
    }

    #[test]
    fn plain_names_stay_plain_and_others_escape() {
        let b = Bck::ais("b");
        let m = Path::new("/m");
        assert_eq!(b.fqn(m, "a/b.c"), PathBuf::from("/m/@ais/b/%ob/a/b.c"));
        assert_eq!(b.fqn(m, "dir/"), PathBuf::from("/m/@ais/b/%ox/dir%2F"));
        assert_eq!(b.fqn(m, "/x"), PathBuf::from("/m/@ais/b/%ox/%2Fx"));
        assert_eq!(b.fqn(m, "."), PathBuf::from("/m/@ais/b/%ox/%2E"));
        assert_eq!(b.fqn(m, "../x"), PathBuf::from("/m/@ais/b/%ox/%2E.%2Fx"));
        assert_eq!(
            b.fqn(m, "a//50%"),
            PathBuf::from("/m/@ais/b/%ox/a%2F%2F50%25")
        );
        assert_eq!(b.escaped_fqn(m, "p"), PathBuf::from("/m/@ais/b/%ox/p"));
        for plain in ["a", "a/b", "..a", "a..", "a/.h", "~/x", "50%/x"] {
            assert!(!needs_escape(plain), "{plain}");
        }
        for esc in [
            "/",
            "a/",
            "/a",
            "a//b",
            ".",
            "..",
            "a/./b",
            "a/..",
            &"c".repeat(256),
        ] {
            assert!(needs_escape(esc), "{esc}");
        }
    }

    #[test]
    fn escaping_round_trips_and_stays_inside() {
        let long = format!("{}/é{}", "x".repeat(300), "/".repeat(400));
        let names = [
            "dir/",
            "/",
            "//",
            "/lead",
            ".",
            "..",
            "./x",
            "a/../b",
            "100%/a%2Fb/",
            "p",
            "ünï//cödé",
            long.as_str(),
            &"é".repeat(500),
        ];
        for n in names {
            let rel = escaped_rel(n);
            let comps: Vec<String> = rel
                .iter()
                .map(|c| c.to_str().unwrap().to_string())
                .collect();
            for c in &comps {
                assert!(c.len() <= FILE_NAME_BYTES_MAX, "{n:?}: {c:?}");
                assert!(!c.is_empty() && c != "." && c != ".." && !c.starts_with('.'));
                assert!(!c.contains('/'));
            }
            let (file, dirs) = comps.split_last().unwrap();
            let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
            assert_eq!(unescape_rel(&dirs, file).as_deref(), Some(n), "{n:?}");
        }
        // Distinct names never share an escaped path.
        let mut seen = std::collections::HashSet::new();
        for n in names {
            assert!(seen.insert(escaped_rel(n)), "{n:?}");
        }
        assert_eq!(unescape_rel(&[], "bad%zz"), None);
        assert_eq!(unescape_rel(&["nodelim"], "x"), None);
    }

    #[test]
    fn clean_abs_like_go() {
        assert_eq!(clean_abs("/a//b/./c/"), Some("/a/b/c".into()));
        assert_eq!(clean_abs("/a/b/../c"), Some("/a/c".into()));
        assert_eq!(clean_abs("/"), Some("/".into()));
        assert_eq!(clean_abs("rel"), None);
    }
}
