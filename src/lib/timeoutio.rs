//! Reads and writes on a descriptor that give up after a timeout (qmail's
//! timeoutread/timeoutwrite): a stalled peer costs a bounded wait.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

use crate::sys;

/// A raw descriptor with per-call timeouts. It does not own the descriptor.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutFd {
    pub fd: RawFd,
    pub secs: u32,
}

impl TimeoutFd {
    pub fn new(fd: RawFd, secs: u32) -> TimeoutFd {
        TimeoutFd { fd, secs }
    }

    fn wait(&self, write: bool) -> io::Result<()> {
        let ms = i32::try_from(u64::from(self.secs) * 1000).unwrap_or(i32::MAX);
        if sys::wait_fd(self.fd, write, ms)? {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::TimedOut, "timeout"))
        }
    }
}

impl Read for TimeoutFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait(false)?;
        let mut f = sys::borrow_fd(self.fd);
        loop {
            match f.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

impl Write for TimeoutFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wait(true)?;
        let mut f = sys::borrow_fd(self.fd);
        loop {
            match f.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TimeoutFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}
