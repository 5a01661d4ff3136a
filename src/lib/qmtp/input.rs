//! The servers' side of a connection: buffered netstring input on fd 0
//! with a session deadline and an optional byte budget (QMQP's outer
//! length), and replies on fd 1 held until the next read needs the
//! network, so the answers to pipelined packages leave together
//! (qmail-qmtpd(8)).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use crate::exit::{Die, PERM, TEMP};
use crate::netstring::{self, LengthError};
use crate::timeoutio::TimeoutFd;

/// Longest netstring either server accepts (qmail's 200,000,000).
pub const MAX_LENGTH: u64 = 200_000_000;

/// Addresses this long (with RELAYCLIENT's suffix) are refused.
pub const MAX_ADDRESS: u64 = 1000;

/// Why a session ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The client closed or the connection failed: exit 0, nothing said.
    Eof,
    /// Bad framing (a missing `,`, a bad line-ending code, a length past
    /// the budget): exit 100.
    Proto,
    /// A length that is not a number or too big, the session deadline,
    /// qmail-queue not starting, unreadable controls: exit 111.
    Resources,
}

impl Stop {
    pub fn die(self) -> Die {
        match self {
            Stop::Eof => Die::quiet(0),
            Stop::Proto => Die::new(PERM, "protocol error"),
            Stop::Resources => Die::new(TEMP, "out of resources or session limit"),
        }
    }
}

/// Session input and output.
pub struct NetIo {
    rfd: i32,
    wfd: i32,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    out: Vec<u8>,
    deadline: Instant,
    /// Bytes the client may still send (`u64::MAX`: no budget).
    budget: u64,
}

impl NetIo {
    /// fd 0 and fd 1, for a session of at most `limit`.
    pub fn stdio(limit: Duration) -> NetIo {
        NetIo::new(0, 1, limit)
    }

    pub fn new(rfd: i32, wfd: i32, limit: Duration) -> NetIo {
        NetIo {
            rfd,
            wfd,
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
            out: Vec::with_capacity(256),
            deadline: Instant::now() + limit,
            budget: u64::MAX,
        }
    }

    /// Seconds left of the session (at least 1 while any remain).
    fn secs_left(&self) -> Result<u32, Stop> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Resources);
        }
        Ok(u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX))
    }

    /// Limits what the client may still send to `bytes`.
    pub fn set_budget(&mut self, bytes: u64) {
        self.budget = bytes;
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Queues reply bytes; they leave at the next read from the network
    /// or at `flush`.
    pub fn reply(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Sends the queued replies. A peer that does not take them is gone.
    pub fn flush(&mut self) -> Result<(), Stop> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut w = TimeoutFd::new(self.wfd, self.secs_left()?);
        let r = w.write_all(&self.out);
        self.out.clear();
        r.map_err(|_| Stop::Eof)
    }

    fn fill(&mut self) -> Result<(), Stop> {
        self.flush()?;
        let mut r = TimeoutFd::new(self.rfd, self.secs_left()?);
        loop {
            match r.read(&mut self.buf) {
                Ok(0) => return Err(Stop::Eof),
                Ok(n) => {
                    self.pos = 0;
                    self.end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Stop::Resources),
                Err(_) => return Err(Stop::Eof),
            }
        }
    }

    fn spend(&mut self, n: usize) -> Result<(), Stop> {
        if self.budget != u64::MAX {
            self.budget = self.budget.checked_sub(n as u64).ok_or(Stop::Proto)?;
        }
        Ok(())
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, Stop> {
        self.spend(1)?;
        if self.pos == self.end {
            self.fill()?;
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// Up to `max` bytes (at least one), without copying.
    pub fn chunk(&mut self, max: u64) -> Result<&[u8], Stop> {
        if self.pos == self.end {
            self.fill()?;
        }
        let n = (self.end - self.pos).min(usize::try_from(max).unwrap_or(usize::MAX));
        self.spend(n)?;
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    /// Reads `len` bytes, handing them to `sink` in pieces.
    pub fn copy(&mut self, mut len: u64, mut sink: impl FnMut(&[u8])) -> Result<(), Stop> {
        while len > 0 {
            let c = self.chunk(len)?;
            len -= c.len() as u64;
            sink(c);
        }
        Ok(())
    }

    /// A netstring's length prefix, at most `max`.
    pub fn length(&mut self, max: u64) -> Result<u64, Stop> {
        length_result(netstring::read_length(|| self.byte(), max)?)
    }

    /// The `,` that ends a netstring.
    pub fn comma(&mut self) -> Result<(), Stop> {
        match self.byte()? {
            b',' => Ok(()),
            _ => Err(Stop::Proto),
        }
    }
}

impl NetIo {
    /// An address netstring (sender or recipient).
    pub fn address(&mut self, reserve: u64) -> Result<Option<Vec<u8>>, Stop> {
        let len = self.length(MAX_LENGTH)?;
        let a = self.address_body(len, reserve)?;
        self.comma()?;
        Ok(a)
    }

    /// The `len` bytes of an address; `None` when it is not acceptable:
    /// `len + reserve` (RELAYCLIENT's suffix) reaches `MAX_ADDRESS`, or it
    /// holds a NUL. Its bytes are read either way.
    pub fn address_body(&mut self, len: u64, reserve: u64) -> Result<Option<Vec<u8>>, Stop> {
        if len.saturating_add(reserve) >= MAX_ADDRESS {
            self.copy(len, |_| ())?;
            return Ok(None);
        }
        let mut a = Vec::with_capacity(len as usize);
        self.copy(len, |c| a.extend_from_slice(c))?;
        Ok((!a.contains(&0)).then_some(a))
    }
}

/// A refused length prefix is a resource problem, as qmail treats it.
pub fn length_result(r: Result<u64, LengthError>) -> Result<u64, Stop> {
    r.map_err(|_| Stop::Resources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A NetIo reading `input` from a pipe (closed after it) and writing
    /// into another pipe.
    fn io_over(input: &[u8]) -> (NetIo, std::io::PipeReader, Vec<std::os::fd::OwnedFd>) {
        let (r, mut w) = std::io::pipe().unwrap();
        w.write_all(input).unwrap();
        drop(w);
        let (or, ow) = std::io::pipe().unwrap();
        let io = NetIo::new(r.as_raw_fd(), ow.as_raw_fd(), Duration::from_secs(5));
        (io, or, vec![r.into(), ow.into()])
    }

    #[test]
    fn netstrings_budget_and_eof() {
        let (mut io, _o, _keep) = io_over(b"5:hello,3:abX");
        let n = io.length(MAX_LENGTH).unwrap();
        let mut got = Vec::new();
        io.copy(n, |c| got.extend_from_slice(c)).unwrap();
        assert_eq!(got, b"hello");
        io.comma().unwrap();
        io.set_budget(2);
        assert_eq!(io.length(MAX_LENGTH), Ok(3));
        assert_eq!(io.byte(), Err(Stop::Proto), "budget spent");
        io.set_budget(u64::MAX);
        assert_eq!(io.byte(), Ok(b'a'));
        assert_eq!(io.byte(), Ok(b'b'));
        assert_eq!(io.comma(), Err(Stop::Proto));
        assert_eq!(io.byte(), Err(Stop::Eof));
    }

    #[test]
    fn replies_wait_for_the_next_read() {
        let (mut io, mut o, keep) = io_over(b"x");
        io.reply(b"2:K!,");
        assert_eq!(io.byte(), Ok(b'x'));
        drop(keep);
        let mut got = vec![0u8; 5];
        o.read_exact(&mut got).unwrap();
        assert_eq!(got, b"2:K!,");
    }

    #[test]
    fn bad_lengths_are_resource_errors() {
        let (mut io, _o, _keep) = io_over(b"1x:");
        assert_eq!(io.length(MAX_LENGTH), Err(Stop::Resources));
        let (mut io, _o, _keep) = io_over(b"300000000:");
        assert_eq!(io.length(MAX_LENGTH), Err(Stop::Resources));
    }
}
