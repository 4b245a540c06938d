//! The api crate's layers, and a test that keeps every import pointing down (issue 17).
//!
//! [`LAYERS`] is the one definition of the order; `api/src/lib.rs` and `docs/architecture.md`
//! describe it. A module may use its own files and any module of a *lower* layer; never one
//! above it, nor a sibling in its own layer (siblings stay independent). A unit-test file
//! (`tests.rs`, or a file under a `tests/` folder in `src`) may also use a sibling, to arrange
//! what it reads (the reads' tests write their data through the writer), never a module above.
//! `lib.rs` and `main.rs` are the root and may use everything. Every top-level module must have a layer,
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
    (
        "the inventory operations: the rules (the ported ones on the seam), SQL of the rest",
        &["ops"],
    ),
    (
        "the storage seam: the Tx trait the rules are written against, and its SQLite backend",
        &["store"],
    ),
    ("settings", &["config"]),
    ("the API keys, parsed at start-up", &["keys"]),
    (
        "the domain types: ids, quantities, statuses, typed rows",
        &["domain"],
    ),
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

/// Every module named after `crate::` in some code (`crate::a::b`, `crate::{a, b::c}`, a group
/// spread over several lines, nested groups), with the 1-based line each path starts on.
fn crate_paths_by_line(code: &str) -> Vec<(usize, String)> {
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        let line = code[..at].matches('\n').count() + 1;
        // `inventory_crate::` or `my_crate::` are not this crate.
        if code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level entries: split on commas outside nested braces.
            let mut depth = 0;
            let mut entry = String::new();
            let mut entries = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        entries.push(std::mem::take(&mut entry));
                        continue;
                    }
                    _ => {}
                }
                entry.push(c);
            }
            entries.push(entry);
            for part in entries {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push((line, name));
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push((line, name));
            }
        }
    }
    names
}

/// [`crate_paths_by_line`] without the line numbers.
fn crate_paths(code: &str) -> Vec<String> {
    crate_paths_by_line(code)
        .into_iter()
        .map(|(_, name)| name)
        .collect()
}

/// The code a file's imports are read from: comment lines blanked (kept as empty lines, so
/// line numbers hold), and the `super::` chain that climbs to the crate root written as
/// `crate::` (`super::` in `expiry.rs` or `retention/mod.rs`, `super::super::` in
/// `http/stock.rs`).
fn code_of(file: &Path, text: &str) -> String {
    let relative = file.strip_prefix(src()).expect("under api/src");
    let mut depth = relative.components().count();
    if relative.file_name().is_some_and(|n| n == "mod.rs") {
        depth -= 1;
    }
    let code: Vec<&str> = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("//") {
                ""
            } else {
                line
            }
        })
        .collect();
    let code = code.join("\n");
    if depth == 0 {
        return code;
    }
    code.replace(&"super::".repeat(depth), "crate::")
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
        let code = code_of(file, &text);
        let relative = file.strip_prefix(src()).expect("under src");
        let unit_test = relative.file_name().is_some_and(|n| n == "tests.rs")
            || relative.components().any(|c| c.as_os_str() == "tests");
        for (n, target) in crate_paths_by_line(&code) {
            // Items of the crate root (`crate::Application`) and the module itself.
            if target == module || target.starts_with(char::is_uppercase) {
                continue;
            }
            match layer_of(&target) {
                Some(to) if to > from || (unit_test && to == from) => {}
                Some(to) => wrong.push(format!(
                    "{shown}:{}: `{module}` ({}) uses `{target}` ({}), which is not below it",
                    n, LAYERS[from].0, LAYERS[to].0
                )),
                None => wrong.push(format!(
                    "{shown}:{}: `{module}` uses `{target}`, which has no layer in LAYERS",
                    n
                )),
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
    assert_eq!(
        crate_paths_by_line("use crate::{\n    http::AppState,\n    ops::{a, b},\n    writer,\n};"),
        [
            (1, "http".to_owned()),
            (1, "ops".to_owned()),
            (1, "writer".to_owned())
        ]
    );
}

#[test]
fn super_paths_that_climb_to_the_root_are_read_as_crate_paths() {
    let top = src().join("expiry.rs");
    assert_eq!(crate_paths(&code_of(&top, "use super::http::X;")), ["http"]);
    let nested = src().join("http").join("stock.rs");
    assert_eq!(
        crate_paths(&code_of(
            &nested,
            "use super::super::state::S;\nuse super::error;"
        )),
        ["state"]
    );
    let module_root = src().join("retention").join("mod.rs");
    assert_eq!(
        crate_paths(&code_of(&module_root, "use super::http;")),
        ["http"]
    );
}
