//! Measurements: per-core counters the stats printer reads while the run goes on, per-core
//! hdrhistograms merged at the end, error counts by kind, and the reports built from them (AIS
//! table rows, percentile block, machine-readable JSON).
//!
//! Each core owns its `CoreCounters` (single writer, relaxed atomics; the printer only reads,
//! except that it swaps the interval min/max back to their neutral values). Histograms and error
//! maps never cross threads until the core has finished.

use crate::format::{
    pretty_bytes, pretty_duration, pretty_latency, pretty_number, pretty_speed, stats_row,
};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Highest latency the histograms track (longer ones are recorded as this): one hour.
pub const LATENCY_NS_MAX: u64 = 3_600 * 1_000_000_000;
/// hdrhistogram precision: values within 0.1%.
pub const HISTOGRAM_SIGFIG: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Put = 0,
    Get = 1,
}

pub const OPS: [Op; 2] = [Op::Put, Op::Get];

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Put => "PUT",
            Op::Get => "GET",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
        }
    }
}

/// Live counters of one op type on one core.
#[repr(align(64))]
#[derive(Debug)]
pub struct OpCounters {
    count: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    lat_sum_ns: AtomicU64,
    /// Since the printer last took them.
    interval_min_ns: AtomicU64,
    interval_max_ns: AtomicU64,
    pending: AtomicU64,
}

impl Default for OpCounters {
    fn default() -> Self {
        OpCounters {
            count: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lat_sum_ns: AtomicU64::new(0),
            interval_min_ns: AtomicU64::new(u64::MAX),
            interval_max_ns: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }
}

/// Cumulative counts at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snap {
    pub count: u64,
    pub bytes: u64,
    pub errors: u64,
    pub lat_sum_ns: u64,
}

impl Snap {
    pub fn add(&mut self, o: &Snap) {
        self.count += o.count;
        self.bytes += o.bytes;
        self.errors += o.errors;
        self.lat_sum_ns += o.lat_sum_ns;
    }

    pub fn since(&self, earlier: &Snap) -> Snap {
        Snap {
            count: self.count.saturating_sub(earlier.count),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            errors: self.errors.saturating_sub(earlier.errors),
            lat_sum_ns: self.lat_sum_ns.saturating_sub(earlier.lat_sum_ns),
        }
    }

    pub fn avg_ns(&self) -> u64 {
        self.lat_sum_ns.checked_div(self.count).unwrap_or(0)
    }
}

impl OpCounters {
    pub fn begin(&self) {
        self.pending.fetch_add(1, Relaxed);
    }

    pub fn end_ok(&self, bytes: u64, latency_ns: u64) {
        self.pending.fetch_sub(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.lat_sum_ns.fetch_add(latency_ns, Relaxed);
        self.interval_min_ns.fetch_min(latency_ns, Relaxed);
        self.interval_max_ns.fetch_max(latency_ns, Relaxed);
    }

    pub fn end_err(&self) {
        self.pending.fetch_sub(1, Relaxed);
        self.errors.fetch_add(1, Relaxed);
    }

    pub fn snap(&self) -> Snap {
        Snap {
            count: self.count.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            errors: self.errors.load(Relaxed),
            lat_sum_ns: self.lat_sum_ns.load(Relaxed),
        }
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// Interval min and max latency, resetting both for the next interval.
    pub fn take_min_max(&self) -> (u64, u64) {
        (
            self.interval_min_ns.swap(u64::MAX, Relaxed),
            self.interval_max_ns.swap(0, Relaxed),
        )
    }
}

/// Counters of one core, shared with the stats printer.
#[derive(Debug, Default)]
pub struct CoreCounters {
    pub ops: [OpCounters; 2],
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, HISTOGRAM_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// What one core measured, handed back when it finishes.
#[derive(Debug, Clone)]
pub struct CoreResult {
    pub latency: [Histogram<u64>; 2],
    pub ttfb_get: Histogram<u64>,
    /// Exact min/max latency of successful ops.
    pub min_ns: [u64; 2],
    pub max_ns: [u64; 2],
    pub totals: [Snap; 2],
    /// (op, kind) -> count.
    pub errors: BTreeMap<(Op, String), u64>,
    /// First message seen per (op, kind), for diagnostics.
    pub first_error: BTreeMap<(Op, String), String>,
}

impl Default for CoreResult {
    fn default() -> Self {
        CoreResult {
            latency: [new_histogram(), new_histogram()],
            ttfb_get: new_histogram(),
            min_ns: [u64::MAX; 2],
            max_ns: [0; 2],
            totals: [Snap::default(); 2],
            errors: BTreeMap::new(),
            first_error: BTreeMap::new(),
        }
    }
}

impl CoreResult {
    pub fn record_ok(&mut self, op: Op, bytes: u64, latency_ns: u64, ttfb_ns: Option<u64>) {
        let i = op as usize;
        self.latency[i].saturating_record(latency_ns.max(1));
        if let Some(t) = ttfb_ns {
            self.ttfb_get.saturating_record(t.max(1));
        }
        self.min_ns[i] = self.min_ns[i].min(latency_ns);
        self.max_ns[i] = self.max_ns[i].max(latency_ns);
        let t = &mut self.totals[i];
        t.count += 1;
        t.bytes += bytes;
        t.lat_sum_ns += latency_ns;
    }

    /// Count an error of `kind`; returns true the first time this (op, kind) is seen here.
    pub fn record_err(&mut self, op: Op, kind: &str, message: impl FnOnce() -> String) -> bool {
        self.totals[op as usize].errors += 1;
        if let Some(n) = self.errors.get_mut(&(op, kind.to_owned())) {
            *n += 1;
            return false;
        }
        self.errors.insert((op, kind.to_owned()), 1);
        self.first_error.insert((op, kind.to_owned()), message());
        true
    }

    pub fn merge(&mut self, o: &CoreResult) {
        for i in 0..2 {
            self.latency[i]
                .add(&o.latency[i])
                .expect("histograms share bounds");
            self.min_ns[i] = self.min_ns[i].min(o.min_ns[i]);
            self.max_ns[i] = self.max_ns[i].max(o.max_ns[i]);
            self.totals[i].add(&o.totals[i]);
        }
        self.ttfb_get
            .add(&o.ttfb_get)
            .expect("histograms share bounds");
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &o.first_error {
            self.first_error
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
}

/// Percentiles of one histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary {
            count: 0,
            min: 0,
            mean: 0.0,
            p50: 0,
            p90: 0,
            p99: 0,
            p999: 0,
            max: 0,
        };
    }
    LatencySummary {
        count: h.len(),
        min: h.min(),
        mean: h.mean(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

fn throughput(bytes: u64, secs: f64) -> u64 {
    if secs <= 0.0 {
        0
    } else {
        (bytes as f64 / secs) as u64
    }
}

/// One periodic row (AIS `writeHumanReadibleIntervalStats`).
pub struct IntervalRow<'a> {
    pub hms: &'a str,
    pub op: Op,
    pub interval: Snap,
    pub total: Snap,
    pub interval_min_ns: u64,
    pub interval_max_ns: u64,
    pub pending: u64,
    pub queued: u64,
    pub interval_secs: f64,
    pub total_secs: f64,
}

impl IntervalRow<'_> {
    /// `None` when the op had no successful request in the interval (AIS prints no row then).
    pub fn render(&self) -> Option<String> {
        if self.interval.count == 0 {
            return None;
        }
        let errs = if self.total.errors == 0 {
            "-".to_owned()
        } else {
            format!(
                "{} ({})",
                pretty_number(self.interval.errors),
                pretty_number(self.total.errors)
            )
        };
        Some(stats_row([
            self.hms,
            self.op.label(),
            &format!(
                "{} ({} {} {})",
                pretty_number(self.interval.count),
                pretty_number(self.total.count),
                pretty_number(self.pending),
                pretty_number(self.queued)
            ),
            &format!(
                "{} ({})",
                pretty_bytes(self.interval.bytes),
                pretty_bytes(self.total.bytes)
            ),
            &pretty_latency(
                self.interval_min_ns as i64,
                self.interval.avg_ns() as i64,
                self.interval_max_ns as i64,
            ),
            &format!(
                "{} ({})",
                pretty_speed(throughput(self.interval.bytes, self.interval_secs)),
                pretty_speed(throughput(self.total.bytes, self.total_secs))
            ),
            &errs,
        ]))
    }
}

/// The final summary of a run.
#[derive(Debug, Clone)]
pub struct Report {
    pub duration_ns: u64,
    /// The steady window (`-ramp` to the deadline) of a run with a duration.
    pub steady: Option<Steady>,
    pub result: CoreResult,
    /// Loader process CPU seconds (user, system), if known.
    pub cpu_secs: Option<(f64, f64)>,
    /// Open-loop target rate (requests/s), 0 for closed loop.
    pub rate: f64,
    pub workers: u64,
    pub cores: u64,
}

/// What completed between the end of the ramp and the deadline (seconds from the start).
#[derive(Debug, Clone, Copy)]
pub struct Steady {
    pub from_s: f64,
    pub to_s: f64,
    /// Indexed by `Op as usize`.
    pub ops: [Snap; 2],
}

impl Report {
    fn secs(&self) -> f64 {
        self.duration_ns as f64 / 1e9
    }

    /// The AIS final rows (no header), rows only for ops with count > 0.
    pub fn final_rows(&self, hms: &str) -> String {
        let mut out = String::new();
        for op in OPS {
            let i = op as usize;
            let t = &self.result.totals[i];
            if t.count == 0 {
                continue;
            }
            out.push_str(&stats_row([
                hms,
                op.label(),
                &pretty_number(t.count),
                &pretty_bytes(t.bytes),
                &pretty_latency(
                    self.result.min_ns[i] as i64,
                    t.avg_ns() as i64,
                    self.result.max_ns[i] as i64,
                ),
                &pretty_speed(throughput(t.bytes, self.secs())),
                &pretty_number(t.errors),
            ]));
        }
        out
    }

    /// Percentiles, errors by kind and loader CPU: what AIS does not print.
    pub fn extras(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "\nLatency percentiles (hdrhistogram, {HISTOGRAM_SIGFIG} significant digits{}):\n",
            if self.rate > 0.0 {
                ", open loop: measured from the intended send time"
            } else {
                ""
            }
        ));
        out.push_str(&format!(
            "{:<9}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}\n",
            "OP", "Count", "p50", "p90", "p99", "p99.9", "max", "ops/s"
        ));
        let mut line = |label: &str, s: &LatencySummary, ops_per_s: Option<f64>| {
            out.push_str(&format!(
                "{:<9}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}\n",
                label,
                pretty_number(s.count),
                pretty_duration(s.p50 as i64),
                pretty_duration(s.p90 as i64),
                pretty_duration(s.p99 as i64),
                pretty_duration(s.p999 as i64),
                pretty_duration(s.max as i64),
                ops_per_s.map_or("-".to_owned(), |r| format!("{r:.1}")),
            ));
        };
        let mut any = false;
        for op in OPS {
            let s = summarize(&self.result.latency[op as usize]);
            if s.count > 0 {
                any = true;
                line(op.label(), &s, Some(s.count as f64 / self.secs().max(1e-9)));
            }
        }
        let ttfb = summarize(&self.result.ttfb_get);
        if ttfb.count > 0 {
            line("GET-TTFB", &ttfb, None);
        }
        if !any {
            out.push_str("(no successful requests)\n");
        }
        if self.result.errors.is_empty() {
            out.push_str("Errors: none\n");
        } else {
            out.push_str("Errors by kind:\n");
            for ((op, kind), n) in &self.result.errors {
                let first = self
                    .result
                    .first_error
                    .get(&(*op, kind.clone()))
                    .map_or("", String::as_str);
                out.push_str(&format!(
                    "  {:<5}{:<16}{:>12}   first: {first}\n",
                    op.label(),
                    kind,
                    pretty_number(*n)
                ));
            }
        }
        if let Some((user, sys)) = self.cpu_secs {
            out.push_str(&format!(
                "Loader CPU: {user:.2}s user + {sys:.2}s sys in {:.2}s = {:.1}% of one core ({} core(s), {} workers)\n",
                self.secs(),
                100.0 * (user + sys) / self.secs().max(1e-9),
                self.cores,
                self.workers,
            ));
        }
        out
    }

    /// Machine-readable summary (the `-json FILE` output).
    pub fn to_json(&self) -> serde_json::Value {
        let us = |ns: u64| ns as f64 / 1e3;
        let pct = |s: &LatencySummary| {
            serde_json::json!({
                "count": s.count,
                "min": us(s.min), "mean": s.mean / 1e3, "p50": us(s.p50), "p90": us(s.p90),
                "p99": us(s.p99), "p999": us(s.p999), "max": us(s.max),
            })
        };
        let secs = self.secs();
        let mut ops = serde_json::Map::new();
        for op in OPS {
            let i = op as usize;
            let t = &self.result.totals[i];
            let mut errors = serde_json::Map::new();
            for ((o, kind), n) in &self.result.errors {
                if *o == op {
                    errors.insert(kind.clone(), (*n).into());
                }
            }
            let mut v = serde_json::json!({
                "ops": t.count,
                "bytes": t.bytes,
                "errors": t.errors,
                "errors_by_kind": errors,
                "ops_per_s": if secs > 0.0 { t.count as f64 / secs } else { 0.0 },
                "throughput_bytes_per_s": if secs > 0.0 { t.bytes as f64 / secs } else { 0.0 },
                "latency_us": pct(&summarize(&self.result.latency[i])),
            });
            if op == Op::Get {
                v["ttfb_us"] = pct(&summarize(&self.result.ttfb_get));
            }
            if let Some(st) = &self.steady {
                let w = &st.ops[i];
                let span = st.to_s - st.from_s;
                let per_s = |x: u64| if span > 0.0 { x as f64 / span } else { 0.0 };
                v["steady"] = serde_json::json!({
                    "from_s": st.from_s,
                    "to_s": st.to_s,
                    "ops": w.count,
                    "bytes": w.bytes,
                    "errors": w.errors,
                    "ops_per_s": per_s(w.count),
                    "throughput_bytes_per_s": per_s(w.bytes),
                });
            }
            ops.insert(op.key().to_owned(), v);
        }
        let mut errors = serde_json::Map::new();
        for ((_, kind), n) in &self.result.errors {
            let e = errors
                .entry(kind.clone())
                .or_insert(serde_json::Value::from(0u64));
            *e = (e.as_u64().unwrap_or(0) + n).into();
        }
        let mut top = serde_json::json!({
            "duration_ns": self.duration_ns,
            "duration_s": secs,
            "mode": if self.rate > 0.0 { "open" } else { "closed" },
            "rate": self.rate,
            "workers": self.workers,
            "cores": self.cores,
            "errors": errors,
            "errors_total": self.result.totals.iter().map(|t| t.errors).sum::<u64>(),
        });
        for (k, v) in ops {
            top[k] = v;
        }
        if let Some((user, sys)) = self.cpu_secs {
            top["loader_cpu_s"] = serde_json::json!({"user": user, "system": sys});
        }
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(got: u64, want: u64) -> bool {
        // 3 significant digits: relative error at most 1/1000 (plus bucket rounding).
        let tol = (want as f64 * 0.002).max(1.0);
        (got as f64 - want as f64).abs() <= tol
    }

    #[test]
    fn percentiles_of_known_latencies() {
        let mut r = CoreResult::default();
        // 1..=1000 microseconds, once each.
        for us in 1..=1000u64 {
            r.record_ok(Op::Get, 10, us * 1000, Some(us * 500));
        }
        let s = summarize(&r.latency[Op::Get as usize]);
        assert_eq!(s.count, 1000);
        assert!(within(s.p50, 500_000), "p50 {}", s.p50);
        assert!(within(s.p90, 900_000), "p90 {}", s.p90);
        assert!(within(s.p99, 990_000), "p99 {}", s.p99);
        assert!(within(s.p999, 999_000), "p99.9 {}", s.p999);
        assert!(within(s.max, 1_000_000), "max {}", s.max);
        assert!(within(s.min, 1_000));
        assert!((s.mean - 500_500.0).abs() < 1_000.0);
        let t = summarize(&r.ttfb_get);
        assert!(within(t.p50, 250_000));
        assert_eq!((r.min_ns[1], r.max_ns[1]), (1_000, 1_000_000));
        assert_eq!(r.totals[1].avg_ns(), 500_500);
        // Merging two cores adds counts; percentiles of identical halves do not move.
        let mut m = CoreResult::default();
        m.merge(&r);
        m.merge(&r);
        let s2 = summarize(&m.latency[1]);
        assert_eq!(s2.count, 2000);
        assert_eq!(s2.p99, s.p99);
        // Beyond the tracked range saturates instead of failing.
        m.record_ok(Op::Put, 1, LATENCY_NS_MAX * 10, None);
        assert!(summarize(&m.latency[0]).max >= LATENCY_NS_MAX);
    }

    #[test]
    fn errors_are_counted_by_kind_with_first_message() {
        let mut r = CoreResult::default();
        assert!(r.record_err(Op::Get, "http-404", || "first".into()));
        assert!(!r.record_err(Op::Get, "http-404", || "second".into()));
        assert!(r.record_err(Op::Put, "connect", || "refused".into()));
        assert_eq!(r.errors[&(Op::Get, "http-404".to_owned())], 2);
        assert_eq!(r.first_error[&(Op::Get, "http-404".to_owned())], "first");
        assert_eq!(r.totals[Op::Get as usize].errors, 2);
        let rep = Report {
            steady: None,
            duration_ns: 2_000_000_000,
            result: r,
            cpu_secs: None,
            rate: 0.0,
            workers: 1,
            cores: 1,
        };
        let j = rep.to_json();
        assert_eq!(j["errors"]["http-404"], 2);
        assert_eq!(j["get"]["errors_by_kind"]["http-404"], 2);
        assert_eq!(j["put"]["errors"], 1);
        assert_eq!(j["errors_total"], 3);
        assert!(rep.extras().contains("http-404"));
    }

    #[test]
    fn interval_and_final_rows() {
        let row = IntervalRow {
            hms: "14:16:45",
            op: Op::Get,
            interval: Snap {
                count: 6602,
                bytes: 432_640_819,
                errors: 0,
                lat_sum_ns: 6602 * 6_030_123,
            },
            total: Snap {
                count: 6602,
                bytes: 432_640_819,
                errors: 0,
                lat_sum_ns: 0,
            },
            interval_min_ns: 4_399_000,
            interval_max_ns: 22_278_000,
            pending: 3,
            queued: 0,
            interval_secs: 10.0,
            total_secs: 10.0,
        };
        let s = row.render().unwrap();
        assert_eq!(
            s,
            "14:16:45  GET   6,602 (6,602 3 0)     \t412.6MiB (412.6MiB)   \t4.399ms    6.030ms    22.278ms      \t41.26MiB/s (41.26MiB/s)\t-         \n"
        );
        let idle = IntervalRow {
            interval: Snap::default(),
            ..row
        };
        assert!(idle.render().is_none());
        let with_errs = IntervalRow {
            interval: Snap {
                errors: 2,
                ..row.interval
            },
            total: Snap {
                errors: 5,
                ..row.total
            },
            ..row
        };
        assert!(with_errs.render().unwrap().ends_with("\t2 (5)     \n"));

        let mut r = CoreResult::default();
        r.record_ok(Op::Put, 1024, 755_308, None);
        r.record_ok(Op::Put, 1024, 1_234_000_000, None);
        let rep = Report {
            steady: None,
            duration_ns: 2_000_000_000,
            result: r,
            cpu_secs: Some((0.5, 0.25)),
            rate: 0.0,
            workers: 2,
            cores: 1,
        };
        let rows = rep.final_rows("10:00:00");
        assert_eq!(
            rows,
            "10:00:00  PUT   2                     \t2.0KiB                \t755.308µs  617.377ms  1.234s        \t1.00KiB/s             \t0         \n"
        );
        assert!(rep.extras().contains("37.5% of one core"));
        let j = rep.to_json();
        assert_eq!(j["put"]["ops"], 2);
        assert_eq!(j["put"]["throughput_bytes_per_s"], 1024.0);
        assert_eq!(j["get"]["ops"], 0);
    }
}
