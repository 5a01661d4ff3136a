//! The input buffer: the shell reads into its free space, the session takes
//! complete lines out (or the DATA filter takes raw bytes). Lines longer
//! than `MAX_LINE` are skipped up to their LF and reported once, so memory
//! stays bounded whatever the client sends.

/// The longest command line accepted (RFC 5321 asks for 512).
pub const MAX_LINE: usize = 4096;
const CAP: usize = 16 * 1024;

/// One result of `next_line`.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line without its LF.
    Ok(&'a [u8]),
    /// A line over `MAX_LINE` bytes was dropped.
    TooLong,
}

pub struct InBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Inside an over-long line: drop bytes until the next LF.
    skipping: bool,
}

impl Default for InBuf {
    fn default() -> Self {
        InBuf::new()
    }
}

impl InBuf {
    pub fn new() -> InBuf {
        InBuf {
            buf: vec![0; CAP].into_boxed_slice(),
            start: 0,
            end: 0,
            skipping: false,
        }
    }

    /// Free space to read into (moves pending bytes to the front first).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into `spare()`.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Bytes read but not consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Part of a command line has arrived, but not its LF (the line's
    /// deadline runs).
    pub fn mid_line(&self) -> bool {
        self.skipping || self.start < self.end
    }

    /// Drops everything buffered (after STARTTLS).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skipping = false;
    }

    /// The next complete line, if one is buffered.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let pending = &self.buf[self.start..self.end];
        match crate::bytescan::find(b'\n', pending) {
            Some(i) if self.skipping => {
                self.start += i + 1;
                self.skipping = false;
                Some(Line::TooLong)
            }
            Some(i) if i > MAX_LINE => {
                self.start += i + 1;
                Some(Line::TooLong)
            }
            Some(i) => {
                let s = self.start;
                self.start += i + 1;
                Some(Line::Ok(&self.buf[s..s + i]))
            }
            None if self.skipping || pending.len() > MAX_LINE => {
                self.skipping = true;
                self.start = self.end;
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(b: &mut InBuf, data: &[u8]) {
        let s = b.spare();
        s[..data.len()].copy_from_slice(data);
        b.filled(data.len());
    }

    #[test]
    fn lines() {
        let mut b = InBuf::new();
        push(&mut b, b"NOOP\r\nQU");
        assert_eq!(b.next_line(), Some(Line::Ok(b"NOOP\r")));
        assert_eq!(b.next_line(), None);
        push(&mut b, b"IT\n");
        assert_eq!(b.next_line(), Some(Line::Ok(b"QUIT")));
        assert_eq!(b.next_line(), None);
    }

    #[test]
    fn long_lines_are_skipped() {
        let mut b = InBuf::new();
        for _ in 0..100 {
            push(&mut b, &[b'x'; 10000]);
            assert_eq!(b.next_line(), None);
        }
        push(&mut b, b"yy\nNOOP\n");
        assert_eq!(b.next_line(), Some(Line::TooLong));
        assert_eq!(b.next_line(), Some(Line::Ok(b"NOOP")));
        push(&mut b, &[b'z'; 5000]);
        push(&mut b, b"\n");
        assert_eq!(b.next_line(), Some(Line::TooLong));
    }
}
