//! Connection reuse in qmail-rspawn (qmail-rspawn(8)): a remote delivery
//! child that finished stays as a worker, keeping its SMTP session open,
//! and takes the next delivery for the same host instead of a new child
//! opening a new connection. qmail-send's protocol does not change: every
//! delivery is still answered once, with qmail-remote's report.
//!
//! Between qmail-rspawn and a worker runs a socket pair: qmail-rspawn
//! sends a delivery as `delnum messid \0 sender \0 recipient \0` (its own
//! command format); the worker answers with the report's length (4 bytes,
//! little-endian) and the report, the bytes qmail-remote would have
//! written. qmail-rspawn gives a worker a delivery only when it is idle,
//! and ends it by closing its end: the worker then says QUIT and exits.
//! A worker never exits on its own while qmail-rspawn holds its socket,
//! so a delivery handed to it is never lost in a race with its exit.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::sys::{self, PollFd};

/// How long an idle worker keeps its session (Postfix keeps one 2 s).
pub const IDLE: Duration = Duration::from_secs(5);

/// Deliveries per worker; then it ends and the next one starts afresh
/// (and reads the control files again).
pub const MAX_USES: u32 = 100;

/// The longest report taken from a worker.
const MAX_REPORT: usize = 16 << 20;

/// qmail-rspawn's view of one worker.
pub struct Worker {
    pub pid: i32,
    sock: UnixStream,
    /// The recipient host it delivers to, lowercased.
    pub host: Vec<u8>,
    /// The delivery it is doing, or None: idle.
    pub busy: Option<usize>,
    pub idle_since: Instant,
    pub uses: u32,
    inbuf: Vec<u8>,
}

/// What reading a worker's socket gave.
pub enum Heard {
    /// The report of its delivery.
    Report(Vec<u8>),
    /// Part of one; more to come.
    Nothing,
    /// The worker is gone (or spoke out of turn).
    Gone,
}

impl Worker {
    pub fn new(pid: i32, sock: UnixStream, host: Vec<u8>, delnum: usize) -> Worker {
        Worker {
            pid,
            sock,
            host,
            busy: Some(delnum),
            idle_since: Instant::now(),
            uses: 1,
            inbuf: Vec::new(),
        }
    }

    pub fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    /// Whether it may take a delivery for `host` now.
    pub fn takes(&self, host: &[u8]) -> bool {
        self.busy.is_none() && self.uses < MAX_USES && self.host == host
    }

    /// Hands it a delivery; an error means it is gone.
    pub fn send(
        &mut self,
        delnum: usize,
        messid: &[u8],
        sender: &[u8],
        recip: &[u8],
    ) -> io::Result<()> {
        let mut job = Vec::with_capacity(messid.len() + sender.len() + recip.len() + 4);
        job.push(delnum as u8);
        for part in [messid, sender, recip] {
            job.extend_from_slice(part);
            job.push(0);
        }
        self.sock.write_all(&job)?;
        self.busy = Some(delnum);
        self.uses += 1;
        Ok(())
    }

    /// Reads what the socket has (call when poll says it is readable).
    pub fn hear(&mut self) -> Heard {
        let mut buf = [0u8; 8192];
        match self.sock.read(&mut buf) {
            Ok(0) => return Heard::Gone,
            Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Heard::Nothing,
            Err(_) => return Heard::Gone,
        }
        match frame(&self.inbuf) {
            Frame::Partial => Heard::Nothing,
            Frame::Bad => Heard::Gone,
            Frame::Whole(len) if self.busy.is_some() && self.inbuf.len() == 4 + len => {
                let report = self.inbuf.split_off(4);
                self.inbuf.clear();
                self.busy = None;
                self.idle_since = Instant::now();
                Heard::Report(report)
            }
            Frame::Whole(_) => Heard::Gone,
        }
    }
}

enum Frame {
    Partial,
    Bad,
    Whole(usize),
}

fn frame(b: &[u8]) -> Frame {
    let Some(len) = b.get(..4) else {
        return Frame::Partial;
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > MAX_REPORT {
        Frame::Bad
    } else if b.len() < 4 + len {
        Frame::Partial
    } else {
        Frame::Whole(len)
    }
}

/// The worker's side: sends one report.
pub fn answer(sock: &mut UnixStream, report: &[u8]) -> io::Result<()> {
    let len = u32::try_from(report.len()).map_err(|_| io::ErrorKind::InvalidData)?;
    let mut b = Vec::with_capacity(4 + report.len());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(report);
    sock.write_all(&b)
}

/// One delivery handed to a worker.
pub struct Job {
    pub messid: Vec<u8>,
    pub sender: Vec<u8>,
    pub recip: Vec<u8>,
}

/// The worker's side: waits for the next delivery. While it waits, a
/// session the server closes (or speaks on unasked, as a 421 before its
/// own timeout) is dropped through `lost`. None: qmail-rspawn closed the
/// socket, the worker's life is over.
pub fn next_job(
    sock: &mut UnixStream,
    session: Option<i32>,
    mut lost: impl FnMut(),
) -> Option<Job> {
    let mut watch = session;
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(4);
    let mut cur = Vec::new();
    let mut first = true;
    loop {
        let mut fds = vec![PollFd::read(sock.as_raw_fd())];
        if let Some(fd) = watch {
            fds.push(PollFd::read(fd));
        }
        if sys::poll_fds(&mut fds, -1).is_err() {
            return None;
        }
        if fds.get(1).is_some_and(|f| f.ready) {
            lost();
            watch = None;
        }
        if !fds[0].ready {
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = match sock.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        for &b in &buf[..n] {
            if first {
                first = false; // the delivery number: qmail-rspawn's
                continue;
            }
            if b != 0 {
                cur.push(b);
                continue;
            }
            parts.push(std::mem::take(&mut cur));
            if let [messid, sender, recip] = &mut parts[..] {
                return Some(Job {
                    messid: std::mem::take(messid),
                    sender: std::mem::take(sender),
                    recip: std::mem::take(recip),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_and_its_report_cross_the_socket() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut w = Worker::new(0, a, b"far.example".to_vec(), 3);
        answer(&mut b, b"Kok\0").unwrap();
        assert!(matches!(w.hear(), Heard::Report(r) if r == b"Kok\0"));
        assert!(w.takes(b"far.example") && !w.takes(b"other.example"));
        w.send(7, b"1/42", b"a@b", b"c@far.example").unwrap();
        assert!(!w.takes(b"far.example"), "busy");
        let j = next_job(&mut b, None, || {}).unwrap();
        assert_eq!(
            (j.messid.as_slice(), j.sender.as_slice(), j.recip.as_slice()),
            (&b"1/42"[..], &b"a@b"[..], &b"c@far.example"[..])
        );
        // A long report arrives in pieces.
        let long = vec![b'x'; 20_000];
        answer(&mut b, &long).unwrap();
        let mut got = None;
        for _ in 0..10 {
            if let Heard::Report(r) = w.hear() {
                got = Some(r);
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(&long[..]));
        // Closing qmail-rspawn's end ends the worker's wait.
        drop(w);
        assert!(next_job(&mut b, None, || {}).is_none());
    }

    #[test]
    fn a_report_nobody_asked_for_or_too_long_ends_the_worker() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut w = Worker::new(0, a, b"h".to_vec(), 1);
        answer(&mut b, b"Kok\0").unwrap();
        assert!(matches!(w.hear(), Heard::Report(_)));
        answer(&mut b, b"Kagain\0").unwrap();
        assert!(matches!(w.hear(), Heard::Gone), "idle worker spoke");
        assert!(matches!(
            frame(&(MAX_REPORT as u32 + 1).to_le_bytes()),
            Frame::Bad
        ));
    }

    #[test]
    fn a_closed_session_is_dropped_while_waiting() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let (server, client) = UnixStream::pair().unwrap();
        drop(server); // the peer hangs up: its end reads EOF
        let mut dropped = 0;
        let t = std::thread::spawn(move || {
            let j = next_job(&mut b, Some(client.as_raw_fd()), || dropped += 1);
            (j.is_some(), dropped)
        });
        // The loss is noticed before any job arrives; then one comes.
        a.write_all(b"\x011/2\0s\0r@h\0").unwrap();
        let (got, dropped) = t.join().unwrap();
        assert!(got);
        assert_eq!(dropped, 1);
    }
}
