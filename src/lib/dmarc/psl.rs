//! Organizational domains (qmail-dkverify(8), DMARC) from the public
//! suffix list, read at run time from the file the system keeps up to
//! date (Debian's `publicsuffix` package) or from `$PUBLICSUFFIX`.
//!
//! The list is neither parsed nor indexed: a message needs the
//! organizational domain of two or three names, all known at once. One
//! pass over the text looks only at the rules that end in the last label
//! of one of them (found by a substring search, the rest of the list
//! never split into lines), and the file streams through a small buffer.

use std::io::Read;
use std::path::PathBuf;

use crate::bytescan::{self, Substring};

/// Where Debian's `publicsuffix` package puts the list.
pub const DEFAULT_LIST: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// The bytes read from the file at a time.
const CHUNK: usize = 16 * 1024;

/// The list: its text, or the file it is read from when first asked.
/// A list that cannot be read leaves the default rule (`*`: the last
/// label is the public suffix), with a warning on stderr.
pub enum Suffixes {
    Text(Vec<u8>),
    File(PathBuf),
}

/// `domain` ends with the labels of `rule`.
fn ends_with_labels(domain: &[u8], rule: &[u8]) -> bool {
    !rule.is_empty()
        && domain.len() >= rule.len()
        && domain[domain.len() - rule.len()..].eq_ignore_ascii_case(rule)
        && (domain.len() == rule.len() || domain[domain.len() - rule.len() - 1] == b'.')
}

fn labels(s: &[u8]) -> usize {
    s.iter().filter(|&&c| c == b'.').count() + 1
}

/// One domain and what the rules seen so far say about it.
struct Probe {
    /// Lower case, without a trailing dot.
    domain: String,
    labels: usize,
    /// Labels of the longest matching rule (the default rule: one).
    best: usize,
    /// Labels of the longest matching exception rule (`!`).
    exception: Option<usize>,
}

impl Probe {
    fn new(domain: &str) -> Probe {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        Probe {
            labels: labels(domain.as_bytes()),
            domain,
            best: 1,
            exception: None,
        }
    }

    /// The last label: every rule that can match ends with it.
    fn last_label(&self) -> &[u8] {
        let d = self.domain.as_bytes();
        &d[bytescan::rfind(b'.', d).map_or(0, |i| i + 1)..]
    }

    /// Takes one rule (a line's first word) into account.
    fn rule(&mut self, rule: &[u8]) {
        let d = self.domain.as_bytes();
        if let Some(r) = rule.strip_prefix(b"!") {
            // An exception names a domain under a wildcard rule, so it
            // has two labels or more; a shorter one means nothing.
            if labels(r) >= 2 && ends_with_labels(d, r) {
                self.exception = self.exception.max(Some(labels(r)));
            }
        } else if let Some(r) = rule.strip_prefix(b"*.") {
            if self.labels > labels(r) && ends_with_labels(d, r) {
                self.best = self.best.max(labels(r) + 1);
            }
        } else if ends_with_labels(d, rule) {
            self.best = self.best.max(labels(rule));
        }
    }

    /// Its public suffix and one label more; a domain that is itself a
    /// public suffix is its own. An exception rule wins and counts one
    /// label less.
    fn organizational(self) -> String {
        let suffix = self.exception.map_or(self.best, |e| e - 1);
        let keep = suffix + 1;
        if self.labels <= keep {
            return self.domain;
        }
        let d = &self.domain;
        d.splitn(self.labels - keep + 1, '.')
            .last()
            .unwrap_or(d)
            .to_string()
    }
}

/// Shows `probes` the rules of `text` (whole lines) that end in the last
/// label of one of them: each place that label ends a line's first word.
/// The search is for the label as written, in lower case, as the list
/// writes its rules.
fn scan(text: &[u8], probes: &mut [Probe]) {
    for i in 0..probes.len() {
        let tld = probes[i].last_label().to_vec();
        // Each last label once.
        if tld.is_empty() || probes[..i].iter().any(|p| p.last_label() == tld) {
            continue;
        }
        let find = Substring::new(&tld);
        let mut at = 0;
        while let Some(k) = find.find(&text[at..]) {
            let p = at + k;
            at = p + 1;
            let end = p + tld.len();
            if text.get(end).is_some_and(|c| !c.is_ascii_whitespace()) {
                continue;
            }
            let line = bytescan::rfind(b'\n', &text[..p]).map_or(0, |j| j + 1);
            let word = text[line..end].trim_ascii_start();
            if word.starts_with(b"//") || word.iter().any(u8::is_ascii_whitespace) {
                continue;
            }
            for probe in probes.iter_mut().filter(|q| q.last_label() == tld) {
                probe.rule(word);
            }
        }
    }
}

/// Streams the file at `path` past `probes`, a few lines at a time.
fn scan_file(path: &std::path::Path, probes: &mut [Probe]) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = [0u8; CHUNK];
    let mut have = 0;
    // Inside a line longer than the buffer (no rule is): drop it.
    let mut skipping = false;
    loop {
        let n = match f.read(&mut buf[have..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if !skipping {
                scan(&buf[..have], probes);
            }
            return Ok(());
        }
        have += n;
        match bytescan::rfind(b'\n', &buf[..have]) {
            Some(last) => {
                let from = match skipping {
                    true => bytescan::find(b'\n', &buf[..have]).map_or(0, |i| i + 1),
                    false => 0,
                };
                skipping = false;
                scan(&buf[from.min(last + 1)..=last], probes);
                buf.copy_within(last + 1..have, 0);
                have -= last + 1;
            }
            None if have == buf.len() => {
                skipping = true;
                have = 0;
            }
            None => {}
        }
    }
}

impl Suffixes {
    pub fn new(text: Vec<u8>) -> Suffixes {
        Suffixes::Text(text)
    }

    /// The list at `$PUBLICSUFFIX`, else at `DEFAULT_LIST` (read when
    /// first asked).
    pub fn load() -> Suffixes {
        let path = std::env::var_os("PUBLICSUFFIX").filter(|p| !p.is_empty());
        Suffixes::File(path.map_or_else(|| PathBuf::from(DEFAULT_LIST), PathBuf::from))
    }

    /// The organizational domain of each of `domains` (lower case, without
    /// a trailing dot), in one pass over the list.
    pub fn organizational_all(&self, domains: &[&str]) -> Vec<String> {
        let mut probes: Vec<Probe> = domains.iter().map(|d| Probe::new(d)).collect();
        // A suffix has one label or more, so a domain of two labels or
        // fewer is its own organizational domain whatever the list says:
        // most From domains need no reading at all.
        if probes.iter().all(|p| p.labels <= 2) {
            return probes.into_iter().map(Probe::organizational).collect();
        }
        match self {
            Suffixes::Text(text) => scan(text, &mut probes),
            Suffixes::File(path) => {
                if let Err(e) = scan_file(path, &mut probes) {
                    // Said, not silent: without the list, names under one
                    // suffix (a.co.uk, b.co.uk) count as one organization.
                    crate::exit::warn(
                        "qmail-dkverify",
                        format_args!(
                            "unable to read public suffix list {}: {e}; the last label is taken as the suffix",
                            path.display()
                        ),
                    );
                    probes = domains.iter().map(|d| Probe::new(d)).collect();
                }
            }
        }
        probes.into_iter().map(Probe::organizational).collect()
    }

    /// The organizational domain of `domain`.
    pub fn organizational(&self, domain: &str) -> String {
        self.organizational_all(&[domain]).pop().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "// comment line\n\
        com\n\
        uk\n\
        co.uk\n\
        \n\
        // ===BEGIN PRIVATE DOMAINS===\n\
        *.ck\n\
        !www.ck\n\
        blogspot.com  trailing words\n\
        appspot.com\n";

    #[test]
    fn organizational_domains() {
        let s = Suffixes::new(LIST.as_bytes().to_vec());
        let o = |d| s.organizational(d);
        assert_eq!(o("example.com"), "example.com");
        assert_eq!(o("a.b.Sub.Example.COM."), "example.com");
        assert_eq!(o("mail.example.co.uk"), "example.co.uk");
        assert_eq!(o("x.example.blogspot.com"), "example.blogspot.com");
        // Wildcards and their exceptions.
        assert_eq!(o("a.b.foo.ck"), "b.foo.ck");
        assert_eq!(o("a.www.ck"), "www.ck");
        // Not in the list: the default rule.
        assert_eq!(o("mail.example.test"), "example.test");
        // A public suffix is its own organizational domain.
        assert_eq!(o("co.uk"), "co.uk");
        assert_eq!(o("com"), "com");
        // Labels match whole: "mycom" is not under "com".
        assert_eq!(o("a.b.mycom"), "b.mycom");
        // An exception of one label is no exception.
        let odd = Suffixes::new(b"!com\ncom\n".to_vec());
        assert_eq!(odd.organizational("a.b.com"), "b.com");
        assert_eq!(odd.organizational("b.com"), "b.com");
        // No list at all: the default rule.
        let none = Suffixes::new(Vec::new());
        assert_eq!(none.organizational("a.b.example.co.uk"), "co.uk");
        assert_eq!(none.organizational(""), "");
        // Several at once, sharing a last label or not.
        assert_eq!(
            s.organizational_all(&["a.example.co.uk", "x.y.example.com", "b.co.uk"]),
            ["example.co.uk", "example.com", "b.co.uk"]
        );
    }

    /// The rules a line-by-line reading finds (the first word of each
    /// line that is not a comment).
    fn line_rules(text: &[u8]) -> Vec<&[u8]> {
        text.split(|&c| c == b'\n')
            .filter_map(|l| l.split(u8::is_ascii_whitespace).find(|w| !w.is_empty()))
            .filter(|w| !w.starts_with(b"//"))
            .collect()
    }

    #[test]
    fn the_search_sees_what_a_line_by_line_reading_sees() {
        let text =
            b"// c.com\n  com\n\tuk x\nco.uk\r\n*.ck\n!www.ck\nxcom\na.com// no\n//com\nlast.com";
        for d in [
            "q.a.com",
            "z.co.uk",
            "m.x.ck",
            "a.www.ck",
            "y.last.com",
            "com",
        ] {
            let mut one = Probe::new(d);
            for r in line_rules(text) {
                one.rule(r);
            }
            let mut found = [Probe::new(d)];
            scan(text, &mut found);
            assert_eq!(
                (found[0].best, found[0].exception),
                (one.best, one.exception),
                "{d}"
            );
        }
    }

    #[test]
    fn the_file_streams_past_in_pieces() {
        // Rules on both sides of every chunk border, and a line longer
        // than a chunk whose tail looks like a rule.
        let mut text = Vec::new();
        let mut n = 0;
        while text.len() < CHUNK * 3 {
            let filler = "f".repeat(200);
            text.extend_from_slice(format!("// {filler} {n}\nr{n}.test\n").as_bytes());
            n += 1;
        }
        text.extend_from_slice(&vec![b'x'; CHUNK + 10]);
        text.extend_from_slice(b" lost.test\nkept.test");
        let dir = std::env::temp_dir().join(format!("psl-test-{}", std::process::id()));
        std::fs::write(&dir, &text).unwrap();
        let file = Suffixes::File(dir.clone());
        let mut names: Vec<String> = (0..n).map(|i| format!("a.b.r{i}.test")).collect();
        names.push("a.b.lost.test".into());
        names.push("a.b.kept.test".into());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let got = file.organizational_all(&refs);
        std::fs::remove_file(&dir).unwrap();
        for (i, o) in got.iter().enumerate().take(n) {
            assert_eq!(o, &format!("b.r{i}.test"));
        }
        assert_eq!(got[n], "lost.test");
        assert_eq!(got[n + 1], "b.kept.test");
        // A file that is not there: the default rule.
        let gone = Suffixes::File(std::env::temp_dir().join("psl-test-none/x"));
        assert_eq!(gone.organizational("a.b.example.co.uk"), "co.uk");
    }
}
