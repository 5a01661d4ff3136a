//! SPF (RFC 7208) as s/qmail uses it (qmail-smtpd(8), SPF): `check_host()` with
//! every mechanism and modifier, the macro language, the ten-DNS-term and
//! two-void-lookup limits, the explanation, s/qmail's local rules
//! (`control/spflocalrules`) and its evaluation trace (`spfinfo`).
//! DNS goes through the `Lookup` trait; `sqmail::dns::Resolver` is the
//! real one, tests use a table.

pub mod header;
pub mod macros;
pub mod record;

use std::net::IpAddr;

use crate::dns::{DnsError, Resolver, name_verbatim, text_verbatim};
use hickory_proto::rr::{Name, RData, RecordType};
use macros::Vars;
use record::{Directive, Mechanism, Qualifier, Record};

/// The explanation when neither the domain nor `control/spfexplain` gives one.
pub const DEFAULT_EXPLAIN: &str =
    "See http://spf.pobox.com/why.html?sender=%{s}&ip=%{i}&receiver=%{R}";

/// DNS-querying terms per evaluation (RFC 7208 §4.6.4).
const TERM_LIMIT: u32 = 10;
/// Lookups answering nothing (NXDOMAIN or no records).
const VOID_LIMIT: u32 = 2;
/// MX hosts, and PTR names, looked at per term.
const NAME_LIMIT: usize = 10;
/// A domain name's longest text form.
const NAME_MAX: usize = 253;

const P_LOOP: &str = "Maximum nesting level exceeded; possible loop";
const P_VOID: &str = "Too many void DNS lookups";
const P_MX: &str = "Too many MX records";
const P_DNS: &str = "DNS temporary failure";
const P_MULTIPLE: &str = "Multiple SPF records";
const P_INCLUDE: &str = "No SPF record for included domain";
const P_REDIRECT: &str = "No SPF record for redirect domain";

/// The DNS questions SPF asks. `Err(Hard)` is NXDOMAIN; no records of the
/// type is `Ok` with an empty list.
pub trait Lookup {
    fn txt(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DnsError>;
    /// A records (`v6` false) or AAAA records.
    fn addrs(&mut self, name: &str, v6: bool) -> Result<Vec<IpAddr>, DnsError>;
    /// MX host names (any order).
    fn mx(&mut self, name: &str) -> Result<Vec<String>, DnsError>;
    fn ptr(&mut self, ip: IpAddr) -> Result<Vec<String>, DnsError>;
}

/// Names are looked up as written (RFC 7208 §7.1 allows any printable
/// ASCII in a domain-spec): `dns::name_verbatim`, not the host-name form.
impl Lookup for Resolver {
    fn txt(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        self.txt_at(&name_verbatim(name)?)
    }
    fn addrs(&mut self, name: &str, v6: bool) -> Result<Vec<IpAddr>, DnsError> {
        let t = if v6 { RecordType::AAAA } else { RecordType::A };
        Ok(crate::dns::addrs(self.records(&name_verbatim(name)?, t)?))
    }
    fn mx(&mut self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .records(&name_verbatim(name)?, RecordType::MX)?
            .into_iter()
            .filter_map(|r| match r.data {
                RData::MX(mx) => Some(text_verbatim(&mx.exchange)),
                _ => None,
            })
            .collect())
    }
    fn ptr(&mut self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        Ok(self
            .records(&Name::from(ip), RecordType::PTR)?
            .into_iter()
            .filter_map(|r| match r.data {
                RData::PTR(p) => Some(text_verbatim(&p.0)),
                _ => None,
            })
            .collect())
    }
}

/// RFC 7208 results, with s/qmail's extra `Local` (the client is this host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Local,
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    /// Syntax error, unknown mechanism, too many DNS terms or void
    /// lookups, or a loop (RFC 7208 §4.6.4; s/qmail: `unknown`).
    PermError,
    /// DNS failed temporarily (s/qmail: `error`).
    TempError,
}

impl Verdict {
    /// The `SPFRESULT` value (qmail-smtpd(8), SPF).
    pub fn spfresult(self) -> &'static str {
        match self {
            Verdict::Local | Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::SoftFail => "softfail",
            Verdict::Neutral => "neutral",
            Verdict::None => "none",
            Verdict::PermError => "unknown",
            Verdict::TempError => "error",
        }
    }

    /// The result character of the trace and the Received-SPF line.
    pub fn code(self) -> char {
        match self {
            Verdict::Local | Verdict::Pass => '+',
            Verdict::Fail => '-',
            Verdict::SoftFail => '~',
            Verdict::Neutral => '?',
            Verdict::None => 'o',
            Verdict::PermError => 'e',
            Verdict::TempError => 't',
        }
    }

    /// The word spfquery prints after `result=`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Local => "loopback",
            v => v.spfresult(),
        }
    }

    /// The SPF level (1–6) from which qmail-smtpd rejects this result
    /// permanently; errors are temporary from level 2 (`temp_from`).
    pub fn reject_from(self) -> Option<u8> {
        match self {
            Verdict::Fail => Some(3),
            Verdict::SoftFail => Some(4),
            Verdict::Neutral => Some(5),
            Verdict::None | Verdict::PermError => Some(6),
            _ => None,
        }
    }

    pub fn is_error(self) -> bool {
        self == Verdict::TempError
    }
}

impl From<Qualifier> for Verdict {
    fn from(q: Qualifier) -> Verdict {
        match q {
            Qualifier::Pass => Verdict::Pass,
            Qualifier::Fail => Verdict::Fail,
            Qualifier::SoftFail => Verdict::SoftFail,
            Qualifier::Neutral => Verdict::Neutral,
        }
    }
}

/// One question: who connected, what it said, who asks.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The client address as text (IPv6 if it contains `:`).
    pub ip: &'a str,
    /// HELO/EHLO argument (may be empty).
    pub helo: &'a str,
    /// MAIL FROM address (may be empty).
    pub sender: &'a str,
    /// This host's name (`%{r}`).
    pub receiver: &'a str,
    /// `control/spflocalrules`: mechanisms tried before the record's final
    /// `all`, or as the record when there is none.
    pub local_rules: Option<&'a str>,
    /// The explanation used when the domain gives none.
    pub explain: &'a str,
    /// This host's own addresses (pass without asking anybody).
    pub own_ips: &'a [IpAddr],
    pub now: u64,
}

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// `spfinfo`: ` S=ip O=from C=identity H=helo ... R:c ` (spfquery(8),
    /// OUTPUT).
    pub trace: String,
    /// `(domain) => record` lines, one per domain whose record was read.
    pub records: String,
    /// The expanded explanation: for `fail` the domain's `exp=` text or
    /// the local one; for the other rejectable results the local one.
    pub explanation: Option<String>,
    /// The domain checked (the sender's, or the HELO name).
    pub identity: String,
    pub problem: Option<String>,
    /// The term the problem came from.
    pub mechanism: Option<String>,
}

/// Client address text as s/qmail reads it (`::ffff:` mapped → IPv4).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.parse().ok()?;
    Some(ip.to_canonical())
}

/// s/qmail's SPF check (qmail-smtpd(8), SPF). `None` when the address is not
/// an IP address (spfquery's "IP address syntax error").
pub fn check(q: &Query, dns: &mut dyn Lookup) -> Option<Outcome> {
    let ip = parse_ip(q.ip)?;
    let helo = if q.helo.is_empty() { "unknown" } else { q.helo };
    let identity = match q.sender.rfind('@') {
        Some(at) if at + 1 < q.sender.len() => q.sender[at + 1..].to_string(),
        _ => helo.to_string(),
    };
    if ip.is_loopback() || q.own_ips.iter().any(|o| o.to_canonical() == ip) {
        return Some(Outcome {
            verdict: Verdict::Local,
            trace: format!(" MLocal={} R:+ ", q.ip),
            records: String::new(),
            explanation: None,
            identity,
            problem: None,
            mechanism: Some("Local".into()),
        });
    }
    // RFC 7208 §4.3: a sender without a local part is postmaster@domain.
    let sender = match q.sender.rfind('@') {
        Some(0) => format!("postmaster{}", q.sender),
        Some(_) => q.sender.to_string(),
        None => format!("postmaster@{identity}"),
    };
    let local = q
        .local_rules
        .filter(|l| !l.trim().is_empty())
        .and_then(|l| record::parse(l).ok().map(|r| r.directives));
    let mut e = Eval {
        dns,
        vars: Vars {
            sender: &sender,
            ip,
            helo,
            receiver: q.receiver,
            now: q.now,
        },
        terms: 0,
        voids: 0,
        trace: format!(" S={} O={} C={} H={} ", q.ip, q.sender, identity, helo),
        records: String::new(),
        local,
        problem: None,
        mechanism: None,
        explanation: None,
        exp_domain: identity.clone(),
        include_depth: 0,
        ptr_name: None,
    };
    let verdict = e.check_host(&identity, true);
    e.info("R:", &verdict.code().to_string());
    let local_text = |e: &mut Eval| {
        let d = e.exp_domain.clone();
        e.expand_exp(q.explain, &d)
            .unwrap_or_else(|| q.explain.to_string())
    };
    let explanation = match verdict {
        Verdict::Fail => Some(match e.explanation.take() {
            Some(t) => t,
            None => local_text(&mut e),
        }),
        Verdict::SoftFail | Verdict::Neutral | Verdict::None | Verdict::PermError => {
            Some(local_text(&mut e))
        }
        _ => None,
    };
    Some(Outcome {
        verdict,
        trace: e.trace,
        records: e.records,
        explanation,
        identity,
        problem: e.problem,
        mechanism: e.mechanism,
    })
}

/// Whether `name` can be asked for: labels of 1–63 bytes, at least two.
fn valid_name(name: &str) -> bool {
    let n = name.strip_suffix('.').unwrap_or(name);
    n.len() <= NAME_MAX && n.contains('.') && n.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// Cuts labels from the left until the name fits (RFC 7208 §7.3).
fn truncate_name(mut s: String) -> String {
    while s.len() > NAME_MAX {
        match s.find('.') {
            Some(i) => s.drain(..=i),
            None => break,
        };
    }
    s
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Why a mechanism's lookups gave no verdict.
enum Miss {
    Dns(DnsError),
    /// More MX hosts than the limit.
    TooMany,
}

impl From<DnsError> for Miss {
    fn from(e: DnsError) -> Miss {
        Miss::Dns(e)
    }
}

/// A term's answer: matched, did not, or the evaluation ends.
enum Step {
    Match,
    NoMatch,
    Stop(Verdict),
}

struct Eval<'a, 'd> {
    dns: &'d mut dyn Lookup,
    vars: Vars<'a>,
    terms: u32,
    voids: u32,
    trace: String,
    records: String,
    local: Option<Vec<Directive>>,
    problem: Option<String>,
    mechanism: Option<String>,
    explanation: Option<String>,
    exp_domain: String,
    include_depth: u32,
    ptr_name: Option<String>,
}

impl Eval<'_, '_> {
    fn info(&mut self, tag: &str, value: &str) {
        self.trace.push_str(tag);
        self.trace.push_str(value);
        self.trace.push(' ');
    }

    fn fail(&mut self, v: Verdict, problem: &str, term: &str) -> Verdict {
        self.info("P=", problem);
        self.problem = Some(problem.to_string());
        self.mechanism = Some(term.to_string());
        v
    }

    /// RFC 7208 §4: the record of `domain`, evaluated. `top` is the
    /// sender's own domain (local rules apply there only).
    fn check_host(&mut self, domain: &str, top: bool) -> Verdict {
        if !valid_name(domain) {
            return Verdict::None;
        }
        let text = match self.spf_record(domain) {
            Ok(t) => t,
            Err(v) => return v,
        };
        self.records.push_str(&format!(
            "({domain}) => {}\n",
            text.as_deref().unwrap_or("")
        ));
        let mut rec = match text.as_deref().map(record::parse) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return self.fail(Verdict::PermError, e.problem, &e.term),
            None if top && self.local.is_some() => Record::default(),
            None => return Verdict::None,
        };
        let had_record = text.is_some();
        // Where the local rules go: before the final run of non-pass `all`.
        let local_at = match (top, &self.local) {
            (true, Some(_)) if !had_record => Some(0),
            (true, Some(_)) => rec
                .directives
                .iter()
                .position(|d| d.mechanism == Mechanism::All && d.qualifier != Qualifier::Pass),
            _ => None,
        };
        let local_len = match (local_at, &self.local) {
            (Some(at), Some(l)) => {
                rec.directives.splice(at..at, l.iter().cloned());
                l.len()
            }
            _ => 0,
        };
        for (i, d) in rec.directives.iter().enumerate() {
            let is_local = local_at.is_some_and(|at| (at..at + local_len).contains(&i));
            let step = self.directive(d, domain);
            let step = match step {
                // The admin's extra rules never make mail fail temporarily.
                Step::Stop(_) if is_local => Step::NoMatch,
                s => s,
            };
            match step {
                Step::NoMatch => continue,
                Step::Stop(v) => return v,
                Step::Match => {
                    let v = Verdict::from(d.qualifier);
                    if v == Verdict::Fail && self.include_depth == 0 {
                        self.exp_domain = domain.to_string();
                        if !is_local && let Some(exp) = &rec.exp {
                            self.explanation = self.explain_from(exp, domain);
                        }
                    }
                    return v;
                }
            }
        }
        if let Some(target) = &rec.redirect {
            if !self.count_term() {
                return self.fail(Verdict::PermError, P_LOOP, &format!("redirect={target}"));
            }
            let Some(t) = self.target(target, domain) else {
                return self.fail(Verdict::PermError, record::PARSE_ERROR, target);
            };
            self.info("D=", &t);
            return match self.check_host(&t, false) {
                Verdict::None => self.fail(Verdict::PermError, P_REDIRECT, &t),
                v => v,
            };
        }
        if !had_record {
            return Verdict::None;
        }
        Verdict::Neutral
    }

    /// The domain's one SPF record, `None` if it publishes none.
    fn spf_record(&mut self, domain: &str) -> Result<Option<String>, Verdict> {
        let txts = match self.dns.txt(domain) {
            Ok(t) => t,
            Err(DnsError::Hard) => Vec::new(),
            Err(DnsError::Temp) => return Err(self.fail(Verdict::TempError, P_DNS, domain)),
        };
        let mut spf = txts.into_iter().filter(|t| record::is_spf1(t));
        let first = spf.next();
        if spf.next().is_some() {
            return Err(self.fail(Verdict::PermError, P_MULTIPLE, domain));
        }
        Ok(first.map(|t| String::from_utf8_lossy(&t).into_owned()))
    }

    /// Counts a DNS-querying term; false past the limit.
    fn count_term(&mut self) -> bool {
        self.terms += 1;
        self.terms <= TERM_LIMIT
    }

    /// Counts an empty answer; false past the void limit.
    fn count_void(&mut self, empty: bool) -> bool {
        if empty {
            self.voids += 1;
        }
        self.voids <= VOID_LIMIT
    }

    /// A domain-spec expanded (and shortened) for `domain`.
    fn target(&mut self, spec: &str, domain: &str) -> Option<String> {
        let t = self.expand(spec, domain, false)?;
        Some(truncate_name(t))
    }

    fn expand(&mut self, spec: &str, domain: &str, exp: bool) -> Option<String> {
        let mut name = self.ptr_name.take();
        let r = {
            let dns = &mut *self.dns;
            let ip = self.vars.ip;
            let mut p = || {
                name.get_or_insert_with(|| validated_name(dns, ip, domain))
                    .clone()
            };
            macros::expand(spec, domain, &self.vars, exp, &mut p).ok()
        };
        self.ptr_name = name;
        r
    }

    fn expand_exp(&mut self, text: &str, domain: &str) -> Option<String> {
        self.expand(text, domain, true)
    }

    /// The `exp=` text: exactly one TXT record of printable ASCII at the
    /// expanded name, expanded (RFC 7208 §6.2); else none.
    fn explain_from(&mut self, spec: &str, domain: &str) -> Option<String> {
        let name = self.target(spec, domain)?;
        let txts = self.dns.txt(&name).ok()?;
        let [t] = txts.as_slice() else {
            return None;
        };
        if !t.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
            return None;
        }
        self.expand_exp(&String::from_utf8_lossy(t), domain)
    }

    fn directive(&mut self, d: &Directive, domain: &str) -> Step {
        let ip = self.vars.ip;
        let v6 = ip.is_ipv6();
        if d.mechanism.queries_dns() && !self.count_term() {
            return Step::Stop(self.fail(Verdict::PermError, P_LOOP, &d.text));
        }
        let spec_or = |s: &Option<String>| s.clone().unwrap_or_else(|| domain.to_string());
        let res = match &d.mechanism {
            Mechanism::All => return Step::Match,
            Mechanism::Ip4(net, len) => {
                return self.matched(
                    in_net(ip, IpAddr::V4(*net), *len),
                    "MIPv4=",
                    &format!("{net}/{len}"),
                );
            }
            Mechanism::Ip6(net, len) => {
                return self.matched(
                    in_net(ip, IpAddr::V6(*net), *len),
                    "MIPv6=",
                    &format!("{net}/{len}"),
                );
            }
            Mechanism::A(spec, c4, c6) => self
                .with_target(&spec_or(spec), domain, |e, t| {
                    let len = if v6 { *c6 } else { *c4 };
                    let addrs = e.dns.addrs(t, v6)?;
                    Ok((addrs.is_empty(), addrs.iter().any(|a| in_net(ip, *a, len))))
                })
                .map(|m| (m, "MA/AAAA=")),
            Mechanism::Mx(spec, c4, c6) => self
                .with_target(&spec_or(spec), domain, |e, t| {
                    let len = if v6 { *c6 } else { *c4 };
                    let hosts = e.dns.mx(t)?;
                    if hosts.len() > NAME_LIMIT {
                        return Err(Miss::TooMany);
                    }
                    let mut hit = false;
                    for h in &hosts {
                        match e.dns.addrs(h, v6) {
                            Ok(a) => hit |= a.iter().any(|a| in_net(ip, *a, len)),
                            Err(DnsError::Hard) => {}
                            Err(DnsError::Temp) => return Err(Miss::Dns(DnsError::Temp)),
                        }
                        if hit {
                            break;
                        }
                    }
                    Ok((hosts.is_empty(), hit))
                })
                .map(|m| (m, "MMX=")),
            Mechanism::Ptr(spec) => self
                .with_target(&spec_or(spec), domain, |e, t| {
                    // A failed PTR lookup is no match (RFC 7208 §5.5).
                    let names = e.dns.ptr(ip).unwrap_or_default();
                    let hit = names.iter().take(NAME_LIMIT).any(|n| {
                        within(n, t)
                            && e.dns
                                .addrs(&n.trim_end_matches('.').to_ascii_lowercase(), v6)
                                .is_ok_and(|a| a.contains(&ip))
                    });
                    Ok((names.is_empty(), hit))
                })
                .map(|m| (m, "MPTR=")),
            Mechanism::Exists(spec) => self
                .with_target(spec, domain, |e, t| {
                    let addrs = e.dns.addrs(t, false)?;
                    Ok((addrs.is_empty(), !addrs.is_empty()))
                })
                .map(|m| (m, "MExists=")),
            Mechanism::Include(spec) => {
                let Some(t) = self.target(spec, domain) else {
                    return Step::Stop(self.fail(Verdict::PermError, record::PARSE_ERROR, &d.text));
                };
                self.info("I=", &t);
                self.include_depth += 1;
                let v = self.check_host(&t, false);
                self.include_depth -= 1;
                return match v {
                    Verdict::Pass => Step::Match,
                    Verdict::Fail | Verdict::SoftFail | Verdict::Neutral => Step::NoMatch,
                    Verdict::None => Step::Stop(self.fail(Verdict::PermError, P_INCLUDE, &d.text)),
                    v => Step::Stop(v),
                };
            }
        };
        match res {
            Ok(((hit, t), tag)) => self.matched(hit, tag, &t),
            Err(v) => Step::Stop(v),
        }
    }

    fn matched(&mut self, hit: bool, tag: &str, what: &str) -> Step {
        if !hit {
            return Step::NoMatch;
        }
        self.info(tag, what);
        Step::Match
    }

    /// Expands the target, asks `f` (which says whether the answer was
    /// void and whether it matched), applies the void-lookup limit.
    fn with_target(
        &mut self,
        spec: &str,
        domain: &str,
        f: impl FnOnce(&mut Self, &str) -> Result<(bool, bool), Miss>,
    ) -> Result<(bool, String), Verdict> {
        let Some(t) = self.target(spec, domain) else {
            return Err(self.fail(Verdict::PermError, record::PARSE_ERROR, spec));
        };
        if !valid_name(&t) {
            return Ok((false, t));
        }
        let (void, hit) = match f(self, &t) {
            Ok(x) => x,
            Err(Miss::TooMany) => return Err(self.fail(Verdict::PermError, P_MX, &t)),
            Err(Miss::Dns(DnsError::Hard)) => (true, false),
            Err(Miss::Dns(DnsError::Temp)) => return Err(self.fail(Verdict::TempError, P_DNS, &t)),
        };
        if !self.count_void(void) {
            return Err(self.fail(Verdict::PermError, P_VOID, &t));
        }
        Ok((hit, t))
    }
}

/// Whether `name` is `domain` or a name below it, ignoring case and a
/// final dot on either.
fn within(name: &str, domain: &str) -> bool {
    let (n, d) = (name.trim_end_matches('.'), domain.trim_end_matches('.'));
    let Some(cut) = n.len().checked_sub(d.len()) else {
        return false;
    };
    n.as_bytes()[cut..].eq_ignore_ascii_case(d.as_bytes())
        && (cut == 0 || n.as_bytes()[cut - 1] == b'.')
}

/// `%{p}`: a name of `ip` whose addresses include `ip`, preferring one
/// in `domain`; `unknown` if none.
fn validated_name(dns: &mut dyn Lookup, ip: IpAddr, domain: &str) -> String {
    let Ok(names) = dns.ptr(ip) else {
        return "unknown".into();
    };
    let mut good = Vec::new();
    for n in names.iter().take(NAME_LIMIT) {
        if dns.addrs(n, ip.is_ipv6()).is_ok_and(|a| a.contains(&ip)) {
            good.push(n.trim_end_matches('.').to_string());
        }
    }
    good.iter()
        .find(|n| within(n, domain))
        .or(good.first())
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests;
