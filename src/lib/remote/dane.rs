//! DANE for SMTP (RFC 7672): the peer's certificate against the MX's
//! DNSSEC-secure TLSA records. Usages 2 (DANE-TA) and 3 (DANE-EE),
//! selectors 0 (certificate) and 1 (SubjectPublicKeyInfo), matching types
//! 0 (exact), 1 (SHA-256) and 2 (SHA-512). PKIX usages 0 and 1 are unusable
//! for SMTP (RFC 7672 §3.1.3) and ignored.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::dns::dnssec::Tlsa;

/// The records DANE can use; empty means "no DANE for this MX".
pub fn usable(v: Vec<Tlsa>) -> Vec<Tlsa> {
    v.into_iter()
        .filter(|t| matches!(t.usage, 2 | 3) && t.selector <= 1 && t.matching <= 2)
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

/// The SubjectPublicKeyInfo of a certificate, as DER.
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (_, c, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(c)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    // serial, signature, issuer, validity, subject, then the key.
    for _ in 0..5 {
        rest = tlv(rest)?.2;
    }
    Some(tlv(rest)?.0)
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

/// Is the chain `certs` (leaf first) acceptable under the records `tlsa`
/// for the MX `mx_host`? DANE-EE: the leaf matches, no name or date check.
/// DANE-TA: a certificate of the chain matches and the leaf verifies up to
/// it for the name `mx_host`.
pub fn verify(
    certs: &[CertificateDer<'_>],
    tlsa: &[Tlsa],
    mx_host: &str,
    p: &Arc<CryptoProvider>,
) -> bool {
    let Some(leaf) = certs.first() else {
        return false;
    };
    if tlsa.iter().any(|t| t.usage == 3 && matches(leaf, t)) {
        return true;
    }
    let Ok(name) = ServerName::try_from(mx_host.trim_end_matches('.').to_string()) else {
        return false;
    };
    for ta in &certs[1..] {
        if !tlsa.iter().any(|t| t.usage == 2 && matches(ta, t)) {
            continue;
        }
        let mut roots = RootCertStore::empty();
        if roots.add(ta.clone().into_owned()).is_err() {
            continue;
        }
        let Ok(v) = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), p.clone()).build()
        else {
            continue;
        };
        if v.verify_server_cert(leaf, &certs[1..], &name, &[], UnixTime::now())
            .is_ok()
        {
            return true;
        }
    }
    false
}
