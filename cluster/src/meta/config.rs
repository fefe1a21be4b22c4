//! Layer 1: the cluster configuration in AIS's JSON shape (`ais.json`, persisted as
//! `conf/.ais.conf`), sans-IO: its sections, AIS's duration strings, the partial updates of
//! `set-config` (query `section.key=value` pairs or a nested JSON object), node overrides
//! (`conf/.ais.override_config`), and validation that names the field.
//!
//! # Invariants
//! - Only the fields this node honours can change ([`SETTABLE`]); every other field is
//!   reported as this node behaves and a change to it is refused by name (501), never
//!   stored and ignored.
//! - A refused update changes nothing: updates are computed on a copy and validated whole.
//! - `config_version` only grows and `uuid` is the cluster's (the version rule of
//!   [`crate::meta::version`], as for the Smap and BMD).
//!
//! # What this module does not do
//! Files, the network and publishing are layers 2-3 (`crate::config`). The local part of
//! AIS's config (`ais_local.json`: host, ports, mountpaths) is the node's flags
//! (`crate::node::NodeConfig`).

use super::space::{LruConf, SpaceConf};
use super::{CksumConf, VersionConf};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// Keepalive period bounds (`keepalivetracker.*.interval`).
pub const KEEPALIVE_INTERVAL_MS_MIN: u64 = 10;
pub const KEEPALIVE_INTERVAL_MS_MAX: u64 = 3_600_000;
/// Missed keepalive periods before a node leaves the Smap (`keepalivetracker.*.factor`).
pub const KEEPALIVE_FACTOR_MAX: u8 = 100;
/// Objects in flight per rebalance or resilver on a target (`rebalance.workers`).
pub const REBALANCE_WORKERS_DEFAULT: usize = 4;
pub const REBALANCE_WORKERS_MAX: usize = 1024;

/// The fields `set-config` may change: the ones this node honours.
pub const SETTABLE: &[&str] = &[
    "keepalivetracker.proxy.interval",
    "keepalivetracker.proxy.factor",
    "keepalivetracker.target.interval",
    "keepalivetracker.target.factor",
    "rebalance.workers",
    "rebalance.max_rate",
    "space.cleanupwm",
    "space.lowwm",
    "space.highwm",
    "space.out_of_space",
    "space.dont_cleanup_time",
    "lru.dont_evict_time",
    "lru.capacity_upd_time",
    "lru.batch_size",
    "lru.enabled",
    // Cluster-wide only (not in OVERRIDABLE): the last AUTH_SETTABLE entries.
    "auth.client_auth_required",
    "auth.enabled",
];

/// The `auth` fields at the end of [`SETTABLE`]: one node cannot turn authentication off for
/// itself.
const AUTH_SETTABLE: usize = 2;

/// The fields a node override may hold: every settable one but `auth` (AIS lets a node
/// override its keepalive trackers; the rebalance throttle is per target anyway). AIS's
/// cluster-only sections (`proxy`, `rebalance.enabled`, `versioning`, `features`, ...) are
/// reported fields here, so they cannot be overridden either.
pub const OVERRIDABLE: &[&str] = SETTABLE.split_at(SETTABLE.len() - AUTH_SETTABLE).0;

/// AIS configuration sections and fields this node does not have: named, they are refused
/// as not implemented (501), not as unknown (400).
pub const AIS_NOT_SUPPORTED: &[&str] = &[
    "backend",
    "mirror",
    "ec",
    "log",
    "periodic",
    "timeout",
    "client",
    "space.batch_size",
    "disk",
    "resilver",
    "downloader",
    "distributed_sort",
    "transport",
    "memsys",
    "tcb",
    "tco",
    "arch",
    "rate_limit",
    "write_policy",
    "tracing",
    "chunks",
    "fshc",
    "ext",
    "keepalivetracker.num_retries",
    "keepalivetracker.retry_factor",
    "rebalance.compression",
    "rebalance.bundle_multiplier",
    "rebalance.burst_buffer",
    "rebalance.dest_retry_time",
    "net.use_ipv6",
    "net.l4.sndrcv_buf_size",
    "net.http",
    "auth.signature",
    "auth.required_claims",
    "auth.oidc",
    "auth.intra_cluster",
];

/// Query parameters of `set-config` that are not configuration keys.
pub const QUERY_NON_KEYS: &[&str] = &["transient"];

/// A duration written as AIS writes one (Go's `time.Duration` string: "10s", "500ms",
/// "1m30s").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn from_ms(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
}

impl std::fmt::Display for Dur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        parse_go_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Go's `time.Duration.String()`: "0s", "1.5ms", "10s", "1m0s", "1h2m3.5s".
pub fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    // A fraction with its trailing zeros dropped.
    let frac = |v: u128, unit: u128| -> String {
        let (i, r) = (v / unit, v % unit);
        if r == 0 {
            return i.to_string();
        }
        let width = unit.ilog10() as usize;
        let digits = format!("{r:0width$}");
        format!("{i}.{}", digits.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let secs_ns = ns % 60_000_000_000;
    let mins = ns / 60_000_000_000;
    let s = format!("{}s", frac(secs_ns, 1_000_000_000));
    match (mins / 60, mins % 60) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

/// Go's `time.ParseDuration` for non-negative values: "300ms", "1.5h", "2h45m", "0".
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (expected e.g. \"10s\", \"500ms\", \"1m30s\")");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(bad());
    }
    let s2 = s.strip_prefix('+').unwrap_or(s);
    let mut total: f64 = 0.0;
    let mut rest = s2;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ns: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += num * unit_ns;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// How one kind of node is tracked: keepalive every `interval`; silent for
/// `interval x factor` and it leaves the Smap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeepaliveTrackerConf {
    pub name: String,
    pub interval: Dur,
    pub factor: u8,
}

impl Default for KeepaliveTrackerConf {
    fn default() -> Self {
        KeepaliveTrackerConf {
            name: "heartbeat".into(),
            interval: Dur::from_ms(10_000),
            factor: 3,
        }
    }
}

impl KeepaliveTrackerConf {
    pub fn timeout(&self) -> Duration {
        self.interval.0 * u32::from(self.factor)
    }
}

/// AIS `keepalivetracker`: `proxy` for proxies, `target` for targets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeepaliveConf {
    pub proxy: KeepaliveTrackerConf,
    pub target: KeepaliveTrackerConf,
}

/// AIS `rebalance`, with this node's throttle (`workers`, `max_rate`: not AIS's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RebalanceConf {
    /// Objects in flight per rebalance or resilver on a target.
    pub workers: usize,
    /// Most objects per second one rebalance or resilver moves on a target (0: no limit).
    pub max_rate: u32,
    /// Automatic rebalance on a change of the active targets (always, here).
    pub enabled: bool,
}

impl Default for RebalanceConf {
    fn default() -> Self {
        RebalanceConf {
            workers: REBALANCE_WORKERS_DEFAULT,
            max_rate: 0,
            enabled: true,
        }
    }
}

/// AIS `auth`: `client_auth_required` (or the older `enabled`, read as the same) makes every
/// client request carry an AuthN token (`cluster::auth`). The signing key is not part of the
/// config: each node reads it from `AIS_AUTHN_SECRET_KEY` (HS256), so it never shows in
/// config output or metasync; `auth.signature` (a key in the config) is refused by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConf {
    pub enabled: bool,
    pub client_auth_required: bool,
}

impl AuthConf {
    /// Client requests need a token.
    pub fn required(&self) -> bool {
        self.enabled || self.client_auth_required
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct L4Conf {
    pub proto: String,
}

impl Default for L4Conf {
    fn default() -> Self {
        L4Conf {
            proto: "tcp".into(),
        }
    }
}

/// AIS's `net.http` TLS fields (its names and meanings) and our per-network switches.
/// Read when the node starts (listeners, the scheme of its URLs in the Smap, its client for
/// peers); a change at run time is refused like every reported field (restart to change).
/// The certificate itself can be re-read at run time (`PUT /v1/daemon/load-x509`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConf {
    /// HTTPS on every network unless a per-network switch below says otherwise.
    pub use_https: bool,
    /// PEM certificate (chain) and key of this node.
    pub server_crt: String,
    pub server_key: String,
    /// PEM CA that signs client certificates (`client_auth_tls` 3 or 4).
    pub client_ca_tls: String,
    /// Go's `tls.ClientAuthType`: 0 none, 3 verify if given, 4 require and verify.
    pub client_auth_tls: i64,
    /// Intra-cluster calls accept any peer certificate (self-signed setups).
    pub skip_verify: bool,
    /// The name peers' certificates are verified against (empty: the host in the URL).
    pub domain_tls: String,
    /// Ours, not AIS's: HTTPS on the public network (the public port and every core port;
    /// clients and proxies' redirects go there). `null`: `use_https`.
    pub public_https: Option<bool>,
    /// Ours: HTTPS on the intra-control network's listener. `null`: `use_https`.
    pub control_https: Option<bool>,
    /// Ours: HTTPS on the intra-data network's listener. `null`: `use_https`.
    pub data_https: Option<bool>,
}

impl HttpConf {
    /// HTTPS on the (public, intra-control, intra-data) networks.
    pub fn https(&self) -> [bool; 3] {
        [self.public_https, self.control_https, self.data_https]
            .map(|o| o.unwrap_or(self.use_https))
    }
}

/// `net.http` fields a start-up config (`--config`) may set; at run time they are reported
/// (a change is refused: TLS is set up when the node starts).
pub const START_ONLY: &[&str] = &[
    "net.http.use_https",
    "net.http.server_crt",
    "net.http.server_key",
    "net.http.client_ca_tls",
    "net.http.client_auth_tls",
    "net.http.skip_verify",
    "net.http.domain_tls",
    "net.http.public_https",
    "net.http.control_https",
    "net.http.data_https",
];

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetConf {
    pub l4: L4Conf,
    pub http: HttpConf,
}

/// AIS `proxy`: the primary's URL (the primary writes its own when it creates the config).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConf {
    pub primary_url: String,
    pub original_url: String,
    pub discovery_url: String,
    pub non_electable: bool,
}

fn default_cksum() -> CksumConf {
    CksumConf {
        ty: "xxhash2".into(),
        validate_cold_get: true,
        validate_warm_get: true,
        validate_obj_move: false,
        enable_read_range: false,
    }
}

fn default_versioning() -> VersionConf {
    VersionConf {
        enabled: true,
        validate_warm_get: false,
        synchronize: false,
    }
}

/// The cluster configuration (AIS `ClusterConfig`, the sections this node honours or
/// reports). Sections missing from a file take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    pub keepalivetracker: KeepaliveConf,
    pub rebalance: RebalanceConf,
    #[serde(default = "default_cksum")]
    pub checksum: CksumConf,
    #[serde(default = "default_versioning")]
    pub versioning: VersionConf,
    pub auth: AuthConf,
    pub net: NetConf,
    pub proxy: ProxyConf,
    /// Remote backends (AIS `backend`): the attached remote AIS clusters, alias -> URLs
    /// (`attach`/`detach`, not `set-config`).
    #[serde(default)]
    pub backend: BackendConf,
    /// Capacity watermarks (`crate::meta::space`).
    pub space: SpaceConf,
    /// LRU eviction (`crate::meta::space`).
    pub lru: LruConf,
    /// AIS feature flags (a bit set written as a decimal string): none here.
    #[serde(serialize_with = "super::ser_str", deserialize_with = "de_u64_str")]
    pub features: u64,
    pub lastupdate_time: String,
    pub uuid: String,
    #[serde(
        serialize_with = "super::ser_str",
        deserialize_with = "super::de_str_num"
    )]
    pub config_version: i64,
}

fn de_u64_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = super::de_str_num(d)?;
    u64::try_from(v).map_err(serde::de::Error::custom)
}

/// AIS `BackendConf`: `ais` maps a remote cluster's alias to its URLs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendConf {
    #[serde(default)]
    pub ais: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            keepalivetracker: KeepaliveConf::default(),
            rebalance: RebalanceConf::default(),
            checksum: default_cksum(),
            versioning: default_versioning(),
            auth: AuthConf::default(),
            net: NetConf::default(),
            proxy: ProxyConf::default(),
            backend: BackendConf::default(),
            space: SpaceConf::default(),
            lru: LruConf::default(),
            features: 0,
            lastupdate_time: String::new(),
            uuid: String::new(),
            config_version: 0,
        }
    }
}

/// Why a configuration or an update was refused; `path` names the field
/// (`keepalivetracker.proxy.interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub msg: String,
    /// A field this node reports but does not honour (answer 501, not 400).
    pub not_implemented: bool,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", self.path, self.msg)
        }
    }
}

fn err(path: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_string(),
        msg: msg.into(),
        not_implemented: false,
    }
}

/// The error for a field this node does not have: AIS's (501) or no one's (400).
fn unknown(path: &str) -> ConfigError {
    let ais = AIS_NOT_SUPPORTED.iter().find(|n| {
        path == **n || (path.starts_with(**n) && path.as_bytes().get(n.len()) == Some(&b'.'))
    });
    match ais {
        Some(n) => ConfigError {
            path: path.to_string(),
            msg: format!("AIS configuration {n:?} is not supported by this node"),
            not_implemented: true,
        },
        None => err(path, "unknown configuration field"),
    }
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

impl ClusterConfig {
    /// Parse a whole config (a `--config` file, a persisted or synced one): unknown fields
    /// and wrong types are errors naming the field.
    /// Sections and fields left out take their defaults.
    pub fn from_json(v: &Value) -> Result<ClusterConfig, ConfigError> {
        let mut full = ClusterConfig::default().to_json();
        merge(&mut full, v, "")?;
        serde_path_to_error::deserialize(&full).map_err(|e| {
            let p = e.path().to_string();
            err(if p == "." { "" } else { &p }, e.inner().to_string())
        })
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("ClusterConfig serializes")
    }

    /// Range checks on the fields this node honours.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (role, k) in [
            ("proxy", &self.keepalivetracker.proxy),
            ("target", &self.keepalivetracker.target),
        ] {
            let range = Duration::from_millis(KEEPALIVE_INTERVAL_MS_MIN)
                ..=Duration::from_millis(KEEPALIVE_INTERVAL_MS_MAX);
            if !range.contains(&k.interval.0) {
                return Err(err(
                    &format!("keepalivetracker.{role}.interval"),
                    format!(
                        "invalid value {} (expected {} to {})",
                        k.interval,
                        Dur::from_ms(KEEPALIVE_INTERVAL_MS_MIN),
                        Dur::from_ms(KEEPALIVE_INTERVAL_MS_MAX)
                    ),
                ));
            }
            if !(1..=KEEPALIVE_FACTOR_MAX).contains(&k.factor) {
                return Err(err(
                    &format!("keepalivetracker.{role}.factor"),
                    format!(
                        "invalid value {} (expected 1 to {KEEPALIVE_FACTOR_MAX})",
                        k.factor
                    ),
                ));
            }
        }
        if !(1..=REBALANCE_WORKERS_MAX).contains(&self.rebalance.workers) {
            return Err(err(
                "rebalance.workers",
                format!(
                    "invalid value {} (expected 1 to {REBALANCE_WORKERS_MAX})",
                    self.rebalance.workers
                ),
            ));
        }
        self.space.validate()?;
        self.lru.validate()?;
        Ok(())
    }

    /// Fields this node reports but does not honour must hold what it does: refuse a
    /// start-up config (a `--config` file) that says otherwise.
    pub fn check_reported(&self) -> Result<(), ConfigError> {
        // The settable fields may differ (checked against SETTABLE); identity and the
        // primary's URL are the node's to fill in.
        let base = ClusterConfig {
            proxy: ProxyConf {
                primary_url: self.proxy.primary_url.clone(),
                ..ProxyConf::default()
            },
            uuid: self.uuid.clone(),
            config_version: self.config_version,
            lastupdate_time: self.lastupdate_time.clone(),
            ..ClusterConfig::default()
        };
        let allowed: Vec<&str> = SETTABLE.iter().chain(START_ONLY).copied().collect();
        check_unchanged(&base.to_json(), &self.to_json(), &allowed)
    }
}

/// The first leaf that differs between `old` and `new` outside `allowed` paths: refused
/// as not implemented (the node reports it but does not honour a change).
fn check_unchanged(old: &Value, new: &Value, allowed: &[&str]) -> Result<(), ConfigError> {
    fn walk(old: &Value, new: &Value, prefix: &str, allowed: &[&str]) -> Result<(), ConfigError> {
        match (old, new) {
            (Value::Object(o), Value::Object(n)) => {
                for (k, nv) in n {
                    let p = join(prefix, k);
                    match o.get(k) {
                        Some(ov) => walk(ov, nv, &p, allowed)?,
                        None => return Err(unknown(&p)),
                    }
                }
                Ok(())
            }
            _ if old == new || allowed.contains(&prefix) => Ok(()),
            _ => Err(ConfigError {
                path: prefix.to_string(),
                msg: format!(
                    "{new} (was {old}): this node reports this field but does not support changing it"
                ),
                not_implemented: true,
            }),
        }
    }
    walk(old, new, "", allowed)
}

/// A partial update as `set-config` carries it.
#[derive(Debug, Clone)]
pub enum Patch {
    /// `?keepalivetracker.proxy.interval=2s&...` (AIS `api.SetClusterConfig`, `ais config
    /// cluster key=value`): values as strings, typed by the field they name.
    Query(Vec<(String, String)>),
    /// `{"keepalivetracker": {"proxy": {"interval": "2s"}}}` (AIS `ConfigToSet`).
    Json(Value),
}

impl Patch {
    /// The update as nested JSON, typed by the fields of `base` (a full config).
    pub fn to_json(&self, base: &Value) -> Result<Value, ConfigError> {
        let kvs = match self {
            Patch::Json(v @ Value::Object(_)) => return Ok(v.clone()),
            Patch::Json(Value::Null) => return Err(err("", "set-config: missing value")),
            Patch::Json(v) => {
                return Err(err(
                    "",
                    format!("set-config: value must be a JSON object, got {v}"),
                ))
            }
            Patch::Query(kvs) => kvs,
        };
        let mut out = Value::Object(Map::new());
        let mut any = false;
        for (key, val) in kvs {
            if QUERY_NON_KEYS.contains(&key.as_str()) {
                continue;
            }
            any = true;
            let parts: Vec<&str> = key.split('.').collect();
            let mut cur = base;
            for (i, p) in parts.iter().enumerate() {
                // An AIS field this node lacks is named whole (`log.level`, not `log`).
                cur = match cur.get(p) {
                    Some(c) => c,
                    None if unknown(key).not_implemented => return Err(unknown(key)),
                    None => return Err(unknown(&parts[..=i].join("."))),
                };
            }
            let typed = match cur {
                Value::Bool(_) => Value::Bool(val.parse().map_err(|_| {
                    err(
                        key,
                        format!("invalid value {val:?} (expected true or false)"),
                    )
                })?),
                Value::Number(_) => {
                    let n: serde_json::Number = val.parse().map_err(|_| {
                        err(key, format!("invalid value {val:?} (expected a number)"))
                    })?;
                    Value::Number(n)
                }
                Value::String(_) => Value::String(val.clone()),
                _ => {
                    return Err(err(
                        key,
                        "is a section: name one of its fields (section.field=value)",
                    ))
                }
            };
            let mut slot = &mut out;
            for p in &parts[..parts.len() - 1] {
                slot = slot
                    .as_object_mut()
                    .expect("built as objects")
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
            }
            slot.as_object_mut()
                .expect("built as objects")
                .insert(parts[parts.len() - 1].to_string(), typed);
        }
        if !any {
            return Err(err(
                "",
                "set-config: no configuration key given (expected section.field=value)",
            ));
        }
        Ok(out)
    }
}

/// Merge `patch` into `base` in place: every key of the patch must be a field of the base;
/// a section takes a JSON object.
pub fn merge(base: &mut Value, patch: &Value, prefix: &str) -> Result<(), ConfigError> {
    let Value::Object(p) = patch else {
        return Err(err(prefix, format!("expected a JSON object, got {patch}")));
    };
    let Value::Object(b) = base else {
        return Err(err(prefix, "is not a section"));
    };
    for (k, pv) in p {
        let path = join(prefix, k);
        let Some(bv) = b.get_mut(k) else {
            return Err(unknown(&path));
        };
        if bv.is_object() {
            merge(bv, pv, &path)?;
        } else if pv.is_object() || pv.is_array() {
            return Err(err(&path, format!("expected a value, got {pv}")));
        } else {
            *bv = pv.clone();
        }
    }
    Ok(())
}

/// `cur` with `patch` (nested JSON) applied, limited to the `allowed` fields, and validated.
/// `cur` is unchanged whatever the outcome.
pub fn apply_patch(
    cur: &ClusterConfig,
    patch: &Value,
    allowed: &[&str],
) -> Result<ClusterConfig, ConfigError> {
    let old = cur.to_json();
    let mut v = old.clone();
    merge(&mut v, patch, "")?;
    let new = ClusterConfig::from_json(&v)?;
    check_unchanged(&old, &new.to_json(), allowed)?;
    new.validate()?;
    Ok(new)
}

/// A node override (nested JSON) checked against `cluster`: only [`OVERRIDABLE`] fields,
/// with valid values. The node's effective config is `cluster` with it applied.
pub fn effective(cluster: &ClusterConfig, overrides: &Value) -> Result<ClusterConfig, ConfigError> {
    if overrides.as_object().is_none_or(Map::is_empty) {
        return Ok(cluster.clone());
    }
    let v = apply_patch(cluster, overrides, OVERRIDABLE)?;
    // The override never renames the cluster or its version.
    Ok(ClusterConfig {
        uuid: cluster.uuid.clone(),
        config_version: cluster.config_version,
        lastupdate_time: cluster.lastupdate_time.clone(),
        ..v
    })
}

/// Add `patch` to the node override `into` (both nested JSON objects).
pub fn merge_override(into: &mut Value, patch: &Value) {
    if !into.is_object() {
        *into = Value::Object(Map::new());
    }
    if let (Some(i), Some(p)) = (into.as_object_mut(), patch.as_object()) {
        for (k, pv) in p {
            match i.get_mut(k) {
                Some(iv) if iv.is_object() && pv.is_object() => merge_override(iv, pv),
                _ => {
                    i.insert(k.clone(), pv.clone());
                }
            }
        }
    }
}

/// What a node holds: the cluster config (versioned, from the primary), its own override,
/// and the two combined, which is what the node uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigView {
    pub cluster: ClusterConfig,
    /// The override in force: a nested JSON object of [`OVERRIDABLE`] fields (empty: none).
    pub overrides: Value,
    /// The part of `overrides` that is persisted (not transient, not from start-up flags).
    pub persisted: Value,
    pub effective: ClusterConfig,
}

impl ConfigView {
    pub fn new(cluster: ClusterConfig) -> ConfigView {
        ConfigView {
            effective: cluster.clone(),
            cluster,
            overrides: Value::Object(Map::new()),
            persisted: Value::Object(Map::new()),
        }
    }

    /// The view with `cluster` and `overrides` (of which `persisted` is kept in the file);
    /// an override the cluster config does not accept is an error (the caller decides
    /// whether to drop it).
    pub fn with(
        cluster: ClusterConfig,
        overrides: Value,
        persisted: Value,
    ) -> Result<ConfigView, ConfigError> {
        let effective = effective(&cluster, &overrides)?;
        Ok(ConfigView {
            cluster,
            overrides,
            persisted,
            effective,
        })
    }

    /// This view with a new cluster config and the same override.
    pub fn with_cluster(&self, cluster: ClusterConfig) -> Result<ConfigView, ConfigError> {
        ConfigView::with(cluster, self.overrides.clone(), self.persisted.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_format_and_parse() {
        for (ms, s) in [
            (0u64, "0s"),
            (500, "500ms"),
            (1_500, "1.5s"),
            (10_000, "10s"),
            (60_000, "1m0s"),
            (90_000, "1m30s"),
            (3_600_000, "1h0m0s"),
            (3_723_500, "1h2m3.5s"),
        ] {
            assert_eq!(format_go_duration(Duration::from_millis(ms)), s);
            assert_eq!(
                parse_go_duration(s).unwrap(),
                Duration::from_millis(ms),
                "{s}"
            );
        }
        assert_eq!(format_go_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(parse_go_duration("2h45m").unwrap().as_secs(), 9_900);
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "10", "-1s", "1x", "s", "1.2.3s", "abc"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn default_config_has_ais_shape() {
        let v = ClusterConfig::default().to_json();
        assert_eq!(v["keepalivetracker"]["proxy"]["interval"], "10s");
        assert_eq!(v["keepalivetracker"]["target"]["factor"], 3);
        assert_eq!(v["config_version"], "0");
        assert_eq!(v["features"], "0");
        assert_eq!(v["auth"]["enabled"], false);
        assert_eq!(v["checksum"]["type"], "xxhash2");
        assert_eq!(
            ClusterConfig::from_json(&v).unwrap(),
            ClusterConfig::default()
        );
        ClusterConfig::default().validate().unwrap();
    }

    #[test]
    fn file_parse_names_unknown_and_mistyped_fields() {
        let c = ClusterConfig::from_json(
            &json!({"keepalivetracker": {"proxy": {"interval": "2s"}}, "config_version": "7"}),
        )
        .unwrap();
        assert_eq!(c.keepalivetracker.proxy.interval, Dur::from_ms(2_000));
        assert_eq!(c.keepalivetracker.proxy.factor, 3);
        assert_eq!(c.config_version, 7);
        let e =
            ClusterConfig::from_json(&json!({"keepalivetracker": {"proxy": {"intervl": "2s"}}}))
                .unwrap_err();
        assert_eq!(e.path, "keepalivetracker.proxy.intervl");
        let e = ClusterConfig::from_json(&json!({"checksum": {"tpye": "md5"}})).unwrap_err();
        assert_eq!(e.path, "checksum.tpye");
        let c =
            ClusterConfig::from_json(&json!({"checksum": {"validate_warm_get": false}})).unwrap();
        assert_eq!(c.checksum.ty, "xxhash2");
        assert!(!c.checksum.validate_warm_get);
        let e = ClusterConfig::from_json(&json!({"keepalivetracker": {"target": {"interval": 5}}}))
            .unwrap_err();
        assert_eq!(e.path, "keepalivetracker.target.interval");
        let e = ClusterConfig::from_json(&json!({"nosuch": 1})).unwrap_err();
        assert_eq!(e.path, "nosuch");
        assert!(!e.not_implemented);
        // AIS's, not here: 501 by name.
        let e = ClusterConfig::from_json(&json!({"disk": {"iostat_time_long": "1s"}})).unwrap_err();
        assert_eq!(e.path, "disk");
        assert!(e.not_implemented);
    }

    #[test]
    fn query_patch_is_typed_by_the_field() {
        let base = ClusterConfig::default().to_json();
        let p = Patch::Query(vec![
            ("keepalivetracker.proxy.interval".into(), "2s".into()),
            ("keepalivetracker.proxy.factor".into(), "4".into()),
            ("transient".into(), "false".into()),
        ])
        .to_json(&base)
        .unwrap();
        assert_eq!(
            p,
            json!({"keepalivetracker": {"proxy": {"interval": "2s", "factor": 4}}})
        );
        let c = apply_patch(&ClusterConfig::default(), &p, SETTABLE).unwrap();
        assert_eq!(c.keepalivetracker.proxy.interval, Dur::from_ms(2_000));
        assert_eq!(c.keepalivetracker.proxy.factor, 4);
        for (k, v, path) in [
            (
                "keepalivetracker.proxy.intervl",
                "2s",
                "keepalivetracker.proxy.intervl",
            ),
            ("nosuch.x", "1", "nosuch"),
            (
                "keepalivetracker.proxy.factor",
                "many",
                "keepalivetracker.proxy.factor",
            ),
            ("keepalivetracker.proxy", "1", "keepalivetracker.proxy"),
        ] {
            let e = Patch::Query(vec![(k.into(), v.into())])
                .to_json(&base)
                .unwrap_err();
            assert_eq!(e.path, path, "{k}={v}");
        }
        assert!(Patch::Query(vec![]).to_json(&base).is_err());
        let e = Patch::Query(vec![("log.level".into(), "4".into())])
            .to_json(&base)
            .unwrap_err();
        assert_eq!((e.path.as_str(), e.not_implemented), ("log.level", true));
        let e = Patch::Query(vec![("rebalance.burst_buffer".into(), "4".into())])
            .to_json(&base)
            .unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.not_implemented),
            ("rebalance.burst_buffer", true)
        );
    }

    #[test]
    fn invalid_updates_name_the_field_and_change_nothing() {
        let cur = ClusterConfig::default();
        let snapshot = cur.clone();
        for (patch, path, ni) in [
            (
                json!({"keepalivetracker": {"proxy": {"interval": "0s"}}}),
                "keepalivetracker.proxy.interval",
                false,
            ),
            (
                json!({"keepalivetracker": {"proxy": {"interval": "soon"}}}),
                "keepalivetracker.proxy.interval",
                false,
            ),
            (
                json!({"keepalivetracker": {"target": {"factor": 0}}}),
                "keepalivetracker.target.factor",
                false,
            ),
            (
                json!({"keepalivetracker": {"target": {"factor": 300}}}),
                "keepalivetracker.target.factor",
                false,
            ),
            (
                json!({"keepalivetracker": {"target": {"factor": "3"}}}),
                "keepalivetracker.target.factor",
                false,
            ),
            (
                json!({"rebalance": {"workers": 0}}),
                "rebalance.workers",
                false,
            ),
            (
                json!({"rebalance": {"max_rate": -1}}),
                "rebalance.max_rate",
                false,
            ),
            (
                json!({"keepalivetracker": {"proxy": 5}}),
                "keepalivetracker.proxy",
                false,
            ),
            (
                json!({"keepalivetracker": {"nope": 1}}),
                "keepalivetracker.nope",
                false,
            ),
            (
                json!({"auth": {"signature": {"key": "k"}}}),
                "auth.signature",
                true,
            ),
            (
                json!({"rebalance": {"enabled": false}}),
                "rebalance.enabled",
                true,
            ),
            (json!({"uuid": "x"}), "uuid", true),
            (json!({"config_version": "9"}), "config_version", true),
        ] {
            let e = apply_patch(&cur, &patch, SETTABLE).unwrap_err();
            assert_eq!(e.path, path, "{patch}: {e}");
            assert_eq!(e.not_implemented, ni, "{patch}: {e}");
        }
        assert_eq!(cur, snapshot);
    }

    #[test]
    fn limits_hold_at_the_bound_and_refuse_one_past_it() {
        let set = |p: Value| apply_patch(&ClusterConfig::default(), &p, SETTABLE);
        let min = Dur::from_ms(KEEPALIVE_INTERVAL_MS_MIN).to_string();
        let max = Dur::from_ms(KEEPALIVE_INTERVAL_MS_MAX).to_string();
        let below = format_go_duration(Duration::from_micros(KEEPALIVE_INTERVAL_MS_MIN * 1000 - 1));
        let above = format_go_duration(Duration::from_micros(KEEPALIVE_INTERVAL_MS_MAX * 1000 + 1));
        for (v, ok) in [(min, true), (max, true), (below, false), (above, false)] {
            let r = set(json!({"keepalivetracker": {"proxy": {"interval": v}}}));
            assert_eq!(r.is_ok(), ok, "interval {v}: {r:?}");
        }
        for (f, ok) in [
            (1, true),
            (KEEPALIVE_FACTOR_MAX, true),
            (0, false),
            (KEEPALIVE_FACTOR_MAX + 1, false),
        ] {
            let r = set(json!({"keepalivetracker": {"target": {"factor": f}}}));
            assert_eq!(r.is_ok(), ok, "factor {f}: {r:?}");
        }
        for (w, ok) in [
            (1, true),
            (REBALANCE_WORKERS_MAX, true),
            (0, false),
            (REBALANCE_WORKERS_MAX + 1, false),
        ] {
            let r = set(json!({"rebalance": {"workers": w}}));
            assert_eq!(r.is_ok(), ok, "workers {w}: {r:?}");
        }
    }

    #[test]
    fn overrides_merge_and_stay_within_overridable_fields() {
        let cluster = ClusterConfig {
            uuid: "U".into(),
            config_version: 5,
            ..ClusterConfig::default()
        };
        let mut ov = json!({});
        merge_override(
            &mut ov,
            &json!({"keepalivetracker": {"target": {"interval": "1s"}}}),
        );
        merge_override(
            &mut ov,
            &json!({"keepalivetracker": {"target": {"factor": 5}}}),
        );
        let v = ConfigView::with(cluster.clone(), ov.clone(), ov.clone()).unwrap();
        assert_eq!(
            v.effective.keepalivetracker.target.interval,
            Dur::from_ms(1_000)
        );
        assert_eq!(v.effective.keepalivetracker.target.factor, 5);
        assert_eq!(
            v.effective.keepalivetracker.proxy,
            cluster.keepalivetracker.proxy
        );
        assert_eq!(v.effective.config_version, 5);
        assert_eq!(v.cluster, cluster);
        let e = effective(&cluster, &json!({"proxy": {"primary_url": "http://x"}})).unwrap_err();
        assert_eq!(e.path, "proxy.primary_url");
    }

    #[test]
    fn start_up_config_must_report_the_truth() {
        let mut c = ClusterConfig::default();
        c.keepalivetracker.proxy.interval = Dur::from_ms(500);
        c.proxy.primary_url = "http://127.0.0.1:8080".into();
        c.check_reported().unwrap();
        c.versioning.enabled = false;
        assert_eq!(c.check_reported().unwrap_err().path, "versioning.enabled");
    }

    #[test]
    fn tls_fields_are_set_at_start_up_and_refused_at_run_time() {
        let c = ClusterConfig::from_json(&json!({"net": {"http": {
            "use_https": true, "server_crt": "/c.pem", "server_key": "/k.pem",
            "client_auth_tls": 3, "data_https": false}}}))
        .unwrap();
        c.check_reported().unwrap();
        assert_eq!(c.net.http.https(), [true, true, false]);
        assert_eq!(HttpConf::default().https(), [false, false, false]);
        let e = apply_patch(
            &c,
            &json!({"net": {"http": {"use_https": false}}}),
            SETTABLE,
        )
        .unwrap_err();
        assert_eq!(e.path, "net.http.use_https");
        assert!(e.not_implemented, "{e}");
        // AIS's other net.http fields stay refused by name.
        let e = ClusterConfig::from_json(&json!({"net": {"http": {"idle_conns": 3}}})).unwrap_err();
        assert!(e.not_implemented && e.path == "net.http.idle_conns", "{e}");
    }
}
