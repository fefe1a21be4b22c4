//! The systemd unit template (`systemd/aisnode@.service`) rendered for a host, the files a
//! proposal writes (unit, drop-in, EnvironmentFile), and the install steps.
//!
//! One template serves every role: the instance name is the role (`aisnode@target`), which
//! names the EnvironmentFile (`/etc/ais/aisnode-<role>.env`) and the state directory
//! (`/var/lib/ais/<role>`). What this module does not do: run systemctl (the caller runs
//! the install steps it returns, or prints them).

use crate::propose::Proposal;
use std::path::{Path, PathBuf};

pub const TEMPLATE: &str = include_str!("../systemd/aisnode@.service");
pub const TEMPLATE_NAME: &str = "aisnode@.service";
/// Where the template's ExecStart points.
pub const AISNODE_BIN_INSTALLED: &str = "/usr/local/bin/aisnode";
pub const ENV_DIR: &str = "/etc/ais";
pub const UNIT_DIR: &str = "/etc/systemd/system";
pub const USER: &str = "ais";

/// The template with ExecStart pointing at `aisnode_bin`.
pub fn render_template(aisnode_bin: &Path) -> String {
    let from = format!("ExecStart={AISNODE_BIN_INSTALLED} ");
    assert!(
        TEMPLATE.contains(&from),
        "the template starts {AISNODE_BIN_INSTALLED}"
    );
    TEMPLATE.replace(&from, &format!("ExecStart={} ", aisnode_bin.display()))
}

pub fn env_file_name(role: &str) -> String {
    format!("aisnode-{role}.env")
}

pub fn dropin_rel(role: &str) -> String {
    format!("aisnode@{role}.service.d/mountpaths.conf")
}

/// The EnvironmentFile: `AISNODE_ARGS` holds the arguments (validated to need no quoting).
pub fn env_file(p: &Proposal) -> String {
    let mut s = format!(
        "# aisnode@{role}: arguments proposed by `tuning propose` (proposal.json says why).\n",
        role = p.role.as_str()
    );
    for n in &p.notes {
        s.push_str(&format!("# {n}\n"));
    }
    s.push_str(&format!("AISNODE_ARGS=\"{}\"\n", p.args.join(" ")));
    s
}

/// The drop-in that orders the unit after the mountpaths' file systems are mounted.
pub fn dropin(p: &Proposal) -> Option<String> {
    if p.assignment.is_empty() {
        return None;
    }
    let paths: Vec<String> = p
        .assignment
        .iter()
        .map(|a| a.mountpath.to_string_lossy().into_owned())
        .collect();
    Some(format!(
        "# Written by `tuning propose`: start only with every mountpath's file system mounted.\n[Unit]\nRequiresMountsFor={}\n",
        paths.join(" ")
    ))
}

/// Writes the proposal's files into `dir`; returns the paths written.
pub fn write_all(dir: &Path, p: &Proposal, aisnode_bin: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |rel: &str, text: &str| -> std::io::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    let role = p.role.as_str();
    put(TEMPLATE_NAME, &render_template(aisnode_bin))?;
    put(&env_file_name(role), &env_file(p))?;
    if let Some(d) = dropin(p) {
        put(&dropin_rel(role), &d)?;
    }
    let json = serde_json::to_string_pretty(p).map_err(std::io::Error::other)?;
    put("proposal.json", &(json + "\n"))?;
    Ok(written)
}

/// Single-quotes a word for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell commands that install a proposal directory: the `ais` user, the binary, the
/// units and the EnvironmentFile, mountpath ownership, daemon-reload.
pub fn install_steps(dir: &Path, p: &Proposal, aisnode_bin: &Path) -> Vec<String> {
    let role = p.role.as_str();
    let q = |p: &Path| sh_quote(&p.to_string_lossy());
    let mut steps = vec![
        format!("getent passwd {USER} >/dev/null || useradd --system --user-group --home-dir /var/lib/ais --shell /usr/sbin/nologin {USER}"),
        format!("install -D -m 0755 {} {AISNODE_BIN_INSTALLED}", q(aisnode_bin)),
        format!(
            "install -D -m 0644 {} {UNIT_DIR}/{TEMPLATE_NAME}",
            q(&dir.join(TEMPLATE_NAME))
        ),
        format!(
            "install -D -m 0644 {} {ENV_DIR}/{}",
            q(&dir.join(env_file_name(role))),
            env_file_name(role)
        ),
    ];
    if dropin(p).is_some() {
        steps.push(format!(
            "install -D -m 0644 {} {UNIT_DIR}/{}",
            q(&dir.join(dropin_rel(role))),
            dropin_rel(role)
        ));
    }
    for a in &p.assignment {
        steps.push(format!("chown {USER}:{USER} {}", q(&a.mountpath)));
    }
    steps.push("systemctl daemon-reload".to_string());
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propose::{Assignment, Role};

    fn proposal() -> Proposal {
        Proposal {
            role: Role::Target,
            cores: 1,
            cpus: 2,
            assignment: vec![Assignment {
                mountpath: "/mnt/a".into(),
                disk: "vda".into(),
                core: 0,
            }],
            rebalance_workers: Some(4),
            queue_depth_per_disk: Default::default(),
            notes: vec!["why".into()],
            args: vec![
                "--role".into(),
                "target".into(),
                "--mountpath".into(),
                "/mnt/a".into(),
            ],
        }
    }

    #[test]
    fn template_has_what_the_node_needs() {
        for line in [
            "Type=notify",
            "NotifyAccess=main",
            "LimitMEMLOCK=infinity",
            "LimitNOFILE=1048576",
            "Restart=on-failure",
            "User=ais",
            "Group=ais",
            "EnvironmentFile=/etc/ais/aisnode-%i.env",
            "ExecStart=/usr/local/bin/aisnode $AISNODE_ARGS",
        ] {
            assert!(TEMPLATE.lines().any(|l| l == line), "{line}");
        }
        let stop: u64 = TEMPLATE
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            stop * 1000 > 30_000 + 250,
            "above aisnode's default drain timeout and grace"
        );
        let r = render_template(Path::new("/opt/x/aisnode"));
        assert!(r.contains("ExecStart=/opt/x/aisnode $AISNODE_ARGS"));
    }

    #[test]
    fn env_file_dropin_and_install_steps() {
        let p = proposal();
        let env = env_file(&p);
        assert!(env.contains("AISNODE_ARGS=\"--role target --mountpath /mnt/a\"\n"));
        assert!(env.contains("# why\n"));
        assert_eq!(
            dropin(&p).unwrap().lines().last(),
            Some("RequiresMountsFor=/mnt/a")
        );
        let steps = install_steps(Path::new("/tmp/p"), &p, Path::new("target/release/aisnode"));
        assert!(steps.iter().any(|s| s == "chown ais:ais '/mnt/a'"));
        assert!(steps
            .iter()
            .any(|s| s.ends_with("/etc/systemd/system/aisnode@target.service.d/mountpaths.conf")));
        assert_eq!(steps.last().unwrap(), "systemctl daemon-reload");
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
    }
}
