//! The `authn` binary refuses to start, with a message naming the cause, when it cannot do
//! what its configuration asks: no HMAC secret, no admin password for a new database, HTTPS.
//! (Serving and stopping on SIGTERM are covered by tests/integration/test_authn.py.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// Run `authn -config <dir>` with exactly `env` (plus PATH) and return (exit code, stderr).
fn run(dir: &std::path::Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authn"));
    cmd.arg("-config")
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start authn");
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait authn") {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("authn did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    (status.code(), err)
}

#[test]
fn refuses_to_start_and_says_why() {
    let d = tempfile::tempdir().unwrap();
    let (code, err) = run(d.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("AIS_AUTHN_SECRET_KEY"), "{err}");

    let (code, err) = run(
        d.path(),
        &[("AIS_AUTHN_SECRET_KEY", "k"), ("AIS_AUTHN_PORT", "1")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("port 1 is out of range"), "{err}");

    // A new database needs the admin's password; nothing is written without it.
    let (code, err) = run(d.path(), &[("AIS_AUTHN_SECRET_KEY", "k")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("AIS_AUTHN_SU_PASS"), "{err}");
    assert!(!d.path().join("authn.db.json").exists());

    std::fs::write(
        d.path().join("authn.json"),
        r#"{"net":{"http":{"port":52001,"use_https":true}}}"#,
    )
    .unwrap();
    let (code, err) = run(
        d.path(),
        &[("AIS_AUTHN_SECRET_KEY", "k"), ("AIS_AUTHN_SU_PASS", "p")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("use_https"), "{err}");

    // An unknown flag: usage, exit 2 (before any configuration is read).
    let mut c = Command::new(env!("CARGO_BIN_EXE_authn"));
    let out = c
        .arg("-nope")
        .stdin(Stdio::null())
        .output()
        .expect("run authn");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
}
