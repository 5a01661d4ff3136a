//! Organizational domains (qmail-dkverify(8), DMARC) from the public
//! suffix list, read at run time from the file the system keeps up to
//! date (Debian's `publicsuffix` package) or from `$PUBLICSUFFIX`.
//!
//! The list is scanned, not indexed: a message needs the organizational
//! domain of two or three names, and one pass over the file per name costs
//! less than building a table for ten thousand rules.

use std::path::Path;

/// Where Debian's `publicsuffix` package puts the list.
pub const DEFAULT_LIST: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// The list's text; empty when the file cannot be read, which leaves the
/// default rule (`*`: the last label is the public suffix).
pub struct Suffixes {
    text: Vec<u8>,
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

impl Suffixes {
    pub fn new(text: Vec<u8>) -> Suffixes {
        Suffixes { text }
    }

    /// The list at `$PUBLICSUFFIX`, else at `DEFAULT_LIST`.
    pub fn load() -> Suffixes {
        let path = std::env::var_os("PUBLICSUFFIX").filter(|p| !p.is_empty());
        let path = path.as_deref().map_or(Path::new(DEFAULT_LIST), Path::new);
        Suffixes::new(std::fs::read(path).unwrap_or_default())
    }

    /// How many labels of `domain` (lower case, no trailing dot) are its
    /// public suffix: the longest matching rule, an exception rule (`!`)
    /// winning and counting one label less.
    fn suffix_labels(&self, domain: &[u8]) -> usize {
        let n = labels(domain);
        let mut best = 1;
        let mut exception = None;
        for line in self.text.split(|&c| c == b'\n') {
            let rule = line
                .split(|c| c.is_ascii_whitespace())
                .find(|w| !w.is_empty())
                .unwrap_or_default();
            if rule.is_empty() || rule.starts_with(b"//") {
                continue;
            }
            if let Some(r) = rule.strip_prefix(b"!") {
                if ends_with_labels(domain, r) {
                    exception = exception.max(Some(labels(r)));
                }
            } else if let Some(r) = rule.strip_prefix(b"*.") {
                if n > labels(r) && ends_with_labels(domain, r) {
                    best = best.max(labels(r) + 1);
                }
            } else if ends_with_labels(domain, rule) {
                best = best.max(labels(rule));
            }
        }
        exception.map_or(best, |e| e - 1)
    }

    /// The organizational domain of `domain`: its public suffix and one
    /// label more; a domain that is itself a public suffix is its own.
    pub fn organizational(&self, domain: &str) -> String {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        let keep = self.suffix_labels(d.as_bytes()) + 1;
        let n = labels(d.as_bytes());
        if n <= keep {
            return d;
        }
        d.splitn(n - keep + 1, '.').last().unwrap_or(&d).to_string()
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
        // No list at all: the default rule.
        let none = Suffixes::new(Vec::new());
        assert_eq!(none.organizational("a.b.example.co.uk"), "co.uk");
        assert_eq!(none.organizational(""), "");
    }
}
