//! The shape of the source tree (docs/architecture.md, "Layers"), checked so that it stays:
//! no cycle among the top-level modules of `src/`, `unsafe` only in `src/ffi/` and
//! `src/sys/`, and no file with more than 800 lines of code before its tests.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to: `src/db/open.rs` -> `db`, `src/error.rs` -> `error`.
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// A file's code before its unit tests (`#[cfg(test)]` at the start of a line), without
/// comment lines.
fn code(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let t = line.trim_start();
        if !t.starts_with("//") {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// Which top-level modules each top-level module names (`crate::x`), test code aside.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let tops: BTreeSet<String> = rust_files(&src()).iter().map(|f| top_module(f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in rust_files(&src()) {
        let from = top_module(&f);
        if from == "lib" || from == "fuzzing" {
            continue; // the root re-exports everything; the fuzzing hooks (tests only) reach in
        }
        for line in code(&f) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if tops.contains(&name) && name != from {
                    edges.entry(from.clone()).or_default().insert(name);
                }
            }
            // `use crate::{a, b::c}`
            if let Some(i) = line.find("crate::{") {
                let group = &line[i + "crate::{".len()..];
                for part in group.split([',', '}']) {
                    let name: String =
                        part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if tops.contains(&name) && name != from {
                        edges.entry(from.clone()).or_default().insert(name);
                    }
                }
            }
        }
    }
    edges
}

/// The modules that are not errors, options and other leaves everyone uses: the layers.
#[test]
fn no_cycle_among_top_level_modules() {
    let edges = edges();
    // Depth-first search for a cycle; report it.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(k) = path.iter().position(|p| p == m) {
            let mut cycle = path[k..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("a cycle among src/'s top-level modules: {}\nall edges: {edges:#?}", cycle.join(" -> "));
        }
    }
}

#[test]
fn unsafe_code_is_only_in_ffi_and_sys() {
    let mut found = Vec::new();
    for f in rust_files(&src()) {
        let top = top_module(&f);
        if top == "ffi" || top == "sys" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if !t.starts_with("//")
                && (t.contains("unsafe ") || t.contains("unsafe{") || t.contains("allow(unsafe_code)"))
            {
                found.push(format!("{}:{}: {line}", f.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "unsafe outside src/ffi/ and src/sys/:\n{}", found.join("\n"));
}

#[test]
fn no_file_has_more_than_800_lines_of_code() {
    let big: Vec<String> = rust_files(&src())
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap()))
        .map(|(f, text)| {
            let n = text.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).count();
            (f, n)
        })
        .filter(|&(_, n)| n > 800)
        .map(|(f, n)| format!("{}: {n} lines before its tests", f.display()))
        .collect();
    assert!(big.is_empty(), "split these (docs/architecture.md, \"Layers\"):\n{}", big.join("\n"));
}
