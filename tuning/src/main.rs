//! `tuning`: host discovery and tuning for aisnode (DESIGN.md §2): `check` reads the host
//! settings AIS's performance guide cares about, `measure` measures the mountpaths' disks
//! with O_DIRECT io_uring I/O, `propose` writes a node configuration (aisnode arguments,
//! systemd unit, EnvironmentFile), `apply` changes host settings only with `--yes`, and
//! `install-units` installs a proposal as systemd services.
//!
//! Nothing depends on this crate; it reads `/proc` and `/sys` (or stand-ins given with
//! `--procfs-root`/`--sysfs-root`) and, except for `apply --yes` and `install-units --yes`,
//! changes nothing on the host.

mod apply;
mod blockdev;
mod check;
mod host;
mod measure;
mod mountinfo;
mod propose;
mod units;

use anyhow::{bail, Context, Result};
use check::Finding;
use clap::{Parser, Subcommand};
use host::Host;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tuning",
    version,
    about = "Host checks, disk measurements, node proposals and systemd units for aisnode"
)]
struct Cli {
    /// Read (and, with `apply --yes`, write) /proc under this directory instead.
    #[arg(long, global = true, default_value = "/proc")]
    procfs_root: PathBuf,
    /// Read (and, with `apply --yes`, write) /sys under this directory instead.
    #[arg(long, global = true, default_value = "/sys")]
    sysfs_root: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Check host settings and each mountpath's disks: setting, found, recommended, status.
    Check {
        /// Mountpath whose file system and disks to check (repeatable).
        #[arg(long = "mountpath")]
        mountpaths: Vec<PathBuf>,
    },
    /// Measure each mountpath's disk: O_DIRECT random reads and writes at 4K/64K/1M and
    /// queue depths 1/16/32, on a temporary file inside the mountpath.
    Measure {
        #[arg(long = "mountpath", required = true)]
        mountpaths: Vec<PathBuf>,
        /// Temporary file size (K, M, G suffixes).
        #[arg(long, default_value = "256M", value_parser = measure::parse_size)]
        size: u64,
        /// Seconds per (op, block size, queue depth) cell; 18 cells per mountpath.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Propose a node configuration and write aisnode's EnvironmentFile, the systemd unit and
    /// a drop-in into --out.
    Propose {
        #[arg(long = "mountpath")]
        mountpaths: Vec<PathBuf>,
        /// Measure the disks first (queue depth per disk feeds --rebalance-workers).
        #[arg(long)]
        measure: bool,
        /// With --measure: temporary file size.
        #[arg(long, default_value = "64M", value_parser = measure::parse_size)]
        size: u64,
        /// With --measure: seconds per cell.
        #[arg(long, default_value_t = 0.5)]
        seconds: f64,
        /// Directory to write into (created).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "target", value_parser = ["all", "proxy", "target"])]
        role: String,
        /// Address aisnode listens on and advertises.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Primary proxy URL (for --role target, and a proxy that joins).
        #[arg(long)]
        primary_url: Option<String>,
        /// aisnode --data-dir (default: /var/lib/ais/<role>, the unit's state directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// aisnode binary the rendered unit starts.
        #[arg(long, default_value = units::AISNODE_BIN_INSTALLED)]
        aisnode_bin: PathBuf,
        /// CPUs to plan for (default: those this process may run on).
        #[arg(long)]
        cpus: Option<usize>,
    },
    /// Apply the recommended host settings that `check` finds off (runtime only). Without
    /// --yes: print what would change.
    Apply {
        #[arg(long = "mountpath")]
        mountpaths: Vec<PathBuf>,
        /// Really write the settings.
        #[arg(long)]
        yes: bool,
    },
    /// Install a proposal directory (from `propose --out`) as systemd services: the `ais`
    /// user, the binary, the unit, the EnvironmentFile, mountpath ownership, daemon-reload.
    /// Without --yes: print the commands.
    InstallUnits {
        /// Directory written by `tuning propose --out`.
        #[arg(long)]
        from: PathBuf,
        /// aisnode binary to install as /usr/local/bin/aisnode.
        #[arg(long, default_value = "target/release/aisnode")]
        aisnode_bin: PathBuf,
        #[arg(long)]
        yes: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("tuning: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let host = Host {
        proc_root: cli.procfs_root,
        sys_root: cli.sysfs_root,
    };
    match cli.cmd {
        Cmd::Check { mountpaths } => {
            let fs = findings(&host, &mountpaths);
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&fs)?);
            } else {
                print!("{}", table(&fs));
            }
            Ok(0)
        }
        Cmd::Measure {
            mountpaths,
            size,
            seconds,
        } => {
            let cells = measure_all(&mountpaths, size, seconds, !cli.json)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&cells)?);
            }
            Ok(0)
        }
        Cmd::Propose {
            mountpaths,
            measure,
            size,
            seconds,
            out,
            role,
            host: listen,
            port,
            primary_url,
            data_dir,
            aisnode_bin,
            cpus,
        } => {
            let role = match role.as_str() {
                "all" => propose::Role::All,
                "proxy" => propose::Role::Proxy,
                _ => propose::Role::Target,
            };
            let mut mps = Vec::new();
            for m in &mountpaths {
                let r = blockdev::resolve(&host, m);
                if !r.mountpath.is_dir() {
                    bail!("--mountpath {}: not a directory", m.display());
                }
                let key = if r.disks.is_empty() {
                    eprintln!(
                        "tuning: {}: disk unknown ({}); it counts as a disk of its own",
                        m.display(),
                        r.problem.as_deref().unwrap_or("?")
                    );
                    r.mountpath.to_string_lossy().into_owned()
                } else {
                    r.disks
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                };
                mps.push(propose::MountpathDisk {
                    mountpath: r.mountpath,
                    disk_key: key,
                });
            }
            let measured = if measure {
                let paths: Vec<PathBuf> = mps.iter().map(|m| m.mountpath.clone()).collect();
                measure_all(&paths, size, seconds, !cli.json)?
            } else {
                Vec::new()
            };
            let cpus = match cpus {
                Some(c) => c,
                None => std::thread::available_parallelism()
                    .context("available CPUs")?
                    .get(),
            };
            let inp = propose::Input {
                role,
                host: listen,
                port,
                primary_url,
                data_dir: data_dir
                    .unwrap_or_else(|| PathBuf::from(format!("/var/lib/ais/{}", role.as_str()))),
                mountpaths: mps,
                cpus,
                measured,
            };
            let p = propose::propose(&inp).map_err(anyhow::Error::msg)?;
            let written = units::write_all(&out, &p, &aisnode_bin)
                .with_context(|| format!("--out {}", out.display()))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&p)?);
                return Ok(0);
            }
            println!(
                "proposal for aisnode@{} ({} of {} CPUs as cores):",
                p.role.as_str(),
                p.cores,
                p.cpus
            );
            for a in &p.assignment {
                println!(
                    "  core {}: {} (disk {})",
                    a.core,
                    a.mountpath.display(),
                    a.disk
                );
            }
            for (d, qd) in &p.queue_depth_per_disk {
                println!("  disk {d}: saturated at queue depth {qd} (1 MiB reads)");
            }
            for n in &p.notes {
                println!("  note: {n}");
            }
            println!("aisnode {}", p.args.join(" "));
            println!("wrote:");
            for w in written {
                println!("  {}", w.display());
            }
            println!(
                "install: tuning install-units --from {} [--yes]",
                out.display()
            );
            Ok(0)
        }
        Cmd::Apply { mountpaths, yes } => {
            let fs = findings(&host, &mountpaths);
            let changes = apply::apply(&fs, yes);
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&changes)?);
            } else {
                print!("{}", apply::describe(&changes, yes));
            }
            Ok(i32::from(changes.iter().any(|c| c.error.is_some())))
        }
        Cmd::InstallUnits {
            from,
            aisnode_bin,
            yes,
        } => {
            let text = std::fs::read(from.join("proposal.json")).with_context(|| {
                format!(
                    "{}: run `tuning propose --out` first",
                    from.join("proposal.json").display()
                )
            })?;
            let p: propose::Proposal = serde_json::from_slice(&text).with_context(|| {
                format!("{}: not a proposal", from.join("proposal.json").display())
            })?;
            let steps = units::install_steps(&from, &p, &aisnode_bin);
            for s in &steps {
                if !yes {
                    println!("{s}");
                    continue;
                }
                println!("+ {s}");
                let st = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(s)
                    .status()
                    .with_context(|| format!("sh -c {s:?}"))?;
                if !st.success() {
                    bail!("{s}: {st}");
                }
            }
            let start = format!("systemctl enable --now aisnode@{}", p.role.as_str());
            if yes {
                println!("installed; start with: {start}");
            } else {
                println!(
                    "# then: {start}\n# dry run: nothing changed; --yes runs the commands above"
                );
            }
            Ok(0)
        }
    }
}

/// Host findings, then the mountpaths' file systems and disks.
fn findings(host: &Host, mountpaths: &[PathBuf]) -> Vec<Finding> {
    let mut fs = check::host_findings(host);
    let resolved: Vec<blockdev::Resolved> = mountpaths
        .iter()
        .map(|m| blockdev::resolve(host, m))
        .collect();
    fs.extend(check::mountpath_findings(host, &resolved));
    fs
}

fn measure_all(
    mountpaths: &[PathBuf],
    size: u64,
    seconds: f64,
    print: bool,
) -> Result<Vec<measure::Cell>> {
    if !(seconds > 0.0 && seconds <= 600.0) {
        bail!("--seconds {seconds}: between 0 and 600");
    }
    let opts = measure::Opts {
        size_bytes: size,
        seconds_per_cell: seconds,
    };
    let mut all = Vec::new();
    if print {
        println!(
            "{:<28} {:>5} {:>6} {:>3} {:>10} {:>10}",
            "mountpath", "op", "bs", "qd", "MiB/s", "IOPS"
        );
    }
    for m in mountpaths {
        let cells = measure::measure(m, &opts, &mut |c| {
            if print {
                println!(
                    "{:<28} {:>5} {:>6} {:>3} {:>10.1} {:>10.0}",
                    c.mountpath.display(),
                    match c.op {
                        measure::Op::Read => "read",
                        measure::Op::Write => "write",
                    },
                    format!("{}K", c.bs_bytes >> 10),
                    c.qd,
                    c.mib_s,
                    c.iops
                );
            }
        })
        .with_context(|| format!("measure {}", m.display()))?;
        all.extend(cells);
    }
    Ok(all)
}

/// The findings as an aligned table; the note goes last, unpadded.
fn table(fs: &[Finding]) -> String {
    let rows: Vec<[String; 6]> = std::iter::once(
        ["SCOPE", "SETTING", "FOUND", "RECOMMENDED", "STATUS", "NOTE"].map(String::from),
    )
    .chain(fs.iter().map(|f| {
        [
            f.scope.clone(),
            f.setting.clone(),
            f.found.clone(),
            f.recommended.clone(),
            f.status.as_str().to_string(),
            f.note.clone(),
        ]
    }))
    .collect();
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in &rows {
        for (w, c) in widths.iter().zip(r.iter()) {
            s.push_str(&format!("{c:<w$}  "));
        }
        s.push_str(&r[5]);
        s.push('\n');
    }
    s
}
