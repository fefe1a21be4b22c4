//! Starting an aisnode for a section: fresh data directory and mountpaths, free ports, optional
//! cgroup (joined before exec, so every thread is in it from the start), readiness by polling
//! the proxy port and every per-core target port.

use crate::config::Config;
use crate::proc::{self, Server};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long aisnode may take to listen.
const NODE_READY_TIMEOUT_S: u64 = 30;

pub const S3_ACCESS_KEY: &str = "AKIAPERFHARNESS00001";
pub const S3_SECRET_KEY: &str = "perf-harness-secret-key-0000000000000000";

pub struct NodeSpec<'a> {
    pub name: &'a str,
    pub mountpaths: Vec<PathBuf>,
    pub cores: usize,
    pub no_fsync: bool,
    /// `cgroup.procs` of a group to run in.
    pub cgroup_procs: Option<&'a Path>,
}

pub struct Node {
    pub server: Server,
    pub port: u16,
    pub data_dir: PathBuf,
    pub mountpaths: Vec<PathBuf>,
}

impl Node {
    pub fn start(cfg: &Config, spec: NodeSpec) -> Result<Node> {
        let base = cfg.work.join(spec.name);
        let data_dir = base.join("data");
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir)?;
        for mp in &spec.mountpaths {
            std::fs::create_dir_all(mp)
                .with_context(|| format!("create mountpath {}", mp.display()))?;
        }
        let port = proc::free_port_run(cfg.port_base, 1 + spec.cores as u16)?;
        let bin = cfg.bin.join("aisnode");
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--core-port-base".into(),
            (port + 1).to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--cores".into(),
            spec.cores.to_string(),
            "--s3-access-key".into(),
            S3_ACCESS_KEY.into(),
            "--s3-secret-key".into(),
            S3_SECRET_KEY.into(),
        ];
        for mp in &spec.mountpaths {
            args.push("--mountpath".into());
            args.push(mp.display().to_string());
        }
        if spec.no_fsync {
            args.push("--no-fsync".into());
        }
        let cmd = match spec.cgroup_procs {
            None => {
                let mut c = Command::new(&bin);
                c.args(&args);
                c
            }
            Some(procs) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(r#"echo $$ > "$0" && exec "$@""#)
                    .arg(procs)
                    .arg(&bin)
                    .args(&args);
                c
            }
        };
        std::fs::create_dir_all(cfg.work.join("logs"))?;
        let log = cfg.work.join(format!("logs/{}.log", spec.name));
        let mut server = Server::spawn(&format!("aisnode ({})", spec.name), cmd, &log)?;
        for p in port..=port + spec.cores as u16 {
            server.wait_port(p, Duration::from_secs(NODE_READY_TIMEOUT_S))?;
        }
        Ok(Node {
            server,
            port,
            data_dir,
            mountpaths: spec.mountpaths,
        })
    }

    pub fn s3_url(&self) -> String {
        format!("http://127.0.0.1:{}/s3", self.port)
    }

    /// Stop the node and remove its data and mountpath contents.
    pub fn stop_and_wipe(self) {
        let Node {
            server,
            data_dir,
            mountpaths,
            ..
        } = self;
        drop(server);
        let _ = std::fs::remove_dir_all(&data_dir);
        for mp in &mountpaths {
            let _ = std::fs::remove_dir_all(mp);
        }
    }
}
