//! qmail-remote's output (qmail-remote(8), OUTPUT): NUL-terminated reports, the
//! recipient ones (`r`/`h`/`s`) first, then one message report
//! (`K`/`Z`/`D`). Everything is collected and written once at the end.

use std::io::Write;

/// SMTP replies quoted in reports are cut at this many bytes.
const REPLY_MAX: usize = 5000;

pub const NO_CONNECTION: &str = "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n";
pub const READ_FAILED: &str = "ZUnable to read message. (#4.3.0)\n";
pub const PARTIAL_LINE: &str =
    "DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n";
pub const NO_MX: &str = "DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n";
pub const MX_IS_ME: &str = "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n";
pub const USAGE: &str = "Dqmail-remote was invoked improperly. (#5.3.5)\n";
pub const NO_HOME: &str = "ZUnable to switch to home directory. (#4.3.0)\n";
pub const CONTROL: &str = "ZUnable to read control files. (#4.3.0)\n";
pub const SOCKET: &str = "ZSystem resources temporarily unavailable. (#4.3.0)\n";
pub const BAD_DOMAINIP: &str = "ZInvalid ipaddr in control/domainips (#4.3.0)\n";
pub const LINE_BREAK_SENDER: &str =
    "DSorry, the envelope sender has a CR or LF in it, which SMTP cannot carry. (#5.1.7)\n";
pub const LINE_BREAK_RECIPIENT: &str =
    "Sorry, the recipient address has a CR or LF in it, which SMTP cannot carry. (#5.1.3)\n";
pub const QMTP_PROTO: &str = "ZRecipient did not talk proper QMTP (#4.3.0)\n";

pub fn dns_soft(host: &str) -> String {
    format!("ZSorry, I couldn't find any host named: {host}. (#4.1.2)\n")
}
pub fn dns_hard(host: &str) -> String {
    format!("DSorry, I couldn't find any host named {host}. (#5.1.2)\n")
}
/// A route in qmail 1.03's syntax: deferred (not bounced) until the
/// admin writes it as s/qmail does.
pub fn qmail103_route(relay: &str) -> String {
    format!(
        "Zcontrol/smtproutes or qmtproutes names the relay {relay} in qmail 1.03's syntax host:port; s/qmail's is host;port (package/upgrade converts it). (#4.3.5)\n"
    )
}
pub fn bind_failed(ip: &str) -> String {
    format!("ZCan't bind to local ip address: {ip}. (#4.3.0)\n")
}

/// An SMTP reply: its code and its lines as reports quote them (CRs
/// removed, NULs as `?`, at most 5000 bytes, each line ending in LF).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub code: u16,
    pub text: Vec<u8>,
}

impl Reply {
    /// Appends one received line (without its LF).
    pub fn push_line(&mut self, line: &[u8]) {
        for &b in line {
            if self.text.len() >= REPLY_MAX {
                return;
            }
            match b {
                b'\r' => {}
                0 => self.text.push(b'?'),
                b => self.text.push(b),
            }
        }
        if self.text.len() < REPLY_MAX {
            self.text.push(b'\n');
        }
    }
}

/// The report stream being built.
#[derive(Debug, Default)]
pub struct Out {
    buf: Vec<u8>,
}

impl Out {
    pub fn raw(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
        self.buf.push(0);
    }

    /// A recipient report: `r`, or `h`/`s` with text and the reply.
    pub fn recip(&mut self, letter: u8, text: &str, reply: Option<&Reply>) {
        self.buf.push(letter);
        self.buf.extend_from_slice(text.as_bytes());
        if let Some(r) = reply {
            said(&mut self.buf, r);
        }
        self.buf.push(0);
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Writes everything to fd 1 in one write (std's stdout would split it
    /// at the last newline); qmail-remote exits 0 whatever happens.
    pub fn flush(&mut self) {
        let _ = crate::sys::borrow_fd(1).write_all(&self.buf);
        self.buf.clear();
    }
}

fn said(buf: &mut Vec<u8>, r: &Reply) {
    if !r.text.is_empty() {
        buf.extend_from_slice(b"Remote host said: ");
        buf.extend_from_slice(&r.text);
    }
}

/// qmail's `quit(prefix, suffix)`: `<prefix><ip><suffix>.\n` and the reply.
pub fn quit(prefix: &str, ip: &str, suffix: &str, reply: Option<&Reply>) -> Vec<u8> {
    let mut v = format!("{prefix}{ip}{suffix}.\n").into_bytes();
    if let Some(r) = reply {
        said(&mut v, r);
    }
    v
}

/// A TLS failure: `Z <text>: <host>. (#4.4.1)`, the host printed with
/// bytes outside 33..126 as `?`.
pub fn tls_fail(text: &str, host: &str) -> Vec<u8> {
    let host = crate::printable::text(host.as_bytes(), crate::printable::word);
    format!("Z {text}: {host}. (#4.4.1)\n").into_bytes()
}

/// A `tlsdestinations` line for `host` with a field that cannot be
/// honoured: the delivery waits until the line is fixed.
pub fn bad_tls_rule(host: &str, why: &str) -> Vec<u8> {
    let host = crate::printable::text(host.as_bytes(), crate::printable::word);
    let why = crate::printable::text(why.as_bytes(), crate::printable::ascii);
    format!("ZUnusable control/tlsdestinations line for {host}: {why}. (#4.3.0)\n").into_bytes()
}

pub fn died(ip: &str, after_dot: bool) -> Vec<u8> {
    let dup = if after_dot {
        " Possible duplicate!"
    } else {
        ""
    };
    format!("ZConnected to {ip} but connection died.{dup} (#4.4.2)\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_cleaning_and_quit() {
        let mut r = Reply {
            code: 250,
            ..Reply::default()
        };
        r.push_line(b"250-a\x00b\r");
        r.push_line(b"250 ok");
        assert_eq!(
            quit("K", "1.2.3.4", " accepted message", Some(&r)),
            b"K1.2.3.4 accepted message.\nRemote host said: 250-a?b\n250 ok\n"
        );
        let mut big = Reply::default();
        for _ in 0..100 {
            big.push_line(&[b'x'; 100]);
        }
        assert_eq!(big.text.len(), 5000);
    }

    #[test]
    fn tls_and_died() {
        assert_eq!(
            tls_fail("Unable to verify X.500 certificate from", "mx.ex ample"),
            b"Z Unable to verify X.500 certificate from: mx.ex?ample. (#4.4.1)\n"
        );
        assert_eq!(
            died("::1", true),
            b"ZConnected to ::1 but connection died. Possible duplicate! (#4.4.2)\n"
        );
    }
}
