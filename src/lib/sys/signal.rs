//! Signals: ignoring, defaulting, and the self-pipe that turns a signal
//! into a readable byte for a poll loop.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::check;

static SELF_PIPE_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SELF_PIPE_W.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte
        // (the pipe is non-blocking), and the loop still wakes.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

fn install(sig: i32, handler: libc::sighandler_t, restart: bool) -> io::Result<()> {
    // SAFETY: a zeroed sigaction with an empty mask and a valid handler value.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        check(libc::sigaction(sig, &sa, std::ptr::null_mut())).map(|_| ())
    }
}

pub fn ignore_signal(sig: i32) -> io::Result<()> {
    install(sig, libc::SIG_IGN, true)
}

pub fn default_signal(sig: i32) -> io::Result<()> {
    install(sig, libc::SIG_DFL, true)
}

/// Routes the given signals into a non-blocking pipe; returns its read end.
/// Each delivery writes the signal number as one byte. Call once.
pub fn signal_pipe(sigs: &[i32]) -> io::Result<RawFd> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    SELF_PIPE_W.store(fds[1], Ordering::Relaxed);
    for &s in sigs {
        install(s, on_signal as *const () as libc::sighandler_t, true)?;
    }
    Ok(fds[0])
}

/// Reads the pending signal numbers from the self-pipe.
pub fn drain_signals(fd: RawFd) -> Vec<i32> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: buf is valid for 64 bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            return out;
        }
        out.extend(buf[..n as usize].iter().map(|&b| b as i32));
    }
}

/// A handler that runs `_exit(code)`: for watchdog alarms and crash signals
/// where no cleanup may run (qmail-queue's 24 h alarm exits 52).
pub fn exit_on_signal(sig: i32, code: i32) -> io::Result<()> {
    static CODES: [AtomicI32; 65] = [const { AtomicI32::new(111) }; 65];
    extern "C" fn die(sig: libc::c_int) {
        let code = CODES
            .get(sig as usize)
            .map_or(111, |c| c.load(Ordering::Relaxed));
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(code) }
    }
    if let Some(c) = CODES.get(sig as usize) {
        c.store(code, Ordering::Relaxed);
    }
    install(sig, die as *const () as libc::sighandler_t, false)
}
