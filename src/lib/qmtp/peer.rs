//! Who is connected, from the tcpserver/sslserver variables
//! (qmail-qmtpd(8), qmail-qmqpd(8)), and the Received line for it.

use crate::environment::Environment;
use crate::received::{self, Origin};
use crate::ucspi::ip_from_env;

/// The QMTPS port: a session on it must be TLS.
pub const QMTPS_PORT: &str = "6209";

/// The client as the Received line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub host: String,
    /// The ident answer, or the name of a verified client certificate.
    pub info: Option<String>,
    pub ip: String,
    pub local: String,
    pub local_port: String,
    /// `de/crypted with` text, under sslserver.
    pub tls: Option<String>,
    /// The verified client certificate's subject (`SSL_CLIENT_S_DN`).
    pub cert_dn: Option<String>,
}

impl Peer {
    pub fn from_env(env: &Environment) -> Peer {
        let tls = env
            .get("SSL_PROTOCOL")
            .map(|_| received::tls_info(|k| env.get(k)));
        let cert_dn = tls.as_ref().and_then(|_| env.get("SSL_CLIENT_S_DN"));
        let info = match &cert_dn {
            Some(dn) => Some(env.get("SSL_CLIENT_S_DN_CN").unwrap_or_else(|| dn.clone())),
            None => env.first(&["TCP6REMOTEINFO", "TCPREMOTEINFO"]),
        };
        Peer {
            host: env
                .first(&["TCP6REMOTEHOST", "TCPREMOTEHOST"])
                .unwrap_or_else(|| "unknown".into()),
            info,
            ip: ip_from_env(&["TCP6REMOTEIP", "TCPREMOTEIP"], |n| env.get(n))
                .unwrap_or_else(|| "unknown".into()),
            local: env
                .first(&["TCP6LOCALHOST", "TCPLOCALHOST", "TCP6LOCALIP", "TCPLOCALIP"])
                .unwrap_or_else(|| "unknown".into()),
            local_port: env
                .first(&["TCP6LOCALPORT", "TCPLOCALPORT", "SSLLOCALPORT"])
                .unwrap_or_else(|| "0".into()),
            tls,
            cert_dn,
        }
    }

    /// The Received line with `protocol` at `now`.
    pub fn received(&self, protocol: &str, now: i64) -> String {
        received::line(
            &Origin {
                host: &self.host,
                helo: None,
                info: self.info.as_deref(),
                ip: &self.ip,
                tls: self.tls.as_deref(),
                local: &self.local,
                protocol,
            },
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_certificate_peers() {
        let p = Peer::from_env(&Environment::from_pairs(&[
            ("TCPREMOTEIP", "::ffff:192.0.2.7"),
            ("TCPREMOTEINFO", "joe"),
            ("TCPLOCALIP", "192.0.2.1"),
        ]));
        assert_eq!(p.ip, "192.0.2.7");
        assert_eq!(p.host, "unknown");
        assert_eq!(p.local, "192.0.2.1");
        assert_eq!(p.info.as_deref(), Some("joe"));
        assert!(p.tls.is_none() && p.cert_dn.is_none());
        let t = Peer::from_env(&Environment::from_pairs(&[
            ("TCPREMOTEIP", "192.0.2.8"),
            ("TCPREMOTEINFO", "joe"),
            ("TCPLOCALHOST", "mx.example"),
            ("TCPLOCALPORT", "6209"),
            ("SSL_PROTOCOL", "TLSv1.3"),
            ("SSL_CIPHER", "TLS_AES_256_GCM_SHA384"),
            ("SSL_CIPHER_USEKEYSIZE", "256"),
            ("SSL_CIPHER_ALGKEYSIZE", "256"),
            ("SSL_CLIENT_S_DN", "/CN=edge.example"),
            ("SSL_CLIENT_S_DN_CN", "edge.example"),
        ]));
        assert_eq!(t.info.as_deref(), Some("edge.example"));
        assert_eq!(t.local_port, "6209");
        assert_eq!(
            t.received("QMTPSA", 0),
            "Received: from unknown (edge.example@192.0.2.8)\n  de/crypted with TLSv1.3: TLS_AES_256_GCM_SHA384 [256/256] DN=/CN=edge.example\n  by mx.example with QMTPSA; 1 Jan 1970 00:00:00 -0000\n"
        );
        // a certificate name without TLS is not believed
        let fake = Peer::from_env(&Environment::from_pairs(&[("SSL_CLIENT_S_DN", "/CN=x")]));
        assert!(fake.cert_dn.is_none());
    }
}
