//! Text formats of AIS aisloader's output: Go's `time.Duration.String()`, the stats table
//! cells (comma-separated counts, IEC sizes with 1 decimal, throughput with 2 decimals, latency
//! truncated to 3 fractional digits), Go `tabwriter` alignment of the flag listing, and the
//! local wall-clock `15:04:05` stamp.
//!
//! Everything here is pure except [`local_hms`], which asks libc for the local time zone.

use std::time::{SystemTime, UNIX_EPOCH};

/// Go's `time.Duration(ns).String()`: `0s`, `7ns`, `755.308µs`, `4.399ms`, `1.5s`, `1m0s`,
/// `1h2m3.000000004s` (fraction without trailing zeros, micro sign U+00B5).
pub fn go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".to_owned(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "\u{00b5}s"),
            _ => (6, "ms"),
        };
        push_frac(&mut out, u, prec);
        out.push_str(unit);
        return out;
    }
    let secs_total = u / 1_000_000_000;
    let frac = u % 1_000_000_000;
    let h = secs_total / 3600;
    let m = secs_total / 60 % 60;
    let s = secs_total % 60;
    if h > 0 {
        out.push_str(&h.to_string());
        out.push('h');
    }
    if h > 0 || m > 0 {
        out.push_str(&m.to_string());
        out.push('m');
    }
    push_frac(&mut out, s * 1_000_000_000 + frac, 9);
    out.push('s');
    out
}

/// Write `v / 10^prec` with the fraction's trailing zeros (and a bare point) omitted.
fn push_frac(out: &mut String, v: u64, prec: u32) {
    let p = 10u64.pow(prec);
    out.push_str(&(v / p).to_string());
    let mut frac = v % p;
    if frac == 0 {
        return;
    }
    let mut digits = prec as usize;
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    out.push('.');
    out.push_str(&format!("{frac:0digits$}"));
}

/// AIS `prettyDuration`: the Go duration string with at most 3 fractional digits (truncated).
pub fn pretty_duration(ns: i64) -> String {
    let d = go_duration(ns);
    let Some(dot) = d.find('.') else {
        return d;
    };
    let mut out = String::with_capacity(d.len());
    out.push_str(&d[..=dot]);
    for (j, c) in d[dot + 1..].chars().enumerate() {
        if !c.is_ascii_digit() || j < 3 {
            out.push(c);
        }
    }
    out
}

/// Three latencies, each left-aligned in 11 columns (AIS `prettyLatency`).
pub fn pretty_latency(min_ns: i64, avg_ns: i64, max_ns: i64) -> String {
    format!(
        "{:<11}{:<11}{:<11}",
        pretty_duration(min_ns),
        pretty_duration(avg_ns),
        pretty_duration(max_ns)
    )
}

/// `1,234,567`.
pub fn pretty_number(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// AIS `cos.ToSizeIEC(b, digits)`: `512B`, `1.0KiB`, `412.6MiB` (computed in f32 like Go).
pub fn iec(b: u64, digits: usize) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (unit, name) in UNITS {
        if b >= unit {
            return format!("{:.*}{name}", digits, b as f32 / unit as f32);
        }
    }
    format!("{b}B")
}

/// Sizes in the stats table: `-` for 0.
pub fn pretty_bytes(b: u64) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        iec(b, 1)
    }
}

/// Throughput in the stats table: `-` for 0, else 2 decimals and `/s`.
pub fn pretty_speed(bytes_per_sec: u64) -> String {
    if bytes_per_sec == 0 {
        "-".to_owned()
    } else {
        format!("{}/s", iec(bytes_per_sec, 2))
    }
}

/// One stats row with AIS's layout `%-10s%-6s%-22s\t%-22s\t%-36s\t%-22s\t%-10s\n`.
pub fn stats_row(cols: [&str; 7]) -> String {
    format!(
        "{:<10}{:<6}{:<22}\t{:<22}\t{:<36}\t{:<22}\t{:<10}\n",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]
    )
}

/// The stats header row.
pub fn stats_header() -> String {
    stats_row([
        "Time",
        "OP",
        "Count",
        "Size (Total)",
        "Latency (min, avg, max)",
        "Throughput (Avg)",
        "Errors (Total)",
    ])
}

/// Go `text/tabwriter` output for `tabwriter.NewWriter(w, 0, 8, 1, '\t', 0)` where each line is
/// either one cell or `name\tvalue`: consecutive two-cell lines form a block whose first column
/// is padded with tabs to the block's widest cell plus one, rounded up to a multiple of 8.
pub fn tabwriter(lines: &[(String, Option<String>)]) -> String {
    const TAB_WIDTH: usize = 8;
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].1.is_none() {
            out.push_str(&lines[i].0);
            out.push('\n');
            i += 1;
            continue;
        }
        let block_end = lines[i..]
            .iter()
            .position(|l| l.1.is_none())
            .map_or(lines.len(), |p| i + p);
        let width = lines[i..block_end]
            .iter()
            .map(|l| l.0.chars().count())
            .max()
            .unwrap_or(0)
            + 1;
        let cell = width.div_ceil(TAB_WIDTH) * TAB_WIDTH;
        for (name, value) in &lines[i..block_end] {
            let pad = cell - name.chars().count();
            out.push_str(name);
            for _ in 0..pad.div_ceil(TAB_WIDTH) {
                out.push('\t');
            }
            out.push_str(value.as_deref().unwrap_or(""));
            out.push('\n');
        }
        i = block_end;
    }
    out
}

/// Local wall-clock time as `15:04:05`.
pub fn local_hms(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let local = secs + utc_offset_secs(secs);
    let day_secs = local.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

#[allow(unsafe_code)]
fn utc_offset_secs(unix_secs: i64) -> i64 {
    let t: libc::time_t = unix_secs as libc::time_t;
    // SAFETY: `tm` is plain old data for which all-zero bytes are a valid value; localtime_r
    // only writes into it and reads `t`, both valid for the duration of the call, and it is the
    // thread-safe variant (no shared static buffer).
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_100, "1.1µs"),
            (755_308, "755.308µs"),
            (4_399_000, "4.399ms"),
            (4_399_123, "4.399123ms"),
            (1_000_000_000, "1s"),
            (1_234_000_000, "1.234s"),
            (60_000_000_000, "1m0s"),
            (90_500_000_000, "1m30.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_004, "1h2m3.000000004s"),
            (-1_500_000_000, "-1.5s"),
            (600_000_000_000, "10m0s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(*ns), *want, "{ns}");
        }
    }

    #[test]
    fn latency_truncated_to_three_fraction_digits() {
        assert_eq!(pretty_duration(4_399_123), "4.399ms");
        assert_eq!(pretty_duration(755_308_999), "755.308ms");
        assert_eq!(pretty_duration(755_308), "755.308µs");
        assert_eq!(pretty_duration(1_234_567_890), "1.234s");
        assert_eq!(pretty_duration(61_234_567_890), "1m1.234s");
        assert_eq!(pretty_duration(0), "0s");
        assert_eq!(pretty_duration(42), "42ns");
        assert_eq!(
            pretty_latency(755_308, 4_399_000, 1_234_000_000),
            "755.308µs  4.399ms    1.234s     "
        );
    }

    #[test]
    fn counts_sizes_speeds() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (6602, "6,602"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(pretty_number(n), want);
        }
        assert_eq!(pretty_bytes(0), "-");
        assert_eq!(pretty_bytes(512), "512B");
        assert_eq!(pretty_bytes(1024), "1.0KiB");
        assert_eq!(pretty_bytes(432_640_819), "412.6MiB");
        assert_eq!(pretty_bytes(1_288_490_189), "1.2GiB");
        assert_eq!(pretty_bytes(3 << 40), "3.0TiB");
        assert_eq!(pretty_speed(0), "-");
        assert_eq!(pretty_speed(43_263_918), "41.26MiB/s");
        assert_eq!(pretty_speed(100), "100B/s");
    }

    #[test]
    fn stats_row_layout_matches_ais() {
        let header = stats_header();
        assert_eq!(
            header,
            "Time      OP    Count                 \tSize (Total)          \tLatency (min, avg, max)             \tThroughput (Avg)      \tErrors (Total)\n"
        );
        let row = stats_row([
            "14:16:45",
            "GET",
            "6,602 (6,602 3 0)",
            "412.6MiB (412.6MiB)",
            &pretty_latency(4_399_000, 6_030_123, 22_278_000),
            "41.26MiB/s (41.26MiB/s)",
            "-",
        ]);
        assert!(row.starts_with("14:16:45  GET   6,602 (6,602 3 0)     \t412.6MiB (412.6MiB)   \t4.399ms    6.030ms    22.278ms   "));
        assert!(row.ends_with("\t41.26MiB/s (41.26MiB/s)\t-         \n"));
    }

    #[test]
    fn tabwriter_pads_with_tabs_per_block() {
        let lines = vec![
            ("== A ==".to_owned(), None),
            ("ip:".to_owned(), Some("localhost".to_owned())),
            ("numworkers:".to_owned(), Some("10".to_owned())),
            ("== B ==".to_owned(), None),
            ("a:".to_owned(), Some("1".to_owned())),
        ];
        assert_eq!(
            tabwriter(&lines),
            "== A ==\nip:\t\tlocalhost\nnumworkers:\t10\n== B ==\na:\t1\n"
        );
    }
}
