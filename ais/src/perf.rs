//! `ais show performance [--refresh 1s] [--count N]`: per-target rates from two samples of
//! each target's counters, `--refresh` apart. A sample is `GET /v1/reverse/daemon?what=
//! node_status` with `Ais-Node-Id` (through the proxy, as the AIS SDK's `get_performance`),
//! whose `tracker` maps AIS's metric names (`get.n`, `get.size`, `get.ns.total`, `put.n`,
//! ..., `err.get.n`) to integers. Missing counters count as 0; a counter that went down (a
//! restarted node) counts as no change.

use crate::api::Api;
use crate::cli::PerfArgs;
use crate::cluster::{smap, target_ids};
use crate::error::{Error, Result};
use crate::format::{duration, emit, mib_per_s, Table};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Default interval between the two samples of a report.
pub const REFRESH_DEFAULT_MS: u64 = 1000;

/// One target's counters at one moment.
pub type Counters = BTreeMap<String, i64>;

/// The counters of a `node_status` document (numbers, or numeric strings).
pub fn counters_of(status: &serde_json::Value) -> Counters {
    let mut out = Counters::new();
    for (k, v) in status["tracker"].as_object().into_iter().flatten() {
        let n = match v {
            serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            serde_json::Value::String(s) => s.parse().ok(),
            // AIS's older shape: {"kind": .., "value": n}
            serde_json::Value::Object(o) => o.get("value").and_then(serde_json::Value::as_i64),
            _ => None,
        };
        if let Some(n) = n {
            out.insert(k.clone(), n);
        }
    }
    out
}

fn delta(a: &Counters, b: &Counters, key: &str) -> u64 {
    let old = a.get(key).copied().unwrap_or(0);
    let new = b.get(key).copied().unwrap_or(0);
    u64::try_from(new.saturating_sub(old)).unwrap_or(0)
}

/// A report row: target, GET/s, GET MiB/s, GET latency, PUT/s, PUT MiB/s, PUT latency,
/// HEAD/s, DEL/s, LIST/s, ERR/s.
pub fn row(target: &str, a: &Counters, b: &Counters, secs: f64) -> Vec<String> {
    #[allow(clippy::cast_precision_loss)] // rates for display
    let rate = |n: u64| format!("{:.1}", n as f64 / secs.max(1e-9));
    let lat = |ns_key: &str, n_key: &str| {
        delta(a, b, ns_key)
            .checked_div(delta(a, b, n_key))
            .map_or_else(|| "-".to_owned(), |ns| duration(Duration::from_nanos(ns)))
    };
    #[allow(clippy::cast_precision_loss)]
    let mib = |k: &str| mib_per_s(delta(a, b, k) as f64, secs);
    let errors: u64 = b
        .keys()
        .filter(|k| k.starts_with("err.") && k.ends_with(".n"))
        .map(|k| delta(a, b, k))
        .sum();
    vec![
        target.to_owned(),
        rate(delta(a, b, "get.n")),
        mib("get.size"),
        lat("get.ns.total", "get.n"),
        rate(delta(a, b, "put.n")),
        mib("put.size"),
        lat("put.ns.total", "put.n"),
        rate(delta(a, b, "head.n")),
        rate(delta(a, b, "del.n")),
        rate(delta(a, b, "lst.n")),
        rate(errors),
    ]
}

const HEADER: [&str; 11] = [
    "TARGET",
    "GET/s",
    "GET MiB/s",
    "GET LAT",
    "PUT/s",
    "PUT MiB/s",
    "PUT LAT",
    "HEAD/s",
    "DEL/s",
    "LIST/s",
    "ERR/s",
];

/// Every target's counters, or why a target did not answer.
async fn sample(
    api: &mut Api,
    ids: &[String],
) -> Result<Vec<std::result::Result<Counters, String>>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match api
            .get_json(
                "/v1/reverse/daemon?what=node_status",
                &[("Ais-Node-Id", id)],
            )
            .await
        {
            Ok(v) => out.push(Ok(counters_of(&v))),
            Err(Error::Unreachable { url, reason }) if url == api.url => {
                return Err(Error::Unreachable { url, reason })
            }
            Err(e) => out.push(Err(e.to_string())),
        }
    }
    Ok(out)
}

/// `ais show performance`
pub async fn show(api: &mut Api, a: &PerfArgs) -> Result<()> {
    let refresh = a
        .refresh
        .unwrap_or(Duration::from_millis(REFRESH_DEFAULT_MS));
    let count = a
        .count
        .unwrap_or(if a.refresh.is_some() { u64::MAX } else { 1 });
    let ids = target_ids(&smap(api).await?);
    if ids.is_empty() {
        return Err(Error::Failed("the cluster has no targets".to_owned()));
    }
    let mut prev = sample(api, &ids).await?;
    let mut at = Instant::now();
    for i in 0..count {
        glommio::timer::sleep(refresh).await;
        let cur = sample(api, &ids).await?;
        let now = Instant::now();
        let secs = (now - at).as_secs_f64();
        let mut t = Table::new(&HEADER);
        for ((id, p), c) in ids.iter().zip(&prev).zip(&cur) {
            match (p, c) {
                (Ok(p), Ok(c)) => t.row(row(id, p, c, secs)),
                (_, Err(e)) | (Err(e), _) => {
                    let mut r = vec![id.clone(), format!("unavailable: {e}")];
                    r.resize(HEADER.len(), String::new());
                    t.row(r);
                }
            }
        }
        let mut out = String::new();
        if i > 0 {
            out.push('\n');
        }
        if !a.no_headers {
            out.push_str(&format!(
                "performance over {}, {} target(s)\n",
                duration(now - at),
                ids.len()
            ));
        }
        out.push_str(&t.render(!a.no_headers));
        emit(&out)?;
        prev = cur;
        at = now;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rates_from_two_samples_missing_keys_are_zero() {
        let a = counters_of(
            &json!({"tracker": {"get.n": 10, "get.size": 0, "get.ns.total": 0, "err.get.n": 1}}),
        );
        let b = counters_of(&json!({"tracker": {
            "get.n": 30, "get.size": 20 * 1024 * 1024, "get.ns.total": 20_000_000,
            "put.n": "4", "put.ns.total": 8_000_000, "err.get.n": 3, "err.put.n": 1,
            "ec.encode.n": 5
        }}));
        let r = row("t1", &a, &b, 2.0);
        assert_eq!(
            r,
            ["t1", "10.0", "10.00", "1ms", "2.0", "0.00", "2ms", "0.0", "0.0", "0.0", "1.5"]
        );
        // A restarted node (counters went down) is no change, not a negative rate.
        let r = row("t1", &b, &a, 1.0);
        assert_eq!(r[1], "0.0");
        assert_eq!(r[3], "-");
        assert!(counters_of(&json!({})).is_empty());
    }
}
