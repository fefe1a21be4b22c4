//! aisloader sees the system only as a client does (DESIGN.md §2): among workspace crates it
//! may depend on `net` alone. This reads the manifest so a forbidden edge fails without review.

#[test]
fn aisloader_depends_on_no_workspace_crate_but_net() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read aisloader/Cargo.toml");
    let path_deps: Vec<String> = manifest
        .lines()
        .filter(|l| l.contains("path") && l.contains("\"../"))
        .map(|l| l.split('=').next().unwrap_or("").trim().to_owned())
        .collect();
    assert_eq!(
        path_deps,
        ["net"],
        "workspace dependencies of aisloader: {path_deps:?}"
    );
    for forbidden in ["engine", "cluster"] {
        assert!(
            !manifest
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{forbidden} "))
                    || l.trim_start().starts_with(&format!("{forbidden}."))),
            "aisloader must not depend on {forbidden}"
        );
    }
}
