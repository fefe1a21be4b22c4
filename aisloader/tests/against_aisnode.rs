//! aisloader against a real `aisnode` from this workspace: creates a bucket with a 100% PUT
//! phase, then runs a mixed, verified workload for ~3 s and checks the JSON summary (no errors,
//! both GETs and PUTs), the AIS output lines and the cleanup.
//!
//! Needs the aisnode binary: `AISNODE_BIN`, else `target/release/aisnode`, else
//! `target/debug/aisnode` (build it with `cargo build --release -p cluster`). The node is
//! killed by PID when the test ends, also on panic.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the node may take to answer /v1/health with 200.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one aisloader invocation may take (runs are a few seconds).
const LOADER_TIMEOUT: Duration = Duration::from_secs(90);
const CORES: u16 = 2;

fn aisnode_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AISNODE_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "AISNODE_BIN={} does not exist", p.display());
        return p;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("aisnode");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "aisnode binary not found (looked at $AISNODE_BIN, target/release/aisnode, target/debug/aisnode): \
         build it first with `cargo build --release -p cluster`"
    );
}

/// A base port P with P..=P+CORES free right now.
fn free_ports() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let p = l.local_addr().unwrap().port();
        if p > u16::MAX - CORES {
            continue;
        }
        let others: Vec<_> = (1..=CORES)
            .map(|i| TcpListener::bind(("127.0.0.1", p + i)))
            .collect();
        if others.iter().all(Result::is_ok) {
            return p;
        }
    }
    panic!("no run of {} free ports found", CORES + 1);
}

/// Kills the node by PID when dropped (test end or panic).
struct Node {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn http_get_status(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.get(9..12)?.parse().ok()?;
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

fn start_node() -> Node {
    let bin = aisnode_bin();
    let port = free_ports();
    let dir = std::env::temp_dir().join(format!(
        "aisloader-it-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("aisnode.log")).unwrap();
    let child = Command::new(&bin)
        .args(["--port", &port.to_string()])
        .args(["--core-port-base", &(port + 1).to_string()])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--cores", &CORES.to_string()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut node = Node { child, port, dir };
    let deadline = Instant::now() + NODE_READY_TIMEOUT;
    loop {
        if let Some((200, _)) = http_get_status(port, "/v1/health") {
            return node;
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            let log = std::fs::read_to_string(node.dir.join("aisnode.log")).unwrap_or_default();
            panic!("aisnode exited with {status} before becoming ready:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "aisnode on port {port} not ready within {NODE_READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run aisloader with `args`, bounded by LOADER_TIMEOUT.
fn aisloader(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisloader"))
        .args(args)
        .env_remove("AIS_ENDPOINT")
        .env_remove("S3_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aisloader");
    let deadline = Instant::now() + LOADER_TIMEOUT;
    while child.try_wait().expect("wait aisloader").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "aisloader {args:?} did not finish within {LOADER_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn mixed_verified_run_against_aisnode_has_no_errors_and_cleans_up() {
    let node = start_node();
    let port = node.port.to_string();
    let bucket = "ais://aisloader-it";
    let json = node.dir.join("summary.json");
    let json_s = json.to_str().unwrap();

    // Phase 1: a new bucket requires 100% PUT (spec §7); leave it for phase 2.
    let fill = aisloader(&[
        "-ip=127.0.0.1",
        "-port",
        &port,
        "-bucket",
        bucket,
        "-cleanup=false",
        "-pctput=100",
        "-duration=1s",
        "-minsize=1KiB",
        "-maxsize=64KiB",
        "-numworkers=4",
        "-quiet",
        "-statsinterval=0",
    ]);
    assert!(fill.status.success(), "fill phase failed: {}", text(&fill));

    // Phase 2: mixed, verified, machine-readable.
    let run = aisloader(&[
        "-ip=127.0.0.1",
        "-port",
        &port,
        "-bucket",
        bucket,
        "--cleanup=true",
        "-pctput=50",
        "-duration=3s",
        "-minsize=1KiB",
        "-maxsize=64KiB",
        "-numworkers=8",
        "-verify",
        "-json",
        json_s,
        "-statsinterval=1",
        "-ramp=1s",
    ]);
    let out = text(&run);
    assert!(run.status.success(), "mixed phase failed: {out}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("==== COMMAND LINE ARGUMENTS ===="), "{out}");
    assert!(
        stdout.contains("Found ") && stdout.contains(" existing objects"),
        "{out}"
    );
    assert!(stdout.contains("Runtime configuration:"), "{out}");
    assert!(stdout.contains("Time      OP    Count"), "{out}");
    assert!(stdout.contains("Stats written to /dev/stdout"), "{out}");
    assert!(stdout.contains("Actual run duration: "), "{out}");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("-json file written"))
            .expect("valid JSON");
    assert_eq!(
        summary["errors_total"], 0,
        "errors: {}\n{out}",
        summary["errors"]
    );
    assert_eq!(summary["get"]["errors"], 0, "{out}");
    assert_eq!(summary["put"]["errors"], 0, "{out}");
    let gets = summary["get"]["ops"].as_u64().unwrap();
    let puts = summary["put"]["ops"].as_u64().unwrap();
    assert!(gets > 0 && puts > 0, "gets {gets}, puts {puts}\n{out}");
    let p50 = summary["get"]["latency_us"]["p50"].as_f64().unwrap();
    let max = summary["get"]["latency_us"]["max"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "{summary}");
    assert!(summary["get"]["ttfb_us"]["count"].as_u64().unwrap() == gets);
    let secs = summary["duration_s"].as_f64().unwrap();
    assert!((2.5..30.0).contains(&secs), "duration {secs}");
    // -ramp=1s: the steady window runs from 1 s to the 3 s deadline and holds part of the
    // run's operations, counted at a rate over that window.
    for op in ["get", "put"] {
        let st = &summary[op]["steady"];
        let (from, to) = (st["from_s"].as_f64().unwrap(), st["to_s"].as_f64().unwrap());
        assert!(
            (1.0..1.5).contains(&from) && (3.0..3.5).contains(&to),
            "{st}"
        );
        let n = st["ops"].as_u64().unwrap();
        assert!(
            n > 0 && n < summary[op]["ops"].as_u64().unwrap(),
            "{op}: {st}"
        );
        let rate = st["ops_per_s"].as_f64().unwrap();
        assert!(
            (rate - n as f64 / (to - from)).abs() < 1e-6 * rate.max(1.0),
            "{st}"
        );
        assert!(st["bytes"].as_u64().unwrap() <= summary[op]["bytes"].as_u64().unwrap());
    }

    // -cleanup=true destroyed the bucket.
    let (status, body) =
        http_get_status(node.port, "/v1/buckets?provider=ais").expect("list buckets");
    assert_eq!(status, 200);
    assert!(
        !body.contains("aisloader-it"),
        "bucket still listed: {body}"
    );
}

/// `-direct`: every request routed by the cluster map straight to the owning core (the
/// target refuses a direct request it does not own with 421, and a PUT to a core port without
/// `Ais-Direct` with 400, so zero errors means every request went where the map said).
#[test]
fn direct_run_routes_by_the_cluster_map_without_errors() {
    let node = start_node();
    let port = node.port.to_string();
    let bucket = "ais://aisloader-direct";
    let json = node.dir.join("direct.json");
    let json_s = json.to_str().unwrap();
    let common = [
        "-ip=127.0.0.1",
        "-port",
        &port,
        "-bucket",
        bucket,
        "-minsize=1KiB",
        "-maxsize=200KiB",
        "-quiet",
        "-statsinterval=0",
        "-direct",
    ];
    let mut fill = common.to_vec();
    fill.extend([
        "-cleanup=false",
        "-pctput=100",
        "-duration=1s",
        "-numworkers=4",
    ]);
    let o = aisloader(&fill);
    assert!(o.status.success(), "direct fill failed: {}", text(&o));
    let mut mixed = common.to_vec();
    mixed.extend([
        "-cleanup=true",
        "-pctput=30",
        "-duration=2s",
        "-numworkers=8",
        "-verify",
        "-json",
        json_s,
    ]);
    let o = aisloader(&mixed);
    let out = text(&o);
    assert!(o.status.success(), "direct mixed run failed: {out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("-json file written"))
            .expect("valid JSON");
    assert_eq!(
        summary["errors_total"], 0,
        "errors: {}\n{out}",
        summary["errors"]
    );
    assert!(summary["get"]["ops"].as_u64().unwrap() > 0, "{out}");
    assert!(summary["put"]["ops"].as_u64().unwrap() > 0, "{out}");

    // Not with an S3 endpoint: the flag routes by an AIS map.
    let o = aisloader(&[
        "-s3endpoint=http://127.0.0.1:1",
        "-bucket=b",
        "-cleanup=false",
        "-direct",
        "-s3accesskey=a",
        "-s3secretkey=b",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("'-direct'"),
        "{}",
        text(&o)
    );
}

#[test]
fn bucket_without_cleanup_flag_exits_1_with_a_note() {
    let o = aisloader(&["-bucket=ais://x", "-duration=1s"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("`-cleanup` is a required option"));
}

#[test]
fn unknown_flag_exits_2() {
    let o = aisloader(&["-nosuchflag=1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("flag provided but not defined: -nosuchflag")
    );
}
