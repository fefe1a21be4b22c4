//! The command line: AIS's verbs and flag names (`ais ls`, `ais bucket props set`, `ais object
//! put --recursive`, `ais job wait --timeout`, `ais show performance --refresh --count`, ...)
//! as clap definitions. Values that clap cannot check (URIs, `key=value`) are parsed by
//! [`crate::args`] when the command runs.

use crate::args::parse_duration;
use crate::format::Units;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::time::Duration;

/// Command-line client of an AIStore-compatible cluster (endpoint: AIS_ENDPOINT, default
/// http://localhost:8080).
#[derive(Parser, Debug)]
#[command(name = "ais", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List buckets, or the objects of a bucket (ais ls ais://b --prefix p)
    Ls(LsArgs),
    /// Create and remove buckets; show and set bucket properties
    #[command(subcommand)]
    Bucket(BucketCmd),
    /// PUT, GET, remove and print objects
    #[command(subcommand)]
    Object(ObjectCmd),
    /// Same as 'ais object put'
    Put(PutArgs),
    /// Same as 'ais object get'
    Get(GetArgs),
    /// Show the cluster map; maintenance, decommission and shutdown of nodes
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Mountpaths of targets
    #[command(subcommand)]
    Storage(StorageCmd),
    /// List, start, wait for and stop jobs (xactions)
    #[command(subcommand)]
    Job(JobCmd),
    /// Same as 'ais job wait'
    Wait(JobWaitArgs),
    /// Show and change cluster and node configuration
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Show the cluster and its performance
    #[command(subcommand)]
    Show(ShowCmd),
    /// Load (reload) the TLS certificate of every node or one; show the one in use
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Print a shell completion script: source <(ais completion bash)
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    Bash,
    Zsh,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

#[derive(Args, Debug, Clone)]
pub struct LsArgs {
    /// Bucket (ais://b, optionally ais://b/prefix) or provider (ais://); none: all buckets
    pub bucket: Option<String>,
    /// List only objects whose names start with this prefix
    #[arg(long)]
    pub prefix: Option<String>,
    /// Comma-separated object properties to show: name,size,checksum,atime,version,copies,location,custom (or 'all')
    #[arg(long)]
    pub props: Option<String>,
    /// Stop after this many objects (0: all)
    #[arg(long, default_value_t = 0)]
    pub limit: u64,
    /// Objects per page requested from the cluster (0: the cluster's maximum)
    #[arg(long, default_value_t = 0)]
    pub page_size: u64,
    /// Names only (faster)
    #[arg(long)]
    pub name_only: bool,
    /// Size units: iec (KiB, MiB), si (KB, MB) or raw (bytes)
    #[arg(long, value_enum, default_value_t = Units::Iec)]
    pub units: Units,
    /// Leave out the table header and footer
    #[arg(short = 'H', long)]
    pub no_headers: bool,
}

#[derive(Subcommand, Debug)]
pub enum BucketCmd {
    /// Create buckets
    Create {
        #[arg(required = true)]
        buckets: Vec<String>,
    },
    /// Remove buckets and all their objects
    Rm {
        #[arg(required = true)]
        buckets: Vec<String>,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Same as 'ais ls'
    Ls(LsArgs),
    /// Show or change bucket properties
    #[command(subcommand)]
    Props(PropsCmd),
}

#[derive(Subcommand, Debug)]
pub enum PropsCmd {
    /// Show bucket properties (all, or those under PROP_PREFIX)
    Show {
        bucket: String,
        prop_prefix: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Set bucket properties: KEY=VALUE pairs (mirror.enabled=true mirror.copies=2) or one JSON object
    Set {
        bucket: String,
        #[arg(required = true)]
        props: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ObjectCmd {
    /// PUT files or directories: ais object put FILE|DIR ais://b[/name]
    Put(PutArgs),
    /// GET an object to a file or '-' (stdout), or all objects under --prefix into a directory
    Get(GetArgs),
    /// Remove objects
    Rm {
        #[arg(required = true)]
        objects: Vec<String>,
    },
    /// Print an object to stdout
    Cat { object: String },
    /// Same as 'ais ls'
    Ls(LsArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PutArgs {
    /// Files and directories to upload ('-' for stdin), then the destination ais://b[/name]
    #[arg(required = true, num_args = 2.., value_name = "SRC... DST")]
    pub args: Vec<String>,
    /// Upload directories with everything under them
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Virtual directory (object name prefix) to put the files under
    #[arg(long)]
    pub prefix: Option<String>,
    /// Concurrent uploads
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub num_workers: u32,
    /// Size units of the summary
    #[arg(long, value_enum, default_value_t = Units::Iec)]
    pub units: Units,
}

#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    /// ais://b/name, or ais://b with --prefix
    pub object: String,
    /// File, directory (with --prefix), or '-' for stdout; default: the object's base name
    pub dest: Option<String>,
    /// GET every object whose name starts with this prefix ("" for the whole bucket) into the DEST directory
    #[arg(long)]
    pub prefix: Option<String>,
    /// With --prefix: at most this many objects (0: all)
    #[arg(long, default_value_t = 0)]
    pub limit: u64,
    /// Concurrent downloads
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub num_workers: u32,
    /// Size units of the summary
    #[arg(long, value_enum, default_value_t = Units::Iec)]
    pub units: Units,
}

#[derive(Subcommand, Debug)]
pub enum TlsCmd {
    /// Re-read the certificate and key files on every node (or NODE_ID) without a restart
    LoadCertificate {
        /// A node's ID (default: every node of the cluster)
        node: Option<String>,
    },
    /// The certificate a node uses: file, SHA-256 fingerprint, chain length
    Show {
        /// A node's ID (default: the node behind AIS_ENDPOINT)
        node: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Show the cluster map (Smap): proxies, targets, primary, version
    Show {
        /// Print the Smap JSON
        #[arg(long)]
        json: bool,
    },
    /// Maintenance, decommission and shutdown of a node
    #[command(subcommand)]
    AddRemoveNodes(NodeCmd),
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Put a node into maintenance (its data is rebalanced away)
    StartMaintenance { node: String },
    /// Take a node out of maintenance
    StopMaintenance { node: String },
    /// Remove a node from the cluster (its data is rebalanced away)
    Decommission {
        node: String,
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Shut a node down (it stays in the cluster map, in maintenance)
    Shutdown {
        node: String,
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum StorageCmd {
    /// Show, attach, detach, enable and disable mountpaths
    #[command(subcommand)]
    Mountpath(MountpathCmd),
}

#[derive(Args, Debug)]
pub struct MountpathArgs {
    /// Target ID
    pub node: String,
    /// Mountpath (absolute path)
    pub path: String,
    /// Do not resilver data off (or onto) the mountpath
    #[arg(long)]
    pub no_resilver: bool,
}

#[derive(Subcommand, Debug)]
pub enum MountpathCmd {
    /// Mountpaths of every target (or of NODE)
    Show {
        node: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Attach(MountpathArgs),
    Detach(MountpathArgs),
    Enable(MountpathArgs),
    Disable(MountpathArgs),
}

#[derive(Args, Debug, Clone)]
pub struct JobWaitArgs {
    /// Job ID
    pub id: String,
    /// Give up after this long (500ms, 30s, 2m); default: wait forever
    #[arg(long, value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Polling interval
    #[arg(long, value_parser = duration, default_value = "500ms")]
    pub refresh: Duration,
}

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// List jobs (running ones unless --all)
    Ls {
        /// Only jobs of this kind (rebalance, resilver, make-n-copies, ec-encode, ...)
        kind: Option<String>,
        /// Finished jobs too
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value_t = Units::Iec)]
        units: Units,
    },
    /// Wait for a job to finish, with progress; exit status 1 if it failed or was aborted
    Wait(JobWaitArgs),
    /// Stop (abort) a job
    Stop { id: String },
    /// Start a job
    #[command(subcommand)]
    Start(JobStartCmd),
}

#[derive(Subcommand, Debug)]
pub enum JobStartCmd {
    /// Global rebalance
    Rebalance,
    /// Resilver (all targets, or NODE)
    Resilver { node: Option<String> },
    /// Make N copies of every object of a bucket (make-n-copies)
    Mirror {
        bucket: String,
        #[arg(long, default_value_t = 2)]
        copies: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Show the cluster configuration (or KEY), or set KEY=VALUE pairs
    Cluster {
        args: Vec<String>,
        #[arg(long)]
        json: bool,
        /// With KEY=VALUE: do not persist the change
        #[arg(long)]
        transient: bool,
    },
    /// Show a node's configuration (or KEY), or set KEY=VALUE pairs for that node
    Node {
        node: String,
        args: Vec<String>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        transient: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShowCmd {
    /// Per-target GET/PUT rates, throughput and latencies
    Performance(PerfArgs),
    /// Same as 'ais cluster show'
    Cluster {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct PerfArgs {
    /// Interval between the two samples of each report (1s, 500ms, ...)
    #[arg(long, value_parser = duration)]
    pub refresh: Option<Duration>,
    /// Number of reports (default: 1 without --refresh, endless with it)
    #[arg(long)]
    pub count: Option<u64>,
    #[arg(short = 'H', long)]
    pub no_headers: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_aisish_command_lines() {
        let c = Cli::try_parse_from([
            "ais",
            "bucket",
            "props",
            "set",
            "ais://b",
            "mirror.enabled=true",
            "mirror.copies=2",
        ])
        .unwrap();
        match c.cmd {
            Cmd::Bucket(BucketCmd::Props(PropsCmd::Set { bucket, props })) => {
                assert_eq!(bucket, "ais://b");
                assert_eq!(props, ["mirror.enabled=true", "mirror.copies=2"]);
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["ais", "put", "-r", "d", "ais://b/x/"]).unwrap();
        assert!(
            matches!(c.cmd, Cmd::Put(PutArgs { recursive: true, ref args, .. }) if args == &["d", "ais://b/x/"])
        );
        let c = Cli::try_parse_from(["ais", "job", "wait", "x1", "--timeout", "2m"]).unwrap();
        assert!(
            matches!(c.cmd, Cmd::Job(JobCmd::Wait(JobWaitArgs { timeout: Some(t), .. })) if t == Duration::from_secs(120))
        );
        assert!(Cli::try_parse_from(["ais", "put", "only-one"]).is_err());
        assert!(Cli::try_parse_from(["ais", "job", "wait", "x", "--timeout", "soon"]).is_err());
    }

    #[test]
    fn unknown_verb_suggests() {
        let e = Cli::try_parse_from(["ais", "bukcet", "ls"]).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("bucket"), "{s}");
        let e = Cli::try_parse_from(["ais", "ls", "--prefx", "a"]).unwrap_err();
        assert!(e.to_string().contains("--prefix"), "{e}");
    }
}
