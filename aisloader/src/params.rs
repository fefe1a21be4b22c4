//! aisloader's command line (spec §7): the flag table with AIS's names and defaults, the
//! validation rules of AIS `_init`, and the printouts made before a run (flag listing and
//! `Runtime configuration`).
//!
//! Flags AIS has but this loader does not implement are still accepted at their defaults, so
//! scripts that spell them out keep working; setting one to anything else is an error that
//! names the flag (never silently ignored). Deprecated StatsD flags are accepted and ignored.

use crate::flags::{self, FlagDef, FlagError, FlagSet, Kind};
use crate::format::{go_duration, tabwriter};
use std::fmt;

/// Default proxy address parts.
const DEFAULT_IP: &str = "localhost";
const DEFAULT_IPV4: &str = "127.0.0.1";
const DEFAULT_PORT: &str = "8080";
/// Default object sizes when neither bound is given.
pub const DEFAULT_MIN_SIZE_BYTES: u64 = flags::MIB;
pub const DEFAULT_MAX_SIZE_BYTES: u64 = flags::GIB;
/// Bounds on counts we allocate per item.
pub const WORKERS_MAX: i64 = 100_000;
pub const CORES_MAX: i64 = 1024;

macro_rules! flag {
    ($name:expr, $kind:ident, $default:expr, $usage:expr) => {
        FlagDef {
            name: $name,
            kind: Kind::$kind,
            default: $default,
            usage: $usage,
        }
    };
}

/// Every flag, AIS's first (same names, kinds and defaults), then this loader's own.
pub static FLAGS: &[FlagDef] = &[
    flag!("usage", Bool, "false", "show command-line options, usage, and examples"),
    flag!("version", Bool, "false", "show aisloader version"),
    flag!("quiet", Bool, "false", "when starting to run, do not print command line arguments, default settings, and usage examples"),
    flag!("timeout", Duration, "10m", "client HTTP timeout - used in LIST/GET/PUT/DELETE"),
    flag!("ip", Str, DEFAULT_IP, "AIS proxy/gateway IP address or hostname"),
    flag!("port", Str, DEFAULT_PORT, "AIS proxy/gateway port"),
    flag!("tokenfile", Str, "", "authentication token (FQN): a file with an AuthN token, AuthN's JSON {\"token\": ...} or the bare token, sent as 'Authorization: Bearer' (native API)"),
    flag!("randomproxy", Bool, "false", "when true, select random gateway (\"proxy\") to execute I/O request [not supported]"),
    flag!("direct", Bool, "false", "aisnode extension: send every object request straight to the target core that owns the object, computed from the cluster map (no redirect hop; a PUT's body is sent once); native API only"),
    flag!("s3endpoint", Str, "", "S3 endpoint to read/write s3 bucket directly (with no AIStore), e.g. http://host:9000; env S3_ENDPOINT"),
    flag!("s3profile", Str, "", "other then default S3 config profile referencing alternative credentials [not supported: use -s3accesskey/-s3secretkey]"),
    flag!("s3-use-path-style", Bool, "false", "use path-style S3 addressing (always the case here)"),
    flag!("bucket", Str, "", "bucket name or bucket URI. If empty, a bucket with random name will be created"),
    flag!("provider", Str, "ais", "ais - for AIS bucket, \"aws\", \"azure\", \"gcp\", \"oci\" for Azure, Amazon, Google, and Oracle clouds, respectively"),
    flag!("bprops", Str, "", "JSON string formatted as per the SetBucketProps API [not supported]"),
    flag!("duration", Duration, "1m", "Benchmark duration (0 - run forever or until Ctrl-C). If not specified and totalputsize > 0, aisloader runs until totalputsize reached. Otherwise aisloader runs until first of duration and totalputsize reached"),
    flag!("numworkers", Int, "10", "number of workers operating on AIS in parallel"),
    flag!("epochs", Uint, "0", "number of \"epochs\" to run whereby each epoch entails full pass through the entire listed bucket [not supported]"),
    flag!("perm-shuffle-max", Uint, "100000", "max names for shuffle-based name-getter (ignored)"),
    flag!("pctput", Int, "0", "percentage of PUTs in the aisloader-generated workload"),
    flag!("pctupdate", Int, "0", "percentage of GET requests that are followed by a PUT \"update\" [not supported]"),
    flag!("maxputs", Uint, "0", "maximum number of objects to PUT"),
    flag!("totalputsize", Str, "0", "stop PUT workload once cumulative PUT size reaches or exceeds this value (can contain standard multiplicative suffix K, MB, GiB, etc.; 0 - unlimited"),
    flag!("seed", Int, "0", "random seed to achieve deterministic reproducible results (0 - use current time in nanoseconds)"),
    flag!("tmpdir", Str, "/tmp/ais", "local directory to store temporary files (ignored)"),
    flag!("readertype", Str, "sg", "type of reader: sg(default) | rand (both: in-memory content) | file | tar [file, tar: not supported]"),
    flag!("minsize", Str, "", "minimum object size (with or without multiplicative suffix K, MB, GiB, etc.)"),
    flag!("maxsize", Str, "", "maximum object size (with or without multiplicative suffix K, MB, GiB, etc.)"),
    flag!("cksum-type", Str, "xxhash", "cksum type to use for put object requests: xxhash | xxhash2 | none"),
    flag!("verifyhash", Bool, "false", "when true, checksum-validate GET (same as -verify)"),
    flag!("subdir", Str, "", "For GET requests, '-subdir' is a prefix that may or may not be an actual virtual directory; for PUTs, the virtual destination directory for all aisloader-generated objects"),
    flag!("putshards", Uint, "0", "spread generated objects over this many subdirectories (max 100k) [not supported]"),
    flag!("num-subdirs", Uint, "0", "spread generated objects over this many subdirectories [not supported]"),
    flag!("randomname", Bool, "true", "when true, generate object names of 32 random characters [false: not supported]"),
    flag!("filelist", Str, "", "local or locally-accessible text file containing object names (for subsequent reading) [not supported]"),
    flag!("skiplist", Bool, "false", "when true, skip listing objects in a bucket before running 100% PUT workload"),
    flag!("readoff", Str, "", "read range offset (can contain multiplicative suffix K, MB, GiB, etc.)"),
    flag!("readlen", Str, "", "read range length (can contain multiplicative suffix; 0 - GET full object)"),
    flag!("get-batchsize", Int, "0", "GetBatch (ML endpoint) [not supported]"),
    flag!("latest", Bool, "false", "when true, check in-cluster metadata and possibly GET the latest object version from the associated remote bucket"),
    flag!("cached", Bool, "false", "list in-cluster objects - only those objects from a remote bucket that are present (\"cached\") [not supported]"),
    flag!("list-dirs", Bool, "false", "list virtual subdirectories (remote buckets only) [not supported]"),
    flag!("nbi", Bool, "false", "list via native bucket inventory [not supported]"),
    flag!("evict-batchsize", Int, "1000", "batch size to list and evict the next batch of remote objects (ignored)"),
    flag!("cont-on-err", Bool, "false", "keep running on errors (always the case here: errors are counted)"),
    flag!("multipart-chunks", Int, "0", "number of chunks for multipart upload [not supported]"),
    flag!("pctmultipart", Int, "0", "percentage of PUT operations that use multipart upload [not supported]"),
    flag!("mpdstream-chunk-size", Str, "0", "multipart download stream chunk size [not supported]"),
    flag!("mpdstream-workers", Int, "0", "multipart download stream workers [not supported]"),
    flag!("pctmpdstream", Int, "0", "percentage of GETs using multipart download stream [not supported]"),
    flag!("etl", Str, "", "name of an ETL applied to each object on GET request [not supported]"),
    flag!("etl-spec", Str, "", "path to an ETL spec to be applied to each object on GET request [not supported]"),
    flag!("loaderid", Str, "0", "ID to identify a loader among multiple concurrent instances"),
    flag!("loadernum", Uint, "0", "total number of aisloaders running concurrently [not supported]"),
    flag!("loaderidhashlen", Uint, "0", "Size (in bits) of the generated aisloader identifier [not supported]"),
    flag!("getloaderid", Bool, "false", "when true, print stored/computed unique loaderID aka aisloader identifier and exit [not supported]"),
    flag!("statsinterval", Int, "10", "interval in seconds to print performance counters; 0 - disabled"),
    flag!("stats-output", Str, "", "filename to log statistics (empty string translates as standard output (default))"),
    flag!("statsdip", Str, "localhost", "StatsD IP address or hostname (NOTE: deprecated, ignored)"),
    flag!("statsdport", Int, "8125", "StatsD UDP port (NOTE: deprecated, ignored)"),
    flag!("test-probe StatsD server prior to benchmarks", Bool, "false", "when enabled probes StatsD server prior to running (NOTE: deprecated, ignored)"),
    flag!("cleanup", Bool, "false", "when true, remove bucket upon benchmark termination (must be specified for AIStore buckets)"),
    flag!("stoppable", Bool, "false", "when true, stop upon CTRL-C (and still print the final stats)"),
    flag!("dry-run", Bool, "false", "when true, show the configuration and parameters that aisloader will use for benchmark"),
    flag!("trace-http", Bool, "false", "when true, trace HTTP latencies [not supported]"),
    flag!("arch.format", Str, ".tar", "archive format [not supported]"),
    flag!("arch.prefix", Str, "", "archive prefix [not supported]"),
    flag!("arch.num-files", Int, "0", "files per shard [not supported]"),
    flag!("arch.minsize", Str, "", "minimum archived file size [not supported]"),
    flag!("arch.maxsize", Str, "", "maximum archived file size [not supported]"),
    flag!("arch.pct", Int, "0", "percentage of PUTs that are archives [not supported]"),
    flag!("arch.list", Bool, "false", "list archived files [not supported]"),
    // ---- beyond AIS ----
    flag!("json", Str, "", "write the final summary as JSON to this file ('-' for stdout): ops, bytes, throughput, percentiles in microseconds, errors by kind (NOTE: AIS's boolean -json stream mode is not supported)"),
    flag!("verify", Bool, "false", "verify every GET: content must match what aisloader writes for the object name; full GETs also compare Ais-Checksum-Value with xxh64 of the body"),
    flag!("rate", Float, "0", "open loop: total requests per second scheduled at fixed intended times (latency measured from the intended time); 0 - closed loop"),
    flag!("cores", Int, "1", "number of executor threads (one glommio executor each); workers are spread over them"),
    flag!("cpulist", Str, "", "pin executor k to the k-th CPU of this comma-separated list (default: not pinned)"),
    flag!("s3accesskey", Str, "", "S3 access key (default: env AWS_ACCESS_KEY_ID)"),
    flag!("s3secretkey", Str, "", "S3 secret key (default: env AWS_SECRET_ACCESS_KEY)"),
    flag!("s3region", Str, "us-east-1", "S3 region used in request signing"),
    flag!("ramp", Duration, "0s", "with -duration: the -json summary also reports each operation's throughput over the steady part of the run, from this long after the start to the deadline (a closed loop's start and its drain after the deadline, when the outstanding requests finish on fewer and fewer disks, are left out)"),
    flag!("expect-continue", Str, "1MiB", "native API: PUT bodies of at least this size are sent with 'Expect: 100-continue', so the proxy's redirect comes before the body and the body crosses the network once; the proxy closes that connection, so smaller bodies are cheaper sent twice (0 - never; the body then goes to the proxy and again to the target)"),
];

/// Flags accepted only at their default value.
const UNSUPPORTED: &[&str] = &[
    "randomproxy",
    "s3profile",
    "bprops",
    "epochs",
    "pctupdate",
    "putshards",
    "num-subdirs",
    "randomname",
    "filelist",
    "get-batchsize",
    "cached",
    "list-dirs",
    "nbi",
    "multipart-chunks",
    "pctmultipart",
    "mpdstream-chunk-size",
    "mpdstream-workers",
    "pctmpdstream",
    "etl",
    "etl-spec",
    "loadernum",
    "loaderidhashlen",
    "getloaderid",
    "trace-http",
    "arch.prefix",
    "arch.num-files",
    "arch.minsize",
    "arch.maxsize",
    "arch.pct",
    "arch.list",
];

/// Where the load goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Native AIS API through a proxy at `http://{host}:{port}`.
    Ais { url: String },
    /// Any S3 server, path-style, SigV4-signed.
    S3 {
        url: String,
        access_key: String,
        secret_key: String,
        region: String,
    },
}

/// Validated run parameters.
#[derive(Debug, Clone)]
pub struct Params {
    /// TLS client settings for an `https://` endpoint (from the environment).
    pub tls: Option<net::tls::ClientTlsOpts>,
    pub target: Target,
    pub bucket: String,
    /// `ais`, `aws`, `gcp`, `azure`, `oci`.
    pub provider: String,
    /// The bucket name was generated (no `-bucket`).
    pub bucket_generated: bool,
    /// Unbounded when `None`.
    pub duration_ns: Option<u64>,
    pub workers: u64,
    pub put_pct: u64,
    pub max_puts: u64,
    pub total_put_bytes: u64,
    pub seed: u64,
    pub min_size: u64,
    pub max_size: u64,
    pub send_cksum: bool,
    pub verify: bool,
    pub subdir: String,
    pub skip_list: bool,
    /// Route object requests by the cluster map straight to the owning core (`-direct`).
    pub direct: bool,
    /// `-tokenfile`: the AuthN token every native request carries.
    pub token: Option<String>,
    /// `-ramp`: the steady window of the JSON summary starts this long after the start.
    pub ramp_ns: u64,
    /// `-expect-continue`: PUT bodies of at least this many bytes wait for `100 Continue`
    /// (native API; `None`: never).
    pub expect_continue_min_bytes: Option<u64>,
    pub read_off: u64,
    pub read_len: u64,
    pub latest: bool,
    pub stats_interval_s: u64,
    pub stats_output: Option<String>,
    pub cleanup: bool,
    pub stoppable: bool,
    pub dry_run: bool,
    pub quiet: bool,
    pub timeout_ns: u64,
    pub json: Option<String>,
    pub rate: f64,
    pub cores: u64,
    pub cpus: Vec<usize>,
    pub reader_type: String,
}

/// What `parse` decided.
#[derive(Debug)]
pub enum Command {
    Run(Box<Params>, FlagSet),
    /// Print usage and exit 0.
    Usage,
    Version,
    /// Only destroy the bucket (duration 0 and no other limit), then exit.
    CleanupOnly(Box<Params>),
}

/// Why the command line was refused, and how to exit.
#[derive(Debug)]
pub enum ParamError {
    /// Go flag syntax errors: exit 2.
    Flag(FlagError),
    /// `-bucket` without `-cleanup`: AIS prints a note and exits 1.
    CleanupRequired,
    /// Any other invalid option: exit 1.
    Invalid(String),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Flag(e) => write!(f, "{e}"),
            ParamError::CleanupRequired => write!(
                f,
                "\nNote: `-cleanup` is a required option. Beware! When -cleanup=true the bucket will be destroyed upon completion of the benchmark.\n      The option must be specified in the command line, e.g.: `--cleanup=false`"
            ),
            ParamError::Invalid(m) => write!(f, "{m}"),
        }
    }
}

fn invalid(m: impl Into<String>) -> ParamError {
    ParamError::Invalid(m.into())
}

/// Environment seen by the parser (injected for tests).
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub ais_endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    /// Nanoseconds for `-seed=0`.
    pub now_ns: u64,
    /// `AIS_CLIENT_CA`, `AIS_SKIP_VERIFY_CRT` (default true, as AIS's aisloader), `AIS_CRT`,
    /// `AIS_CRT_KEY`: used when the endpoint is `https://`.
    pub tls: net::tls::ClientTlsOpts,
    /// Why the TLS variables could not be used (reported only for an `https://` endpoint).
    pub tls_error: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let tls = net::tls::ClientTlsOpts::from_env(get, true);
        Env {
            ais_endpoint: get("AIS_ENDPOINT"),
            s3_endpoint: get("S3_ENDPOINT"),
            aws_access_key_id: get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
            tls: tls.clone().unwrap_or_default(),
            tls_error: tls.err().map(|e| e.to_string()),
            now_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        }
    }
}

/// Parse and validate the command line (without the program name).
pub fn parse(args: &[String], env: &Env, notes: &mut Vec<String>) -> Result<Command, ParamError> {
    if args.is_empty() {
        return Ok(Command::Usage);
    }
    let fs = match FlagSet::parse(FLAGS, args) {
        Ok(fs) => fs,
        Err(FlagError::Help) => return Ok(Command::Usage),
        Err(e) => return Err(ParamError::Flag(e)),
    };
    if fs.bool("usage")
        || matches!(
            fs.positional.first().map(String::as_str),
            Some("usage" | "help")
        )
    {
        return Ok(Command::Usage);
    }
    if fs.bool("version") || fs.positional.first().map(String::as_str) == Some("version") {
        return Ok(Command::Version);
    }
    if let Some(extra) = fs.positional.first() {
        return Err(invalid(format!(
            "unexpected argument {extra:?} (flags must come before it; boolean flags take a value only as -flag=value)"
        )));
    }
    for name in UNSUPPORTED {
        let idx = FLAGS
            .iter()
            .position(|d| d.name == *name)
            .expect("listed flags exist");
        if fs.str(name) != FLAGS[idx].default {
            return Err(invalid(format!(
                "option -{name} is not supported by this aisloader (only its default {:?} is accepted)",
                FLAGS[idx].default
            )));
        }
    }

    // Endpoint: -s3endpoint takes precedence, then S3_ENDPOINT.
    let s3_endpoint = match fs.str("s3endpoint") {
        "" => env.s3_endpoint.clone(),
        e => Some(e.to_owned()),
    };
    let is_s3 = s3_endpoint.is_some();

    // Bucket and provider.
    let mut provider = normalize_provider(fs.str("provider"))?;
    let mut bucket = fs.str("bucket").to_owned();
    if let Some((scheme, name)) = bucket.split_once("://") {
        provider = normalize_provider(scheme)?;
        bucket = name.trim_end_matches('/').to_owned();
        if bucket.contains('/') || bucket.starts_with('@') || bucket.contains('#') {
            return Err(invalid(format!(
                "bucket {:?}: namespaces and paths in bucket URIs are not supported",
                fs.str("bucket")
            )));
        }
    }
    let bucket_generated = bucket.is_empty();
    if !bucket_generated {
        validate_bucket_name(&bucket)?;
        if fs.bool("cleanup") && is_s3 {
            return Err(invalid(
                "direct S3 access via '-s3endpoint': option '-cleanup' is not supported yet",
            ));
        }
        if !fs.is_set("cleanup") && !is_s3 {
            return Err(ParamError::CleanupRequired);
        }
    }
    let cleanup = fs.bool("cleanup");
    if cleanup && provider != "ais" && !is_s3 {
        return Err(invalid(format!(
            "-cleanup=true for a remote ({provider}) bucket (delete-listrange) is not supported yet"
        )));
    }

    let seed = match fs.int("seed") {
        0 => env.now_ns.max(1),
        s => s as u64,
    };

    let size = |name: &str| -> Result<Option<u64>, ParamError> {
        match fs.str(name) {
            "" => Ok(None),
            v => flags::parse_size(v)
                .map(Some)
                .map_err(|e| invalid(format!("failed to parse -{name} {v}: {e}"))),
        }
    };
    let total_put_bytes = size("totalputsize")?.unwrap_or(0);
    let (min_size, max_size) = match (size("minsize")?, size("maxsize")?) {
        (None, None) => (DEFAULT_MIN_SIZE_BYTES, DEFAULT_MAX_SIZE_BYTES),
        // Only one bound given: the other is clamped to it.
        (Some(min), None) => (min, DEFAULT_MAX_SIZE_BYTES.max(min)),
        (None, Some(max)) => (DEFAULT_MIN_SIZE_BYTES.min(max), max),
        (Some(min), Some(max)) if max < min => {
            return Err(invalid(format!(
                "invalid option: min and max size ({min}, {max}), respectively"
            )))
        }
        (Some(min), Some(max)) => (min, max),
    };

    let max_puts = fs.uint("maxputs");
    let duration_ns = fs.duration_ns("duration");
    if duration_ns < 0 {
        return Err(invalid(format!(
            "invalid option: -duration {}",
            fs.str("duration")
        )));
    }
    let mut duration = if fs.is_set("duration") {
        Some(duration_ns as u64)
    } else if total_put_bytes != 0 {
        // AIS: an unset duration with a PUT size bound runs until the bound.
        None
    } else {
        notes.push(format!(
            "\nDuration not specified - running for {}\n",
            go_duration(duration_ns)
        ));
        Some(duration_ns as u64)
    };
    let stoppable = fs.bool("stoppable");
    let mut cleanup_only = false;
    if duration == Some(0) {
        if total_put_bytes == 0 && max_puts == 0 && !stoppable {
            cleanup_only = true;
        }
        duration = None;
    }

    let put_pct = fs.int("pctput");
    if !(0..=100).contains(&put_pct) {
        return Err(invalid(format!("invalid option: PUT percent {put_pct}")));
    }
    let workers = fs.int("numworkers");
    if !(1..=WORKERS_MAX).contains(&workers) {
        return Err(invalid(format!(
            "invalid option: -numworkers {workers} (must be 1..={WORKERS_MAX})"
        )));
    }
    let skip_list = fs.bool("skiplist");
    if skip_list && put_pct != 100 {
        return Err(invalid(
            "invalid option: '-skiplist' is only valid for 100% PUT workloads",
        ));
    }
    let direct = fs.bool("direct");
    if direct && s3_endpoint.is_some() {
        return Err(invalid(
            "invalid option: '-direct' routes by an AIS cluster map; it does not apply to '-s3endpoint'",
        ));
    }
    let token = match fs.str("tokenfile") {
        "" => None,
        f => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| invalid(format!("failed to read -tokenfile {f}: {e}")))?;
            Some(
                net::client::parse_token_file(&text)
                    .ok_or_else(|| invalid(format!("-tokenfile {f}: no token in it")))?,
            )
        }
    };
    let ramp_ns = fs.duration_ns("ramp");
    // A run without a deadline (`-duration=0`, or a PUT size bound alone) has no steady
    // window: a ramp there would be ignored, so it is refused.
    if ramp_ns < 0 || (ramp_ns > 0 && duration.is_none_or(|d| ramp_ns as u64 >= d)) {
        return Err(invalid(format!(
            "invalid option: -ramp {} (at least 0 and shorter than -duration; a run without a deadline has none)",
            fs.str("ramp")
        )));
    }
    let ramp_ns = ramp_ns as u64;
    let expect_continue_min_bytes = match size("expect-continue")? {
        Some(n) if n > 0 && s3_endpoint.is_none() => Some(n),
        _ => None,
    };
    let stats_interval = fs.int("statsinterval");
    if stats_interval < 0 {
        return Err(invalid(format!(
            "invalid option: stats show interval {stats_interval}"
        )));
    }
    let read_off = size("readoff")?.unwrap_or(0);
    let read_len = size("readlen")?.unwrap_or(0);
    if fs.str("loaderid").parse::<u64>().is_err() {
        return Err(invalid(
            "loaderID as string only allowed when using loaderIDHashLen",
        ));
    }
    let mut subdir = fs.str("subdir").trim_end_matches('/').to_owned();
    if subdir.starts_with('/') {
        return Err(invalid("object name prefix can't start with /"));
    }
    if subdir.split('/').any(|c| c == ".." || c == ".") {
        return Err(invalid(format!(
            "invalid -subdir {subdir:?}: '.' and '..' components"
        )));
    }
    while subdir.contains("//") {
        subdir = subdir.replace("//", "/");
    }
    let send_cksum = match fs.str("cksum-type") {
        "xxhash" | "xxhash2" => true,
        "none" => false,
        other => {
            return Err(invalid(format!(
                "-cksum-type {other:?} is not supported (xxhash, xxhash2 or none)"
            )))
        }
    };
    let reader_type = fs.str("readertype").to_owned();
    if !matches!(reader_type.as_str(), "sg" | "rand") {
        return Err(invalid(format!(
            "-readertype {reader_type:?} is not supported (sg or rand: content is generated in memory)"
        )));
    }
    let timeout_ns = fs.duration_ns("timeout");
    if timeout_ns <= 0 {
        return Err(invalid(format!(
            "invalid option: -timeout {}",
            fs.str("timeout")
        )));
    }
    let rate = fs.float("rate");
    let cores = fs.int("cores");
    if !(1..=CORES_MAX).contains(&cores) {
        return Err(invalid(format!(
            "invalid option: -cores {cores} (must be 1..={CORES_MAX})"
        )));
    }
    let cpus: Vec<usize> = match fs.str("cpulist") {
        "" => Vec::new(),
        l => l
            .split(',')
            .map(|c| c.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid(format!("invalid -cpulist {l:?}: expected e.g. 2,3")))?,
    };
    if !cpus.is_empty() && cpus.len() < cores as usize {
        return Err(invalid(format!(
            "-cpulist names {} CPUs for {cores} cores",
            cpus.len()
        )));
    }

    let ip = fs.str("ip");
    let port = fs.str("port");
    let non_default_ip = !ip.is_empty() && ip != DEFAULT_IP && ip != DEFAULT_IPV4;
    let target = if let Some(url) = s3_endpoint {
        if non_default_ip {
            return Err(invalid(
                "command line options '-s3endpoint' and '-ip' are mutually exclusive",
            ));
        }
        if !port.is_empty() && port != DEFAULT_PORT {
            return Err(invalid(
                "command line options '-s3endpoint' and '-port' are mutually exclusive",
            ));
        }
        let url = normalize_http_url(&url, "-s3endpoint")?;
        let access_key = non_empty(fs.str("s3accesskey")).or(env.aws_access_key_id.clone());
        let secret_key = non_empty(fs.str("s3secretkey")).or(env.aws_secret_access_key.clone());
        let (Some(access_key), Some(secret_key)) = (access_key, secret_key) else {
            return Err(invalid(
                "S3 mode needs credentials: -s3accesskey/-s3secretkey or env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            ));
        };
        Target::S3 {
            url,
            access_key,
            secret_key,
            region: fs.str("s3region").to_owned(),
        }
    } else {
        let mut url = format!("http://{ip}:{port}");
        if let Some(e) = &env.ais_endpoint {
            if non_default_ip {
                return Err(invalid(format!(
                    "'AIS_ENDPOINT={e}' environment and '--ip={ip}' command-line are mutually exclusive"
                )));
            }
            url = e.clone();
        }
        Target::Ais {
            url: normalize_http_url(&url, "AIS endpoint")?,
        }
    };

    let tls = match &target {
        Target::Ais { url } | Target::S3 { url, .. }
            if url.to_ascii_lowercase().starts_with("https://") =>
        {
            if let Some(e) = &env.tls_error {
                return Err(invalid(e.clone()));
            }
            Some(env.tls.clone())
        }
        _ => None,
    };
    let params = Params {
        tls,
        target,
        bucket,
        provider,
        bucket_generated,
        duration_ns: duration,
        workers: workers as u64,
        put_pct: put_pct as u64,
        max_puts,
        total_put_bytes,
        seed,
        min_size,
        max_size,
        send_cksum,
        verify: fs.bool("verify") || fs.bool("verifyhash"),
        subdir,
        skip_list,
        direct,
        expect_continue_min_bytes,
        ramp_ns,
        token,
        read_off,
        read_len,
        latest: fs.bool("latest"),
        stats_interval_s: stats_interval as u64,
        stats_output: non_empty(fs.str("stats-output")),
        cleanup,
        stoppable,
        dry_run: fs.bool("dry-run"),
        quiet: fs.bool("quiet"),
        timeout_ns: timeout_ns as u64,
        json: non_empty(fs.str("json")),
        rate,
        cores: cores as u64,
        cpus,
        reader_type,
    };
    if cleanup_only {
        return Ok(Command::CleanupOnly(Box::new(params)));
    }
    Ok(Command::Run(Box::new(params), fs))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn normalize_provider(p: &str) -> Result<String, ParamError> {
    Ok(match p {
        "" | "ais" => "ais",
        "aws" | "s3" => "aws",
        "gcp" | "gs" => "gcp",
        "azure" | "az" => "azure",
        "oci" | "oc" => "oci",
        other => {
            return Err(invalid(format!(
                "invalid provider {other:?} (ais, aws, gcp, azure, oci)"
            )))
        }
    }
    .to_owned())
}

/// AIS bucket names: at most 64 bytes of `[A-Za-z0-9_.-]`, no `..`.
fn validate_bucket_name(b: &str) -> Result<(), ParamError> {
    let ok = !b.is_empty()
        && b.len() <= 64
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && !b.contains("..");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid bucket name {b:?}: at most 64 characters of [A-Za-z0-9_.-], no \"..\""
        )))
    }
}

fn normalize_http_url(url: &str, what: &str) -> Result<String, ParamError> {
    let u = url.trim_end_matches('/');
    let u = if u.contains("://") {
        u.to_owned()
    } else {
        format!("http://{u}")
    };
    net::client::parse_http_url(&u).map_err(|e| invalid(format!("{what}: {e}")))?;
    Ok(u)
}

/// AIS `printArguments`: defaults, then custom values, aligned like Go's tabwriter.
pub fn arguments_listing(fs: &FlagSet) -> String {
    let defs = fs.defs();
    let mut order: Vec<usize> = (0..defs.len()).collect();
    order.sort_by_key(|&i| defs[i].name);
    let mut lines: Vec<(String, Option<String>)> = Vec::new();
    lines.push(("==== COMMAND LINE ARGUMENTS ====".into(), None));
    lines.push(("=========== DEFAULTS ===========".into(), None));
    for &i in &order {
        if fs.display(i) == fs.display_default(i) {
            lines.push((format!("{}:", defs[i].name), Some(fs.display(i))));
        }
    }
    lines.push(("============ CUSTOM ============".into(), None));
    for &i in &order {
        if fs.display(i) != fs.display_default(i) {
            lines.push((format!("{}:", defs[i].name), Some(fs.display(i))));
        }
    }
    lines.push(("HTTP trace:".into(), Some("false".into())));
    lines.push(("=================================".into(), None));
    let mut s = tabwriter(&lines);
    s.push('\n');
    s
}

/// Usage text: flags (Go `PrintDefaults` style) and examples.
pub fn usage() -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "aisloader v{} (Rust)\n",
        env!("CARGO_PKG_VERSION")
    ));
    s.push_str("\nAbout\n=====\n");
    s.push_str("AIS Loader (aisloader) is a benchmarking tool to measure AIStore performance.\n");
    s.push_str(
        "It generates PUT/GET load against an AIStore cluster (native API) or any S3 server\n",
    );
    s.push_str("(-s3endpoint), closed loop (-numworkers) or open loop (-rate).\n");
    s.push_str("\nCommand-line options\n====================\n");
    let mut defs: Vec<&FlagDef> = FLAGS.iter().collect();
    defs.sort_by_key(|d| d.name);
    for d in defs {
        let ty = match d.kind {
            Kind::Bool => "",
            Kind::Int => " int",
            Kind::Uint => " uint",
            Kind::Float => " float",
            Kind::Str => " string",
            Kind::Duration => " duration",
        };
        s.push_str(&format!("  -{}{ty}\n    \t{}", d.name, d.usage));
        let show_default = match d.kind {
            Kind::Bool => d.default != "false",
            Kind::Str => !d.default.is_empty(),
            _ => d.default != "0",
        };
        if show_default {
            if d.kind == Kind::Str {
                s.push_str(&format!(" (default {:?})", d.default));
            } else {
                s.push_str(&format!(" (default {})", d.default));
            }
        }
        s.push('\n');
    }
    s.push_str("\nExamples\n========\n");
    s.push_str("# Timed 100% PUT into an ais bucket, cleanup at the end:\n");
    s.push_str("     $ aisloader -bucket=ais://abc -duration 30s -numworkers=8 -minsize=1K -maxsize=1K -pctput=100 --cleanup=true\n");
    s.push_str("# 100% GET from an existing ais bucket, verifying content, percentiles as JSON:\n");
    s.push_str("     $ aisloader -bucket=abc -duration 15s -numworkers=16 -pctput=0 -cleanup=false -verify -json /tmp/r.json\n");
    s.push_str("# Open loop at 5000 requests/s (latency includes queueing), 50/50:\n");
    s.push_str("     $ aisloader -bucket=abc -duration 1m -rate 5000 -numworkers=64 -pctput=50 -minsize=4K -maxsize=4K -cleanup=true\n");
    s.push_str("# Any S3 server (path-style, SigV4):\n");
    s.push_str("     $ aisloader -bucket=s3://xyz -s3endpoint=http://127.0.0.1:9000 -pctput=100 -minsize=16B -maxsize=16B -totalputsize=128k -quiet\n");
    s
}

/// AIS `printRunParams`: `Runtime configuration:` and 3-space-indented JSON.
pub fn runtime_configuration(p: &Params) -> String {
    #[derive(serde::Serialize)]
    struct Essential<'a> {
        proxy: &'a str,
        bucket: String,
        duration: String,
        #[serde(rename = "# workers")]
        workers: u64,
        #[serde(rename = "stats interval")]
        stats_interval: String,
        #[serde(rename = "% PUT", skip_serializing_if = "is_zero")]
        put_pct: u64,
        #[serde(
            rename = "minimum object size (bytes)",
            skip_serializing_if = "is_zero"
        )]
        min_size: u64,
        #[serde(
            rename = "maximum object size (bytes)",
            skip_serializing_if = "is_zero"
        )]
        max_size: u64,
        #[serde(rename = "PUT upper bound", skip_serializing_if = "String::is_empty")]
        put_upper_bound: String,
        #[serde(rename = "name-getter")]
        name_getter: &'a str,
        #[serde(rename = "reader-type", skip_serializing_if = "str::is_empty")]
        reader_type: &'a str,
        cleanup: bool,
    }
    fn is_zero(v: &u64) -> bool {
        *v == 0
    }
    let (url, bucket) = match &p.target {
        Target::Ais { url } => (url.as_str(), format!("{}://{}", p.provider, p.bucket)),
        Target::S3 { url, .. } => (url.as_str(), format!("s3://{}", p.bucket)),
    };
    let puts = p.put_pct > 0;
    let e = Essential {
        proxy: url,
        bucket,
        duration: p
            .duration_ns
            .map_or("-".to_owned(), |d| go_duration(d as i64)),
        workers: p.workers,
        stats_interval: go_duration(p.stats_interval_s as i64 * 1_000_000_000),
        put_pct: p.put_pct,
        min_size: if puts { p.min_size } else { 0 },
        max_size: if puts { p.max_size } else { 0 },
        put_upper_bound: if p.total_put_bytes > 0 {
            p.total_put_bytes.to_string()
        } else {
            String::new()
        },
        name_getter: "random non-unique",
        reader_type: if puts { &p.reader_type } else { "" },
        cleanup: p.cleanup,
    };
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&e, &mut ser).expect("plain struct serializes");
    format!(
        "Runtime configuration:\n{}\n\n",
        String::from_utf8(buf).expect("serde_json writes UTF-8")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &[&str]) -> Result<Command, ParamError> {
        let args: Vec<String> = a.iter().map(ToString::to_string).collect();
        let env = Env {
            now_ns: 99,
            ..Env::default()
        };
        parse(&args, &env, &mut Vec::new())
    }

    fn params(a: &[&str]) -> Params {
        match run(a) {
            Ok(Command::Run(p, _)) => *p,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    fn err(a: &[&str]) -> String {
        match run(a) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{a:?} accepted: {c:?}"),
        }
    }

    #[test]
    fn defaults_match_ais() {
        let p = params(&["-quiet"]);
        assert_eq!(
            p.target,
            Target::Ais {
                url: "http://localhost:8080".into()
            }
        );
        assert_eq!((p.workers, p.put_pct, p.stats_interval_s), (10, 0, 10));
        assert_eq!((p.min_size, p.max_size), (1 << 20, 1 << 30));
        assert_eq!(p.duration_ns, Some(60_000_000_000));
        assert_eq!(p.timeout_ns, 600_000_000_000);
        assert_eq!(p.seed, 99, "seed 0 means now");
        assert!(p.bucket_generated && !p.cleanup && p.send_cksum && !p.verify);
        assert_eq!(p.provider, "ais");
    }

    #[test]
    fn min_max_size_clamping() {
        let p = params(&["-minsize=2G"]);
        assert_eq!((p.min_size, p.max_size), (2 << 30, 2 << 30));
        let p = params(&["-minsize=1K"]);
        assert_eq!((p.min_size, p.max_size), (1024, 1 << 30));
        let p = params(&["-maxsize=4KiB"]);
        assert_eq!((p.min_size, p.max_size), (4096, 4096));
        let p = params(&["-maxsize=4G"]);
        assert_eq!((p.min_size, p.max_size), (1 << 20, 4 << 30));
        let p = params(&["-minsize=1KiB", "-maxsize=64KiB"]);
        assert_eq!((p.min_size, p.max_size), (1024, 65536));
        assert_eq!(
            err(&["-minsize=2K", "-maxsize=1K"]),
            "invalid option: min and max size (2048, 1024), respectively"
        );
        assert!(err(&["-minsize=lots"]).starts_with("failed to parse -minsize lots"));
    }

    #[test]
    fn bucket_requires_cleanup_and_uris_set_provider() {
        assert!(matches!(
            run(&["-bucket=b"]),
            Err(ParamError::CleanupRequired)
        ));
        let p = params(&["-bucket=ais://b1", "-cleanup=false"]);
        assert_eq!(
            (p.bucket.as_str(), p.provider.as_str(), p.cleanup),
            ("b1", "ais", false)
        );
        let p = params(&["-bucket=s3://b2", "-cleanup=false"]);
        assert_eq!((p.bucket.as_str(), p.provider.as_str()), ("b2", "aws"));
        let p = params(&["-bucket", "b3", "-provider", "gs", "--cleanup=false"]);
        assert_eq!(p.provider, "gcp");
        assert!(err(&["-bucket=a/b", "-cleanup=true"]).contains("invalid bucket name"));
        assert!(err(&["-bucket=gs://b", "-cleanup=true"]).contains("not supported"));
    }

    #[test]
    fn durations_and_limits() {
        let p = params(&["-totalputsize=1G", "-pctput=100"]);
        assert_eq!((p.duration_ns, p.total_put_bytes), (None, 1 << 30));
        let p = params(&["-duration=1m30s"]);
        assert_eq!(p.duration_ns, Some(90_000_000_000));
        let p = params(&["-duration=0", "-maxputs=10", "-pctput=100"]);
        assert_eq!((p.duration_ns, p.max_puts), (None, 10));
        let p = params(&["-maxputs=10", "-pctput=100"]);
        assert_eq!(
            p.duration_ns,
            Some(60_000_000_000),
            "only -totalputsize lifts the default"
        );
        assert!(matches!(
            run(&["-duration=0", "-bucket=b", "-cleanup=true"]),
            Ok(Command::CleanupOnly(_))
        ));
        assert!(err(&["-duration=-1s"]).contains("-duration"));
        assert_eq!(params(&["-duration=5s", "-ramp=1s"]).ramp_ns, 1_000_000_000);
        assert_eq!(params(&["-duration=5s"]).ramp_ns, 0);
        assert!(err(&["-duration=5s", "-ramp=5s"]).contains("-ramp 5s"));
        assert!(err(&["-duration=5s", "-ramp=-1s"]).contains("-ramp"));
        assert!(err(&["-totalputsize=1MiB", "-ramp=1s"]).contains("-ramp 1s"));
        assert!(err(&["-duration=0", "-maxputs=10", "-ramp=1s"]).contains("-ramp 1s"));
        assert_eq!(params(&["-totalputsize=1MiB", "-ramp=0s"]).ramp_ns, 0);
        let mut notes = Vec::new();
        parse(&["-quiet".into()], &Env::default(), &mut notes).unwrap();
        assert_eq!(notes, ["\nDuration not specified - running for 1m0s\n"]);
    }

    #[test]
    fn invalid_values_and_unsupported_flags() {
        assert_eq!(err(&["-pctput=101"]), "invalid option: PUT percent 101");
        assert!(err(&["-numworkers=0"]).contains("-numworkers 0"));
        assert_eq!(
            err(&["-skiplist"]),
            "invalid option: '-skiplist' is only valid for 100% PUT workloads"
        );
        assert!(err(&["-epochs=2"]).contains("option -epochs is not supported"));
        assert!(err(&["-randomname=false"]).contains("-randomname"));
        assert!(err(&["-cksum-type=md5"]).contains("md5"));
        assert!(err(&["-subdir=/abs"]).contains("can't start with /"));
        assert!(matches!(run(&["-nosuch"]), Err(ParamError::Flag(_))));
        assert!(err(&["-quiet", "extra"]).contains("unexpected argument"));
        assert!(matches!(run(&[]), Ok(Command::Usage)));
        assert!(matches!(run(&["-h"]), Ok(Command::Usage)));
        assert!(matches!(run(&["version"]), Ok(Command::Version)));
        // Deprecated and ignored flags are accepted.
        params(&[
            "-statsdport=9",
            "-tmpdir=/x",
            "-evict-batchsize=5",
            "-cont-on-err",
        ]);
    }

    #[test]
    fn verify_aliases_and_extras() {
        assert!(params(&["-verifyhash"]).verify);
        assert!(params(&["-verify=true"]).verify);
        let p = params(&[
            "-rate=2500.5",
            "-cores=2",
            "-cpulist=0,1",
            "-json=/tmp/x.json",
            "-subdir=a//b/",
        ]);
        assert_eq!((p.rate, p.cores, p.cpus.clone()), (2500.5, 2, vec![0, 1]));
        assert_eq!(p.json.as_deref(), Some("/tmp/x.json"));
        assert_eq!(p.subdir, "a/b");
        assert!(err(&["-cores=2", "-cpulist=1"]).contains("-cpulist"));
    }

    #[test]
    fn endpoints_from_env_and_s3_credentials() {
        let args = |a: &[&str]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
        let env = Env {
            ais_endpoint: Some("http://10.0.0.1:51080".into()),
            ..Env::default()
        };
        let Ok(Command::Run(p, _)) = parse(&args(&["-quiet"]), &env, &mut Vec::new()) else {
            panic!()
        };
        assert_eq!(
            p.target,
            Target::Ais {
                url: "http://10.0.0.1:51080".into()
            }
        );
        assert!(parse(&args(&["-ip=10.1.1.1"]), &env, &mut Vec::new()).is_err());
        let env = Env {
            s3_endpoint: Some("127.0.0.1:9000".into()),
            aws_access_key_id: Some("AK".into()),
            aws_secret_access_key: Some("SK".into()),
            ..Env::default()
        };
        let Ok(Command::Run(p, _)) = parse(
            &args(&["-bucket=s3://b", "-pctput=100"]),
            &env,
            &mut Vec::new(),
        ) else {
            panic!()
        };
        assert_eq!(
            p.target,
            Target::S3 {
                url: "http://127.0.0.1:9000".into(),
                access_key: "AK".into(),
                secret_key: "SK".into(),
                region: "us-east-1".into()
            }
        );
        assert!(parse(
            &args(&["-bucket=s3://b", "-cleanup=true"]),
            &env,
            &mut Vec::new()
        )
        .is_err());
        let no_keys = Env {
            s3_endpoint: Some("http://h:1".into()),
            ..Env::default()
        };
        assert!(parse(&args(&["-pctput=100"]), &no_keys, &mut Vec::new()).is_err());
        // https:// takes AIS's TLS variables (AIS_CLIENT_CA, AIS_SKIP_VERIFY_CRT, ...).
        let Ok(Command::Run(p, _)) = parse(
            &args(&[
                "-s3endpoint=https://s3.amazonaws.com",
                "-s3accesskey=a",
                "-s3secretkey=b",
                "-bucket=s3://b",
                "-cleanup=false",
            ]),
            &Env::default(),
            &mut Vec::new(),
        ) else {
            panic!("an https S3 endpoint parses")
        };
        assert_eq!(p.tls, Some(net::tls::ClientTlsOpts::default()));
        let https = Env {
            ais_endpoint: Some("https://10.0.0.1:51080".into()),
            tls_error: Some("AIS_CRT and AIS_CRT_KEY go together".into()),
            ..Env::default()
        };
        let e = parse(
            &args(&["-bucket=ais://b", "-cleanup=false"]),
            &https,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("AIS_CRT"), "{e}");
        let plain = Env {
            tls_error: Some("ignored for http".into()),
            ..Env::default()
        };
        let Ok(Command::Run(p, _)) = parse(
            &args(&["-bucket=ais://b", "-cleanup=false"]),
            &plain,
            &mut Vec::new(),
        ) else {
            panic!("plain endpoint parses")
        };
        assert_eq!(p.tls, None);
    }

    #[test]
    fn listing_and_runtime_configuration() {
        let Ok(Command::Run(p, fs)) = run(&[
            "-bucket=ais://b",
            "-cleanup=true",
            "-pctput=50",
            "-minsize=1K",
            "-maxsize=2K",
            "-duration=30s",
        ]) else {
            panic!()
        };
        let l = arguments_listing(&fs);
        assert!(
            l.starts_with("==== COMMAND LINE ARGUMENTS ====\n=========== DEFAULTS ===========\n")
        );
        assert!(
            l.contains("\ntimeout:\t\t\t\t\t10m0s\n") || l.contains("\ntimeout:\t"),
            "{l}"
        );
        let custom = l
            .split("============ CUSTOM ============\n")
            .nth(1)
            .unwrap();
        assert!(custom.starts_with("bucket:\t"), "{custom}");
        assert!(
            custom.contains("\nduration:\t30s\n") && custom.contains("\npctput:\t\t50\n"),
            "{custom}"
        );
        assert!(
            custom.ends_with("HTTP trace:\tfalse\n=================================\n\n"),
            "{custom}"
        );
        let rc = runtime_configuration(&p);
        assert!(rc.starts_with("Runtime configuration:\n{\n   \"proxy\": \"http://localhost:8080\",\n   \"bucket\": \"ais://b\",\n   \"duration\": \"30s\",\n   \"# workers\": 10,\n"), "{rc}");
        assert!(
            rc.contains("\"% PUT\": 50") && rc.contains("\"minimum object size (bytes)\": 1024")
        );
        assert!(rc.ends_with("   \"cleanup\": true\n}\n\n"));
        assert!(usage().contains("-numworkers int"));
    }
}
