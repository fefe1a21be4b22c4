//! The `ais` CLI sees the system only as a client does (DESIGN.md §2): among workspace crates
//! it may depend on `net` alone. This reads the manifest so a forbidden edge fails without
//! review.

#[test]
fn ais_cli_depends_on_no_workspace_crate_but_net() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read ais/Cargo.toml");
    let path_deps: Vec<String> = manifest
        .lines()
        .filter(|l| l.contains("path") && l.contains("\"../"))
        .map(|l| l.split('=').next().unwrap_or("").trim().to_owned())
        .collect();
    assert_eq!(
        path_deps,
        ["net"],
        "workspace dependencies of ais: {path_deps:?}"
    );
    for forbidden in ["engine", "cluster", "aisnode", "aisloader", "perf"] {
        assert!(
            !manifest.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with(&format!("{forbidden} "))
                    || l.starts_with(&format!("{forbidden}."))
                    || l.starts_with(&format!("{forbidden}="))
                    || l.contains(&format!("dependencies.{forbidden}]"))
            }),
            "ais must not depend on {forbidden}"
        );
    }
}
