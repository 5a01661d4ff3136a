//! DANE for SMTP (RFC 7672): when DANE applies to an MX host (§2.2) and
//! what its certificate must then match (§3). Usages 2 (DANE-TA) and 3
//! (DANE-EE), selectors 0 (certificate) and 1 (SubjectPublicKeyInfo),
//! matching types 0 (exact), 1 (SHA-256) and 2 (SHA-512). PKIX usages 0
//! and 1 are unusable for SMTP (RFC 7672 §3.1.3) and ignored.
//!
//! DANE applies to a host only when every step to its TLSA records is
//! DNSSEC-secure: the MX RRset of the destination (or its proven absence,
//! the implicit MX), the host's address records with any CNAMEs on the
//! way, and the TLSA RRset (tried at the CNAME-expanded name first, then
//! at the host name). A proven insecure step means no DANE (opportunistic
//! TLS as before); a bogus step or a lookup that fails for now means the
//! host is not tried this time.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, RecordType};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

use super::report::tls_fail;
use crate::dns::dnssec::{Anchors, Answer, Status, Tlsa, Validator};
use crate::dns::{self, Resolver};

pub const BOGUS_MX: &str = "DNSSEC validation failed for the MX records of";
pub const BOGUS_ADDR: &str = "DNSSEC validation failed for the address records of";
pub const BOGUS_TLSA: &str = "DNSSEC validation failed for the TLSA records of";
pub const TEMP: &str = "Temporary failure in the DNSSEC lookups for";

/// What DANE asks of the TLS session with one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The usable records; empty when every record is unusable: TLS is
    /// then mandatory but the peer is not authenticated (RFC 7672 §2.2).
    pub tlsa: Vec<Tlsa>,
    /// Names a DANE-TA certificate may be issued to (RFC 7672 §3.2.2): the
    /// TLSA base domain first (also sent as SNI), then the MX host name.
    pub names: Vec<String>,
}

/// The outcome for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No DANE: opportunistic TLS as tlsdestinations says.
    Off,
    /// TLS is mandatory and the certificate must match.
    On(Policy),
    /// Do not try this host now; the report if no other host takes the
    /// message.
    Defer(Vec<u8>),
}

/// The DANE decisions of one delivery, each lookup made once.
pub struct Dane<'a> {
    v: Option<Validator<'a>>,
    /// The destination whose MX records name the hosts; `None` for a
    /// relay route (its host needs no MX).
    domain: Option<&'a str>,
    port: u16,
    mx: OnceCell<Result<Option<Vec<Name>>, Vec<u8>>>,
    /// Per (host, IPv4?): the decision and the DNSSEC-secure addresses it
    /// holds for (`None`: every address).
    hosts: RefCell<HashMap<(String, bool), ForHost>>,
}

/// A host's decision for one address family, and the secure addresses it
/// holds for (`None`: every address of the family).
type ForHost = (Decision, Option<Vec<IpAddr>>);

/// The decision for `ip`: an address the secure answer does not list is
/// not the host's (whatever the other addresses got).
fn for_ip((d, addrs): &ForHost, host: &str, ip: IpAddr) -> Decision {
    match addrs {
        Some(a) if !a.iter().any(|x| *x == ip || *x == ip.to_canonical()) => {
            Decision::Defer(tls_fail(BOGUS_ADDR, host))
        }
        _ => d.clone(),
    }
}

impl<'a> Dane<'a> {
    /// DANE is off without `anchors`.
    pub fn new(
        r: &'a Resolver,
        anchors: Option<&'a Anchors>,
        domain: Option<&'a str>,
        port: u16,
    ) -> Dane<'a> {
        Dane {
            v: anchors.map(|a| Validator::new(r, a)),
            domain,
            port,
            mx: OnceCell::new(),
            hosts: RefCell::default(),
        }
    }

    /// The decision for connecting to `host` at `ip`.
    pub fn decide(&self, host: &str, ip: IpAddr) -> Decision {
        let Some(v) = &self.v else {
            return Decision::Off;
        };
        if super::literal(host).is_some() || host.parse::<IpAddr>().is_ok() {
            return Decision::Off;
        }
        let key = (host.to_ascii_lowercase(), ip.is_ipv4());
        if let Some(f) = self.hosts.borrow().get(&key) {
            return for_ip(f, host, ip);
        }
        let f = self.decide_uncached(v, host, ip.is_ipv4());
        let d = for_ip(&f, host, ip);
        self.hosts.borrow_mut().insert(key, f);
        d
    }

    fn decide_uncached(&self, v: &Validator<'_>, host: &str, v4: bool) -> ForHost {
        let Ok(hn) = dns::name(host) else {
            return (Decision::Off, None);
        };
        if let Some(domain) = self.domain {
            match self.mx.get_or_init(|| secure_mx(v, domain)) {
                Err(text) => return (Decision::Defer(text.clone()), None),
                Ok(None) => return (Decision::Off, None),
                // The host must be one the secure answer names (no MX
                // records: the domain itself).
                Ok(Some(hosts)) if !hosts.contains(&hn) => {
                    return (Decision::Defer(tls_fail(BOGUS_MX, domain)), None);
                }
                Ok(Some(_)) => {}
            }
        }
        let t = if v4 { RecordType::A } else { RecordType::AAAA };
        let a = match v.lookup(&hn, t) {
            Ok(a) => a,
            Err(_) => return (Decision::Defer(tls_fail(TEMP, host)), None),
        };
        match a.status {
            Status::Insecure => return (Decision::Off, None),
            Status::Bogus => return (Decision::Defer(tls_fail(BOGUS_ADDR, host)), None),
            Status::Secure => {}
        }
        let listed = a
            .records
            .iter()
            .filter_map(|r| match r.data {
                RData::A(x) => Some(IpAddr::V4(x.0)),
                RData::AAAA(x) => Some(IpAddr::V6(x.0)),
                _ => None,
            })
            .collect();
        (self.tlsa_decision(v, &a, &hn, host), Some(listed))
    }

    /// The TLSA policy of a host whose address answer `a` is secure.
    fn tlsa_decision(&self, v: &Validator<'_>, a: &Answer, hn: &Name, host: &str) -> Decision {
        // RFC 7672 §2.2.3: the CNAME-expanded name first, then the host.
        let mut bases = vec![a.canonical().clone()];
        if a.chain.len() > 1 {
            bases.push(hn.clone());
        }
        for base in bases {
            let (st, recs) = match v.tlsa(&base, self.port) {
                Ok(x) => x,
                Err(_) => return Decision::Defer(tls_fail(TEMP, host)),
            };
            match st {
                Status::Bogus => return Decision::Defer(tls_fail(BOGUS_TLSA, host)),
                Status::Secure if !recs.is_empty() => {
                    let mut names = vec![dns::text(&base)];
                    if base != *hn {
                        names.push(host.trim_end_matches('.').to_string());
                    }
                    return Decision::On(Policy {
                        tlsa: usable(recs),
                        names,
                    });
                }
                _ => {}
            }
        }
        Decision::Off
    }
}

/// The MX hosts of `domain` when its MX RRset (or the proof that it has
/// none: the domain is its own MX) is secure; `None` when insecure.
fn secure_mx(v: &Validator<'_>, domain: &str) -> Result<Option<Vec<Name>>, Vec<u8>> {
    let n = dns::name(domain).map_err(|_| tls_fail(BOGUS_MX, domain))?;
    let a = v
        .lookup(&n, RecordType::MX)
        .map_err(|_| tls_fail(TEMP, domain))?;
    match a.status {
        Status::Insecure => Ok(None),
        Status::Bogus => Err(tls_fail(BOGUS_MX, domain)),
        Status::Secure if a.records.is_empty() => Ok(Some(vec![n])),
        Status::Secure => Ok(Some(
            a.records
                .into_iter()
                .filter_map(|r| match r.data {
                    RData::MX(m) => Some(m.exchange),
                    _ => None,
                })
                .collect(),
        )),
    }
}

/// The records DANE can use; empty means "no DANE for this MX".
/// Digest agility (RFC 7671 §9): where a usage and selector have SHA-512
/// records, their SHA-256 records are not used.
pub fn usable(v: Vec<Tlsa>) -> Vec<Tlsa> {
    let v: Vec<Tlsa> = v
        .into_iter()
        .filter(|t| matches!(t.usage, 2 | 3) && t.selector <= 1 && t.matching <= 2)
        .collect();
    let strong: Vec<(u8, u8)> = v
        .iter()
        .filter(|t| t.matching == 2)
        .map(|t| (t.usage, t.selector))
        .collect();
    v.into_iter()
        .filter(|t| t.matching != 1 || !strong.contains(&(t.usage, t.selector)))
        .collect()
}

/// One DER element at the start of `d`: (whole TLV, contents, rest).
fn tlv(d: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let first = *d.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = d
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |a, &b| a << 8 | usize::from(b));
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((d.get(..end)?, d.get(hdr..end)?, d.get(end..)?))
}

/// The field of a certificate's TBSCertificate after `skip` others (the
/// version excepted): (whole TLV, contents).
fn tbs_field(cert: &[u8], skip: usize) -> Option<(&[u8], &[u8])> {
    let (_, c, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(c)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    for _ in 0..skip {
        rest = tlv(rest)?.2;
    }
    let (whole, contents, _) = tlv(rest)?;
    Some((whole, contents))
}

/// The SubjectPublicKeyInfo of a certificate, as DER (after serial,
/// signature, issuer, validity and subject).
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    tbs_field(cert, 5).map(|f| f.0)
}

/// Does `cert` match the record's selector and matching type?
pub fn matches(cert: &[u8], t: &Tlsa) -> bool {
    let Some(sel) = (match t.selector {
        0 => Some(cert),
        1 => spki(cert),
        _ => None,
    }) else {
        return false;
    };
    match t.matching {
        0 => sel == t.data.as_slice(),
        1 => ring::digest::digest(&ring::digest::SHA256, sel).as_ref() == t.data.as_slice(),
        2 => ring::digest::digest(&ring::digest::SHA512, sel).as_ref() == t.data.as_slice(),
        _ => false,
    }
}

/// The issuer Name of a certificate (after serial and signature), the
/// contents of its SEQUENCE.
fn issuer(cert: &[u8]) -> Option<&[u8]> {
    tbs_field(cert, 2).map(|f| f.1)
}

/// Is the chain `certs` (leaf first, as the server sent it) acceptable
/// under `policy`? No usable records: any certificate (encryption only).
/// DANE-EE: the leaf matches; names and dates are not checked (RFC 7672
/// §3.1.1). DANE-TA: a certificate the server sent matches (or a `2 1 0`
/// record holds the key that issued the top of the chain), the leaf
/// verifies up to it through the chain, dates included, and carries one
/// of the policy's names (§3.1.2, §3.2.2; a `*.` wildcard covers one label).
pub fn verify(certs: &[CertificateDer<'_>], policy: &Policy, p: &Arc<CryptoProvider>) -> bool {
    let Some(leaf) = certs.first() else {
        return false;
    };
    let tlsa = &policy.tlsa;
    if tlsa.is_empty() || tlsa.iter().any(|t| t.usage == 3 && matches(leaf, t)) {
        return true;
    }
    let mut roots = RootCertStore::empty();
    for ta in &certs[1..] {
        if tlsa.iter().any(|t| t.usage == 2 && matches(ta, t)) {
            let _ = roots.add(ta.clone().into_owned());
        }
    }
    let top = &certs[certs.len() - 1];
    for t in tlsa
        .iter()
        .filter(|t| (t.usage, t.selector, t.matching) == (2, 1, 0))
    {
        if let (Some(subject), Some((_, key, _))) = (issuer(top), tlv(&t.data)) {
            roots.roots.push(TrustAnchor {
                subject: subject.to_vec().into(),
                subject_public_key_info: key.to_vec().into(),
                name_constraints: None,
            });
        }
    }
    if roots.is_empty() {
        return false;
    }
    let Ok(v) = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), p.clone()).build()
    else {
        return false;
    };
    policy.names.iter().any(|n| {
        ServerName::try_from(n.trim_end_matches('.').to_string()).is_ok_and(|name| {
            v.verify_server_cert(leaf, &certs[1..], &name, &[], UnixTime::now())
                .is_ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    #[test]
    fn a_cached_decision_holds_only_for_listed_addresses() {
        let on = Decision::On(Policy {
            tlsa: Vec::new(),
            names: vec!["mx.example".into()],
        });
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let f = (on.clone(), Some(vec![ip("192.0.2.1"), ip("2001:db8::1")]));
        assert_eq!(for_ip(&f, "mx.example", ip("192.0.2.1")), on);
        assert_eq!(for_ip(&f, "mx.example", ip("::ffff:192.0.2.1")), on);
        assert_eq!(for_ip(&f, "mx.example", ip("2001:db8::1")), on);
        assert_eq!(
            for_ip(&f, "mx.example", ip("192.0.2.2")),
            Decision::Defer(tls_fail(BOGUS_ADDR, "mx.example"))
        );
        // Decided before any address was looked at: for every address.
        assert_eq!(
            for_ip(&(Decision::Off, None), "mx", ip("192.0.2.2")),
            Decision::Off
        );
    }

    #[test]
    fn usable_records_and_digest_agility() {
        let v = usable(vec![
            t(3, 1, 1, vec![1]),
            t(3, 1, 2, vec![2]),
            t(3, 0, 1, vec![3]),
            t(1, 1, 1, vec![4]),
            t(3, 2, 1, vec![5]),
            t(2, 0, 0, vec![6]),
            t(3, 1, 3, vec![7]),
        ]);
        let data: Vec<u8> = v.iter().map(|x| x.data[0]).collect();
        assert_eq!(data, [2, 3, 6]);
    }

    #[test]
    fn ee_ta_and_encrypt_only() {
        let ck = rcgen::generate_simple_self_signed(vec!["a.example".to_string()]).unwrap();
        let der = ck.cert.der().clone();
        assert_eq!(
            spki(&der).unwrap(),
            rcgen::PublicKeyData::subject_public_key_info(&ck.signing_key)
        );
        // Self-signed: the issuer is the subject.
        assert!(issuer(&der).is_some_and(|i| !i.is_empty()));
        let sha = |d: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, d)
                .as_ref()
                .to_vec()
        };
        let p = Arc::new(rustls::crypto::ring::default_provider());
        let policy = |tlsa: Vec<Tlsa>| Policy {
            tlsa,
            names: vec!["mx.example".to_string()],
        };
        let chain = [der.clone()];
        // DANE-EE: the name a.example is not mx.example, and that is fine.
        assert!(verify(
            &chain,
            &policy(vec![t(3, 1, 1, sha(spki(&der).unwrap()))]),
            &p
        ));
        assert!(verify(&chain, &policy(vec![t(3, 0, 0, der.to_vec())]), &p));
        assert!(!verify(&chain, &policy(vec![t(3, 1, 1, vec![0; 32])]), &p));
        // DANE-TA needs a certificate besides the leaf.
        assert!(!verify(&chain, &policy(vec![t(2, 0, 1, sha(&der))]), &p));
        assert!(verify(&chain, &policy(Vec::new()), &p), "encrypt only");
        assert!(!verify(&[], &policy(Vec::new()), &p));
    }
}
