//! Where the host's settings are read from and written to: `/proc` and `/sys`, or a tree
//! that stands in for them (`--procfs-root`, `--sysfs-root`), so that tests and dry runs on
//! a copy touch nothing on the machine.
//!
//! Every read returns the reason it failed (missing file, permission) as text: a check that
//! cannot read a setting reports it as unknown with that reason instead of failing.

use std::path::{Path, PathBuf};

/// The roots of the two pseudo file systems this tool reads and writes.
#[derive(Debug, Clone)]
pub struct Host {
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
        }
    }
}

impl Host {
    /// `/proc/<rel>` under the proc root.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc_root.join(rel.trim_start_matches('/'))
    }

    /// `/sys/<rel>` under the sys root.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys_root.join(rel.trim_start_matches('/'))
    }

    /// `/proc/sys/<key with dots as slashes>`: the file of a sysctl.
    pub fn sysctl_path(&self, key: &str) -> PathBuf {
        self.proc(&format!("sys/{}", key.replace('.', "/")))
    }

    /// Whether the roots are the real ones (probes that use syscalls, such as the io_uring
    /// setup and the resource limits, only describe the real host).
    pub fn is_real(&self) -> bool {
        self.proc_root == Path::new("/proc") && self.sys_root == Path::new("/sys")
    }
}

/// A pseudo file's content, trimmed; the error names the file and the reason.
pub fn read_value(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) => Err(format!("{}: {}", path.display(), describe_io_error(&e))),
    }
}

/// A short reason for an I/O error, without the "(os error N)" noise.
pub fn describe_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not present".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied (not root?)".to_string(),
        _ => e.to_string(),
    }
}

/// The selected entry of a sysfs choice list: `none [mq-deadline] kyber` -> `mq-deadline`.
/// A value without brackets (a single choice) is the selection itself.
pub fn selected_choice(list: &str) -> Option<&str> {
    if let Some(start) = list.find('[') {
        let rest = &list[start + 1..];
        return rest.find(']').map(|end| &rest[..end]);
    }
    let t = list.trim();
    (!t.is_empty() && !t.contains(char::is_whitespace)).then_some(t)
}

/// Every entry of a sysfs choice list, brackets removed.
pub fn choices(list: &str) -> Vec<&str> {
    list.split_whitespace()
        .map(|c| c.trim_start_matches('[').trim_end_matches(']'))
        .collect()
}

/// A sysfs CPU or node list (`0-3,8,10-11`) expanded; `None` if malformed.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_choice_takes_the_bracketed_entry() {
        assert_eq!(
            selected_choice("none [mq-deadline] kyber"),
            Some("mq-deadline")
        );
        assert_eq!(selected_choice("[none] mq-deadline"), Some("none"));
        assert_eq!(selected_choice("always [madvise] never"), Some("madvise"));
        assert_eq!(selected_choice("none"), Some("none"));
        assert_eq!(selected_choice(""), None);
        assert_eq!(selected_choice("none mq-deadline"), None);
        assert_eq!(selected_choice("[unterminated"), None);
        assert_eq!(
            choices("none [mq-deadline] kyber"),
            ["none", "mq-deadline", "kyber"]
        );
    }

    #[test]
    fn cpu_lists_expand_ranges_and_refuse_garbage() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
    }

    #[test]
    fn sysctl_keys_map_to_proc_sys_files() {
        let h = Host {
            proc_root: PathBuf::from("/tmp/p"),
            sys_root: PathBuf::from("/tmp/s"),
        };
        assert_eq!(
            h.sysctl_path("net.ipv4.tcp_rmem"),
            Path::new("/tmp/p/sys/net/ipv4/tcp_rmem")
        );
        assert_eq!(h.sys("/class/block"), Path::new("/tmp/s/class/block"));
        assert!(!h.is_real());
        assert!(Host::default().is_real());
    }
}
