//! Kernel-side copying from a file to a pipe or file (`sendfile`), so a
//! message body never passes through user memory.

use std::io;
use std::os::fd::AsRawFd;

/// Copies from `input`'s current position to its end into `out` with
/// `sendfile(2)`, advancing `input`'s position. Returns the bytes copied.
/// `Unsupported` when the kernel cannot do it for these descriptors (then
/// nothing was copied and the caller falls back to read/write).
pub fn sendfile_all(out: &impl AsRawFd, input: &impl AsRawFd) -> io::Result<u64> {
    // SAFETY: two descriptors we hold references to; a null offset
    // makes the kernel use and advance the input's file position.
    kernel_copy(|| unsafe {
        libc::sendfile(
            out.as_raw_fd(),
            input.as_raw_fd(),
            std::ptr::null_mut(),
            1 << 20,
        )
    })
}

/// Repeats one kernel copy call (`sendfile`, `splice`: bytes moved, 0 at
/// the end, -1 with errno) until the end. Returns the bytes moved;
/// `Unsupported` when the first call says the kernel cannot do it for these
/// descriptors (EINVAL, ENOSYS: nothing moved, the caller falls back).
pub(super) fn kernel_copy(mut step: impl FnMut() -> isize) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match step() {
            0 => return Ok(total),
            n if n > 0 => total += n as u64,
            _ => {
                let e = super::last_err();
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EINVAL | libc::ENOSYS) if total == 0 => {
                        return Err(io::Error::new(io::ErrorKind::Unsupported, e));
                    }
                    _ => return Err(e),
                }
            }
        }
    }
}
