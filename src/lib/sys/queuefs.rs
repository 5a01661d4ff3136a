//! The calls qmail-queue and qmail-clean need and std does not offer: a
//! rename that never replaces its target, `syncfs`, setting a file's times
//! to now (the inode pool), and `splice` from a pipe into a file (the
//! message body without a copy through user memory).

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::fd::cstr;

/// `renameat2(from, to, RENAME_NOREPLACE)`: moves `from` to `to` in one
/// step, and fails with `AlreadyExists` instead of replacing `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: two NUL-terminated strings that live across the call; the
    // directory descriptors are AT_FDCWD. The raw system call (not libc's
    // wrapper, which older libcs lack) takes exactly these five arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    let r = libc::c_int::try_from(r).unwrap_or(-1);
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

/// Moves everything `pipe` delivers until EOF into `out` at its current
/// position with `splice(2)`. Returns the bytes moved, or `Unsupported`
/// when `pipe` is not a pipe (then nothing was read). Other errors are
/// the kernel's, from either side.
pub fn splice_all(pipe: &impl AsRawFd, out: &impl AsRawFd) -> io::Result<u64> {
    // SAFETY: two descriptors the caller holds references to; null
    // offsets make the kernel use (and advance) the file position.
    super::copy::kernel_copy(|| unsafe {
        libc::splice(
            pipe.as_raw_fd(),
            std::ptr::null_mut(),
            out.as_raw_fd(),
            std::ptr::null_mut(),
            1 << 20,
            libc::SPLICE_F_MOVE,
        )
    })
}
