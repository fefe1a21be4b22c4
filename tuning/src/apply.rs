//! `tuning apply`: writes the recommended values of the findings that are off, only when
//! asked (`--yes`); otherwise prints what it would change. Each change is printed with the
//! exact command that undoes it (the old value written back).
//!
//! Changes are runtime only (sysctl and sysfs files): a reboot undoes them. What this module
//! does not do: persist settings (sysctl.d, udev rules) or touch resource limits (the
//! systemd units set those).

use crate::check::{Finding, Fix, Status};
use std::fmt::Write as _;

/// The shell command that writes `value` into the file.
pub fn write_command(path: &std::path::Path, value: &str) -> String {
    format!(
        "echo '{}' > {}",
        value.replace('\'', r"'\''"),
        path.display()
    )
}

/// The outcome of one fix.
#[derive(Debug, serde::Serialize)]
pub struct Change {
    pub setting: String,
    pub scope: String,
    pub path: std::path::PathBuf,
    pub old: String,
    pub new: String,
    pub applied: bool,
    pub undo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every fix of every finding that is off (status warn).
pub fn pending(findings: &[Finding]) -> Vec<(&Finding, &Fix)> {
    findings
        .iter()
        .filter(|f| f.status == Status::Warn)
        .flat_map(|f| f.fixes.iter().map(move |x| (f, x)))
        .collect()
}

/// Applies (when `yes`) or lists the pending fixes.
pub fn apply(findings: &[Finding], yes: bool) -> Vec<Change> {
    pending(findings)
        .into_iter()
        .map(|(f, x)| {
            let error = if yes {
                std::fs::write(&x.path, format!("{}\n", x.value))
                    .err()
                    .map(|e| format!("{}: {e}", x.path.display()))
            } else {
                None
            };
            Change {
                setting: f.setting.clone(),
                scope: f.scope.clone(),
                path: x.path.clone(),
                old: x.old.clone(),
                new: x.value.clone(),
                applied: yes && error.is_none(),
                undo: write_command(&x.path, &x.old),
                error,
            }
        })
        .collect()
}

/// Human-readable lines for the changes.
pub fn describe(changes: &[Change], yes: bool) -> String {
    let mut s = String::new();
    if changes.is_empty() {
        s.push_str("nothing to change: every setting that tuning can apply is as recommended\n");
        return s;
    }
    for c in changes {
        let verb = match (yes, &c.error) {
            (false, _) => "would set",
            (true, None) => "set",
            (true, Some(_)) => "FAILED to set",
        };
        let _ = writeln!(
            s,
            "{verb} {} [{}]: {} -> {}",
            c.setting, c.scope, c.old, c.new
        );
        let _ = writeln!(s, "    command: {}", write_command(&c.path, &c.new));
        if let Some(e) = &c.error {
            let _ = writeln!(s, "    error: {e}");
        } else {
            let _ = writeln!(s, "    undo:    {}", c.undo);
        }
    }
    if !yes {
        s.push_str("dry run: nothing changed; run `tuning apply --yes` to apply (runtime only: a reboot undoes it)\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Host;

    #[test]
    fn dry_run_changes_nothing_and_yes_writes_with_undo() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("proc/sys/vm/swappiness");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "60\n").unwrap();
        let host = Host {
            proc_root: t.path().join("proc"),
            sys_root: t.path().join("sys"),
        };
        let fs = crate::check::host_findings(&host);

        let dry = apply(&fs, false);
        assert_eq!(dry.len(), 1, "{dry:?}");
        assert!(!dry[0].applied);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "60\n");
        assert!(describe(&dry, false).contains("would set vm.swappiness [host]: 60 -> 10"));

        let done = apply(&fs, true);
        assert!(done[0].applied);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "10\n");
        assert_eq!(done[0].undo, format!("echo '60' > {}", p.display()));
        assert!(
            apply(&crate::check::host_findings(&host), false).is_empty(),
            "nothing left"
        );
    }

    #[test]
    fn a_failed_write_is_reported_not_fatal() {
        let f = Finding {
            scope: "disk x".into(),
            setting: "nr_requests".into(),
            found: "64".into(),
            recommended: ">= 128".into(),
            status: Status::Warn,
            note: String::new(),
            fixes: vec![Fix {
                path: "/nonexistent/dir/nr_requests".into(),
                value: "128".into(),
                old: "64".into(),
            }],
        };
        let c = apply(std::slice::from_ref(&f), true);
        assert!(!c[0].applied);
        assert!(describe(&c, true).contains("FAILED to set nr_requests"));
    }
}
