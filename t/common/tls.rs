//! Certificates for the TLS peers of the tests.

use std::process::Command;
use std::sync::Arc;

/// A self-signed certificate for `names` and a server config using it.
pub fn self_signed(
    names: &[&str],
) -> (
    rcgen::CertifiedKey<rcgen::KeyPair>,
    Arc<rustls::ServerConfig>,
) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cfg = server_config(vec![ck.cert.der().clone()], &ck.signing_key);
    (ck, cfg)
}

/// A server config presenting `chain` with `key`.
pub fn server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> Arc<rustls::ServerConfig> {
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    Arc::new(cfg)
}

/// A CA (PEM) and a server config with a certificate it issued for `name`.
pub fn ca_signed(name: &str) -> (String, Arc<rustls::ServerConfig>) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(p, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let cfg = server_config(vec![leaf.der().clone(), ca.der().clone()], &leaf_key);
    (ca.pem(), cfg)
}

/// SHA-256 of `d`, for certificate pins and TLSA records.
pub fn sha256(d: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, d)
        .as_ref()
        .to_vec()
}

/// Whether the `openssl` command can be run here.
pub fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}
