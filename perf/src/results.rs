//! Everything one run measured, kept in memory for the report and also written as
//! `results.json` next to the charts.

use crate::env::Environment;
use crate::measure::Row;
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub env: Option<Environment>,
    pub rows: Vec<Row>,
    /// (section, note): skipped parts and why, anomalies seen while running.
    pub notes: Vec<(String, String)>,
    /// (what, exact command) of every server started.
    pub servers: Vec<(String, String)>,
    /// (section, seconds it took).
    pub timings: Vec<(String, f64)>,
    /// (system, durability it ran with).
    pub durability: Vec<(String, String)>,
    /// Scaling section: per-disk throughput seen by /proc/diskstats, (n, op, MiB/s per disk).
    pub per_disk_mib_s: Vec<(usize, String, Vec<f64>)>,
    /// Section 4: how aisloader reached aisnode (S3 under /s3, or the native API fallback).
    pub peers_ours_api: String,
    /// Section 6: one entry per object size (the moved bytes and objects, the jobs, CPU).
    pub rebalance: Vec<crate::rebalance::RebalanceRun>,
    /// Section 6's throttle sweep (`--rebalance-workers-sweep`): one entry per workers value,
    /// 64 KiB objects; its foreground samples are rows of section "rebalance-sweep" with
    /// n = the workers value.
    pub rebalance_sweep: Vec<crate::rebalance::RebalanceRun>,
    /// Section 2: `perf record` profiles of aisnode during extra 4 KiB runs, (label, top
    /// symbols by self time as `perf report` prints them).
    pub profiles: Vec<(String, String)>,
}

impl Results {
    pub fn note(&mut self, section: &str, text: impl Into<String>) {
        let t = text.into();
        eprintln!("perf [{section}]: {t}");
        self.notes.push((section.to_owned(), t));
    }

    pub fn find(&self, section: &str, system: &str, op: &str, size: u64, n: usize) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.section == section && r.system == system && r.op == op && r.size == size && r.n == n
        })
    }

    /// Median throughput of a row, if measured.
    pub fn bps(&self, section: &str, system: &str, op: &str, size: u64, n: usize) -> Option<f64> {
        self.find(section, system, op, size, n)
            .filter(|r| !r.samples.is_empty())
            .map(Row::bps)
    }

    pub fn server(&mut self, what: &str, command: &str) {
        if !self.servers.iter().any(|(w, c)| w == what && c == command) {
            self.servers.push((what.to_owned(), command.to_owned()));
        }
    }
}
