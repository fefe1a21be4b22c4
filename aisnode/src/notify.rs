//! systemd's notify protocol (`Type=notify`, sd_notify(3)): `READY=1` once the node is a
//! member of the cluster map and answers `/v1/health` 200, `STOPPING=1` when it starts to
//! stop. Only when systemd (or a test) set `NOTIFY_SOCKET`: a datagram to that Unix socket
//! (a path, or `@name` in the abstract namespace). Nothing else of libsystemd is needed.

use cluster::daemon::Node;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

/// How often readiness is checked until it is reached.
const READY_POLL_MS: u64 = 50;

/// `$NOTIFY_SOCKET` when set and not empty.
fn socket() -> Option<std::ffi::OsString> {
    std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty())
}

/// Send `msg` to `$NOTIFY_SOCKET`; nothing when it is unset. Errors are logged, never fatal:
/// a unit that waits for READY=1 times out and says why.
pub fn send(msg: &str) {
    let Some(path) = socket() else {
        return;
    };
    let r = (|| -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg.as_bytes(), &addr)?;
        } else {
            sock.send_to(msg.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        tracing::warn!(socket = ?path, error = %e, "sd_notify failed");
    }
}

/// Watch (on a thread of its own) until the node is ready, then send `READY=1` with a status
/// line. Returns at once when `NOTIFY_SOCKET` is unset.
pub fn ready_when_healthy(node: Arc<Node>) {
    if socket().is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("sd-notify".into())
        .spawn(move || loop {
            if node.member_ready().is_ok() {
                let smap = node.smap.load();
                send(&format!(
                    "READY=1\nSTATUS={} in cluster map v{} ({} proxies, {} targets)",
                    node.self_id(),
                    smap.version,
                    smap.pmap.len(),
                    smap.tmap.len()
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(READY_POLL_MS));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the sd-notify thread");
    }
}
