//! The client side of TLS for qmail-remote (rustls, ring provider): the
//! handshake takes any certificate whose key signed the handshake; the
//! peer is checked afterwards as the `tlsdestinations` mode or the DANE
//! TLSA records demand (qmail-remote(8)), so that each failure gets
//! s/qmail's own report text. Roots (webpki-roots or a CA file/directory)
//! are loaded only when a certificate must be verified.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, InconsistentKeys, RootCertStore, StreamOwned,
};

use super::dane;
use super::report::tls_fail;
use super::route::TlsRule;
use crate::tls::verify::ServerCheck;

pub const NEGOTIATE: &str = "I wasn't able to negotiate a TLS connection with";
pub const ESTABLISH: &str = "I wasn't able to establish a TLS connection with";
pub const PROTOCOL: &str = "TLS connection/protocol error for host";
pub const NO_CERT: &str = "Unable to obtain X.500 certificate from";
pub const NOT_VERIFIED: &str = "Unable to verify X.500 certificate from";
pub const BAD_SUBJECT: &str = "Unable to validate X.500 certificate Subject for";
pub const BAD_DIGEST: &str = "Invalid digest length provided for";
pub const NO_CA: &str = "I wasn't able to set up CAFILE or CADIR for TLS with";
pub const CERT_LOAD: &str = "Can't load X.509 certificate";
pub const KEY_LOAD: &str = "Can't load X.509 private key";
pub const KEY_MISMATCH: &str = "Keyfile does not match X.509 certificate";
pub const DANE_MISMATCH: &str = "No TLSA record matches the X.509 certificate of";

/// The connection, plain or wrapped in TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Closed,
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
            Stream::Closed => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(s) => s.write(b),
            Stream::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Closed => Ok(()),
        }
    }
}

impl Stream {
    /// The socket's descriptor (-1 once closed).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Plain(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.sock.as_raw_fd(),
            Stream::Closed => -1,
        }
    }

    /// Ends the session: close_notify over TLS, then the socket is dropped.
    /// Only writes: waiting for the peer's own close could take up to
    /// timeoutremote.
    pub fn close(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            while s.conn.wants_write() {
                if s.conn.write_tls(&mut s.sock).is_err() {
                    break;
                }
            }
        }
        *self = Stream::Closed;
    }
}

/// rustls reports protocol trouble as `InvalidData` errors wrapping its own.
pub fn is_tls_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<rustls::Error>())
}

/// A client certificate from `domaincerts` (qmail-control(5)): the entry
/// `certfile[|keyfile[|password]]`, read only when a handshake needs it,
/// as s/qmail does (a broken entry does not hold up mail sent in clear).
#[derive(Debug, Default)]
pub struct TlsSetup {
    entry: Option<String>,
}

impl TlsSetup {
    /// Takes the `domaincerts` value; the files are read at the handshake.
    pub fn load(value: &str) -> Result<TlsSetup, Vec<u8>> {
        Ok(TlsSetup {
            entry: Some(value.to_string()),
        })
    }

    /// The chain (every certificate of certfile, leaf first) and the key
    /// (keyfile, else certfile: PKCS#8, PKCS#1 RSA or SEC1 EC), checked to
    /// belong together. Encrypted keys are not supported: the password
    /// field is ignored and such a key fails to load.
    fn certified_key(&self, p: &CryptoProvider) -> Result<Option<CertifiedKey>, Vec<u8>> {
        let Some(value) = &self.entry else {
            return Ok(None);
        };
        let mut f = value.split('|');
        let cert = f.next().unwrap_or("");
        let key = f.next().filter(|k| !k.is_empty()).unwrap_or(cert);
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|_| tls_fail(CERT_LOAD, cert))?;
        if certs.is_empty() {
            return Err(tls_fail(CERT_LOAD, cert));
        }
        let k = PrivateKeyDer::from_pem_file(key).map_err(|_| tls_fail(KEY_LOAD, key))?;
        let signer = p
            .key_provider
            .load_private_key(k)
            .map_err(|_| tls_fail(KEY_LOAD, key))?;
        let ck = CertifiedKey::new(certs, signer);
        match ck.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
                Ok(Some(ck))
            }
            Err(rustls::Error::InconsistentKeys(_)) => Err(tls_fail(KEY_MISMATCH, key)),
            // The leaf does not parse.
            Err(_) => Err(tls_fail(CERT_LOAD, cert)),
        }
    }
}

/// What one delivery's TLS peer is checked against.
pub struct Peer<'a> {
    pub rule: &'a TlsRule,
    /// The host after routing: what tlsdestinations matched and what
    /// certificate names are checked against.
    pub host: &'a str,
    pub setup: &'a TlsSetup,
    /// The DANE policy of this MX.
    pub dane: Option<&'a dane::Policy>,
}

/// Handshake on the connection's socket, then the peer check. The server
/// name sent (SNI) is the MX host name.
pub fn start(stream: &mut Stream, peer: &Peer<'_>, mx_host: &str) -> Result<(), Vec<u8>> {
    let host = peer.host;
    let Stream::Plain(tcp) = std::mem::replace(stream, Stream::Closed) else {
        return Err(tls_fail(ESTABLISH, host));
    };
    // The cipher list was checked when the rule was read (TlsRule::check).
    let p = match &peer.rule.ciphers {
        Some(list) => crate::tls::ciphers::provider(list).map_err(|_| tls_fail(ESTABLISH, host))?,
        None => crate::tls::provider(None),
    };
    let builder = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|_| tls_fail(ESTABLISH, host))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerCheck::any(&p)));
    let config = match peer.setup.certified_key(&p)? {
        Some(ck) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(ck))),
        None => builder.with_no_client_auth(),
    };
    // An address literal sends no SNI (RFC 6066 §3); with DANE the TLSA
    // base domain is sent (RFC 7672 §8.1).
    let sni = peer
        .dane
        .and_then(|d| d.names.first())
        .map_or(mx_host, String::as_str);
    let name = match super::literal(sni) {
        Some(ip) => ServerName::from(ip),
        None => ServerName::try_from(sni.trim_end_matches('.').to_string())
            .map_err(|_| tls_fail(ESTABLISH, host))?,
    };
    let c = ClientConnection::new(Arc::new(config), name).map_err(|_| tls_fail(ESTABLISH, host))?;
    let mut s = StreamOwned::new(c, tcp);
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .map_err(|_| tls_fail(ESTABLISH, host))?;
    }
    let certs: Vec<CertificateDer<'static>> = s
        .conn
        .peer_certificates()
        .unwrap_or(&[])
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    check_peer(&certs, peer, mx_host, &p)?;
    *stream = Stream::Tls(Box::new(s));
    Ok(())
}

fn check_peer(
    certs: &[CertificateDer<'static>],
    peer: &Peer<'_>,
    mx_host: &str,
    p: &Arc<CryptoProvider>,
) -> Result<(), Vec<u8>> {
    let host = peer.host;
    if let Some(policy) = peer.dane {
        return if dane::verify(certs, policy, p) {
            Ok(())
        } else {
            Err(tls_fail(DANE_MISMATCH, mx_host))
        };
    }
    let rule = peer.rule;
    let leaf = certs.first();
    if rule.mode >= 2 && rule.mode != 3 && leaf.is_none() {
        return Err(tls_fail(NO_CERT, host));
    }
    if let Some(pin) = &rule.pin {
        let leaf = leaf.ok_or_else(|| tls_fail(NO_CERT, host))?;
        return check_pin(leaf, pin, host);
    }
    let Some(leaf) = leaf.filter(|_| (4..=6).contains(&rule.mode)) else {
        return Ok(());
    };
    let roots = Arc::new(roots(rule.ca.as_deref()).ok_or_else(|| tls_fail(NO_CA, host))?);
    let v = WebPkiServerVerifier::builder_with_provider(roots.clone(), p.clone())
        .build()
        .map_err(|_| tls_fail(NO_CA, host))?;
    let name = ServerName::try_from(host.to_string()).map_err(|_| tls_fail(BAD_SUBJECT, host))?;
    let now = UnixTime::now();
    match v.verify_server_cert(leaf, &certs[1..], &name, &[], now) {
        Ok(_) => within_depth(leaf, &certs[1..], &roots, peer, p, now),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) if rule.mode == 4 => within_depth(leaf, &certs[1..], &roots, peer, p, now),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => Err(tls_fail(BAD_SUBJECT, host)),
        Err(_) => Err(tls_fail(NOT_VERIFIED, host)),
    }
}

/// The verifydepth of the rule, for a chain that verified.
fn within_depth(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &rustls::RootCertStore,
    peer: &Peer<'_>,
    p: &CryptoProvider,
    now: UnixTime,
) -> Result<(), Vec<u8>> {
    // Checked when the rule was read (TlsRule::check).
    let Ok(Some(depth)) = peer.rule.verify_depth() else {
        return Ok(());
    };
    crate::tls::depth::chain_fits(
        leaf,
        intermediates,
        roots,
        &p.signature_verification_algorithms,
        now,
        webpki::KeyUsage::server_auth(),
        depth,
    )
    .map_err(|_| tls_fail(NOT_VERIFIED, peer.host))
}

/// `=hex` pinning: the digest of the peer certificate, chosen by length
/// (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512).
fn check_pin(cert: &CertificateDer<'_>, pin: &str, host: &str) -> Result<(), Vec<u8>> {
    let ring =
        |alg: &'static ring::digest::Algorithm| ring::digest::digest(alg, cert).as_ref().to_vec();
    let digest = match pin.len() {
        40 => ring(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        // ring has no SHA-224; s/qmail takes 56 hex digits as SHA-224.
        56 => <sha2::Sha224 as sha2::Digest>::digest(cert.as_ref()).to_vec(),
        64 => ring(&ring::digest::SHA256),
        96 => ring(&ring::digest::SHA384),
        128 => ring(&ring::digest::SHA512),
        _ => return Err(tls_fail(BAD_DIGEST, host)),
    };
    let d: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if d == pin.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(format!(
            "Z Received X.509 certificate from: {host} does not match fingerprint: {pin}. (#4.4.1)\n"
        )
        .into_bytes())
    }
}

/// Trust anchors: a PEM file, every file of a directory (`dir/`), or the
/// Mozilla roots of webpki-roots when none is configured.
fn roots(ca: Option<&str>) -> Option<RootCertStore> {
    let mut r = RootCertStore::empty();
    let Some(ca) = ca else {
        r.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Some(r);
    };
    let files: Vec<std::path::PathBuf> = if ca.ends_with('/') {
        std::fs::read_dir(ca)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect()
    } else {
        vec![ca.into()]
    };
    // In a directory, entries that are not readable PEM files (a
    // subdirectory, c_rehash's CRL links) are passed over.
    for f in files {
        let Ok(certs) = CertificateDer::pem_file_iter(&f) else {
            continue;
        };
        for c in certs.flatten() {
            let _ = r.add(c);
        }
    }
    (!r.is_empty()).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_by_length() {
        let c = CertificateDer::from(b"abc".to_vec());
        let sha224 = "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7";
        assert_eq!(check_pin(&c, sha224, "h"), Ok(()));
        assert_eq!(check_pin(&c, &sha224.to_ascii_uppercase(), "h"), Ok(()));
        let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(check_pin(&c, sha1, "h"), Ok(()));
        let wrong = "0".repeat(56);
        assert!(check_pin(&c, &wrong, "h").is_err());
        assert_eq!(
            check_pin(&c, "abcd", "h"),
            Err(b"Z Invalid digest length provided for: h. (#4.4.1)\n".to_vec())
        );
    }
}
