//! A message on the wire for RETR and TOP (qmail-pop3d(8)): LF (or CRLF)
//! line ends become CRLF, a line starting with `.` gets another `.`, TOP
//! stops after the header and a number of body lines, and the end is an
//! extra empty line (qmail's work-around for old clients) and `.`.
//!
//! Fed in chunks of any size, so a message is never held in memory whole.

/// The encoder of one message.
#[derive(Debug)]
pub struct Encoder {
    /// Body lines still to send (`None`: all of them).
    body_left: Option<u64>,
    in_header: bool,
    line_start: bool,
    /// Bytes of the current line sent so far (an empty line ends the header).
    line_len: usize,
    /// A CR that may be the start of a CRLF line end.
    held_cr: bool,
    done: bool,
}

impl Encoder {
    /// RETR: `None`; TOP n: `Some(n)`.
    pub fn new(body_lines: Option<u64>) -> Encoder {
        Encoder {
            body_left: body_lines,
            in_header: true,
            line_start: true,
            line_len: 0,
            held_cr: false,
            done: false,
        }
    }

    /// TOP's limit was reached: the rest of the message is not wanted.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Encodes `chunk` onto `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 16);
        for &b in chunk {
            if self.done {
                return;
            }
            self.byte(b, out);
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.line_start {
            self.line_start = false;
            if !self.in_header {
                match self.body_left {
                    Some(0) => {
                        self.done = true;
                        return;
                    }
                    Some(n) => self.body_left = Some(n - 1),
                    None => {}
                }
            }
        }
        if self.held_cr {
            self.held_cr = false;
            if b == b'\n' {
                self.end_line(out);
                return;
            }
            self.content(b'\r', out);
        }
        match b {
            b'\n' => self.end_line(out),
            b'\r' => self.held_cr = true,
            _ => self.content(b, out),
        }
    }

    fn content(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.line_len == 0 && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        self.line_len += 1;
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        if self.line_len == 0 {
            self.in_header = false;
        }
        out.extend_from_slice(b"\r\n");
        self.line_start = true;
        self.line_len = 0;
    }

    /// Ends the message: a last line without LF is ended, then the extra
    /// empty line and the terminating `.`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if !self.done {
            if self.held_cr {
                self.held_cr = false;
                self.content(b'\r', out);
            }
            if !self.line_start {
                self.end_line(out);
            }
        }
        out.extend_from_slice(b"\r\n.\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(msg: &[u8], limit: Option<u64>, chunk: usize) -> Vec<u8> {
        let mut e = Encoder::new(limit);
        let mut out = Vec::new();
        for c in msg.chunks(chunk.max(1)) {
            e.feed(c, &mut out);
        }
        e.finish(&mut out);
        out
    }

    const MSG: &[u8] = b"Subject: x\n.From: y\n\nline 1\n.\n..two\r\nline 3\n";

    #[test]
    fn retr_any_chunking() {
        let want: &[u8] =
            b"Subject: x\r\n..From: y\r\n\r\nline 1\r\n..\r\n...two\r\nline 3\r\n\r\n.\r\n";
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(encode(MSG, None, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn top_counts_body_lines() {
        assert_eq!(
            encode(MSG, Some(0), 4),
            b"Subject: x\r\n..From: y\r\n\r\n\r\n.\r\n"
        );
        assert_eq!(
            encode(MSG, Some(2), 4),
            b"Subject: x\r\n..From: y\r\n\r\nline 1\r\n..\r\n\r\n.\r\n"
        );
        assert_eq!(encode(MSG, Some(99), 4), encode(MSG, None, 4));
    }

    #[test]
    fn odd_endings() {
        assert_eq!(encode(b"", None, 1), b"\r\n.\r\n");
        assert_eq!(
            encode(b"a\n\nno newline", None, 1),
            b"a\r\n\r\nno newline\r\n\r\n.\r\n"
        );
        assert_eq!(encode(b"a\rb\r", None, 1), b"a\rb\r\r\n\r\n.\r\n");
        assert_eq!(encode(b"\0\xff\n", None, 1), b"\0\xff\r\n\r\n.\r\n");
    }
}
