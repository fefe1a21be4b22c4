//! DESIGN.md §2: `tuning` may depend on anything, and nothing depends on it. This reads every
//! workspace member's manifest and fails on a dependency on `tuning`.

use std::path::Path;

#[test]
fn no_workspace_crate_depends_on_tuning() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    let members_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a members list");
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(
        members.contains(&"tuning"),
        "tuning is a member: {members:?}"
    );
    for m in members.iter().filter(|m| **m != "tuning") {
        let text = std::fs::read_to_string(root.join(m).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{m}/Cargo.toml: {e}"));
        for line in text.lines() {
            let key = line.trim_start();
            assert!(
                !(key.starts_with("tuning ")
                    || key.starts_with("tuning=")
                    || key.starts_with("tuning.")),
                "{m}/Cargo.toml depends on tuning: {line:?}"
            );
        }
    }
}
