//! The man pages as an admin meets them: each has the usual sections,
//! renders without a warning, names only pages that exist, and sqmail(7)
//! mentions every program.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::skip;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every page in man/, with its section.
fn pages() -> Vec<(PathBuf, String, u8)> {
    let mut v = Vec::new();
    for e in fs::read_dir(root().join("man")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let sec = p.extension().unwrap().to_string_lossy().parse().unwrap();
        v.push((p, name, sec));
    }
    v.sort();
    v
}

/// The section headings (`.SH X`, quotes removed).
fn headings(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .map(|h| h.trim().trim_matches('"').to_string())
        .collect()
}

/// `.TH name N`, NAME (`name \- ...`), DESCRIPTION (or qmail's
/// INTRODUCTION), and SYNOPSIS for commands (sections 1 and 8).
#[test]
fn every_page_has_name_synopsis_description() {
    let mut bad = Vec::new();
    for (p, name, sec) in pages() {
        let text = fs::read_to_string(&p).unwrap();
        let h = headings(&text);
        let has = |s: &str| h.iter().any(|x| x == s);
        if !text.starts_with(&format!(".TH {name} {sec} ")) {
            bad.push(format!("{name}.{sec}: .TH"));
        }
        let name_line = text
            .lines()
            .skip_while(|l| *l != ".SH NAME")
            .nth(1)
            .unwrap_or("");
        if !name_line.starts_with(&format!("{name} \\- ")) {
            bad.push(format!("{name}.{sec}: NAME line {name_line:?}"));
        }
        if !has("DESCRIPTION") && !has("INTRODUCTION") {
            bad.push(format!("{name}.{sec}: DESCRIPTION"));
        }
        if matches!(sec, 1 | 8) && !has("SYNOPSIS") {
            bad.push(format!("{name}.{sec}: SYNOPSIS"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The pages an admin reads first say where things are and show use.
#[test]
fn main_pages_have_files_examples_compatibility() {
    let mut bad = Vec::new();
    for page in [
        "qmail-smtpd.8",
        "qmail-send.8",
        "qmail-remote.8",
        "qmail-local.8",
        "qmail-queue.8",
        "qmail-control.5",
        "sqmail.7",
    ] {
        let h = headings(&fs::read_to_string(root().join("man").join(page)).unwrap());
        for s in ["FILES", "EXAMPLES", "COMPATIBILITY"] {
            if !h.iter().any(|x| x == s) {
                bad.push(format!("{page}: {s}"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Each `name(N)` a page cites is one of ours or one of these.
const ELSEWHERE: &[&str] = &[
    "fsck(8)",
    "multilog(8)",
    "openssl(1)",
    "openssl-genpkey(1)",
    "postgrey(8)",
    "svc(8)",
    "svscan(8)",
    "svstat(8)",
];

/// The cited pages: `name(N)` in text, `.BR name (N)` in markup.
fn citations(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line
            .split([' ', ',', '"'])
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            let cited = match w.find('(') {
                Some(0) if i > 0 && matches!(words[0], ".BR" | ".IR" | ".RB" | ".RI") => {
                    Some(format!("{}{}", words[i - 1], w))
                }
                Some(n) if n > 0 => Some(w.to_string()),
                _ => None,
            };
            let Some(c) = cited else { continue };
            // Up to the first ')': "(8))," closes a parenthesis too.
            let Some(end) = c.find(')') else { continue };
            let c = c[..=end].to_string();
            let Some((name, rest)) = c.split_once('(') else {
                continue;
            };
            let is_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
            // Sections 2 and 3 are the system's (fcntl(2), syslog(3)).
            if is_name
                && rest.len() == 2
                && rest.ends_with(')')
                && b"1578".contains(&rest.as_bytes()[0])
            {
                v.push(c);
            }
        }
    }
    v
}

#[test]
fn cited_pages_exist() {
    let mut bad = Vec::new();
    for (p, name, sec) in pages() {
        for c in citations(&fs::read_to_string(&p).unwrap()) {
            let (n, s) = c.trim_end_matches(')').split_once('(').unwrap();
            if !root().join(format!("man/{n}.{s}")).is_file() && !ELSEWHERE.contains(&c.as_str()) {
                bad.push(format!("{name}.{sec} cites {c}"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn citations_are_found() {
    assert_eq!(
        citations(".BR qmail-send (8),\nsee tcprules(1) and\n.RB ( rules (5)),"),
        ["qmail-send(8)", "tcprules(1)", "rules(5)"]
    );
    assert!(citations("a (#5.7.1) reply, f(x), fcntl(2), bytes(0)").is_empty());
}

/// sqmail(7), the overview, names every program we ship.
#[test]
fn overview_names_every_program() {
    let text = fs::read_to_string(root().join("man/sqmail.7")).unwrap();
    let cited = citations(&text);
    let mut missing = Vec::new();
    for e in fs::read_dir(root().join("src/bin")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().replace(".rs", "");
        if !cited.iter().any(|c| c.starts_with(&format!("{name}("))) {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "not in sqmail(7): {missing:?}");
}

/// groff renders every page without a warning (-ww: all of them).
#[test]
fn pages_render_without_warnings() {
    if Command::new("groff").arg("-v").output().is_err() {
        return skip("no groff (groff-base, package/testdeps)");
    }
    let mut bad = Vec::new();
    for (p, name, sec) in pages() {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(&p)
            .output()
            .unwrap();
        if !out.status.success() || !out.stderr.is_empty() {
            bad.push(format!(
                "{name}.{sec}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}
