//! Small counters shared by the services' `what=node_status` stats.

use std::sync::Mutex;

/// A count per mountpath (few mountpaths: a short list, not a map).
#[derive(Default)]
pub struct PerMountpath(Mutex<Vec<(String, u64)>>);

impl PerMountpath {
    pub const fn new() -> PerMountpath {
        PerMountpath(Mutex::new(Vec::new()))
    }

    /// Add one for `mountpath`.
    pub fn bump(&self, mountpath: &str) {
        let mut m = self.0.lock().expect("per-mountpath counter lock");
        match m.iter_mut().find(|(p, _)| p == mountpath) {
            Some((_, n)) => *n += 1,
            None => m.push((mountpath.to_string(), 1)),
        }
    }

    /// `{"<mountpath>": count, ...}`
    pub fn json(&self) -> serde_json::Value {
        let m = self.0.lock().expect("per-mountpath counter lock");
        serde_json::Value::Object(m.iter().map(|(p, n)| (p.clone(), (*n).into())).collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_per_mountpath() {
        let c = super::PerMountpath::new();
        c.bump("/a");
        c.bump("/b");
        c.bump("/a");
        assert_eq!(c.json(), serde_json::json!({"/a": 2, "/b": 1}));
    }
}
