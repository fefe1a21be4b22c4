//! Keeps DESIGN.md §2's crate boundaries true without review: `engine` and `net` depend on
//! no workspace crate, `cluster` (layers 1-3) only on them, `aisnode` (layers 4-5) on
//! `cluster`, `engine` and `net`, `aisloader` only on `net`. Reads the manifests as text; a
//! missing manifest fails (a renamed crate must not make these checks pass vacuously).

use std::path::Path;

const WORKSPACE_CRATES: [&str; 7] = [
    "engine",
    "net",
    "cluster",
    "aisnode",
    "aisloader",
    "tuning",
    "perf",
];

/// Dependencies (all dependency tables) in a Cargo manifest: name, and whether it is a
/// `path` dependency.
fn deps(manifest: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_deps = l.contains("dependencies");
            // `[dependencies.foo]` form
            if let Some(rest) = l
                .strip_prefix("[dependencies.")
                .or_else(|| l.strip_prefix("[dev-dependencies."))
            {
                out.push((rest.trim_end_matches(']').to_string(), false));
                in_deps = false;
            }
            continue;
        }
        if in_deps && !l.is_empty() && !l.starts_with('#') {
            if let Some((name, value)) = l.split_once('=') {
                let is_path = value.contains("path =") || value.contains("path=");
                out.push((name.trim().trim_matches('"').to_string(), is_path));
            }
        }
    }
    out
}

fn workspace_deps_of(krate: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cluster sits in the workspace root");
    let p = root.join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (crate {krate} is checked here)", p.display()));
    // By name or by `path` (a name such as `serde_path_to_error` is not a path dependency).
    deps(&text)
        .into_iter()
        .filter(|(d, is_path)| WORKSPACE_CRATES.contains(&d.as_str()) || *is_path)
        .map(|(d, _)| d)
        .collect()
}

#[test]
fn engine_depends_on_no_workspace_crate() {
    assert_eq!(workspace_deps_of("engine"), Vec::<String>::new());
}

#[test]
fn net_depends_on_no_workspace_crate() {
    assert_eq!(workspace_deps_of("net"), Vec::<String>::new());
}

#[test]
fn aisloader_depends_only_on_net() {
    let d = workspace_deps_of("aisloader");
    assert!(
        d.iter().all(|x| x == "net"),
        "aisloader may depend on net only, found {d:?}"
    );
}

#[test]
fn cluster_depends_only_on_engine_and_net() {
    let mut d = workspace_deps_of("cluster");
    d.sort();
    assert_eq!(d, vec!["engine", "net"]);
}

#[test]
fn aisnode_builds_on_cluster_engine_net() {
    let mut d = workspace_deps_of("aisnode");
    d.sort();
    assert_eq!(d, vec!["cluster", "engine", "net"]);
}

#[test]
fn nothing_depends_on_aisnode_perf_or_aisloader() {
    for k in ["engine", "net", "cluster", "aisnode", "aisloader", "perf"] {
        let d = workspace_deps_of(k);
        for leaf in ["aisnode", "perf", "aisloader"] {
            assert!(
                !d.iter().any(|x| x == leaf),
                "{k} depends on {leaf}, which is a leaf"
            );
        }
    }
}

#[test]
fn dependency_parser_sees_path_and_table_forms() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nnet = { path = \"../net\" }\nserde = \"1\"\n[dependencies.engine]\npath = \"../engine\"\n";
    let names: Vec<String> = deps(m).into_iter().map(|(d, _)| d).collect();
    assert_eq!(names, vec!["net", "serde", "engine"]);
    assert_eq!(deps(m)[0], ("net".to_string(), true));
    // A crate whose name contains "path" is not a path dependency.
    let m = "[dependencies]\nserde_path_to_error.workspace = true\n";
    assert_eq!(
        deps(m),
        vec![("serde_path_to_error.workspace".to_string(), false)]
    );
}
