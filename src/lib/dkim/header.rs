//! The header of a message as a list of fields, each with its raw text
//! (continuation lines included), found in one pass.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The whole field, line ends included.
    pub raw: Range<usize>,
    /// The name (before the colon, blanks after it left out).
    pub name: Range<usize>,
}

impl Field {
    pub fn name<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        &head[self.name.clone()]
    }
    pub fn raw<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        &head[self.raw.clone()]
    }
    /// The text after the colon (empty for a line without one).
    pub fn value<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        let raw = self.raw(head);
        match crate::bytescan::find(b':', raw) {
            Some(i) => &raw[i + 1..],
            None => &[],
        }
    }
    pub fn is(&self, head: &[u8], name: &str) -> bool {
        self.name(head).eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Where the header ends in `msg`: the offset of the body (after the
/// empty line), or `None` when no empty line was seen (all header).
pub fn body_start(msg: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < msg.len() {
        let line_end = crate::bytescan::find(b'\n', &msg[at..]).map_or(msg.len(), |i| at + i + 1);
        let line = &msg[at..line_end];
        if line == b"\n" || line == b"\r\n" {
            return Some(line_end);
        }
        at = line_end;
    }
    None
}

/// `body_start` for a header arriving in pieces: the search starts at
/// `from` (two bytes before the new piece, so an empty line split across
/// pieces is found).
pub fn body_start_from(msg: &[u8], from: usize) -> Option<usize> {
    if from == 0 {
        if msg.starts_with(b"\n") {
            return Some(1);
        }
        if msg.starts_with(b"\r\n") {
            return Some(2);
        }
    }
    let rest = msg.get(from..)?;
    // The first line end followed by an empty line (LF or CRLF).
    let mut at = 0;
    while let Some(i) = crate::bytescan::find(b'\n', &rest[at..]) {
        let next = &rest[at + i + 1..];
        if next.starts_with(b"\n") {
            return Some(from + at + i + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(from + at + i + 3);
        }
        at += i + 1;
    }
    None
}

/// The header (without the empty line) and the body of `msg`.
pub fn split(msg: &[u8]) -> (&[u8], &[u8]) {
    match body_start(msg) {
        Some(b) => {
            let blank = if msg[..b].ends_with(b"\r\n") { 2 } else { 1 };
            (&msg[..b - blank], &msg[b..])
        }
        None => (msg, &msg[msg.len()..]),
    }
}

/// The fields of `head` (a header without the empty line after it).
pub fn fields(head: &[u8]) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let mut at = 0;
    while at < head.len() {
        let line_end = crate::bytescan::find(b'\n', &head[at..]).map_or(head.len(), |i| at + i + 1);
        let continued = matches!(head[at], b' ' | b'\t');
        match out.last_mut() {
            Some(f) if continued => f.raw.end = line_end,
            _ => {
                let line = &head[at..line_end];
                let mut name_end = crate::bytescan::find(b':', line).map_or(at, |i| at + i);
                while name_end > at && matches!(head[name_end - 1], b' ' | b'\t') {
                    name_end -= 1;
                }
                out.push(Field {
                    raw: at..line_end,
                    name: at..name_end,
                });
            }
        }
        at = line_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_body() {
        let m = b"From: a@b\nSubject: one\n two\r\nX : y\nbroken\n\nbody\n";
        let b = body_start(m).unwrap();
        assert_eq!(&m[b..], b"body\n");
        let head = &m[..b - 1];
        let f = fields(head);
        assert_eq!(f.len(), 4);
        assert_eq!(f[1].raw(head), b"Subject: one\n two\r\n");
        assert_eq!(f[1].value(head), b" one\n two\r\n");
        assert!(f[2].is(head, "x"));
        assert_eq!(f[3].name(head), b"");
        assert_eq!(body_start(b"From: a\n"), None);
        assert_eq!(split(b"A: b\r\n\r\nx"), (&b"A: b\r\n"[..], &b"x"[..]));
        assert_eq!(split(b"A: b\n"), (&b"A: b\n"[..], &b""[..]));
    }

    #[test]
    fn body_found_across_pieces() {
        for m in [
            &b"A: b\n\nbody"[..],
            b"A: b\r\n\r\nbody",
            b"\nbody",
            b"\r\nbody",
            b"A: b\nC: d\n",
        ] {
            let whole = body_start(m);
            assert_eq!(body_start_from(m, 0), whole, "{m:?}");
            // Fed one byte at a time, as the reader would.
            let found =
                (1..=m.len()).find_map(|n| body_start_from(&m[..n], (n - 1).saturating_sub(2)));
            assert_eq!(found, whole, "{m:?}");
        }
    }

    #[test]
    fn ten_thousand_lines() {
        let head: Vec<u8> = (0..10_000)
            .flat_map(|i| format!("X-{i}: v\n").into_bytes())
            .collect();
        assert_eq!(fields(&head).len(), 10_000);
    }
}
