//! qmail-smtpam(8): asks an SMTP server whether it would take one
//! recipient — greeting, EHLO/HELO, STARTTLS as `tlsdestinations` says,
//! `MAIL FROM:<>`, `RCPT TO`, QUIT — and sends no message.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::report::{self, Reply, quit};
use super::route::{self, SMTP_PORT, SMTPS_PORT, Source, TlsRule};
use super::smtp::{Conn, Ehlo, has_line_break, quote};
use super::tls::{self, Stream, TlsSetup};
use crate::control::Control;
use crate::dns::{DnsError, Resolver};
use crate::sys;

/// The answer, with the qmail-remote style text that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The server accepted the recipient (a 2xx reply to RCPT).
    Exists,
    /// Any other reply to RCPT, or an address no server could be asked
    /// about.
    Unknown(Vec<u8>),
    /// No answer to the question: DNS, connection, greeting, HELO, MAIL,
    /// TLS or control files.
    Temp(Vec<u8>),
}

/// The control files qmail-smtpam reads (qmail-smtpam(8)).
struct Controls {
    helo: String,
    timeoutconnect: u64,
    timeoutremote: u64,
    domainips: crate::control::ConstMap,
    tlsdestinations: Option<crate::control::ConstMap>,
}

fn controls(c: &Control) -> io::Result<Option<Controls>> {
    let Some(helo) = c.line("helohost")?.or(c.line("me")?) else {
        return Ok(None);
    };
    Ok(Some(Controls {
        helo,
        timeoutconnect: c.int("timeoutconnect", 60)?,
        timeoutremote: c.int("timeoutremote", 1200)?,
        domainips: c.map("domainips")?.unwrap_or_default(),
        tlsdestinations: c.map("tlsdestinations")?,
    }))
}

/// Asks `host` (a name, an address or `[address]`) on `port` (else the
/// `tlsdestinations` port, else 25) about `addr`, with the controls of
/// the qmail home `home`.
pub fn verify(home: &Path, host: &str, port: Option<u16>, addr: &[u8]) -> Verdict {
    let temp = |t: &str| Verdict::Temp(t.as_bytes().to_vec());
    let ctl = match controls(&Control::new(home)) {
        Ok(Some(c)) => c,
        _ => return temp(report::CONTROL),
    };
    if has_line_break(addr) {
        return Verdict::Unknown(report::LINE_BREAK_RECIPIENT.as_bytes().to_vec());
    }
    // The sender is <>: lines for a senderdomain never apply.
    let rule = route::tls_rule(host, "", ctl.tlsdestinations.as_ref());
    if let Err(why) = rule.check() {
        return Verdict::Temp(report::bad_tls_rule(host, &why));
    }
    let port = port.or(rule.port).unwrap_or(SMTP_PORT);
    let rcpt = String::from_utf8_lossy(addr);
    let source = match route::domainip(&rcpt, &ctl.domainips) {
        Ok(s) => s,
        Err(route::BadAddress) => return temp(report::BAD_DOMAINIP),
    };
    let ips = match super::literal(host) {
        Some(ip) => vec![ip],
        None => match Resolver::new().ip(host) {
            Ok(v) if !v.is_empty() => v,
            Ok(_) | Err(DnsError::Hard) => {
                return Verdict::Temp(report::dns_hard(host).into_bytes());
            }
            Err(DnsError::Temp) => return Verdict::Temp(report::dns_soft(host).into_bytes()),
        },
    };
    let helo = source
        .as_ref()
        .and_then(|s| s.helo.clone())
        .unwrap_or_else(|| ctl.helo.clone());
    let ask = Ask {
        host,
        helo: &helo,
        rule: &rule,
        implicit: port == SMTPS_PORT && rule.mode >= 0,
        addr,
    };
    for ip in ips {
        if let Some(tcp) = connect(&ctl, source.as_ref(), ip, port) {
            return ask.session(tcp, &ip.to_string());
        }
    }
    temp(report::NO_CONNECTION)
}

fn connect(ctl: &Controls, source: Option<&Source>, ip: IpAddr, port: u16) -> Option<Conn> {
    if source.is_some_and(|s| s.ip.is_ipv4() != ip.is_ipv4()) {
        return None;
    }
    let ms = i32::try_from(ctl.timeoutconnect.saturating_mul(1000)).unwrap_or(i32::MAX);
    let tcp =
        sys::connect_from(source.map(Source::bind_addr), SocketAddr::new(ip, port), ms).ok()?;
    let t = Some(Duration::from_secs(ctl.timeoutremote.max(1)));
    let _ = tcp.set_read_timeout(t);
    let _ = tcp.set_write_timeout(t);
    Some(Conn::new(Stream::Plain(tcp)))
}

/// One question to one server.
struct Ask<'a> {
    host: &'a str,
    helo: &'a str,
    rule: &'a TlsRule,
    implicit: bool,
    addr: &'a [u8],
}

impl Ask<'_> {
    fn session(&self, mut conn: Conn, ip: &str) -> Verdict {
        let v = match self.dialogue(&mut conn, ip) {
            Ok(v) => v,
            Err(e) if tls::is_tls_error(&e) => {
                Verdict::Temp(report::tls_fail(tls::PROTOCOL, self.host))
            }
            Err(_) => Verdict::Temp(report::died(ip, false)),
        };
        // The answer is known: QUIT, and its reply is not waited for.
        let _ = conn.send(b"QUIT\r\n");
        conn.s.close();
        v
    }

    fn start_tls(&self, conn: &mut Conn) -> Result<(), Vec<u8>> {
        let setup = TlsSetup::default();
        let peer = tls::Peer {
            rule: self.rule,
            host: self.host,
            setup: &setup,
            dane: None,
        };
        tls::start(&mut conn.s, &peer, self.host)
    }

    fn dialogue(&self, conn: &mut Conn, ip: &str) -> io::Result<Verdict> {
        let z =
            |suffix: &str, r: &Reply| Verdict::Temp(quit("ZConnected to ", ip, suffix, Some(r)));
        if self.implicit
            && let Err(t) = self.start_tls(conn)
        {
            return Ok(Verdict::Temp(t));
        }
        let g = conn.reply()?;
        if g.code != 220 {
            return Ok(z(" but greeting failed", &g));
        }
        let Some(mut ehlo) = hello(conn, self.helo)? else {
            return Ok(Verdict::Temp(quit(
                "ZConnected to ",
                ip,
                " but my name was rejected",
                None,
            )));
        };
        if !self.implicit && self.rule.wanted() {
            if ehlo.starttls {
                let r = conn.cmd("STARTTLS")?;
                if r.code != 220 {
                    return Ok(z(" but STARTTLS was rejected", &r));
                }
                conn.discard_buffer();
                if let Err(t) = self.start_tls(conn) {
                    return Ok(Verdict::Temp(t));
                }
                ehlo = hello(conn, self.helo)?.unwrap_or_default();
            } else if self.rule.mandatory() {
                return Ok(Verdict::Temp(report::tls_fail(tls::NEGOTIATE, self.host)));
            }
        }
        // A non-ASCII address needs SMTPUTF8 (RFC 6531): a server without
        // it cannot take the recipient.
        let utf8 = !self.addr.is_ascii();
        if utf8 && !ehlo.smtputf8 {
            return Ok(Verdict::Unknown(
                format!("DConnected to {ip} but it does not offer SMTPUTF8. (#5.6.7)\n")
                    .into_bytes(),
            ));
        }
        let m = conn.cmd(if utf8 {
            "MAIL FROM:<> SMTPUTF8"
        } else {
            "MAIL FROM:<>"
        })?;
        if !(200..300).contains(&m.code) {
            return Ok(z(" but sender was rejected", &m));
        }
        conn.send(&[&b"RCPT TO:<"[..], &quote(self.addr), b">\r\n"].concat())?;
        let r = conn.reply()?;
        Ok(match r.code {
            200..=299 => Verdict::Exists,
            _ => Verdict::Unknown(quit(
                if r.code >= 500 { "D" } else { "Z" },
                ip,
                " does not like recipient",
                Some(&r),
            )),
        })
    }
}

/// EHLO, else HELO: the extensions, or `None` when both are refused.
fn hello(conn: &mut Conn, helo: &str) -> io::Result<Option<Ehlo>> {
    let e = conn.cmd(&format!("EHLO {helo}"))?;
    if e.code == 250 {
        return Ok(Some(Ehlo::parse(&e)));
    }
    let h = conn.cmd(&format!("HELO {helo}"))?;
    Ok((h.code == 250).then(Ehlo::default))
}
