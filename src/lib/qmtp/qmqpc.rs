//! qmail-qmqpc: qmail-queue's interface (message on fd 0, envelope on
//! fd 1), but the message goes by QMQP to the first server of
//! `control/qmqpservers` that answers (qmail-qmqpc(8)). The exit code is
//! qmail-queue's for the outcome.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::control::Control;
use crate::netstring;
use crate::queue::exitcode::code;
use crate::sys::{self, ConnectError};
use crate::timeoutio::TimeoutFd;

/// QMQP's port, for servers listed without one.
pub const PORT: u16 = 628;
const CONNECT_MS: i32 = 10_000;
const IO_SECS: u32 = 60;

/// The servers of `control/qmqpservers`, in order: `ip[%netid][;port]`
/// per line; lines that do not parse are passed over.
pub fn servers(c: &Control) -> Result<Vec<SocketAddr>, i32> {
    let lines = c
        .list("qmqpservers")
        .map_err(|_| code::CONFIG)?
        .ok_or(code::CONFIG)?;
    Ok(lines
        .iter()
        .filter_map(|l| crate::sockaddr::parse(l, PORT))
        .collect())
}

/// Reads all of `fd` (the message or the envelope).
fn read_all(fd: i32) -> Result<Vec<u8>, i32> {
    let mut f = sys::borrow_fd(fd);
    let mut v = Vec::new();
    if let Ok(m) = f.metadata()
        && m.is_file()
    {
        v.try_reserve_exact(usize::try_from(m.len()).unwrap_or(0))
            .map_err(|_| code::OUT_OF_MEMORY)?;
    }
    let mut buf = [0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(v),
            Ok(n) => {
                v.try_reserve(n).map_err(|_| code::OUT_OF_MEMORY)?;
                v.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(code::READ),
        }
    }
}

/// The envelope (`Fsender\0`, `Trecipient\0`..., `\0`) as QMQP's address
/// netstrings.
pub fn envelope_netstrings(env: &[u8]) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(env.len() + 64);
    let mut rest = env;
    let mut first = true;
    loop {
        let end = memchr::memchr(0, rest).ok_or(code::ENVELOPE)?;
        let record = &rest[..end];
        rest = &rest[end + 1..];
        match (first, record) {
            (true, [b'F', sender @ ..]) => netstring::push(&mut out, sender),
            (false, []) => return Ok(out),
            (false, [b'T', rcpt @ ..]) => netstring::push(&mut out, rcpt),
            _ => return Err(code::ENVELOPE),
        }
        first = false;
    }
}

/// The whole QMQP request around `message`: (head, tail).
pub fn frame(message: &[u8], addresses: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut inner_head = Vec::with_capacity(16);
    netstring::push_header(&mut inner_head, message.len() as u64);
    let total = inner_head.len() + message.len() + 1 + addresses.len();
    let mut head = Vec::with_capacity(32);
    netstring::push_header(&mut head, total as u64);
    head.extend_from_slice(&inner_head);
    let mut tail = Vec::with_capacity(addresses.len() + 2);
    tail.push(b',');
    tail.extend_from_slice(addresses);
    tail.push(b',');
    (head, tail)
}

/// What one server did with the message.
enum Try {
    /// An exit code that ends the run (an answer, or a failed conversation).
    Done(i32),
    /// Not reached: this code unless a later server answers.
    Next(i32),
}

fn try_server(addr: SocketAddr, head: &[u8], message: &[u8], tail: &[u8]) -> Try {
    let s = match sys::connect_from(None, addr, CONNECT_MS) {
        Ok(s) => s,
        Err(ConnectError::Connect(e)) if e.kind() == io::ErrorKind::TimedOut => {
            return Try::Next(code::CONNECT_TIMED_OUT);
        }
        Err(ConnectError::Socket(_)) => return Try::Next(code::SOCKET),
        Err(_) => return Try::Next(code::CONNECT_REFUSED),
    };
    // Three writes and then a wait: without Nagle the last one is not held.
    let _ = sys::set_nodelay(s.as_raw_fd());
    let mut io = TimeoutFd::new(s.as_raw_fd(), IO_SECS);
    let sent = io
        .write_all(head)
        .and_then(|()| io.write_all(message))
        .and_then(|()| io.write_all(tail));
    if sent.is_err() {
        return Try::Done(code::CONVERSATION);
    }
    // The answer's first K, Z or D decides; its length digits are passed.
    let mut buf = [0u8; 256];
    loop {
        let n = match io.read(&mut buf) {
            Ok(0) | Err(_) => return Try::Done(code::CONVERSATION),
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            match b {
                b'K' => return Try::Done(0),
                b'Z' => return Try::Done(code::REFUSED_FOR_NOW),
                b'D' => return Try::Done(code::REFUSED_FOR_GOOD),
                _ => {}
            }
        }
    }
}

/// Sends the message of fd 0 with the envelope of fd 1; the exit code.
pub fn run(home: &Path) -> i32 {
    if std::env::set_current_dir(home).is_err() {
        return code::HOME;
    }
    let result = (|| {
        let servers = servers(&Control::new(home))?;
        let message = read_all(0)?;
        let envelope = read_all(1)?;
        let addresses = envelope_netstrings(&envelope)?;
        let (head, tail) = frame(&message, &addresses);
        let mut last = code::CONFIG;
        for s in servers {
            match try_server(s, &head, &message, &tail) {
                Try::Done(c) => return Err(c),
                Try::Next(c) => last = c,
            }
        }
        Err(last)
    })();
    match result {
        Ok(()) | Err(0) => 0,
        Err(c) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert_eq!(
            envelope_netstrings(b"Fa@b\0Tc@d\0Te\0\0").unwrap(),
            b"3:a@b,3:c@d,1:e,"
        );
        assert_eq!(envelope_netstrings(b"F\0\0").unwrap(), b"0:,");
        assert_eq!(envelope_netstrings(b"Tc@d\0\0"), Err(code::ENVELOPE));
        assert_eq!(envelope_netstrings(b"Fa\0Xc\0\0"), Err(code::ENVELOPE));
        assert_eq!(envelope_netstrings(b"Fa\0Tc\0"), Err(code::ENVELOPE));
        assert_eq!(envelope_netstrings(b""), Err(code::ENVELOPE));
    }

    #[test]
    fn frames_as_the_protocol_says() {
        let (head, tail) = frame(b"hi\n", b"1:s,1:r,");
        let mut all = head;
        all.extend_from_slice(b"hi\n");
        all.extend_from_slice(&tail);
        assert_eq!(all, b"14:3:hi\n,1:s,1:r,,");
    }
}
