//! The library's shape, checked: the top-level modules form no cycle, and
//! `lib.rs` lists each after every module it uses (leaf first).
//!
//! Dependencies are read from the source: every `crate::NAME` path and
//! every name of a `use crate::{...}` group, outside comments and outside
//! the `#[cfg(test)]` part of a file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Crate-root aliases (`pub use a::b as c;` in lib.rs) and their module.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its test module.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        // An inline `#[cfg(test)] mod tests {` ends the code; a test-only
        // `mod x;` or `use` line is passed over.
        if t.starts_with("#[cfg(test)]") {
            let next = lines.peek().map_or("", |l| l.trim());
            if next.starts_with("mod ") && next.ends_with('{') {
                break;
            }
            lines.next();
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" // ").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `code` names through `crate::`.
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth 0 of the group: `{a, b::c, d::{e, f}}`.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_ascii_alphabetic() || c == '_') => {
                        found.insert(ident(&group[j..]).to_string());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name.to_string());
            }
        }
    }
    found
}

/// `pub mod NAME;` lines of lib.rs, in order.
fn listed(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn graph() -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib");
    let order = listed(&fs::read_to_string(root.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if !order.contains(&module) {
            continue;
        }
        let entry = deps.entry(module.clone()).or_default();
        for name in uses(&code(&fs::read_to_string(&f).unwrap())) {
            if name != module && order.contains(&name) {
                entry.insert(name);
            }
        }
    }
    (order, deps)
}

/// A cycle through `from`, if any (depth-first over `deps`).
fn cycle(
    deps: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    let here = path.last().unwrap().clone();
    for next in deps.get(&here).into_iter().flatten() {
        if let Some(i) = path.iter().position(|p| p == next) {
            let mut c = path[i..].to_vec();
            c.push(next.clone());
            return Some(c);
        }
        if done.contains(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(c) = cycle(deps, path, done) {
            return Some(c);
        }
        path.pop();
    }
    done.insert(here);
    None
}

#[test]
fn parser_reads_paths_and_groups() {
    let c = code(concat!(
        "use crate::{a, b::c, d::{e, f}};\n// crate::g\nx = crate::h::i();\n",
        "#[cfg(test)]\nuse crate::l;\ncrate::j();\n#[cfg(test)]\nmod tests {\ncrate::k();\n}\n",
    ));
    let want: BTreeSet<String> = ["a", "b", "d", "h", "j"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(uses(&c), want);
    assert_eq!(listed("pub mod a;\n#[allow(x)]\npub mod b;\n"), ["a", "b"]);
}

#[test]
fn no_cycle_between_top_level_modules() {
    let (order, deps) = graph();
    assert!(order.len() > 10, "lib.rs lists {order:?}");
    let mut done = BTreeSet::new();
    for m in &order {
        let found = cycle(&deps, &mut vec![m.clone()], &mut done);
        assert!(found.is_none(), "cycle: {}", found.unwrap().join(" → "));
    }
}

#[test]
fn lib_rs_lists_leaves_first() {
    let (order, deps) = graph();
    for (i, m) in order.iter().enumerate() {
        for d in deps.get(m).into_iter().flatten() {
            let at = order.iter().position(|o| o == d).unwrap();
            assert!(at < i, "lib.rs lists `{m}` before `{d}`, which it uses");
        }
    }
}
