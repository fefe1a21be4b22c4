//! `/proc/self/mountinfo` parsed, and a mountpath resolved to the file system it lives on.
//!
//! A mountpath is matched to the mount whose device number equals the path's `st_dev` and
//! whose mount point is the longest component-wise prefix of the (canonical) path; when no
//! mount has that device number (btrfs subvolumes report anonymous ones) the longest prefix
//! alone decides. What this module does not do: follow the mount source to a block device
//! (that is `blockdev`).

use std::path::{Path, PathBuf};

/// One line of mountinfo (fields this tool uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub major: u32,
    pub minor: u32,
    /// Root of the mount within its file system.
    pub root: String,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,noatime`).
    pub options: String,
    pub fs_type: String,
    /// Mount source (`/dev/vda1`, `/dev/mapper/vg-lv`, `tmpfs`).
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

impl Mount {
    /// Whether a per-mount option is set (`noatime`).
    pub fn has_option(&self, opt: &str) -> bool {
        self.options.split(',').any(|o| o == opt)
    }
}

/// Mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).ok();
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line; `None` if it does not have the documented shape.
pub fn parse_line(line: &str) -> Option<Mount> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    if pre.len() < 6 {
        return None;
    }
    let (major, minor) = pre[2].split_once(':')?;
    let mut post = post.split(' ');
    let fs_type = post.next()?.to_string();
    let source = unescape(post.next()?);
    let super_options = post.next().unwrap_or("").to_string();
    Some(Mount {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: unescape(pre[3]),
        mount_point: PathBuf::from(unescape(pre[4])),
        options: pre[5].to_string(),
        fs_type,
        source,
        super_options,
    })
}

/// Every well-formed line of a mountinfo text, in order (later mounts shadow earlier ones).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// The mount a (canonical, absolute) path lives on: among the mounts whose mount point is a
/// prefix of the path, those with the path's device number first, then the longest mount
/// point, then the last mounted (it shadows the ones below it).
pub fn mount_of<'a>(
    mounts: &'a [Mount],
    path: &Path,
    dev: Option<(u32, u32)>,
) -> Option<&'a Mount> {
    let prefix_of = |m: &&Mount| path.starts_with(&m.mount_point);
    let best = |it: &mut dyn Iterator<Item = (usize, &'a Mount)>| {
        it.max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
            .map(|(_, m)| m)
    };
    if let Some((maj, min)) = dev {
        let mut same_dev = mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| m.major == maj && m.minor == min && prefix_of(m));
        if let Some(m) = best(&mut same_dev) {
            return Some(m);
        }
    }
    best(&mut mounts.iter().enumerate().filter(|(_, m)| prefix_of(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/mountinfo.txt");

    #[test]
    fn parses_fields_escapes_and_optional_tags() {
        let ms = parse(FIXTURE);
        assert_eq!(
            ms.len(),
            8,
            "every well-formed line, the malformed one skipped"
        );
        let root = &ms[0];
        assert_eq!((root.major, root.minor), (254, 1));
        assert_eq!(root.mount_point, Path::new("/"));
        assert_eq!(root.fs_type, "ext4");
        assert_eq!(root.source, "/dev/vda1");
        assert!(root.has_option("relatime"));
        assert!(!root.has_option("noatime"));
        let spaced = ms.iter().find(|m| m.source == "/dev/loop1").unwrap();
        assert_eq!(spaced.mount_point, Path::new("/mnt/disk two"));
        assert!(spaced.has_option("noatime"));
    }

    #[test]
    fn mount_of_prefers_device_then_longest_prefix() {
        let ms = parse(FIXTURE);
        let m = mount_of(&ms, Path::new("/mnt/mp1/ais"), Some((7, 0))).unwrap();
        assert_eq!(m.source, "/dev/loop0");
        // Device number unknown: the longest prefix decides.
        let m = mount_of(&ms, Path::new("/mnt/mp1/ais"), None).unwrap();
        assert_eq!(m.source, "/dev/loop0");
        // "/mnt/mp10" is not under "/mnt/mp1": components, not string prefixes.
        let m = mount_of(&ms, Path::new("/mnt/mp10"), None).unwrap();
        assert_eq!(m.source, "/dev/vda1");
        // A device number that matches no mount (btrfs subvolume): longest prefix.
        let m = mount_of(&ms, Path::new("/data/x"), Some((0, 55))).unwrap();
        assert_eq!(m.source, "/dev/mapper/vg-data");
        // Same mount point mounted twice: the later mount shadows the earlier one.
        let m = mount_of(&ms, Path::new("/srv/over"), None).unwrap();
        assert_eq!(m.source, "/dev/nvme0n1p2");
    }

    #[test]
    fn malformed_lines_are_none() {
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("1 2 3:4 / /x rw"), None);
        assert_eq!(parse_line("1 2 x:4 / /x rw - ext4 /dev/a rw"), None);
        assert_eq!(unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
    }
}
