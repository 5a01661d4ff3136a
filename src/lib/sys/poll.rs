//! poll(2), all of sqmail's: over several descriptors for reading and
//! writing (the daemons' main loops: qmail-send, qmail-todo, the delivery
//! engine, the servers) and on one descriptor with a timeout (qmail's
//! timeoutread/timeoutwrite).

use std::io;
use std::os::fd::RawFd;

use super::last_err;

/// One descriptor to watch. `ready` is set by `poll_fds` when the descriptor
/// can be read (or written), has hung up, or is in error.
#[derive(Debug, Clone, Copy)]
pub struct PollFd {
    pub fd: RawFd,
    pub write: bool,
    pub ready: bool,
}

impl PollFd {
    pub fn read(fd: RawFd) -> PollFd {
        PollFd {
            fd,
            write: false,
            ready: false,
        }
    }
    pub fn write(fd: RawFd) -> PollFd {
        PollFd {
            fd,
            write: true,
            ready: false,
        }
    }
}

/// Waits until one of `fds` is ready or `timeout_ms` passes (< 0: forever).
/// EINTR counts as "nothing ready" (the signal pipe is then readable).
pub fn poll_fds(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<()> {
    let want: Vec<(RawFd, bool, bool)> = fds.iter().map(|p| (p.fd, !p.write, p.write)).collect();
    let revents = poll_events(&want, timeout_ms)?;
    for (p, r) in fds.iter_mut().zip(revents) {
        p.ready = r != 0;
    }
    Ok(())
}

/// Waits for readability on several fds; returns which are ready.
/// `timeout_ms` < 0 waits forever. EINTR returns an all-false vector.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let want: Vec<(RawFd, bool, bool)> = fds.iter().map(|&fd| (fd, true, false)).collect();
    Ok(poll_events(&want, timeout_ms)?
        .iter()
        .map(|&r| r != 0)
        .collect())
}

/// Waits until `fd` is readable (or writable) or the timeout passes.
/// Returns false on timeout. Used for qmail's timeoutread/timeoutwrite.
pub fn wait_fd(fd: RawFd, write: bool, timeout_ms: i32) -> io::Result<bool> {
    let events = if write { libc::POLLOUT } else { libc::POLLIN };
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r == -1 {
            let e = last_err();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

/// Poll for several descriptors with separate read/write interest (a
/// negative fd is skipped; with no interest errors and hang-ups still
/// show). Returns the `revents` per entry; EINTR gives all zero.
pub fn poll_events(fds: &[(RawFd, bool, bool)], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, r, w)| libc::pollfd {
            fd,
            events: (if r { libc::POLLIN } else { 0 }) | (if w { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a valid array of pfds.len() pollfd structs.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if r == -1 {
        let e = last_err();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![0; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}
