//! The DATA phase as a streaming filter (qmail-smtpd(8)): bytes from
//! the client in, the message as stored (LF line ends, dots unstuffed) out
//! to a sink, without holding the message. It counts the size, the hops,
//! and scans base64 parts for bad MIME types and loader signatures.
//!
//! The end of data is exactly `CRLF . CRLF`; a bare LF is answered with
//! qmail's 451 and the connection is closed (never a terminator). A bare
//! CR (one not followed by LF) is stored as a line break, so `CR . CR`
//! reaches no next hop as a line of its own; `BARECR` keeps it as qmail did
//! (qmail-smtpd(8)).

use std::collections::HashSet;
use std::io;
use std::path::Path;

/// Header lines starting with these (any case) are hops.
const HOP_PREFIXES: [&[u8]; 2] = [b"received", b"delivered"];
const MAX_HOPS: u32 = 100;
/// Lines are scanned up to this many bytes (s/qmail's line buffer).
const SCAN_LINE: usize = 1024;
const B64_HEADER: &[u8] = b"content-transfer-encoding: base64";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    LineStart,
    Normal,
    Cr,
    Dot,
    DotCr,
}

/// What `feed` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// All input consumed; more is needed.
    More,
    /// The terminating `.` line was read.
    Done,
    /// A bare LF: answer 451 and close.
    BareLf,
}

/// Why a message is refused after DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooBig,
    Hops,
    /// Bad MIME type; the log info.
    Mime(String),
    /// Bad loader signature; the log info.
    Loader(String),
}

/// Settings of the base64 scanner.
#[derive(Debug, Default, Clone)]
pub struct ScanConfig {
    /// 9-byte prefixes from badmimetypes.cdb.
    pub mime_keys: Option<HashSet<Vec<u8>>>,
    /// Reject whitespace inside base64 lines (`BADMIMETYPE` `!`/`+`).
    pub whitespace: bool,
    /// 5-byte signatures from badloadertypes.cdb.
    pub loader_keys: Option<HashSet<Vec<u8>>>,
    /// Only positions holding this byte are tested (`None`: all).
    pub loader_char: Option<u8>,
    /// `BASE64`: note whether a base64 part was seen (`saw_base64`).
    pub base64: bool,
}

impl ScanConfig {
    fn active(&self) -> bool {
        self.mime_keys.is_some() || self.whitespace || self.loader_keys.is_some() || self.base64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mime {
    Idle,
    Expect,
    First,
    Body,
}

/// One message's DATA state.
pub struct DataFilter<'a> {
    st: St,
    limit: u64,
    size: u64,
    in_header: bool,
    hops: u32,
    line: Vec<u8>,
    scan: &'a ScanConfig,
    mime: Mime,
    refusal: Option<Refusal>,
    /// A base64 part was seen (for `BASE64`).
    pub saw_base64: bool,
    /// Store a bare CR as it came (qmail's way) instead of as a line end.
    keep_bare_cr: bool,
}

impl<'a> DataFilter<'a> {
    /// `limit` 0 means no size limit.
    pub fn new(limit: u64, scan: &'a ScanConfig) -> DataFilter<'a> {
        DataFilter {
            st: St::LineStart,
            limit,
            size: 0,
            in_header: true,
            hops: 0,
            line: Vec::with_capacity(SCAN_LINE),
            scan,
            mime: Mime::Idle,
            refusal: None,
            saw_base64: false,
            keep_bare_cr: false,
        }
    }

    /// Keep bare CRs as data (`BARECR`), as qmail did.
    pub fn keep_bare_cr(mut self, keep: bool) -> DataFilter<'a> {
        self.keep_bare_cr = keep;
        self
    }

    /// Consumes client bytes; returns how many were used and the state.
    /// After `Done` or `BareLf` the rest of `input` belongs to the caller.
    pub fn feed(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> (usize, Feed) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.st {
                St::LineStart => {
                    if b == b'.' {
                        self.st = St::Dot;
                        i += 1;
                    } else {
                        self.st = St::Normal;
                    }
                }
                St::Normal => {
                    let rest = &input[i..];
                    match crate::bytescan::find2(b'\r', b'\n', rest) {
                        None => {
                            self.emit(rest, sink);
                            i = input.len();
                        }
                        Some(k) => {
                            self.emit(&rest[..k], sink);
                            i += k + 1;
                            if rest[k] == b'\n' {
                                return (i, Feed::BareLf);
                            }
                            self.st = St::Cr;
                        }
                    }
                }
                St::Cr | St::DotCr => {
                    i += 1;
                    match b {
                        b'\n' if self.st == St::DotCr => return (i, Feed::Done),
                        b'\n' => {
                            self.end_line(sink);
                            self.st = St::LineStart;
                        }
                        // A bare CR: data as qmail kept it, or a line end.
                        // The next byte is not at an SMTP line start, so a
                        // dot there is data, never unstuffed.
                        b'\r' => {
                            self.bare_cr(sink);
                            self.st = St::Cr;
                        }
                        _ => {
                            self.bare_cr(sink);
                            self.st = St::Normal;
                            i -= 1;
                        }
                    }
                }
                St::Dot => match b {
                    b'\r' => {
                        self.st = St::DotCr;
                        i += 1;
                    }
                    b'\n' => return (i + 1, Feed::BareLf),
                    _ => self.st = St::Normal,
                },
            }
        }
        (i, Feed::More)
    }

    /// The verdict once `Done` was seen.
    pub fn finish(self) -> Result<u64, Refusal> {
        match self.refusal {
            Some(r) => Err(r),
            None => Ok(self.size),
        }
    }

    fn refuse(&mut self, r: Refusal) {
        if self.refusal.is_none() {
            self.refusal = Some(r);
        }
    }

    fn count(&mut self, n: usize) {
        self.size += n as u64;
        if self.limit > 0 && self.size > self.limit {
            self.refuse(Refusal::TooBig);
        }
    }

    fn emit(&mut self, bytes: &[u8], sink: &mut dyn FnMut(&[u8])) {
        if bytes.is_empty() {
            return;
        }
        self.count(bytes.len());
        if self.refusal.is_none() {
            sink(bytes);
        }
        let room = SCAN_LINE - self.line.len().min(SCAN_LINE);
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn bare_cr(&mut self, sink: &mut dyn FnMut(&[u8])) {
        match self.keep_bare_cr {
            true => self.emit(b"\r", sink),
            false => self.end_line(sink),
        }
    }

    fn end_line(&mut self, sink: &mut dyn FnMut(&[u8])) {
        self.count(1);
        if self.refusal.is_none() {
            sink(b"\n");
        }
        if self.in_header {
            if self.line.is_empty() {
                self.in_header = false;
            } else if HOP_PREFIXES.iter().any(|p| starts_ci(&self.line, p)) {
                self.hops += 1;
                if self.hops >= MAX_HOPS {
                    self.refuse(Refusal::Hops);
                }
            }
        }
        if self.scan.active() {
            self.scan_line();
        }
        self.line.clear();
    }

    fn scan_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        match self.mime {
            Mime::Body | Mime::First if line.first() == Some(&b'-') => self.mime = Mime::Idle,
            Mime::Idle | Mime::Expect if starts_ci(&line, B64_HEADER) => self.mime = Mime::Expect,
            Mime::Expect if line.is_empty() => self.mime = Mime::First,
            Mime::First if line.len() > 9 => {
                self.saw_base64 = true;
                if let Some(keys) = &self.scan.mime_keys
                    && keys.contains(&line[..9])
                {
                    let info = String::from_utf8_lossy(&line[..9]).into_owned();
                    self.refuse(Refusal::Mime(info));
                }
                self.encoded_line(&line);
                self.mime = Mime::Body;
            }
            Mime::Body => self.encoded_line(&line),
            _ => {}
        }
        self.line = line;
    }

    fn encoded_line(&mut self, line: &[u8]) {
        if self.scan.whitespace
            && let Some(p) = crate::bytescan::find2(b' ', b'\t', line)
        {
            let from = p.saturating_sub(4);
            let info = String::from_utf8_lossy(&line[from..(from + 9).min(line.len())]);
            self.refuse(Refusal::Mime(info.into_owned()));
        }
        let Some(keys) = &self.scan.loader_keys else {
            return;
        };
        for w in line.windows(5) {
            if self.scan.loader_char.is_some_and(|c| c != w[0]) {
                continue;
            }
            if keys.contains(w) {
                let info = String::from_utf8_lossy(w).into_owned();
                self.refuse(Refusal::Loader(info));
                return;
            }
        }
    }
}

fn starts_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Every key of a cdb file (read sequentially from its record area), or
/// `None` when the file does not exist. The bad-type tables are small.
pub fn cdb_keys(path: &Path) -> io::Result<Option<HashSet<Vec<u8>>>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "truncated cdb");
    let u32at = |p: usize| -> io::Result<usize> {
        let b = data.get(p..p + 4).ok_or_else(bad)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    // The records end where the first hash table starts.
    let end = u32at(0)?;
    let mut keys = HashSet::new();
    let mut p = 2048;
    while p + 8 <= end {
        let (klen, dlen) = (u32at(p)?, u32at(p + 4)?);
        let key = data.get(p + 8..p + 8 + klen).ok_or_else(bad)?;
        keys.insert(key.to_vec());
        p += 8 + klen + dlen;
    }
    Ok(Some(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        input: &[u8],
        limit: u64,
        scan: &ScanConfig,
    ) -> (Vec<u8>, Feed, usize, Result<u64, Refusal>) {
        run_cr(input, limit, scan, true)
    }

    fn run_cr(
        input: &[u8],
        limit: u64,
        scan: &ScanConfig,
        keep_bare_cr: bool,
    ) -> (Vec<u8>, Feed, usize, Result<u64, Refusal>) {
        let mut f = DataFilter::new(limit, scan).keep_bare_cr(keep_bare_cr);
        let mut out = Vec::new();
        // One byte at a time: the state must survive every split.
        let mut used = 0;
        let mut last = Feed::More;
        for (i, b) in input.iter().enumerate() {
            let (n, r) = f.feed(std::slice::from_ref(b), &mut |c| out.extend_from_slice(c));
            used = i + n;
            last = r;
            if r != Feed::More {
                break;
            }
        }
        (out, last, used, f.finish())
    }

    #[test]
    fn transparency() {
        let s = ScanConfig::default();
        let (o, r, used, _) = run(b"a\r\n..b\r\n.c\r\nx\ry\r\r\n.\r\nNEXT", 0, &s);
        assert_eq!(r, Feed::Done);
        assert_eq!(o, b"a\n.b\nc\nx\ry\r\n");
        assert_eq!(used, 21);
        let (o, r, _, _) = run(b".\r\n", 0, &s);
        assert_eq!((o.as_slice(), r), (&b""[..], Feed::Done));
        for bare in [&b"a\nb\r\n.\r\n"[..], b"a\r\n.\n", b".\nx"] {
            assert_eq!(run(bare, 0, &s).1, Feed::BareLf);
        }
        let (o, _, _, _) = run(b"a\r\n.\rb\r\n.\r\n", 0, &s);
        assert_eq!(o, b"a\n\rb\n");
        let mut f = DataFilter::new(0, &s);
        let (n, r) = f.feed(b"abc\r\n.\r\nQUIT\r\n", &mut |_| {});
        assert_eq!((n, r), (8, Feed::Done));
    }

    /// The smuggling class: by default a bare CR is a line end in the
    /// stored message, so `CR . CR` becomes a line holding a dot, which
    /// qmail-remote dot-stuffs; nothing but `CRLF . CRLF` ends the data.
    #[test]
    fn bare_cr_is_a_line_end() {
        let s = ScanConfig::default();
        let (o, r, _, _) = run_cr(b"a\r.\rb\r\n.\r\n", 0, &s, false);
        assert_eq!((o.as_slice(), r), (&b"a\n.\nb\n"[..], Feed::Done));
        let (o, _, _, _) = run_cr(b"x\ry\r\r\n.\rz\r\n.\r\n", 0, &s, false);
        assert_eq!(o, b"x\ny\n\n\nz\n");
        let (o, _, _, _) = run_cr(b"a\r.\rb\r\n.\r\n", 0, &s, true);
        assert_eq!(o, b"a\r.\rb\n");
    }

    #[test]
    fn limits() {
        let s = ScanConfig::default();
        assert_eq!(run(b"12345\r\n.\r\n", 6, &s).3, Ok(6));
        assert_eq!(run(b"123456\r\n.\r\n", 6, &s).3, Err(Refusal::TooBig));
        let hops = "Received: x\r\n".repeat(100) + "\r\nbody\r\n.\r\n";
        assert_eq!(run(hops.as_bytes(), 0, &s).3, Err(Refusal::Hops));
        let ok = "Delivered-To: x\r\n".repeat(99) + "\r\nreceived: x\r\n.\r\n";
        assert!(run(ok.as_bytes(), 0, &s).3.is_ok());
    }

    #[test]
    fn base64_scan() {
        let msg = b"Content-Type: application/x\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\nAAAAMi5kbAAA\r\n--b\r\n.\r\n";
        let mut s = ScanConfig {
            mime_keys: Some([b"TVqQAAMAA".to_vec()].into()),
            ..Default::default()
        };
        assert_eq!(run(msg, 0, &s).3, Err(Refusal::Mime("TVqQAAMAA".into())));
        s.mime_keys = None;
        s.loader_keys = Some([b"Mi5kb".to_vec()].into());
        s.loader_char = Some(b'M');
        assert_eq!(run(msg, 0, &s).3, Err(Refusal::Loader("Mi5kb".into())));
        s.loader_char = Some(b'X');
        assert!(run(msg, 0, &s).3.is_ok());
        let ws = b"Content-Transfer-Encoding: base64\r\n\r\nAAAAAAAAAAAA\r\nAAAA AAAA\r\n.\r\n";
        let w = ScanConfig {
            whitespace: true,
            ..Default::default()
        };
        assert!(matches!(run(ws, 0, &w).3, Err(Refusal::Mime(_))));
    }

    /// Any split of the input gives the same stored bytes and verdict.
    #[test]
    fn chunking_does_not_matter() {
        let s = ScanConfig::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len).map(|_| b".\r\na"[(next() % 4) as usize]).collect();
            let whole = {
                let mut f = DataFilter::new(0, &s);
                let mut out = Vec::new();
                let (n, r) = f.feed(&input, &mut |c| out.extend_from_slice(c));
                (out, n, r)
            };
            let mut f = DataFilter::new(0, &s);
            let mut out = Vec::new();
            let mut pos = 0;
            let mut res = (0, Feed::More);
            while pos < input.len() {
                let end = (pos + 1 + (next() % 5) as usize).min(input.len());
                let (n, r) = f.feed(&input[pos..end], &mut |c| out.extend_from_slice(c));
                pos += n;
                res = (pos, r);
                if r != Feed::More {
                    break;
                }
                assert_eq!(n, end - (pos - n));
            }
            if input.is_empty() {
                res = (0, Feed::More);
            }
            assert_eq!(
                (out, res.0, res.1),
                whole,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
