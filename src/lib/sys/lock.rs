//! A lock wait bounded by time (qmail-local's 30 s mbox lock).

use std::io;
use std::os::fd::AsRawFd;

use super::check;

extern "C" fn on_alarm(_: libc::c_int) {}

/// Takes an exclusive whole-file `fcntl` lock, waiting at most `secs`
/// seconds. `Ok(false)` means the time ran out. SIGALRM is caught (without
/// restart) for the wait and set back to its default afterwards.
pub fn lock_fcntl_timeout(fd: &impl AsRawFd, secs: u32) -> io::Result<bool> {
    // SAFETY: a zeroed sigaction with an empty mask and a handler that does
    // nothing is valid; SA_RESTART is off so the wait below returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        check(libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()))?;
    }
    super::alarm(secs);
    // SAFETY: a zeroed flock struct is valid; F_SETLKW only reads it.
    let r = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        check(libc::fcntl(fd.as_raw_fd(), libc::F_SETLKW, &fl))
    };
    super::alarm(0);
    let _ = super::default_signal(libc::SIGALRM);
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}
