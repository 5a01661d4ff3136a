//! VERIFYDEPTH for client certificates (and the path check qmail-remote's
//! verifydepth uses). rustls's verifier puts no limit on
//! the chain; ucspi-ssl (OpenSSL's verify depth) accepts at most N
//! intermediate CA certificates between the client's certificate and the
//! trust anchor, 1 by default. This wraps the verifier: the chain it
//! accepted is built once more and its intermediates counted.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};

/// ucspi-ssl's default VERIFYDEPTH.
pub const DEFAULT_DEPTH: usize = 1;

/// The depth from `VERIFYDEPTH`: its leading digits, as atoi reads them
/// (none: the default).
pub fn depth_from(value: Option<&str>) -> usize {
    let digits: String = value
        .unwrap_or("")
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(DEFAULT_DEPTH)
}

#[derive(Debug)]
pub struct DepthLimited {
    inner: Arc<dyn ClientCertVerifier>,
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
    depth: usize,
}

impl DepthLimited {
    pub fn new(
        inner: Arc<dyn ClientCertVerifier>,
        roots: Arc<RootCertStore>,
        algs: WebPkiSupportedAlgorithms,
        depth: usize,
    ) -> DepthLimited {
        DepthLimited {
            inner,
            roots,
            algs,
            depth,
        }
    }
}

/// Whether a chain that verified can be built with at most `depth`
/// intermediates between `end_entity` and one of `roots` (for a client
/// certificate: VERIFYDEPTH; for a server: tlsdestinations' verifydepth,
/// qmail-remote(8)).
pub fn chain_fits(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &RootCertStore,
    algs: &WebPkiSupportedAlgorithms,
    now: UnixTime,
    usage: webpki::KeyUsage,
    depth: usize,
) -> Result<(), Error> {
    let cert = webpki::EndEntityCert::try_from(end_entity)
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let fits = |p: &webpki::VerifiedPath<'_>| {
        if p.intermediate_certificates().count() > depth {
            Err(webpki::Error::MaximumPathDepthExceeded)
        } else {
            Ok(())
        }
    };
    cert.verify_for_usage(
        algs.all,
        &roots.roots,
        intermediates,
        now,
        usage,
        None,
        Some(&fits),
    )
    .map(|_| ())
    .map_err(|e| match e {
        webpki::Error::MaximumPathDepthExceeded => Error::InvalidCertificate(
            CertificateError::Other(OtherError(Arc::new(ChainLongerThanVerifyDepth(depth)))),
        ),
        // Not a length rustls accepted: a path search limit of webpki.
        _ => Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
    })
}

/// Why a chain that verified was refused.
#[derive(Debug)]
struct ChainLongerThanVerifyDepth(usize);

impl std::fmt::Display for ChainLongerThanVerifyDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate chain longer than VERIFYDEPTH {} allows",
            self.0
        )
    }
}

impl std::error::Error for ChainLongerThanVerifyDepth {}

impl ClientCertVerifier for DepthLimited {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        chain_fits(
            end_entity,
            intermediates,
            &self.roots,
            &self.algs,
            now,
            webpki::KeyUsage::client_auth(),
            self.depth,
        )?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_values() {
        assert_eq!(depth_from(None), 1);
        assert_eq!(depth_from(Some("3")), 3);
        assert_eq!(depth_from(Some("0")), 0);
        assert_eq!(depth_from(Some("x")), 1);
        assert_eq!(depth_from(Some("3x")), 3);
    }
}
