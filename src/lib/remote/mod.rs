//! qmail-remote: delivers one message to one remote domain by SMTP
//! (qmail-remote(8)). Routing (`route`), the address list (MX records, implicit
//! MX, our own addresses cut off), the timeout table (`tcpto`), one SMTP
//! session per address (`smtp`) with TLS (`tls`, `dane`) and AUTH
//! (`auth`), the output protocol (`report`).

pub mod auth;
pub mod dane;
pub mod qmtp;
pub mod report;
pub mod route;
pub mod smtp;
pub mod tcpto;
pub mod tls;
pub mod verify;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::control::{ConstMap, Control};
use crate::dns::{self, DnsError, MxIp, Resolver};
use crate::sys;
use report::Out;
use route::{QMTPS_PORT, SMTPS_PORT};
use smtp::{Job, Step};
use tls::TlsSetup;

const TCPTO: &str = "queue/lock/tcpto";

/// Control files, read once.
struct Controls {
    helo: String,
    timeoutconnect: u64,
    timeoutremote: u64,
    smtproutes: ConstMap,
    qmtproutes: ConstMap,
    authsenders: ConstMap,
    domainips: ConstMap,
    domaincerts: ConstMap,
    tlsdestinations: Option<ConstMap>,
}

fn controls(c: &Control) -> std::io::Result<Option<Controls>> {
    let helo = match c.line("helohost")? {
        Some(h) => h,
        None => match c.line("me")? {
            Some(m) => m,
            None => return Ok(None),
        },
    };
    let map = |n: &str| c.map(n).map(Option::unwrap_or_default);
    Ok(Some(Controls {
        helo,
        timeoutconnect: c.int("timeoutconnect", 60)?,
        timeoutremote: c.int("timeoutremote", 1200)?,
        smtproutes: map("smtproutes")?,
        qmtproutes: map("qmtproutes")?,
        authsenders: map("authsenders")?,
        domainips: map("domainips")?,
        domaincerts: map("domaincerts")?,
        tlsdestinations: c.map("tlsdestinations")?,
    }))
}

/// `[1.2.3.4]` or `[2001:db8::1]` (also `[IPv6:...]`) as an address.
pub fn literal(host: &str) -> Option<IpAddr> {
    let inner = host.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
        .unwrap_or(inner);
    inner.parse().ok()
}

/// Carried by the qmail-remote program (it names it in `main`): how
/// qmail-rspawn tells sqmail's own qmail-remote, whose code it runs
/// in-process, from a replacement it must execute.
pub const BUILTIN_MARK: &[u8] = b"sqmail-qmail-remote-builtin-delivery-1";

/// Runs qmail-remote with `args` (host sender recip..., as bytes) and
/// returns its whole output.
pub fn run(args: &[Vec<u8>]) -> Out {
    let mut out = Out::default();
    let text = deliver(args, &mut out, None);
    out.raw(&text);
    out
}

/// An SMTP session left open by one delivery for the next one, with what
/// it was opened for: it is used again only for the same route, source
/// address, HELO name, AUTH and TLS rule (qmail-rspawn(8)).
pub struct KeptSession {
    key: Vec<u8>,
    session: smtp::Kept,
}

impl KeptSession {
    /// The socket, to notice the server closing it while it is idle.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.session.fd()
    }

    /// Ends the session with QUIT.
    pub fn quit(self) {
        self.session.quit()
    }
}

/// As [`run`], delivering over `kept` when it was opened for the same
/// route, and leaving the session open there after a complete transaction.
pub fn run_keeping(args: &[Vec<u8>], kept: &mut Option<KeptSession>) -> Out {
    let mut out = Out::default();
    let text = deliver(args, &mut out, Some(kept));
    out.raw(&text);
    out
}

/// What a session depends on besides the recipient's host: two deliveries
/// with the same key may share one.
fn session_key(
    target: &str,
    port: u16,
    source: Option<&route::Source>,
    helo: &str,
    auth: Option<&route::Auth>,
    rule: &route::TlsRule,
    cert: Option<&str>,
) -> Vec<u8> {
    let src = source.map(|s| (s.ip, s.scope));
    let auth = auth.map(|a| (&a.user, &a.pass));
    format!("{target}\0{port}\0{src:?}\0{helo}\0{auth:?}\0{rule:?}\0{cert:?}").into_bytes()
}

fn deliver(args: &[Vec<u8>], out: &mut Out, mut kept: Option<&mut Option<KeptSession>>) -> Vec<u8> {
    let [host, raw_sender, recips @ ..] = args else {
        return report::USAGE.into();
    };
    if recips.is_empty() {
        return report::USAGE.into();
    }
    // Decided by the arguments alone: no lookup or connection for it.
    if smtp::has_line_break(raw_sender) {
        return report::LINE_BREAK_SENDER.into();
    }
    // Routing works on text; the envelope goes out byte for byte.
    let host = &String::from_utf8_lossy(host).into_owned();
    let sender = &String::from_utf8_lossy(raw_sender).into_owned();
    let home = crate::home::home();
    if std::env::set_current_dir(&home).is_err() {
        return report::NO_HOME.into();
    }
    let ctl = match controls(&Control::new(Path::new("."))) {
        Ok(Some(c)) => c,
        _ => return report::CONTROL.into(),
    };
    let rt = route::route(
        host,
        sender,
        &ctl.smtproutes,
        &ctl.qmtproutes,
        &ctl.authsenders,
    );
    if let Some(relay) = rt.relay.as_deref()
        && route::is_qmail103_relay(relay)
    {
        return report::qmail103_route(relay).into();
    }
    let target = rt.relay.clone().unwrap_or_else(|| host.clone());
    let rule = route::tls_rule(
        &target,
        route::sender_domain(sender),
        ctl.tlsdestinations.as_ref(),
    );
    if let Err(why) = rule.check() {
        return report::bad_tls_rule(&target, &why);
    }
    let port = rule.port.unwrap_or(rt.port);
    let source = match route::domainip(sender, &ctl.domainips) {
        Ok(s) => s,
        Err(route::BadAddress) => return report::BAD_DOMAINIP.into(),
    };
    let cert = (rule.mode >= 0)
        .then(|| {
            let dom = route::sender_domain(sender);
            route::suffix_keys(dom, &['.'])
                .find_map(|k| ctl.domaincerts.get(k))
                .or_else(|| ctl.domaincerts.get("*"))
        })
        .flatten();
    let tls_setup = match cert.map(TlsSetup::load) {
        Some(Ok(s)) => s,
        Some(Err(text)) => return text,
        None => TlsSetup::default(),
    };
    let Some(mut msg) = sys::take_fd(0) else {
        return report::READ_FAILED.into();
    };
    let helo = source
        .as_ref()
        .and_then(|s| s.helo.clone())
        .unwrap_or_else(|| ctl.helo.clone());
    // Only a delivery that may keep its session needs to know what for.
    let key = (!rt.qmtp && kept.is_some()).then(|| {
        session_key(
            &target,
            port,
            source.as_ref(),
            &helo,
            rt.auth.as_ref(),
            &rule,
            cert,
        )
    });
    let mut job = Job {
        sender: raw_sender,
        recips,
        helo: &helo,
        auth: rt.auth.as_ref(),
        tls: &rule,
        tls_host: &target,
        tls_setup: &tls_setup,
        dane: None,
        msg: &mut msg,
    };
    // A session kept from the last delivery, when it fits: no lookup, no
    // connection, no greeting.
    if let Some(slot) = kept.as_deref_mut()
        && let Some(k) = slot.take()
    {
        if key.as_ref() != Some(&k.key) {
            k.quit();
        } else {
            match smtp::reuse(&mut job, out, k.session) {
                smtp::Reused::Done(text, again) => {
                    *slot = again.map(|session| KeptSession {
                        key: k.key,
                        session,
                    });
                    return text;
                }
                smtp::Reused::Stale => {}
            }
        }
    }
    let resolver = Resolver::new();
    let cands = match candidates(&resolver, &target, rt.relay.is_some()) {
        Ok(c) => c,
        Err(text) => return text,
    };
    let implicit = port == SMTPS_PORT && rule.wanted();
    let anchors = dns::dnssec::Anchors::load(Path::new("control/trustanchors"));
    let dane = dane::Dane::new(
        &resolver,
        anchors.as_ref().filter(|_| rule.mode >= 0 && !rt.qmtp),
        rt.relay.is_none().then_some(target.as_str()),
        port,
    );
    let mut dane_defer: Option<Vec<u8>> = None;
    // The table is opened (and locked) for each look and each change only:
    // many qmail-remote processes share it.
    let table = || tcpto::Table::open(Path::new(TCPTO)).ok();
    let pid = std::process::id();
    let mut me: Option<Vec<IpAddr>> = None;
    let (mut found, mut soft, mut cut) = (false, false, false);
    for c in cands {
        // qmail 1.03's cut-off: never go on to an MX that is this host,
        // nor to the ones after it.
        let addrs = match c {
            Cand::Addr(a) => vec![a],
            Cand::Host(pref, host) => match resolver.ip(&host) {
                Err(e) => {
                    soft |= e.is_temp();
                    continue;
                }
                Ok(ips) => {
                    let me = me.get_or_insert_with(own_addrs);
                    if ips.iter().any(|ip| is_me(ip, me)) {
                        cut = true;
                        break;
                    }
                    ips.into_iter()
                        .map(|ip| MxIp {
                            pref,
                            host: host.clone(),
                            ip,
                        })
                        .collect()
                }
            },
        };
        found |= !addrs.is_empty();
        for a in &addrs {
            if source
                .as_ref()
                .is_some_and(|s| s.ip.is_ipv4() != a.ip.is_ipv4())
            {
                continue;
            }
            let (skip, known) = table().map_or((false, false), |t| {
                (t.skip(a.ip, tcpto::now(), pid), t.known(a.ip))
            });
            if skip {
                continue;
            }
            job.dane = match dane.decide(&a.host, a.ip) {
                dane::Decision::Off => None,
                dane::Decision::On(p) => Some(p),
                dane::Decision::Defer(text) => {
                    dane_defer = Some(text);
                    continue;
                }
            };
            let ip = a.ip.to_string();
            let to = SocketAddr::new(a.ip, port);
            let ms = i32::try_from(ctl.timeoutconnect.saturating_mul(1000)).unwrap_or(i32::MAX);
            let tcp = match sys::connect_from(source.as_ref().map(|s| s.bind_addr()), to, ms) {
                Ok(t) => t,
                Err(sys::ConnectError::Socket(_)) => return report::SOCKET.into(),
                Err(sys::ConnectError::Bind(_)) => {
                    let s = source
                        .as_ref()
                        .map(|s| s.ip.to_string())
                        .unwrap_or_default();
                    return report::bind_failed(&s).into_bytes();
                }
                Err(sys::ConnectError::Connect(e)) => {
                    let counted = matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::ConnectionRefused
                    );
                    if counted && let Some(mut t) = table() {
                        let _ = t.failure(a.ip, tcpto::now());
                    }
                    continue;
                }
            };
            if known && let Some(mut t) = table() {
                let _ = t.success(a.ip);
            }
            let _ = tcp.set_nodelay(true);
            let t = Some(Duration::from_secs(ctl.timeoutremote.max(1)));
            let _ = tcp.set_read_timeout(t);
            let _ = tcp.set_write_timeout(t);
            let step = if rt.qmtp {
                qmtp::session(&mut job, out, tcp, &ip, &a.host, port == QMTPS_PORT)
            } else {
                let (step, session) =
                    smtp::session(&mut job, out, tcp, &ip, &a.host, implicit, key.is_some());
                if let (Some(slot), Some(key), Some(session)) = (kept.as_deref_mut(), &key, session)
                {
                    *slot = Some(KeptSession {
                        key: key.clone(),
                        session,
                    });
                }
                step
            };
            match step {
                Step::Done(text) => return text,
                Step::NextMx => continue,
            }
        }
    }
    match (found, cut, soft) {
        (true, _, _) => dane_defer.unwrap_or_else(|| report::NO_CONNECTION.into()),
        (false, true, _) => report::MX_IS_ME.into(),
        (false, false, true) => report::dns_soft(&target).into_bytes(),
        (false, false, false) => report::NO_MX.into(),
    }
}

/// A place to try: an address, or a mail exchanger whose addresses are
/// looked up only when the ones before it have failed.
enum Cand {
    Addr(MxIp),
    Host(u16, String),
}

fn own_addrs() -> Vec<IpAddr> {
    sys::local_addrs().unwrap_or_default()
}

fn is_me(ip: &IpAddr, me: &[IpAddr]) -> bool {
    me.contains(ip) || ip.is_unspecified()
}

/// What to try, in order, or the report that ends the delivery.
fn candidates(r: &Resolver, target: &str, relayed: bool) -> Result<Vec<Cand>, Vec<u8>> {
    let dns_fail = |e: DnsError| match e {
        DnsError::Temp => report::dns_soft(target).into_bytes(),
        DnsError::Hard => report::dns_hard(target).into_bytes(),
    };
    let addr = |ip| {
        Cand::Addr(MxIp {
            pref: 0,
            host: target.to_string(),
            ip,
        })
    };
    if let Some(ip) = literal(target) {
        return Ok(vec![addr(ip)]);
    }
    let mxs = if relayed {
        Vec::new()
    } else {
        r.mx(target).map_err(dns_fail)?
    };
    if !mxs.is_empty() {
        return Ok(mxs.into_iter().map(|(p, h)| Cand::Host(p, h)).collect());
    }
    // A relay, or no MX: the addresses of the name itself (implicit MX).
    let ips = r.ip(target).map_err(dns_fail)?;
    if ips.is_empty() {
        return Err(report::NO_MX.into());
    }
    if !relayed && ips.iter().any(|ip| is_me(ip, &own_addrs())) {
        return Err(report::MX_IS_ME.into());
    }
    Ok(ips.into_iter().map(addr).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(literal("[192.0.2.1]"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(literal("[IPv6:::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal("example.com"), None);
    }
}
