//! TLSA lookups with their DNSSEC status (RFC 6698, RFC 7672 §2.2), and a
//! small validator: an RRset is secure when one of its RRSIGs, valid now,
//! verifies with a DNSKEY of the signer's zone, and that zone's DNSKEY set
//! is signed by a key that a trust anchor names, or that a secure DS set
//! of the parent names (walked up to an anchor). Anything else is
//! insecure; a signed answer whose signatures all fail below a secure zone
//! is bogus. Only positive answers are proven: a missing TLSA record means
//! "no DANE" in any case.

use std::path::{Path, PathBuf};

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, PublicKeyBuf, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::{DnsError, Resolver, name};

/// Longest chain of zones walked up to an anchor.
const MAX_DEPTH: usize = 12;

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

impl Resolver {
    /// The TLSA records at `_port._tcp.host` and whether they are secure.
    pub fn tlsa(&self, host: &str, port: u16) -> Result<(Status, Vec<Tlsa>), DnsError> {
        let n = name(&format!("_{port}._tcp.{host}"))?;
        Ok((
            Status::Insecure,
            tlsa_of(self.records(&n, RecordType::TLSA)?),
        ))
    }
}

/// Trust anchors: DS or DNSKEY records in zone-file form
/// (`zone. [ttl] [IN] DS tag alg type hex`, `zone. [ttl] [IN] DNSKEY flags
/// 3 alg base64`), as unbound's root.key; `;` and `#` start comments.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    ds: Vec<(Name, DS)>,
    keys: Vec<(Name, DNSKEY)>,
}

impl Anchors {
    /// The anchors of the file named by `$DNSSEC_TRUST_ANCHORS`, else of
    /// `default`; `None` when there is none (DANE is then off).
    pub fn load(default: &Path) -> Option<Anchors> {
        let path = std::env::var_os("DNSSEC_TRUST_ANCHORS")
            .map(PathBuf::from)
            .unwrap_or_else(|| default.to_path_buf());
        let a = Anchors::parse(&std::fs::read_to_string(path).ok()?);
        (!a.ds.is_empty() || !a.keys.is_empty()).then_some(a)
    }

    pub fn parse(text: &str) -> Anchors {
        let mut a = Anchors::default();
        for line in text.lines() {
            let line = line.split([';', '#']).next().unwrap_or("");
            let w: Vec<&str> = line.split_whitespace().collect();
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
            } else if let Some(k) = crate::remote::auth::unbase64(blob.as_bytes()) {
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

impl Resolver {
    /// The RRset `n`/`rtype` (no CNAME chasing) and its status.
    pub fn secure_rrset(
        &self,
        n: &Name,
        rtype: RecordType,
        anchors: &Anchors,
        depth: usize,
    ) -> Result<(Status, Vec<Record>), DnsError> {
        let m = self.message(n, rtype, true)?;
        let rrset: Vec<Record> = m
            .answers
            .iter()
            .filter(|r| &r.name == n && r.record_type() == rtype)
            .cloned()
            .collect();
        if rrset.is_empty() {
            return Ok((Status::Insecure, rrset));
        }
        let sigs: Vec<&RRSIG> = m
            .answers
            .iter()
            .filter(|r| &r.name == n)
            .filter_map(rrsig)
            .filter(|s| s.input().type_covered == rtype)
            .collect();
        let mut signed_zone = false;
        for s in &sigs {
            let signer = &s.input().signer_name;
            // The signer must be the name itself or an ancestor.
            if !signer.zone_of(n) {
                continue;
            }
            let Some(keys) = self.zone_keys(signer, anchors, depth + 1)? else {
                continue;
            };
            signed_zone = true;
            if verifies(s, n, &rrset, &keys) {
                return Ok((Status::Secure, rrset));
            }
        }
        let status = if signed_zone {
            Status::Bogus
        } else {
            Status::Insecure
        };
        Ok((status, rrset))
    }

    /// The validated DNSKEYs of `zone`, `None` when there is no secure chain.
    fn zone_keys(
        &self,
        zone: &Name,
        anchors: &Anchors,
        depth: usize,
    ) -> Result<Option<Vec<DNSKEY>>, DnsError> {
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        let m = self.message(zone, RecordType::DNSKEY, true)?;
        let rrset: Vec<Record> = m
            .answers
            .iter()
            .filter(|r| &r.name == zone && r.record_type() == RecordType::DNSKEY)
            .cloned()
            .collect();
        let keys: Vec<DNSKEY> = rrset
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
                _ => None,
            })
            .collect();
        let sigs: Vec<&RRSIG> = m
            .answers
            .iter()
            .filter(|r| &r.name == zone)
            .filter_map(rrsig)
            .filter(|s| s.input().type_covered == RecordType::DNSKEY)
            .collect();
        // Keys trusted to sign the DNSKEY set: anchored keys, or keys a
        // DS record (anchored, or secure in the parent) names.
        let mut entry: Vec<DNSKEY> = anchors
            .keys
            .iter()
            .filter(|(n, k)| n == zone && keys.contains(k))
            .map(|(_, k)| k.clone())
            .collect();
        if entry.is_empty() {
            let mut ds: Vec<DS> = anchors
                .ds
                .iter()
                .filter(|(n, _)| n == zone)
                .map(|(_, d)| d.clone())
                .collect();
            if ds.is_empty() && !zone.is_root() {
                let (st, v) = self.secure_rrset(zone, RecordType::DS, anchors, depth)?;
                if st != Status::Secure {
                    return Ok(None);
                }
                ds = v
                    .into_iter()
                    .filter_map(|r| match r.data {
                        RData::DNSSEC(DNSSECRData::DS(d)) => Some(d),
                        _ => None,
                    })
                    .collect();
            }
            entry = keys
                .iter()
                .filter(|k| ds.iter().any(|d| d.covers(zone, k).unwrap_or(false)))
                .cloned()
                .collect();
        }
        if entry.is_empty() {
            return Ok(None);
        }
        if sigs.iter().any(|s| verifies(s, zone, &rrset, &entry)) {
            Ok(Some(keys))
        } else {
            Ok(None)
        }
    }

    /// TLSA records validated from `anchors`.
    pub fn tlsa_secure(
        &self,
        host: &str,
        port: u16,
        anchors: &Anchors,
    ) -> Result<(Status, Vec<Tlsa>), DnsError> {
        let n = name(&format!("_{port}._tcp.{host}"))?;
        let (st, recs) = self.secure_rrset(&n, RecordType::TLSA, anchors, 0)?;
        Ok((st, tlsa_of(recs)))
    }
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
    }
}
