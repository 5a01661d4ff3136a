//! The texts qmail-local derives from its arguments: DTLINE, RPLINE,
//! UFLINE, HOST2..4, EXT2..4 (qmail-command(8)). RPLINE quotes the
//! sender with `address::quote2`.

use crate::date::Utc;

/// Replaces every newline by `_` (a header line must stay one line).
fn flatten(v: &mut [u8]) {
    v.iter_mut()
        .filter(|b| **b == b'\n')
        .for_each(|b| *b = b'_');
}

/// `Delivered-To: local@domain\n`.
pub fn dtline(local: &[u8], domain: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + local.len() + domain.len());
    v.extend_from_slice(b"Delivered-To: ");
    v.extend_from_slice(local);
    v.push(b'@');
    v.extend_from_slice(domain);
    flatten(&mut v);
    v.push(b'\n');
    v
}

/// `Return-Path: <sender>\n`, the sender quoted as in a header.
pub fn rpline(sender: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(18 + sender.len());
    v.extend_from_slice(b"Return-Path: <");
    v.extend_from_slice(&crate::address::quote2(sender));
    flatten(&mut v);
    v.extend_from_slice(b">\n");
    v
}

/// `From sender Www Mmm DD HH:MM:SS YYYY\n` (UTC, zero-padded day): the
/// mbox separator. Blanks in the sender become `-`; empty is MAILER-DAEMON.
pub fn ufline(sender: &[u8], now: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + sender.len());
    v.extend_from_slice(b"From ");
    if sender.is_empty() {
        v.extend_from_slice(b"MAILER-DAEMON");
    } else {
        v.extend(sender.iter().map(|&b| {
            if matches!(b, b' ' | b'\t' | b'\n') {
                b'-'
            } else {
                b
            }
        }));
    }
    v.push(b' ');
    v.extend_from_slice(ctime(now).as_bytes());
    v.push(b'\n');
    v
}

/// `Www Mmm DD HH:MM:SS YYYY` in UTC with a zero-padded day.
pub fn ctime(secs: i64) -> String {
    let t = Utc::from_unix(secs);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {}",
        t.weekday_name(),
        t.month_name(),
        t.day,
        t.hour,
        t.min,
        t.sec,
        t.year
    )
}

/// EXT, EXT2, EXT3, EXT4: the extension, then what follows its 1st, 2nd,
/// 3rd `-` (empty when there are fewer).
pub fn ext_parts(ext: &[u8]) -> [&[u8]; 4] {
    let mut parts = [ext; 4];
    let mut x = ext;
    for p in parts.iter_mut().skip(1) {
        x = match x.iter().position(|&b| b == b'-') {
            Some(i) => &x[i + 1..],
            None => &x[x.len()..],
        };
        *p = x;
    }
    parts
}

/// HOST2, HOST3, HOST4: the domain cut before its last, second-to-last,
/// third-to-last dot (a cut with no dot left keeps what there is).
pub fn host_parts(host: &[u8]) -> [&[u8]; 3] {
    let mut parts = [host; 3];
    let mut h = host;
    for p in parts.iter_mut() {
        if let Some(i) = h.iter().rposition(|&b| b == b'.') {
            h = &h[..i];
        }
        *p = h;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(dtline(b"a\nb", b"x.org"), b"Delivered-To: a_b@x.org\n");
        assert_eq!(rpline(b""), b"Return-Path: <>\n");
        assert_eq!(rpline(b"a b@c"), b"Return-Path: <\"a b\"@c>\n");
        assert_eq!(rpline(b"a..b@c"), b"Return-Path: <\"a..b\"@c>\n");
        assert_eq!(rpline(b"#@[]"), b"Return-Path: <#@[]>\n");
        // 2024-01-03 09:05:07 UTC, a Wednesday.
        assert_eq!(
            ufline(b"a b@c", 1704272707),
            b"From a-b@c Wed Jan 03 09:05:07 2024\n"
        );
        assert_eq!(
            ufline(b"", 1704272707),
            b"From MAILER-DAEMON Wed Jan 03 09:05:07 2024\n"
        );
    }

    #[test]
    fn parts() {
        assert_eq!(
            ext_parts(b"a-b-c-d-e"),
            [&b"a-b-c-d-e"[..], b"b-c-d-e", b"c-d-e", b"d-e"]
        );
        assert_eq!(ext_parts(b"a"), [&b"a"[..], b"", b"", b""]);
        assert_eq!(
            host_parts(b"mail.sub.example.com"),
            [&b"mail.sub.example"[..], b"mail.sub", b"mail"]
        );
        assert_eq!(host_parts(b"localhost"), [&b"localhost"[..]; 3]);
        assert_eq!(host_parts(b"a.b"), [&b"a"[..], b"a", b"a"]);
    }
}
