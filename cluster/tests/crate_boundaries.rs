//! Keeps DESIGN.md §2's crate boundaries true without review: `engine` and `net` depend on
//! no workspace crate, `aisloader` only on `net`. Reads the manifests as text.

use std::path::Path;

const WORKSPACE_CRATES: [&str; 6] = ["engine", "net", "cluster", "aisloader", "tuning", "perf"];

/// Names of dependencies (all dependency tables) in a Cargo manifest.
fn deps(manifest: &str) -> Vec<String> {
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
                out.push(rest.trim_end_matches(']').to_string());
                in_deps = false;
            }
            continue;
        }
        if in_deps && !l.is_empty() && !l.starts_with('#') {
            if let Some((name, _)) = l.split_once('=') {
                out.push(name.trim().trim_matches('"').to_string());
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
    let Ok(text) = std::fs::read_to_string(&p) else {
        return vec![];
    };
    deps(&text)
        .into_iter()
        .filter(|d| WORKSPACE_CRATES.contains(&d.as_str()) || d.contains("path"))
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
fn dependency_parser_sees_path_and_table_forms() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nnet = { path = \"../net\" }\nserde = \"1\"\n[dependencies.engine]\npath = \"../engine\"\n";
    assert_eq!(deps(m), vec!["net", "serde", "engine"]);
}
