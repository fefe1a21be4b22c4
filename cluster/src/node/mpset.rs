//! A target's mountpath set: the published snapshot every request reads (HRW over the
//! available mountpaths, each owned by one core; leaving ones; disabled ones), and its
//! persistence in `<confdir>/.ais.mountpaths` across restarts. The runtime changes that
//! produce new sets (attach, detach, enable, disable) are a control-plane service
//! (`crate::mountpaths`).

use crate::error::{Error, Result};
use crate::meta::placement;
use engine::mountpath::Mountpath;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File (in the config dir) that keeps the runtime mountpath changes across restarts.
pub const PERSIST_FILE: &str = ".ais.mountpaths";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MpState {
    Enabled,
    /// Being disabled: out of placement until the resilver moved its objects off.
    Disabling,
    /// Being detached: likewise.
    Detaching,
    Disabled,
    Detached,
}

/// Why a mountpath is leaving placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    Disable,
    Detach,
}

/// The mountpath set one snapshot of which every request reads.
#[derive(Debug, Default)]
pub struct MpSet {
    pub version: u64,
    /// In HRW placement, in configuration order.
    pub avail: Vec<Arc<Mountpath>>,
    /// Owning core of each available mountpath (same index).
    pub core: Vec<usize>,
    /// Out of placement, still holding objects the resilver moves off.
    pub leaving: Vec<(Arc<Mountpath>, Leaving)>,
    /// Disabled mountpaths (no I/O; `enable-mp` brings them back).
    pub disabled: Vec<String>,
}

impl MpSet {
    /// HRW mountpath (and its owning core) of an object (its [`placement::object_digest`]).
    pub fn choose(&self, digest: u64) -> Option<(Arc<Mountpath>, usize)> {
        let i = placement::mountpath(digest, self.avail.iter().map(|m| m.digest))?;
        Some((self.avail[i].clone(), self.core[i]))
    }

    /// Every mountpath that may hold objects: available and leaving.
    pub fn with_data(&self) -> Vec<Arc<Mountpath>> {
        self.avail
            .iter()
            .cloned()
            .chain(self.leaving.iter().map(|(m, _)| m.clone()))
            .collect()
    }

    /// `GET /v1/daemon?what=mountpaths` (AIS's MountpathList).
    pub fn list_json(&self) -> serde_json::Value {
        serde_json::json!({
            "available": self.avail.iter().map(|m| m.path_str.clone()).collect::<Vec<_>>(),
            "waiting_dd": self.leaving.iter().map(|(m, _)| m.path_str.clone()).collect::<Vec<_>>(),
            "disabled": self.disabled.clone(),
        })
    }

    pub fn find(&self, path: &str) -> Option<MpState> {
        if self.avail.iter().any(|m| m.path_str == path) {
            return Some(MpState::Enabled);
        }
        if let Some((_, l)) = self.leaving.iter().find(|(m, _)| m.path_str == path) {
            return Some(match l {
                Leaving::Disable => MpState::Disabling,
                Leaving::Detach => MpState::Detaching,
            });
        }
        if self.disabled.iter().any(|p| p == path) {
            return Some(MpState::Disabled);
        }
        None
    }

    pub fn persisted(&self, resilver_pending: bool, detached: &[String]) -> Persisted {
        let mut mountpaths: Vec<PersistedMp> = self
            .avail
            .iter()
            .map(|m| PersistedMp {
                path: m.path_str.clone(),
                state: MpState::Enabled,
            })
            .collect();
        for (m, l) in &self.leaving {
            mountpaths.push(PersistedMp {
                path: m.path_str.clone(),
                state: match l {
                    Leaving::Disable => MpState::Disabling,
                    Leaving::Detach => MpState::Detaching,
                },
            });
        }
        for p in &self.disabled {
            mountpaths.push(PersistedMp {
                path: p.clone(),
                state: MpState::Disabled,
            });
        }
        for p in detached {
            if !mountpaths.iter().any(|m| &m.path == p) {
                mountpaths.push(PersistedMp {
                    path: p.clone(),
                    state: MpState::Detached,
                });
            }
        }
        Persisted {
            mountpaths,
            resilver_pending,
        }
    }

    /// A copy to change, one version newer.
    pub fn successor(&self) -> MpSet {
        MpSet {
            version: self.version + 1,
            avail: self.avail.clone(),
            core: self.core.clone(),
            leaving: self.leaving.clone(),
            disabled: self.disabled.clone(),
        }
    }

    /// Core with the fewest available mountpaths (a newly attached one goes there).
    pub fn least_loaded_core(&self, cores: usize) -> usize {
        (0..cores)
            .min_by_key(|c| self.core.iter().filter(|k| *k == c).count())
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersistedMp {
    pub path: String,
    pub state: MpState,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub mountpaths: Vec<PersistedMp>,
    /// A change was made whose resilver has not finished yet.
    #[serde(default)]
    pub resilver_pending: bool,
}

/// A mountpath as the set names it: absolute, cleaned.
pub fn clean(p: &Path) -> Result<String> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::Internal(format!("getcwd: {e}")))?
            .join(p)
    };
    engine::layout::clean_abs(&abs.to_string_lossy())
        .ok_or_else(|| Error::BadRequest(format!("mountpath {}: not absolute", abs.display())))
}

/// Start-up: the configured mountpaths (flags) merged with the runtime changes persisted
/// earlier. A mountpath detached or disabled at runtime stays so even if a flag names it;
/// one attached at runtime stays attached. Returns the set, the detached paths to keep
/// remembering, and whether a resilver must run (pending, or placement changed).
pub fn init_set(
    configured: &[PathBuf],
    confdir: &Path,
    cores: usize,
) -> Result<(MpSet, Vec<String>, bool)> {
    let file = confdir.join(PERSIST_FILE);
    let persisted: Option<Persisted> = match std::fs::read(&file) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .map_err(|e| Error::Config(format!("{}: invalid: {e}", file.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::Config(format!("{}: {e}", file.display()))),
    };
    let mut entries: Vec<PersistedMp> = Vec::new();
    for p in configured {
        let path = clean(p).map_err(|e| Error::Config(e.to_string()))?;
        let state = persisted
            .as_ref()
            .and_then(|ps| ps.mountpaths.iter().find(|m| m.path == path))
            .map(|m| m.state)
            .unwrap_or(MpState::Enabled);
        if matches!(state, MpState::Detached | MpState::Disabled) {
            tracing::warn!(mountpath = %path, state = ?state, "configured mountpath was {state:?} at runtime and stays so (attach or enable it through the API)");
        }
        if !entries.iter().any(|e| e.path == path) {
            entries.push(PersistedMp { path, state });
        }
    }
    if let Some(ps) = &persisted {
        for m in &ps.mountpaths {
            if !entries.iter().any(|e| e.path == m.path) {
                entries.push(m.clone());
            }
        }
    }
    let mut set = MpSet {
        version: 1,
        ..Default::default()
    };
    let mut detached = Vec::new();
    for e in &entries {
        match e.state {
            MpState::Enabled => {
                let m = Mountpath::init(Path::new(&e.path))
                    .map_err(|e| Error::Config(e.to_string()))?;
                set.core.push(set.avail.len() % cores);
                set.avail.push(Arc::new(m));
            }
            MpState::Disabling | MpState::Detaching => {
                let m = Mountpath::init(Path::new(&e.path))
                    .map_err(|e| Error::Config(e.to_string()))?;
                let l = if e.state == MpState::Disabling {
                    Leaving::Disable
                } else {
                    Leaving::Detach
                };
                set.leaving.push((Arc::new(m), l));
            }
            MpState::Disabled => set.disabled.push(e.path.clone()),
            MpState::Detached => detached.push(e.path.clone()),
        }
    }
    let all: Vec<&Mountpath> = set
        .avail
        .iter()
        .chain(set.leaving.iter().map(|(m, _)| m))
        .map(std::convert::AsRef::as_ref)
        .collect();
    engine::mountpath::check_not_nested_refs(&all).map_err(|e| Error::Config(e.to_string()))?;
    if set.avail.is_empty() && !configured.is_empty() {
        return Err(Error::Config(format!(
            "no available mountpaths: all of them are disabled or detached ({})",
            file.display()
        )));
    }
    let pending = match &persisted {
        None => false,
        Some(ps) => {
            let before: std::collections::BTreeSet<&str> = ps
                .mountpaths
                .iter()
                .filter(|m| m.state == MpState::Enabled)
                .map(|m| m.path.as_str())
                .collect();
            let now: std::collections::BTreeSet<&str> =
                set.avail.iter().map(|m| m.path_str.as_str()).collect();
            ps.resilver_pending || before != now || !set.leaving.is_empty()
        }
    };
    Ok((set, detached, pending))
}

/// Persist `set` with the detached paths to remember (blocking; call under the node's
/// mountpath lock).
pub fn persist(
    confdir: &Path,
    set: &MpSet,
    detached: &[String],
    resilver_pending: bool,
) -> Result<()> {
    let p = set.persisted(resilver_pending, detached);
    let body = serde_json::to_vec_pretty(&p).map_err(|e| Error::Internal(e.to_string()))?;
    let path = confdir.join(PERSIST_FILE);
    let tmp = confdir.join(format!("{PERSIST_FILE}.tmp"));
    (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(confdir)?.sync_all()
    })()
    .map_err(|e| Error::Internal(format!("persist {}: {e}", path.display())))
}
