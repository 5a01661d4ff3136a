//! An SPF record's terms (RFC 7208 §4.6, §5, §6): parsed completely before
//! anything is evaluated, so a syntax error anywhere is a permerror.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(String),
    /// Domain-spec (none: the current domain), IPv4 and IPv6 prefix lengths.
    A(Option<String>, u8, u8),
    Mx(Option<String>, u8, u8),
    Ptr(Option<String>),
    Ip4(Ipv4Addr, u8),
    Ip6(Ipv6Addr, u8),
    Exists(String),
}

impl Mechanism {
    /// Whether the term costs a DNS query (the ten-term limit).
    pub fn queries_dns(&self) -> bool {
        !matches!(
            self,
            Mechanism::All | Mechanism::Ip4(..) | Mechanism::Ip6(..)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
    /// The term as written (for the trace and the Received-SPF line).
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub directives: Vec<Directive>,
    pub redirect: Option<String>,
    pub exp: Option<String>,
}

/// Why a record is unusable, with the offending term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub problem: &'static str,
    pub term: String,
}

pub const PARSE_ERROR: &str = "Unknown parse error";
pub const UNKNOWN_MECHANISM: &str = "Unknown SPF mechanism";

/// Whether a TXT string is an SPF version 1 record.
pub fn is_spf1(txt: &[u8]) -> bool {
    txt.len() >= 6 && txt[..6].eq_ignore_ascii_case(b"v=spf1") && (txt.len() == 6 || txt[6] == b' ')
}

/// Parses a record's text (with or without the leading `v=spf1`).
pub fn parse(text: &str) -> Result<Record, SyntaxError> {
    let body = if is_spf1(text.as_bytes()) {
        &text[6..]
    } else {
        text
    };
    let mut r = Record::default();
    for term in body.split(' ').filter(|t| !t.is_empty()) {
        let err = |problem| SyntaxError {
            problem,
            term: term.to_string(),
        };
        // Records are 7-bit ASCII without control characters.
        if !term.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err(PARSE_ERROR));
        }
        let name_len = term.find([':', '/', '=']).unwrap_or(term.len());
        if term[name_len..].starts_with('=') {
            let (name, value) = (&term[..name_len], &term[name_len + 1..]);
            if !modifier_name(name) {
                return Err(err(PARSE_ERROR));
            }
            let slot = match name.to_ascii_lowercase().as_str() {
                "redirect" => &mut r.redirect,
                "exp" => &mut r.exp,
                _ => {
                    if !macros::well_formed(value, false) {
                        return Err(err(PARSE_ERROR));
                    }
                    continue;
                }
            };
            if slot.is_some() || !domain_spec(value) {
                return Err(err(PARSE_ERROR));
            }
            *slot = Some(value.to_string());
            continue;
        }
        let (qualifier, rest) = match term.as_bytes()[0] {
            b'+' => (Qualifier::Pass, &term[1..]),
            b'-' => (Qualifier::Fail, &term[1..]),
            b'~' => (Qualifier::SoftFail, &term[1..]),
            b'?' => (Qualifier::Neutral, &term[1..]),
            _ => (Qualifier::Pass, term),
        };
        let mechanism = mechanism(rest).map_err(err)?;
        r.directives.push(Directive {
            qualifier,
            mechanism,
            text: term.to_string(),
        });
    }
    Ok(r)
}

/// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
fn modifier_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

fn mechanism(t: &str) -> Result<Mechanism, &'static str> {
    let name_len = t.find([':', '/']).unwrap_or(t.len());
    let (name, rest) = (t[..name_len].to_ascii_lowercase(), &t[name_len..]);
    let arg = rest.strip_prefix(':');
    let need = |a: Option<&str>| match a {
        Some(d) if domain_spec(d) => Ok(d.to_string()),
        _ => Err(PARSE_ERROR),
    };
    match name.as_str() {
        "all" if rest.is_empty() => Ok(Mechanism::All),
        "include" => Ok(Mechanism::Include(need(arg)?)),
        "exists" => Ok(Mechanism::Exists(need(arg)?)),
        "ptr" => match arg {
            None if rest.is_empty() => Ok(Mechanism::Ptr(None)),
            a => Ok(Mechanism::Ptr(Some(need(a)?))),
        },
        "a" | "mx" => {
            let (spec, c4, c6) = dual_cidr(rest)?;
            let spec = match spec {
                "" => None,
                s => Some(need(s.strip_prefix(':'))?),
            };
            Ok(if name == "a" {
                Mechanism::A(spec, c4, c6)
            } else {
                Mechanism::Mx(spec, c4, c6)
            })
        }
        "ip4" => {
            let a = arg.ok_or(PARSE_ERROR)?;
            let (ip, len) = match a.split_once('/') {
                Some((ip, l)) => (ip, cidr(l, 32)?),
                None => (a, 32),
            };
            Ok(Mechanism::Ip4(strict_v4(ip).ok_or(PARSE_ERROR)?, len))
        }
        "ip6" => {
            let a = arg.ok_or(PARSE_ERROR)?;
            let (ip, len) = match a.split_once('/') {
                Some((ip, l)) => (ip, cidr(l, 128)?),
                None => (a, 128),
            };
            Ok(Mechanism::Ip6(ip.parse().map_err(|_| PARSE_ERROR)?, len))
        }
        "all" => Err(PARSE_ERROR),
        n if n.is_empty() || !modifier_name(n) => Err(PARSE_ERROR),
        _ => Err(UNKNOWN_MECHANISM),
    }
}

/// Dotted quad with four decimal parts (no shorthand).
fn strict_v4(s: &str) -> Option<Ipv4Addr> {
    (s.split('.').count() == 4).then_some(())?;
    s.parse().ok()
}

/// A prefix length: decimal without leading zero, at most `max`.
fn cidr(s: &str, max: u8) -> Result<u8, &'static str> {
    let ok = !s.is_empty()
        && s.bytes().all(|c| c.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.len() <= 3;
    match s.parse::<u8>() {
        Ok(n) if ok && n <= max => Ok(n),
        _ => Err(PARSE_ERROR),
    }
}

/// Splits `[:domain-spec][/n][//m]` into the spec part and the lengths.
fn dual_cidr(rest: &str) -> Result<(&str, u8, u8), &'static str> {
    let mut s = rest;
    let mut c6 = 128;
    let mut c4 = 32;
    if let Some(i) = s.rfind("//")
        && s[i + 2..].bytes().all(|c| c.is_ascii_digit())
    {
        c6 = cidr(&s[i + 2..], 128)?;
        s = &s[..i];
    }
    if let Some(i) = s.rfind('/')
        && s[i + 1..].bytes().all(|c| c.is_ascii_digit())
    {
        c4 = cidr(&s[i + 1..], 32)?;
        s = &s[..i];
    }
    Ok((s, c4, c6))
}

/// domain-spec = macro-string domain-end; domain-end = "." toplabel ["."]
/// or a macro-expand.
pub fn domain_spec(s: &str) -> bool {
    if s.is_empty() || !macros::well_formed(s, false) {
        return false;
    }
    if s.ends_with('}') {
        return true;
    }
    let t = s.strip_suffix('.').unwrap_or(s);
    let Some(dot) = t.rfind('.') else {
        return false;
    };
    toplabel(&t[dot + 1..])
}

/// toplabel: alphanumerics with at least one letter, or with inner hyphens.
fn toplabel(l: &str) -> bool {
    let b = l.as_bytes();
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return false;
    }
    if b.contains(&b'-') {
        return b[0] != b'-' && b[b.len() - 1] != b'-';
    }
    b.iter().any(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        let r = parse("v=spf1 +a mx:mail.example.com/24//64 -ptr ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 include:_spf.example.net exists:%{ir}.x.example redirect=other.example exp=exp.example -all").unwrap();
        assert_eq!(r.directives.len(), 8);
        assert_eq!(r.directives[0].mechanism, Mechanism::A(None, 32, 128));
        assert_eq!(
            r.directives[1].mechanism,
            Mechanism::Mx(Some("mail.example.com".into()), 24, 64)
        );
        assert_eq!(r.directives[2].qualifier, Qualifier::Fail);
        assert_eq!(
            r.directives[3].mechanism,
            Mechanism::Ip4("192.0.2.0".parse().unwrap(), 24)
        );
        assert_eq!(r.directives[4].qualifier, Qualifier::Neutral);
        assert_eq!(r.redirect.as_deref(), Some("other.example"));
        assert_eq!(r.exp.as_deref(), Some("exp.example"));
        assert_eq!(r.directives[7].mechanism, Mechanism::All);
        assert_eq!(
            parse("v=spf1 a//64").unwrap().directives[0].mechanism,
            Mechanism::A(None, 32, 64)
        );
        // The historic default= is an unknown modifier now (RFC 7208).
        assert_eq!(parse("v=spf1 default=deny").unwrap(), Record::default());
        assert_eq!(
            parse("v=spf1 a:foo:bar/baz.example.com")
                .unwrap()
                .directives[0]
                .mechanism,
            Mechanism::A(Some("foo:bar/baz.example.com".into()), 32, 128)
        );
        assert!(
            parse("v=spf1 foo=%{d} moo.cow-far_out=man:dog/cat").is_ok(),
            "unknown modifiers"
        );
    }

    #[test]
    fn syntax_errors() {
        let e = |s: &str| parse(s).unwrap_err().problem;
        assert_eq!(e("v=spf1 foo:bar.example"), UNKNOWN_MECHANISM);
        for bad in [
            "v=spf1 ip4:192.0.2",
            "v=spf1 ip4:192.0.2.1/33",
            "v=spf1 ip4:192.0.2.1/024",
            "v=spf1 ip6:2001:db8::/129",
            "v=spf1 a:foo",
            "v=spf1 include",
            "v=spf1 all:x.example",
            "v=spf1 redirect=a.example redirect=b.example",
            "v=spf1 exp=a.example exp=b.example",
            "v=spf1 a:%{q}.example",
            "v=spf1 -redirect=a.example",
            "v=spf1 a/",
            "v=spf1 ptr/24",
            "v=spf1 exists:a.example.1",
            "v=spf1 a:\u{feff}garbage.example.net -all",
            "v=spf1 a:ctrl.example.com\rptr -all",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_spf1(b"V=SPF1 -all"));
        assert!(is_spf1(b"v=spf1"));
        assert!(!is_spf1(b"v=spf10 -all"));
        assert!(domain_spec("%{d}"));
        assert!(domain_spec("example.com."));
        assert!(domain_spec("x.1-2"));
    }
}
