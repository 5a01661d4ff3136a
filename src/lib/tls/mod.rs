//! TLS with rustls 0.23 and the `ring` provider, TLS 1.2 and 1.3 only:
//! server and client configurations from PEM files, cipher-suite names as
//! OpenSSL prints them, and the `SSL_*` variables of a certificate.

pub mod ciphers;
pub mod depth;
pub mod key;
pub mod verify;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use key::{Passphrase, load_key, load_key_with};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use verify::ServerCheck;

/// TLS 1.3 and 1.2, nothing older.
pub static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// OpenSSL's name of a suite, and its key size in bits.
pub fn suite_name(s: SupportedCipherSuite) -> (&'static str, u32) {
    match s.suite() {
        CipherSuite::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", 256),
        CipherSuite::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", 128),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", 256),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
            ("ECDHE-ECDSA-AES256-GCM-SHA384", 256)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
            ("ECDHE-ECDSA-AES128-GCM-SHA256", 128)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-ECDSA-CHACHA20-POLY1305", 256)
        }
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", 128),
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-RSA-CHACHA20-POLY1305", 256)
        }
        _ => ("UNKNOWN", 0),
    }
}

/// The ring provider, its suites limited to those `ciphers` (an
/// OpenSSL-style `:`-separated list) names. A list naming none of our
/// suites (`HIGH:!aNULL`, ...) leaves the defaults.
pub fn provider(ciphers: Option<&str>) -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    if let Some(list) = ciphers {
        let wanted: Vec<&str> = list.split([':', ',', ' ']).collect();
        let names = |s: &SupportedCipherSuite| {
            let iana = s.suite().as_str().unwrap_or("");
            let iana13 = iana.replace("TLS13_", "TLS_");
            [suite_name(*s).0.to_string(), iana.to_string(), iana13]
        };
        let kept: Vec<SupportedCipherSuite> = p
            .cipher_suites
            .iter()
            .filter(|s| names(s).iter().any(|n| wanted.contains(&n.as_str())))
            .copied()
            .collect();
        if !kept.is_empty() {
            p.cipher_suites = kept;
        }
    }
    Arc::new(p)
}

/// The certificates in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect();
    let certs = certs.map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(certs)
}

/// Trust anchors from a PEM bundle and/or every file of a directory.
pub fn load_roots(files: &[&Path], dir: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut paths: Vec<PathBuf> = files.iter().map(|p| p.to_path_buf()).collect();
    if let Some(d) = dir
        && let Ok(rd) = std::fs::read_dir(d)
    {
        paths.extend(
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    for p in paths {
        for c in load_certs(&p)? {
            roots.add(c).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(roots)
}

/// Whether and how a server asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// Asked for and verified if sent.
    Optional,
    /// The handshake fails without a valid certificate.
    Required,
}

/// What a server's TLS context is built from (sslserver's environment).
#[derive(Debug, Clone, Default)]
pub struct ServerFiles {
    pub cert: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub cafile: Option<PathBuf>,
    pub cadir: Option<PathBuf>,
    pub ccafile: Option<PathBuf>,
    pub ciphers: Option<String>,
    /// VERIFYDEPTH: most intermediate CAs in a client's chain (None: 1).
    pub verify_depth: Option<usize>,
    /// For an encrypted key (`-3`); kept for the reloads.
    pub passphrase: Option<Passphrase>,
}

/// A built server context and the server certificate (for `SSL_SERVER_*`).
#[derive(Clone)]
pub struct ServerContext {
    pub config: Arc<ServerConfig>,
    pub cert: CertificateDer<'static>,
}

impl ServerFiles {
    /// The files named by CERTFILE, CERTCHAINFILE, KEYFILE, CAFILE, CADIR,
    /// CCAFILE, CIPHERS and VERIFYDEPTH; empty values count as unset.
    pub fn from_env() -> ServerFiles {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        ServerFiles {
            cert: var("CERTFILE").map(Into::into),
            chain: var("CERTCHAINFILE").map(Into::into),
            key: var("KEYFILE").map(Into::into),
            cafile: var("CAFILE").map(Into::into),
            cadir: var("CADIR").map(Into::into),
            ccafile: var("CCAFILE").filter(|v| v != "-").map(Into::into),
            ciphers: var("CIPHERS").map(|v| v.to_string_lossy().into_owned()),
            verify_depth: var("VERIFYDEPTH").map(|v| depth::depth_from(v.to_str())),
            passphrase: None,
        }
    }

    /// Modification stamps of the files, to notice a renewal.
    pub fn stamp(&self) -> Vec<(i64, u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        [
            &self.cert,
            &self.chain,
            &self.key,
            &self.cafile,
            &self.ccafile,
        ]
        .iter()
        .map(|p| {
            p.as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or((0, 0, 0), |m| {
                    (m.mtime_nsec() + m.mtime() * 1_000_000_000, m.ino(), m.len())
                })
        })
        .collect()
    }

    /// Builds the server context. Errors carry ucspi-ssl's texts.
    pub fn build(&self, auth: ClientAuth) -> Result<ServerContext, String> {
        let provider = provider(self.ciphers.as_deref());
        let certs = match (&self.chain, &self.cert) {
            (Some(p), _) => {
                load_certs(p).map_err(|e| format!("unable to load certificate chain file: {e}"))?
            }
            (None, Some(p)) => {
                load_certs(p).map_err(|e| format!("unable to load certificate: {e}"))?
            }
            (None, None) => return Err("unable to load certificate: CERTFILE not set".into()),
        };
        let key_path = self
            .key
            .as_ref()
            .or(self.chain.as_ref())
            .or(self.cert.as_ref());
        let key_path = key_path.map(PathBuf::as_path).unwrap_or(Path::new(""));
        let key = load_key_with(key_path, self.passphrase.as_ref())
            .map_err(|e| format!("unable to load key: {e}"))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| format!("unable to create SSL context: {e}"))?;
        let builder = match auth {
            ClientAuth::None => builder.with_no_client_auth(),
            _ => {
                let files: Vec<&Path> = [&self.cafile, &self.ccafile]
                    .into_iter()
                    .flatten()
                    .map(PathBuf::as_path)
                    .collect();
                let roots = load_roots(&files, self.cadir.as_deref())
                    .map_err(|e| format!("unable to load CA list: {e}"))?;
                if roots.is_empty() {
                    return Err("unable to load client CA list: no CA certificates".into());
                }
                let roots = Arc::new(roots);
                let algs = provider.signature_verification_algorithms;
                let v = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider);
                let v = if auth == ClientAuth::Optional {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                let v = v
                    .build()
                    .map_err(|e| format!("unable to load client CA list: {e}"))?;
                let depth = self.verify_depth.unwrap_or(depth::DEFAULT_DEPTH);
                builder.with_client_cert_verifier(Arc::new(depth::DepthLimited::new(
                    v, roots, algs, depth,
                )))
            }
        };
        let cert = certs[0].clone();
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("key does not match certificate: {e}"))?;
        // Connections are handled by forked processes: a session cache in
        // one of them helps nobody, stateless tickets (one key, made here
        // before the fork) let every process resume every session.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("unable to create SSL context: {e}"))?;
        config.send_tls13_tickets = 1;
        Ok(ServerContext {
            config: Arc::new(config),
            cert,
        })
    }
}

/// How sslclient checks the server.
#[derive(Debug, Clone, Default)]
pub struct ClientFiles {
    pub cafile: Option<PathBuf>,
    pub cadir: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ciphers: Option<String>,
    /// For an encrypted key (`-3`).
    pub passphrase: Option<Passphrase>,
    /// Verify the server's certificate chain (`-x`, default).
    pub verify: bool,
    /// Check the host name against the certificate (`-n`, default).
    pub check_name: bool,
}

impl ClientFiles {
    pub fn build(&self) -> Result<ClientConfig, String> {
        let provider = provider(self.ciphers.as_deref());
        let roots = if self.cafile.is_some() || self.cadir.is_some() {
            let files: Vec<&Path> = self.cafile.iter().map(PathBuf::as_path).collect();
            load_roots(&files, self.cadir.as_deref())
                .map_err(|e| format!("unable to load CA list: {e}"))?
        } else {
            RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }
        };
        let algs = provider.signature_verification_algorithms;
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("unable to load CA list: {e}"))?;
        let verifier = Arc::new(ServerCheck::new(
            Some(webpki).filter(|_| self.verify),
            algs,
            self.check_name,
        ));
        let b = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(VERSIONS)
            .map_err(|e| format!("unable to create SSL context: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match &self.cert {
            None => Ok(b.with_no_client_auth()),
            Some(c) => {
                let certs =
                    load_certs(c).map_err(|e| format!("unable to load certificate: {e}"))?;
                let key = load_key_with(self.key.as_deref().unwrap_or(c), self.passphrase.as_ref())
                    .map_err(|e| format!("unable to load key: {e}"))?;
                b.with_client_auth_cert(certs, key)
                    .map_err(|e| format!("key does not match certificate: {e}"))
            }
        }
    }
}

/// `TLSv1.3` or `TLSv1.2`, as OpenSSL names the protocol.
pub fn protocol_name(conn: &rustls::CommonState) -> &'static str {
    match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    }
}

/// The variables describing a finished handshake, in ucspi-ssl's order:
/// protocol, cipher, key sizes, versions, then the server's and (only if
/// verified) the client's certificate.
pub fn session_env(
    conn: &rustls::CommonState,
    server_cert: Option<&CertificateDer<'_>>,
    client_cert: Option<&[CertificateDer<'_>]>,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    env.push(("SSL_PROTOCOL".into(), protocol_name(conn).into()));
    let (name, bits) = conn
        .negotiated_cipher_suite()
        .map_or(("NONE", 0), suite_name);
    env.push(("SSL_CIPHER".into(), name.into()));
    env.push((
        "SSL_CIPHER_EXPORT".into(),
        (if bits < 56 { "true" } else { "false" }).into(),
    ));
    env.push(("SSL_CIPHER_USEKEYSIZE".into(), bits.to_string()));
    env.push(("SSL_CIPHER_ALGKEYSIZE".into(), bits.to_string()));
    env.push(("SSL_VERSION_INTERFACE".into(), "ucspi-ssl".into()));
    env.push(("SSL_VERSION_LIBRARY".into(), "rustls 0.23".into()));
    if let Some(c) = server_cert {
        cert_env("SSL_SERVER_", c, &mut env);
    }
    match client_cert {
        Some(chain) if !chain.is_empty() => {
            cert_env("SSL_CLIENT_", &chain[0], &mut env);
            for (i, c) in chain.iter().enumerate().skip(1) {
                env.push((format!("SSL_CLIENT_CERT_CHAIN_{}", i - 1), pem(c)));
            }
            env.push(("SSL_CLIENT_VERIFY".into(), "SUCCESS".into()));
        }
        _ => env.push(("SSL_CLIENT_VERIFY".into(), "NONE".into())),
    }
    env
}

/// Short names for DN components: (OID, one-line name, `_x` suffix).
const DN_NAMES: &[(&str, &str, &str)] = &[
    ("2.5.4.6", "C", "C"),
    ("2.5.4.8", "ST", "ST"),
    ("2.5.4.7", "L", "L"),
    ("2.5.4.10", "O", "O"),
    ("2.5.4.11", "OU", "OU"),
    ("2.5.4.3", "CN", "CN"),
    ("2.5.4.12", "title", "T"),
    ("2.5.4.43", "initials", "I"),
    ("2.5.4.42", "GN", "G"),
    ("2.5.4.4", "SN", "S"),
    ("2.5.4.13", "description", "D"),
    ("0.9.2342.19200300.100.1.1", "UID", "UID"),
    ("1.2.840.113549.1.9.1", "emailAddress", "Email"),
];

fn dn(name: &x509_parser::x509::X509Name<'_>, var: &str, env: &mut Vec<(String, String)>) {
    let mut line = String::new();
    let mut parts = Vec::new();
    for attr in name.iter_rdn().flat_map(|r| r.iter()) {
        let oid = attr.attr_type().to_id_string();
        let value = attr
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|_| String::from_utf8_lossy(attr.attr_value().data).into_owned());
        let known = DN_NAMES.iter().find(|(o, _, _)| *o == oid);
        let short = known.map_or(oid.as_str(), |k| k.1);
        let _ = write!(line, "/{short}={value}");
        if let Some(k) = known
            && !parts.iter().any(|(s, _): &(&str, String)| *s == k.2)
        {
            parts.push((k.2, value));
        }
    }
    env.push((var.to_string(), line));
    for (suffix, value) in parts {
        env.push((format!("{var}_{suffix}"), value));
    }
}

fn alg_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        other => other,
    }
    .to_string()
}

/// `Jan  2 03:04:05 2025 GMT`, as OpenSSL's ASN1_TIME_print.
fn asn1_time(secs: i64) -> String {
    let t = crate::date::Utc::from_unix(secs);
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        t.month_name(),
        t.day,
        t.hour,
        t.min,
        t.sec,
        t.year
    )
}

/// `PREFIX` + M_VERSION, M_SERIAL, S_DN(_x), I_DN(_x), V_START, V_END,
/// A_SIG, A_KEY, CERT for one certificate.
pub fn cert_env(prefix: &str, der: &CertificateDer<'_>, env: &mut Vec<(String, String)>) {
    let Ok((_, c)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return;
    };
    env.push((
        format!("{prefix}M_VERSION"),
        (c.version().0 + 1).to_string(),
    ));
    env.push((
        format!("{prefix}M_SERIAL"),
        c.tbs_certificate.serial.to_string(),
    ));
    dn(c.subject(), &format!("{prefix}S_DN"), env);
    dn(c.issuer(), &format!("{prefix}I_DN"), env);
    env.push((
        format!("{prefix}V_START"),
        asn1_time(c.validity().not_before.timestamp()),
    ));
    env.push((
        format!("{prefix}V_END"),
        asn1_time(c.validity().not_after.timestamp()),
    ));
    env.push((
        format!("{prefix}A_SIG"),
        alg_name(&c.signature_algorithm.algorithm.to_id_string()),
    ));
    env.push((
        format!("{prefix}A_KEY"),
        alg_name(&c.public_key().algorithm.algorithm.to_id_string()),
    ));
    env.push((format!("{prefix}CERT"), pem(der)));
}

/// The names (SAN dNSNames, else subject CNs) a certificate is for.
pub fn cert_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, c)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_string());
            }
        }
    }
    if names.is_empty() {
        names = c
            .subject()
            .iter_common_name()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
    }
    names
}

/// A certificate as PEM text.
pub fn pem(der: &CertificateDer<'_>) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.as_ref().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pem() {
        assert_eq!(asn1_time(1735787045), "Jan  2 03:04:05 2025 GMT");
        let p = pem(&CertificateDer::from(b"abcd".to_vec()));
        assert_eq!(
            p,
            "-----BEGIN CERTIFICATE-----\nYWJjZA==\n-----END CERTIFICATE-----\n"
        );
        let all = provider(None).cipher_suites.len();
        assert_eq!(provider(Some("HIGH:!aNULL")).cipher_suites.len(), all);
        let only = provider(Some("TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256"));
        assert_eq!(only.cipher_suites.len(), 2);
    }
}
