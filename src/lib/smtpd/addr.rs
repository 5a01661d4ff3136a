//! Envelope addresses in MAIL and RCPT arguments (qmail-smtpd(8))
//! and the ESMTP parameters after them.

/// The longest envelope address accepted (bytes).
pub const MAX_ADDRESS: usize = 900;

/// Extracts the address between `<` and the first unquoted `>`: a source
/// route `@a,@b:` is dropped, `"` toggles quoting, `\` escapes. `None` is a
/// syntax error (no `<`, too long, or a NUL byte).
pub fn parse(arg: &[u8]) -> Option<Vec<u8>> {
    let lt = crate::bytescan::find(b'<', arg)?;
    let mut rest = &arg[lt + 1..];
    if rest.first() == Some(&b'@') {
        rest = match crate::bytescan::find(b':', rest) {
            Some(c) => &rest[c + 1..],
            None => &[],
        };
    }
    let mut out = Vec::with_capacity(rest.len().min(MAX_ADDRESS));
    let (mut esc, mut quoted) = (false, false);
    for &b in rest {
        if esc {
            esc = false;
        } else if b == b'\\' {
            esc = true;
            continue;
        } else if b == b'"' {
            quoted = !quoted;
            continue;
        } else if b == b'>' && !quoted {
            break;
        }
        if out.len() >= MAX_ADDRESS || b == 0 {
            return None;
        }
        out.push(b);
    }
    Some(out)
}

/// Replaces a trailing `@[ip]` naming one of `local_ips` by
/// `@localiphost` (qmail-smtpd(8)).
pub fn rewrite_literal(addr: &mut Vec<u8>, local_ips: &[String], localiphost: &str) {
    let Some(at) = crate::bytescan::rfind(b'@', addr) else {
        return;
    };
    let dom = &addr[at + 1..];
    let Some(inner) = dom.strip_prefix(b"[").and_then(|d| d.strip_suffix(b"]")) else {
        return;
    };
    let inner = inner.strip_prefix(b"IPv6:").unwrap_or(inner);
    if local_ips.iter().any(|ip| ip.as_bytes() == inner) {
        addr.truncate(at + 1);
        addr.extend_from_slice(localiphost.as_bytes());
    }
}

/// The ESMTP parameters of MAIL that qmail-smtpd looks at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub smtputf8: bool,
}

/// Scans the words of the whole MAIL argument (case-insensitive).
pub fn mail_params(arg: &[u8]) -> MailParams {
    let mut p = MailParams::default();
    for w in arg.split(|&b| b == b' ') {
        if w.len() > 5 && w[..5].eq_ignore_ascii_case(b"SIZE=") {
            let digits = w[5..].iter().take_while(|b| b.is_ascii_digit()).count();
            let n = std::str::from_utf8(&w[5..5 + digits]).unwrap_or("0");
            p.size = Some(n.parse().unwrap_or(u64::MAX));
        } else if w.eq_ignore_ascii_case(b"SMTPUTF8") {
            p.smtputf8 = true;
        }
    }
    p
}

/// The domain of an address (after the last `@`), empty if none.
pub fn domain(addr: &[u8]) -> &[u8] {
    match crate::bytescan::rfind(b'@', addr) {
        Some(at) => &addr[at + 1..],
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"FROM:<a@b>", Some(b"a@b")),
            (b"TO: <a@b> SIZE=10", Some(b"a@b")),
            (b"FROM:<>", Some(b"")),
            (b"FROM:a@b", None),
            (b"TO:<@r1,@r2:u@d>", Some(b"u@d")),
            (b"TO:<\"x>y\"@d>", Some(b"x>y@d")),
            (b"TO:<a\\>b@d>", Some(b"a>b@d")),
            (b"TO:<open@end", Some(b"open@end")),
            (b"TO:<a\0b@d>", None),
        ];
        for (i, o) in cases {
            assert_eq!(parse(i).as_deref(), *o, "{}", String::from_utf8_lossy(i));
        }
        let long = [b"TO:<".to_vec(), vec![b'a'; 901], b">".to_vec()].concat();
        assert_eq!(parse(&long), None);
        let ok = [b"TO:<".to_vec(), vec![b'a'; 900], b">".to_vec()].concat();
        assert_eq!(parse(&ok).map(|a| a.len()), Some(900));
    }

    #[test]
    fn literals_and_params() {
        let mut a = b"u@[10.0.0.1]".to_vec();
        rewrite_literal(&mut a, &["10.0.0.1".into()], "mx.example");
        assert_eq!(a, b"u@mx.example");
        let mut b = b"u@[10.0.0.2]".to_vec();
        rewrite_literal(&mut b, &["10.0.0.1".into()], "mx.example");
        assert_eq!(b, b"u@[10.0.0.2]");
        let p = mail_params(b"FROM:<a@b> size=123 BODY=8BITMIME smtputf8");
        assert_eq!(
            p,
            MailParams {
                size: Some(123),
                smtputf8: true
            }
        );
        assert_eq!(domain(b"a@b@c"), b"c");
    }
}
