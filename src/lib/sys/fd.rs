//! File descriptors: adopting inherited ones, moving, locking, modes.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check;

/// Takes ownership of an inherited descriptor (fd 0, 1, 6, 7, ...).
/// Returns `None` when the descriptor is not open.
pub fn take_fd(fd: RawFd) -> Option<File> {
    if !fd_is_open(fd) {
        return None;
    }
    // SAFETY: the descriptor is open (checked above) and the caller asserts, by
    // taking it, that nothing else in the process owns it.
    Some(unsafe { File::from_raw_fd(fd) })
}

/// Uses an inherited descriptor without taking ownership: dropping the
/// result leaves the descriptor open.
pub fn borrow_fd(fd: RawFd) -> ManuallyDrop<File> {
    // SAFETY: ManuallyDrop never closes it; reads/writes on a closed fd only
    // return EBADF.
    ManuallyDrop::new(unsafe { File::from_raw_fd(fd) })
}

/// Whether `fd` is an open descriptor.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries flags of a descriptor number.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// `dup2(from, to)`; the new descriptor is inheritable across exec.
pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    if from == to {
        return set_cloexec(to, false);
    }
    // SAFETY: dup2 on integers; errors come back as -1.
    check(unsafe { libc::dup2(from, to) }).map(|_| ())
}

/// Moves an owned descriptor to number `to` (closing what was there) and
/// leaves it open without close-on-exec. Used to wire children's fds.
pub fn move_fd(fd: OwnedFd, to: RawFd) -> io::Result<()> {
    let from = fd.as_raw_fd();
    dup2(from, to)?;
    if from != to {
        drop(fd);
    } else {
        std::mem::forget(fd);
    }
    Ok(())
}

/// Closes descriptor number `fd` if open.
pub fn close_fd(fd: RawFd) {
    // SAFETY: closing a number; the caller knows nothing in Rust owns it.
    unsafe {
        libc::close(fd);
    }
}

pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD on an integer descriptor.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFD))?;
        let flags = if on {
            flags | libc::FD_CLOEXEC
        } else {
            flags & !libc::FD_CLOEXEC
        };
        check(libc::fcntl(fd, libc::F_SETFD, flags)).map(|_| ())
    }
}

pub fn set_nonblock(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on an integer descriptor.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL))?;
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        check(libc::fcntl(fd, libc::F_SETFL, flags)).map(|_| ())
    }
}

/// Exclusive `flock`; `wait` false fails with `WouldBlock` when held.
pub fn flock_exclusive(fd: &impl AsRawFd, wait: bool) -> io::Result<()> {
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a descriptor we hold a reference to.
    check(unsafe { libc::flock(fd.as_raw_fd(), op) }).map(|_| ())
}

/// Exclusive whole-file `fcntl` lock (what mbox readers expect), waiting.
pub fn lock_fcntl_exclusive(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: a zeroed flock struct is valid; F_SETLKW only reads it.
    unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        check(libc::fcntl(fd.as_raw_fd(), libc::F_SETLKW, &fl)).map(|_| ())
    }
}

/// Sets the process umask, returning the old one.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: c is a valid NUL-terminated path.
    check(unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// `chown` without following a final symlink's target change semantics
/// (plain chown); `None` leaves that id alone.
pub fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    std::os::unix::fs::chown(path, uid, gid)
}

pub(crate) fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// An anonymous file in memory (memfd_create), closed on exec: a small
/// message handed to the next program as its descriptor 0 without a new
/// inode on disk.
pub fn memfd(name: &std::ffi::CStr) -> std::io::Result<File> {
    // SAFETY: `name` is a valid NUL-terminated string for the call's
    // duration; the flags are constants.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: memfd_create just returned this descriptor; nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}
