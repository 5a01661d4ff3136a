//! The `Received:` line the network servers write on top of a message
//! (qmail-smtpd(8), qmail-qmtpd(8), qmail-qmqpd(8)): who connected, what it
//! called itself, the TLS session, this host and the protocol keyword.
//! Every peer-supplied field goes through the header filter.

use crate::printable::header_safe as safe;

/// One connection as the Received line shows it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The client's host name (`unknown` when none).
    pub host: &'a str,
    /// The HELO name, shown only when it differs from `host` (SMTP only).
    pub helo: Option<&'a [u8]>,
    /// The ident or certificate name, shown as `info@ip`.
    pub info: Option<&'a str>,
    pub ip: &'a str,
    /// `PROTOCOL: CIPHER [bits/bits] DN=...` of a TLS session.
    pub tls: Option<&'a str>,
    /// This host's name.
    pub local: &'a str,
    /// `ESMTPSA`, `QMTPS`, `QMQP`, ...
    pub protocol: &'a str,
}

/// `Received: from HOST (HELO NAME) (INFO@IP)\n  de/crypted with TLS\n
/// by LOCAL with PROTOCOL; DATE\n`.
pub fn line(o: &Origin<'_>, now: i64) -> String {
    let mut s = format!("Received: from {}", safe(o.host.as_bytes()));
    if let Some(helo) = o
        .helo
        .filter(|h| !h.eq_ignore_ascii_case(o.host.as_bytes()))
    {
        s.push_str(&format!(" (HELO {})", safe(helo)));
    }
    s.push_str(" (");
    if let Some(i) = o.info {
        s.push_str(&safe(i.as_bytes()));
        s.push('@');
    }
    s.push_str(&safe(o.ip.as_bytes()));
    s.push_str(")\n");
    if let Some(t) = o.tls {
        // A certificate's subject is the peer's text: one printable line.
        let t = crate::printable::text(t.as_bytes(), crate::printable::ascii);
        s.push_str(&format!("  de/crypted with {t}\n"));
    }
    s.push_str(&format!(
        "  by {} with {}; {}\n",
        safe(o.local.as_bytes()),
        o.protocol,
        crate::date::Utc::from_unix(now).received()
    ));
    s
}

/// The `de/crypted with` text of a TLS session from sslserver's variables
/// (`get` looks one up): `PROTOCOL: CIPHER [USE/ALG] DN=subject`.
pub fn tls_info(get: impl Fn(&str) -> Option<String>) -> String {
    let unknown = |k: &str| get(k).unwrap_or_else(|| "unknown".into());
    format!(
        "{}: {} [{}/{}] DN={}",
        unknown("SSL_PROTOCOL"),
        unknown("SSL_CIPHER"),
        unknown("SSL_CIPHER_USEKEYSIZE"),
        unknown("SSL_CIPHER_ALGKEYSIZE"),
        get("SSL_CLIENT_S_DN").unwrap_or_else(|| "none".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin<'a>() -> Origin<'a> {
        Origin {
            host: "unknown",
            helo: None,
            info: None,
            ip: "192.0.2.7",
            tls: None,
            local: "mx.example",
            protocol: "QMTP",
        }
    }

    #[test]
    fn qmtp_form_has_no_helo() {
        assert_eq!(
            line(&origin(), 0),
            "Received: from unknown (192.0.2.7)\n  by mx.example with QMTP; 1 Jan 1970 00:00:00 -0000\n"
        );
    }

    #[test]
    fn helo_info_tls_and_the_filter() {
        let o = Origin {
            host: "client.example",
            helo: Some(b"other\n(x)"),
            info: Some("node1"),
            tls: Some("TLSv1.3: X [256/256] DN=none"),
            protocol: "QMTPSA",
            ..origin()
        };
        assert_eq!(
            line(&o, 0),
            "Received: from client.example (HELO other??x?) (node1@192.0.2.7)\n  de/crypted with TLSv1.3: X [256/256] DN=none\n  by mx.example with QMTPSA; 1 Jan 1970 00:00:00 -0000\n"
        );
        let same = Origin {
            helo: Some(b"CLIENT.example"),
            ..o
        };
        assert!(!line(&same, 0).contains("HELO"));
    }
}
