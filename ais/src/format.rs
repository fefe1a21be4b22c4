//! Output formatting: sizes in AIS's units (`16.00KiB`, or SI, or raw bytes), durations,
//! and plain-text tables with aligned columns (AIS's CLI tables, without colours).
//! Writing to stdout goes through [`emit`], which turns a closed pipe (`ais ls | head`) into a
//! quiet exit instead of a panic.

use crate::error::{Error, Result};
use std::io::Write;
use std::time::Duration;

/// How sizes are shown (`--units`, as AIS: `iec` default, `si`, `raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Units {
    #[default]
    Iec,
    Si,
    Raw,
}

/// `n` bytes in `units`: `999B`, `16.00KiB`, `1.50MiB` (IEC); `16.38KB` (SI); `16384` (raw).
pub fn size(n: u64, units: Units) -> String {
    let (base, names): (f64, [&str; 6]) = match units {
        Units::Raw => return n.to_string(),
        Units::Iec => (1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]),
        Units::Si => (1000.0, ["B", "KB", "MB", "GB", "TB", "PB"]),
    };
    #[allow(clippy::cast_precision_loss)] // display only: two decimals
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i + 1 < names.len() {
        v /= base;
        i += 1;
    }
    if i == 0 {
        format!("{n}{}", names[0])
    } else {
        format!("{v:.2}{}", names[i])
    }
}

/// A rate in bytes per second as MiB/s with two decimals.
pub fn mib_per_s(bytes: f64, secs: f64) -> String {
    if secs <= 0.0 {
        return "0.00".to_owned();
    }
    format!("{:.2}", bytes / secs / (1024.0 * 1024.0))
}

/// `1.234s`, `12ms`, `850us`, `2m3s`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}us", ns / 1_000)
    } else if ns < 1_000_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else if d.as_secs() < 60 {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// A table: a header row and data rows, columns left-aligned and separated by two spaces.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "table row width");
        self.rows.push(cells);
    }

    /// The table as text; `headers == false` leaves the header row out (`--no-headers`).
    pub fn render(&self, headers: bool) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                l.push_str(c);
                if i + 1 < cells.len() {
                    l.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        if headers {
            line(&self.header);
        }
        for r in &self.rows {
            line(r);
        }
        out
    }
}

/// Write `s` to stdout. A closed pipe exits the process quietly with status 0 (the reader
/// has what it wanted); any other failure is an error.
pub fn emit(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("writing to stdout", e)),
    }
}

/// Write bytes to stdout (object contents), with the same closed-pipe rule as [`emit`].
pub fn emit_bytes(b: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(b) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::io("writing to stdout", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_table() {
        let cases: &[(u64, Units, &str)] = &[
            (0, Units::Iec, "0B"),
            (1000, Units::Iec, "1000B"),
            (1024, Units::Iec, "1.00KiB"),
            (16384, Units::Iec, "16.00KiB"),
            (1536 * 1024, Units::Iec, "1.50MiB"),
            (1000, Units::Si, "1.00KB"),
            (16384, Units::Raw, "16384"),
            (u64::MAX, Units::Iec, "16384.00PiB"),
        ];
        for (n, u, s) in cases {
            assert_eq!(size(*n, *u), *s, "{n} {u:?}");
        }
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["NAME", "SIZE"]);
        t.row(vec!["a-long-name".into(), "1B".into()]);
        t.row(vec!["b".into(), "2.00KiB".into()]);
        assert_eq!(
            t.render(true),
            "NAME         SIZE\na-long-name  1B\nb            2.00KiB\n"
        );
        assert_eq!(t.render(false).lines().count(), 2);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(duration(Duration::from_millis(12)), "12ms");
        assert_eq!(duration(Duration::from_micros(850)), "850us");
        assert_eq!(duration(Duration::from_secs(123)), "2m3s");
    }
}
