//! The `authn` binary: AIS's AuthN service (see the crate docs and docs/authn.md).
//!
//! ```text
//! authn [-config DIR|FILE] [-host ADDR]
//! ```
//! `-config` (or `AIS_AUTHN_CONF_DIR`) names the directory of `authn.json` (or the file);
//! `-host` the address to listen on (default 127.0.0.1; AIS listens on every interface, pass
//! `-host 0.0.0.0` for that). The port is `net.http.port` or `AIS_AUTHN_PORT` (default
//! 52001). SIGTERM or SIGINT stops it: no new requests, the ones in flight finish.

use authn::config::{self, Env};
use authn::server::Server;
use authn::service::Service;
use authn::store::{Db, ADMIN_USER_DEFAULT};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Requests in flight get this long to finish after SIGTERM/SIGINT.
const STOP_DRAIN_MS: u64 = 10_000;

struct Args {
    config: Option<String>,
    host: String,
}

const USAGE: &str = "usage: authn [-config DIR|FILE] [-host ADDR]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        config: None,
        host: "127.0.0.1".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = |n: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{n} needs a value\n{USAGE}"))
        };
        match name.trim_start_matches('-') {
            "config" => a.config = Some(value("-config")?),
            "host" => a.host = value("-host")?,
            "h" | "help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("AIS_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("authn: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    // Block SIGTERM/SIGINT before any thread exists: every thread inherits the mask and the
    // main thread alone takes them with sigwait.
    let sigs = net::signals::termination_signals();
    net::signals::block_signals(&sigs);
    let env = Env::from_process();
    let path = config::config_path(args.config.as_deref(), &env)?;
    let cfg = config::load(&path, &env)?;
    if !cfg.file.log.dir.is_empty() {
        tracing::info!(dir = %cfg.file.log.dir, "log.dir is not used: AuthN logs to stderr");
    }
    let admin = env
        .su_name
        .clone()
        .unwrap_or_else(|| ADMIN_USER_DEFAULT.into());
    let db = Db::open(&cfg.db_path, &admin, env.su_pass.as_deref())?;
    tracing::info!(
        config = %path.display(),
        db = %db.path().display(),
        users = db.t.users.len(),
        roles = db.t.roles.len(),
        clusters = db.t.clusters.len(),
        "database loaded"
    );
    let port = cfg.port;
    let issuer = cfg.issuer.clone();
    let alg = cfg.alg();
    if let (Some(k), Some(p)) = (cfg.rsa(), &cfg.rsa_path) {
        tracing::info!(key = %p.display(), kid = k.kid(), bits = k.bits(), "RSA signing key loaded");
    }
    let service = Arc::new(Service::new(db, cfg));
    let server = Server::bind(&args.host, port, service)
        .map_err(|e| format!("cannot listen on {}:{port}: {e}", args.host))?;
    tracing::info!(addr = %server.local_addr(), issuer = %issuer, alg, "AuthN listening (HTTP)");
    let stopper = server.stopper();
    let accept = std::thread::Builder::new()
        .name("authn-accept".into())
        .spawn(move || server.run())
        .map_err(|e| format!("cannot start the accept thread: {e}"))?;
    let sig = net::signals::wait_signal(&sigs);
    tracing::info!(signal = sig, "stopping");
    stopper.stop();
    let _ = accept.join();
    if !stopper.wait_idle(Duration::from_millis(STOP_DRAIN_MS)) {
        tracing::warn!("requests still in flight after {STOP_DRAIN_MS} ms; exiting");
    }
    tracing::info!("stopped");
    Ok(())
}
