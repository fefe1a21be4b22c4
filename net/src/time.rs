//! Timestamps on plain Unix time (UTC, no leap seconds): the one implementation of the
//! workspace (the AIS API in `cluster`, S3 in [`crate::s3`], `aisloader`).
//!
//! AIS API, as Go formats `time.Time` in UTC:
//! * `2006-01-02 15:04:05` ([`format_go_datetime`]), e.g. a node's creation time.
//! * RFC 3339 with nanoseconds, `2006-01-02T15:04:05.999999999Z` with the fraction's trailing
//!   zeros dropped ([`format_rfc3339_nano`], [`parse_rfc3339_nano`]), e.g. job start and end.
//! * RFC 822, `02 Jan 06 15:04 UTC` ([`format_rfc822`]), e.g. an object's atime in listings.
//! * Base 36 of an unsigned integer, like Go's `strconv.FormatUint(v, 36)` ([`base36`]), e.g.
//!   the redirect `utm` stamp.
//!
//! S3 and HTTP:
//! * ISO 8601 with milliseconds, `2013-05-24T00:00:00.000Z`, for `LastModified`, `Initiated` and
//!   `CreationDate` in XML bodies ([`format_iso8601_millis`]).
//! * SigV4 basic format, `20130524T000000Z`, for `x-amz-date` / `X-Amz-Date`
//!   ([`format_amz_date`], [`parse_amz_date`], [`parse_scope_date`]).
//! * RFC 9110 (formerly 7231) HTTP-date, `Fri, 24 May 2013 00:00:00 GMT`, for `Last-Modified`,
//!   `Date`, `If-Modified-Since` and `If-Unmodified-Since` ([`format_http_date`],
//!   [`parse_http_date`], which also accepts the obsolete RFC 850 and asctime forms as RFC 9110
//!   requires of recipients); [`with_http_date_now`] gives the current one for `Date`, formatted
//!   at most once per second per thread.
//!
//! Underneath: the proleptic Gregorian calendar on day counts ([`days_from_civil`],
//! [`civil_from_days`], after Howard Hinnant), no time-zone database. Only [`now_unix_ns`] and
//! [`with_http_date_now`] read the clock. Parsers return `None` on anything malformed or out of
//! range (month, day of month, hour, minute, second); they never panic.

use std::cell::RefCell;

/// Seconds in a day.
const SECS_PER_DAY: i64 = 86_400;
/// Nanoseconds in a second.
const NANOS_PER_SEC: i64 = 1_000_000_000;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const WEEKDAYS_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day` (negative before).
/// `month` is 1..=12 and `day` 1..=31; other values are not checked (the arithmetic
/// extrapolates). Exact for any year within ±10^15.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01 (before it if negative): (year,
/// month 1..=12, day 1..=31). Inverse of [`days_from_civil`]; exact for |days| < 10^17.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn civil_from_unix(unix_secs: i64) -> (Civil, usize) {
    let days = unix_secs.div_euclid(SECS_PER_DAY);
    let secs_of_day = unix_secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let civil = Civil {
        year,
        month,
        day,
        hour: (secs_of_day / 3600) as u32,
        minute: (secs_of_day / 60 % 60) as u32,
        second: (secs_of_day % 60) as u32,
    };
    (civil, weekday)
}

/// Unix seconds of a validated broken-down time, or `None` if a field is out of range.
fn unix_from_civil(c: Civil) -> Option<i64> {
    if !(1..=12).contains(&c.month)
        || c.day == 0
        || c.day > days_in_month(c.year, c.month)
        || c.hour > 23
        || c.minute > 59
        || c.second > 59
    {
        return None;
    }
    let days = days_from_civil(c.year, c.month, c.day);
    Some(
        days * SECS_PER_DAY
            + i64::from(c.hour) * 3600
            + i64::from(c.minute) * 60
            + i64::from(c.second),
    )
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Go's `2006-01-02 15:04:05` of nanoseconds since the epoch (the fraction truncated).
pub fn format_go_datetime(unix_nanos: i64) -> String {
    let (c, _) = civil_from_unix(unix_nanos.div_euclid(NANOS_PER_SEC));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// RFC 3339 with nanoseconds as Go marshals a UTC `time.Time` (layout `RFC3339Nano`):
/// `2006-01-02T15:04:05.999999999Z`, the fraction's trailing zeros dropped and no fraction at
/// all on a whole second.
pub fn format_rfc3339_nano(unix_nanos: i64) -> String {
    let (c, _) = civil_from_unix(unix_nanos.div_euclid(NANOS_PER_SEC));
    let frac = unix_nanos.rem_euclid(NANOS_PER_SEC);
    let f = if frac == 0 {
        String::new()
    } else {
        format!(".{frac:09}").trim_end_matches('0').to_owned()
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{f}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parse what [`format_rfc3339_nano`] writes (UTC `Z` only, 0 to 9 fraction digits) to
/// nanoseconds since the epoch. `None` for Go's zero time (year 1 and earlier), for a field out
/// of range (as Go's `time.Parse` refuses them) and for instants `i64` nanoseconds cannot hold
/// (before 1677 or after 2262).
pub fn parse_rfc3339_nano(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut dp = date.split('-');
    let year: i64 = dp.next()?.parse().ok()?;
    let month: u32 = dp.next()?.parse().ok()?;
    let day: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || year <= 1 || year > 9999 {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.split(':');
    let hour: u32 = tp.next()?.parse().ok()?;
    let minute: u32 = tp.next()?.parse().ok()?;
    let second: u32 = tp.next()?.parse().ok()?;
    if tp.next().is_some() {
        return None;
    }
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let secs = unix_from_civil(Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })?;
    i64::try_from(i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos)).ok()
}

/// RFC 822 as Go formats a UTC time (layout `RFC822`): `02 Jan 06 15:04 UTC`.
pub fn format_rfc822(unix_nanos: i64) -> String {
    let (c, _) = civil_from_unix(unix_nanos.div_euclid(NANOS_PER_SEC));
    format!(
        "{:02} {} {:02} {:02}:{:02} UTC",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year.rem_euclid(100),
        c.hour,
        c.minute
    )
}

/// `v` in base 36 with lowercase digits, as Go's `strconv.FormatUint(v, 36)`.
pub fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if v == 0 {
        return "0".into();
    }
    let mut out = Vec::with_capacity(13);
    while v > 0 {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("base-36 digits are ASCII")
}

/// Call `f` with the current time as an HTTP `Date` value (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`). The string is formatted at most once per second per
/// thread: otherwise a call costs one clock read and a compare.
pub fn with_http_date_now<R>(f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        /// Unix second and its IMF-fixdate (`i64::MIN`: nothing formatted yet).
        static HTTP_DATE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = now_unix_ns().div_euclid(NANOS_PER_SEC);
    HTTP_DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        refresh_http_date(&mut cached, now);
        f(&cached.1)
    })
}

/// Reformat the cached `(second, IMF-fixdate)` if `now_secs` is another second; true if it did.
fn refresh_http_date(cached: &mut (i64, String), now_secs: i64) -> bool {
    if cached.0 == now_secs {
        return false;
    }
    cached.0 = now_secs;
    cached.1.clear();
    let (c, weekday) = civil_from_unix(now_secs);
    write_http_date(&mut cached.1, c, weekday);
    true
}

/// `2013-05-24T00:00:00.000Z` from nanoseconds since the Unix epoch (truncated to
/// milliseconds, rounding toward the past for times before 1970).
pub fn format_iso8601_millis(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(NANOS_PER_SEC);
    let millis = unix_nanos.rem_euclid(NANOS_PER_SEC) / 1_000_000;
    let (c, _) = civil_from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, millis
    )
}

/// SigV4 basic format `20130524T000000Z` from Unix seconds.
pub fn format_amz_date(unix_secs: i64) -> String {
    let (c, _) = civil_from_unix(unix_secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parse SigV4 basic format `YYYYMMDDTHHMMSSZ` (exactly 16 ASCII characters) to Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    unix_from_civil(Civil {
        year: i64::from(digits(&b[0..4])?),
        month: digits(&b[4..6])?,
        day: digits(&b[6..8])?,
        hour: digits(&b[9..11])?,
        minute: digits(&b[11..13])?,
        second: digits(&b[13..15])?,
    })
}

/// Parse the SigV4 credential-scope date `YYYYMMDD` to Unix seconds of its midnight.
pub fn parse_scope_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 8 {
        return None;
    }
    unix_from_civil(Civil {
        year: i64::from(digits(&b[0..4])?),
        month: digits(&b[4..6])?,
        day: digits(&b[6..8])?,
        hour: 0,
        minute: 0,
        second: 0,
    })
}

/// RFC 9110 IMF-fixdate `Fri, 24 May 2013 00:00:00 GMT` from Unix seconds.
pub fn format_http_date(unix_secs: i64) -> String {
    let mut out = String::with_capacity(29);
    let (c, weekday) = civil_from_unix(unix_secs);
    write_http_date(&mut out, c, weekday);
    out
}

fn write_http_date(out: &mut String, c: Civil, weekday: usize) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[weekday],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    );
}

/// Parse an HTTP-date to Unix seconds. Accepts IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`, two-digit years 70..=99 are 19xx and 00..=69 are
/// 20xx) and asctime (`Sun Nov  6 08:49:37 1994`). The weekday name must be valid but is not
/// checked against the date (RFC 9110 lets recipients ignore it). Surrounding whitespace is
/// ignored. `None` if malformed; callers ignore an invalid `If-Modified-Since` as RFC 9110 says.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    parse_imf_fixdate(s)
        .or_else(|| parse_rfc850_date(s))
        .or_else(|| parse_asctime_date(s))
}

fn parse_imf_fixdate(s: &str) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT" is exactly 29 bytes.
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if &b[25..] != b" GMT" || !WEEKDAYS.contains(&s.get(0..3)?) {
        return None;
    }
    let (hour, minute, second) = parse_hms(&b[17..25])?;
    unix_from_civil(Civil {
        year: i64::from(digits(&b[12..16])?),
        month: month_number(s.get(8..11)?)?,
        day: digits(&b[5..7])?,
        hour,
        minute,
        second,
    })
}

fn parse_rfc850_date(s: &str) -> Option<i64> {
    // "Sunday, 06-Nov-94 08:49:37 GMT"
    let (weekday, rest) = s.split_once(", ")?;
    if !WEEKDAYS_LONG.contains(&weekday) {
        return None;
    }
    let b = rest.as_bytes();
    if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || &b[18..] != b" GMT" {
        return None;
    }
    let yy = i64::from(digits(&b[7..9])?);
    let year = if yy >= 70 { 1900 + yy } else { 2000 + yy };
    let (hour, minute, second) = parse_hms(&b[10..18])?;
    unix_from_civil(Civil {
        year,
        month: month_number(rest.get(3..6)?)?,
        day: digits(&b[0..2])?,
        hour,
        minute,
        second,
    })
}

fn parse_asctime_date(s: &str) -> Option<i64> {
    // "Sun Nov  6 08:49:37 1994" (day space-padded to two characters) is exactly 24 bytes.
    let b = s.as_bytes();
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    if !WEEKDAYS.contains(&s.get(0..3)?) {
        return None;
    }
    let day = match (b[8], b[9]) {
        (b' ', d) => digits(&[d])?,
        (d1, d2) => digits(&[d1, d2])?,
    };
    let (hour, minute, second) = parse_hms(&b[11..19])?;
    unix_from_civil(Civil {
        year: i64::from(digits(&b[20..24])?),
        month: month_number(s.get(4..7)?)?,
        day,
        hour,
        minute,
        second,
    })
}

/// `HH:MM:SS` (8 bytes).
fn parse_hms(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?))
}

fn month_number(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

/// Decimal value of 1 to 4 ASCII digits (no sign, no spaces).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 4 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2013-05-24T00:00:00Z, the timestamp of the AWS SigV4 examples.
    const AWS_EXAMPLE_SECS: i64 = 1_369_353_600;

    #[test]
    fn aws_example_timestamp_in_every_format() {
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(AWS_EXAMPLE_SECS));
        assert_eq!(format_amz_date(AWS_EXAMPLE_SECS), "20130524T000000Z");
        assert_eq!(
            format_http_date(AWS_EXAMPLE_SECS),
            "Fri, 24 May 2013 00:00:00 GMT"
        );
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(AWS_EXAMPLE_SECS)
        );
        assert_eq!(
            format_iso8601_millis(AWS_EXAMPLE_SECS * NANOS_PER_SEC),
            "2013-05-24T00:00:00.000Z"
        );
        assert_eq!(parse_scope_date("20130524"), Some(AWS_EXAMPLE_SECS));
    }

    #[test]
    fn rfc9110_example_date_in_all_three_forms() {
        // RFC 9110 §5.6.7: 1994-11-06T08:49:37Z.
        let expected = Some(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
        assert_eq!(
            parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT "),
            expected
        );
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn iso8601_keeps_milliseconds_and_handles_pre_epoch() {
        assert_eq!(format_iso8601_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_iso8601_millis(1_999_999_999),
            "1970-01-01T00:00:01.999Z"
        );
        assert_eq!(format_iso8601_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_iso8601_millis(951_782_400 * NANOS_PER_SEC + 123_456_789),
            "2000-02-29T00:00:00.123Z"
        );
    }

    #[test]
    fn malformed_or_out_of_range_dates_are_rejected() {
        for bad in [
            "",
            "20130524T000000",
            "20130524 000000Z",
            "2013052TT000000Z",
            "20131324T000000Z",
            "20130230T000000Z",
            "20130524T240000Z",
            "20130524T006000Z",
            "20130524T000060Z",
            "2013-5-24T00000Z",
            "+0130524T000000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
        assert_eq!(parse_amz_date("20120229T235959Z"), Some(1_330_559_999));
        assert_eq!(
            parse_amz_date("21000229T000000Z"),
            None,
            "2100 is not a leap year"
        );
        for bad in [
            "",
            "Fri, 24 May 2013 00:00:00 UTC",
            "Fri, 24 May 2013 00:00:00",
            "Fri 24 May 2013 00:00:00 GMT",
            "Fry, 24 May 2013 00:00:00 GMT",
            "Fri, 24 Mai 2013 00:00:00 GMT",
            "Fri, 32 May 2013 00:00:00 GMT",
            "Fri, 24 May 2013 25:00:00 GMT",
            "Friday, 24-May-13 00:00:00 UTC",
            "Fri May 24 00:00:00 13",
            "1369353600",
            "Fri, 24 May 2013 00:00:00 GMT\u{e9}",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}a",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
        assert_eq!(parse_scope_date("2013052"), None);
        assert_eq!(parse_scope_date("20130532"), None);
    }

    #[test]
    fn rfc850_two_digit_years_split_at_1970() {
        assert_eq!(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Friday, 24-May-13 00:00:00 GMT"),
            Some(AWS_EXAMPLE_SECS)
        );
    }

    proptest! {
        #[test]
        fn formats_round_trip(secs in -62_135_596_800i64..253_402_300_799i64) {
            // Years 0001..=9999.
            prop_assert_eq!(parse_http_date(&format_http_date(secs)), Some(secs));
            prop_assert_eq!(parse_amz_date(&format_amz_date(secs)), Some(secs));
            if let Some(nanos) = secs.checked_mul(NANOS_PER_SEC) {
                let iso = format_iso8601_millis(nanos);
                prop_assert_eq!(iso.len(), 24);
                let digits: String = iso[..19].chars().filter(|c| *c != '-' && *c != ':').collect();
                prop_assert_eq!(digits, format_amz_date(secs)[..15].to_owned());
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_http_date(&s);
            let _ = parse_amz_date(&s);
            let _ = parse_scope_date(&s);
            let _ = parse_rfc3339_nano(&s);
        }

        #[test]
        fn rfc3339_shaped_input_never_panics(
            y in "[0-9+-]{1,20}", m in "[0-9]{1,11}", d in "[0-9]{1,11}",
            hh in "[0-9]{1,11}", mm in "[0-9]{1,11}", ss in "[0-9]{1,11}", f in "[0-9]{0,10}",
        ) {
            let _ = parse_rfc3339_nano(&format!("{y}-{m}-{d}T{hh}:{mm}:{ss}.{f}Z"));
        }

        #[test]
        fn civil_days_round_trip(days in -1_000_000_000i64..1_000_000_000i64) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn rfc3339_nano_round_trips_every_i64_instant(ns in any::<i64>()) {
            prop_assert_eq!(parse_rfc3339_nano(&format_rfc3339_nano(ns)), Some(ns));
        }
    }

    // The AIS API formats (moved here from cluster's time module, with its tests).

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
        // The fraction is truncated, and times before 1970 round toward the past.
        assert_eq!(format_go_datetime(999_999_999), "1970-01-01 00:00:00");
        assert_eq!(format_go_datetime(-1), "1969-12-31 23:59:59");
        assert_eq!(format_rfc822(-1), "31 Dec 69 23:59 UTC");
        assert_eq!(
            format_rfc822(951_782_400 * NANOS_PER_SEC),
            "29 Feb 00 00:00 UTC"
        );
    }

    #[test]
    fn base36_matches_go_strconv() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(1_700_000_000_000_000_000), "cwyvpelgpse8");
        assert_eq!(base36(u64::MAX), "3w5e11264sgsf");
    }

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
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_nano(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(format_rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(parse_rfc3339_nano("0001-01-01T00:00:00Z"), None);
    }

    #[test]
    fn rfc3339_nano_refuses_what_go_refuses() {
        assert_eq!(
            parse_rfc3339_nano("2025-11-21T08:00:00.5Z"),
            Some(1_763_712_000_500_000_000)
        );
        for bad in [
            "",
            "2025-11-21T08:00:00",
            "2025-11-21T08:00:00+00:00",
            "2025-11-21 08:00:00Z",
            "2025-13-21T08:00:00Z",
            "2025-00-21T08:00:00Z",
            "2025-02-29T08:00:00Z",
            "2025-11-31T08:00:00Z",
            "2025-11-21T24:00:00Z",
            "2025-11-21T08:60:00Z",
            "2025-11-21T08:00:60Z",
            "2025-11-21T08:00:00.1234567890Z",
            "2025-11-21T08:00:00.1a2Z",
            "2025-11-21-01T08:00:00Z",
            "2025-11-21T08:00:00:00Z",
            "10000-01-01T00:00:00Z",
            // Outside what i64 nanoseconds can hold (1677-09-21 to 2262-04-11).
            "1600-01-01T00:00:00Z",
            "2263-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_nano(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn amz_dates_of_leap_days_and_the_epoch() {
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(format_amz_date(951_782_400 + 3_661), "20000229T010101Z");
    }

    #[test]
    fn civil_days_of_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn rfc3339_nano_round_trips_the_i64_extremes() {
        for ns in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let s = format_rfc3339_nano(ns);
            assert_eq!(parse_rfc3339_nano(&s), Some(ns), "{s}");
        }
    }

    #[test]
    fn http_date_now_is_the_current_second() {
        let before = now_unix_ns().div_euclid(NANOS_PER_SEC);
        let date = with_http_date_now(str::to_owned);
        let after = now_unix_ns().div_euclid(NANOS_PER_SEC);
        let secs = parse_http_date(&date).expect("IMF-fixdate");
        assert!((before..=after).contains(&secs), "{date}");
        assert_eq!(date.len(), 29);
    }

    #[test]
    fn http_date_cache_formats_once_per_second() {
        let mut cache = (i64::MIN, String::new());
        assert!(refresh_http_date(&mut cache, AWS_EXAMPLE_SECS));
        assert_eq!(cache.1, "Fri, 24 May 2013 00:00:00 GMT");
        assert!(!refresh_http_date(&mut cache, AWS_EXAMPLE_SECS));
        assert!(refresh_http_date(&mut cache, AWS_EXAMPLE_SECS + 1));
        assert_eq!(cache.1, "Fri, 24 May 2013 00:00:01 GMT");
        // A clock stepping back is a new second too.
        assert!(refresh_http_date(&mut cache, AWS_EXAMPLE_SECS));
        assert_eq!(cache.1, "Fri, 24 May 2013 00:00:00 GMT");
    }
}
