//! The calls the queue's inode pool needs and std does not offer: a rename
//! that never replaces its target, `syncfs`, and setting a file's times to
//! now.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `renameat2(from, to, RENAME_NOREPLACE)`: moves `from` to `to` in one
/// step, and fails with `AlreadyExists` instead of replacing `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (cpath(from)?, cpath(to)?);
    // SAFETY: two NUL-terminated strings that live across the call; the
    // directory descriptors are AT_FDCWD.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    super::check(r).map(|_| ())
}

/// `syncfs(2)`: writes back everything dirty on the file system holding
/// `fd` (data and metadata) and flushes the device cache.
pub fn syncfs(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: a descriptor the caller holds a reference to.
    super::check(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(|_| ())
}

/// Sets the access and modification times of `fd` to now.
pub fn touch_now(fd: &impl AsRawFd) -> io::Result<()> {
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_NOW,
    };
    let times = [now, now];
    // SAFETY: a descriptor the caller holds a reference to and an array of
    // two timespecs that lives across the call.
    super::check(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) }).map(|_| ())
}
