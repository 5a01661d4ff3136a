//! Bounces (qmail-send(8)): the `bounce/id` entries appended for each
//! permanent failure, and the QSBMF message built from them.

use crate::address::{quote, quote2};
use crate::control::ConstMap;

/// The recipient as the bounce shows it: a virtual-domain prefix `P-` put
/// there by qmail-todo is removed again.
pub fn strip_virtual<'a>(recip: &'a [u8], vdoms: &ConstMap) -> &'a [u8] {
    let Some(at) = recip.iter().rposition(|&b| b == b'@') else {
        return recip;
    };
    let dom = String::from_utf8_lossy(&recip[at + 1..]);
    let Some(prefix) = vdoms.get(&dom) else {
        return recip;
    };
    let p = prefix.as_bytes();
    if !p.is_empty() && recip[..at].starts_with(p) && recip.get(p.len()) == Some(&b'-') {
        &recip[p.len() + 1..]
    } else {
        recip
    }
}

/// One `bounce/id` entry: `<recip>:\n text \n \n`, blank lines folded to `/`.
pub fn entry(recip: &[u8], text: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(recip.len() + text.len() + 8);
    e.push(b'<');
    e.extend(recip.iter().map(|&b| if b == b'\n' { b'_' } else { b }));
    e.extend_from_slice(b">:\n");
    let start = e.len();
    e.extend_from_slice(text);
    if e.last() != Some(&b'\n') {
        e.push(b'\n');
    }
    for i in start + 1..e.len() {
        if e[i] == b'\n' && e[i - 1] == b'\n' {
            e[i] = b'/';
        }
    }
    e.push(b'\n');
    e
}

/// What to do with a finished message's bounce file.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    Triple,
    DoubleDiscard,
    /// Inject: envelope sender, recipient, and whether it is a double bounce.
    Send {
        sender: Vec<u8>,
        recip: Vec<u8>,
        double: bool,
    },
}

/// Bounce addressing (qmail-send(8)).
pub fn plan(sender: &[u8], doublebounceto: &str, doublebouncehost: &str) -> Plan {
    let s = sender.strip_suffix(b"-@[]").unwrap_or(sender);
    if s == b"#@[]" {
        return Plan::Triple;
    }
    if !s.is_empty() {
        return Plan::Send {
            sender: Vec::new(),
            recip: s.to_vec(),
            double: false,
        };
    }
    if doublebounceto.is_empty() || doublebounceto.starts_with('@') {
        return Plan::DoubleDiscard;
    }
    Plan::Send {
        sender: b"#@[]".to_vec(),
        recip: format!("{doublebounceto}@{doublebouncehost}").into_bytes(),
        double: true,
    }
}

/// The bounce message up to the copy of the original (which the caller
/// appends, after `Return-Path: <S>\n`, included here).
pub fn head(
    date: &str,
    bouncefrom: &str,
    bouncehost: &str,
    recip: &[u8],
    double: bool,
    entries: &[u8],
    orig_sender: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(512 + entries.len());
    m.extend_from_slice(format!("Date: {date}\nFrom: ").as_bytes());
    m.extend_from_slice(&quote(bouncefrom.as_bytes()));
    m.extend_from_slice(format!("@{bouncehost}\nTo: ").as_bytes());
    m.extend_from_slice(&quote2(recip));
    m.extend_from_slice(b"\nSubject: failure notice\n\nHi. This is the qmail-send program at ");
    m.extend_from_slice(bouncehost.as_bytes());
    m.extend_from_slice(if double {
        &b".\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n"[..]
    } else {
        b".\nI'm afraid I wasn't able to deliver your message to the following addresses.\n\
This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    });
    m.extend_from_slice(entries);
    m.extend_from_slice(if double {
        &b"--- Below this line is the original bounce.\n\n"[..]
    } else {
        b"--- Below this line is a copy of the message.\n\n"
    });
    m.extend_from_slice(b"Return-Path: <");
    m.extend_from_slice(&quote2(orig_sender));
    m.extend_from_slice(b">\n");
    m
}

/// The trailer after a copy cut at `bouncemaxbytes`.
pub const TRUNCATED: &[u8] = b"\n\n--- Rest of message truncated.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote2(b"joe@x.org"), b"joe@x.org");
        assert_eq!(quote2(b"a b@x.org"), b"\"a b\"@x.org");
        assert_eq!(quote2(b"a..b@x"), b"\"a..b\"@x");
        assert_eq!(quote2(b"q\"t@x"), b"\"q\\\"t\"@x");
        assert_eq!(quote2(b""), b"");
        assert_eq!(quote(b"MAILER-DAEMON"), b"MAILER-DAEMON");
    }

    #[test]
    fn entries() {
        assert_eq!(
            entry(b"u@h", b"Sorry, no mailbox here by that name. (#5.1.1)"),
            b"<u@h>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        );
        assert_eq!(entry(b"a\nb", b"x\n\n\ny\n"), b"<a_b>:\nx\n/\ny\n\n");
    }

    #[test]
    fn virtual_prefix() {
        let m = ConstMap::from_lines(&["v.example:joe".into()]);
        assert_eq!(strip_virtual(b"joe-bob@v.example", &m), b"bob@v.example");
        assert_eq!(strip_virtual(b"bob@v.example", &m), b"bob@v.example");
        assert_eq!(
            strip_virtual(b"joe-bob@w.example", &m),
            b"joe-bob@w.example"
        );
    }

    #[test]
    fn plans() {
        assert_eq!(plan(b"#@[]", "postmaster", "h"), Plan::Triple);
        assert_eq!(plan(b"", "@", "h"), Plan::DoubleDiscard);
        assert_eq!(plan(b"", "", "h"), Plan::DoubleDiscard);
        assert_eq!(
            plan(b"", "postmaster", "h.example"),
            Plan::Send {
                sender: b"#@[]".to_vec(),
                recip: b"postmaster@h.example".to_vec(),
                double: true
            }
        );
        assert_eq!(
            plan(b"list-@x.org-@[]", "p", "h"),
            Plan::Send {
                sender: vec![],
                recip: b"list-@x.org".to_vec(),
                double: false
            }
        );
    }

    #[test]
    fn message_head() {
        let h = head(
            "1 Jan 2024 00:00:00 -0000",
            "MAILER-DAEMON",
            "h.example",
            b"a@b",
            false,
            b"<u@h>:\nno.\n\n",
            b"a@b",
        );
        let t = String::from_utf8(h).unwrap();
        assert!(t.starts_with("Date: 1 Jan 2024 00:00:00 -0000\nFrom: MAILER-DAEMON@h.example\nTo: a@b\nSubject: failure notice\n\nHi. This is the qmail-send program at h.example.\nI'm afraid"));
        assert!(t.ends_with(
            "<u@h>:\nno.\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <a@b>\n"
        ));
    }
}
