//! Canonicalization (RFC 6376 section 3.4): header fields one at a time,
//! and the body as a stream into a SHA-256 with an optional length limit.
//! Lines may end in LF or CRLF; both come out as CRLF.

use ring::digest::{Context, Digest, SHA256};

fn wsp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// One header field canonicalized, CRLF at the end.
pub fn header(raw: &[u8], relaxed: bool, out: &mut Vec<u8>) {
    if !relaxed {
        let mut prev = 0u8;
        for &c in raw {
            if c == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(c);
            prev = c;
        }
        if !raw.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
        return;
    }
    let colon = crate::bytescan::find(b':', raw).unwrap_or(raw.len());
    let name = raw[..colon].trim_ascii_end();
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut space = false;
    let mut started = false;
    for &c in raw.get(colon + 1..).unwrap_or(&[]) {
        match c {
            b'\r' | b'\n' => {}
            c if wsp(c) => space = true,
            c => {
                if space && started {
                    out.push(b' ');
                }
                space = false;
                started = true;
                out.push(c);
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The body canonicalizer and hash. Memory is constant whatever the lines.
pub struct Body {
    relaxed: bool,
    limit: Option<u64>,
    hash: Context,
    /// Canonical bytes made so far (counted past the limit too).
    len: u64,
    empty_lines: u64,
    in_line: bool,
    pending_ws: bool,
    pending_cr: bool,
    buf: Vec<u8>,
}

impl Body {
    pub fn new(relaxed: bool, limit: Option<u64>) -> Body {
        Body {
            relaxed,
            limit,
            hash: Context::new(&SHA256),
            len: 0,
            empty_lines: 0,
            in_line: false,
            pending_ws: false,
            pending_cr: false,
            buf: Vec::with_capacity(8192),
        }
    }

    pub fn relaxed(&self) -> bool {
        self.relaxed
    }
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    fn flush(&mut self) {
        let n = self.buf.len() as u64;
        let take = match self.limit {
            Some(l) => l.saturating_sub(self.len).min(n),
            None => n,
        };
        self.hash.update(&self.buf[..take as usize]);
        self.len += n;
        self.buf.clear();
    }

    fn emit(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 8192 {
            self.flush();
        }
    }

    fn content(&mut self, c: u8) {
        if !self.in_line {
            for _ in 0..self.empty_lines {
                self.emit(b"\r\n");
            }
            self.empty_lines = 0;
            self.in_line = true;
        }
        if self.pending_ws {
            self.pending_ws = false;
            self.emit(b" ");
        }
        self.emit(&[c]);
    }

    fn end_line(&mut self) {
        if self.in_line {
            self.emit(b"\r\n");
            self.in_line = false;
        } else {
            self.empty_lines += 1;
        }
        self.pending_ws = false;
    }

    pub fn update(&mut self, data: &[u8]) {
        for &c in data {
            if self.pending_cr {
                self.pending_cr = false;
                if c == b'\n' {
                    self.end_line();
                    continue;
                }
                self.content(b'\r');
            }
            match c {
                b'\n' => self.end_line(),
                b'\r' => self.pending_cr = true,
                c if self.relaxed && wsp(c) => self.pending_ws = true,
                c => self.content(c),
            }
        }
    }

    /// The hash, and the canonical length of the whole body.
    pub fn finish(mut self) -> (Digest, u64) {
        if self.pending_cr {
            self.pending_cr = false;
            self.content(b'\r');
        }
        if self.in_line {
            self.emit(b"\r\n");
        }
        self.flush();
        if self.len == 0 && !self.relaxed {
            // An empty simple body is one CRLF.
            self.emit(b"\r\n");
            self.flush();
        }
        (self.hash.finish(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the canonical text of `data` through its hash and length.
    fn body(relaxed: bool, data: &[u8], want: &[u8]) {
        let mut b = Body::new(relaxed, None);
        b.update(data);
        let (d, len) = b.finish();
        assert_eq!(
            len,
            want.len() as u64,
            "{:?}",
            String::from_utf8_lossy(want)
        );
        assert_eq!(d.as_ref(), ring::digest::digest(&SHA256, want).as_ref());
    }

    #[test]
    fn rfc6376_examples() {
        // Section 3.4.6's example body.
        let m = b" C \r\nD \t E\r\n\r\n\r\n";
        body(true, m, b" C\r\nD E\r\n");
        body(false, m, b" C \r\nD \t E\r\n");
        let mut h = Vec::new();
        header(b"A: X\r\n", true, &mut h);
        header(b"B : Y\t\r\n\tZ  \r\n", true, &mut h);
        assert_eq!(h, b"a:X\r\nb:Y Z\r\n");
        let mut s = Vec::new();
        header(b"B : Y\t\n\tZ  \n", false, &mut s);
        assert_eq!(s, b"B : Y\t\r\n\tZ  \r\n");
    }

    #[test]
    fn empty_and_unterminated_bodies() {
        body(false, b"", b"\r\n");
        body(true, b"", b"");
        body(false, b"\n\n", b"\r\n");
        body(true, b"  \n\t\n", b"");
        body(false, b"x", b"x\r\n");
        body(true, b"a\rb\r", b"a\rb\r\r\n");
        body(false, b"a\n\nb\n\n", b"a\r\n\r\nb\r\n");
    }

    #[test]
    fn chunking_does_not_matter_and_limit_cuts() {
        let data = b"one  two\r\n\r\nthree \t\r\n\r\n";
        let whole = {
            let mut b = Body::new(true, None);
            b.update(data);
            b.finish()
        };
        let mut b = Body::new(true, None);
        for c in data.chunks(1) {
            b.update(c);
        }
        let bytes = b.finish();
        assert_eq!(whole.0.as_ref(), bytes.0.as_ref());
        assert_eq!(whole.1, 18);
        let mut cut = Body::new(true, Some(5));
        cut.update(data);
        let (d, len) = cut.finish();
        assert_eq!(len, 18);
        assert_eq!(d.as_ref(), ring::digest::digest(&SHA256, b"one t").as_ref());
        let mut huge = Body::new(false, Some(u64::MAX));
        huge.update(b"x\n");
        assert_eq!(huge.finish().1, 3);
    }
}
