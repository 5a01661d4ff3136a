//! QMTP's CRLF mode (qmail-qmtpd(8)): every CRLF of the message is stored
//! as LF, a CR not followed by LF is kept; the message arrives in pieces.

/// CRLF → LF over pieces; a CR not followed by LF is kept.
#[derive(Debug, Default)]
pub struct CrlfToLf {
    /// The last piece ended in CR.
    pending: bool,
}

impl CrlfToLf {
    pub fn feed(&mut self, mut c: &[u8], out: &mut Vec<u8>) {
        if self.pending && !c.is_empty() {
            self.pending = false;
            if c[0] != b'\n' {
                out.push(b'\r');
            }
        }
        while let Some(i) = memchr::memchr(b'\r', c) {
            out.extend_from_slice(&c[..i]);
            match c.get(i + 1) {
                Some(b'\n') => c = &c[i + 1..],
                Some(_) => {
                    out.push(b'\r');
                    c = &c[i + 1..];
                }
                None => {
                    self.pending = true;
                    return;
                }
            }
        }
        out.extend_from_slice(c);
    }

    /// Whether a final CR is still held.
    pub fn finish(&mut self) -> bool {
        std::mem::take(&mut self.pending)
    }
}

/// The whole conversion of a message arriving in `pieces`.
pub fn convert(pieces: &[&[u8]]) -> Vec<u8> {
    let mut c = CrlfToLf::default();
    let mut out = Vec::new();
    for p in pieces {
        c.feed(p, &mut out);
    }
    if c.finish() {
        out.push(b'\r');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_across_pieces() {
        assert_eq!(convert(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(convert(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(convert(&[b"a\r", b"b\r"]), b"a\rb\r");
        assert_eq!(convert(&[b"a\r\rb"]), b"a\r\rb");
        assert_eq!(convert(&[b"\r\r\n"]), b"\r\n");
        assert_eq!(convert(&[b"x\r", b"", b"\n"]), b"x\n");
        assert_eq!(convert(&[b"8bit \xff\x00\r\n"]), b"8bit \xff\x00\n");
    }
}
