//! Keeps DESIGN.md §2's layers true without review. Reads every workspace crate's sources as
//! text, builds the graph of module imports (`crate::...` and `super::...` paths, `use`
//! trees included), and fails when
//! - any two or more modules of a crate import each other in a loop of more than two files;
//! - in `cluster` (layers 1-3) or `aisnode` (layers 4-5) a lower layer imports a higher one;
//! - `cluster` names the HTTP server's types (`net::conn`, `net::http::RequestHead`).
//!
//! A module is a file: `src/a.rs` and `src/a/mod.rs` are `a`, `src/a/b.rs` is `a::b`, the
//! crate root (`lib.rs`/`main.rs`) is `crate`. `mod x;` declarations are not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 6] = ["engine", "net", "cluster", "aisnode", "aisloader", "perf"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cluster sits in the workspace root")
        .to_path_buf()
}

/// Module path of a source file relative to `src/`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs").to_string();
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem);
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source without comments and string literals (a path in a doc comment or a message is
/// not an import).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // a char literal such as '"' or '{'
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Byte spans of inline modules (`mod tests { ... }`) in stripped source.
fn inline_mod_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(k) = s[i..].find("mod ") {
        let at = i + k;
        i = at + 4;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let mut j = at + 4;
        skip_ws(b, &mut j);
        if ident(s, &mut j).is_empty() {
            continue;
        }
        skip_ws(b, &mut j);
        if j >= b.len() || b[j] != b'{' {
            continue; // `mod x;`
        }
        let mut depth = 0usize;
        let start = j;
        while j < b.len() {
            match b[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        spans.push((start, j));
    }
    spans
}

/// Every path a `crate::` or `super::` reference (plain or a `use` tree) names, as segment
/// lists starting with `crate` or `super`. A `super` inside an inline module (`mod tests`)
/// names the file's own module first, so those leading `super`s are dropped: a path that
/// stays in the file is `["self"]`.
fn referenced_paths(src: &str) -> Vec<Vec<String>> {
    let s = strip(src);
    let spans = inline_mod_spans(&s);
    let mut out = Vec::new();
    for (pos, mut p) in referenced_paths_at(&s) {
        let depth = spans.iter().filter(|(a, b)| *a < pos && pos < *b).count();
        if p[0] == "super" {
            let supers = p.iter().take_while(|x| *x == "super").count();
            let drop = supers.min(depth);
            p.drain(..drop);
            if p.is_empty() || p[0] != "super" {
                p.insert(0, "self".into());
            }
        }
        out.push(p);
    }
    out
}

fn referenced_paths_at(s: &str) -> Vec<(usize, Vec<String>)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let head = if s[i..].starts_with("crate::") {
            Some("crate")
        } else if s[i..].starts_with("super::") {
            Some("super")
        } else {
            None
        };
        match head {
            Some(h) if word_start && !(i >= 2 && &s[i - 2..i] == "::") => {
                let mut j = i + h.len();
                let mut found = Vec::new();
                parse_tree(s, &mut j, vec![h.to_string()], &mut found);
                out.extend(found.into_iter().map(|p| (i, p)));
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Parse `::seg::seg::{tree, tree}` starting at `*j` (which points at `::`).
fn parse_tree(s: &str, j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let b = s.as_bytes();
    let mut path = prefix;
    loop {
        if !s[*j..].starts_with("::") {
            break;
        }
        *j += 2;
        skip_ws(b, j);
        if *j < b.len() && b[*j] == b'{' {
            *j += 1;
            loop {
                skip_ws(b, j);
                if *j >= b.len() || b[*j] == b'}' {
                    *j += 1;
                    break;
                }
                let seg = ident(s, j);
                let mut sub = path.clone();
                if !seg.is_empty() && seg != "self" && seg != "*" {
                    sub.push(seg);
                }
                if s[*j..].starts_with("::") {
                    parse_tree(s, j, sub, out);
                } else {
                    out.push(sub);
                }
                skip_ws(b, j);
                // `as alias`
                if s[*j..].starts_with("as ") {
                    *j += 3;
                    skip_ws(b, j);
                    ident(s, j);
                    skip_ws(b, j);
                }
                if *j < b.len() && b[*j] == b',' {
                    *j += 1;
                } else if *j < b.len() && b[*j] != b'}' {
                    *j += 1; // unexpected: keep going
                }
            }
            return;
        }
        let seg = ident(s, j);
        if seg.is_empty() || seg == "*" {
            break;
        }
        path.push(seg);
    }
    out.push(path);
}

fn skip_ws(b: &[u8], j: &mut usize) {
    while *j < b.len() && b[*j].is_ascii_whitespace() {
        *j += 1;
    }
}

fn ident(s: &str, j: &mut usize) -> String {
    let b = s.as_bytes();
    let start = *j;
    if *j < b.len() && b[*j] == b'*' {
        *j += 1;
        return "*".into();
    }
    while *j < b.len() && (b[*j].is_ascii_alphanumeric() || b[*j] == b'_') {
        *j += 1;
    }
    s[start..*j].to_string()
}

/// The module graph of one crate: module -> modules it imports (itself excluded).
fn graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).expect("under src")))
        .collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let me = module_of(rel);
        let is_mod_file = rel.file_name().is_some_and(|n| n == "mod.rs")
            || (rel.parent() == Some(Path::new("")) && me == "crate");
        let text = std::fs::read_to_string(f).expect("readable source");
        let edges = g.entry(me.clone()).or_default();
        for p in referenced_paths(&text) {
            // Resolve to segments below the crate root.
            let mut segs: Vec<String> = if me == "crate" {
                vec![]
            } else {
                me.split("::").map(str::to_string).collect()
            };
            let mut rest = p.into_iter().peekable();
            match rest.next().as_deref() {
                Some("self") => continue,
                Some("crate") => segs.clear(),
                Some("super") => {
                    // In `a/mod.rs` (module `a`), `super` is a's parent; in `a/b.rs` it is `a`.
                    let _ = is_mod_file;
                    segs.pop();
                    while rest.peek().map(String::as_str) == Some("super") {
                        rest.next();
                        segs.pop();
                    }
                }
                _ => continue,
            }
            segs.extend(rest);
            // The longest prefix that is a module file.
            let target = (0..=segs.len())
                .rev()
                .map(|n| {
                    if n == 0 {
                        "crate".to_string()
                    } else {
                        segs[..n].join("::")
                    }
                })
                .find(|m| modules.contains(m))
                .expect("crate root exists");
            if target != me {
                edges.insert(target);
            }
        }
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn loops(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.g.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().expect("on stack");
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// Layer of a module of `cluster` or `aisnode` (DESIGN.md §2).
fn layer(krate: &str, module: &str) -> u8 {
    let top = module.split("::").next().expect("non-empty");
    match (krate, top) {
        // Used by every layer of the crate.
        // The typed error names metadata decisions; meta itself does not use it.
        ("cluster", "error" | "meta") => 1,
        ("cluster", "node") => 2,
        // The crate root only declares modules and re-exports.
        ("cluster", "crate") => 9,
        ("cluster", _) => 3,
        ("aisnode", "server" | "routes" | "crate") => 5,
        ("aisnode", _) => 4,
        _ => unreachable!("layers are defined for cluster and aisnode"),
    }
}

fn upward_imports(krate: &str) -> Vec<String> {
    let g = graph(krate);
    let mut bad = Vec::new();
    for (from, tos) in &g {
        for to in tos {
            if layer(krate, to) > layer(krate, from) {
                bad.push(format!(
                    "{krate}: {from} (layer {}) imports {to} (layer {})",
                    layer(krate, from),
                    layer(krate, to)
                ));
            }
        }
    }
    bad
}

#[test]
fn no_import_loop_of_more_than_two_files_in_any_crate() {
    let mut found = Vec::new();
    for k in CRATES {
        let g = graph(k);
        assert!(!g.is_empty(), "{k}: no sources found");
        for l in loops(&g) {
            if l.len() > 2 {
                found.push(format!("{k}: {}", l.join(" <-> ")));
            }
        }
    }
    assert!(found.is_empty(), "import loops: {found:#?}");
}

#[test]
fn cluster_layers_import_only_downwards() {
    let bad = upward_imports("cluster");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn aisnode_handlers_never_import_the_server() {
    let bad = upward_imports("aisnode");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn cluster_names_no_http_server_type() {
    let src = root().join("cluster").join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for f in files {
        let text = strip(&std::fs::read_to_string(&f).expect("readable"));
        for banned in ["net::conn", "RequestHead", "aisnode"] {
            assert!(
                !text.contains(banned),
                "{} names {banned}: services name no server or response type",
                f.display()
            );
        }
    }
}

#[test]
fn the_graph_sees_real_imports() {
    // Not vacuous: known edges of the tree are found.
    let c = graph("cluster");
    assert!(c.len() >= 15, "cluster modules: {:?}", c.keys());
    assert!(
        c["rebalance"].contains("meta::placement"),
        "{:?}",
        c["rebalance"]
    );
    assert!(c["node"].contains("meta::version"), "{:?}", c["node"]);
    let a = graph("aisnode");
    assert!(a["routes"].contains("native::objects"), "{:?}", a["routes"]);
    assert!(a["s3::objects"].contains("s3"), "{:?}", a["s3::objects"]);
}

#[test]
fn parser_and_loop_finder_on_known_inputs() {
    let src = "use crate::{a::{b, c as d}, e};\nuse super::*;\n// crate::x\nlet s = \"crate::y\";\nfoo(crate::f::g());\nmod tests { use super::*; use super::super::z; }";
    let mut got: Vec<String> = referenced_paths(src).iter().map(|p| p.join("::")).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "crate::a::b",
            "crate::a::c",
            "crate::e",
            "crate::f::g",
            "self",
            "super",
            "super::z"
        ]
    );
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edge = |a: &str, b: &str| {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    };
    edge("x", "y");
    edge("y", "x");
    edge("p", "q");
    edge("q", "r");
    edge("r", "p");
    let l = loops(&g);
    assert_eq!(l.len(), 2);
    assert!(l.iter().any(|c| c.len() == 3), "{l:?}");
    assert_eq!(layer("cluster", "meta::placement"), 1);
    assert_eq!(layer("aisnode", "native::objects"), 4);
}
