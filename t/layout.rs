//! The shape of `t/` itself: test modules share helpers only through
//! `t/common/`, never by importing one another.

use std::fs;
use std::path::Path;

/// The lines of `text` whose code (comments aside) names a path under
/// `crate::` other than `crate::common`, as `N: line`.
fn foreign_paths(text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let foreign = code.match_indices("crate::").any(|(i, _)| {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{...}` could hide any module; write `crate::common::`.
            rest.starts_with('{') || (!name.is_empty() && name != "common")
        });
        if foreign {
            bad.push(format!("{}: {}", n + 1, line.trim()));
        }
    }
    bad
}

/// The `.rs` files directly in `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    v.sort();
    v
}

#[test]
fn foreign_paths_are_found() {
    // Written with `@` so that this file passes its own test.
    let text = "use @::common::smtpd::Smtpd;\n\
                use @::qmail_smtpd::lines;\n\
                // @::ucspi in a comment is no import\n\
                let n = @::qmail_queue::queue_files(h, \"mess\").len();\n\
                use @::{common, ucspi};\n"
        .replace('@', "crate");
    let want = [
        "2: use @::qmail_smtpd::lines;",
        "4: let n = @::qmail_queue::queue_files(h, \"mess\").len();",
        "5: use @::{common, ucspi};",
    ]
    .map(|l| l.replace('@', "crate"));
    assert_eq!(foreign_paths(&text), want);
}

#[test]
fn test_modules_import_only_common() {
    let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("t");
    let files = [rust_files(&t), rust_files(&t.join("common"))].concat();
    assert!(files.len() > 10, "{files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        for l in foreign_paths(&text) {
            bad.push(format!("{}:{l}", f.strip_prefix(&t).unwrap().display()));
        }
    }
    assert!(
        bad.is_empty(),
        "test modules import each other (move the helper to t/common/):\n{}",
        bad.join("\n")
    );
}

/// Every program we ship has its man page (`man/NAME.1` to `.8`).
#[test]
fn every_program_has_a_man_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("src/bin")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().replace(".rs", "");
        if !(1..=8).any(|s| root.join(format!("man/{name}.{s}")).is_file()) {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "no man page: {missing:?}");
}
