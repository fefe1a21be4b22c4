//! A mountpath resolved to the whole disks under it: mountpath -> file system (mountinfo and
//! the path's device number) -> block device (`/sys/dev/block/MAJ:MIN`, or the mount source
//! for file systems with anonymous device numbers) -> whole disks: a partition's parent, and
//! for stacked devices (device-mapper, md) the disks under `slaves/`, recursively.
//!
//! Loop devices are disks here (their queue settings are their own); the backing file is
//! reported. What this module does not do: decide what a setting should be (`check`).

use crate::host::{read_value, Host};
use crate::mountinfo::{self, Mount};
use std::path::{Path, PathBuf};

/// Deepest stack of devices followed through `slaves/` (dm on md on partitions is 3).
const STACK_DEPTH_MAX: usize = 8;

/// A whole disk under a mountpath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name (`vda`, `nvme0n1`, `loop0`).
    pub name: String,
    /// How it was reached from the mountpath's device (`vda1 is a partition of vda`).
    pub via: String,
    /// A loop device's backing file.
    pub loop_backing: Option<String>,
}

/// What a mountpath resolved to; `problem` says what could not be resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub mountpath: PathBuf,
    pub mount: Option<Mount>,
    /// Device number of the file system the mountpath is on.
    pub dev: Option<(u32, u32)>,
    /// The file system's block device (`vda1`, `dm-0`, `loop0`).
    pub device: Option<String>,
    pub disks: Vec<Disk>,
    pub problem: Option<String>,
}

/// Resolves a mountpath on the host (`stat` for the device number, mountinfo under the proc
/// root, block devices under the sys root).
pub fn resolve(host: &Host, mountpath: &Path) -> Resolved {
    let canonical = std::fs::canonicalize(mountpath).unwrap_or_else(|_| mountpath.to_path_buf());
    let mut r = Resolved {
        mountpath: canonical.clone(),
        mount: None,
        dev: None,
        device: None,
        disks: Vec::new(),
        problem: None,
    };
    match rustix::fs::stat(&canonical) {
        Ok(st) => r.dev = Some((rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev))),
        Err(e) => {
            r.problem = Some(format!("{}: stat: {e}", mountpath.display()));
            return r;
        }
    }
    let text = match read_value(&host.proc("self/mountinfo")) {
        Ok(t) => t,
        Err(e) => {
            r.problem = Some(e);
            return r;
        }
    };
    let mounts = mountinfo::parse(&text);
    r.mount = mountinfo::mount_of(&mounts, &canonical, r.dev).cloned();
    resolve_device(host, &mut r);
    r
}

/// From the device number (or the mount source) to the block device and its disks.
pub fn resolve_device(host: &Host, r: &mut Resolved) {
    let by_dev = r.dev.and_then(|(maj, min)| {
        let link = host.sys(&format!("dev/block/{maj}:{min}"));
        std::fs::read_link(link)
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
    });
    let by_source = || {
        let src = &r.mount.as_ref()?.source;
        if !src.starts_with("/dev/") {
            return None;
        }
        // /dev/mapper/vg-lv is a symlink to /dev/dm-N on the real host.
        let p = if host.is_real() {
            std::fs::canonicalize(src).unwrap_or_else(|_| PathBuf::from(src))
        } else {
            PathBuf::from(src)
        };
        p.file_name().map(|n| n.to_string_lossy().into_owned())
    };
    let Some(name) = by_dev.or_else(by_source) else {
        let what = match &r.mount {
            Some(m) => format!("{} file system from {:?}", m.fs_type, m.source),
            None => "no mount found".to_string(),
        };
        r.problem = Some(format!(
            "{}: not on a block device ({what})",
            r.mountpath.display()
        ));
        return;
    };
    let mut disks = Vec::new();
    if let Err(e) = disks_of(host, &name, &name, 0, &mut disks) {
        r.problem = Some(e);
    }
    r.device = Some(name);
    r.disks = disks;
}

/// The whole disks under block device `name`, appended to `out` (no duplicates).
fn disks_of(
    host: &Host,
    name: &str,
    top: &str,
    depth: usize,
    out: &mut Vec<Disk>,
) -> Result<(), String> {
    if depth > STACK_DEPTH_MAX {
        return Err(format!(
            "{top}: devices stacked deeper than {STACK_DEPTH_MAX}"
        ));
    }
    let dir = host.sys(&format!("class/block/{name}"));
    let real = std::fs::canonicalize(&dir)
        .map_err(|e| format!("{}: {}", dir.display(), crate::host::describe_io_error(&e)))?;
    if real.join("partition").exists() {
        let parent = real
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: partition without a parent disk", real.display()))?;
        push(
            out,
            Disk {
                loop_backing: loop_backing(host, &parent),
                via: format!("{name} is a partition of {parent}"),
                name: parent,
            },
        );
        return Ok(());
    }
    let mut slaves: Vec<String> = match std::fs::read_dir(real.join("slaves")) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    slaves.sort();
    if slaves.is_empty() {
        let via = if name == top {
            format!("{name} is the file system's device")
        } else {
            format!("{name} is under {top}")
        };
        push(
            out,
            Disk {
                loop_backing: loop_backing(host, name),
                via,
                name: name.to_string(),
            },
        );
        return Ok(());
    }
    for s in &slaves {
        let before = out.len();
        disks_of(host, s, top, depth + 1, out)?;
        for d in &mut out[before..] {
            if !d.via.contains(top) {
                d.via = format!("{} (under {top})", d.via);
            }
        }
    }
    Ok(())
}

fn push(out: &mut Vec<Disk>, d: Disk) {
    if !out.iter().any(|x| x.name == d.name) {
        out.push(d);
    }
}

fn loop_backing(host: &Host, name: &str) -> Option<String> {
    if !name.starts_with("loop") {
        return None;
    }
    read_value(&host.sys(&format!("class/block/{name}/loop/backing_file"))).ok()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A sysfs tree: vda with partition vda1, nvme0n1 and nvme1n1 under dm-0, loop3.
    pub fn fake_sysfs(root: &Path) {
        let w = |rel: &str, v: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        };
        let dev = "devices/pci0000:00";
        for d in ["vda", "nvme0n1", "nvme1n1"] {
            w(
                &format!("{dev}/{d}/queue/scheduler"),
                "[none] mq-deadline\n",
            );
            w(&format!("{dev}/{d}/queue/read_ahead_kb"), "4096\n");
            w(&format!("{dev}/{d}/queue/nr_requests"), "64\n");
            w(&format!("{dev}/{d}/queue/rotational"), "0\n");
        }
        w(&format!("{dev}/vda/vda1/partition"), "1\n");
        w("devices/virtual/block/dm-0/queue/scheduler", "none\n");
        std::fs::create_dir_all(root.join("devices/virtual/block/dm-0/slaves")).unwrap();
        w(
            "devices/virtual/block/loop3/queue/scheduler",
            "[mq-deadline] none\n",
        );
        w("devices/virtual/block/loop3/queue/read_ahead_kb", "128\n");
        w("devices/virtual/block/loop3/queue/nr_requests", "128\n");
        w("devices/virtual/block/loop3/queue/rotational", "1\n");
        w(
            "devices/virtual/block/loop3/loop/backing_file",
            "/var/tmp/disk.img\n",
        );
        std::fs::create_dir_all(root.join("class/block")).unwrap();
        std::fs::create_dir_all(root.join("dev/block")).unwrap();
        let link = |target: &str, at: &str| symlink(target, root.join(at)).unwrap();
        link(&format!("../../{dev}/vda"), "class/block/vda");
        link(&format!("../../{dev}/vda/vda1"), "class/block/vda1");
        link(&format!("../../{dev}/nvme0n1"), "class/block/nvme0n1");
        link(&format!("../../{dev}/nvme1n1"), "class/block/nvme1n1");
        link("../../devices/virtual/block/dm-0", "class/block/dm-0");
        link("../../devices/virtual/block/loop3", "class/block/loop3");
        link(
            &format!("../../../../{dev}/nvme1n1"),
            "devices/virtual/block/dm-0/slaves/nvme1n1",
        );
        link(
            &format!("../../../../{dev}/nvme0n1"),
            "devices/virtual/block/dm-0/slaves/nvme0n1",
        );
        link(&format!("../../{dev}/vda/vda1"), "dev/block/254:1");
        link("../../devices/virtual/block/dm-0", "dev/block/253:0");
        link("../../devices/virtual/block/loop3", "dev/block/7:3");
    }

    fn resolved(host: &Host, dev: (u32, u32), source: &str) -> Resolved {
        let mut r = Resolved {
            mountpath: PathBuf::from("/mnt/x"),
            mount: mountinfo::parse_line(&format!(
                "40 22 {}:{} / /mnt/x rw - ext4 {source} rw",
                dev.0, dev.1
            )),
            dev: Some(dev),
            device: None,
            disks: Vec::new(),
            problem: None,
        };
        resolve_device(host, &mut r);
        r
    }

    fn names(r: &Resolved) -> Vec<&str> {
        r.disks.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn partitions_dm_and_loop_devices_resolve_to_whole_disks() {
        let t = tempfile::tempdir().unwrap();
        fake_sysfs(t.path());
        let host = Host {
            proc_root: t.path().join("proc"),
            sys_root: t.path().to_path_buf(),
        };
        let r = resolved(&host, (254, 1), "/dev/vda1");
        assert_eq!(r.device.as_deref(), Some("vda1"));
        assert_eq!(names(&r), ["vda"]);
        assert_eq!(r.disks[0].via, "vda1 is a partition of vda");
        assert!(r.problem.is_none());

        let r = resolved(&host, (253, 0), "/dev/mapper/vg-data");
        assert_eq!(r.device.as_deref(), Some("dm-0"));
        assert_eq!(names(&r), ["nvme0n1", "nvme1n1"]);

        let r = resolved(&host, (7, 3), "/dev/loop3");
        assert_eq!(names(&r), ["loop3"]);
        assert_eq!(
            r.disks[0].loop_backing.as_deref(),
            Some("/var/tmp/disk.img")
        );

        // Anonymous device number (btrfs): the mount source names the device.
        let r = resolved(&host, (0, 55), "/dev/dm-0");
        assert_eq!(names(&r), ["nvme0n1", "nvme1n1"]);

        // Not a block device at all.
        let r = resolved(&host, (0, 30), "tmpfs");
        assert!(r.disks.is_empty());
        assert!(r.problem.unwrap().contains("not on a block device"));

        // A device sysfs does not know.
        let r = resolved(&host, (0, 56), "/dev/sdz1");
        assert!(r.disks.is_empty());
        assert!(r.problem.unwrap().contains("not present"));
    }
}
