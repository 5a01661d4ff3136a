//! Keys: the private keys a signer loads (PEM, as the TLS programs read
//! them, or a bare base64 Ed25519 seed as dkimpy writes it), and the public
//! key records a verifier finds in the DNS (`v=DKIM1; k=; p=; t=`).

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;

use super::{Algorithm, tags};
use crate::codec;

pub enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    /// The key in file `path`: RSA (PKCS#8 or PKCS#1, 2048 to 4096 bits)
    /// or Ed25519 (PKCS#8, or a base64 32-byte seed).
    pub fn load(path: &Path) -> Result<SigningKey, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| at(&e))?);
        if !text.starts_with(b"-----") {
            let seed =
                zeroize::Zeroizing::new(codec::b64_decode_lenient(&text).unwrap_or_default());
            if seed.len() == 32 {
                return Ed25519KeyPair::from_seed_unchecked(&seed)
                    .map(SigningKey::Ed25519)
                    .map_err(|e| at(&e));
            }
        }
        match crate::tls::key::load_key(path)? {
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
                .map(SigningKey::Rsa)
                .map_err(|e| at(&e)),
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                match RsaKeyPair::from_pkcs8(der) {
                    Ok(k) => Ok(SigningKey::Rsa(k)),
                    Err(rsa) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                        .map(SigningKey::Ed25519)
                        .map_err(|_| at(&format!("not an RSA or Ed25519 key ({rsa})"))),
                }
            }
            _ => Err(at(&"not an RSA or Ed25519 key")),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Rsa(_) => Algorithm::RsaSha256,
            SigningKey::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The signature of `data` (for Ed25519, of its SHA-256: RFC 8463).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            SigningKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            SigningKey::Ed25519(k) => {
                let h = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(k.sign(h.as_ref()).as_ref().to_vec())
            }
        }
    }

    /// The key record to publish at `SELECTOR._domainkey.DOMAIN`.
    pub fn record(&self) -> String {
        match self {
            SigningKey::Rsa(k) => {
                let spki = rsa_spki(k.public().as_ref());
                format!("v=DKIM1; k=rsa; p={}", codec::b64_encode(&spki))
            }
            SigningKey::Ed25519(k) => format!(
                "v=DKIM1; k=ed25519; p={}",
                codec::b64_encode(k.public_key().as_ref())
            ),
        }
    }
}

/// A public key from the DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    /// RSA: the PKCS#1 RSAPublicKey; Ed25519: the 32 bytes.
    pub der: Vec<u8>,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
    /// `t=s`: `i=` must be in `d=` itself, not a subdomain.
    pub strict: bool,
}

/// Why a key record is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// `p=` empty: the key was withdrawn.
    Revoked,
    Bad(&'static str),
}

/// Parses one key record (its TXT strings already joined).
pub fn parse_record(rec: &[u8]) -> Result<PublicKey, KeyError> {
    let t = tags::parse(rec).map_err(KeyError::Bad)?;
    if let Some(v) = tags::get(&t, "v")
        && (v != b"DKIM1" || t[0].name != b"v")
    {
        return Err(KeyError::Bad("key record not v=DKIM1"));
    }
    if let Some(h) = tags::get(&t, "h") {
        let h = tags::compact(h);
        if !h
            .split(|&c| c == b':')
            .any(|a| a.eq_ignore_ascii_case(b"sha256"))
        {
            return Err(KeyError::Bad("key not for sha256"));
        }
    }
    if let Some(s) = tags::get(&t, "s") {
        let s = tags::compact(s);
        if !s
            .split(|&c| c == b':')
            .any(|a| a == b"*" || a.eq_ignore_ascii_case(b"email"))
        {
            return Err(KeyError::Bad("key not for email"));
        }
    }
    let k = tags::get(&t, "k").map(tags::compact);
    let algorithm = match k.as_deref() {
        None | Some(b"rsa") => Algorithm::RsaSha256,
        Some(b"ed25519") => Algorithm::Ed25519Sha256,
        Some(_) => return Err(KeyError::Bad("unknown key type")),
    };
    let p = tags::compact(tags::get(&t, "p").ok_or(KeyError::Bad("key without p="))?);
    if p.is_empty() {
        return Err(KeyError::Revoked);
    }
    let raw = codec::b64_decode_lenient(&p).ok_or(KeyError::Bad("key p= not base64"))?;
    let der = match algorithm {
        Algorithm::RsaSha256 => {
            let der = rsa_public(&raw).ok_or(KeyError::Bad("RSA key not understood"))?;
            if rsa_bits(&der) < 1024 {
                return Err(KeyError::Bad("RSA key shorter than 1024 bits"));
            }
            der
        }
        Algorithm::Ed25519Sha256 if raw.len() == 32 => raw,
        Algorithm::Ed25519Sha256 => return Err(KeyError::Bad("Ed25519 key not 32 bytes")),
    };
    let flags = tags::get(&t, "t").map(tags::compact).unwrap_or_default();
    let flag = |f: &[u8]| flags.split(|&c| c == b':').any(|x| x == f);
    Ok(PublicKey {
        algorithm,
        der,
        testing: flag(b"y"),
        strict: flag(b"s"),
    })
}

/// Checks `sig` over `data` with `key` (RSA of at least 1024 bits: RFC 8301).
pub fn verify(key: &PublicKey, data: &[u8], sig: &[u8]) -> bool {
    match key.algorithm {
        Algorithm::RsaSha256 => signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            &key.der,
        )
        .verify(data, sig)
        .is_ok(),
        Algorithm::Ed25519Sha256 => {
            let h = ring::digest::digest(&ring::digest::SHA256, data);
            signature::UnparsedPublicKey::new(&signature::ED25519, &key.der)
                .verify(h.as_ref(), sig)
                .is_ok()
        }
    }
}

/// One DER element at the start of `d`: its tag, contents and the rest.
fn der(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l, mut d) = d.split_first()?;
    let len = if l < 0x80 {
        usize::from(l)
    } else {
        let n = usize::from(l & 0x7f);
        if n == 0 || n > 3 || d.len() < n {
            return None;
        }
        let v = d[..n].iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
        d = &d[n..];
        v
    };
    (d.len() >= len).then(|| (tag, &d[..len], &d[len..]))
}

/// The PKCS#1 RSAPublicKey in `raw`: a SubjectPublicKeyInfo (what keys
/// are published as) or already an RSAPublicKey.
fn rsa_public(raw: &[u8]) -> Option<Vec<u8>> {
    let (tag, seq, _) = der(raw)?;
    if tag != 0x30 {
        return None;
    }
    let (t1, _, rest) = der(seq)?;
    match t1 {
        0x02 => Some(raw.to_vec()),
        0x30 => {
            let (t2, bits, _) = der(rest)?;
            match (t2, bits.split_first()) {
                (0x03, Some((0, key))) => Some(key.to_vec()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The modulus length in bits of a PKCS#1 RSAPublicKey (0 when it does
/// not parse).
fn rsa_bits(pkcs1: &[u8]) -> usize {
    let Some((0x30, seq, _)) = der(pkcs1) else {
        return 0;
    };
    let Some((0x02, n, _)) = der(seq) else {
        return 0;
    };
    let n = &n[n.iter().take_while(|&&b| b == 0).count()..];
    n.first()
        .map_or(0, |&top| n.len() * 8 - top.leading_zeros() as usize)
}

/// `pkcs1` wrapped as a SubjectPublicKeyInfo (rsaEncryption, NULL).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    fn len(n: usize, out: &mut Vec<u8>) {
        match n {
            0..0x80 => out.push(n as u8),
            0x80..0x100 => out.extend_from_slice(&[0x81, n as u8]),
            _ => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
    }
    const ALG: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    len(pkcs1.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    len(ALG.len() + bits.len(), &mut out);
    out.extend_from_slice(ALG);
    out.extend_from_slice(&bits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let k = parse_record(
            b"v=DKIM1; k=ed25519; t=y:s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        )
        .unwrap();
        assert_eq!(k.algorithm, Algorithm::Ed25519Sha256);
        assert!(k.testing && k.strict);
        assert_eq!(parse_record(b"v=DKIM1; p="), Err(KeyError::Revoked));
        assert_eq!(
            parse_record(b"v=DKIM1; k=dsa; p=AAAA"),
            Err(KeyError::Bad("unknown key type"))
        );
        assert_eq!(
            parse_record(b"k=rsa; p=!!!"),
            Err(KeyError::Bad("key p= not base64"))
        );
        assert_eq!(
            parse_record(b"k=rsa; p=AAAA"),
            Err(KeyError::Bad("RSA key not understood"))
        );
        assert_eq!(parse_record(b"k=rsa"), Err(KeyError::Bad("key without p=")));
        assert_eq!(
            parse_record(b"k=rsa; v=DKIM1; p=AAAA"),
            Err(KeyError::Bad("key record not v=DKIM1"))
        );
        assert_eq!(
            parse_record(b"v=DKIM1; h=sha1; p=AAAA"),
            Err(KeyError::Bad("key not for sha256"))
        );
        assert_eq!(
            parse_record(b"p=AA; p=AA"),
            Err(KeyError::Bad("duplicate tag"))
        );
        assert!(matches!(
            parse_record(&[b'x'; 70000]),
            Err(KeyError::Bad(_))
        ));
    }

    #[test]
    fn der_lengths_are_checked() {
        assert_eq!(rsa_public(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(rsa_public(&[0x30, 0x05, 0x02]), None);
        assert_eq!(rsa_public(&[]), None);
        let spki = rsa_spki(&[0x30, 0x03, 0x02, 0x01, 0x05]);
        assert_eq!(rsa_public(&spki).unwrap(), [0x30, 0x03, 0x02, 0x01, 0x05]);
        assert_eq!(rsa_bits(&[0x30, 0x03, 0x02, 0x01, 0x05]), 3);
        assert_eq!(rsa_bits(&[0x30, 0x04, 0x02, 0x02, 0x00, 0x80]), 8);
        assert_eq!(rsa_bits(&[0x30, 0x02, 0x02, 0x00]), 0);
        assert_eq!(rsa_bits(&[0x02]), 0);
        // A short key published: refused before any signature is tried.
        let short = format!("p={}", codec::b64_encode(&spki));
        assert_eq!(
            parse_record(short.as_bytes()),
            Err(KeyError::Bad("RSA key shorter than 1024 bits"))
        );
    }
    fn openssl(args: &[&str]) -> bool {
        std::process::Command::new("openssl")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn rsa_keys_from_pkcs8_and_pkcs1() {
        let dir = std::env::temp_dir().join(format!("sqmail-dkim-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (p8, p1, small) = (dir.join("8.pem"), dir.join("1.pem"), dir.join("s.pem"));
        let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
        let keygen = |bits: &str, out: &str| {
            openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                bits,
                "-out",
                out,
            ])
        };
        if !keygen("rsa_keygen_bits:2048", &s(&p8)) {
            return crate::testing::skip("openssl not installed (package/testdeps)");
        }
        assert!(openssl(&[
            "pkey",
            "-in",
            &s(&p8),
            "-traditional",
            "-out",
            &s(&p1)
        ]));
        assert!(
            std::fs::read_to_string(&p1)
                .unwrap()
                .contains("BEGIN RSA PRIVATE KEY")
        );
        for p in [&p8, &p1] {
            let k = SigningKey::load(p).unwrap();
            assert_eq!(k.algorithm(), Algorithm::RsaSha256);
            // The record is what openssl publishes (SubjectPublicKeyInfo).
            let der = std::process::Command::new("openssl")
                .args(["pkey", "-in", &s(p), "-pubout", "-outform", "DER"])
                .output()
                .unwrap()
                .stdout;
            assert_eq!(
                k.record(),
                format!("v=DKIM1; k=rsa; p={}", codec::b64_encode(&der))
            );
            let public = parse_record(k.record().as_bytes()).unwrap();
            let sig = k.sign(b"data").unwrap();
            assert!(verify(&public, b"data", &sig));
            assert!(!verify(&public, b"date", &sig));
        }
        assert!(keygen("rsa_keygen_bits:1024", &s(&small)));
        assert!(
            SigningKey::load(&small).is_err(),
            "ring signs with 2048 bits and more"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
