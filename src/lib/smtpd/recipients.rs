//! Recipient verification with `control/recipients` (qmail-recipients(8)): cdb
//! lookups and recipient PAMs, walked in file order.

use std::path::Path;

use super::session::RcptCheck;
use crate::cdb::Cdb;

/// Runs a PAM (argv) with the address on fd 3; `None` if it cannot run.
pub type PamRunner<'a> = dyn FnMut(&[&str], &[u8]) -> Option<i32> + 'a;

/// Whether a recipients line's domain name covers domain `d` (whole
/// labels: `example.com` covers `a.example.com`, not `badexample.com`).
fn covers(name: &str, d: &str) -> bool {
    if let Some(exact) = name.strip_prefix('@') {
        return exact.eq_ignore_ascii_case(d);
    }
    if name == "*" {
        return true;
    }
    let name = name.to_ascii_lowercase();
    if name.starts_with('.') {
        return d.ends_with(&name);
    }
    d == name || d.ends_with(&format!(".{name}"))
}

/// Verifies `addr` (as received, before any RELAYCLIENT suffix).
pub fn check(
    lines: &[String],
    addr: &[u8],
    home: &Path,
    brk: char,
    run: &mut PamRunner,
) -> RcptCheck {
    let mut a = String::from_utf8_lossy(addr).into_owned();
    if !a.contains('@') {
        a.push_str("@localhost");
    }
    let at = a.rfind('@').unwrap_or(0);
    let d = a[at + 1..].to_ascii_lowercase();
    let key = format!(":{}", a.to_ascii_lowercase());
    let local = &a[..at];
    let verp = local
        .find(brk)
        .map(|i| format!("{}@{d}", local[..=i].to_ascii_lowercase()));
    let cdb_has = |path: &str| -> bool {
        let Ok(c) = Cdb::open(&home.join(path)) else {
            return false;
        };
        let hit = |k: &str| c.get(k.as_bytes()).ok().flatten().is_some();
        hit(&key) || verp.as_ref().is_some_and(|v| hit(&format!(":{v}")))
    };
    for line in lines {
        if let Some(rest) = line.strip_prefix('!') {
            if rest == "*" {
                return RcptCheck::Accept("Rcpthosts_Rcptto");
            }
            if covers(rest, &d) {
                return RcptCheck::Accept("Recipients_Wild");
            }
            continue;
        }
        let Some(split) = line.find([':', '|']) else {
            if cdb_has(line) {
                return RcptCheck::Accept("Recipients_Cdb");
            }
            continue;
        };
        let (name, target) = (&line[..split], &line[split + 1..]);
        if !covers(name, &d) {
            continue;
        }
        if line.as_bytes()[split] == b':' {
            if cdb_has(target) {
                return RcptCheck::Accept("Recipients_Cdb");
            }
            continue;
        }
        let argv: Vec<&str> = target.split_whitespace().take(6).collect();
        if argv.is_empty() {
            continue;
        }
        let mut tries = vec![a.clone()];
        tries.extend(verp.clone());
        for t in tries {
            match run(&argv, t.as_bytes()) {
                Some(0) => return RcptCheck::Accept("Recipients_Pam"),
                Some(111) | None => return RcptCheck::Temp,
                Some(_) => {}
            }
        }
    }
    RcptCheck::Reject
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdb::CdbMaker;

    #[test]
    fn walk() {
        let d = std::env::temp_dir().join(format!("sqmail-rcpts-{}", std::process::id()));
        std::fs::create_dir_all(d.join("users")).unwrap();
        let mut m = CdbMaker::create(&d.join("users/r.tmp"), &d.join("users/r.cdb")).unwrap();
        m.add(b":joe@example.org", b"").unwrap();
        m.add(b":list-@example.org", b"").unwrap();
        m.finish().unwrap();
        let lines: Vec<String> = [
            "!lists.example.net",
            "@example.org:users/r.cdb",
            "example.com|bin/pam arg",
            "users/r.cdb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut seen = Vec::new();
        let mut run = |argv: &[&str], a: &[u8]| {
            seen.push((argv.join(" "), String::from_utf8_lossy(a).into_owned()));
            Some(if a == b"ok@sub.example.com" {
                0
            } else if a.starts_with(b"temp") {
                111
            } else {
                1
            })
        };
        let h = d.as_path();
        assert_eq!(
            check(&lines, b"x@Lists.example.net", h, '-', &mut run),
            RcptCheck::Accept("Recipients_Wild")
        );
        assert_eq!(
            check(&lines, b"JOE@example.org", h, '-', &mut run),
            RcptCheck::Accept("Recipients_Cdb")
        );
        assert_eq!(
            check(&lines, b"list-x@example.org", h, '-', &mut run),
            RcptCheck::Accept("Recipients_Cdb")
        );
        assert_eq!(
            check(&lines, b"bob@example.org", h, '-', &mut run),
            RcptCheck::Reject
        );
        assert_eq!(
            check(&lines, b"ok@sub.example.com", h, '-', &mut run),
            RcptCheck::Accept("Recipients_Pam")
        );
        assert_eq!(
            check(&lines, b"temp@example.com", h, '-', &mut run),
            RcptCheck::Temp
        );
        assert_eq!(
            check(&lines, b"no@badexample.com", h, '-', &mut run),
            RcptCheck::Reject
        );
        let pass: Vec<String> = vec!["!*".into()];
        assert_eq!(
            check(&pass, b"a@b", h, '-', &mut run),
            RcptCheck::Accept("Rcpthosts_Rcptto")
        );
        let _ = &mut run;
        assert_eq!(seen[0].0, "bin/pam arg");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
