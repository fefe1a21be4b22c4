//! The node's persisted metadata files (`conf/.ais.smap`, `conf/.ais.bmd`): jsp-framed JSON,
//! written atomically (temp file, fsync, rename, directory fsync). Blocking: control plane
//! only, off the reactor or before it starts.

use crate::error::{Error, Result};
use crate::meta::jsp;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Write `v` atomically as a jsp file of `meta_version`.
pub fn persist<T: Serialize>(path: &Path, meta_version: u32, v: &T) -> Result<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| Error::Internal(format!("persist {}: {e}", path.display()));
    let json = serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(fail)?;
        f.write_all(&jsp::encode(meta_version, &json))
            .map_err(fail)?;
        f.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)?;
    }
    Ok(())
}

/// Read a jsp file; `None` if it does not exist. A damaged file is an error, never `None`.
pub fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    let buf = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
    };
    let json = jsp::decode(&buf).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(json)
        .map(Some)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_then_load_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        assert!(load::<serde_json::Value>(&p).unwrap().is_none());
        persist(&p, 2, &serde_json::json!({"a": 1})).unwrap();
        let v: serde_json::Value = load(&p).unwrap().unwrap();
        assert_eq!(v["a"], 1);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len() - 2;
        b[n] ^= 1;
        std::fs::write(&p, b).unwrap();
        assert!(matches!(
            load::<serde_json::Value>(&p),
            Err(Error::Config(_))
        ));
    }
}
