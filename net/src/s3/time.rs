//! Timestamp formats of the S3 protocol, on plain Unix time (UTC, no leap seconds):
//!
//! * ISO 8601 with milliseconds, `2013-05-24T00:00:00.000Z`, for `LastModified`, `Initiated` and
//!   `CreationDate` in XML bodies ([`format_iso8601_millis`]).
//! * SigV4 basic format, `20130524T000000Z`, for `x-amz-date` / `X-Amz-Date`
//!   ([`format_amz_date`], [`parse_amz_date`]).
//! * RFC 9110 (formerly 7231) HTTP-date, `Fri, 24 May 2013 00:00:00 GMT`, for `Last-Modified`,
//!   `Date`, `If-Modified-Since` and `If-Unmodified-Since` ([`format_http_date`],
//!   [`parse_http_date`], which also accepts the obsolete RFC 850 and asctime forms as RFC 9110
//!   requires of recipients).
//!
//! Pure arithmetic (days-from-civil, after Howard Hinnant), no clock and no time-zone database.
//! Parsers return `None` on anything malformed or out of range (month, day of month, hour,
//! minute, second); they never panic.

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

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
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
    let (c, weekday) = civil_from_unix(unix_secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[weekday],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
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
        }
    }
}
