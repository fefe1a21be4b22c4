//! DESIGN.md §2 for `authn`: a separate daemon that sees a cluster only as a client does. It
//! may use the sans-IO parts of `net` and `cluster` (wire formats, JWT, permission bits), never
//! `aisnode` or `engine` (no storage), and no workspace crate depends on it. Reads the
//! manifests as text; a missing manifest fails.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("authn sits in the workspace root")
}

/// Workspace crates named as dependencies (`name = { path = "../name" ... }`) in a manifest.
fn path_deps(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .filter(|l| l.contains("path") && l.contains("\"../"))
        .map(|l| l.split('=').next().unwrap_or("").trim().to_owned())
        .collect()
}

#[test]
fn authn_depends_on_net_and_cluster_only() {
    let m = std::fs::read_to_string(root().join("authn/Cargo.toml")).expect("authn/Cargo.toml");
    let mut d = path_deps(&m);
    d.sort();
    assert_eq!(d, ["cluster", "net"], "workspace dependencies of authn");
}

#[test]
fn nothing_depends_on_authn() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("root Cargo.toml");
    let members_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a members list");
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(members.contains(&"authn"), "authn is a member: {members:?}");
    for m in members.iter().filter(|m| **m != "authn") {
        let text = std::fs::read_to_string(root().join(m).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{m}/Cargo.toml: {e}"));
        assert!(
            !path_deps(&text).iter().any(|d| d == "authn"),
            "{m} depends on authn"
        );
    }
}
