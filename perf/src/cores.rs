//! Section 5: core scaling on a CPU-bound workload (small objects): aisnode with `--cores 1`
//! and with `--cores 2` (two mountpaths either way), same aisloader, same workers. The loader
//! shares the machine, so the report also shows how many cores each side used.

use crate::config::Config;
use crate::env::DiskCounter;
use crate::measure::{self, Endpoint, Load, Row};
use crate::node::{Node, NodeSpec};
use crate::results::Results;
use anyhow::Result;

pub fn run(cfg: &Config, res: &mut Results) -> Result<()> {
    let dir = cfg.work.join("cores");
    std::fs::create_dir_all(&dir)?;
    let disks: Vec<DiskCounter> = DiskCounter::for_path(&dir).into_iter().collect();
    let cpus = res.env.as_ref().map_or(2, |e| e.cpus);
    let mut counts = vec![1usize, 2];
    counts.retain(|&c| c <= cpus);
    if counts.len() < 2 {
        res.note(
            "cores",
            format!("only {cpus} CPU(s): 1 vs 2 cores cannot be compared"),
        );
    }
    let size = cfg.cores_size;
    let label = measure::size_label(size);
    for &cores in &counts {
        let mut node = Node::start(
            cfg,
            NodeSpec {
                name: &format!("cores-{cores}"),
                mountpaths: vec![dir.join("mp1"), dir.join("mp2")],
                cores,
                no_fsync: true,
                cgroup_procs: None,
            },
        )?;
        res.server(
            &format!("aisnode (section 5, {cores} core(s))"),
            &node.server.command,
        );
        let ep = Endpoint::Ais { port: node.port };
        let bucket = format!("cores-{cores}");
        let mut put = Row::new("cores", "aisnode", "put", size, cores);
        let mut get = Row::new("cores", "aisnode", "get", size, cores);
        for r in 0..cfg.cores_runs {
            for is_put in [true, false] {
                let s = measure::aisloader(
                    cfg,
                    &Load {
                        endpoint: &ep,
                        bucket: &bucket,
                        put: is_put,
                        size,
                        workers: cfg.workers,
                        duration_s: cfg.cores_duration_s,
                        put_cap_bytes: cfg.put_cap_bytes,
                        direct: false,
                        ramp_s: 0.0,
                    },
                    &[&node.server],
                    &disks,
                    &format!("cores-{cores}-{}-{r}", if is_put { "put" } else { "get" }),
                )?;
                measure::progress(
                    "cores",
                    &format!(
                        "{} {label} {cores} core(s) run {}/{}",
                        if is_put { "PUT" } else { "GET" },
                        r + 1,
                        cfg.cores_runs
                    ),
                    &s,
                );
                node.server.check_running()?;
                if is_put {
                    put.samples.push(s);
                } else {
                    get.samples.push(s);
                }
            }
        }
        res.rows.push(put);
        res.rows.push(get);
        node.stop_and_wipe();
    }
    res.durability
        .push(("aisnode (section 5)".into(), "`--no-fsync`".into()));
    Ok(())
}
