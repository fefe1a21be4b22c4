//! The node's log files: `<log dir>/aisnode.log` (default log dir: `<data dir>/log`), rotated
//! when it passes `--log-max-size` to `aisnode.log.<UTC time>` and pruned, oldest first, to
//! `--log-max-total` over all files (AIS's `log.max_size` and `log.max_total`). Every record
//! also goes to stderr as before. `GET /v1/daemon?what=log` serves the current file (all of it,
//! or its warnings and errors by `severity`) and, with `all=true`, every file as a tar.gz.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The current log file's name in the log directory.
pub const CURRENT: &str = "aisnode.log";

pub struct RotatingLog {
    dir: PathBuf,
    max_size: u64,
    max_total: u64,
    state: Mutex<State>,
}

struct State {
    file: File,
    size: u64,
}

static LOG: OnceLock<Arc<RotatingLog>> = OnceLock::new();

/// The node's log, once [`RotatingLog::open`] made it.
pub fn get() -> Option<&'static Arc<RotatingLog>> {
    LOG.get()
}

impl RotatingLog {
    /// Create `dir` and open (append) its current file; the node's log from now on.
    pub fn open(dir: &Path, max_size: u64, max_total: u64) -> std::io::Result<Arc<RotatingLog>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(CURRENT);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        let log = Arc::new(RotatingLog {
            dir: dir.to_path_buf(),
            max_size: max_size.max(4096),
            max_total: max_total.max(max_size),
            state: Mutex::new(State { file, size }),
        });
        let _ = LOG.set(log.clone());
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// AIS's `rotate-logs`: start a new current file now (nothing happens to an empty one).
    pub fn rotate_now(&self) {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if st.size > 0 {
            self.rotate(&mut st);
        }
    }

    /// Append one record (whole lines); rotate first if it would pass the size limit.
    pub fn write_record(&self, buf: &[u8]) {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if st.size > 0 && st.size + buf.len() as u64 > self.max_size {
            self.rotate(&mut st);
        }
        if st.file.write_all(buf).is_ok() {
            st.size += buf.len() as u64;
        }
    }

    fn rotate(&self, st: &mut State) {
        let stamp = {
            let ns = net::time::now_unix_ns();
            let secs = ns.div_euclid(1_000_000_000);
            let (y, mo, d) = net::time::civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            format!(
                "{y:04}{mo:02}{d:02}-{:02}{:02}{:02}.{:06}",
                sod / 3600,
                sod / 60 % 60,
                sod % 60,
                ns.rem_euclid(1_000_000_000) / 1000
            )
        };
        let cur = self.dir.join(CURRENT);
        if std::fs::rename(&cur, self.dir.join(format!("{CURRENT}.{stamp}"))).is_err() {
            return;
        }
        if let Ok(f) = OpenOptions::new().create(true).append(true).open(&cur) {
            st.file = f;
            st.size = 0;
        }
        self.prune();
    }

    /// Remove the oldest rotated files until they and a full current file fit the total limit.
    fn prune(&self) {
        let mut files = self.files();
        // Oldest first (the names sort by time); never the current file (last).
        files.retain(|(p, _)| p.file_name().and_then(|n| n.to_str()) != Some(CURRENT));
        let mut rotated: u64 = files.iter().map(|(_, len)| len).sum();
        for (p, len) in files {
            if rotated + self.max_size <= self.max_total {
                break;
            }
            if std::fs::remove_file(&p).is_ok() {
                rotated -= len;
            }
        }
    }

    /// Every log file (path, length): rotated ones oldest first, then the current one.
    pub fn files(&self) -> Vec<(PathBuf, u64)> {
        let mut v: Vec<(PathBuf, u64)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&format!("{CURRENT}.")))
            })
            .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
            .collect();
        v.sort();
        let cur = self.dir.join(CURRENT);
        if let Ok(m) = std::fs::metadata(&cur) {
            v.push((cur, m.len()));
        }
        v
    }
}

/// A `tracing_subscriber` writer into the node's log: each formatted record is buffered and
/// appended whole when the writer is dropped.
pub struct RecordWriter {
    log: Arc<RotatingLog>,
    buf: Vec<u8>,
}

impl Write for RecordWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.log.write_record(&self.buf);
        }
    }
}

/// Makes a [`RecordWriter`] per record.
#[derive(Clone)]
pub struct MakeRecordWriter(pub Arc<RotatingLog>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeRecordWriter {
    type Writer = RecordWriter;
    fn make_writer(&'a self) -> RecordWriter {
        RecordWriter {
            log: self.0.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// The level of a log line as the text or JSON formatter wrote it.
fn line_level(line: &str) -> Option<&'static str> {
    const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
    if line.starts_with('{') {
        return LEVELS
            .iter()
            .find(|l| line.contains(&format!("\"level\":\"{l}\"")))
            .copied();
    }
    let tok = line.split_whitespace().nth(1)?;
    LEVELS.iter().find(|l| **l == tok).copied()
}

/// Lines of `text` at `severity` or above: `info` (everything), `warning`, `error`.
pub fn filter_severity(text: &str, severity: &str) -> String {
    let keep: &[&str] = match severity {
        "warning" => &["WARN", "ERROR"],
        "error" => &["ERROR"],
        _ => return text.to_string(),
    };
    let mut out = String::new();
    for line in text.lines() {
        if line_level(line).is_some_and(|l| keep.contains(&l)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_prunes_to_the_limits() {
        let d = tempfile::tempdir().unwrap();
        let log = RotatingLog::open(d.path(), 4096, 3 * 4096).unwrap();
        let line = format!("{}\n", "x".repeat(999));
        for _ in 0..40 {
            log.write_record(line.as_bytes());
            std::thread::sleep(std::time::Duration::from_micros(5));
        }
        let files = log.files();
        let total: u64 = files.iter().map(|f| f.1).sum();
        assert!(total <= 3 * 4096, "{files:?}");
        assert!(files.len() >= 2, "{files:?}");
        assert!(files.iter().all(|f| f.1 <= 4096), "{files:?}");
        assert_eq!(files.last().unwrap().0, d.path().join(CURRENT));
    }

    #[test]
    fn severity_filter_reads_text_and_json_lines() {
        let text = "2026-12-05T10:00:00Z  INFO a: x\n2026-12-05T10:00:01Z  WARN a: y\n\
                    2026-12-05T10:00:02Z ERROR a: z\n{\"level\":\"WARN\",\"msg\":\"j\"}\n";
        assert_eq!(filter_severity(text, "info"), text);
        assert_eq!(
            filter_severity(text, "warning"),
            "2026-12-05T10:00:01Z  WARN a: y\n2026-12-05T10:00:02Z ERROR a: z\n{\"level\":\"WARN\",\"msg\":\"j\"}\n"
        );
        assert_eq!(
            filter_severity(text, "error"),
            "2026-12-05T10:00:02Z ERROR a: z\n"
        );
    }
}
