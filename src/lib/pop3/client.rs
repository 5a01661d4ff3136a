//! The client's side of both programs: command lines read from fd 0 and
//! replies written to fd 1, each read and write bounded by `TIMEOUT`.

use std::io::{self, Read, Write};

use crate::pop3::TIMEOUT;
use crate::smtpd::input::{InBuf, Line};
use crate::timeoutio::TimeoutFd;

/// One input line.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Line(Vec<u8>),
    /// A line over the limit was skipped.
    TooLong,
}

pub struct Client {
    input: InBuf,
    /// Bytes asked for per read.
    read_size: usize,
}

impl Client {
    /// `exact`: read one byte at a time and so never past the line just
    /// read. qmail-popup needs that: what the client sends after PASS is
    /// qmail-pop3d's to read from the same descriptor, and after STLS it
    /// is the TLS handshake (nothing sent in clear text before it can be
    /// taken for a command).
    pub fn new(exact: bool) -> Client {
        Client {
            input: InBuf::new(),
            read_size: if exact { 1 } else { usize::MAX },
        }
    }

    /// The next line; an error when the client is gone or idle too long.
    pub fn line(&mut self) -> io::Result<Got> {
        loop {
            match self.input.next_line() {
                Some(Line::Ok(l)) => return Ok(Got::Line(l.to_vec())),
                Some(Line::TooLong) => return Ok(Got::TooLong),
                None => {}
            }
            let spare = self.input.spare();
            let n = spare.len().min(self.read_size);
            let got = TimeoutFd::new(0, TIMEOUT).read(&mut spare[..n])?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.input.filled(got);
        }
    }

    /// Writes and empties `out`.
    pub fn send(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let res = TimeoutFd::new(1, TIMEOUT).write_all(out);
        out.clear();
        res
    }
}
