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
    let want: Vec<(RawFd, bool, bool)> = fds.iter().map(|p| (p.fd, !p.write, p.write)).collect();
    let revents = super::poll_events(&want, timeout_ms)?;
    for (p, r) in fds.iter_mut().zip(revents) {
        p.ready = r != 0;
    }
    Ok(())
}
