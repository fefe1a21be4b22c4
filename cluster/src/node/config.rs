//! A node's configuration: its role and what `aisnode`'s flags set. The cluster-wide
//! configuration (keepalive, rebalance, ...) is `crate::meta::config`, published in
//! `NodeState::config`.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    All,
    Proxy,
    Target,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub role: Role,
    pub host: String,
    pub port: u16,
    pub core_port_base: u16,
    pub cores: usize,
    pub data_dir: PathBuf,
    pub mountpaths: Vec<PathBuf>,
    /// fdatasync objects and fsync their directories before acknowledging a PUT.
    pub fsync: bool,
    /// S3 access keys (access key, secret). Empty: anonymous S3 access.
    pub s3_credentials: Vec<(String, String)>,
    /// S3 access keys mapped to an AuthN user: (access key, that user's token). With
    /// authentication on, a request signed with such a key has the token's permissions.
    pub s3_key_tokens: Vec<(String, String)>,
    /// Serve S3 at the root of the public port too (AIS's `S3-API-via-Root` feature), for
    /// tools that drop the endpoint's path; `/v1/...` and `/ais/...` keep their meaning.
    pub s3_via_root: bool,
    /// On `/s3`, follow AIS where AIS and AWS differ: DeleteBucket removes a bucket with its
    /// objects, and multipart parts of any size are accepted (default: AWS's rules).
    pub s3_ais_semantics: bool,
    /// Files under this directory (resolved, absolute) may be promoted to objects; `None`:
    /// promote is disabled.
    pub promote_root: Option<PathBuf>,
    /// Intra-cluster control and data networks (host, port); `None`: same as public.
    pub intra_control: Option<(String, u16)>,
    pub intra_data: Option<(String, u16)>,
    /// Primary proxy's URL to join; `None` for the primary itself (and for `--role all`).
    /// Only the first hint: once the node holds a Smap, the Smap names the primary (which
    /// moves on failover and `set-primary`).
    pub primary_url: Option<String>,
    /// This proxy never becomes primary (AIS `proxy.non_electable`, Snode flag 1).
    pub non_electable: bool,
    /// The start-up values of the cluster configuration (defaults, then `--config`, then
    /// flags given explicitly: keepalive, rebalance throttle). They seed the cluster config
    /// when this node has none persisted, and `reset-config` returns to them; what the node
    /// uses at run time is the published config (`NodeState::config`).
    pub initial_config: crate::meta::config::ClusterConfig,
    /// Per-node values given explicitly as flags on a node that joins a primary
    /// (`--rebalance-workers`, `--rebalance-max-rate`: the throttle of this target): this
    /// node's override for this run, on top of the cluster config (nested JSON; not
    /// persisted, as AIS's `-config_custom`).
    pub startup_override: serde_json::Value,
    /// Interval of the averaged metrics (AIS `periodic.stats_time`: `get_ms`, disk rates).
    pub stats_interval: std::time::Duration,
}
