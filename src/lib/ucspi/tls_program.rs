//! The program's side of UCSPI-TLS (sslserver(1) `-n`): the descriptors
//! `SSLCTLFD`/`SSLREADFD`/`SSLWRITEFD`, the request to start TLS, and the
//! block of `NAME=VALUE` variables the TLS process answers with. One reader
//! of that block, bounded in time and size, for every program.

use std::io::{self, Read, Write};
use std::os::fd::RawFd;

use crate::sys;
use crate::timeoutio::TimeoutFd;

/// The largest variable block accepted (a client chain's DNs fit easily).
pub const MAX_BLOCK: usize = 64 * 1024;

/// The block's variables, in order.
pub type Vars = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads a block `NAME=VALUE\0...\0\0` (or a lone `\0`: no variables)
/// from `ctl`, each read giving up after `secs`. End of file, a timeout or
/// a block over `MAX_BLOCK` is an error.
pub fn read_block(ctl: RawFd, secs: u32) -> io::Result<Vars> {
    let mut block = Vec::new();
    let mut buf = [0u8; 4096];
    let mut fd = TimeoutFd::new(ctl, secs);
    while !(block.ends_with(b"\0\0") || block == b"\0") {
        let n = fd.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "TLS process ended",
            ));
        }
        if block.len() + n > MAX_BLOCK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "variable block too long",
            ));
        }
        block.extend_from_slice(&buf[..n]);
    }
    Ok(parse_block(&block))
}

/// The variables of a block: an item without `=` is a name with an empty
/// value; empty items and items with an empty name are skipped (setenv
/// refuses an empty name).
pub fn parse_block(block: &[u8]) -> Vars {
    block
        .split(|&b| b == 0)
        .filter(|i| !i.is_empty() && i[0] != b'=')
        .map(|i| {
            let eq = i.iter().position(|&b| b == b'=').unwrap_or(i.len());
            (
                i[..eq].to_vec(),
                i.get(eq + 1..).unwrap_or_default().to_vec(),
            )
        })
        .collect()
}

/// The three descriptors sslserver hands a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFds {
    pub ctl: RawFd,
    pub read: RawFd,
    pub write: RawFd,
}

const NAMES: [&str; 3] = ["SSLCTLFD", "SSLREADFD", "SSLWRITEFD"];

fn env_fd(name: &str) -> Option<RawFd> {
    std::env::var(name).ok()?.parse().ok()
}

impl TlsFds {
    /// From the environment; `None` unless all three are numbers.
    pub fn from_env() -> Option<TlsFds> {
        Some(TlsFds {
            ctl: env_fd(NAMES[0])?,
            read: env_fd(NAMES[1])?,
            write: env_fd(NAMES[2])?,
        })
    }

    /// Children (the queue, checkpassword programs) must not inherit the
    /// descriptors; ours keep working, and dup2 clears the flag on 0 and 1.
    pub fn close_on_exec() {
        for fd in NAMES.into_iter().filter_map(env_fd).filter(|&fd| fd > 2) {
            let _ = sys::set_cloexec(fd, true);
        }
    }

    /// Asks for TLS with the variables (`Y`), moves the clear-text pipes
    /// to 0 and 1, and returns the TLS variables.
    pub fn start(self, secs: u32) -> io::Result<Vars> {
        TimeoutFd::new(self.ctl, secs).write_all(b"Y")?;
        sys::dup2(self.read, 0)?;
        sys::dup2(self.write, 1)?;
        for fd in [self.read, self.write] {
            if fd > 2 && fd != self.ctl {
                sys::close_fd(fd);
            }
        }
        read_block(self.ctl, secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn blocks() {
        let (a, b) = sys::unix_socketpair().unwrap();
        sys::borrow_fd(a.as_raw_fd())
            .write_all(b"SSL_PROTOCOL=TLSv1.3\0X=a=b\0\0")
            .unwrap();
        let v = read_block(b.as_raw_fd(), 5).unwrap();
        assert_eq!(v[0], (b"SSL_PROTOCOL".to_vec(), b"TLSv1.3".to_vec()));
        assert_eq!(v[1], (b"X".to_vec(), b"a=b".to_vec()));
        sys::borrow_fd(a.as_raw_fd()).write_all(b"\0").unwrap();
        assert_eq!(read_block(b.as_raw_fd(), 5).unwrap(), Vars::new());
        drop(a);
        assert!(read_block(b.as_raw_fd(), 5).is_err());
    }

    #[test]
    fn bounded_in_size_and_time() {
        let (a, b) = sys::unix_socketpair().unwrap();
        let big = vec![b'x'; MAX_BLOCK + 10];
        let w = std::thread::spawn(move || {
            let _ = sys::borrow_fd(a.as_raw_fd()).write_all(&big);
            a
        });
        let e = read_block(b.as_raw_fd(), 5).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let a = w.join().unwrap();
        let (_c, d) = sys::unix_socketpair().unwrap();
        let e = read_block(d.as_raw_fd(), 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(a);
    }
}
