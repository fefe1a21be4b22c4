//! Section 7 ("requests"): CPU per 4 KiB request on one aisnode core, beside the machine's
//! own references measured in the same run, so that per-request figures can be compared
//! between machines (which differ about twofold here). One load generator for all: `wrk -t1
//! -c16` (Debian `wrk`), 5 s per run after a 1 s warm-up, rounds interleaved:
//!
//! - GET of one 4 KiB object straight to the owning core's port (the URL of the proxy's
//!   redirect), and the proxy's 301 alone;
//! - nginx (one worker, no master) serving the same 4 KiB file from the page cache;
//! - fio: CPU per 4 KiB O_DIRECT random read (io_uring, iodepth 16), from fio's own figures;
//! - PUT of new 4 KiB objects straight to the core (`--no-fsync`), and nginx storing each
//!   PUT as a file with its WebDAV module (temp file, rename; buffered, no fsync).
//!
//! Server CPU comes from /proc/PID/stat; the machine's busy time less the load generator's
//! CPU (its rusage as a waited child) is shown too: a PUT's work done outside the server's
//! threads (written-back pages, extent conversion) counts there, a `sync` after the run
//! included.

use crate::config::Config;
use crate::measure::{self, FioJob, Observer, Row, Sample, KIB};
use crate::node::{Node, NodeSpec};
use crate::proc::{self, Server};
use crate::results::Results;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const SECTION: &str = "requests";
/// What the section runs besides aisnode, and how to get it.
pub const TOOLS: [(&str, &str); 4] = [
    ("wrk", "apt-get install wrk"),
    ("nginx", "apt-get install nginx-light"),
    ("curl", "apt-get install curl"),
    ("fio", "apt-get install fio"),
];
pub const SIZE: u64 = 4 * KIB;
const WRK_S: u64 = 5;
const WRK_CONNS: u32 = 16;

/// Systems (row `system`, row `op`) in the order they run and are reported.
pub const ROWS: [(&str, &str); 6] = [
    ("aisnode", "get"),
    ("aisnode proxy", "redirect"),
    ("nginx", "get"),
    ("fio", "read"),
    ("aisnode", "put"),
    ("nginx", "put"),
];

/// CPU seconds (user + system) of this process's waited-for children so far.
#[allow(unsafe_code)]
fn children_cpu_s() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `struct rusage` into the pointer it is given, which points
    // to a zeroed value of that type; RUSAGE_CHILDREN is a valid `who`.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A wrk duration ("632.00us", "1.20ms", "2.00s") in microseconds.
fn wrk_us(s: &str) -> Option<f64> {
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60e6)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|n| n * mul)
}

/// What `wrk --latency` printed: (requests, seconds, non-2xx/3xx responses, socket errors,
/// p50 µs, p99 µs, max µs).
#[derive(Debug, Default, PartialEq)]
struct WrkOut {
    requests: u64,
    secs: f64,
    bad: u64,
    socket_errors: u64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

fn parse_wrk(out: &str) -> Result<WrkOut> {
    let mut w = WrkOut::default();
    let mut seen = false;
    for line in out.lines().map(str::trim) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [n, "requests", "in", t, ..] => {
                w.requests = n.parse()?;
                w.secs = wrk_us(t.trim_end_matches(','))
                    .with_context(|| format!("wrk duration {t:?}"))?
                    / 1e6;
                seen = true;
            }
            ["Latency", _avg, _stdev, max, ..] => w.max_us = wrk_us(max).unwrap_or(0.0),
            ["50%", v] => w.p50_us = wrk_us(v).unwrap_or(0.0),
            ["99%", v] => w.p99_us = wrk_us(v).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => w.bad = n.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                w.socket_errors = rest
                    .iter()
                    .filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if !seen {
        bail!("wrk printed no request count:\n{out}");
    }
    Ok(w)
}

/// One wrk run against `url` (with the Lua `script` and its `PUT_BUCKET`), the server's CPU
/// and the machine's busy time (less wrk's own CPU) around it; `sync_after`: a sync inside
/// the window.
fn wrk(
    cfg: &Config,
    server: &Server,
    url: &str,
    script: Option<(&Path, &str)>,
    secs: u64,
    sync_after: bool,
) -> Result<Sample> {
    let mut cmd = Command::new("wrk");
    cmd.arg("-t1")
        .arg(format!("-c{WRK_CONNS}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency");
    if let Some((s, bucket)) = script {
        cmd.arg("-s").arg(s).env("PUT_BUCKET", bucket);
    }
    cmd.arg(url);
    measure::sync();
    let obs = Observer::start(&[server.pid], &[]);
    let kids0 = children_cpu_s();
    let (_, out) = proc::run(
        &mut cmd,
        &cfg.work.join("logs/wrk.log"),
        Duration::from_secs(secs + 60),
        false,
    )?;
    let wrk_cpu = children_cpu_s() - kids0;
    if sync_after {
        measure::sync();
    }
    let seen = obs.finish();
    let w = parse_wrk(&out)?;
    let ok = w.requests.saturating_sub(w.bad);
    Ok(Sample {
        ops_per_s: ok as f64 / w.secs.max(1e-9),
        bytes_per_s: (ok * SIZE) as f64 / w.secs.max(1e-9),
        p50_us: w.p50_us,
        p99_us: w.p99_us,
        p999_us: 0.0,
        max_us: w.max_us,
        ops: ok,
        errors: w.bad + w.socket_errors,
        duration_s: w.secs,
        client_cpu_s: wrk_cpu,
        // The server's CPU over the whole window (wrk's start and exit are milliseconds).
        server_cpu_s: seen.server_cpu_s,
        server_max_thread_cpu_s: seen.max_thread_cpu_s,
        server_runq_wait_s: seen.runq_wait_s,
        machine_busy_s: seen.machine_busy_s,
        disk_read_bytes: 0,
        disk_write_bytes: 0,
        sync_s: 0.0,
        whole_run_bytes_per_s: None,
        command: proc::render(&cmd),
    })
}

/// Microseconds of the machine's busy time per request, the load generator's own CPU taken
/// off (fio, which is both, keeps its own).
pub fn machine_us_per_op(row: &Row, s: &Sample) -> f64 {
    let load = if row.system == "fio" {
        0.0
    } else {
        s.client_cpu_s
    };
    (s.machine_busy_s - load).max(0.0) * 1e6 / (s.ops as f64).max(1.0)
}

/// The run with the median CPU per request (the lower middle for an even count).
pub fn median_run(row: &Row) -> Option<&Sample> {
    let mut v: Vec<&Sample> = row.samples.iter().collect();
    v.sort_by(|a, b| us_of(row, a).total_cmp(&us_of(row, b)));
    v.get((v.len().max(1) - 1) / 2).copied()
}

/// The CPU per request of one run: the server's, or fio's own for fio.
pub fn us_of(row: &Row, s: &Sample) -> f64 {
    if row.system == "fio" {
        s.client_cpu_s * 1e6 / (s.ops as f64).max(1.0)
    } else {
        s.cpu_us_per_op()
    }
}

fn curl(args: &[&str]) -> Result<String> {
    proc::quick("curl", args)
}

fn create_bucket(proxy: &str, name: &str) -> Result<()> {
    curl(&[
        "-sf",
        "-XPOST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"action":"create-bck"}"#,
        &format!("{proxy}/v1/buckets/{name}"),
    ])
    .map(drop)
}

fn start_nginx(cfg: &Config, dir: &Path) -> Result<(Server, u16)> {
    let port = proc::free_port(cfg.port_base)?;
    let conf = dir.join("nginx.conf");
    let (www, tmp) = (dir.join("www"), dir.join("tmp"));
    std::fs::create_dir_all(&www)?;
    std::fs::create_dir_all(&tmp)?;
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1; master_process off; daemon off; user root;\n\
             error_log {d}/error.log; pid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {tmp}; client_max_body_size 1m;\n\
               server {{ listen 127.0.0.1:{port}; root {www};\n\
                 location / {{ dav_methods PUT; create_full_put_path on; }} }} }}\n",
            d = dir.display(),
            tmp = tmp.display(),
            www = www.display(),
        ),
    )?;
    let mut cmd = Command::new("nginx");
    cmd.arg("-c").arg(&conf).arg("-p").arg(dir);
    let mut s = Server::spawn(
        "nginx (section 7)",
        cmd,
        &cfg.work.join("logs/nginx-requests.log"),
    )?;
    s.wait_port(port, Duration::from_secs(10))?;
    Ok((s, port))
}

pub fn run(cfg: &Config, res: &mut Results) -> Result<()> {
    for (p, how) in TOOLS {
        if !proc::have(p) {
            res.note(SECTION, format!("{p} missing ({how}): section skipped"));
            return Ok(());
        }
    }
    let dir = cfg.work.join(SECTION);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let body: Vec<u8> = (0..SIZE).map(|i| (i * 7 + 3) as u8).collect();
    let obj = dir.join("obj");
    std::fs::write(&obj, &body)?;
    let put_lua = cfg.repo.join("perf/micro/put.lua");
    if !put_lua.is_file() {
        bail!("{} missing", put_lua.display());
    }
    let node = Node::start(
        cfg,
        NodeSpec {
            name: "requests",
            mountpaths: vec![dir.join("mp1")],
            cores: 1,
            no_fsync: true,
            cgroup_procs: None,
        },
    )?;
    res.server("aisnode (section 7)", &node.server.command);
    let proxy = format!("http://127.0.0.1:{}", node.port);
    let core = format!("http://127.0.0.1:{}", node.port + 1);
    create_bucket(&proxy, "b")?;
    let obj_s = obj.display().to_string();
    curl(&[
        "-sfL",
        "-XPUT",
        "-T",
        &obj_s,
        &format!("{proxy}/v1/objects/b/o"),
    ])?;
    let direct = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{redirect_url}",
        &format!("{proxy}/v1/objects/b/o"),
    ])?;
    let direct = direct.trim().to_owned();
    if !direct.starts_with("http://") {
        bail!("the proxy gave no redirect for a GET: {direct:?}");
    }
    let (nginx, ng_port) = start_nginx(cfg, &dir.join("nginx"))?;
    res.server("nginx (section 7)", &nginx.command);
    std::fs::copy(&obj, dir.join("nginx/www/obj"))?;
    let ng = format!("http://127.0.0.1:{ng_port}");
    // Both serve the bytes written.
    for url in [&direct, &format!("{ng}/obj")] {
        let got = Command::new("curl").args(["-sf", url]).output()?.stdout;
        if got != body {
            bail!("{url} served {} bytes, not the object", got.len());
        }
    }
    let fio_file = dir.join("fio.dat");
    measure::fio_layout(cfg, &fio_file, 256 << 20)?;
    let mut rows: Vec<Row> = ROWS
        .iter()
        .map(|(sys, op)| Row::new(SECTION, sys, op, SIZE, 1))
        .collect();
    let runs = cfg.runs.max(1);
    let secs = if cfg.quick { 2 } else { WRK_S };
    for r in 0..runs {
        for (i, (sys, op)) in ROWS.iter().enumerate() {
            let s = match (*sys, *op) {
                ("fio", _) => {
                    let mut job = FioJob::on_file(cfg, &fio_file, "randread", SIZE);
                    job.file_size = 256 << 20;
                    job.runtime_s = secs as f64;
                    job.ramp_s = 1.0;
                    let obs = Observer::start(&[], &[]);
                    let mut s = measure::fio(cfg, &job, &[])?;
                    let seen = obs.finish();
                    // The machine's busy time over fio's timed part (its ramp and start-up
                    // are outside it): fio's own CPU plus the kernel's work for its reads.
                    s.machine_busy_s =
                        seen.machine_busy_s * (s.duration_s / seen.wall_s.max(1e-9)).min(1.0);
                    s
                }
                // Each round's PUTs go to a new bucket (directory), so every PUT makes a
                // new file.
                ("aisnode", "put") => {
                    let b = format!("b{r}");
                    create_bucket(&proxy, &b)?;
                    wrk(cfg, &node.server, &core, Some((&put_lua, &b)), secs, true)?
                }
                ("nginx", "put") => wrk(
                    cfg,
                    &nginx,
                    &ng,
                    Some((&put_lua, &format!("b{r}"))),
                    secs,
                    true,
                )?,
                (_, _) => {
                    let (srv, url) = match *sys {
                        "aisnode" => (&node.server, direct.clone()),
                        "aisnode proxy" => (&node.server, format!("{proxy}/v1/objects/b/o")),
                        _ => (&nginx, format!("{ng}/obj")),
                    };
                    wrk(cfg, srv, &url, None, 1, false)?;
                    wrk(cfg, srv, &url, None, secs, false)?
                }
            };
            measure::progress(SECTION, &format!("{sys} {op} run {}/{runs}", r + 1), &s);
            rows[i].samples.push(s);
        }
    }
    drop(nginx);
    node.stop_and_wipe();
    let _ = std::fs::remove_dir_all(&dir);
    res.rows.extend(rows);
    res.durability.push((
        "aisnode (section 7)".into(),
        "`--no-fsync`; nginx (section 7): buffered writes, no fsync (a `sync` after each PUT run is in the machine's figure)".into(),
    ));
    Ok(())
}

/// Issue 14's per-request goals and the figures it measured them beside (µs of CPU): a GET
/// straight to the core, a GET through the proxy with its redirect, a PUT without fsync;
/// nginx's GET of the same file and fio's 4 KiB read on that machine.
const GOAL_GET_US: f64 = 15.0;
const GOAL_PROXY_GET_US: f64 = 25.0;
const GOAL_PUT_US: f64 = 50.0;
const ISSUE_NGINX_GET_US: f64 = 6.7;
const ISSUE_FIO_READ_US: f64 = 3.4;

/// The section's part of the report.
pub fn report(res: &Results, w: &mut String) {
    use std::fmt::Write as _;
    let rows: Vec<&Row> = ROWS
        .iter()
        .filter_map(|(sys, op)| res.find(SECTION, sys, op, SIZE, 1))
        .filter(|r| !r.samples.is_empty())
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "## 7. CPU per 4 KiB request against this machine's references
"
    );
    let _ = writeln!(
        w,
        "One aisnode core (`--cores 1`, `--no-fsync`, one mountpath in the work directory) and the machine's own references, all driven by `wrk -t1 -c{WRK_CONNS} --latency` ({} runs of {} s each, rounds interleaved; GETs after a 1 s warm-up): a GET of one 4 KiB object straight to the owning core's port (the proxy's redirect URL), the proxy's 301 alone, nginx (one worker) serving the same file from the page cache, fio's own CPU per 4 KiB O_DIRECT random read (io_uring, iodepth 16), and PUTs of new 4 KiB objects (`perf/micro/put.lua`) to the core and to nginx's WebDAV module (a temp file renamed into place; buffered, no fsync). \"server\" is the server process's CPU per request (fio's own for fio), the median run's; \"machine\" is the whole machine's busy time less wrk's own CPU (fio's kept), a `sync` after each PUT run included, so work done for the server by kernel threads counts (on a loop device, its worker's I/O; for nginx's PUT, writing its pages back). Machines differ about twofold in CPU per request: compare within this table.\n",
        rows[0].samples.len(),
        rows[0].samples.first().map_or(0.0, |s| s.duration_s).round(),
    );
    let _ = writeln!(w, "| request | server | requests/s | p50 ms | p99 ms | server CPU µs/request | machine CPU µs/request | runs (server µs) | errors |\n|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let Some(s) = median_run(r) else { continue };
        let what = match (r.system.as_str(), r.op.as_str()) {
            ("aisnode", "get") => "GET, straight to the core",
            ("aisnode proxy", _) => "GET, the proxy's redirect alone",
            ("nginx", "get") => "GET (page cache)",
            ("fio", _) => "4 KiB O_DIRECT random read",
            ("aisnode", "put") => "PUT of a new object, straight to the core",
            ("nginx", "put") => "PUT (WebDAV) of a new file",
            _ => r.op.as_str(),
        };
        let runs: Vec<String> = r
            .samples
            .iter()
            .map(|x| format!("{:.1}", us_of(r, x)))
            .collect();
        let machine = format!("{:.1}", machine_us_per_op(r, s));
        let _ = writeln!(
            w,
            "| {what} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {machine} | {} | {} |",
            r.system,
            s.ops_per_s,
            s.p50_us / 1e3,
            s.p99_us / 1e3,
            us_of(r, s),
            runs.join(", "),
            r.samples.iter().map(|x| x.errors).sum::<u64>()
        );
    }
    let us = |sys: &str, op: &str| {
        res.find(SECTION, sys, op, SIZE, 1)
            .and_then(|r| median_run(r).map(|s| us_of(r, s)))
    };
    let (Some(get), Some(ng_get)) = (us("aisnode", "get"), us("nginx", "get")) else {
        let _ = writeln!(w);
        return;
    };
    let mark = |ok: bool| if ok { "met" } else { "**not met**" };
    let _ = writeln!(w, "\nIssue 14's per-request goals were set beside nginx's GET of the same file ({ISSUE_NGINX_GET_US} µs) and fio's 4 KiB read ({ISSUE_FIO_READ_US} µs) on its machine; as multiples of those, on this machine:\n");
    let _ = writeln!(w, "| goal | there | as a multiple there | here | as a multiple here | |\n|---|---|---|---|---|---|");
    let row = |w: &mut String,
               what: &str,
               goal: f64,
               here: f64,
               base: f64,
               base_issue: f64,
               base_name: &str| {
        let (m_goal, m_here) = (goal / base_issue, here / base);
        let _ = writeln!(
            w,
            "| {what} | ≤ {goal} µs | {m_goal:.2} × {base_name} | {here:.1} µs | {m_here:.2} × {base_name} | {} |",
            mark(m_here <= m_goal)
        );
    };
    row(
        w,
        "GET straight to the core",
        GOAL_GET_US,
        get,
        ng_get,
        ISSUE_NGINX_GET_US,
        "nginx GET",
    );
    if let Some(fio) = us("fio", "read") {
        row(
            w,
            "GET straight to the core",
            GOAL_GET_US,
            get,
            fio,
            ISSUE_FIO_READ_US,
            "fio read",
        );
    }
    if let Some(redirect) = us("aisnode proxy", "redirect") {
        row(
            w,
            "GET through the proxy (redirect + GET)",
            GOAL_PROXY_GET_US,
            get + redirect,
            ng_get,
            ISSUE_NGINX_GET_US,
            "nginx GET",
        );
    }
    if let Some(put) = us("aisnode", "put") {
        row(
            w,
            "PUT without fsync",
            GOAL_PUT_US,
            put,
            ng_get,
            ISSUE_NGINX_GET_US,
            "nginx GET",
        );
        if let Some(ng_put) = us("nginx", "put") {
            let _ = writeln!(w, "\nA PUT here costs {:.2} × nginx's WebDAV PUT of the same bytes ({put:.1} against {ng_put:.1} µs of server CPU), which writes through the page cache and stores no checksum or metadata.", put / ng_put);
        }
    }
    let machine = |sys: &str, op: &str| {
        res.find(SECTION, sys, op, SIZE, 1)
            .and_then(|r| median_run(r).map(|s| machine_us_per_op(r, s)))
    };
    if let (Some(g), Some(f)) = (machine("aisnode", "get"), machine("fio", "read")) {
        let _ = writeln!(
            w,
            "\nBy the machine's figures, which count kernel threads' work for each (a loop device's worker, block completions): a GET straight to the core takes {g:.1} µs, {:.2} × fio's read ({f:.1} µs).",
            g / f.max(1e-9)
        );
    }
    let _ = writeln!(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_latency_output() {
        let out = "Running 5s test @ http://127.0.0.1:1/obj
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   632.00us  100.00us   2.50ms   90.00%
    Req/Sec    25.00k     1.00k   27.00k    70.00%
  Latency Distribution
     50%  600.00us
     75%  700.00us
     90%  800.00us
     99%    1.20ms
  125000 requests in 5.00s, 500.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  25000.00
";
        assert_eq!(
            parse_wrk(out).unwrap(),
            WrkOut {
                requests: 125000,
                secs: 5.0,
                bad: 7,
                socket_errors: 3,
                p50_us: 600.0,
                p99_us: 1200.0,
                max_us: 2500.0,
            }
        );
        assert!(parse_wrk("no summary").is_err());
        assert_eq!(wrk_us("1.50s"), Some(1.5e6));
        assert_eq!(wrk_us("2.00m"), Some(120e6));
        assert_eq!(wrk_us("x"), None);
    }
}
