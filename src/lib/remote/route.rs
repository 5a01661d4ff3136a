//! Where a message goes: `authsenders`, `qmtproutes`, `smtproutes`
//! (qmail-control(5)), `domainips` and the `tlsdestinations` rule
//! (qmail-remote(8)).

use std::net::{IpAddr, SocketAddr};

use crate::control::ConstMap;

pub const SMTP_PORT: u16 = 25;
pub const QMTP_PORT: u16 = 209;
pub const SMTPS_PORT: u16 = 465;
pub const QMTPS_PORT: u16 = 6209;

/// qmail's suffix keys of `s`: `s`, each suffix starting at one of `seps`
/// (left to right), then the empty key.
pub fn suffix_keys<'a>(s: &'a str, seps: &'a [char]) -> impl Iterator<Item = &'a str> + 'a {
    std::iter::once(s)
        .chain(s.match_indices(seps).map(move |(i, _)| &s[i..]))
        .chain(std::iter::once(""))
}

/// SMTP AUTH credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub user: String,
    pub pass: String,
}

/// The routing decision for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// A relay to use instead of the MX records (a name or `[ip]`).
    pub relay: Option<String>,
    pub port: u16,
    pub qmtp: bool,
    pub auth: Option<Auth>,
}

/// `relay[;port][|user|password]`.
fn parse_value(v: &str, qmtp: bool) -> Route {
    let mut parts = v.splitn(3, '|');
    let hostport = parts.next().unwrap_or("");
    let auth = match (parts.next(), parts.next()) {
        (Some(u), Some(p)) if !u.is_empty() => Some(Auth {
            user: u.to_string(),
            pass: p.to_string(),
        }),
        _ => None,
    };
    let (relay, port) = match hostport.split_once(';') {
        Some((r, p)) => (r, p.parse().ok()),
        None => (hostport, None),
    };
    Route {
        relay: (!relay.is_empty()).then(|| relay.to_string()),
        port: port.unwrap_or(if qmtp { QMTP_PORT } else { SMTP_PORT }),
        qmtp,
        auth,
    }
}

/// Whether a relay is written as qmail 1.03's `host:port` (s/qmail writes
/// `host;port`): a host name never has a colon, and an IPv6 address has more
/// than one or brackets.
pub fn is_qmail103_relay(relay: &str) -> bool {
    relay.split_once(':').is_some_and(|(h, p)| {
        !h.is_empty() && (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The route for mail from `sender` to `host`.
pub fn route(host: &str, sender: &str, smtp: &ConstMap, qmtp: &ConstMap, auth: &ConstMap) -> Route {
    if let Some(v) = suffix_keys(sender, &['.', '@']).find_map(|k| auth.get(k))
        && !v.is_empty()
    {
        return parse_value(v, false);
    }
    if sender.is_empty() {
        if let Some(v) = qmtp.get("!@") {
            return parse_value(v, true);
        }
        if let Some(v) = smtp.get("!@") {
            return parse_value(v, false);
        }
    }
    for k in suffix_keys(host, &['.']) {
        if let Some(v) = qmtp.get(k) {
            return parse_value(v, true);
        }
        if let Some(v) = smtp.get(k) {
            return parse_value(v, false);
        }
    }
    parse_value("", false)
}

/// The sender's domain: after the last `@` (empty for a bounce).
pub fn sender_domain(sender: &str) -> &str {
    sender.rsplit_once('@').map_or("", |(_, d)| d)
}

/// A `domainips` address that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAddress;

/// A `domainips` entry: the local address to bind and the HELO name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub ip: IpAddr,
    pub scope: u32,
    pub helo: Option<String>,
}

/// `domain:localip[%ifindex][|helohost]` for the sender's domain, `*` as
/// the catch-all.
pub fn domainip(sender: &str, map: &ConstMap) -> Result<Option<Source>, BadAddress> {
    let dom = sender_domain(sender);
    let v = suffix_keys(dom, &['.'])
        .filter(|k| !k.is_empty())
        .find_map(|k| map.get(k))
        .or_else(|| map.get("*"));
    let Some(v) = v else { return Ok(None) };
    let (addr, helo) = match v.split_once('|') {
        Some((a, h)) => (a, (!h.is_empty()).then(|| h.to_string())),
        None => (v, None),
    };
    let (ip, scope) = match addr.split_once('%') {
        Some((a, s)) => (a, s.parse().unwrap_or(0)),
        None => (addr, 0),
    };
    let ip: IpAddr = ip.parse().map_err(|_| BadAddress)?;
    Ok(Some(Source { ip, scope, helo }))
}

impl Source {
    pub fn bind_addr(&self) -> SocketAddr {
        match self.ip {
            IpAddr::V6(v6) => std::net::SocketAddrV6::new(v6, 0, 0, self.scope).into(),
            ip => SocketAddr::new(ip, 0),
        }
    }
}

/// A `tlsdestinations` rule (qmail-remote(8)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsRule {
    /// −1 never, 0 no rule, 1–2 opportunistic, 3–7 mandatory.
    pub mode: i8,
    /// CA file, or CA directory when it ends in `/`.
    pub ca: Option<String>,
    /// Hex digest of the peer certificate (`=hex`), for mode 7 (or any mode).
    pub pin: Option<String>,
    /// OpenSSL cipher string (`tls::ciphers`).
    pub ciphers: Option<String>,
    /// The verifydepth field as written; checked by `check`.
    pub depth: Option<String>,
    pub port: Option<u16>,
}

impl TlsRule {
    pub fn mandatory(&self) -> bool {
        self.mode >= 3
    }
    pub fn wanted(&self) -> bool {
        self.mode >= 1
    }

    /// The verifydepth: at most this many intermediate certificates
    /// between the server's certificate and the CA (none given: no limit).
    pub fn verify_depth(&self) -> Result<Option<usize>, String> {
        self.depth
            .as_deref()
            .map(|d| {
                d.parse()
                    .map_err(|_| format!("verifydepth {d} is not a number"))
            })
            .transpose()
    }

    /// The fields TLS is set up with, checked before any connection: what
    /// cannot be honoured is refused, never passed over.
    pub fn check(&self) -> Result<(), String> {
        if let Some(c) = &self.ciphers {
            crate::tls::ciphers::provider(c)?;
        }
        self.verify_depth().map(|_| ())
    }
}

/// `cafile|ciphers|verifydepth;port|senderdomain`, each part optional.
fn tls_value(mode: i8, v: &str) -> TlsRule {
    let (head, tail) = v.split_once(';').unwrap_or((v, ""));
    let mut fields = head.split('|');
    let first = fields.next().unwrap_or("");
    let field = |f: Option<&str>| f.filter(|x| !x.is_empty()).map(str::to_string);
    let ciphers = field(fields.next());
    let depth = field(fields.next());
    let port = tail.split('|').next().and_then(|p| p.parse().ok());
    let (ca, pin) = match first.strip_prefix('=') {
        Some(h) => (None, Some(h.to_ascii_lowercase())),
        None => ((!first.is_empty()).then(|| first.to_string()), None),
    };
    TlsRule {
        mode,
        ca,
        pin,
        ciphers,
        depth,
        port,
    }
}

/// Whether a value's `|senderdomain` field (after `;port`) lets it apply to
/// mail from `sender_domain`: no field, or the same domain (any case).
fn for_sender(v: &str, sender_domain: &str) -> bool {
    let tail = v.split_once(';').map_or("", |(_, t)| t);
    match tail.split_once('|') {
        Some((_, d)) if !d.is_empty() => d.eq_ignore_ascii_case(sender_domain),
        _ => true,
    }
}

/// The rule for `host` (after routing) and mail from `sender_domain`; a
/// line whose senderdomain field names another domain is passed over, as
/// if it were not there. `None` for the map means the file
/// does not exist: we then use opportunistic TLS (mode 1) everywhere, where
/// s/qmail 3.2 would never send STARTTLS. The empty suffix is tried only
/// by the `!` rule (`!:` disables TLS), so `-:` means "optional TLS", as the
/// s/qmail man page describes it, and not mandatory TLS as 3.2's code does.
pub fn tls_rule(host: &str, sender_domain: &str, map: Option<&ConstMap>) -> TlsRule {
    let Some(map) = map else {
        return TlsRule {
            mode: 1,
            ..TlsRule::default()
        };
    };
    let get = |k: &str| map.get(k).filter(|v| for_sender(v, sender_domain));
    let suffixed = |prefix: &str, empty: bool| {
        suffix_keys(host, &['.'])
            .filter(|k| empty || !k.is_empty())
            .find_map(|k| get(&format!("{prefix}{k}")))
    };
    if suffixed("!", true).is_some() {
        return TlsRule {
            mode: -1,
            ..TlsRule::default()
        };
    }
    let exact = |prefix: &str| get(&format!("{prefix}{host}"));
    let rules: [(i8, Option<&str>); 11] = [
        (7, exact("%")),
        (6, exact("=")),
        (5, suffixed("~", false)),
        (4, suffixed("", false)),
        (3, suffixed("-", false)),
        (6, get("=*")),
        (5, get("~*")),
        (4, get("+*")),
        (3, get("-*")),
        (2, get("*")),
        (1, get("-")),
    ];
    rules
        .into_iter()
        .find_map(|(m, v)| v.map(|v| tls_value(m, v)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(lines: &[&str]) -> ConstMap {
        ConstMap::from_lines(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn r(relay: Option<&str>, port: u16, qmtp: bool, auth: Option<(&str, &str)>) -> Route {
        Route {
            relay: relay.map(str::to_string),
            port,
            qmtp,
            auth: auth.map(|(u, p)| Auth {
                user: u.into(),
                pass: p.into(),
            }),
        }
    }

    #[test]
    fn spec_10_1_vectors() {
        let e = map(&[]);
        let s = map(&["example.com:relay.example.net;2525"]);
        assert_eq!(
            route("mail.example.com", "a@b", &s, &e, &e),
            r(None, 25, false, None)
        );
        let s = map(&[".example.com:relay.example.net"]);
        assert_eq!(
            route("mail.example.com", "a@b", &s, &e, &e),
            r(Some("relay.example.net"), 25, false, None)
        );
        let s = map(&[":smart.example.net;587|u|p"]);
        assert_eq!(
            route("any.host", "a@b", &s, &e, &e),
            r(Some("smart.example.net"), 587, false, Some(("u", "p")))
        );
        let s = map(&[".example.com:", ":smart.example.net"]);
        assert_eq!(
            route("a.example.com", "a@b", &s, &e, &e),
            r(None, 25, false, None)
        );
        let q = map(&["example.org:q.example.net"]);
        let s = map(&["example.org:s.example.net"]);
        assert_eq!(
            route("example.org", "a@b", &s, &q, &e),
            r(Some("q.example.net"), 209, true, None)
        );
        let s = map(&["!@:bounces.example.net;27"]);
        assert_eq!(
            route("x.org", "", &s, &e, &e),
            r(Some("bounces.example.net"), 27, false, None)
        );
        assert_eq!(route("x.org", "a@b", &s, &e, &e), r(None, 25, false, None));
        let a = map(&["@example.com:relay.example.net|u|p"]);
        let s = map(&[":other"]);
        assert_eq!(
            route("x.org", "joe@example.com", &s, &e, &a),
            r(Some("relay.example.net"), 25, false, Some(("u", "p")))
        );
        // A port with an empty relay: MX lookup, other port.
        let s = map(&["x.org:;2525"]);
        assert_eq!(
            route("x.org", "a@b", &s, &e, &e),
            r(None, 2525, false, None)
        );
    }

    #[test]
    fn domainips() {
        let m = map(&[".example.com:192.0.2.7|helo.example.com", "*:2001:db8::1%3"]);
        let s = domainip("a@mail.example.com", &m).unwrap().unwrap();
        assert_eq!(s.ip.to_string(), "192.0.2.7");
        assert_eq!(s.helo.as_deref(), Some("helo.example.com"));
        let s = domainip("a@other.org", &m).unwrap().unwrap();
        assert_eq!((s.ip.to_string(), s.scope), ("2001:db8::1".into(), 3));
        assert!(domainip("a@x", &map(&["*:bogus"])).is_err());
        assert_eq!(domainip("a@x", &map(&[])), Ok(None));
    }

    fn tls_rule_any(host: &str, map: Option<&ConstMap>) -> TlsRule {
        tls_rule(host, "", map)
    }

    #[test]
    fn tls_fields_and_sender_domains() {
        let m = map(&[
            "a.example:/ca.pem|HIGH:!aNULL|2;465",
            "=b.example:|ECDHE-RSA-AES256-GCM-SHA384|;25|Sender.Example",
            "b.example:/other.pem",
            "c.example:||x",
            "d.example:|NOSUCH",
        ]);
        let t = tls_rule("a.example", "s.example", Some(&m));
        assert_eq!(
            (t.mode, t.ca.as_deref(), t.ciphers.as_deref(), t.port),
            (4, Some("/ca.pem"), Some("HIGH:!aNULL"), Some(465))
        );
        assert_eq!(t.verify_depth(), Ok(Some(2)));
        assert_eq!(t.check(), Ok(()));
        let t = tls_rule("b.example", "sender.example", Some(&m));
        assert_eq!((t.mode, t.port, t.depth), (6, Some(25), None));
        // Another sender: the = line is passed over, the plain one applies.
        let t = tls_rule("b.example", "other.example", Some(&m));
        assert_eq!((t.mode, t.ca.as_deref()), (4, Some("/other.pem")));
        assert!(tls_rule("c.example", "", Some(&m)).check().is_err());
        assert!(
            tls_rule("d.example", "", Some(&m))
                .check()
                .unwrap_err()
                .contains("NOSUCH")
        );
    }

    #[test]
    fn tls_rules() {
        assert_eq!(tls_rule_any("a.example", None).mode, 1);
        let m = map(&[
            "*:",
            "!no.example:",
            "=exact.example:/ca.pem",
            "~.wild.example:",
        ]);
        assert_eq!(tls_rule_any("x.no.example", Some(&m)).mode, 2);
        assert_eq!(tls_rule_any("no.example", Some(&m)).mode, -1);
        let t = tls_rule_any("exact.example", Some(&m));
        assert_eq!((t.mode, t.ca.as_deref()), (6, Some("/ca.pem")));
        assert_eq!(tls_rule_any("a.wild.example", Some(&m)).mode, 5);
        let m = map(&["-:", "%pin.example:=ABCD;465"]);
        assert_eq!(tls_rule_any("any", Some(&m)).mode, 1);
        let t = tls_rule_any("pin.example", Some(&m));
        assert_eq!(
            (t.mode, t.pin.as_deref(), t.port),
            (7, Some("abcd"), Some(465))
        );
        let m = map(&["!:", "*:"]);
        assert_eq!(tls_rule_any("any", Some(&m)).mode, -1);
        assert_eq!(tls_rule_any("any", Some(&map(&["x:"]))).mode, 0);
        assert_eq!(tls_rule_any("x", Some(&map(&["x:;35"]))).port, Some(35));
    }

    #[test]
    fn qmail103_relays() {
        for r in ["relay.test:2525", "10.0.0.1:25", "[10.0.0.1]:25"] {
            assert!(is_qmail103_relay(r), "{r}");
        }
        for r in [
            "relay.test",
            "[::1]",
            "::1",
            "2001:db8::1",
            "relay.test:",
            ":25",
            "h:123456",
            "h:2x",
        ] {
            assert!(!is_qmail103_relay(r), "{r}");
        }
    }
}
