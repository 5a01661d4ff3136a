//! DMARC (see qmail-dkverify(8), DMARC): the policy of the From domain,
//! found at `_dmarc.<domain>` or at its organizational domain, applied to
//! the SPF and DKIM results of a message. Aggregate and failure reports
//! (`rua=`, `ruf=`) are not sent.

pub mod from;
pub mod psl;
pub mod record;

use std::cell::OnceCell;
use std::fmt;

use crate::dns::DnsError;
use psl::Suffixes;
use record::{Policy, Record};

/// What the message's other checks found.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The `d=` domain of every DKIM signature that passed.
    pub dkim_pass: Vec<String>,
    /// The SPF result: whether it passed, and the domain checked (the
    /// MAIL FROM domain, or the HELO name for a bounce).
    pub spf: Option<(bool, String)>,
}

/// The result, in Authentication-Results' words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// No policy published.
    None,
    TempError(String),
    PermError(String),
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The From domain, when there is one.
    pub from: Option<String>,
    /// The policy that applies (`p=`, or `sp=` for a subdomain) and, for a
    /// failure, what it asks for this message after `pct=` sampling.
    pub policy: Option<(Policy, Policy)>,
}

impl Verdict {
    fn new(outcome: Outcome, from: Option<String>) -> Verdict {
        Verdict {
            outcome,
            from,
            policy: None,
        }
    }

    /// A failure whose policy asks for rejection.
    pub fn asks_reject(&self) -> bool {
        self.outcome == Outcome::Fail && self.policy.is_some_and(|(_, dis)| dis == Policy::Reject)
    }
}

impl fmt::Display for Verdict {
    /// `dmarc=fail (p=reject dis=quarantine) header.from=example.com`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match &self.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::None => "none",
            Outcome::TempError(_) => "temperror",
            Outcome::PermError(_) => "permerror",
        };
        write!(f, "dmarc={word}")?;
        match (&self.outcome, self.policy) {
            (Outcome::TempError(r) | Outcome::PermError(r), _) => write!(f, " ({r})")?,
            (Outcome::Fail, Some((p, dis))) => write!(f, " (p={} dis={})", p.name(), dis.name())?,
            (_, Some((p, _))) => write!(f, " (p={})", p.name())?,
            _ => {}
        }
        if let Some(d) = &self.from {
            write!(f, " header.from={d}")?;
        }
        Ok(())
    }
}

/// The TXT records of a name.
pub type Txt<'a> = &'a mut dyn FnMut(&str) -> Result<Vec<Vec<u8>>, DnsError>;

/// Where the policy of `domain` is published.
pub fn policy_name(domain: &str) -> String {
    format!("_dmarc.{domain}")
}

/// The one DMARC record at `_dmarc.<domain>`, if any.
fn lookup(domain: &str, txt: Txt) -> Result<Option<Record>, Outcome> {
    let name = policy_name(domain);
    let records = match txt(&name) {
        Ok(r) => r,
        Err(DnsError::Hard) => return Ok(None),
        Err(DnsError::Temp) => return Err(Outcome::TempError(format!("no answer for {name}"))),
    };
    let mut ours = records.iter().filter(|r| record::is_dmarc(r));
    match (ours.next(), ours.next()) {
        (None, _) => Ok(None),
        (Some(r), None) => record::parse(r)
            .map(Some)
            .map_err(|e| Outcome::PermError(e.to_string())),
        (Some(_), Some(_)) => Err(Outcome::PermError(format!(
            "several DMARC records at {name}"
        ))),
    }
}

/// Evaluates DMARC for a message whose From fields have the values
/// `from_fields`. `suffixes` gives the public suffix list when it is first
/// needed; `sample` (0–99, random in use) decides `pct=`.
pub fn check(
    from_fields: &[&[u8]],
    ev: &Evidence,
    txt: Txt,
    suffixes: &dyn Fn() -> Suffixes,
    sample: u8,
) -> Verdict {
    let from = match from::from_domain(from_fields) {
        Ok(d) => d,
        Err(e) => return Verdict::new(Outcome::PermError(e.into()), None),
    };
    // Every domain that may need its organizational domain, looked up in
    // the list together the first time one is needed.
    let norm = |d: &str| d.trim_end_matches('.').to_ascii_lowercase();
    let mut names: Vec<String> = std::iter::once(from.clone())
        .chain(ev.dkim_pass.iter().map(|d| norm(d)))
        .chain(ev.spf.iter().map(|(_, d)| norm(d)))
        .collect();
    names.sort();
    names.dedup();
    let orgs = OnceCell::new();
    let org = |d: &str| {
        let orgs = orgs.get_or_init(|| {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            suffixes().organizational_all(&refs)
        });
        match names.iter().position(|n| n == d) {
            Some(i) => orgs[i].clone(),
            None => suffixes().organizational(d),
        }
    };
    let found = match lookup(&from, txt) {
        Ok(Some(r)) => Some((r, false)),
        Ok(None) => {
            let o = org(&from);
            if o == from {
                None
            } else {
                match lookup(&o, txt) {
                    Ok(r) => r.map(|r| (r, true)),
                    Err(e) => return Verdict::new(e, Some(from)),
                }
            }
        }
        Err(e) => return Verdict::new(e, Some(from)),
    };
    let Some((rec, at_org)) = found else {
        return Verdict::new(Outcome::None, Some(from));
    };
    let policy = match (at_org, rec.sp) {
        (true, Some(sp)) => sp,
        _ => rec.p,
    };
    let aligned = |d: &str, strict: bool| {
        let d = norm(d);
        d == from || (!strict && org(&d) == org(&from))
    };
    let pass = ev.dkim_pass.iter().any(|d| aligned(d, rec.strict_dkim))
        || ev
            .spf
            .as_ref()
            .is_some_and(|(ok, d)| *ok && aligned(d, rec.strict_spf));
    let (outcome, dis) = match pass {
        true => (Outcome::Pass, Policy::None),
        false if sample < rec.pct => (Outcome::Fail, policy),
        false => (Outcome::Fail, policy.weaker()),
    };
    Verdict {
        outcome,
        from: Some(from),
        policy: Some((policy, dis)),
    }
}

#[cfg(test)]
mod tests;
