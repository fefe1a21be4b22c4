//! `tuning check`: the host settings AIS's performance guide asks about, each with what was
//! found, what we recommend and why, and a status (ok / warn / unknown).
//!
//! Recommendations are ours, reasoned for this node (O_DIRECT io_uring data path, one pinned
//! reactor per core, many connections per node); each finding says why in its note. A
//! setting that cannot be read is `unknown` with the reason, never an error. A finding that
//! `tuning apply` can change carries the exact file writes (`fixes`), with the old values so
//! that apply can print how to undo them. What this module does not do: write anything.

use crate::blockdev::{self, Resolved};
use crate::host::{self, read_value, Host};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Open files a node may need: AIS asks for at least 100,000 (objects, sockets, work files).
pub const NOFILE_MIN: u64 = 100_000;
/// What the systemd units set (`LimitNOFILE=`).
pub const NOFILE_UNIT: u64 = 1_048_576;
/// Socket buffer ceiling (bytes) for 100G-class links: 128 MiB.
pub const SOCKET_BUFFER_BYTES_MAX: u64 = 128 << 20;
/// Largest read-ahead (KiB) we accept: O_DIRECT reads bypass it; more only inflates buffered
/// metadata reads (xattrs, directories).
pub const READ_AHEAD_KB_MAX: u64 = 512;
/// Read-ahead (KiB) we set when it is larger.
pub const READ_AHEAD_KB_SET: u64 = 128;
/// Requests a disk queue should hold: queue depth 32 from each of a few cores.
pub const NR_REQUESTS_MIN: u64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
        }
    }
}

/// One file write that brings a setting to its recommended value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub path: PathBuf,
    pub value: String,
    /// The value to write back to undo it (what the file showed, selection only for lists).
    pub old: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `host`, `mountpath /x`, or `disk vda`.
    pub scope: String,
    pub setting: String,
    pub found: String,
    pub recommended: String,
    pub status: Status,
    /// Why this is recommended, or why it could not be read.
    pub note: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

impl Finding {
    fn new(scope: &str, setting: &str) -> Finding {
        Finding {
            scope: scope.to_string(),
            setting: setting.to_string(),
            found: String::new(),
            recommended: String::new(),
            status: Status::Unknown,
            note: String::new(),
            fixes: Vec::new(),
        }
    }

    fn unknown(mut self, reason: String) -> Finding {
        self.found = "?".to_string();
        self.status = Status::Unknown;
        self.note = reason;
        self
    }
}

/// What a numeric setting should be.
#[derive(Debug, Clone, Copy)]
enum Want {
    AtMost(u64),
    AtLeast(u64),
    Exactly(u64),
    /// Third field of a `min default max` triple (tcp_rmem/tcp_wmem) at least this.
    MaxField(u64),
}

impl Want {
    fn recommended(self) -> String {
        match self {
            Want::AtMost(v) => format!("<= {v}"),
            Want::AtLeast(v) => format!(">= {v}"),
            Want::Exactly(v) => v.to_string(),
            Want::MaxField(v) => format!("max >= {v}"),
        }
    }

    /// Whether `found` satisfies it, and the value to write when it does not.
    fn judge(self, found: &str) -> Result<(bool, String), String> {
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("{found:?}: not a number"))
        };
        match self {
            Want::AtMost(v) => Ok((num(found)? <= v, v.to_string())),
            Want::AtLeast(v) => Ok((num(found)? >= v, v.to_string())),
            Want::Exactly(v) => Ok((num(found)? == v, v.to_string())),
            Want::MaxField(v) => {
                let f: Vec<&str> = found.split_whitespace().collect();
                if f.len() != 3 {
                    return Err(format!("{found:?}: expected min default max"));
                }
                let max = num(f[2])?;
                Ok((max >= v, format!("{} {} {v}", f[0], f[1])))
            }
        }
    }
}

/// Judges a numeric file against `want`; the fix writes the recommended value.
fn numeric(scope: &str, setting: &str, path: &Path, want: Want, why: &str) -> Finding {
    let f = Finding::new(scope, setting);
    let found = match read_value(path) {
        Ok(v) => v,
        Err(e) => return f.unknown(e),
    };
    match want.judge(&found) {
        Err(e) => f.unknown(e),
        Ok((ok, value)) => Finding {
            status: if ok { Status::Ok } else { Status::Warn },
            recommended: want.recommended(),
            note: why.to_string(),
            fixes: if ok {
                Vec::new()
            } else {
                vec![Fix {
                    path: path.to_path_buf(),
                    value,
                    old: found.split_whitespace().collect::<Vec<_>>().join(" "),
                }]
            },
            found: found.split_whitespace().collect::<Vec<_>>().join(" "),
            ..f
        },
    }
}

/// The sysctls we check: key, what it should be, why.
const SYSCTLS: &[(&str, Want, &str)] = &[
    ("vm.dirty_ratio", Want::AtMost(10), "object data bypasses the page cache (O_DIRECT); a large dirty pool only makes metadata writeback stall in bursts"),
    ("vm.dirty_background_ratio", Want::AtMost(5), "start background writeback early, so that it never blocks writers"),
    ("vm.dirty_expire_centisecs", Want::AtMost(3000), "dirty metadata older than 30 s is written back"),
    ("vm.dirty_writeback_centisecs", Want::AtMost(500), "the flusher wakes at least every 5 s"),
    ("vm.swappiness", Want::AtMost(10), "keep the node's buffers and caches in memory (AIS's own CI sets 10)"),
    ("net.core.somaxconn", Want::AtLeast(65535), "accept backlog for bursts of client and intra-cluster connections"),
    ("net.core.netdev_max_backlog", Want::AtLeast(250_000), "packets queued per CPU before drops on fast links"),
    ("net.core.rmem_max", Want::AtLeast(SOCKET_BUFFER_BYTES_MAX), "socket receive buffers large enough for high bandwidth-delay links"),
    ("net.core.wmem_max", Want::AtLeast(SOCKET_BUFFER_BYTES_MAX), "socket send buffers large enough for high bandwidth-delay links"),
    ("net.ipv4.tcp_rmem", Want::MaxField(SOCKET_BUFFER_BYTES_MAX), "TCP receive autotuning may grow to the ceiling (PUTs into targets)"),
    ("net.ipv4.tcp_wmem", Want::MaxField(SOCKET_BUFFER_BYTES_MAX), "TCP send autotuning may grow to the ceiling (GETs out of targets)"),
    ("net.ipv4.tcp_mtu_probing", Want::Exactly(2), "AIS asks for it whenever the MTU is above 1500 (jumbo frames)"),
];

/// Every host-wide finding.
pub fn host_findings(host: &Host) -> Vec<Finding> {
    let mut out: Vec<Finding> = SYSCTLS
        .iter()
        .map(|(key, want, why)| numeric("host", key, &host.sysctl_path(key), *want, why))
        .collect();
    out.push(rlimit_nofile());
    out.push(rlimit_memlock());
    out.push(transparent_hugepages(host));
    out.push(cpu_governor(host));
    out.push(io_uring_disabled(host));
    out.push(io_uring_probe(host));
    out.push(numa(host));
    out
}

fn rlimit_text(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".to_string(), |v| v.to_string())
}

fn rlimit_nofile() -> Finding {
    let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let soft = l.current;
    let ok = soft.is_none_or(|v| v >= NOFILE_MIN);
    Finding {
        found: format!("soft {} hard {}", rlimit_text(soft), rlimit_text(l.maximum)),
        recommended: format!(">= {NOFILE_MIN}"),
        status: if ok { Status::Ok } else { Status::Warn },
        note: format!("this process's limit: every object, socket and work file is a descriptor; the systemd units set LimitNOFILE={NOFILE_UNIT}, limits.conf for shells"),
        ..Finding::new("host", "RLIMIT_NOFILE")
    }
}

fn rlimit_memlock() -> Finding {
    let l = rustix::process::getrlimit(rustix::process::Resource::Memlock);
    let ok = l.current.is_none();
    Finding {
        found: format!(
            "soft {} hard {}",
            rlimit_text(l.current),
            rlimit_text(l.maximum)
        ),
        recommended: "unlimited".to_string(),
        status: if ok { Status::Ok } else { Status::Warn },
        note: "this process's limit: glommio registers (locks) its DMA buffers with io_uring; the systemd units set LimitMEMLOCK=infinity".to_string(),
        ..Finding::new("host", "RLIMIT_MEMLOCK")
    }
}

/// A sysfs choice list (`always [madvise] never`) judged against acceptable selections; the
/// fix selects the first.
fn choice(scope: &str, setting: &str, path: &Path, good: &[&str], why: &str) -> Finding {
    let f = Finding::new(scope, setting);
    let list = match read_value(path) {
        Ok(v) => v,
        Err(e) => return f.unknown(e),
    };
    let Some(sel) = host::selected_choice(&list) else {
        return f.unknown(format!("{}: {list:?}: no selection", path.display()));
    };
    let available = host::choices(&list);
    let Some(want) = good.iter().find(|g| available.contains(g)) else {
        return Finding {
            found: sel.to_string(),
            recommended: good.join(" or "),
            note: format!("none of {good:?} offered ({list}); {why}"),
            ..f.unknown(String::new())
        };
    };
    let ok = good.contains(&sel);
    Finding {
        found: sel.to_string(),
        recommended: good.join(" or "),
        status: if ok { Status::Ok } else { Status::Warn },
        note: why.to_string(),
        fixes: if ok {
            Vec::new()
        } else {
            vec![Fix {
                path: path.to_path_buf(),
                value: (*want).to_string(),
                old: sel.to_string(),
            }]
        },
        ..f
    }
}

fn transparent_hugepages(host: &Host) -> Finding {
    choice(
        "host",
        "transparent_hugepage",
        &host.sys("kernel/mm/transparent_hugepage/enabled"),
        &["madvise", "never"],
        "`always` makes khugepaged compact memory behind the node's back (latency spikes); with madvise only regions that ask get huge pages",
    )
}

fn cpu_governor(host: &Host) -> Finding {
    let f = Finding::new("host", "cpu governor");
    let dir = host.sys("devices/system/cpu");
    let mut cpus: Vec<(u32, PathBuf)> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let id = n.strip_prefix("cpu")?.parse().ok()?;
                Some((id, e.path().join("cpufreq/scaling_governor")))
            })
            .filter(|(_, p)| p.exists())
            .collect(),
        Err(e) => {
            return f.unknown(format!(
                "{}: {}",
                dir.display(),
                host::describe_io_error(&e)
            ))
        }
    };
    if cpus.is_empty() {
        return Finding {
            recommended: "performance".to_string(),
            ..f.unknown(
                "no cpufreq/scaling_governor: a VM, or frequency scaling not exposed by the driver"
                    .to_string(),
            )
        };
    }
    cpus.sort();
    let mut found: Vec<String> = Vec::new();
    let mut fixes = Vec::new();
    for (_, p) in &cpus {
        match read_value(p) {
            Ok(g) => {
                if g != "performance" {
                    fixes.push(Fix {
                        path: p.clone(),
                        value: "performance".to_string(),
                        old: g.clone(),
                    });
                }
                if !found.contains(&g) {
                    found.push(g);
                }
            }
            Err(e) => return f.unknown(e),
        }
    }
    Finding {
        found: found.join(","),
        recommended: "performance".to_string(),
        status: if fixes.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        },
        note: format!(
            "{} CPUs; AIS's guide: the performance governor (P-states) buys network throughput",
            cpus.len()
        ),
        fixes,
        ..f
    }
}

fn io_uring_disabled(host: &Host) -> Finding {
    let path = host.sysctl_path("kernel.io_uring_disabled");
    let f = Finding::new("host", "kernel.io_uring_disabled");
    match read_value(&path) {
        Err(_) if !path.exists() => Finding {
            found: "absent".to_string(),
            recommended: "0".to_string(),
            status: Status::Ok,
            note: "kernel without the switch (before 6.6): io_uring is allowed".to_string(),
            ..f
        },
        Err(e) => f.unknown(e),
        Ok(v) => {
            let mut n = numeric("host", "kernel.io_uring_disabled", &path, Want::Exactly(0), "aisnode does all disk I/O through io_uring (1: only io_uring_group may, 2: nobody)");
            n.found = v;
            n
        }
    }
}

fn io_uring_probe(host: &Host) -> Finding {
    let f = Finding::new("host", "io_uring_setup probe");
    if !host.is_real() {
        return f
            .unknown("probes the real kernel only (--procfs-root/--sysfs-root given)".to_string());
    }
    match io_uring::IoUring::new(4) {
        Ok(_) => Finding {
            found: "ring set up".to_string(),
            recommended: "ring set up".to_string(),
            status: Status::Ok,
            note: "this process could create an io_uring (as aisnode does per core)".to_string(),
            ..f
        },
        Err(e) => Finding {
            found: format!("failed: {e}"),
            recommended: "ring set up".to_string(),
            status: Status::Warn,
            note: "aisnode cannot run without io_uring (seccomp, kernel.io_uring_disabled, or an old kernel)".to_string(),
            ..f
        },
    }
}

fn numa(host: &Host) -> Finding {
    let f = Finding::new("host", "NUMA nodes");
    let dir = host.sys("devices/system/node");
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) => {
            return f.unknown(format!(
                "{}: {}",
                dir.display(),
                host::describe_io_error(&e)
            ))
        }
    };
    let mut nodes: Vec<(u32, String)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let id = n.strip_prefix("node")?.parse().ok()?;
            let cpus = read_value(&e.path().join("cpulist")).unwrap_or_else(|_| "?".into());
            Some((id, cpus))
        })
        .collect();
    nodes.sort();
    let layout = nodes
        .iter()
        .map(|(id, cpus)| match host::parse_cpu_list(cpus) {
            Some(l) => format!("node{id}: {} cpus ({cpus})", l.len()),
            None => format!("node{id}: cpus {cpus}"),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Finding {
        found: nodes.len().to_string(),
        recommended: "1, or disks and NICs local to the cores that own them".to_string(),
        status: if nodes.len() <= 1 {
            Status::Ok
        } else {
            Status::Warn
        },
        note: if nodes.len() <= 1 {
            layout
        } else {
            format!("{layout}; aisnode pins its reactors to the first --cores CPUs: check each disk's device/numa_node")
        },
        ..f
    }
}

/// Findings for the mountpaths: their file systems, then every disk under them once.
pub fn mountpath_findings(host: &Host, resolved: &[Resolved]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut disks_seen: Vec<String> = Vec::new();
    for (i, r) in resolved.iter().enumerate() {
        let scope = format!("mountpath {}", r.mountpath.display());
        let mut fs = Finding::new(&scope, "file system");
        match (&r.problem, &r.mount) {
            (Some(p), _) => fs = fs.unknown(p.clone()),
            (None, None) => fs = fs.unknown("no mount found".to_string()),
            (None, Some(m)) => {
                let disks: Vec<String> = r.disks.iter().map(|d| d.via.clone()).collect();
                fs.found = format!("{} on {}", m.fs_type, r.device.as_deref().unwrap_or("?"));
                fs.recommended = "its own file system on its own disk(s)".to_string();
                fs.status = Status::Ok;
                fs.note = disks.join("; ");
                let shared = resolved[..i]
                    .iter()
                    .find(|o| o.dev.is_some() && o.dev == r.dev);
                if let Some(o) = shared {
                    fs.status = Status::Warn;
                    fs.note = format!(
                        "same file system as {}: AIS wants one file system per mountpath",
                        o.mountpath.display()
                    );
                }
            }
        }
        out.push(fs);
        if let Some(m) = &r.mount {
            let ok = m.has_option("noatime");
            out.push(Finding {
                found: m.options.clone(),
                recommended: "noatime".to_string(),
                status: if ok { Status::Ok } else { Status::Warn },
                note: "AIS's guide: no access-time writes on reads (remount with -o noatime and put it in /etc/fstab)".to_string(),
                ..Finding::new(&scope, "mount options")
            });
        }
        for d in &r.disks {
            if disks_seen.contains(&d.name) {
                continue;
            }
            disks_seen.push(d.name.clone());
            out.extend(disk_findings(host, d));
        }
    }
    out
}

/// The queue settings of one whole disk.
pub fn disk_findings(host: &Host, d: &blockdev::Disk) -> Vec<Finding> {
    let scope = format!("disk {}", d.name);
    let q = |attr: &str| host.sys(&format!("class/block/{}/queue/{attr}", d.name));
    let mut out = Vec::new();
    let rot = read_value(&q("rotational"));
    let rotational = rot.as_deref().ok() == Some("1");
    out.push(match &rot {
        Ok(v) => Finding {
            found: v.clone(),
            recommended: "-".to_string(),
            status: Status::Ok,
            note: match &d.loop_backing {
                Some(b) => format!("{}; loop device backed by {b}", d.via),
                None => d.via.clone(),
            },
            ..Finding::new(&scope, "rotational")
        },
        Err(e) => Finding::new(&scope, "rotational").unknown(e.clone()),
    });
    let (good, why): (&[&str], &str) = if rotational {
        (
            &["mq-deadline", "bfq"],
            "a rotational disk needs a scheduler that bounds seek-induced latency",
        )
    } else {
        (&["none"], "solid state (or virtual): the device schedules better than the kernel; none costs the least CPU per I/O")
    };
    out.push(choice(&scope, "scheduler", &q("scheduler"), good, why));
    out.push(numeric(
        &scope,
        "read_ahead_kb",
        &q("read_ahead_kb"),
        Want::AtMost(READ_AHEAD_KB_MAX),
        "object reads are O_DIRECT (no read-ahead); more only inflates buffered metadata reads",
    ));
    if let Some(f) = out.last_mut() {
        for fix in &mut f.fixes {
            fix.value = READ_AHEAD_KB_SET.to_string();
        }
        if f.status == Status::Warn {
            f.recommended = format!("<= {READ_AHEAD_KB_MAX} (set {READ_AHEAD_KB_SET})");
        }
    }
    out.push(numeric(
        &scope,
        "nr_requests",
        &q("nr_requests"),
        Want::AtLeast(NR_REQUESTS_MIN),
        "room for queue depth 32 from several cores before requests wait in the block layer",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, v: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v).unwrap();
    }

    #[test]
    fn want_judges_values_at_and_past_the_limit() {
        assert_eq!(Want::AtMost(10).judge("10"), Ok((true, "10".into())));
        assert_eq!(Want::AtMost(10).judge("11"), Ok((false, "10".into())));
        assert_eq!(
            Want::AtLeast(65535).judge("65535"),
            Ok((true, "65535".into()))
        );
        assert_eq!(
            Want::AtLeast(65535).judge("4096"),
            Ok((false, "65535".into()))
        );
        assert_eq!(Want::Exactly(2).judge("0"), Ok((false, "2".into())));
        assert_eq!(
            Want::MaxField(100).judge("4096\t131072  6291456"),
            Ok((true, "4096 131072 100".into()))
        );
        assert_eq!(
            Want::MaxField(1 << 30).judge("4096 131072 6291456"),
            Ok((false, format!("4096 131072 {}", 1u64 << 30)))
        );
        assert!(Want::MaxField(1).judge("1 2").is_err());
        assert!(Want::AtMost(1).judge("lots").is_err());
    }

    #[test]
    fn host_findings_on_a_fake_tree_read_judge_and_explain_what_is_missing() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("proc");
        let s = t.path().join("sys");
        write(&p, "sys/vm/swappiness", "60\n");
        write(&p, "sys/vm/dirty_ratio", "10\n");
        write(&p, "sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        write(&p, "sys/kernel/io_uring_disabled", "2\n");
        write(
            &s,
            "kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        );
        write(
            &s,
            "devices/system/cpu/cpu0/cpufreq/scaling_governor",
            "powersave\n",
        );
        write(
            &s,
            "devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "performance\n",
        );
        write(&s, "devices/system/node/node0/cpulist", "0-1\n");
        let host = Host {
            proc_root: p.clone(),
            sys_root: s.clone(),
        };
        let fs = host_findings(&host);
        let get = |name: &str| fs.iter().find(|f| f.setting == name).unwrap();

        let sw = get("vm.swappiness");
        assert_eq!((sw.status, sw.found.as_str()), (Status::Warn, "60"));
        assert_eq!(
            sw.fixes,
            [Fix {
                path: p.join("sys/vm/swappiness"),
                value: "10".into(),
                old: "60".into()
            }]
        );
        assert_eq!(get("vm.dirty_ratio").status, Status::Ok);
        let missing = get("vm.dirty_background_ratio");
        assert_eq!(missing.status, Status::Unknown);
        assert!(missing.note.contains("not present"), "{}", missing.note);
        let rmem = get("net.ipv4.tcp_rmem");
        assert_eq!(rmem.found, "4096 131072 6291456");
        assert_eq!(
            rmem.fixes[0].value,
            format!("4096 131072 {SOCKET_BUFFER_BYTES_MAX}")
        );
        assert_eq!(get("kernel.io_uring_disabled").status, Status::Warn);
        let thp = get("transparent_hugepage");
        assert_eq!(
            (
                thp.status,
                thp.fixes[0].value.as_str(),
                thp.fixes[0].old.as_str()
            ),
            (Status::Warn, "madvise", "always")
        );
        let gov = get("cpu governor");
        assert_eq!(gov.status, Status::Warn);
        assert_eq!(gov.fixes.len(), 1, "only cpu0 needs a change");
        assert_eq!(get("NUMA nodes").status, Status::Ok);
        assert_eq!(get("io_uring_setup probe").status, Status::Unknown);
    }

    #[test]
    fn missing_cpufreq_and_io_uring_switch_are_explained() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "sys/devices/system/cpu/cpu0/online", "1");
        let host = Host {
            proc_root: t.path().join("proc"),
            sys_root: t.path().join("sys"),
        };
        let fs = host_findings(&host);
        let gov = fs.iter().find(|f| f.setting == "cpu governor").unwrap();
        assert_eq!(gov.status, Status::Unknown);
        assert!(gov.note.contains("cpufreq"));
        let iou = fs
            .iter()
            .find(|f| f.setting == "kernel.io_uring_disabled")
            .unwrap();
        assert_eq!((iou.status, iou.found.as_str()), (Status::Ok, "absent"));
        let numa = fs.iter().find(|f| f.setting == "NUMA nodes").unwrap();
        assert_eq!(numa.status, Status::Unknown);
    }

    #[test]
    fn disk_findings_recommend_by_rotational() {
        let t = tempfile::tempdir().unwrap();
        crate::blockdev::tests::fake_sysfs(t.path());
        let host = Host {
            proc_root: t.path().join("proc"),
            sys_root: t.path().to_path_buf(),
        };
        let ssd = blockdev::Disk {
            name: "vda".into(),
            via: "vda1 is a partition of vda".into(),
            loop_backing: None,
        };
        let fs = disk_findings(&host, &ssd);
        let get = |fs: &[Finding], n: &str| fs.iter().find(|f| f.setting == n).cloned().unwrap();
        assert_eq!(get(&fs, "scheduler").status, Status::Ok);
        let ra = get(&fs, "read_ahead_kb");
        assert_eq!(
            (
                ra.status,
                ra.fixes[0].value.as_str(),
                ra.fixes[0].old.as_str()
            ),
            (Status::Warn, "128", "4096")
        );
        assert_eq!(get(&fs, "nr_requests").status, Status::Warn);

        let hdd = blockdev::Disk {
            name: "loop3".into(),
            via: "loop3".into(),
            loop_backing: Some("/img".into()),
        };
        let fs = disk_findings(&host, &hdd);
        assert_eq!(
            get(&fs, "scheduler").status,
            Status::Ok,
            "mq-deadline is right for rotational"
        );
        assert!(get(&fs, "rotational").note.contains("/img"));
        assert_eq!(get(&fs, "read_ahead_kb").status, Status::Ok);
        assert_eq!(get(&fs, "nr_requests").status, Status::Ok);
    }
}
