//! Verification (see qmail-dkim(8) and qmail-dkverify(8)): every
//! DKIM-Signature of a message, the body hashed while it streams past,
//! keys from the DNS. Results follow RFC 8601's words: pass, fail,
//! neutral, temperror (the DNS did not answer), permerror.

use std::fmt;

use super::canon::{self, Body};
use super::header::{self, Field};
use super::key::{self, KeyError, PublicKey};
use super::{Algorithm, Canon, tags};
use crate::codec;
use crate::dns::DnsError;

/// Signatures checked per message; more are reported, not checked.
pub const MAX_SIGNATURES: usize = 8;
/// Entries of `h=` accepted.
const MAX_H: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Neutral(String),
    TempError(String),
    PermError(String),
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Neutral(_) => "neutral",
            Outcome::TempError(_) => "temperror",
            Outcome::PermError(_) => "permerror",
        }
    }
}

/// The result for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigResult {
    pub domain: String,
    pub selector: String,
    pub algorithm: Option<Algorithm>,
    pub outcome: Outcome,
    /// The key says `t=y`.
    pub testing: bool,
}

impl fmt::Display for SigResult {
    /// `dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256`,
    /// with the reason in parentheses for anything but pass.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dkim={}", self.outcome.word())?;
        match &self.outcome {
            Outcome::Pass => {}
            Outcome::Fail(r)
            | Outcome::Neutral(r)
            | Outcome::TempError(r)
            | Outcome::PermError(r) => write!(f, " ({r})")?,
        }
        if self.testing {
            f.write_str(" (testing)")?;
        }
        if !self.domain.is_empty() {
            write!(f, " header.d={}", self.domain)?;
        }
        if !self.selector.is_empty() {
            write!(f, " header.s={}", self.selector)?;
        }
        if let Some(a) = self.algorithm {
            write!(f, " header.a={}", a.name())?;
        }
        Ok(())
    }
}

/// Where keys come from: the DNS, or a table in tests.
pub trait KeyLookup {
    /// The TXT records of `name`, each record's strings joined.
    fn txt(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DnsError>;
}

impl KeyLookup for crate::dns::Resolver {
    fn txt(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        crate::dns::Resolver::txt(self, name)
    }
}

/// A signature that parsed.
struct Sig {
    field: usize,
    algorithm: Algorithm,
    canon: Canon,
    domain: String,
    selector: String,
    identity_domain: Option<Vec<u8>>,
    h: Vec<Vec<u8>>,
    bh: Vec<u8>,
    b: Vec<u8>,
    /// Where the `b=` value is in the field.
    b_at: std::ops::Range<usize>,
    body: usize,
    limit: Option<u64>,
}

/// The canonicalized header fields named by `names`, each taken from the
/// bottom up, a name with no field left adding nothing (RFC 6376 5.4.2).
pub fn signed_headers(
    head: &[u8],
    fields: &[Field],
    names: &[impl AsRef<[u8]>],
    relaxed: bool,
) -> Vec<u8> {
    let mut used = vec![false; fields.len()];
    let mut out = Vec::new();
    for n in names {
        let pick = (0..fields.len())
            .rev()
            .find(|&i| !used[i] && fields[i].name(head).eq_ignore_ascii_case(n.as_ref()));
        if let Some(i) = pick {
            used[i] = true;
            canon::header(fields[i].raw(head), relaxed, &mut out);
        }
    }
    out
}

fn domain_ok(d: &[u8]) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split(|&c| c == b'.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
        })
}

fn number(v: &[u8]) -> Option<u64> {
    let v = tags::compact(v);
    if v.is_empty() || v.len() > 76 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // A number too large for u64 is larger than any body or time.
    Some(
        v.iter()
            .try_fold(0u64, |a, &c| {
                a.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            })
            .unwrap_or(u64::MAX),
    )
}

/// The signature in field `i`, or the result that says why not.
fn parse_sig(head: &[u8], fields: &[Field], i: usize, now: u64) -> Result<Sig, SigResult> {
    let f = &fields[i];
    let value = f.value(head);
    let value_at = f.raw.end - value.len() - f.raw.start;
    let mut res = SigResult {
        domain: String::new(),
        selector: String::new(),
        algorithm: None,
        outcome: Outcome::Pass,
        testing: false,
    };
    let perm = |mut r: SigResult, why: &str| {
        r.outcome = Outcome::PermError(why.into());
        r
    };
    let t = tags::parse(value).map_err(|e| perm(res.clone(), e))?;
    let get = |n: &str| tags::get(&t, n);
    if let Some(d) = get("d") {
        res.domain = String::from_utf8_lossy(&tags::compact(d)).to_ascii_lowercase();
    }
    if let Some(s) = get("s") {
        res.selector = String::from_utf8_lossy(&tags::compact(s)).into_owned();
    }
    if get("v") != Some(b"1") {
        return Err(perm(res, "v= missing or not 1"));
    }
    let a = get("a").ok_or_else(|| perm(res.clone(), "a= missing"))?;
    let algorithm = Algorithm::parse(&tags::compact(a))
        .ok_or_else(|| perm(res.clone(), "algorithm not accepted"))?;
    res.algorithm = Some(algorithm);
    let canon = match get("c") {
        None => Canon::default(),
        Some(c) => Canon::parse(&tags::compact(c)).ok_or_else(|| perm(res.clone(), "bad c="))?,
    };
    if !domain_ok(res.domain.as_bytes()) {
        return Err(perm(res, "d= missing or bad"));
    }
    if !domain_ok(res.selector.as_bytes()) {
        return Err(perm(res, "s= missing or bad"));
    }
    let b64 = |n: &str| get(n).and_then(codec::b64_decode_lenient);
    let b = b64("b")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| perm(res.clone(), "b= missing or not base64"))?;
    let bh = b64("bh")
        .filter(|b| b.len() == 32)
        .ok_or_else(|| perm(res.clone(), "bh= missing or bad"))?;
    let h: Vec<Vec<u8>> = tags::compact(get("h").ok_or_else(|| perm(res.clone(), "h= missing"))?)
        .split(|&c| c == b':')
        .map(<[u8]>::to_vec)
        .collect();
    if h.len() > MAX_H {
        return Err(perm(res, "h= too long"));
    }
    if !h.iter().any(|n| n.eq_ignore_ascii_case(b"from")) {
        return Err(perm(res, "From not signed"));
    }
    let identity_domain = match get("i") {
        None => None,
        Some(i) => {
            let i = tags::compact(i);
            let at = crate::bytescan::rfind(b'@', &i).ok_or_else(|| perm(res.clone(), "bad i="))?;
            let d = i[at + 1..].to_ascii_lowercase();
            let sub = d.ends_with(res.domain.as_bytes())
                && (d.len() == res.domain.len() || d[d.len() - res.domain.len() - 1] == b'.');
            if !sub {
                return Err(perm(res, "i= not within d="));
            }
            Some(d)
        }
    };
    let dns_txt = |q: &[u8]| {
        tags::compact(q)
            .split(|&c| c == b':')
            .any(|m| m.eq_ignore_ascii_case(b"dns/txt"))
    };
    if get("q").is_some_and(|q| !dns_txt(q)) {
        return Err(perm(res, "q= without dns/txt"));
    }
    let limit = match get("l") {
        None => None,
        Some(l) => Some(number(l).ok_or_else(|| perm(res.clone(), "bad l="))?),
    };
    let ts = match get("t") {
        None => None,
        Some(v) => Some(number(v).ok_or_else(|| perm(res.clone(), "bad t="))?),
    };
    if let Some(x) = get("x") {
        let x = number(x).ok_or_else(|| perm(res.clone(), "bad x="))?;
        if ts.is_some_and(|t| x < t) {
            return Err(perm(res, "x= before t="));
        }
        if x < now {
            res.outcome = Outcome::Fail("signature expired".into());
            return Err(res);
        }
    }
    let bt = t
        .iter()
        .find(|t| t.name == b"b")
        .map(|t| t.at.clone())
        .unwrap_or_default();
    Ok(Sig {
        field: i,
        algorithm,
        canon,
        domain: res.domain,
        selector: res.selector,
        identity_domain,
        h,
        bh,
        b,
        b_at: bt.start + value_at..bt.end + value_at,
        body: 0,
        limit,
    })
}

/// The verifier of one message: made from its header, fed its body.
pub struct Verifier {
    head: Vec<u8>,
    fields: Vec<Field>,
    sigs: Vec<Result<Sig, SigResult>>,
    bodies: Vec<Body>,
}

impl Verifier {
    /// `head` is the header without the empty line after it; `now` in
    /// seconds since the epoch (for `x=`).
    pub fn new(head: Vec<u8>, now: u64) -> Verifier {
        let fields = header::fields(&head);
        let mut sigs = Vec::new();
        let mut bodies: Vec<Body> = Vec::new();
        for i in (0..fields.len()).filter(|&i| fields[i].is(&head, "dkim-signature")) {
            if sigs.len() == MAX_SIGNATURES {
                sigs.push(Err(SigResult {
                    domain: String::new(),
                    selector: String::new(),
                    algorithm: None,
                    outcome: Outcome::Neutral("too many signatures, not checked".into()),
                    testing: false,
                }));
                break;
            }
            let mut s = parse_sig(&head, &fields, i, now);
            if let Ok(s) = &mut s {
                let same = |b: &Body| b.relaxed() == s.canon.body_relaxed && b.limit() == s.limit;
                s.body = match bodies.iter().position(same) {
                    Some(b) => b,
                    None => {
                        bodies.push(Body::new(s.canon.body_relaxed, s.limit));
                        bodies.len() - 1
                    }
                };
            }
            sigs.push(s);
        }
        Verifier {
            head,
            fields,
            sigs,
            bodies,
        }
    }

    /// The names of the keys the signatures that parsed will ask for,
    /// each once.
    pub fn key_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for s in self.sigs.iter().flatten() {
            let n = key_name(&s.selector, &s.domain);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    /// Whether the header has any DKIM-Signature.
    pub fn signed(&self) -> bool {
        !self.sigs.is_empty()
    }

    pub fn update(&mut self, body: &[u8]) {
        for b in &mut self.bodies {
            b.update(body);
        }
    }

    /// One result per signature (none for an unsigned message).
    pub fn finish(self, dns: &mut dyn KeyLookup) -> Vec<SigResult> {
        let hashes: Vec<_> = self.bodies.into_iter().map(Body::finish).collect();
        self.sigs
            .into_iter()
            .map(|s| match s {
                Err(r) => r,
                Ok(s) => check(&self.head, &self.fields, &s, &hashes[s.body], dns),
            })
            .collect()
    }
}

fn check(
    head: &[u8],
    fields: &[Field],
    s: &Sig,
    body: &(ring::digest::Digest, u64),
    dns: &mut dyn KeyLookup,
) -> SigResult {
    let mut r = SigResult {
        domain: s.domain.clone(),
        selector: s.selector.clone(),
        algorithm: Some(s.algorithm),
        outcome: Outcome::Pass,
        testing: false,
    };
    let outcome = (|| {
        if s.limit.is_some_and(|l| l > body.1) {
            return Outcome::Fail("l= longer than the body".into());
        }
        if body.0.as_ref() != s.bh.as_slice() {
            return Outcome::Fail("body hash did not verify".into());
        }
        let key = match lookup(dns, &s.selector, &s.domain) {
            Ok(k) => k,
            Err(o) => return o,
        };
        r.testing = key.testing;
        if key.algorithm != s.algorithm {
            return Outcome::PermError("key type does not match a=".into());
        }
        if key.strict
            && s.identity_domain
                .as_deref()
                .is_some_and(|d| d != s.domain.as_bytes())
        {
            return Outcome::PermError("key t=s and i= in a subdomain".into());
        }
        let mut data = signed_headers(head, fields, &s.h, s.canon.header_relaxed);
        let raw = fields[s.field].raw(head);
        let mut blanked = raw[..s.b_at.start].to_vec();
        blanked.extend_from_slice(&raw[s.b_at.end..]);
        canon::header(&blanked, s.canon.header_relaxed, &mut data);
        data.truncate(data.len() - 2);
        if key::verify(&key, &data, &s.b) {
            Outcome::Pass
        } else {
            Outcome::Fail("signature did not verify".into())
        }
    })();
    r.outcome = outcome;
    r
}

/// Where the key of `selector` for `domain` is published.
pub fn key_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

fn lookup(dns: &mut dyn KeyLookup, selector: &str, domain: &str) -> Result<PublicKey, Outcome> {
    let name = key_name(selector, domain);
    let recs = match dns.txt(&name) {
        Ok(r) => r,
        Err(DnsError::Temp) => return Err(Outcome::TempError(format!("no answer for {name}"))),
        Err(DnsError::Hard) => return Err(Outcome::PermError(format!("no key at {name}"))),
    };
    let first = recs
        .first()
        .ok_or_else(|| Outcome::PermError(format!("no key at {name}")))?;
    key::parse_record(first).map_err(|e| match e {
        KeyError::Revoked => Outcome::PermError("key revoked".into()),
        KeyError::Bad(why) => Outcome::PermError(why.into()),
    })
}

/// Verifies a whole message in memory.
pub fn message(msg: &[u8], now: u64, dns: &mut dyn KeyLookup) -> Vec<SigResult> {
    let (head, body) = header::split(msg);
    let mut v = Verifier::new(head.to_vec(), now);
    v.update(body);
    v.finish(dns)
}

#[cfg(test)]
mod tests;
