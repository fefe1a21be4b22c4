//! The AIS on-disk layout (spec §6): `<mountpath>/@<provider>[/[@uuid]#ns]/<bucket>/%<ct>/<name>`.
//! Object files hold exactly their bytes, so data stays readable without this software.

use std::path::{Path, PathBuf};

/// Content type directory of whole objects.
pub const CT_OBJECT: &str = "%ob";
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

impl Bck {
    pub fn ais(name: &str) -> Bck {
        Bck {
            provider: "ais".into(),
            ns: String::new(),
            name: name.into(),
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

    /// Full path ("FQN") of an object of this bucket on a mountpath. The name must have
    /// passed [`crate::name::validate_object`].
    pub fn fqn(&self, mountpath: &Path, object: &str) -> PathBuf {
        debug_assert!(crate::name::validate_object(object).is_ok());
        let mut p = self.dir(mountpath);
        p.push(CT_OBJECT);
        p.push(object);
        p
    }

    pub fn work_dir(&self, mountpath: &Path) -> PathBuf {
        let mut p = self.dir(mountpath);
        p.push(CT_WORK);
        p
    }
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
    fn clean_abs_like_go() {
        assert_eq!(clean_abs("/a//b/./c/"), Some("/a/b/c".into()));
        assert_eq!(clean_abs("/a/b/../c"), Some("/a/c".into()));
        assert_eq!(clean_abs("/"), Some("/".into()));
        assert_eq!(clean_abs("rel"), None);
    }
}
