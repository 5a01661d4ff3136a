//! DNSSEC validation for DANE (RFC 4035 §5, RFC 6840) over the stub
//! resolver, with the answers' signatures checked here (the recursive
//! server need not validate, only pass DNSSEC records through).
//!
//! An RRset is *secure* when an RRSIG, valid now, verifies with a DNSKEY of
//! its signer, and the signer's DNSKEY set is signed by a key that a trust
//! anchor or a secure DS set of the parent names (walked up to an anchor).
//! "No such record" is secure only when NSEC or NSEC3 records signed by the
//! zone prove it (`nsec`). Data or a denial without signatures is
//! *insecure* only when the zone is proven unsigned: no anchor above it, or
//! a delegation on the way down whose missing DS is itself proven (or an
//! NSEC3 opt-out span). Everything else in a signed zone is *bogus*.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, PublicKeyBuf, Verifier};
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::nsec::{self, Proof, len};
use super::{DnsError, MAX_CNAME, Resolver, name};

/// Deepest nesting of lookups one validation makes (zones below an
/// anchor, CNAME steps).
const MAX_DEPTH: usize = 40;

/// How far an answer can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Signatures verified up to a trust anchor.
    Secure,
    /// Not signed, or no chain to a trust anchor.
    Insecure,
    /// Signed below a secure zone, but no signature verifies.
    Bogus,
}

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

/// Trust anchors: DS or DNSKEY records in zone-file form
/// (`zone. [ttl] [IN] DS tag alg type hex`, `zone. [ttl] [IN] DNSKEY flags
/// 3 alg base64`), as unbound's root.key; `;` and `#` start comments.
/// A line `ad` instead trusts the AD bit of a resolver on loopback (see
/// `super::ad`).
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    ds: Vec<(Name, DS)>,
    keys: Vec<(Name, DNSKEY)>,
    /// The `ad` line: the resolver validates, we do not.
    pub ad: bool,
}

impl Anchors {
    /// The anchors of the file named by `$DNSSEC_TRUST_ANCHORS`, else of
    /// `default`; `None` when there is none (DANE is then off).
    pub fn load(default: &Path) -> Option<Anchors> {
        let path = std::env::var_os("DNSSEC_TRUST_ANCHORS")
            .map(PathBuf::from)
            .unwrap_or_else(|| default.to_path_buf());
        let a = Anchors::parse(&std::fs::read_to_string(path).ok()?);
        (a.ad || !a.ds.is_empty() || !a.keys.is_empty()).then_some(a)
    }

    /// Each anchor as `zone DS tag` or `zone DNSKEY tag` (qmail-showctl).
    pub fn list(&self) -> Vec<String> {
        let ds = self
            .ds
            .iter()
            .map(|(n, d)| format!("{n} DS {}", d.key_tag()));
        let keys = self.keys.iter().map(|(n, k)| {
            let tag = k.calculate_key_tag().map_or("?".into(), |t| t.to_string());
            format!("{n} DNSKEY {tag}")
        });
        ds.chain(keys).collect()
    }

    /// The anchored zones, each once, as written in zone files.
    pub fn zones(&self) -> Vec<String> {
        let mut z: Vec<String> = self.names().map(|n| n.to_string()).collect();
        z.sort();
        z.dedup();
        z
    }

    /// The anchored zone names.
    fn names(&self) -> impl Iterator<Item = &Name> {
        self.ds
            .iter()
            .map(|(n, _)| n)
            .chain(self.keys.iter().map(|(n, _)| n))
    }

    pub fn parse(text: &str) -> Anchors {
        let mut a = Anchors::default();
        for line in text.lines() {
            let line = line.split([';', '#']).next().unwrap_or("");
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() == 1 && w[0].eq_ignore_ascii_case("ad") {
                a.ad = true;
                continue;
            }
            let Some(t) = w.iter().position(|x| *x == "DS" || *x == "DNSKEY") else {
                continue;
            };
            let (Some(owner), Ok(n)) = (w.first(), name(w[0])) else {
                continue;
            };
            let _ = owner;
            let f = &w[t + 1..];
            if f.len() < 4 {
                continue;
            }
            let nums = (f[0].parse::<u16>(), f[1].parse::<u8>(), f[2].parse::<u8>());
            let (Ok(x), Ok(y), Ok(z)) = nums else {
                continue;
            };
            let blob = f[3..].concat();
            if w[t] == "DS" {
                if let Some(d) = unhex(&blob) {
                    a.ds.push((n, DS::new(x, Algorithm::from_u8(y), DigestType::from(z), d)));
                }
            } else if let Some(k) = crate::codec::b64_decode_lenient(blob.as_bytes()) {
                let key = PublicKeyBuf::new(k, Algorithm::from_u8(z));
                a.keys.push((n, DNSKEY::with_flags(x, key)));
            }
        }
        a
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

fn rrsig(r: &Record) -> Option<&RRSIG> {
    match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
        _ => None,
    }
}

/// Does `sig` (valid now) over `rrset` verify with one of `keys`?
fn verifies(sig: &RRSIG, n: &Name, rrset: &[Record], keys: &[DNSKEY]) -> bool {
    let i = sig.input();
    let t = now();
    // Serial-number arithmetic (RFC 4034 §3.1.5): wrapping differences.
    if (t.wrapping_sub(i.sig_inception.get()) as i32) < 0
        || (i.sig_expiration.get().wrapping_sub(t) as i32) < 0
    {
        return false;
    }
    keys.iter().any(|k| {
        k.zone_key()
            && !k.revoke()
            && k.calculate_key_tag().ok() == Some(i.key_tag)
            && k.public_key().algorithm() == i.algorithm
            && k.verify_rrsig(n, DNSClass::IN, sig, rrset.iter()).is_ok()
    })
}

/// Validated keys of a zone.
#[derive(Debug, Clone)]
enum Keys {
    Secure(Vec<DNSKEY>),
    /// No chain of trust reaches the zone (no anchor above it, a proven
    /// insecure delegation, or algorithms we do not know).
    Insecure,
    Bogus,
}

/// One validated lookup.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The worst status of every RRset on the way (CNAMEs, the data or
    /// the denial of it).
    pub status: Status,
    /// The records of the asked type at the end of the chain; empty when
    /// the name or the type does not exist.
    pub records: Vec<Record>,
    /// The asked name, then each CNAME target in turn.
    pub chain: Vec<Name>,
    /// What the signed denial proved, when there was one.
    pub denial: Option<Proof>,
}

impl Answer {
    /// The name the chain ends at.
    pub fn canonical(&self) -> &Name {
        &self.chain[self.chain.len() - 1]
    }
}

fn worse(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::Bogus, _) | (_, Status::Bogus) => Status::Bogus,
        (Status::Insecure, _) | (_, Status::Insecure) => Status::Insecure,
        _ => Status::Secure,
    }
}

fn rrset(rs: &[Record], n: &Name, t: RecordType) -> Vec<Record> {
    rs.iter()
        .filter(|r| &r.name == n && r.record_type() == t)
        .cloned()
        .collect()
}

fn sigs_over<'a>(rs: &'a [Record], n: &'a Name, t: RecordType) -> impl Iterator<Item = &'a RRSIG> {
    rs.iter()
        .filter(move |r| &r.name == n)
        .filter_map(rrsig)
        .filter(move |s| s.input().type_covered == t)
}

/// A DNSSEC validator over the stub resolver (RFC 4035 §5): every RRset
/// and every denial is traced to a trust anchor. Keys and DS answers are
/// kept for the life of the validator (one delivery).
pub struct Validator<'a> {
    r: &'a Resolver,
    anchors: &'a Anchors,
    keys: RefCell<HashMap<Name, Keys>>,
    ds: RefCell<HashMap<Name, Answer>>,
    zones: RefCell<HashMap<Name, Status>>,
}

impl<'a> Validator<'a> {
    pub fn new(r: &'a Resolver, anchors: &'a Anchors) -> Validator<'a> {
        Validator {
            r,
            anchors,
            keys: RefCell::default(),
            ds: RefCell::default(),
            zones: RefCell::default(),
        }
    }

    /// `n`/`t` with its status, CNAMEs followed (each step validated, or
    /// in `ad` mode the resolver's word for the whole answer).
    pub fn lookup(&self, n: &Name, t: RecordType) -> Result<Answer, DnsError> {
        if self.anchors.ad {
            return super::ad::lookup(self.r.servers(), n, t);
        }
        self.lookup_at(n, t, 0)
    }

    fn lookup_at(&self, n: &Name, t: RecordType, depth: usize) -> Result<Answer, DnsError> {
        if depth > MAX_DEPTH {
            return Err(DnsError::Temp);
        }
        let m = super::stub::ask(self.r.servers(), n, t, true)?;
        let mut status = Status::Secure;
        let mut chain = vec![n.clone()];
        for _ in 0..MAX_CNAME {
            let cur = &chain[chain.len() - 1];
            let set = rrset(&m.answers, cur, t);
            if !set.is_empty() {
                let st = self.rrset_status(cur, t, &set, &m, depth)?;
                return Ok(Answer {
                    status: worse(status, st),
                    records: set,
                    chain,
                    denial: None,
                });
            }
            let cn = rrset(&m.answers, cur, RecordType::CNAME);
            let target = cn.iter().find_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
            let Some(target) = target.filter(|_| t != RecordType::CNAME) else {
                break;
            };
            let st = self.rrset_status(cur, RecordType::CNAME, &cn, &m, depth)?;
            status = worse(status, st);
            chain.push(target);
        }
        if chain.len() > 1 {
            let last = &chain[chain.len() - 1];
            if chain[..chain.len() - 1].contains(last) {
                return Err(DnsError::Temp);
            }
            // The answer stopped at an alias: ask for the target itself.
            let mut a = self.lookup_at(&chain[chain.len() - 1], t, depth + 1)?;
            a.status = worse(status, a.status);
            chain.extend(a.chain.drain(1..));
            a.chain = chain;
            return Ok(a);
        }
        let (st, denial) = self.denial_status(n, t, &m, depth)?;
        Ok(Answer {
            status: st,
            records: Vec::new(),
            chain,
            denial,
        })
    }

    /// The zone whose status decides unsigned data at `n`: for DS, the
    /// parent's.
    fn holder(n: &Name, t: RecordType) -> Name {
        if t == RecordType::DS && !n.is_root() {
            n.base_name()
        } else {
            n.clone()
        }
    }

    /// May `signer` sign `t` at `owner`? An ancestor (DS: a proper one).
    fn may_sign(signer: &Name, owner: &Name, t: RecordType) -> bool {
        signer.zone_of(owner) && (t != RecordType::DS || signer != owner || owner.is_root())
    }

    fn rrset_status(
        &self,
        owner: &Name,
        t: RecordType,
        set: &[Record],
        m: &Message,
        depth: usize,
    ) -> Result<Status, DnsError> {
        let mut bogus = false;
        for s in sigs_over(&m.answers, owner, t) {
            let signer = &s.input().signer_name;
            if !Self::may_sign(signer, owner, t) {
                continue;
            }
            match self.keys(signer, depth + 1)? {
                Keys::Insecure => {}
                Keys::Bogus => bogus = true,
                Keys::Secure(k) => {
                    bogus = true;
                    if !verifies(s, owner, set, &k) {
                        continue;
                    }
                    // Expanded from a wildcard: the name itself must be
                    // proven not to exist (RFC 4035 §5.3.4).
                    let labels = s.input().num_labels;
                    if labels < signer.num_labels() {
                        continue;
                    }
                    if labels < owner.num_labels()
                        && !proof_records(signer, &k, &m.authorities)
                            .no_closer(owner, labels, signer)
                    {
                        continue;
                    }
                    return Ok(Status::Secure);
                }
            }
        }
        if bogus {
            return Ok(Status::Bogus);
        }
        // Unsigned, or signed by a zone without a chain of trust (a signer
        // above every anchor, say): fine only where the zone holding the
        // data is provably unsigned.
        self.unless_signed(owner, t, depth)
    }

    /// Insecure when the zone holding `n`/`t` is proven unsigned, bogus
    /// when it is signed.
    fn unless_signed(&self, n: &Name, t: RecordType, depth: usize) -> Result<Status, DnsError> {
        Ok(match self.zone_status(&Self::holder(n, t), depth + 1)? {
            Status::Secure => Status::Bogus,
            s => s,
        })
    }

    /// The status of "no `t` at `n`" in the answer `m`.
    fn denial_status(
        &self,
        n: &Name,
        t: RecordType,
        m: &Message,
        depth: usize,
    ) -> Result<(Status, Option<Proof>), DnsError> {
        let zone = m
            .authorities
            .iter()
            .filter_map(rrsig)
            .filter(|s| {
                matches!(
                    s.input().type_covered,
                    RecordType::NSEC | RecordType::NSEC3 | RecordType::SOA
                )
            })
            .map(|s| &s.input().signer_name)
            .filter(|z| Self::may_sign(z, n, t))
            .max_by_key(|z| len(z))
            .cloned();
        let Some(zone) = zone else {
            return Ok((self.unless_signed(n, t, depth)?, None));
        };
        let k = match self.keys(&zone, depth + 1)? {
            Keys::Secure(k) => k,
            Keys::Insecure => return Ok((self.unless_signed(n, t, depth)?, None)),
            Keys::Bogus => return Ok((Status::Bogus, None)),
        };
        let p = proof_records(&zone, &k, &m.authorities).proof(n, t, &zone);
        let st = match p {
            Proof::NoData { .. } | Proof::NxDomain => Status::Secure,
            Proof::OptOut => Status::Insecure,
            Proof::Bogus => Status::Bogus,
        };
        Ok((st, Some(p)))
    }

    /// The DS answer at `n`, asked once.
    fn ds(&self, n: &Name, depth: usize) -> Result<Answer, DnsError> {
        if let Some(a) = self.ds.borrow().get(n) {
            return Ok(a.clone());
        }
        let a = self.lookup_at(n, RecordType::DS, depth + 1)?;
        self.ds.borrow_mut().insert(n.clone(), a.clone());
        Ok(a)
    }

    fn keys(&self, zone: &Name, depth: usize) -> Result<Keys, DnsError> {
        if let Some(k) = self.keys.borrow().get(zone) {
            return Ok(k.clone());
        }
        let k = self.fetch_keys(zone, depth)?;
        self.keys.borrow_mut().insert(zone.clone(), k.clone());
        Ok(k)
    }

    /// The DNSKEYs of `zone`, trusted through an anchor or a secure DS set.
    fn fetch_keys(&self, zone: &Name, depth: usize) -> Result<Keys, DnsError> {
        if depth > MAX_DEPTH {
            return Ok(Keys::Bogus);
        }
        let a = self.anchors;
        let anchored: Vec<&DNSKEY> = a
            .keys
            .iter()
            .filter(|(n, _)| n == zone)
            .map(|(_, k)| k)
            .collect();
        let mut ds: Vec<DS> =
            a.ds.iter()
                .filter(|(n, _)| n == zone)
                .map(|(_, d)| d.clone())
                .collect();
        if anchored.is_empty() && ds.is_empty() {
            if !a.names().any(|n| n.zone_of(zone)) {
                return Ok(Keys::Insecure);
            }
            let d = self.ds(zone, depth)?;
            match d.status {
                Status::Insecure => return Ok(Keys::Insecure),
                Status::Bogus => return Ok(Keys::Bogus),
                Status::Secure => {}
            }
            if d.records.is_empty() || d.chain.len() > 1 {
                // No DS: an unsigned delegation, or no zone cut at all
                // (then nothing may sign in the name of `zone`).
                return Ok(match d.denial {
                    Some(Proof::NoData { cut: true }) => Keys::Insecure,
                    _ => Keys::Bogus,
                });
            }
            ds = d
                .records
                .into_iter()
                .filter_map(|r| match r.data {
                    RData::DNSSEC(DNSSECRData::DS(d)) => Some(d),
                    _ => None,
                })
                .collect();
        }
        ds.retain(|d| d.algorithm().is_supported() && d.digest_type().is_supported());
        if anchored.is_empty() && ds.is_empty() {
            // Only algorithms we cannot check (RFC 4035 §5.2).
            return Ok(Keys::Insecure);
        }
        let m = super::stub::ask(self.r.servers(), zone, RecordType::DNSKEY, true)?;
        let set = rrset(&m.answers, zone, RecordType::DNSKEY);
        let keys: Vec<DNSKEY> = set
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
                _ => None,
            })
            .collect();
        let entry: Vec<DNSKEY> = keys
            .iter()
            .filter(|k| {
                anchored.contains(k) || ds.iter().any(|d| d.covers(zone, k).unwrap_or(false))
            })
            .cloned()
            .collect();
        let ok = !entry.is_empty()
            && sigs_over(&m.answers, zone, RecordType::DNSKEY)
                .filter(|s| &s.input().signer_name == zone)
                .any(|s| verifies(s, zone, &set, &entry));
        Ok(if ok { Keys::Secure(keys) } else { Keys::Bogus })
    }

    /// Is the zone that holds `n` signed? Walks from the closest anchor
    /// down, one label at a time, asking for DS: a secure DS set enters a
    /// signed child, a proven absent DS at a delegation (or an NSEC3
    /// opt-out span) ends the chain of trust (RFC 4035 §5.2).
    fn zone_status(&self, n: &Name, depth: usize) -> Result<Status, DnsError> {
        if let Some(s) = self.zones.borrow().get(n) {
            return Ok(*s);
        }
        let s = self.walk(n, depth)?;
        self.zones.borrow_mut().insert(n.clone(), s);
        Ok(s)
    }

    fn walk(&self, n: &Name, depth: usize) -> Result<Status, DnsError> {
        if depth > MAX_DEPTH {
            return Ok(Status::Bogus);
        }
        let Some(anchor) = self
            .anchors
            .names()
            .filter(|a| a.zone_of(n))
            .max_by_key(|a| len(a))
        else {
            return Ok(Status::Insecure);
        };
        let anchor = anchor.clone();
        match self.keys(&anchor, depth + 1)? {
            Keys::Secure(_) => {}
            Keys::Insecure => return Ok(Status::Insecure),
            Keys::Bogus => return Ok(Status::Bogus),
        }
        for k in len(&anchor) + 1..=len(n) {
            let c = n.trim_to(k);
            let d = self.ds(&c, depth)?;
            match (d.status, d.records.is_empty(), d.denial) {
                (Status::Bogus, _, _) => return Ok(Status::Bogus),
                (Status::Insecure, _, _) => return Ok(Status::Insecure),
                (Status::Secure, false, _) => match self.keys(&c, depth + 1)? {
                    Keys::Secure(_) => {}
                    Keys::Insecure => return Ok(Status::Insecure),
                    Keys::Bogus => return Ok(Status::Bogus),
                },
                (Status::Secure, true, Some(Proof::NoData { cut: true })) => {
                    return Ok(Status::Insecure);
                }
                (Status::Secure, true, Some(Proof::NoData { cut: false })) => {}
                // Nothing exists below here: the signed zone holds n.
                (Status::Secure, true, _) => return Ok(Status::Secure),
            }
        }
        Ok(Status::Secure)
    }

    /// TLSA records at `_port._tcp.host`, validated.
    pub fn tlsa(&self, host: &Name, port: u16) -> Result<(Status, Vec<Tlsa>), DnsError> {
        let n = host
            .prepend_label("_tcp")
            .and_then(|n| n.prepend_label(format!("_{port}")))
            .map_err(|_| DnsError::Hard)?;
        let a = self.lookup(&n, RecordType::TLSA)?;
        Ok((a.status, tlsa_of(a.records)))
    }
}

/// The NSEC and NSEC3 records of the authority section that `zone`
/// signed with one of `keys`.
fn proof_records(zone: &Name, keys: &[DNSKEY], auth: &[Record]) -> nsec::Records {
    let mut out = nsec::Records::default();
    for r in auth {
        if !zone.zone_of(&r.name) {
            continue;
        }
        let t = r.record_type();
        let signed = || {
            let set = rrset(auth, &r.name, t);
            sigs_over(auth, &r.name, t)
                .filter(|s| &s.input().signer_name == zone)
                .any(|s| verifies(s, &r.name, &set, keys))
        };
        match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(x)) if signed() => {
                out.nsec.push((r.name.clone(), x.clone()));
            }
            RData::DNSSEC(DNSSECRData::NSEC3(x)) if signed() => {
                out.nsec3.push((r.name.clone(), x.clone()));
            }
            _ => {}
        }
    }
    out
}

fn tlsa_of(recs: Vec<Record>) -> Vec<Tlsa> {
    recs.into_iter()
        .filter_map(|r| match r.data {
            RData::TLSA(t) => Some(Tlsa {
                usage: t.cert_usage.into(),
                selector: t.selector.into(),
                matching: t.matching.into(),
                data: t.cert_data,
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_base64_padding_optional() {
        let unbase64 = |s: &str| crate::codec::b64_decode_lenient(s.as_bytes());
        assert_eq!(unbase64("AQID"), Some(vec![1, 2, 3]));
        assert_eq!(unbase64("AQI="), Some(vec![1, 2]));
        assert_eq!(unbase64("AQI"), Some(vec![1, 2]));
        assert_eq!(unbase64("AQ!D"), None);
    }

    #[test]
    fn anchors_file() {
        let a = Anchors::parse(
            "; root\n. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
             example. IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4= ; test\n\
             junk line\n",
        );
        assert_eq!(a.ds.len(), 1);
        assert_eq!(a.ds[0].1.key_tag(), 20326);
        assert_eq!(a.keys.len(), 1);
        assert!(a.keys[0].1.is_key_signing_key());
        assert_eq!(a.keys[0].0, name("example").unwrap());
        assert!(!a.ad);
        let a = Anchors::parse("# resolver\n AD \n");
        assert!(a.ad && a.ds.is_empty());
    }

    /// conf-files/trustanchors, installed by package/control: the root's
    /// KSK-2017 and KSK-2024, each DS the digest of its DNSKEY.
    #[test]
    fn shipped_root_anchors() {
        let text = include_str!("../../../conf-files/trustanchors");
        let a = Anchors::parse(text);
        let root = Name::root();
        let tags: Vec<u16> = a.ds.iter().map(|(_, d)| d.key_tag()).collect();
        assert_eq!(tags, [20326, 38696]);
        assert_eq!(a.keys.len(), 2);
        for ((n, k), (m, d)) in a.keys.iter().zip(&a.ds) {
            assert!(n.is_root() && m.is_root());
            assert_eq!(k.calculate_key_tag().unwrap(), d.key_tag());
            assert!(k.is_key_signing_key() && k.zone_key() && !k.revoke());
            assert!(
                d.covers(&root, k).unwrap(),
                "DS {} is the DNSKEY's",
                d.key_tag()
            );
        }
        assert!(!a.ad);
    }
}
