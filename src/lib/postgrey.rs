//! Greylisting (qmail-postgrey(8)): qmail-postgrey asks David Schweikert's
//! postgrey about one (client, sender, recipient) triplet with the Postfix
//! policy delegation protocol over TCP, and qmail-smtpd asks the same
//! question in-process for each recipient when `POSTGREY` names the server.
//!
//! The protocol: the client sends `name=value` lines ended by LF and an
//! empty line; the server answers with an `action=...` line and an empty
//! line. Anything but a defer is a pass, and so is every failure to get an
//! answer (fail-open: a dead greylisting server must not stop the mail).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The port when `POSTGREY` gives none.
pub const DEFAULT_PORT: u16 = 60000;
/// qmail-postgrey's exit code for "greylisted".
pub const EXIT_GREYLISTED: i32 = 10;
/// Connecting, sending and reading the answer together.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// A longer answer is garbage.
const MAX_ANSWER: usize = 4096;

/// qmail-smtpd's log condition for a greylisted recipient.
pub const LOG_GREYLISTED: &str = "Reject::RCPT::Greylisted";
pub const USAGE: &str =
    "qmail-postgrey ip[%netid][;port] MAILFROM RCPTTO TCPREMOTEIP TCPREMOTEHOST";

/// The reply to a greylisted RCPT, with `REPLY_GREYLISTED` inserted in the
/// form of qmail-smtpd's other custom replies (qmail-smtpd(8)).
pub fn reply(extra: &str) -> String {
    format!("450 greylisted {extra} (#4.7.1)")
}

/// `ip[%netid][;port]`, the port defaulting to postgrey's.
pub fn parse_server(s: &str) -> Option<SocketAddr> {
    crate::sockaddr::parse(s, DEFAULT_PORT)
}

/// Control bytes would end an attribute early (or inject one): `?`.
fn put_attr(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend(crate::printable::bytes(
        value,
        crate::printable::not_control,
        b'?',
    ));
    out.push(b'\n');
}

/// One recipient's triplet, and the client's name.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub sender: &'a [u8],
    pub recipient: &'a [u8],
    pub client_ip: &'a [u8],
    pub client_name: &'a [u8],
}

/// The policy request for one recipient, ended by the empty line.
pub fn request(q: &Query) -> Vec<u8> {
    let mut r = Vec::with_capacity(160 + q.sender.len() + q.recipient.len());
    r.extend_from_slice(b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=SMTP\n");
    put_attr(&mut r, "client_address", q.client_ip);
    put_attr(&mut r, "client_name", q.client_name);
    put_attr(&mut r, "sender", q.sender);
    put_attr(&mut r, "recipient", q.recipient);
    r.push(b'\n');
    r
}

/// The lines of a complete answer (before its empty line), CRs removed;
/// `None` while the empty line has not arrived.
fn answer_lines(buf: &[u8]) -> Option<Vec<&[u8]>> {
    let mut lines = Vec::new();
    let mut rest = buf;
    while let Some(nl) = crate::bytescan::find(b'\n', rest) {
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
        rest = &rest[nl + 1..];
    }
    None
}

/// What the server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Greylisted,
}

/// The verdict of a complete answer; `None` for garbage (no terminating
/// empty line, no `action=`). `DEFER_IF_PERMIT` (postgrey's default),
/// `DEFER` and a `4NN` code defer; every other action passes.
pub fn verdict(answer: &[u8]) -> Option<Verdict> {
    let lines = answer_lines(answer)?;
    let action = lines.iter().find_map(|l| l.strip_prefix(b"action="))?;
    let word = action
        .split(|&b| b == b' ' || b == b'\t')
        .next()
        .unwrap_or(b"");
    let four_nn = word.len() == 3 && word[0] == b'4' && word.iter().all(u8::is_ascii_digit);
    if word.is_empty() {
        return None;
    }
    if four_nn
        || word.eq_ignore_ascii_case(b"DEFER_IF_PERMIT")
        || word.eq_ignore_ascii_case(b"DEFER")
    {
        return Some(Verdict::Greylisted);
    }
    Some(Verdict::Pass)
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// Sends `request` to `server` and reads the answer, all within `timeout`.
pub fn ask(server: SocketAddr, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let mut s = TcpStream::connect_timeout(&server, timeout)?;
    s.set_nodelay(true)?;
    s.set_write_timeout(Some(left()?))?;
    s.write_all(request)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while buf.len() <= MAX_ANSWER && answer_lines(&buf).is_none() {
        s.set_read_timeout(Some(left()?))?;
        let n = match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(timed_out()),
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

/// The whole query of qmail-postgrey. `Err` is the reason no verdict
/// could be had (the caller passes the recipient and warns).
pub fn query(server: &str, q: &Query) -> Result<Verdict, String> {
    let addr = parse_server(server).ok_or_else(|| format!("unable to parse server {server}"))?;
    let req = request(q);
    let answer =
        ask(addr, &req, TIMEOUT).map_err(|e| format!("unable to talk to {server}: {e}"))?;
    verdict(&answer).ok_or_else(|| {
        let shown = crate::printable::no_controls(&String::from_utf8_lossy(
            &answer[..answer.len().min(80)],
        ));
        format!("unable to understand {server}: {shown}")
    })
}

/// qmail-smtpd's side, asking the server about each recipient as
/// qmail-postgrey would, in-process (both run as qmaild: an exec per
/// recipient buys nothing); trouble is qmail-postgrey's warning on stderr
/// (qmail-smtpd's log).
///
/// Greylisting for one SMTP session. It fails open: a server that cannot
/// be reached or understood lets the mail through with a warning, and is
/// not asked again in this session (each try can cost [`TIMEOUT`], per
/// recipient).
#[derive(Debug, Default)]
pub struct Greylister {
    down: bool,
}

impl Greylister {
    /// Whether `q` is greylisted by `server`.
    pub fn greylisted(&mut self, server: &str, q: &Query) -> bool {
        if self.down {
            return false;
        }
        match query(server, q) {
            Ok(v) => v == Verdict::Greylisted,
            Err(why) => {
                crate::exit::warn("qmail-postgrey", why);
                self.down = true;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greylisted_reply() {
        assert_eq!(reply("try later"), "450 greylisted try later (#4.7.1)");
        assert_eq!(reply(""), "450 greylisted  (#4.7.1)");
    }

    #[test]
    fn servers() {
        assert_eq!(
            parse_server("127.0.0.1"),
            Some("127.0.0.1:60000".parse().unwrap())
        );
        assert_eq!(
            parse_server("127.0.0.1;10023"),
            Some("127.0.0.1:10023".parse().unwrap())
        );
        assert_eq!(
            parse_server("::1;10023"),
            Some("[::1]:10023".parse().unwrap())
        );
        match parse_server("fe80::1%2;10023") {
            Some(SocketAddr::V6(a)) => assert_eq!((a.port(), a.scope_id()), (10023, 2)),
            other => panic!("{other:?}"),
        }
        if std::path::Path::new("/sys/class/net/lo/ifindex").exists() {
            assert!(parse_server("fe80::1%lo").is_some());
        }
        assert_eq!(parse_server("fe80::1%no/such"), None);
        assert_eq!(parse_server("fe80::1%nosuchif0"), None);
        assert_eq!(parse_server("127.0.0.1;0"), None);
        assert_eq!(parse_server("127.0.0.1;x"), None);
        assert_eq!(parse_server("mx.example"), None);
        assert_eq!(parse_server(""), None);
    }

    #[test]
    fn requests() {
        let q = |sender, recipient, client_ip, client_name| {
            request(&Query {
                sender,
                recipient,
                client_ip,
                client_name,
            })
        };
        assert_eq!(
            q(b"a@b.org", b"joe@example.com", b"192.0.2.7", b"c.example"),
            b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=SMTP\n\
client_address=192.0.2.7\nclient_name=c.example\nsender=a@b.org\nrecipient=joe@example.com\n\n"
        );
        let r = q(b"", b"x\nsender=evil@x\r", b"ip", b"h");
        assert!(r.ends_with(b"sender=\nrecipient=x?sender=evil@x?\n\n"));
    }

    #[test]
    fn verdicts() {
        let v = |a: &[u8]| verdict(a);
        assert_eq!(v(b"action=DUNNO\n\n"), Some(Verdict::Pass));
        assert_eq!(
            v(b"action=PREPEND X-Greylist: delayed 1 seconds\n\n"),
            Some(Verdict::Pass)
        );
        assert_eq!(
            v(b"action=DEFER_IF_PERMIT Greylisted, see http://x/\n\n"),
            Some(Verdict::Greylisted)
        );
        assert_eq!(
            v(b"action=defer_if_permit\r\n\r\n"),
            Some(Verdict::Greylisted)
        );
        assert_eq!(v(b"action=DEFER later\n\n"), Some(Verdict::Greylisted));
        assert_eq!(v(b"action=450 try later\n\n"), Some(Verdict::Greylisted));
        assert_eq!(v(b"action=550 no\n\n"), Some(Verdict::Pass));
        assert_eq!(v(b"action=DEFER_IF_REJECT\n\n"), Some(Verdict::Pass));
        assert_eq!(v(b"action=DEFER_IF_PERMIT x\n"), None, "no empty line");
        assert_eq!(v(b"hello\n\n"), None);
        assert_eq!(v(b"action=\n\n"), None);
        assert_eq!(v(b"\n"), None);
        assert_eq!(v(b""), None);
    }

    #[test]
    fn replies() {
        assert_eq!(reply(""), "450 greylisted  (#4.7.1)");
        assert_eq!(
            reply("come back later"),
            "450 greylisted come back later (#4.7.1)"
        );
    }
}
