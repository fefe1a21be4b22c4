//! `tuning propose`: a node configuration from the host's CPUs, its mountpaths' disks and,
//! optionally, measurements: the core count, the order of `--mountpath` flags (which is the
//! mountpath-to-core assignment), the rebalance throttle, and the aisnode arguments.
//!
//! aisnode has no flag that assigns a mountpath to a core: it gives the i-th `--mountpath`
//! (in flag order) to core `i % cores` (`cluster/src/node/mpset.rs`, `init_set`). So the
//! proposal picks the core count and orders the flags so that
//! - every core owns one set of mountpaths (no core without a mountpath), and
//! - mountpaths that share a disk are owned by one core (a disk's queue has one owner).
//!
//! When the round-robin cannot give every disk to one core at a core count, fewer cores are
//! proposed. What this module does not do: read the host (the caller resolves mountpaths and
//! counts CPUs) or write files.

use crate::measure::{Cell, Op};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// aisnode's default `--rebalance-workers` (`cluster::meta::config::REBALANCE_WORKERS_DEFAULT`).
pub const REBALANCE_WORKERS_MIN: usize = 4;
/// Upper bound we propose (aisnode accepts up to 1024).
pub const REBALANCE_WORKERS_MAX: usize = 256;
/// Requests in flight per disk assumed when nothing was measured.
pub const QUEUE_DEPTH_UNMEASURED: usize = 2;
/// A queue depth saturates a disk when it reaches this share of the best throughput measured.
pub const SATURATION_PERCENT: f64 = 90.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    All,
    Proxy,
    Target,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Proxy => "proxy",
            Role::Target => "target",
        }
    }
}

/// One mountpath and the disk (or disks) it lives on.
#[derive(Debug, Clone)]
pub struct MountpathDisk {
    pub mountpath: PathBuf,
    /// Names the disks (`vda`, `nvme0n1+nvme1n1`); mountpaths with equal keys share disks.
    /// An unresolved mountpath gets its own path as the key.
    pub disk_key: String,
}

#[derive(Debug, Clone)]
pub struct Input {
    pub role: Role,
    pub host: String,
    pub port: u16,
    pub primary_url: Option<String>,
    pub data_dir: PathBuf,
    pub mountpaths: Vec<MountpathDisk>,
    /// CPUs this process may run on.
    pub cpus: usize,
    pub measured: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub mountpath: PathBuf,
    pub disk: String,
    pub core: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proposal {
    pub role: Role,
    pub cores: usize,
    pub cpus: usize,
    /// In `--mountpath` order.
    pub assignment: Vec<Assignment>,
    pub rebalance_workers: Option<usize>,
    /// Requests in flight that saturate each disk (1 MiB reads), where measured.
    pub queue_depth_per_disk: BTreeMap<String, usize>,
    pub notes: Vec<String>,
    /// aisnode's arguments, exactly.
    pub args: Vec<String>,
}

/// Characters an argument may not contain: it travels through a systemd EnvironmentFile and
/// `$AISNODE_ARGS` word splitting, which has no quoting.
fn check_arg(a: &str) -> Result<(), String> {
    if a.is_empty()
        || a.chars()
            .any(|c| c.is_whitespace() || "\"'\\$%`;".contains(c))
    {
        return Err(format!("{a:?}: empty, or has whitespace, a quote, \\, $, %, ` or ; (it must survive an EnvironmentFile and word splitting)"));
    }
    Ok(())
}

/// Mountpaths per core under round-robin: core k gets ceil((n - k) / cores).
fn round_robin_counts(n: usize, cores: usize) -> Vec<usize> {
    (0..cores).map(|k| (n - k).div_ceil(cores)).collect()
}

/// Packs groups (sizes, largest first) into bins of exactly `counts`; the bin of each group.
fn pack(sizes: &[usize], counts: &[usize]) -> Option<Vec<usize>> {
    fn go(i: usize, sizes: &[usize], left: &mut [usize], out: &mut Vec<usize>) -> bool {
        if i == sizes.len() {
            return left.iter().all(|&l| l == 0);
        }
        let mut tried: Vec<usize> = Vec::new();
        for b in 0..left.len() {
            // Bins with equal room left are interchangeable: try one of them.
            if left[b] < sizes[i] || tried.contains(&left[b]) {
                continue;
            }
            tried.push(left[b]);
            left[b] -= sizes[i];
            out.push(b);
            if go(i + 1, sizes, left, out) {
                return true;
            }
            out.pop();
            left[b] += sizes[i];
        }
        false
    }
    let mut left = counts.to_vec();
    let mut out = Vec::new();
    go(0, sizes, &mut left, &mut out).then_some(out)
}

/// The core count and the `--mountpath` order (with each one's core).
fn assign(mps: &[MountpathDisk], cpus: usize, notes: &mut Vec<String>) -> (usize, Vec<Assignment>) {
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for m in mps {
        match groups.iter_mut().find(|(k, _)| *k == m.disk_key) {
            Some((_, v)) => v.push(m.mountpath.clone()),
            None => groups.push((m.disk_key.clone(), vec![m.mountpath.clone()])),
        }
    }
    // Largest first (stable: equal sizes keep flag order).
    groups.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let sizes: Vec<usize> = groups.iter().map(|(_, v)| v.len()).collect();
    let n = mps.len();
    let most = cpus.min(groups.len()).max(1);
    for cores in (1..=most).rev() {
        let counts = round_robin_counts(n, cores);
        let Some(bins) = pack(&sizes, &counts) else {
            continue;
        };
        if cores < most {
            notes.push(format!("{most} cores would split a disk's mountpaths across cores under aisnode's round-robin (mountpath i -> core i % cores); proposing {cores}"));
        }
        let mut per_core: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); cores];
        for (g, &b) in groups.iter().zip(&bins) {
            per_core[b].extend(g.1.iter().map(|p| (g.0.clone(), p.clone())));
        }
        // Bins were filled to the round-robin counts, so position p takes the next
        // mountpath of core p % cores.
        let mut next = vec![0usize; cores];
        let order = (0..n)
            .map(|p| {
                let core = p % cores;
                let (disk, mountpath) = per_core[core][next[core]].clone();
                next[core] += 1;
                Assignment {
                    mountpath,
                    disk,
                    core,
                }
            })
            .collect();
        return (cores, order);
    }
    unreachable!("one core always packs: its count is n")
}

/// The smallest measured queue depth whose 1 MiB read throughput is within
/// [`SATURATION_PERCENT`] of the best one of that mountpath.
pub fn saturating_queue_depth(cells: &[Cell], mountpath: &std::path::Path) -> Option<usize> {
    let reads: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.mountpath == mountpath && c.op == Op::Read && c.bs_bytes == 1 << 20)
        .collect();
    let best = reads.iter().map(|c| c.mib_s).fold(0.0, f64::max);
    let mut qds: Vec<&&Cell> = reads
        .iter()
        .filter(|c| c.mib_s >= best * SATURATION_PERCENT / 100.0)
        .collect();
    qds.sort_by_key(|c| c.qd);
    qds.first().map(|c| c.qd)
}

pub fn propose(inp: &Input) -> Result<Proposal, String> {
    let mut notes = Vec::new();
    if inp.cpus == 0 {
        return Err("no CPUs available".to_string());
    }
    let (cores, assignment) = match inp.role {
        Role::Proxy => {
            if !inp.mountpaths.is_empty() {
                return Err("--role proxy: a proxy stores no data; give no --mountpath".to_string());
            }
            notes.push("proxy: no mountpaths; every CPU serves the API".to_string());
            (inp.cpus, Vec::new())
        }
        Role::All | Role::Target => {
            if inp.mountpaths.is_empty() {
                return Err(format!(
                    "--role {}: give at least one --mountpath",
                    inp.role.as_str()
                ));
            }
            let (cores, a) = assign(&inp.mountpaths, inp.cpus, &mut notes);
            notes.push(format!(
                "aisnode has no flag to assign a mountpath to a core: it gives the i-th --mountpath to core i % --cores, so the flags are ordered to yield this assignment (one mountpath set per core{})",
                if cores < inp.cpus { format!("; {} of {} CPUs left for the kernel and other work", inp.cpus - cores, inp.cpus) } else { String::new() }
            ));
            (cores, a)
        }
    };
    if inp.role == Role::Target && inp.primary_url.is_none() {
        return Err("--role target: give --primary-url (the primary proxy to join)".to_string());
    }
    if inp.role == Role::All && inp.primary_url.is_some() {
        return Err("--role all is a whole cluster in one process: no --primary-url".to_string());
    }
    // Requests in flight per disk: measured, or assumed.
    let mut queue_depth_per_disk = BTreeMap::new();
    for a in &assignment {
        if let Some(qd) = saturating_queue_depth(&inp.measured, &a.mountpath) {
            let e = queue_depth_per_disk.entry(a.disk.clone()).or_insert(qd);
            *e = (*e).max(qd);
        }
    }
    let rebalance_workers = (inp.role != Role::Proxy).then(|| {
        let disks: std::collections::BTreeSet<&str> =
            assignment.iter().map(|a| a.disk.as_str()).collect();
        let sum: usize = disks
            .iter()
            .map(|d| {
                queue_depth_per_disk
                    .get(*d)
                    .copied()
                    .unwrap_or(QUEUE_DEPTH_UNMEASURED)
            })
            .sum();
        sum.clamp(REBALANCE_WORKERS_MIN, REBALANCE_WORKERS_MAX)
    });
    if queue_depth_per_disk.is_empty() && inp.role != Role::Proxy {
        notes.push(format!("not measured: rebalance workers assume {QUEUE_DEPTH_UNMEASURED} requests in flight per disk (--measure measures it)"));
    } else if !queue_depth_per_disk.is_empty() {
        notes.push("queue depth per disk: aisnode has no flag for it; it bounds the reads in flight worth issuing per GET, and sums into --rebalance-workers".to_string());
    }
    let mut args: Vec<String> = vec![
        "--role".into(),
        inp.role.as_str().into(),
        "--host".into(),
        inp.host.clone(),
        "--port".into(),
        inp.port.to_string(),
        "--data-dir".into(),
        inp.data_dir.to_string_lossy().into_owned(),
        "--cores".into(),
        cores.to_string(),
    ];
    if let Some(u) = &inp.primary_url {
        args.extend(["--primary-url".into(), u.clone()]);
    }
    for a in &assignment {
        args.extend([
            "--mountpath".into(),
            a.mountpath.to_string_lossy().into_owned(),
        ]);
    }
    if let Some(w) = rebalance_workers {
        args.extend(["--rebalance-workers".into(), w.to_string()]);
    }
    for a in &args {
        check_arg(a)?;
    }
    Ok(Proposal {
        role: inp.role,
        cores,
        cpus: inp.cpus,
        assignment,
        rebalance_workers,
        queue_depth_per_disk,
        notes,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(path: &str, disk: &str) -> MountpathDisk {
        MountpathDisk {
            mountpath: PathBuf::from(path),
            disk_key: disk.into(),
        }
    }

    fn input(mps: Vec<MountpathDisk>, cpus: usize) -> Input {
        Input {
            role: Role::All,
            host: "127.0.0.1".into(),
            port: 8080,
            primary_url: None,
            data_dir: PathBuf::from("/var/lib/ais/all"),
            mountpaths: mps,
            cpus,
            measured: Vec::new(),
        }
    }

    /// Replays aisnode's rule (i-th --mountpath -> core i % cores) on the proposed args.
    fn aisnode_cores(p: &Proposal) -> Vec<(String, usize)> {
        let mps: Vec<&String> = p
            .args
            .windows(2)
            .filter(|w| w[0] == "--mountpath")
            .map(|w| &w[1])
            .collect();
        mps.iter()
            .enumerate()
            .map(|(i, m)| ((*m).clone(), i % p.cores))
            .collect()
    }

    fn check_consistent(p: &Proposal) {
        let replay = aisnode_cores(p);
        let mine: Vec<(String, usize)> = p
            .assignment
            .iter()
            .map(|a| (a.mountpath.to_string_lossy().into_owned(), a.core))
            .collect();
        assert_eq!(replay, mine, "aisnode would assign what the proposal says");
        for a in &p.assignment {
            for b in &p.assignment {
                if a.disk == b.disk {
                    assert_eq!(a.core, b.core, "{a:?} and {b:?} share a disk");
                }
            }
        }
        for c in 0..p.cores {
            assert!(
                p.assignment.iter().any(|a| a.core == c),
                "core {c} owns a mountpath"
            );
        }
    }

    #[test]
    fn one_mountpath_per_disk_gets_one_core_each_up_to_the_cpus() {
        let p = propose(&input(vec![mp("/a", "vda"), mp("/b", "vdb")], 8)).unwrap();
        assert_eq!(p.cores, 2);
        check_consistent(&p);
        let p = propose(&input(
            (0..5)
                .map(|i| mp(&format!("/m{i}"), &format!("d{i}")))
                .collect(),
            2,
        ))
        .unwrap();
        assert_eq!(p.cores, 2);
        check_consistent(&p);
        assert_eq!(p.rebalance_workers, Some(10), "5 disks x 2 assumed");
    }

    #[test]
    fn mountpaths_sharing_a_disk_stay_on_one_core() {
        // vda has two mountpaths: with 2 cores the order must put them at positions 0 and 2.
        let p = propose(&input(
            vec![mp("/a1", "vda"), mp("/b", "vdb"), mp("/a2", "vda")],
            4,
        ))
        .unwrap();
        assert_eq!(p.cores, 2);
        check_consistent(&p);
        // 3 on one disk, 1 on another: round-robin over 2 cores gives 2+2, never 3+1.
        let p = propose(&input(
            vec![
                mp("/a1", "x"),
                mp("/a2", "x"),
                mp("/a3", "x"),
                mp("/b", "y"),
            ],
            4,
        ))
        .unwrap();
        assert_eq!(p.cores, 1);
        check_consistent(&p);
        assert!(p.notes.iter().any(|n| n.contains("proposing 1")));
    }

    #[test]
    fn pack_finds_exact_partitions_or_none() {
        assert_eq!(round_robin_counts(5, 2), [3, 2]);
        assert_eq!(round_robin_counts(4, 4), [1, 1, 1, 1]);
        assert!(pack(&[3, 1], &[2, 2]).is_none());
        let bins = pack(&[2, 2, 1, 1], &[3, 3]).unwrap();
        let mut load = [0, 0];
        for (s, b) in [2, 2, 1, 1].iter().zip(&bins) {
            load[*b] += s;
        }
        assert_eq!(load, [3, 3]);
    }

    #[test]
    fn measured_queue_depth_drives_rebalance_workers() {
        let cell = |qd: usize, mib_s: f64| Cell {
            mountpath: PathBuf::from("/a"),
            op: Op::Read,
            bs_bytes: 1 << 20,
            qd,
            ios: 1,
            seconds: 1.0,
            mib_s,
            iops: 1.0,
        };
        let mut inp = input(vec![mp("/a", "vda")], 2);
        inp.measured = vec![cell(1, 100.0), cell(16, 950.0), cell(32, 1000.0)];
        let p = propose(&inp).unwrap();
        assert_eq!(p.queue_depth_per_disk.get("vda"), Some(&16));
        assert_eq!(p.rebalance_workers, Some(16));
        assert_eq!(p.cores, 1);
    }

    #[test]
    fn roles_and_arguments_are_validated() {
        let mut inp = input(vec![], 4);
        assert!(propose(&inp).is_err(), "all without mountpaths");
        inp.role = Role::Proxy;
        let p = propose(&inp).unwrap();
        assert_eq!((p.cores, p.rebalance_workers), (4, None));
        inp.role = Role::Target;
        inp.mountpaths = vec![mp("/a", "vda")];
        assert!(propose(&inp).unwrap_err().contains("--primary-url"));
        inp.primary_url = Some("http://10.0.0.1:8080".into());
        let p = propose(&inp).unwrap();
        assert!(p
            .args
            .windows(2)
            .any(|w| w == ["--primary-url", "http://10.0.0.1:8080"]));
        inp.mountpaths = vec![mp("/a b", "vda")];
        assert!(propose(&inp).unwrap_err().contains("whitespace"));
        inp.mountpaths = vec![mp("/a$HOME", "vda")];
        assert!(propose(&inp).is_err());
    }
}
