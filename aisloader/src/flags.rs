//! A command-line parser compatible with Go's `flag` package, plus the value syntaxes aisloader
//! takes: IEC sizes (`cos.ParseSize` with IEC units) and Go durations (`time.ParseDuration`).
//!
//! Accepted forms, exactly as Go: `-f`, `--f`, `-f=v`, `--f=v`, and `-f v` for non-boolean
//! flags. Parsing stops at the first non-flag argument, at a lone `-`, or after `--`; the rest
//! are positional arguments. Booleans take only the `=` form and accept (case-insensitively)
//! `true/t/1/yes/y/on` and `false/f/0/no/n/off`. Values are checked when set, so errors name
//! the flag the way Go does (`invalid value "x" for flag -numworkers: parse error`).
//!
//! Not supported: Go's shorthand of several one-letter bools in one argument (Go has none either).

use crate::Error;
use std::fmt;
use std::time::Duration;

/// The value type of a flag; decides how a value is validated when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// Signed 64-bit integer.
    Int,
    /// Unsigned 64-bit integer.
    Uint,
    /// Non-negative decimal number (e.g. a rate).
    Float,
    Str,
    /// Go duration (`1m30s`, `0`, `250ms`).
    Duration,
}

/// One flag: name without dashes, kind, default as Go would print it, help text.
#[derive(Debug, Clone, Copy)]
pub struct FlagDef {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub usage: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// `-h` or `-help` (not defined as flags): print usage, exit 0.
    Help,
    BadSyntax(String),
    Unknown(String),
    NeedsArgument(String),
    BadBool {
        flag: String,
        value: String,
    },
    BadValue {
        flag: String,
        value: String,
        reason: String,
    },
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Help => write!(f, "help requested"),
            FlagError::BadSyntax(a) => write!(f, "bad flag syntax: {a}"),
            FlagError::Unknown(n) => write!(f, "flag provided but not defined: -{n}"),
            FlagError::NeedsArgument(n) => write!(f, "flag needs an argument: -{n}"),
            FlagError::BadBool { flag, value } => {
                write!(
                    f,
                    "invalid boolean value {value:?} for -{flag}: parse error"
                )
            }
            FlagError::BadValue {
                flag,
                value,
                reason,
            } => {
                write!(f, "invalid value {value:?} for flag -{flag}: {reason}")
            }
        }
    }
}

impl std::error::Error for FlagError {}

/// Parsed command line: a value for every defined flag (the default unless set).
#[derive(Debug, Clone)]
pub struct FlagSet {
    defs: &'static [FlagDef],
    values: Vec<String>,
    set: Vec<bool>,
    /// Arguments after the flags.
    pub positional: Vec<String>,
}

impl FlagSet {
    /// Parse `args` (without the program name) against `defs`.
    pub fn parse(defs: &'static [FlagDef], args: &[String]) -> Result<FlagSet, FlagError> {
        debug_assert!(
            defs.iter()
                .enumerate()
                .all(|(i, d)| defs[..i].iter().all(|e| e.name != d.name)),
            "duplicate flag definition"
        );
        let mut fs = FlagSet {
            defs,
            values: defs.iter().map(|d| d.default.to_owned()).collect(),
            set: vec![false; defs.len()],
            positional: Vec::new(),
        };
        let mut i = 0;
        while i < args.len() {
            let s = &args[i];
            if s.len() < 2 || !s.starts_with('-') {
                break;
            }
            let mut name = &s[1..];
            if let Some(rest) = name.strip_prefix('-') {
                if rest.is_empty() {
                    i += 1; // "--" terminates the flags
                    break;
                }
                name = rest;
            }
            if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
                return Err(FlagError::BadSyntax(s.clone()));
            }
            i += 1;
            let (name, value) = match name.find('=') {
                // Go looks for '=' from the second character on.
                Some(eq) if eq >= 1 => (&name[..eq], Some(&name[eq + 1..])),
                _ => (name, None),
            };
            let Some(idx) = defs.iter().position(|d| d.name == name) else {
                if name == "h" || name == "help" {
                    return Err(FlagError::Help);
                }
                return Err(FlagError::Unknown(name.to_owned()));
            };
            let def = &defs[idx];
            let value = if def.kind == Kind::Bool {
                let v = value.unwrap_or("true");
                match parse_bool(v) {
                    Some(b) => b.to_string(),
                    None => {
                        return Err(FlagError::BadBool {
                            flag: name.to_owned(),
                            value: v.to_owned(),
                        })
                    }
                }
            } else {
                let v = match value {
                    Some(v) => v.to_owned(),
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Err(FlagError::NeedsArgument(name.to_owned())),
                };
                check_value(def.kind, &v).map_err(|e| FlagError::BadValue {
                    flag: name.to_owned(),
                    value: v.clone(),
                    reason: e.to_string(),
                })?;
                v
            };
            fs.values[idx] = value;
            fs.set[idx] = true;
        }
        fs.positional = args[i..].to_vec();
        Ok(fs)
    }

    fn index(&self, name: &str) -> usize {
        self.defs
            .iter()
            .position(|d| d.name == name)
            .unwrap_or_else(|| panic!("flag -{name} is not defined"))
    }

    pub fn defs(&self) -> &'static [FlagDef] {
        self.defs
    }

    /// The value (as given, or the default).
    pub fn str(&self, name: &str) -> &str {
        &self.values[self.index(name)]
    }

    /// Whether the flag appeared on the command line.
    pub fn is_set(&self, name: &str) -> bool {
        self.set[self.index(name)]
    }

    pub fn bool(&self, name: &str) -> bool {
        let v = self.str(name);
        parse_bool(v).unwrap_or_else(|| panic!("flag -{name}: value {v:?} was validated as bool"))
    }

    pub fn int(&self, name: &str) -> i64 {
        let v = self.str(name);
        v.parse()
            .unwrap_or_else(|_| panic!("flag -{name}: value {v:?} was validated as int"))
    }

    pub fn uint(&self, name: &str) -> u64 {
        let v = self.str(name);
        v.parse()
            .unwrap_or_else(|_| panic!("flag -{name}: value {v:?} was validated as uint"))
    }

    pub fn float(&self, name: &str) -> f64 {
        let v = self.str(name);
        v.parse()
            .unwrap_or_else(|_| panic!("flag -{name}: value {v:?} was validated as float"))
    }

    /// Signed nanoseconds of a duration flag.
    pub fn duration_ns(&self, name: &str) -> i64 {
        let v = self.str(name);
        parse_go_duration(v)
            .unwrap_or_else(|_| panic!("flag -{name}: value {v:?} was validated as duration"))
    }

    /// The value in Go's `Value.String()` form (durations normalized, e.g. `1m` -> `1m0s`).
    pub fn display(&self, idx: usize) -> String {
        let def = &self.defs[idx];
        let v = &self.values[idx];
        match def.kind {
            Kind::Duration => parse_go_duration(v)
                .map(crate::format::go_duration)
                .unwrap_or_else(|_| v.clone()),
            _ => v.clone(),
        }
    }

    /// The default in Go's `Value.String()` form.
    pub fn display_default(&self, idx: usize) -> String {
        let def = &self.defs[idx];
        match def.kind {
            Kind::Duration => parse_go_duration(def.default)
                .map(crate::format::go_duration)
                .unwrap_or_else(|_| def.default.to_owned()),
            _ => def.default.to_owned(),
        }
    }
}

fn check_value(kind: Kind, v: &str) -> Result<(), Error> {
    let ok = match kind {
        Kind::Bool => parse_bool(v).is_some(),
        Kind::Int => v.parse::<i64>().is_ok(),
        Kind::Uint => v.parse::<u64>().is_ok(),
        Kind::Float => v.parse::<f64>().is_ok_and(|f| f.is_finite() && f >= 0.0),
        Kind::Str => true,
        Kind::Duration => return parse_go_duration(v).map(|_| ()),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadValue)
    }
}

/// Go/AIS boolean forms, case-insensitive.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" | "on" => Some(true),
        "0" | "f" | "false" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
pub const TIB: u64 = 1 << 40;

/// Parse a size like AIS `cos.ParseSize(s, UnitsIEC)`: a bare number (or `B` suffix) is bytes;
/// `K/KB/KiB` = 1024, `M/MB/MiB`, `G/GB/GiB`, `T/TB/TiB` likewise (case-insensitive, spaces
/// trimmed). A fractional number is allowed with a unit (`1.5MiB`). The result must fit in i64.
pub fn parse_size(s: &str) -> Result<u64, Error> {
    let err = || Error::BadSize(s.to_owned());
    let up = s.trim().to_ascii_uppercase();
    const UNITS: &[(&str, u64)] = &[
        ("KIB", KIB),
        ("MIB", MIB),
        ("GIB", GIB),
        ("TIB", TIB),
        ("KB", KIB),
        ("MB", MIB),
        ("GB", GIB),
        ("TB", TIB),
        ("K", KIB),
        ("M", MIB),
        ("G", GIB),
        ("T", TIB),
        ("B", 1),
    ];
    let (num, mult) = UNITS
        .iter()
        .find_map(|(suffix, m)| up.strip_suffix(suffix).map(|n| (n.trim(), *m)))
        .unwrap_or((up.trim(), 1));
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(err());
    }
    let bytes = if num.contains('.') {
        let f: f64 = num.parse().map_err(|_| err())?;
        let v = f * mult as f64;
        if !v.is_finite() || v >= i64::MAX as f64 {
            return Err(err());
        }
        v as u64
    } else {
        let n: u64 = num.parse().map_err(|_| err())?;
        n.checked_mul(mult)
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(err)?
    };
    Ok(bytes)
}

/// Parse a Go duration (`time.ParseDuration`): `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units
/// `ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`, or the special case `0`. Returns nanoseconds.
pub fn parse_go_duration(orig: &str) -> Result<i64, Error> {
    let invalid = || Error::BadDuration(orig.to_owned());
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &d in &b[..int_len] {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .filter(|v| *v <= LIMIT)
                .ok_or_else(invalid)?;
        }
        s = &s[int_len..];
        let pre = int_len > 0;
        // Fraction.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let fb = s.as_bytes();
            let flen = fb.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &d in &fb[..flen] {
                if overflow {
                    continue;
                }
                if frac > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(d - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            s = &s[flen..];
            post = flen > 0;
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(Error::DurationMissingUnit(orig.to_owned()));
        }
        let unit_str = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match unit_str {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(Error::DurationUnknownUnit {
                    unit: unit_str.to_owned(),
                    input: orig.to_owned(),
                })
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(v)
            .filter(|t| *t <= LIMIT)
            .ok_or_else(invalid)?;
    }
    if neg {
        return Ok(i128::from(total).wrapping_neg() as i64);
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Nanoseconds to a std Duration (negative clamps to zero).
pub fn ns_to_duration(ns: i64) -> Duration {
    Duration::from_nanos(ns.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    static DEFS: &[FlagDef] = &[
        FlagDef {
            name: "cleanup",
            kind: Kind::Bool,
            default: "false",
            usage: "",
        },
        FlagDef {
            name: "quiet",
            kind: Kind::Bool,
            default: "false",
            usage: "",
        },
        FlagDef {
            name: "numworkers",
            kind: Kind::Int,
            default: "10",
            usage: "",
        },
        FlagDef {
            name: "maxputs",
            kind: Kind::Uint,
            default: "0",
            usage: "",
        },
        FlagDef {
            name: "bucket",
            kind: Kind::Str,
            default: "",
            usage: "",
        },
        FlagDef {
            name: "duration",
            kind: Kind::Duration,
            default: "1m",
            usage: "",
        },
        FlagDef {
            name: "rate",
            kind: Kind::Float,
            default: "0",
            usage: "",
        },
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(ToString::to_string).collect()
    }

    fn parse(a: &[&str]) -> Result<FlagSet, FlagError> {
        FlagSet::parse(DEFS, &args(a))
    }

    #[test]
    fn go_flag_forms() {
        let fs = parse(&[
            "-bucket",
            "b1",
            "--numworkers=3",
            "-quiet",
            "--cleanup=yes",
            "-duration=1m30s",
            "--maxputs",
            "7",
        ])
        .unwrap();
        assert_eq!(fs.str("bucket"), "b1");
        assert_eq!(fs.int("numworkers"), 3);
        assert!(fs.bool("quiet") && fs.bool("cleanup"));
        assert_eq!(fs.duration_ns("duration"), 90_000_000_000);
        assert_eq!(fs.uint("maxputs"), 7);
        assert!(fs.is_set("bucket") && !fs.is_set("rate"));
        assert_eq!(fs.float("rate"), 0.0);
        // "=" inside the value is kept; empty string values are allowed.
        let fs = parse(&["-bucket=a=b"]).unwrap();
        assert_eq!(fs.str("bucket"), "a=b");
        let fs = parse(&["-bucket="]).unwrap();
        assert_eq!(fs.str("bucket"), "");
        assert!(fs.is_set("bucket"));
    }

    #[test]
    fn bool_forms_and_no_separate_bool_value() {
        for (v, want) in [
            ("true", true),
            ("T", true),
            ("1", true),
            ("y", true),
            ("YES", true),
            ("on", true),
            ("false", false),
            ("f", false),
            ("0", false),
            ("n", false),
            ("No", false),
            ("off", false),
        ] {
            let fs = parse(&[&format!("-cleanup={v}")]).unwrap();
            assert_eq!(fs.bool("cleanup"), want, "{v}");
        }
        // `-cleanup false`: the bool takes no separate value; "false" stops flag parsing.
        let fs = parse(&["-cleanup", "false", "-quiet"]).unwrap();
        assert!(fs.bool("cleanup"));
        assert!(!fs.bool("quiet"));
        assert_eq!(fs.positional, ["false", "-quiet"]);
        assert_eq!(
            parse(&["-cleanup=maybe"]).unwrap_err().to_string(),
            "invalid boolean value \"maybe\" for -cleanup: parse error"
        );
    }

    #[test]
    fn terminators_and_positional() {
        let fs = parse(&["-quiet", "--", "-bucket", "x"]).unwrap();
        assert_eq!(fs.positional, ["-bucket", "x"]);
        let fs = parse(&["-quiet", "-", "x"]).unwrap();
        assert_eq!(fs.positional, ["-", "x"]);
        let fs = parse(&["usage"]).unwrap();
        assert_eq!(fs.positional, ["usage"]);
    }

    #[test]
    fn errors_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["-nosuch"], "flag provided but not defined: -nosuch"),
            (&["--nosuch=1"], "flag provided but not defined: -nosuch"),
            (&["-numworkers"], "flag needs an argument: -numworkers"),
            (&["-numworkers=ten"], "invalid value \"ten\" for flag -numworkers: parse error"),
            (&["-maxputs=-1"], "invalid value \"-1\" for flag -maxputs: parse error"),
            (&["-rate=-5"], "invalid value \"-5\" for flag -rate: parse error"),
            (&["-duration=5"], "invalid value \"5\" for flag -duration: time: missing unit in duration \"5\""),
            (&["-duration=1y"], "invalid value \"1y\" for flag -duration: time: unknown unit \"y\" in duration \"1y\""),
            (&["---x"], "bad flag syntax: ---x"),
            (&["-=x"], "bad flag syntax: -=x"),
        ];
        for (a, msg) in cases {
            assert_eq!(parse(a).unwrap_err().to_string(), *msg, "{a:?}");
        }
        assert_eq!(parse(&["-h"]).unwrap_err(), FlagError::Help);
        assert_eq!(parse(&["--help"]).unwrap_err(), FlagError::Help);
    }

    #[test]
    fn sizes_iec() {
        let ok: &[(&str, u64)] = &[
            ("0", 0),
            ("4096", 4096),
            ("16B", 16),
            ("1K", 1024),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("64KiB", 65536),
            ("2M", 2 << 20),
            ("3MB", 3 << 20),
            ("1MiB", 1 << 20),
            ("1G", 1 << 30),
            ("1GiB", 1 << 30),
            ("2TB", 2 << 40),
            ("1.5MiB", 1572864),
            (" 8k ", 8192),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s).ok(), Some(*want), "{s}");
        }
        for bad in ["", "K", "-1", "1X", "1.2.3K", "abc", "99999999999T", "1 0K"] {
            assert!(
                matches!(parse_size(bad), Err(Error::BadSize(ref i)) if i == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn go_durations() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("30s", 30_000_000_000),
            ("1m", 60_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1h2m3s", 3_723_000_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("250ms", 250_000_000),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("-2s", -2_000_000_000),
            ("+3s", 3_000_000_000),
            ("0s", 0),
            ("1.s", 1_000_000_000),
        ];
        for (s, want) in ok {
            assert_eq!(parse_go_duration(s).ok(), Some(*want), "{s}");
        }
        for bad in ["", "5", "s", "1x", ".s", "-", "1ss", "3000000h"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
