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

/// RFC 3339 with nanoseconds, as Go marshals `time.Time`: `2006-01-02T15:04:05.999999999Z`
/// (trailing zeros of the fraction dropped).
pub fn format_rfc3339_nano(ns: i64) -> String {
    let (y, m, d, hh, mm, ss) = parts(ns);
    let frac = ns.rem_euclid(1_000_000_000);
    let f = if frac == 0 {
        String::new()
    } else {
        format!(".{frac:09}").trim_end_matches('0').to_string()
    };
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{f}Z")
}

/// Days since 1970-01-01 of a civil date (inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parse what [`format_rfc3339_nano`] writes (UTC `Z` only); `None` for the zero time.
pub fn parse_rfc3339_nano(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if y <= 1 {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut tp = hms.split(':');
    let hh: i64 = tp.next()?.parse().ok()?;
    let mm: i64 = tp.next()?.parse().ok()?;
    let ss: i64 = tp.next()?.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let secs = days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
    Some(secs * 1_000_000_000 + nanos)
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

#[cfg(test)]
mod rfc3339_tests {
    use super::*;

    #[test]
    fn rfc3339_nano_roundtrip() {
        for ns in [
            1_000_000_000i64 * 86400 * 400,
            1_763_712_000_123_456_789,
            1_763_712_000_000_000_000,
            951_782_400_500_000_000,
        ] {
            let s = format_rfc3339_nano(ns);
            assert_eq!(parse_rfc3339_nano(&s), Some(ns), "{s}");
        }
        assert_eq!(
            format_rfc3339_nano(1_763_712_000_120_000_000),
            "2025-11-21T08:00:00.12Z"
        );
        assert_eq!(parse_rfc3339_nano("0001-01-01T00:00:00Z"), None);
    }
}
