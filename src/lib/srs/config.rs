//! `control/srsdomains` (srsforward(8)): one line per domain,
//! `domain:secret1 secret2 ...|delimiter|srsaddress`, `*` for every domain
//! without a line of its own, `!domain:` to turn SRS off for one domain.

use std::io;

use crate::control::Control;

/// One line of srsdomains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Lower case; `*` for the default line.
    pub name: String,
    pub disabled: bool,
    /// The first signs, all verify.
    pub secrets: Vec<Vec<u8>>,
    /// `=`, `-` or `+`.
    pub separator: u8,
    /// The domain of the rewritten address; ending in `.`, a prefix to the
    /// recipient's domain; empty: the recipient's domain itself.
    pub address: String,
}

impl Domain {
    /// The domain an address rewritten for mail to `host` gets.
    pub fn alias(&self, host: &str) -> String {
        if self.address.is_empty() {
            host.to_ascii_lowercase()
        } else if self.address.ends_with('.') {
            format!("{}{}", self.address, host).to_ascii_lowercase()
        } else {
            self.address.to_ascii_lowercase()
        }
    }
}

/// The parsed file.
#[derive(Debug, Default)]
pub struct SrsDomains {
    lines: Vec<Domain>,
}

/// A line that is not `domain:secrets[|delimiter[|srsaddress]]`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine(pub usize);

impl SrsDomains {
    /// The file, `None` when it is missing.
    pub fn load(c: &Control) -> io::Result<Option<Result<SrsDomains, BadLine>>> {
        Ok(c.read("srsdomains")?.map(|t| SrsDomains::parse(&t)))
    }

    pub fn parse(text: &str) -> Result<SrsDomains, BadLine> {
        let mut lines = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (name, rest) = l.split_once(':').ok_or(BadLine(n + 1))?;
            let (name, disabled) = match name.strip_prefix('!') {
                Some(n) => (n, true),
                None => (name, false),
            };
            let mut fields = rest.split('|');
            let secrets: Vec<Vec<u8>> = fields
                .next()
                .unwrap_or("")
                .split_ascii_whitespace()
                .map(|s| s.as_bytes().to_vec())
                .collect();
            let separator = match fields.next().map(str::trim) {
                None | Some("") => b'=',
                Some(s @ ("=" | "-" | "+")) => s.as_bytes()[0],
                Some(_) => return Err(BadLine(n + 1)),
            };
            let address = fields.next().unwrap_or("").trim().to_string();
            if name.is_empty() || fields.next().is_some() || (secrets.is_empty() && !disabled) {
                return Err(BadLine(n + 1));
            }
            lines.push(Domain {
                name: name.to_ascii_lowercase(),
                disabled,
                secrets,
                separator,
                address,
            });
        }
        Ok(SrsDomains { lines })
    }

    fn named(&self, name: &str) -> Option<&Domain> {
        self.lines
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// The line for mail to `host`: its own, else `*`.
    pub fn for_host(&self, host: &str) -> Option<&Domain> {
        self.named(host).or_else(|| self.named("*"))
    }

    /// Every secret that may have signed an address at `srshost`: those of
    /// the lines whose rewritten addresses land there, own lines first.
    pub fn secrets_for(&self, srshost: &str) -> Vec<Vec<u8>> {
        let lands = |d: &Domain| {
            if d.disabled {
                return false;
            }
            if d.name == "*" {
                let p = &d.address;
                return p.is_empty()
                    || p.eq_ignore_ascii_case(srshost)
                    || (p.ends_with('.') && starts_with_nocase(srshost, p));
            }
            d.alias(&d.name).eq_ignore_ascii_case(srshost) || d.name.eq_ignore_ascii_case(srshost)
        };
        let (own, star): (Vec<&Domain>, Vec<&Domain>) = self
            .lines
            .iter()
            .filter(|d| lands(d))
            .partition(|d| d.name != "*");
        own.into_iter()
            .chain(star)
            .flat_map(|d| d.secrets.iter().cloned())
            .collect()
    }
}

fn starts_with_nocase(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# SRS\n\
        example.com:new old\n\
        !private.example:\n\
        other.example:s3|+|srs.\n\
        *:any|=|bounces.example\n";

    #[test]
    fn lines_and_lookup() {
        let s = SrsDomains::parse(FILE).unwrap();
        let d = s.for_host("EXAMPLE.com").unwrap();
        assert_eq!(d.secrets, vec![b"new".to_vec(), b"old".to_vec()]);
        assert_eq!(
            (d.separator, d.alias("Example.COM").as_str()),
            (b'=', "example.com")
        );
        assert!(s.for_host("private.example").unwrap().disabled);
        let o = s.for_host("other.example").unwrap();
        assert_eq!(
            (o.separator, o.alias("other.example").as_str()),
            (b'+', "srs.other.example")
        );
        let star = s.for_host("elsewhere.example").unwrap();
        assert_eq!(
            (star.name.as_str(), star.alias("x.example").as_str()),
            ("*", "bounces.example")
        );
    }

    #[test]
    fn secrets_by_srs_host() {
        let s = SrsDomains::parse(FILE).unwrap();
        assert_eq!(
            s.secrets_for("example.com"),
            vec![b"new".to_vec(), b"old".to_vec()]
        );
        assert_eq!(s.secrets_for("srs.other.example"), vec![b"s3".to_vec()]);
        assert_eq!(s.secrets_for("bounces.example"), vec![b"any".to_vec()]);
        assert!(s.secrets_for("private.example").is_empty());
        assert!(s.secrets_for("unknown.example").is_empty());
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            SrsDomains::parse("ok:s\nnocolon\n").unwrap_err(),
            BadLine(2)
        );
        assert_eq!(SrsDomains::parse("a:\n").unwrap_err(), BadLine(1));
        assert_eq!(SrsDomains::parse("a:s|x\n").unwrap_err(), BadLine(1));
        assert_eq!(SrsDomains::parse(":s\n").unwrap_err(), BadLine(1));
        assert_eq!(SrsDomains::parse("a:s|=|b|c\n").unwrap_err(), BadLine(1));
    }
}
