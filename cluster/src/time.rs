//! Time formatting the AIS API uses: Go's `2006-01-02 15:04:05` and RFC822 (`02 Jan 06 15:04 MST`),
//! always in UTC, and base-36 unix nanoseconds for redirect `utm`.

pub fn now_unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// (year, month 1..12, day 1..31) from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn parts(ns: i64) -> (i64, u32, u32, i64, i64, i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// `2006-01-02 15:04:05`
pub fn format_go_datetime(ns: i64) -> String {
    let (y, m, d, hh, mm, ss) = parts(ns);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC822 as Go formats it: `02 Jan 06 15:04 UTC`.
pub fn format_rfc822(ns: i64) -> String {
    let (y, m, d, hh, mm, _) = parts(ns);
    format!(
        "{d:02} {} {:02} {hh:02}:{mm:02} UTC",
        MONTHS[(m - 1) as usize],
        y.rem_euclid(100)
    )
}

pub fn base36(mut v: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if v == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while v > 0 {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2021-07-30 17:12:26 UTC
        let ns = 1_627_665_146 * 1_000_000_000;
        assert_eq!(format_go_datetime(ns), "2021-07-30 17:12:26");
        assert_eq!(format_rfc822(ns), "30 Jul 21 17:12 UTC");
        assert_eq!(format_go_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(
            format_go_datetime(951_782_400 * 1_000_000_000),
            "2000-02-29 00:00:00"
        );
    }

    #[test]
    fn base36_matches_go_strconv() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(1_700_000_000_000_000_000), "cwyvpelgpse8");
    }
}
