//! RFC 1413 IDENT client for `TCPREMOTEINFO` (`-r`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::sys;

/// Asks the peer's IDENT service who owns the connection `local`↔`remote`.
/// Any failure or a timeout after `secs` seconds gives `None`.
pub fn lookup(local: SocketAddr, remote: SocketAddr, secs: u32) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs));
    let ms = i32::try_from(secs.saturating_mul(1000)).unwrap_or(i32::MAX);
    let mut from = local;
    from.set_port(0);
    let mut to = remote;
    to.set_port(113);
    let fd = sys::tcp_connect(&to, Some(&from), ms).ok()?;
    let mut s = TcpStream::from(fd);
    s.write_all(format!("{} , {}\r\n", remote.port(), local.port()).as_bytes())
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 1024 {
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse(&buf)
}

/// `ports : USERID : os : user` → `user`.
pub fn parse(reply: &[u8]) -> Option<Vec<u8>> {
    let line = reply.split(|&b| b == b'\n').next()?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.splitn(4, |&b| b == b':');
    parts.next()?;
    let kind = parts.next()?;
    if kind.trim_ascii() != b"USERID" {
        return None;
    }
    parts.next()?;
    let user = parts.next()?.trim_ascii_start();
    (!user.is_empty()).then(|| user.to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replies() {
        assert_eq!(
            super::parse(b"6191, 23 : USERID : UNIX : stjohns\r\n").unwrap(),
            b"stjohns"
        );
        assert_eq!(super::parse(b"6191, 23 : ERROR : NO-USER\r\n"), None);
    }
}
