//! The api crate's layers, and a test that keeps every import pointing down (issue 17).
//!
//! [`LAYERS`] is the one definition of the order; `api/src/lib.rs` and `docs/architecture.md`
//! describe it. A module may use its own files and any module of a *lower* layer; never one
//! above it, nor a sibling in its own layer (siblings stay independent). `lib.rs` and
//! `main.rs` are the root and may use everything. Every top-level module must have a layer,
//! so a new module has to choose its place here.
//!
//! What is read: every `crate::<module>` path in the code of `api/src` (comment lines are
//! skipped, so a doc link may name any module).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The api crate's top-level modules, from the top layer down.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "the HTTP edge: routes, errors as responses, the spec",
        &["http"],
    ),
    (
        "background tasks and one-off jobs",
        &["expiry", "key_purge", "retention", "demo", "backup"],
    ),
    ("the ticker loop the background tasks share", &["tasks"]),
    ("the shared handles (database, writer, TTLs)", &["state"]),
    (
        "the writer thread and the point reads",
        &["writer", "reads"],
    ),
    ("Prometheus metrics", &["metrics"]),
    ("the inventory operations (SQL and rules)", &["ops"]),
    ("settings", &["config"]),
    ("the API keys, parsed at start-up", &["keys"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read api/src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file belongs to (`http/stock.rs` → `http`), `None` for the root.
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).expect("under api/src");
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// Every module named after `crate::` in a line of code (`crate::a::b`, `crate::{a, b::c}`).
fn crate_paths(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `inventory_crate::` or `my_crate::` are not this crate.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inside = group.split('}').next().unwrap_or("");
            for part in inside.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn every_import_in_api_src_points_to_a_lower_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let shown = file.strip_prefix(src()).expect("under src").display();
        let Some(from) = layer_of(&module) else {
            wrong.push(format!("{shown}: module `{module}` has no layer in LAYERS"));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for target in crate_paths(line) {
                // Items of the crate root (`crate::Application`) and the module itself.
                if target == module || target.starts_with(char::is_uppercase) {
                    continue;
                }
                match layer_of(&target) {
                    Some(to) if to > from => {}
                    Some(to) => wrong.push(format!(
                        "{shown}:{}: `{module}` ({}) uses `{target}` ({}), which is not below it",
                        n + 1,
                        LAYERS[from].0,
                        LAYERS[to].0
                    )),
                    None => wrong.push(format!(
                        "{shown}:{}: `{module}` uses `{target}`, which has no layer in LAYERS",
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not point down:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_layered_module_exists() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    for (_, names) in LAYERS {
        for name in *names {
            assert!(
                modules.contains(*name),
                "LAYERS names `{name}`, which is not a module of api/src"
            );
        }
    }
}

#[test]
fn the_reader_finds_single_and_grouped_paths() {
    assert_eq!(crate_paths("use crate::http::AppState;"), ["http"]);
    assert_eq!(
        crate_paths("use crate::{ops::OpError, writer};"),
        ["ops", "writer"]
    );
    assert_eq!(
        crate_paths("    crate::metrics::record(crate::ops::x());"),
        ["metrics", "ops"]
    );
    assert!(crate_paths("use inventory_crate::x;").is_empty());
}
