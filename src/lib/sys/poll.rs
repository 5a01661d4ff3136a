//! poll(2) over several descriptors for reading and writing (the daemons'
//! main loops: qmail-send, qmail-todo, the spawners).

use std::io;
use std::os::fd::RawFd;

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
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| libc::pollfd {
            fd: p.fd,
            events: if p.write { libc::POLLOUT } else { libc::POLLIN },
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a valid array of pfds.len() pollfd structs.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if r == -1 {
        let e = super::last_err();
        if e.kind() == io::ErrorKind::Interrupted {
            fds.iter_mut().for_each(|p| p.ready = false);
            return Ok(());
        }
        return Err(e);
    }
    for (p, q) in fds.iter_mut().zip(&pfds) {
        p.ready = q.revents != 0;
    }
    Ok(())
}
