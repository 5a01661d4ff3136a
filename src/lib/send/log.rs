//! qmail-send's activity record (qmail-log(5)): lines are
//! built in memory and written whole, several per write, never split.

use std::io::Write;

/// qmail's logsafe: `\n` → `/`; bytes < 33, > 126 and `%` → `_`.
pub fn safe_into(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().map(|&b| match b {
        b'\n' => b'/',
        b'%' => b'_',
        33..=126 => b,
        _ => b'_',
    }));
}

/// The log buffer. Lines are appended with `line`/`raw` and reach fd 0 at
/// `flush` (once per pass of the main loop).
#[derive(Default)]
pub struct Log {
    buf: Vec<u8>,
}

impl Log {
    /// Appends pieces: `Safe` parts pass through logsafe.
    pub fn line(&mut self, parts: &[Part<'_>]) {
        for p in parts {
            match p {
                Part::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
                Part::Num(n) => {
                    let _ = write!(self.buf, "{n}");
                }
                Part::Safe(s) => safe_into(&mut self.buf, s),
            }
        }
        self.buf.push(b'\n');
    }

    /// A plain text line (without its `\n`).
    pub fn text(&mut self, t: &str) {
        self.line(&[Part::Text(t)]);
    }

    /// Bytes that already form complete lines (relayed from qmail-todo).
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            let _ = crate::sys::borrow_fd(0).write_all(&self.buf);
            self.buf.clear();
        }
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// One piece of a log line.
pub enum Part<'a> {
    Text(&'a str),
    Num(u64),
    Safe(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsafe() {
        let mut v = Vec::new();
        safe_into(&mut v, b"did 0+1+0\n100% ok\x7f\xe9");
        assert_eq!(v, b"did_0+1+0/100__ok__");
        let mut l = Log::default();
        l.line(&[Part::Text("new msg "), Part::Num(42)]);
        l.line(&[Part::Text("delivery 1: success: "), Part::Safe(b"a\nb")]);
        assert_eq!(l.take(), b"new msg 42\ndelivery 1: success: a/b\n");
    }
}
