//! qmail's view of system errors: its texts and which ones are worth a
//! retry.

use std::io;

/// The system's text for an error, without Rust's "(os error N)".
pub fn errstr(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// qmail's error_temp: errors worth a retry.
pub fn is_temp(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EINTR
                | libc::ENOMEM
                | libc::ETXTBSY
                | libc::EIO
                | libc::ETIMEDOUT
                | libc::EAGAIN
                | libc::EDEADLK
                | libc::EBUSY
                | libc::ENFILE
                | libc::EMFILE
                | libc::EFBIG
                | libc::ENOSPC
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::ENETRESET
                | libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::ENOBUFS
                | libc::ECONNREFUSED
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::EUSERS
                | libc::EDQUOT
                | libc::ESTALE
                | libc::EREMOTE
        )
    )
}
