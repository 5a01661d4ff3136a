//! One SMTP session with one mail exchanger (qmail-remote(8)): greeting,
//! EHLO/HELO, STARTTLS, AUTH, MAIL (SIZE, BODY=8BITMIME, SMTPUTF8), RCPTs
//! (pipelined when offered), DATA, and the reports they produce.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;

use super::auth;
use super::report::{self, Out, Reply, quit};
use super::route::{Auth, TlsRule};
use super::tls::{self, Stream, TlsSetup};

/// What the session achieved.
pub enum Step {
    /// The message report: the delivery is decided.
    Done(Vec<u8>),
    /// Try the next address (greeting 4xx other than 421/450).
    NextMx,
}

/// Everything a session needs besides the connection.
pub struct Job<'a> {
    /// The envelope as given, bytes (addresses need not be UTF-8).
    pub sender: &'a [u8],
    pub recips: &'a [Vec<u8>],
    pub helo: &'a str,
    pub auth: Option<&'a Auth>,
    pub tls: &'a TlsRule,
    /// The host after routing: what tlsdestinations matched and what
    /// certificate names are checked against.
    pub tls_host: &'a str,
    pub tls_setup: &'a TlsSetup,
    /// The DANE policy of this MX: TLS is then mandatory and the
    /// certificate must match it.
    pub dane: Option<super::dane::Policy>,
    pub msg: &'a mut File,
}

impl Job<'_> {
    /// What the TLS peer of this delivery is checked against.
    pub fn tls_peer(&self) -> tls::Peer<'_> {
        tls::Peer {
            rule: self.tls,
            host: self.tls_host,
            setup: self.tls_setup,
            dane: self.dane.as_ref(),
        }
    }
}

/// The ESMTP extensions of one EHLO reply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ehlo {
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbit: bool,
    pub smtputf8: bool,
    /// `Some(limit)` when SIZE is offered (0: no limit given).
    pub size: Option<u64>,
    /// AUTH mechanisms in the server's order, upper case.
    pub auth: Vec<String>,
}

impl Ehlo {
    pub fn parse(r: &Reply) -> Ehlo {
        let mut e = Ehlo::default();
        let text = String::from_utf8_lossy(&r.text);
        // s/qmail looks for STARTTLS anywhere in the reply.
        e.starttls = text.to_ascii_uppercase().contains("STARTTLS");
        for line in text.lines().skip(1) {
            let Some(l) = line.get(4..) else { continue };
            let mut w = l.split([' ', '=']);
            let kw = w.next().unwrap_or("").to_ascii_uppercase();
            match kw.as_str() {
                "PIPELINING" => e.pipelining = true,
                "8BITMIME" => e.eightbit = true,
                "SMTPUTF8" => e.smtputf8 = true,
                "SIZE" => e.size = Some(w.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "AUTH" => e.auth.extend(w.map(str::to_ascii_uppercase)),
                _ => {}
            }
        }
        e
    }

    /// The mechanism to use: the first one the server lists that we speak.
    pub fn mechanism(&self) -> Option<&str> {
        self.auth
            .iter()
            .map(String::as_str)
            .find(|m| matches!(*m, "CRAM-MD5" | "LOGIN" | "PLAIN"))
    }
}

/// The local part of an address quoted per RFC 5321 when it needs it
/// (qmail's quote()); the domain is left alone.
pub fn quote(addr: &[u8]) -> Vec<u8> {
    let (local, domain) = match memchr::memrchr(b'@', addr) {
        Some(i) => addr.split_at(i),
        None => (addr, &b""[..]),
    };
    let special = |b: &u8| *b <= 32 || *b == 127 || b"()<>,;:\\\"[]@".contains(b);
    let needs = local.iter().any(special)
        || local.starts_with(b".")
        || local.ends_with(b".")
        || local.windows(2).any(|w| w == b"..");
    if !needs {
        return addr.to_vec();
    }
    let mut q = Vec::with_capacity(addr.len() + 4);
    q.push(b'"');
    for &c in local {
        if c == b'"' || c == b'\\' {
            q.push(b'\\');
        }
        q.push(c);
    }
    q.push(b'"');
    q.extend_from_slice(domain);
    q
}

/// A CR or LF in an address, which no SMTP command can carry.
pub fn has_line_break(addr: &[u8]) -> bool {
    addr.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// The connection with its read buffer.
pub struct Conn {
    pub s: Stream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    pub fn new(s: Stream) -> Conn {
        Conn {
            s,
            buf: Vec::with_capacity(4096),
            pos: 0,
        }
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..]) {
                let l = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 1;
                return Ok(l);
            }
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            if self.buf.len() > 1 << 16 {
                return Err(io::ErrorKind::InvalidData.into());
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One (multi-line) reply; its code comes from the first line.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut r = Reply::default();
        let mut first = true;
        loop {
            let l = self.line()?;
            if first {
                let d = l.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
                r.code = d.map_or(0, |d| {
                    d.iter().fold(0, |a, &b| a * 10 + u16::from(b - b'0'))
                });
                first = false;
            }
            r.push_line(&l);
            if l.get(3) != Some(&b'-') {
                return Ok(r);
            }
        }
    }

    /// One byte (for QMTP's netstrings).
    pub fn byte(&mut self) -> io::Result<u8> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.s.write_all(data)?;
        self.s.flush()
    }

    pub fn cmd(&mut self, line: &str) -> io::Result<Reply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Drops bytes received but not yet read: nothing sent before the TLS
    /// handshake may be taken as coming through TLS (client side of
    /// CVE-2020-15955).
    pub fn discard_buffer(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }
}

/// SMTP's encoding of a stored message: LF → CRLF, leading dots doubled,
/// and a bare CR sent as CRLF with the next line dot-stuffed, so a next hop
/// that ends lines at CR never sees `CR . CR` (the smuggling class). A CR
/// right before LF goes out as qmail sends it, `CR CRLF`.
#[derive(Debug, Default)]
struct DataEncoder {
    mid_line: bool,
    /// The last byte was a CR whose successor is not known yet.
    cr: bool,
}

impl DataEncoder {
    fn encode(&mut self, mut rest: &[u8], out: &mut Vec<u8>) {
        while !rest.is_empty() {
            if std::mem::take(&mut self.cr) && rest[0] != b'\n' {
                out.push(b'\n');
                self.mid_line = false;
            }
            if !self.mid_line && rest[0] == b'.' {
                out.push(b'.');
            }
            match crate::bytescan::find2(b'\r', b'\n', rest) {
                Some(i) if rest[i] == b'\r' => {
                    out.extend_from_slice(&rest[..=i]);
                    rest = &rest[i + 1..];
                    self.mid_line = true;
                    self.cr = true;
                }
                Some(i) => {
                    out.extend_from_slice(&rest[..i]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[i + 1..];
                    self.mid_line = false;
                }
                None => {
                    out.extend_from_slice(rest);
                    rest = &[];
                    self.mid_line = true;
                }
            }
        }
    }

    /// Adds the final dot; false when the last line had no LF.
    fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        if std::mem::take(&mut self.cr) {
            out.push(b'\n');
            self.mid_line = false;
        }
        if self.mid_line {
            return false;
        }
        out.extend_from_slice(b".\r\n");
        true
    }
}

/// Sends the message from `msg` (DataEncoder), then the final dot.
/// `Ok(false)`: the last line had no LF (nothing final sent).
fn blast(conn: &mut Conn, msg: &mut File) -> io::Result<Result<bool, ()>> {
    if msg.seek(SeekFrom::Start(0)).is_err() {
        return Ok(Err(()));
    }
    let mut inb = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(70 * 1024);
    let mut enc = DataEncoder::default();
    loop {
        let n = match msg.read(&mut inb) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(Err(())),
        };
        enc.encode(&inb[..n], &mut out);
        // Keep the tail for the last write, with the final dot.
        if out.len() >= 64 * 1024 {
            conn.s.write_all(&out)?;
            out.clear();
        }
    }
    if !enc.finish(&mut out) {
        return Ok(Ok(false));
    }
    conn.s.write_all(&out)?;
    conn.s.flush()?;
    Ok(Ok(true))
}

/// Does the message contain bytes ≥ 128? (Scanned only when the server
/// offers 8BITMIME.)
fn has_8bit(msg: &mut File) -> bool {
    if msg.seek(SeekFrom::Start(0)).is_err() {
        return false;
    }
    let mut b = vec![0u8; 64 * 1024];
    loop {
        match msg.read(&mut b) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                if b[..n].iter().any(|&c| c >= 128) {
                    return true;
                }
            }
        }
    }
}

/// Why a message needs SMTPUTF8 (RFC 6531).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf8Need {
    /// An envelope address is not ASCII.
    Address,
    /// The header has UTF-8 beyond ASCII (RFC 6532).
    Header,
}

/// The bounce when a non-ASCII address meets a server without SMTPUTF8:
/// an address cannot be downgraded (RFC 6531 §3.4).
fn utf8_address_refusal(ip: &str) -> Vec<u8> {
    format!(
        "DConnected to {ip} but it does not offer SMTPUTF8, which a message with a non-ASCII address needs. (#5.6.7)\n"
    )
    .into_bytes()
}

fn needs_smtputf8(job: &Job<'_>) -> Option<Utf8Need> {
    if !job.sender.is_ascii() || job.recips.iter().any(|r| !r.is_ascii()) {
        Some(Utf8Need::Address)
    } else if utf8_header(job.msg) {
        Some(Utf8Need::Header)
    } else {
        None
    }
}

/// How much of the header is looked at for UTF-8.
const HEADER_SCAN: usize = 64 * 1024;

/// Whether the header (up to the first empty line, at most HEADER_SCAN
/// bytes, read with pread so the file offset stays) is UTF-8 with bytes
/// beyond ASCII. 8-bit bytes that are not UTF-8 (a legacy charset sent
/// raw) do not make an internationalised message: they go as before.
fn utf8_header(msg: &File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 8 * 1024];
    let mut len = 0;
    let mut searched: usize = 0;
    let end = loop {
        if len == buf.len() {
            if len >= HEADER_SCAN {
                break len;
            }
            buf.resize(len * 2, 0);
        }
        let n = match msg.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break len,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break len,
        };
        len += n;
        if buf.first() == Some(&b'\n') {
            return false;
        }
        let from = searched.saturating_sub(1);
        if let Some(i) = memchr::memmem::find(&buf[from..len], b"\n\n") {
            break from + i + 1;
        }
        searched = len;
    };
    let h = &buf[..end];
    if h.is_ascii() {
        return false;
    }
    match std::str::from_utf8(h) {
        Ok(_) => true,
        // Cut off inside a character at the scan limit: still UTF-8.
        Err(e) => e.error_len().is_none(),
    }
}

/// Where in the dialogue an I/O error happened.
enum Fail {
    Io(io::Error),
    /// The final dot was sent: a loss may duplicate the message.
    AfterDot,
    Report(Vec<u8>),
    /// A kept session found closed (or closing, 421) before the server
    /// took the sender: nothing was accepted, a new connection may try.
    Stale,
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

/// A session left open after a complete transaction, ready for the next
/// message to the same place (qmail-rspawn(8): connection reuse).
pub struct Kept {
    conn: Conn,
    ehlo: Ehlo,
    over_tls: bool,
    authed: bool,
    ip: String,
}

impl Kept {
    /// The socket, to notice the server closing it while it is idle.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.conn.s.raw_fd()
    }

    /// Ends the session politely, as after a single delivery.
    pub fn quit(mut self) {
        let _ = self.conn.send(b"QUIT\r\n");
        self.conn.s.close();
    }
}

/// What a kept session did with a message.
pub enum Reused {
    /// The delivery is decided; the session is kept again when its
    /// transaction completed.
    Done(Vec<u8>, Option<Kept>),
    /// The server had closed the session: deliver over a new connection.
    Stale,
}

/// Runs the session on `tcp` with the server at `ip` (text form) named
/// `mx_host`; `implicit` does the TLS handshake before the greeting.
/// With `keep`, a session whose transaction completed is returned open
/// instead of ended with QUIT.
pub fn session(
    job: &mut Job<'_>,
    out: &mut Out,
    tcp: TcpStream,
    ip: &str,
    mx_host: &str,
    implicit: bool,
    keep: bool,
) -> (Step, Option<Kept>) {
    let mut conn = Conn::new(Stream::Plain(tcp));
    let r = match open(job, &mut conn, ip, mx_host, implicit) {
        Ok(Ok((ehlo, over_tls))) => {
            let mut authed = false;
            let r = transaction(job, out, &mut conn, &ehlo, over_tls, &mut authed, ip, false);
            if keep && let Ok(Step::Done(text)) = r {
                let ip = ip.to_string();
                let kept = Kept {
                    conn,
                    ehlo,
                    over_tls,
                    authed,
                    ip,
                };
                return (Step::Done(text), Some(kept));
            }
            r
        }
        Ok(Err(step)) => Ok(step),
        Err(f) => Err(f),
    };
    (end(job, &mut conn, r, ip), None)
}

/// The next message over a kept session.
pub fn reuse(job: &mut Job<'_>, out: &mut Out, mut k: Kept) -> Reused {
    let r = transaction(
        job,
        out,
        &mut k.conn,
        &k.ehlo,
        k.over_tls,
        &mut k.authed,
        &k.ip,
        true,
    );
    match r {
        Err(Fail::Stale) => {
            k.conn.s.close();
            Reused::Stale
        }
        Ok(Step::Done(text)) => Reused::Done(text, Some(k)),
        r => match end(job, &mut k.conn, r, &k.ip) {
            Step::Done(text) => Reused::Done(text, None),
            Step::NextMx => Reused::Stale,
        },
    }
}

/// The report of a session that ends here; a decided one says QUIT.
fn end(job: &Job<'_>, conn: &mut Conn, r: Result<Step, Fail>, ip: &str) -> Step {
    let report = match r {
        Ok(step) => step,
        Err(Fail::Report(v)) => Step::Done(v),
        Err(Fail::Io(e)) if tls::is_tls_error(&e) => {
            Step::Done(report::tls_fail(tls::PROTOCOL, job.tls_host))
        }
        Err(Fail::Io(_) | Fail::Stale) => Step::Done(report::died(ip, false)),
        Err(Fail::AfterDot) => Step::Done(report::died(ip, true)),
    };
    // Politeness, as qmail 1.03: QUIT without waiting for its answer.
    if matches!(report, Step::Done(_)) {
        let _ = conn.send(b"QUIT\r\n");
        conn.s.close();
    }
    report
}

/// Greeting, EHLO, STARTTLS: the session up to its first transaction.
/// `Ok(Err(step))`: the greeting sends us to the next address.
fn open(
    job: &mut Job<'_>,
    conn: &mut Conn,
    ip: &str,
    mx_host: &str,
    implicit: bool,
) -> Result<Result<(Ehlo, bool), Step>, Fail> {
    let z = |suffix: &str, r: &Reply| Fail::Report(quit("ZConnected to ", ip, suffix, Some(r)));
    let d = |suffix: &str, r: &Reply| Fail::Report(quit("DConnected to ", ip, suffix, Some(r)));
    if implicit {
        tls::start(&mut conn.s, &job.tls_peer(), mx_host).map_err(Fail::Report)?;
    }
    let g = conn.reply()?;
    match g.code {
        500.. => return Err(d(" but sender was rejected", &g)),
        421 | 450 => return Err(z(" but greylisted", &g)),
        400..=499 => return Ok(Err(Step::NextMx)),
        220 => {}
        _ => return Err(z(" but greeting failed", &g)),
    }
    let mut ehlo = hello(conn, job.helo, ip)?;
    let mut over_tls = implicit;
    if !implicit && (job.tls.wanted() || job.dane.is_some()) {
        let mandatory = job.tls.mandatory() || job.dane.is_some();
        if ehlo.starttls {
            let r = conn.cmd("STARTTLS")?;
            if r.code != 220 {
                return Err(Fail::Report(quit(
                    "ZConnected to",
                    ip,
                    " but STARTTLS was rejected",
                    Some(&r),
                )));
            }
            conn.discard_buffer();
            tls::start(&mut conn.s, &job.tls_peer(), mx_host).map_err(Fail::Report)?;
            over_tls = true;
            ehlo = hello(conn, job.helo, ip)?;
        } else if mandatory {
            return Err(Fail::Report(report::tls_fail(tls::NEGOTIATE, job.tls_host)));
        }
    }
    Ok(Ok((ehlo, over_tls)))
}

/// One message: AUTH (once per session), MAIL, RCPTs, DATA. `Ok` only
/// when the server answered the final dot: the session is then ready for
/// another transaction. On a `reused` session a failure before the
/// server took the sender is `Fail::Stale`.
#[allow(clippy::too_many_arguments)]
fn transaction(
    job: &mut Job<'_>,
    out: &mut Out,
    conn: &mut Conn,
    ehlo: &Ehlo,
    over_tls: bool,
    authed: &mut bool,
    ip: &str,
    reused: bool,
) -> Result<Step, Fail> {
    let z = |suffix: &str, r: &Reply| Fail::Report(quit("ZConnected to ", ip, suffix, Some(r)));
    let d = |suffix: &str, r: &Reply| Fail::Report(quit("DConnected to ", ip, suffix, Some(r)));
    // Known before AUTH: a message this peer must not get ends here.
    // UTF-8 header fields ask for SMTPUTF8 where it is offered and go as
    // 8-bit text elsewhere, as qmail and Postfix send them: bouncing them
    // would refuse mail every qmail peer takes today (spec: SMTPUTF8 only
    // for a non-ASCII address).
    let utf8 = match needs_smtputf8(job) {
        Some(Utf8Need::Address) if !ehlo.smtputf8 => {
            return Err(Fail::Report(utf8_address_refusal(ip)));
        }
        Some(_) => ehlo.smtputf8,
        None => false,
    };
    let mut mail = b"MAIL FROM:<".to_vec();
    mail.extend_from_slice(&quote(job.sender));
    mail.push(b'>');
    // Without a mechanism in common the session goes on unauthenticated,
    // without the K-lettered notice s/qmail writes here (qmail-remote(8),
    // AUTH).
    if let Some(a) = job.auth
        && let Some(mech) = ehlo.mechanism()
    {
        if !*authed {
            login(conn, job.sender, a, mech, ip)?;
            *authed = true;
        }
        mail.extend_from_slice(b" AUTH=");
        mail.extend_from_slice(auth::xtext(&a.user).as_bytes());
    }
    if let Some(limit) = ehlo.size {
        let size = job.msg.metadata().map_or(0, |m| m.len());
        if limit > 0 && size > limit {
            return Err(Fail::Report(
                format!(
                    "DConnected to {ip} but the message is larger than its limit of {limit} bytes. (#5.3.4)\n"
                )
                .into_bytes(),
            ));
        }
        mail.extend_from_slice(format!(" SIZE={size}").as_bytes());
    }
    if ehlo.eightbit && has_8bit(job.msg) {
        mail.extend_from_slice(b" BODY=8BITMIME");
    }
    if utf8 {
        mail.extend_from_slice(b" SMTPUTF8");
    }
    mail.extend_from_slice(b"\r\n");
    // A recipient with a line break is never sent: its CR or LF would end
    // the RCPT command and start one of the sender's choosing.
    let rcpts: Vec<Option<Vec<u8>>> = job
        .recips
        .iter()
        .map(|r| (!has_line_break(r)).then(|| [&b"RCPT TO:<"[..], &quote(r), b">\r\n"].concat()))
        .collect();
    let stale = |e: io::Error| if reused { Fail::Stale } else { Fail::Io(e) };
    if ehlo.pipelining {
        let mut all = mail;
        for r in rcpts.iter().flatten() {
            all.extend_from_slice(r);
        }
        all.extend_from_slice(b"DATA\r\n");
        conn.send(&all).map_err(stale)?;
    } else {
        conn.send(&mail).map_err(stale)?;
    }
    let m = conn.reply().map_err(stale)?;
    match m.code {
        421 if reused => return Err(Fail::Stale),
        500.. => return Err(d(" but sender was rejected", &m)),
        400..=499 => return Err(z(" but sender was greylisted", &m)),
        _ => {}
    }
    let mut any = false;
    for r in &rcpts {
        let Some(r) = r else {
            out.recip(b'h', report::LINE_BREAK_RECIPIENT, None);
            continue;
        };
        if !ehlo.pipelining {
            conn.send(r)?;
        }
        let rr = conn.reply()?;
        match rr.code {
            500.. => out.recip(b'h', &format!("{ip} does not like recipient.\n"), Some(&rr)),
            421 | 450 => out.recip(b's', &format!("{ip} probably greylisting.\n"), Some(&rr)),
            400..=499 => out.recip(b's', &format!("{ip} does not like recipient.\n"), Some(&rr)),
            _ => {
                out.recip(b'r', "", None);
                any = true;
            }
        }
    }
    if !any {
        return Err(Fail::Report(quit("DGiving up on ", ip, "", None)));
    }
    let dr = if ehlo.pipelining {
        conn.reply()?
    } else {
        conn.cmd("DATA")?
    };
    match dr.code {
        500.. => {
            return Err(Fail::Report(quit(
                "D",
                ip,
                " failed on DATA command",
                Some(&dr),
            )));
        }
        451 => {
            return Err(Fail::Report(quit(
                "Z",
                ip,
                " message was greylisted",
                Some(&dr),
            )));
        }
        400..=499 => {
            return Err(Fail::Report(quit(
                "Z",
                ip,
                " failed on DATA command",
                Some(&dr),
            )));
        }
        _ => {}
    }
    match blast(conn, job.msg)? {
        Err(()) => return Err(Fail::Report(report::READ_FAILED.as_bytes().to_vec())),
        Ok(false) => return Err(Fail::Report(report::PARTIAL_LINE.as_bytes().to_vec())),
        Ok(true) => {}
    }
    let f = conn.reply().map_err(|_| Fail::AfterDot)?;
    let text = match f.code {
        500.. => quit("D", ip, " failed after I sent the message", Some(&f)),
        400..=499 => quit("Z", ip, " failed after I sent the message", Some(&f)),
        _ if over_tls => quit("K", ip, " TLS transmitted message accepted", Some(&f)),
        _ => quit("K", ip, " accepted message", Some(&f)),
    };
    Ok(Step::Done(text))
}

/// EHLO, and HELO when EHLO is refused.
fn hello(conn: &mut Conn, helo: &str, ip: &str) -> Result<Ehlo, Fail> {
    let e = conn.cmd(&format!("EHLO {helo}"))?;
    if e.code == 250 {
        return Ok(Ehlo::parse(&e));
    }
    let h = conn.cmd(&format!("HELO {helo}"))?;
    match h.code {
        250 => Ok(Ehlo::default()),
        500.. => Err(Fail::Report(quit(
            "DConnected to",
            ip,
            " but my name was rejected",
            Some(&h),
        ))),
        _ => Err(Fail::Report(quit(
            "ZConnected to",
            ip,
            " but my name was rejected",
            Some(&h),
        ))),
    }
}

/// AUTH with `mech`; Ok when the server said 235.
fn login(conn: &mut Conn, sender: &[u8], a: &Auth, mech: &str, ip: &str) -> Result<(), Fail> {
    let rejected = |what: &str, r: &Reply| {
        Fail::Report(match r.code {
            432 => quit("DConnected to ", ip, " but password expired", Some(r)),
            534 => {
                let m = what.trim_start_matches("AUTH ").to_ascii_lowercase();
                let m = if m.starts_with("cram") {
                    "cram".into()
                } else {
                    m
                };
                quit(
                    "ZConnected to ",
                    ip,
                    &format!(" but authentication mechamism too weak ({m})"),
                    Some(r),
                )
            }
            _ => quit(
                "ZConnected to ",
                ip,
                &format!(" but authentication was rejected ({what})"),
                Some(r),
            ),
        })
    };
    let step = |conn: &mut Conn, line: &str, want: u16, what: &str| -> Result<Reply, Fail> {
        let r = conn.cmd(line)?;
        if r.code == want {
            Ok(r)
        } else {
            Err(rejected(what, &r))
        }
    };
    match mech {
        "PLAIN" => {
            step(conn, "AUTH PLAIN", 334, "AUTH PLAIN")?;
            step(conn, &auth::plain(sender, &a.user, &a.pass), 235, "plain")?;
        }
        "LOGIN" => {
            step(conn, "AUTH LOGIN", 334, "AUTH LOGIN")?;
            step(
                conn,
                &crate::codec::b64_encode(a.user.as_bytes()),
                334,
                "username",
            )?;
            step(
                conn,
                &crate::codec::b64_encode(a.pass.as_bytes()),
                235,
                "login",
            )?;
        }
        _ => {
            let r = step(conn, "AUTH CRAM-MD5", 334, "AUTH CRAM-MD5")?;
            let ch = r.text.get(4..).unwrap_or(b"");
            let ch = ch.strip_suffix(b"\n").unwrap_or(ch);
            let Some(resp) = auth::cram_md5(&a.user, &a.pass, ch) else {
                return Err(Fail::Report(quit(
                    "ZConnected to ",
                    ip,
                    " but unable to base64decode challenge",
                    None,
                )));
            };
            step(conn, &resp, 235, "cram")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let (mut e, mut out) = (DataEncoder::default(), Vec::new());
        chunks.iter().for_each(|c| e.encode(c, &mut out));
        let whole = e.finish(&mut out);
        (out, whole)
    }

    #[test]
    fn data_encoding() {
        let (o, whole) = encoded(&[b".a\nb\n..\n"]);
        assert_eq!(
            (o.as_slice(), whole),
            (&b"..a\r\nb\r\n...\r\n.\r\n"[..], true)
        );
        assert!(!encoded(&[b"a\nno lf"]).1);
        // Bare CRs: never a lone `CR . CR` on the wire, at any split.
        let want = &b"a\r\n..\r\nb\r\n.\r\n"[..];
        assert_eq!(encoded(&[b"a\r.\rb\n"]).0, want);
        assert_eq!(encoded(&[b"a\r", b".\r", b"b\n"]).0, want);
        // CR before LF as qmail sends it; a trailing CR ends the line.
        assert_eq!(encoded(&[b"x\r", b"\n"]).0, b"x\r\r\n.\r\n");
        assert_eq!(encoded(&[b"x\r"]), (b"x\r\n.\r\n".to_vec(), true));
    }

    #[test]
    fn line_breaks_in_addresses() {
        assert!(
            has_line_break(b"a\r\nRSET@x") && has_line_break(b"a\rb") && has_line_break(b"a\n")
        );
        assert!(!has_line_break(b"a b\t\"c\"@x"));
    }

    #[test]
    fn quoting() {
        let q = |a: &[u8]| String::from_utf8_lossy(&quote(a)).into_owned();
        assert_eq!(q(b"joe@example.com"), "joe@example.com");
        assert_eq!(q(b"a b@x"), "\"a b\"@x");
        assert_eq!(q(b"a\"b@x"), "\"a\\\"b\"@x");
        assert_eq!(q(b".a@x"), "\".a\"@x");
        assert_eq!(q(b"a@b@x"), "\"a@b\"@x");
        assert_eq!(q(b""), "");
        assert_eq!(quote(b"j\xe9@x"), b"j\xe9@x", "8-bit bytes pass unchanged");
    }

    #[test]
    fn utf8_headers() {
        let path = std::env::temp_dir().join(format!("sqmail-utf8hdr-{}", std::process::id()));
        let check = |msg: &[u8]| {
            std::fs::write(&path, msg).unwrap();
            utf8_header(&File::open(&path).unwrap())
        };
        assert!(!check(b"Subject: plain\n\nbody\n"));
        assert!(check("Subject: caf\u{e9}\n\nbody\n".as_bytes()));
        assert!(check("From: J\u{f6}rg <j@x>\n".as_bytes()), "no body");
        assert!(!check(b"Subject: caf\xe9\n\n"), "Latin-1 is not UTF-8");
        assert!(!check("Subject: x\n\ncaf\u{e9}\n".as_bytes()), "body only");
        assert!(!check("\nSubject: caf\u{e9}\n".as_bytes()), "empty header");
        // A header longer than the first read; UTF-8 after 8 KiB.
        let mut long = b"X-Pad: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 20_000));
        long.extend_from_slice("\nSubject: \u{263a}\n\nbody\n".as_bytes());
        assert!(check(&long));
        // Beyond the scan limit nothing is seen.
        let mut huge = b"X-Pad: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', HEADER_SCAN));
        huge.extend_from_slice("\nSubject: \u{263a}\n\n".as_bytes());
        assert!(!check(&huge));
        // "\n\n" split across two reads.
        let mut split = b"X: ".to_vec();
        split.extend(std::iter::repeat_n(b'a', 8 * 1024 - 4));
        split.extend_from_slice("\n\n\u{263a}\n".as_bytes());
        assert!(!check(&split));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn ehlo_keywords() {
        let mut r = Reply::default();
        for l in [
            "250-mx.example Hello",
            "250-PIPELINING",
            "250-SIZE 1000",
            "250-8BITMIME",
            "250-AUTH LOGIN CRAM-MD5 PLAIN",
            "250-AUTH=LOGIN",
            "250 STARTTLS",
        ] {
            r.push_line(l.as_bytes());
        }
        let e = Ehlo::parse(&r);
        assert!(e.starttls && e.pipelining && e.eightbit && !e.smtputf8);
        assert_eq!(e.size, Some(1000));
        assert_eq!(e.mechanism(), Some("LOGIN"));
        let mut r = Reply::default();
        r.push_line(b"250-x");
        r.push_line(b"250 SIZE");
        assert_eq!(Ehlo::parse(&r).size, Some(0));
        assert_eq!(Ehlo::parse(&r).mechanism(), None);
    }
}
