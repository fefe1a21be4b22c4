//! `aisnode`: one AIStore-compatible node. With no arguments it starts the embedded default:
//! proxy and target in one process on 127.0.0.1:8080, two mountpaths under `./ais-data`,
//! one pinned reactor per core.

//!
//! Layers 4 (API handlers: `native`, `s3`, with `core`, `req`, `reply`, `error`, `forward`)
//! and 5 (`server`, `routes`, this file) of DESIGN.md §2; layers 1-3 are the `cluster`
//! crate. `tests/layers.rs` keeps lower layers from importing higher ones.

mod auth;
mod core;
mod drain;
mod error;
mod forward;
mod logfile;
mod native;
mod notify;
mod reply;
mod req;
mod routes;
mod s3;
mod server;

use clap::{CommandFactory, FromArgMatches, Parser};
use cluster::meta::config::{ClusterConfig, Dur};
use cluster::node::{NodeConfig, Role};
use cluster::Node;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "aisnode",
    version,
    about = "AIStore-compatible object storage node (thread-per-core, direct I/O)"
)]
struct Args {
    /// Node role: `all` runs proxy and target in one process.
    #[arg(long, default_value = "all", value_parser = ["all", "proxy", "target"])]
    role: String,
    /// Host/IP to listen on and to advertise in the cluster map.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Public port (proxy API; shared by all cores with SO_REUSEPORT).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// First per-core target port: core k listens on BASE+k (default: PORT+1).
    #[arg(long)]
    core_port_base: Option<u16>,
    /// Data directory: configuration (conf/) and, unless --mountpath is given, mountpaths mp1 and mp2.
    #[arg(long, default_value = "ais-data")]
    data_dir: PathBuf,
    /// Mountpath directory (repeatable); one local file system per disk.
    #[arg(long = "mountpath")]
    mountpaths: Vec<PathBuf>,
    /// Number of cores (pinned reactors); default: all available cores.
    #[arg(long)]
    cores: Option<usize>,
    /// Acknowledge PUTs without fdatasync/dir fsync (faster, not power-loss safe; kill -9 safe).
    #[arg(long)]
    no_fsync: bool,
    /// Intra-cluster control network HOST:PORT (keepalive, metasync); default: the public one.
    #[arg(long, value_parser = parse_host_port)]
    intra_control: Option<(String, u16)>,
    /// Intra-cluster data network HOST:PORT; default: the public one.
    #[arg(long, value_parser = parse_host_port)]
    intra_data: Option<(String, u16)>,
    /// Primary proxy URL to join (e.g. http://10.0.0.1:8080); omit on the primary itself.
    #[arg(long)]
    primary_url: Option<String>,
    /// This proxy never becomes primary, neither by election nor by set-primary (AIS
    /// `proxy.non_electable`).
    #[arg(long)]
    non_electable: bool,
    /// Cluster configuration file in AIS's JSON shape (AIS `-config`, `ais.json`; sections
    /// left out take their defaults). The flags below, given explicitly, override it. Used
    /// only while no cluster config is persisted (`conf/.ais.conf`): after that the
    /// persisted config, changed with `set-config`, is the truth.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Keepalive period in milliseconds (AIS keepalivetracker.{proxy,target}.interval,
    /// default 10s).
    #[arg(long, default_value_t = 10_000)]
    keepalive_interval_ms: u64,
    /// A node silent for interval x factor is removed from the Smap (AIS
    /// keepalivetracker.{proxy,target}.factor, default 3).
    #[arg(long, default_value_t = 3)]
    keepalive_factor: u32,
    /// Objects in flight per rebalance or resilver on this target (rebalance.workers;
    /// throttle: fewer keeps foreground latency lower, more moves data faster).
    #[arg(long, default_value_t = cluster::meta::config::REBALANCE_WORKERS_DEFAULT)]
    rebalance_workers: usize,
    /// Most objects per second one rebalance or resilver moves on this target
    /// (rebalance.max_rate; 0: no limit).
    #[arg(long, default_value_t = 0)]
    rebalance_max_rate: u32,
    /// On SIGTERM/SIGINT or a shutdown request: most time in-flight requests get to finish
    /// after the listeners closed, in milliseconds.
    #[arg(long, default_value_t = server::DRAIN_TIMEOUT_MS_DEFAULT)]
    drain_timeout_ms: u64,
    /// On stopping: time between the primary flagging this node and the listeners closing
    /// (requests redirected just before still arrive and are answered), in milliseconds.
    #[arg(long, default_value_t = server::DRAIN_GRACE_MS_DEFAULT)]
    drain_grace_ms: u64,
    /// Interval of the metrics that are averages (`get_ms`, `get_mbps`, the disk rates), in
    /// milliseconds (AIS `periodic.stats_time`, default 10s).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    stats_interval_ms: u64,
    /// Directory of the node's log files (default: <data-dir>/log).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// The current log file is rotated when it passes this many bytes (AIS `log.max_size`).
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(4096..))]
    log_max_size: u64,
    /// The oldest rotated log files are removed while all of them exceed this many bytes
    /// (AIS `log.max_total`).
    #[arg(long, default_value_t = 128 << 20)]
    log_max_total: u64,
    /// Log records as `text` lines or `json` objects (one per line), on stderr and in the files.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// S3 access key; with --s3-secret-key, S3 requests must be SigV4-signed with it
    /// (env AIS_S3_ACCESS_KEY). Without keys S3 access is anonymous.
    #[arg(long, env = "AIS_S3_ACCESS_KEY", hide_env_values = true)]
    s3_access_key: Option<String>,
    /// Also serve S3 at the root of the port (`http://host:port/<bucket>/<key>`), as AIS's
    /// `S3-API-via-Root` feature does, for tools that drop the endpoint's path; `/v1/...`,
    /// `/ais/...` and `/s3/...` keep their meaning (so no bucket named `v1`, `ais` or `s3`
    /// is reachable at the root).
    #[arg(long)]
    s3_via_root: bool,
    /// On /s3, follow AIS where AIS and AWS differ: DeleteBucket removes a non-empty bucket
    /// with its objects, and multipart parts under 5 MiB are accepted. Default: AWS's rules
    /// (BucketNotEmpty, EntityTooSmall).
    #[arg(long)]
    s3_ais_semantics: bool,
    /// Allow `promote` (files on this node's file system become objects) for files under
    /// this directory only; without it promote is refused (403).
    #[arg(long)]
    promote_root: Option<PathBuf>,
    /// S3 secret key (env AIS_S3_SECRET_KEY).
    #[arg(long, env = "AIS_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<String>,
    /// More S3 access keys, each mapped to an AuthN user: a JSON file
    /// `[{"access_key": .., "secret_key": .., "token": <the user's AuthN token>}]` (env
    /// AIS_S3_KEYS_FILE). With authentication on, a request signed with a key gets its user's
    /// permissions (docs/configuration.md, "S3 users").
    #[arg(long, env = "AIS_S3_KEYS_FILE")]
    s3_keys: Option<PathBuf>,
}

fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected HOST:PORT"))?;
    let port: u16 = p.parse().map_err(|_| format!("{s:?}: bad port"))?;
    if h.is_empty() {
        return Err(format!("{s:?}: empty host"));
    }
    Ok((h.to_string(), port))
}

/// See the workspace Cargo.toml: glibc malloc was a sixth of a small GET's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Logging to stderr and to the node's rotating log file (`logfile`), as text or JSON lines.
fn init_logging(a: &Args) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;
    let json = a.log_format == "json";
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("AIS_LOG").unwrap_or_else(|_| "info".into());
    let stderr: Boxed = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };
    let dir = a.log_dir.clone().unwrap_or_else(|| a.data_dir.join("log"));
    let file: Option<Boxed> =
        match logfile::RotatingLog::open(&dir, a.log_max_size, a.log_max_total) {
            Ok(log) => {
                let w = logfile::MakeRecordWriter(log);
                Some(if json {
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(w)
                        .boxed()
                } else {
                    tracing_subscriber::fmt::layer()
                        .with_writer(w)
                        .with_ansi(false)
                        .boxed()
                })
            }
            Err(e) => {
                eprintln!(
                    "aisnode: log directory {}: {e}; logging to stderr only",
                    dir.display()
                );
                None
            }
        };
    let layers: Vec<Boxed> = std::iter::once(stderr).chain(file).collect();
    tracing_subscriber::registry()
        .with(layers.with_filter(filter))
        .init();
}

fn main() {
    let matches = Args::command().get_matches();
    let a = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    init_logging(&a);
    let explicit = |id: &str| {
        matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            || matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable)
    };
    let initial_config = match initial_config(&a, &explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aisnode: {e}");
            std::process::exit(2);
        }
    };
    let cores = a.cores.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(std::num::NonZero::get)
            .unwrap_or(1)
    });
    let role = match a.role.as_str() {
        "proxy" => Role::Proxy,
        "target" => Role::Target,
        _ => Role::All,
    };
    if role == Role::Target && a.primary_url.is_none() {
        eprintln!("aisnode: --role target needs --primary-url (the primary proxy to join)");
        std::process::exit(2);
    }
    if role == Role::All && a.primary_url.is_some() {
        eprintln!("aisnode: --primary-url is for --role proxy|target; --role all is a whole cluster in one process");
        std::process::exit(2);
    }
    if a.non_electable && (role != Role::Proxy || a.primary_url.is_none()) {
        eprintln!("aisnode: --non-electable is for a --role proxy that joins a primary (--primary-url): it can never be primary itself");
        std::process::exit(2);
    }
    let core_port_base = match a.core_port_base {
        Some(b) => b,
        None => match a.port.checked_add(1) {
            Some(b) => b,
            None => {
                eprintln!(
                    "aisnode: --port {} leaves no room for core ports; give --core-port-base",
                    a.port
                );
                std::process::exit(2);
            }
        },
    };
    if core_port_base as usize + cores > 65536 {
        eprintln!(
            "aisnode: core ports {core_port_base}..{} exceed 65535",
            core_port_base as usize + cores - 1
        );
        std::process::exit(2);
    }
    // The rebalance throttle is per target: given explicitly to a node that joins a primary,
    // it overrides the cluster's value on that node (for this run).
    let mut throttle = serde_json::Map::new();
    if a.primary_url.is_some() && explicit("rebalance_workers") {
        throttle.insert("workers".into(), a.rebalance_workers.into());
    }
    if a.primary_url.is_some() && explicit("rebalance_max_rate") {
        throttle.insert("max_rate".into(), a.rebalance_max_rate.into());
    }
    let startup_override = if throttle.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "rebalance": throttle })
    };
    let s3_users = match a.s3_keys.as_deref().map(read_s3_users).transpose() {
        Ok(u) => u.unwrap_or_default(),
        Err(e) => {
            eprintln!("aisnode: --s3-keys: {e}");
            std::process::exit(2);
        }
    };
    let cfg = NodeConfig {
        role,
        host: a.host,
        port: a.port,
        core_port_base,
        cores,
        data_dir: a.data_dir,
        mountpaths: a.mountpaths,
        fsync: !a.no_fsync,
        intra_control: a.intra_control,
        intra_data: a.intra_data,
        primary_url: a.primary_url.map(|u| u.trim_end_matches('/').to_string()),
        non_electable: a.non_electable,
        initial_config,
        startup_override,
        stats_interval: std::time::Duration::from_millis(a.stats_interval_ms),
        s3_via_root: a.s3_via_root,
        s3_ais_semantics: a.s3_ais_semantics,
        promote_root: match a.promote_root.map(std::fs::canonicalize) {
            None => None,
            Some(Ok(p)) if p.is_dir() => Some(p),
            Some(Ok(p)) => {
                eprintln!("aisnode: --promote-root {}: not a directory", p.display());
                std::process::exit(2);
            }
            Some(Err(e)) => {
                eprintln!("aisnode: --promote-root: {e}");
                std::process::exit(2);
            }
        },
        s3_credentials: match (a.s3_access_key, a.s3_secret_key) {
            (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => vec![(k, s)],
            (None, None) => vec![],
            _ => {
                eprintln!("aisnode: --s3-access-key and --s3-secret-key go together");
                std::process::exit(2);
            }
        }
        .into_iter()
        .chain(
            s3_users
                .iter()
                .map(|u| (u.access_key.clone(), u.secret_key.clone())),
        )
        .collect(),
        s3_key_tokens: s3_users
            .iter()
            .filter(|u| !u.token.is_empty())
            .map(|u| (u.access_key.clone(), u.token.clone()))
            .collect(),
    };
    let node = match Node::init(cfg).and_then(|n| cluster::config::load(&n).map(|()| n)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("aisnode: {e:#}");
            std::process::exit(1);
        }
    };
    if let Err(e) = cluster::auth::check_keys() {
        eprintln!("aisnode: {e}");
        std::process::exit(2);
    }
    // Tokens revoked before a restart stay refused.
    if let Err(e) = cluster::auth::load_revoked(&node.confdir) {
        eprintln!("aisnode: revoked tokens: {e}");
        std::process::exit(1);
    }
    let stop = server::StopOpts {
        drain_timeout_ms: a.drain_timeout_ms,
        drain_grace_ms: a.drain_grace_ms,
    };
    if let Err(e) = server::run(node, stop) {
        eprintln!("aisnode: {e:#}");
        std::process::exit(1);
    }
}

/// One entry of the `--s3-keys` file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct S3User {
    access_key: String,
    secret_key: String,
    #[serde(default)]
    token: String,
}

/// Read the `--s3-keys` file: every key and secret non-empty, no access key twice.
fn read_s3_users(path: &std::path::Path) -> Result<Vec<S3User>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let users: Vec<S3User> =
        serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut seen = std::collections::HashSet::new();
    for u in &users {
        if u.access_key.is_empty() || u.secret_key.is_empty() {
            return Err(format!(
                "{}: empty access_key or secret_key",
                path.display()
            ));
        }
        if !seen.insert(u.access_key.as_str()) {
            return Err(format!(
                "{}: access key {:?} twice",
                path.display(),
                u.access_key
            ));
        }
    }
    Ok(users)
}

/// The start-up values of the cluster configuration: defaults, then the `--config` file,
/// then the flags given explicitly; validated like `set-config`.
fn initial_config(a: &Args, explicit: &dyn Fn(&str) -> bool) -> Result<ClusterConfig, String> {
    let mut c = match &a.config {
        None => ClusterConfig::default(),
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| format!("--config {}: {e}", p.display()))?;
            let v: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| format!("--config {}: not JSON: {e}", p.display()))?;
            let c = ClusterConfig::from_json(&v)
                .map_err(|e| format!("--config {}: {e}", p.display()))?;
            c.check_reported()
                .map_err(|e| format!("--config {}: {e}", p.display()))?;
            c
        }
    };
    let kt = &mut c.keepalivetracker;
    if a.config.is_none() || explicit("keepalive_interval_ms") {
        kt.proxy.interval = Dur::from_ms(a.keepalive_interval_ms);
        kt.target.interval = Dur::from_ms(a.keepalive_interval_ms);
    }
    if a.config.is_none() || explicit("keepalive_factor") {
        let f = u8::try_from(a.keepalive_factor)
            .map_err(|_| format!("--keepalive-factor {}: too large", a.keepalive_factor))?;
        kt.proxy.factor = f;
        kt.target.factor = f;
    }
    if a.config.is_none() || explicit("rebalance_workers") {
        c.rebalance.workers = a.rebalance_workers;
    }
    if a.config.is_none() || explicit("rebalance_max_rate") {
        c.rebalance.max_rate = a.rebalance_max_rate;
    }
    // Identity and version are the cluster's, not a file's.
    c.uuid = String::new();
    c.config_version = 0;
    c.lastupdate_time = String::new();
    c.proxy.primary_url = String::new();
    c.validate().map_err(|e| match e.path.as_str() {
        p if p.starts_with("keepalivetracker") && a.config.is_none() => {
            format!("--keepalive-interval-ms/--keepalive-factor: {e}")
        }
        "rebalance.workers" if a.config.is_none() => format!("--rebalance-workers: {e}"),
        _ => match &a.config {
            Some(p) => format!("--config {} (with the flags given): {e}", p.display()),
            None => format!("configuration: {e}"),
        },
    })?;
    Ok(c)
}
