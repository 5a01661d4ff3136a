//! The Authentication-Results field (RFC 8601) qmail-dkverify puts in
//! front of a message (qmail-dkverify(8)): qmail-smtpd's SPF result, one
//! DKIM result per signature and the DMARC result in one field, and the
//! removal of fields that forge our authserv-id.

use super::header;
use super::verify::{Outcome, SigResult};
use crate::dmarc::{self, Verdict, psl::Suffixes};

/// SPF as qmail-smtpd handed it over in the environment (qmail-smtpd(8)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spf {
    /// RFC 8601's word.
    pub result: &'static str,
    /// `smtp.mailfrom`, or `smtp.helo` for a bounce.
    pub property: &'static str,
    /// The domain checked.
    pub domain: String,
}

impl Spf {
    /// From `SPFRESULT`, `SPFDOMAIN` and `MAILFROM`; `None` unless
    /// qmail-smtpd evaluated SPF for this message (it then sets
    /// `SPFDOMAIN`).
    pub fn from_env(
        result: Option<&str>,
        domain: Option<&str>,
        mailfrom: Option<&str>,
    ) -> Option<Spf> {
        let domain = domain.filter(|d| !d.is_empty())?;
        let result = match result? {
            "pass" => "pass",
            "fail" => "fail",
            "softfail" => "softfail",
            "neutral" => "neutral",
            "none" => "none",
            "unknown" => "permerror",
            "error" => "temperror",
            _ => return None,
        };
        let bounce = mailfrom
            .and_then(|m| m.rsplit_once('@'))
            .is_none_or(|(_, d)| d.is_empty());
        Some(Spf {
            result,
            property: if bounce { "smtp.helo" } else { "smtp.mailfrom" },
            domain: domain.to_string(),
        })
    }

    pub fn passed(&self) -> bool {
        self.result == "pass"
    }
}

/// What `$DMARC` asks for (qmail-dkverify(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcMode {
    /// `-`: no DMARC evaluation at all.
    Off,
    /// Empty or unset: evaluate and annotate.
    Annotate,
    /// `+`: refuse what the policy asks to reject.
    Reject,
}

impl DmarcMode {
    pub fn from_env(v: Option<&str>) -> DmarcMode {
        match v {
            Some(s) if s.starts_with('+') => DmarcMode::Reject,
            Some(s) if s.starts_with('-') => DmarcMode::Off,
            _ => DmarcMode::Annotate,
        }
    }
}

/// The values of the From fields of `head`.
fn from_fields(head: &[u8]) -> Vec<&[u8]> {
    header::fields(head)
        .iter()
        .filter(|f| f.is(head, "from"))
        .map(|f| f.value(head))
        .collect()
}

/// The name DMARC asks first for the message whose header is `head`:
/// its From domain's policy record (none when there is no one From
/// domain).
pub fn dmarc_first_name(head: &[u8]) -> Option<String> {
    dmarc::from::from_domain(&from_fields(head))
        .ok()
        .map(|d| dmarc::policy_name(&d))
}

/// DMARC for the message whose header is `head` (`None`: too long to
/// keep), with the SPF and DKIM results found for it.
pub fn dmarc(
    head: Option<&[u8]>,
    spf: Option<&Spf>,
    dkim: &[SigResult],
    txt: dmarc::Txt,
) -> Verdict {
    let Some(head) = head else {
        return Verdict {
            outcome: dmarc::Outcome::PermError("header too long, not checked".into()),
            from: None,
            policy: None,
        };
    };
    let from = from_fields(head);
    let ev = dmarc::Evidence {
        dkim_pass: dkim
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .map(|r| r.domain.clone())
            .collect(),
        spf: spf.map(|s| (s.passed(), s.domain.clone())),
    };
    let sample = (crate::dns::random_u64() % 100) as u8;
    dmarc::check(&from, &ev, txt, &Suffixes::load, sample)
}

/// A property value: as it is when it is a plain name, else quoted with
/// anything unprintable (and quotes, backslashes) as `?`.
fn value(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
    {
        return s.to_string();
    }
    let inner = crate::printable::text(s.as_bytes(), |b| {
        (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
    });
    format!("\"{inner}\"")
}

/// The field: one result a line, SPF first, then every DKIM signature
/// (`dkim=none` for none), then DMARC.
pub fn field(
    authserv: &str,
    spf: Option<&Spf>,
    dkim: &[SigResult],
    dmarc: Option<&Verdict>,
) -> String {
    let mut lines = Vec::new();
    if let Some(s) = spf {
        lines.push(format!(
            "spf={} {}={}",
            s.result,
            s.property,
            value(&s.domain)
        ));
    }
    if dkim.is_empty() {
        lines.push("dkim=none".to_string());
    }
    lines.extend(dkim.iter().map(ToString::to_string));
    lines.extend(dmarc.map(ToString::to_string));
    let mut f = format!("Authentication-Results: {authserv};");
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            f.push(';');
        }
        f.push_str("\n\t");
        f.push_str(&crate::printable::text(l.as_bytes(), |b| {
            (0x20..0x7f).contains(&b)
        }));
    }
    f.push('\n');
    f
}

/// The header without the `Authentication-Results` fields that claim to
/// be ours (`authserv`): a sender may not forge our verdict (RFC 8601
/// section 5).
pub fn without_forged_results(head: &[u8], authserv: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    for f in header::fields(head) {
        let forged = f.is(head, "authentication-results") && {
            let v = f.value(head);
            let id = &v[..crate::bytescan::find(b';', v).unwrap_or(v.len())];
            // The id with comments and blanks left out.
            let mut depth = 0usize;
            let id: Vec<u8> = id
                .iter()
                .filter(|&&c| {
                    match c {
                        b'(' => depth += 1,
                        b')' => depth = depth.saturating_sub(1),
                        _ => return depth == 0 && !c.is_ascii_whitespace(),
                    }
                    false
                })
                .copied()
                .collect();
            id.eq_ignore_ascii_case(authserv.as_bytes())
        };
        if !forged {
            out.extend_from_slice(f.raw(head));
        }
    }
    out
}

/// A result for example.com with an unprintable selector (the unit
/// tests' sample).
#[cfg(test)]
pub(crate) fn result(o: Outcome) -> SigResult {
    SigResult {
        domain: "example.com".into(),
        selector: "s\x01".into(),
        algorithm: None,
        outcome: o,
        testing: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        assert_eq!(
            field("me", None, &[], None),
            "Authentication-Results: me;\n\tdkim=none\n"
        );
        let fail = result(Outcome::Fail("x".into()));
        assert_eq!(
            field("me", None, &[fail, result(Outcome::Pass)], None),
            "Authentication-Results: me;\n\tdkim=fail (x) header.d=example.com header.s=s?;\n\
             \tdkim=pass header.d=example.com header.s=s?\n"
        );
        let spf = Spf::from_env(Some("pass"), Some("example.com"), Some("a@example.com"));
        let dmarc = dmarc::Verdict {
            outcome: dmarc::Outcome::Pass,
            from: Some("example.com".into()),
            policy: Some((dmarc::record::Policy::Reject, dmarc::record::Policy::None)),
        };
        assert_eq!(
            field("me", spf.as_ref(), &[result(Outcome::Pass)], Some(&dmarc)),
            "Authentication-Results: me;\n\tspf=pass smtp.mailfrom=example.com;\n\
             \tdkim=pass header.d=example.com header.s=s?;\n\
             \tdmarc=pass (p=reject) header.from=example.com\n"
        );
    }

    #[test]
    fn spf_from_the_environment() {
        let s = |r, d, m| Spf::from_env(r, d, m).map(|s| (s.result, s.property, value(&s.domain)));
        assert_eq!(
            s(Some("unknown"), Some("example.com"), Some("a@example.com")),
            Some(("permerror", "smtp.mailfrom", "example.com".into()))
        );
        assert_eq!(
            s(Some("error"), Some("[192.0.2.1]"), Some("")),
            Some(("temperror", "smtp.helo", "\"[192.0.2.1]\"".into()))
        );
        assert_eq!(
            s(Some("softfail"), Some("h\"x\\; \n"), Some("a@")),
            Some(("softfail", "smtp.helo", "\"h?x?; ?\"".into()))
        );
        // Not evaluated for this message, or a value we do not know.
        assert_eq!(s(Some("pass"), Some(""), Some("a@b")), None);
        assert_eq!(s(Some("pass"), None, Some("a@b")), None);
        assert_eq!(s(None, Some("b"), Some("a@b")), None);
        assert_eq!(s(Some("maybe"), Some("b"), Some("a@b")), None);
        assert!(Spf::from_env(Some("pass"), Some("b"), None).is_some_and(|s| s.passed()));
    }

    #[test]
    fn forged_results_are_removed() {
        let head = b"Authentication-Results: MX.example (forged); dkim=pass\n\
Received: x\n\
Authentication-Results: other.example; dkim=pass\n\
authentication-results:\tmx.example;\n\tspf=pass\n\
Authentication-Results: mx.example.evil; dkim=pass\n\
\n";
        let kept = without_forged_results(head, "mx.example");
        assert_eq!(
            String::from_utf8_lossy(&kept),
            "Received: x\nAuthentication-Results: other.example; dkim=pass\n\
             Authentication-Results: mx.example.evil; dkim=pass\n\n"
        );
    }
}
