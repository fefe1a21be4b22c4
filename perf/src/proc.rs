//! Child processes: long-running servers (killed by PID on drop, recorded in the registry),
//! one-shot commands with a deadline, CPU accounting from /proc, free ports, readiness polls.
//!
//! Every wait polls with a deadline and checks the interrupt flag set by SIGINT/SIGTERM/SIGHUP,
//! so Ctrl-C unwinds through the guards (which stop servers and remove loop devices and
//! cgroups) instead of killing the harness mid-way. Children get their own process group so a
//! terminal Ctrl-C reaches only the harness, which then stops them itself.

use crate::registry::{self, Resource};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Poll interval of every wait loop.
const POLL_MS: u64 = 20;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

#[allow(unsafe_code)]
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `on_signal` is an `extern "C" fn(c_int)` that lives for the whole program and
        // only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

pub fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted by a signal: stopping and cleaning up");
    }
    Ok(())
}

/// Sleep in small steps, returning early (with an error) on interrupt.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        check_interrupted()?;
        std::thread::sleep(Duration::from_millis(POLL_MS).min(end - Instant::now()));
    }
    Ok(())
}

/// Render a command line for the report (arguments quoted when needed).
pub fn render(cmd: &Command) -> String {
    let mut parts = vec![shell_quote(&cmd.get_program().to_string_lossy())];
    parts.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    let env: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| match v {
            Some(v) => format!(
                "{}={}",
                k.to_string_lossy(),
                shell_quote(&v.to_string_lossy())
            ),
            None => format!("-u {}", k.to_string_lossy()),
        })
        .collect();
    if env.is_empty() {
        parts.join(" ")
    } else {
        format!("env {} {}", env.join(" "), parts.join(" "))
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A server process we started; stopped (by PID, never by name) when dropped.
pub struct Server {
    pub what: String,
    pub pid: i32,
    pub log: PathBuf,
    pub command: String,
    child: Child,
    resource: Resource,
}

impl Server {
    /// Spawn `cmd` in its own process group with output to `log`.
    pub fn spawn(what: &str, mut cmd: Command, log: &Path) -> Result<Server> {
        let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let command = render(&cmd);
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {what}: {command}"))?;
        let pid = child.id() as i32;
        let start_ticks = registry::start_ticks(pid).unwrap_or(0);
        let resource = Resource::Process {
            pid,
            start_ticks,
            what: what.to_owned(),
        };
        registry::add(resource.clone());
        Ok(Server {
            what: what.to_owned(),
            pid,
            log: log.to_owned(),
            command,
            child,
            resource,
        })
    }

    /// Fail (with the log tail) if the process already exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!(
                "{} exited early ({st}); log {}:\n{}",
                self.what,
                self.log.display(),
                tail(&self.log, 30)
            );
        }
        Ok(())
    }

    /// Wait until `port` accepts TCP connections.
    pub fn wait_port(&mut self, port: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            check_interrupted()?;
            self.check_running()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on 127.0.0.1:{port} within {timeout:?}; log {}:\n{}",
                    self.what,
                    self.log.display(),
                    tail(&self.log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send `sig` to the process (not its group) if it has not exited. The child is not
    /// reaped before exiting through `wait_exit` or drop, so its PID cannot have been reused.
    pub fn signal(&mut self, sig: libc::c_int) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            registry::signal(self.pid, sig);
        }
        Ok(())
    }

    /// Wait (polling, interruptible) until the process exits on its own; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            check_interrupted()?;
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} still running after {timeout:?}; log {}:\n{}",
                    self.what,
                    self.log.display(),
                    tail(&self.log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Resource::Process {
            pid, start_ticks, ..
        } = self.resource
        {
            registry::terminate(pid, start_ticks);
        }
        let _ = self.child.try_wait();
        let _ = self.child.wait();
        registry::remove(&self.resource);
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Run a one-shot command to completion with a deadline; output goes to `log` (appended).
/// Returns the combined output. Fails on a non-zero exit unless `allow_fail`.
pub fn run(
    cmd: &mut Command,
    log: &Path,
    timeout: Duration,
    allow_fail: bool,
) -> Result<(bool, String)> {
    let command = render(cmd);
    let tmp = log.with_extension(format!("{}.out", std::process::id()));
    let out = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let err = out.try_clone()?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("run {command}"))?;
    let pid = child.id() as i32;
    let resource = Resource::Process {
        pid,
        start_ticks: registry::start_ticks(pid).unwrap_or(0),
        what: command.chars().take(80).collect(),
    };
    registry::add(resource.clone());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Ok(st);
        }
        if let Err(e) = check_interrupted() {
            break Err(e);
        }
        if Instant::now() > deadline {
            break Err(anyhow!("timed out after {timeout:?}: {command}"));
        }
        std::thread::sleep(Duration::from_millis(POLL_MS));
    };
    if status.is_err() {
        if let Resource::Process {
            pid, start_ticks, ..
        } = resource
        {
            registry::terminate(pid, start_ticks);
        }
        let _ = child.wait();
    }
    registry::remove(&resource);
    let output = std::fs::read_to_string(&tmp).unwrap_or_default();
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "$ {command}\n{output}");
        }
    }
    let status = status?;
    if !status.success() && !allow_fail {
        let lines: Vec<&str> = output.lines().collect();
        bail!(
            "command failed ({status}): {command}\n{}",
            lines[lines.len().saturating_sub(25)..].join("\n")
        );
    }
    Ok((status.success(), output))
}

/// Whether `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Run a quick helper command (mkfs, losetup, mount, git, uname): stdout on success.
pub fn quick(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[allow(unsafe_code)]
fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf(3) takes an integer name, touches no memory of ours, returns -1 on error.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (ppid, utime + stime ticks) of every process.
fn proc_table() -> HashMap<i32, (i32, u64)> {
    let mut m = HashMap::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return m;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(i) = s.rfind(')') else { continue };
        let f: Vec<&str> = s[i + 2..].split_whitespace().collect();
        // After "pid (comm) ": state=0 ppid=1 ... utime=11 stime=12.
        if f.len() > 12 {
            let ppid = f[1].parse().unwrap_or(0);
            let t = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
            m.insert(pid, (ppid, t));
        }
    }
    m
}

/// CPU seconds of `root` and all its live descendants.
pub fn cpu_s_tree(root: i32) -> f64 {
    let t = proc_table();
    let mut total = 0u64;
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if let Some((_, ticks)) = t.get(&p) {
            total += ticks;
        }
        stack.extend(t.iter().filter(|(_, (pp, _))| *pp == p).map(|(c, _)| *c));
    }
    total as f64 / clock_ticks_per_s()
}

/// Per thread of `pid`: (seconds on a CPU, seconds runnable but waiting for a CPU), from
/// /proc/PID/task/TID/schedstat; keyed by thread ID.
pub fn thread_sched_s(pid: i32) -> HashMap<i32, (f64, f64)> {
    let mut m = HashMap::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return m;
    };
    for e in rd.flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) else {
            continue;
        };
        let v: Vec<f64> = s
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() >= 2 {
            m.insert(tid, (v[0] / 1e9, v[1] / 1e9));
        }
    }
    m
}

/// Total busy CPU seconds of the machine (all CPUs, from /proc/stat), to see what else ran.
pub fn machine_busy_s() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().next() else {
        return 0.0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return 0.0;
    }
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    let busy: u64 = v.iter().take(8).sum::<u64>() - v[3] - v[4];
    busy as f64 / clock_ticks_per_s()
}

/// Ports handed out so far (never reuse one within a run).
static NEXT_PORT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);

/// A free TCP port on 127.0.0.1 at or after the configured base (checked by binding).
pub fn free_port(base: u16) -> Result<u16> {
    let mut next = NEXT_PORT
        .lock()
        .expect("port lock is never poisoned (panic=abort)");
    if *next < base {
        *next = base;
    }
    for _ in 0..2000 {
        let p = *next;
        *next = next
            .checked_add(1)
            .ok_or_else(|| anyhow!("ran out of ports"))?;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return Ok(p);
        }
    }
    bail!("no free port found after {base}")
}

/// `count` consecutive free ports (aisnode needs PORT and BASE..BASE+cores).
pub fn free_port_run(base: u16, count: u16) -> Result<u16> {
    'outer: for _ in 0..500 {
        let first = free_port(base)?;
        for k in 1..count {
            let p = free_port(base)?;
            if p != first + k {
                continue 'outer;
            }
        }
        return Ok(first);
    }
    bail!("no run of {count} free ports after {base}")
}

/// Deadline of one connect, read or write of [`http_get`].
const HTTP_TIMEOUT_MS: u64 = 5_000;

/// GET `path` from 127.0.0.1:`port`: (status, body). One connection per request.
pub fn http_get(port: u16, path: &str) -> Result<(u16, Vec<u8>)> {
    let t = Some(Duration::from_millis(HTTP_TIMEOUT_MS));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(HTTP_TIMEOUT_MS))
        .with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(t)?;
    s.set_write_timeout(t)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    let mut head: Option<(usize, u16, Option<usize>, bool)> = None;
    loop {
        let n = s
            .read(&mut chunk)
            .map_err(|e| anyhow!("read from {addr}: {e}"))?;
        buf.extend_from_slice(&chunk[..n]);
        if head.is_none() {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&buf[..end]).into_owned();
                let status: u16 = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|x| x.parse().ok())
                    .with_context(|| format!("bad status line from {addr}: {text:?}"))?;
                let mut len = None;
                let mut chunked = false;
                for l in text.lines().skip(1) {
                    if let Some((k, v)) = l.split_once(':') {
                        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                        if k == "content-length" {
                            len = v.parse().ok();
                        } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                            chunked = true;
                        }
                    }
                }
                head = Some((end + 4, status, len, chunked));
            }
        }
        if let Some((start, status, len, chunked)) = head {
            let body = &buf[start..];
            let complete = match (len, chunked) {
                (Some(l), _) => body.len() >= l,
                (None, true) => body.ends_with(b"0\r\n\r\n"),
                (None, false) => n == 0,
            };
            if complete || n == 0 {
                let body = if chunked {
                    dechunk(body)
                } else {
                    body[..len.unwrap_or(body.len()).min(body.len())].to_vec()
                };
                return Ok((status, body));
            }
        } else if n == 0 {
            bail!("{addr} closed before a complete response head");
        }
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..i])
            .ok()
            .and_then(|x| usize::from_str_radix(x.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || b.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}
