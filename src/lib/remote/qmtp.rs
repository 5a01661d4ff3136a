//! The QMTP client (qmail-remote(8)) for routes from `qmtproutes`: the
//! message, the sender and the recipients as netstrings in one go, then
//! one netstring answer per recipient. Port 6209 is QMTPS (TLS first).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;

use super::report::{self, Out};
use super::smtp::{Conn, Job, Step};
use super::tls::{self, Stream};

/// Longest answer text we accept.
const MAX_ANSWER: usize = 10_000;

enum Fail {
    Io,
    /// The whole message was sent: a loss may duplicate it.
    IoAfter,
    Proto,
    Report(Vec<u8>),
}

impl From<io::Error> for Fail {
    fn from(_: io::Error) -> Fail {
        Fail::Io
    }
}

fn answer(conn: &mut Conn) -> Result<Vec<u8>, Fail> {
    read_answer(|| conn.byte())?.ok_or(Fail::Proto)
}

/// One netstring answer from `byte`: `Ok(None)` when it is malformed,
/// empty or longer than `MAX_ANSWER`.
pub fn read_answer(mut byte: impl FnMut() -> io::Result<u8>) -> io::Result<Option<Vec<u8>>> {
    let Ok(len) = crate::netstring::read_length(&mut byte, MAX_ANSWER as u64)? else {
        return Ok(None);
    };
    let len = len as usize;
    let mut v = Vec::with_capacity(len);
    for _ in 0..len {
        v.push(byte()?);
    }
    if byte()? != b',' || v.is_empty() {
        return Ok(None);
    }
    Ok(Some(v))
}

/// Sends the package: `len+1:\n<message>,` then `tail` (the sender and
/// recipient netstrings), reading the message file in 64 KiB pieces and
/// writing each piece with what precedes or follows it, so a small
/// message leaves in one write: a package split over small writes would
/// wait on Nagle for the receiver's delayed ACK.
fn send_package(conn: &mut Conn, msg: &mut File, tail: &[u8]) -> Result<(), Fail> {
    const PIECE: usize = 64 * 1024;
    let len = msg
        .metadata()
        .map_err(|_| Fail::Report(report::READ_FAILED.into()))?
        .len();
    msg.seek(SeekFrom::Start(0))
        .map_err(|_| Fail::Report(report::READ_FAILED.into()))?;
    let mut b = Vec::with_capacity(PIECE + 32 + tail.len().min(PIECE));
    crate::netstring::push_header(&mut b, len + 1);
    b.push(b'\n');
    let mut left = len;
    while left > 0 {
        let start = b.len();
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(PIECE);
        b.resize(start + want, 0);
        let n = match msg.read(&mut b[start..]) {
            // The file shrank under us: the netstring's length would lie.
            Ok(0) => return Err(Fail::Report(report::READ_FAILED.into())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                b.truncate(start);
                continue;
            }
            Err(_) => return Err(Fail::Report(report::READ_FAILED.into())),
        };
        b.truncate(start + n);
        left -= n as u64;
        if left > 0 && b.len() >= PIECE {
            conn.s.write_all(&b)?;
            b.clear();
        }
    }
    b.push(b',');
    b.extend_from_slice(tail);
    conn.send(&b)?;
    Ok(())
}

pub fn session(
    job: &mut Job<'_>,
    out: &mut Out,
    tcp: TcpStream,
    ip: &str,
    mx_host: &str,
    qmtps: bool,
) -> Step {
    let mut conn = Conn::new(Stream::Plain(tcp));
    let r = talk(job, out, &mut conn, ip, mx_host, qmtps);
    conn.s.close();
    Step::Done(match r {
        Ok(v) | Err(Fail::Report(v)) => v,
        Err(Fail::Io) => report::died(ip, false),
        Err(Fail::IoAfter) => report::died(ip, true),
        Err(Fail::Proto) => report::QMTP_PROTO.into(),
    })
}

fn talk(
    job: &mut Job<'_>,
    out: &mut Out,
    conn: &mut Conn,
    ip: &str,
    mx_host: &str,
    qmtps: bool,
) -> Result<Vec<u8>, Fail> {
    if qmtps {
        tls::start(&mut conn.s, &job.tls_peer(), mx_host).map_err(Fail::Report)?;
    }
    let mut env = Vec::new();
    crate::netstring::push(&mut env, job.sender);
    let mut rs = Vec::new();
    for r in job.recips {
        crate::netstring::push(&mut rs, r);
    }
    crate::netstring::push(&mut env, &rs);
    send_package(conn, job.msg, &env)?;
    let tag = if qmtps { "qmtps:" } else { "qmtp:" };
    let mut all = true;
    for _ in job.recips {
        let a = answer(conn).map_err(|e| match e {
            Fail::Io => Fail::IoAfter,
            e => e,
        })?;
        let text = crate::printable::text(&a[1..], crate::printable::ascii);
        let letter = match a[0] {
            b'K' => b'r',
            b'D' => b'h',
            b'Z' => b's',
            _ => return Err(Fail::Proto),
        };
        all &= letter == b'r';
        out.recip(letter, &format!("{tag}{text}\n"), None);
    }
    Ok(if all {
        format!("KAll received okay by {ip}\n").into_bytes()
    } else {
        format!("DGiving up on {ip}\n").into_bytes()
    })
}
