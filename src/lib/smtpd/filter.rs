//! Envelope filters from control files (qmail-smtpd(8)): badmailfrom with
//! s/qmail's extended forms, badrcptto, badhelo and rcpthosts.

use std::collections::HashSet;

use super::wildmat;

/// A list file: its lines in order (for wildmat) and a lower-cased set
/// (for exact lookups).
#[derive(Debug, Default, Clone)]
pub struct List {
    pub lines: Vec<String>,
    set: HashSet<String>,
}

impl List {
    pub fn new(lines: Vec<String>) -> List {
        let set = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
        List { lines, set }
    }
    /// Exact, case-insensitive: `key` must already be lower case.
    pub fn has(&self, key: &str) -> bool {
        self.set.contains(key)
    }
    pub fn wild(&self, text: &[u8]) -> bool {
        wildmat::listed(&self.lines, text)
    }
}

/// The badmailfrom verdict for a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailFrom {
    /// Not listed.
    Clean,
    /// `?address`: whitelisted (also skips MFDNSCHECK).
    Whitelisted,
    /// Rejected; the log info character (`@ ~ = - + *`).
    Bad(char),
}

/// badmailfrom (qmail-smtpd(8)). `remotehost` is `None` when unknown.
pub fn badmailfrom(l: &List, sender: &[u8], relay: bool, remotehost: Option<&str>) -> MailFrom {
    let s = String::from_utf8_lossy(sender).to_ascii_lowercase();
    let d = match s.rfind('@') {
        Some(at) => &s[at + 1..],
        None => "",
    };
    if l.has(&format!("?{s}")) {
        return MailFrom::Whitelisted;
    }
    if !relay && l.has(&format!("@{d}+")) {
        return MailFrom::Bad('+');
    }
    let host = remotehost.map(str::to_ascii_lowercase);
    match &host {
        None => {
            if l.has(&format!("@{d}-")) {
                return MailFrom::Bad('-');
            }
        }
        Some(h) => {
            if !h.ends_with(d) && l.has(&format!("@{d}=")) {
                return MailFrom::Bad('=');
            }
            if !h.ends_with(d) {
                let mut suffix: &str = h;
                loop {
                    if l.has(&format!("~{suffix}")) {
                        return MailFrom::Bad('~');
                    }
                    match suffix.find('.') {
                        Some(i) => suffix = &suffix[i + 1..],
                        None => break,
                    }
                }
            }
        }
    }
    if l.has(&s) || (!d.is_empty() && l.has(&format!("@{d}"))) {
        return MailFrom::Bad('@');
    }
    if l.wild(sender) {
        return MailFrom::Bad('*');
    }
    MailFrom::Clean
}

/// badrcptto (qmail-smtpd(8)) on the recipient as it will be queued.
pub fn badrcptto(l: &List, rcpt: &[u8]) -> bool {
    let r = String::from_utf8_lossy(rcpt).to_ascii_lowercase();
    if l.has(&r) {
        return true;
    }
    if let Some(at) = r.rfind('@')
        && l.has(&r[at..])
    {
        return true;
    }
    l.wild(rcpt)
}

/// badhelo lookup: `Some(info)` when bad (`.` exact, `*` wildmat), and
/// whether the name is marked known-good with a `helo!` line.
pub fn badhelo(l: &List, helo: &[u8]) -> (Option<char>, bool) {
    let h = String::from_utf8_lossy(helo).to_ascii_lowercase();
    if l.has(&format!("{h}!")) {
        return (None, true);
    }
    if l.has(&h) {
        return (Some('.'), false);
    }
    if l.wild(helo) {
        return (Some('*'), false);
    }
    (None, false)
}

/// The keys under which a domain is looked up in rcpthosts: the domain
/// itself, then every suffix starting at a `.`.
pub fn domain_keys(d: &str) -> impl Iterator<Item = &str> {
    std::iter::once(d).chain(d.match_indices('.').map(move |(i, _)| &d[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> List {
        List::new(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn mailfrom_forms() {
        let l = list(&[
            "?good@spam.example",
            "@own.example+",
            "@nohost.example-",
            "@strict.example=",
            "~dialup.example",
            "Exact@Listed.example",
            "@listed.example",
            "*@spam.example",
            "!fine@spam.example",
        ]);
        let v = |s: &str, relay, host: Option<&str>| badmailfrom(&l, s.as_bytes(), relay, host);
        assert_eq!(v("good@spam.example", false, None), MailFrom::Whitelisted);
        assert_eq!(v("x@own.example", false, Some("h")), MailFrom::Bad('+'));
        assert_eq!(v("x@own.example", true, Some("h")), MailFrom::Clean);
        assert_eq!(v("x@nohost.example", false, None), MailFrom::Bad('-'));
        assert_eq!(v("x@nohost.example", false, Some("a.b")), MailFrom::Clean);
        assert_eq!(
            v("x@strict.example", false, Some("mx.other")),
            MailFrom::Bad('=')
        );
        assert_eq!(
            v("x@strict.example", false, Some("mx.strict.example")),
            MailFrom::Clean
        );
        assert_eq!(
            v("x@y.example", false, Some("p1.dialup.example")),
            MailFrom::Bad('~')
        );
        assert_eq!(v("exact@listed.EXAMPLE", false, None), MailFrom::Bad('@'));
        assert_eq!(v("any@listed.example", false, None), MailFrom::Bad('@'));
        assert_eq!(v("x@spam.example", false, None), MailFrom::Bad('*'));
        assert_eq!(v("fine@spam.example", false, None), MailFrom::Clean);
        assert_eq!(
            badmailfrom(&list(&["*"]), b"", false, None),
            MailFrom::Bad('*')
        );
    }

    #[test]
    fn rcptto_helo_hosts() {
        let l = list(&[
            "joe@x.example",
            "@bad.example",
            "*@w.example",
            "!ok@w.example",
        ]);
        assert!(badrcptto(&l, b"JOE@x.example"));
        assert!(badrcptto(&l, b"a@bad.example"));
        assert!(badrcptto(&l, b"a@w.example"));
        assert!(!badrcptto(&l, b"ok@w.example"));
        let h = list(&["bad.example", "*.dyn.example", "ok.dyn.example!"]);
        assert_eq!(badhelo(&h, b"BAD.example"), (Some('.'), false));
        assert_eq!(badhelo(&h, b"x.dyn.example"), (Some('*'), false));
        assert_eq!(badhelo(&h, b"ok.dyn.example"), (None, true));
        let k: Vec<&str> = domain_keys("a.b.c").collect();
        assert_eq!(k, vec!["a.b.c", ".b.c", ".c"]);
    }
}
