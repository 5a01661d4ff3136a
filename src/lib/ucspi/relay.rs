//! The TLS engine process's work: the handshake with a deadline, then
//! relaying between the TLS socket and the program's two pipes, so the
//! program never shares an address space with TLS state.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustls::Connection;

use crate::sys;

const POLLIN: i16 = libc::POLLIN | libc::POLLHUP | libc::POLLERR;

fn remaining_ms(deadline: Instant) -> Option<i32> {
    let left = deadline.checked_duration_since(Instant::now())?;
    Some(i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1))
}

/// A non-blocking read or write that may succeed when tried again.
fn again(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn flush(conn: &mut Connection, sock: RawFd) -> io::Result<()> {
    let mut f = sys::borrow_fd(sock);
    while conn.wants_write() {
        match conn.write_tls(&mut *f) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs the handshake on a blocking socket within `secs` seconds.
pub fn handshake(conn: &mut Connection, sock: RawFd, secs: u32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs));
    let mut f = sys::borrow_fd(sock);
    while conn.is_handshaking() {
        flush(conn, sock).map_err(|e| e.to_string())?;
        if !conn.is_handshaking() {
            break;
        }
        let ms = remaining_ms(deadline).ok_or("timed out")?;
        if !sys::wait_fd(sock, false, ms).map_err(|e| e.to_string())? {
            return Err("timed out".into());
        }
        match conn.read_tls(&mut *f) {
            Ok(0) => return Err("connection closed".into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        if let Err(e) = conn.process_new_packets() {
            let _ = flush(conn, sock);
            return Err(e.to_string());
        }
    }
    flush(conn, sock).map_err(|e| e.to_string())
}

/// Moves decrypted bytes from `conn` into `pending`; false once the peer
/// has closed its side (or the TLS stream broke).
fn take_plaintext(conn: &mut Connection, pending: &mut Vec<u8>, buf: &mut [u8]) -> bool {
    loop {
        match conn.reader().read(buf) {
            Ok(0) => return false,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Relays until both directions are closed or nothing moved for
/// `idle_secs`: TLS plaintext from the peer goes to `to_prog`, what the
/// program writes to `from_prog` goes out encrypted. Closing the program's
/// output sends close_notify and shuts down the socket's write side.
pub fn relay(
    conn: &mut Connection,
    sock: RawFd,
    from_prog: OwnedFd,
    to_prog: OwnedFd,
    idle_secs: u32,
) -> Result<(), String> {
    let err = |e: io::Error| e.to_string();
    for fd in [sock, from_prog.as_raw_fd(), to_prog.as_raw_fd()] {
        sys::set_nonblock(fd, true).map_err(err)?;
    }
    conn.set_buffer_limit(None);
    let idle = Duration::from_secs(u64::from(idle_secs));
    let mut last = Instant::now();
    let mut to_prog = Some(to_prog);
    let mut from_prog = Some(from_prog);
    let mut sock_open = true;
    let mut shut = false;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16384];
    let mut sockf = sys::borrow_fd(sock);
    // Records that came in with the handshake's last flight (a client may
    // send its first command right behind Finished) are already decrypted
    // or buffered: take them now, the socket may never become readable again.
    if let Err(e) = conn.process_new_packets() {
        let _ = flush(conn, sock);
        return Err(e.to_string());
    }
    if !take_plaintext(conn, &mut pending, &mut buf) {
        sock_open = false;
    }
    loop {
        match flush(conn, sock) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Both sides were done: the peer left before our close_notify.
            Err(e)
                if from_prog.is_none()
                    && !sock_open
                    && matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
            Ok(()) => {}
        }
        if !sock_open && pending.is_empty() {
            to_prog = None;
        }
        if from_prog.is_none() && !conn.wants_write() {
            if !shut {
                sys::shutdown_write(sock);
                shut = true;
            }
            if to_prog.is_none() {
                return Ok(());
            }
        }
        let tp = to_prog.as_ref().map_or(-1, |f| f.as_raw_fd());
        let want_sock_r = sock_open && pending.len() < 65536;
        let want_sock_w = conn.wants_write();
        // Take more from the program only once the last chunk went out.
        let fp = match &from_prog {
            Some(f) if !want_sock_w => f.as_raw_fd(),
            _ => -1,
        };
        let sfd = if want_sock_r || want_sock_w { sock } else { -1 };
        let ms = i32::try_from(idle.saturating_sub(last.elapsed()).as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        let ev = sys::poll_events(
            &[
                (sfd, want_sock_r, want_sock_w),
                (fp, true, false),
                (tp, false, !pending.is_empty()),
            ],
            ms,
        )
        .map_err(err)?;
        if ev.iter().all(|&e| e == 0) {
            if last.elapsed() >= idle {
                return Err("timed out".into());
            }
            continue;
        }
        last = Instant::now();
        if ev[0] & POLLIN != 0 && want_sock_r {
            match conn.read_tls(&mut *sockf) {
                Ok(0) => sock_open = false,
                Ok(_) => {}
                Err(e) if again(&e) => {}
                Err(_) => sock_open = false,
            }
            if let Err(e) = conn.process_new_packets() {
                let _ = flush(conn, sock);
                return Err(e.to_string());
            }
            if !take_plaintext(conn, &mut pending, &mut buf) {
                sock_open = false;
            }
        }
        // Plaintext that just arrived goes to the program at once: its pipe
        // almost always has room, and a poll to ask costs a syscall per
        // command of the dialogue.
        if (ev[2] != 0 || (ev[0] & POLLIN != 0 && !pending.is_empty()))
            && let Some(f) = &to_prog
        {
            match sys::borrow_fd(f.as_raw_fd()).write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(e) if again(&e) => {}
                Err(_) => {
                    // The program stopped reading: nothing more to deliver.
                    pending.clear();
                    sock_open = false;
                    to_prog = None;
                }
            }
        }
        if ev[1] != 0
            && let Some(f) = &from_prog
        {
            match sys::borrow_fd(f.as_raw_fd()).read(&mut buf) {
                Ok(0) => {
                    conn.send_close_notify();
                    from_prog = None;
                }
                Ok(n) => {
                    conn.writer().write_all(&buf[..n]).map_err(err)?;
                }
                Err(e) if again(&e) => {}
                Err(_) => {
                    conn.send_close_notify();
                    from_prog = None;
                }
            }
        }
    }
}
