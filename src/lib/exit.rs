//! Exit codes and the `main` edge: errors travel as values and become a
//! qmail exit code and one `prog: fatal: reason` line here, nowhere else.

use std::fmt;
use std::io::{self, Write};

/// Temporary failure: try again later.
pub const TEMP: i32 = 111;
/// Permanent failure, and wrong usage.
pub const PERM: i32 = 100;

/// `PERM` for a permanent failure, else `TEMP`.
pub fn class_code(permanent: bool) -> i32 {
    if permanent { PERM } else { TEMP }
}

/// A reason to stop, with the exit code it maps to. An empty text prints
/// nothing (for programs whose answer was already written to the peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Die {
    pub code: i32,
    pub text: String,
}

impl Die {
    pub fn new(code: i32, text: impl Into<String>) -> Die {
        Die {
            code,
            text: text.into(),
        }
    }
    pub fn temp(text: impl Into<String>) -> Die {
        Die::new(TEMP, text)
    }
    pub fn perm(text: impl Into<String>) -> Die {
        Die::new(PERM, text)
    }
    pub fn usage(usage: &str) -> Die {
        Die::new(PERM, format!("usage: {usage}"))
    }
    /// A temporary failure of a system call: "unable to WHAT: error".
    pub fn sys(what: impl fmt::Display, err: impl fmt::Display) -> Die {
        Die::temp(format!("unable to {what}: {err}"))
    }
    /// Exit silently with `code`.
    pub fn quiet(code: i32) -> Die {
        Die::new(code, "")
    }
}

impl fmt::Display for Die {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Runs a program's real main. A panic is never a permanent failure: it
/// prints `prog: fatal: internal error` and exits `panic_code` (111 for most
/// programs, 81 for qmail-queue).
pub fn run_with(prog: &'static str, panic_code: i32, main: impl FnOnce() -> Result<(), Die>) -> ! {
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(std::io::stderr(), "{prog}: fatal: internal error: {info}");
        crate::sys::exit_now(panic_code);
    }));
    let code = match main() {
        Ok(()) => 0,
        Err(d) => {
            if !d.text.is_empty() {
                let _ = writeln!(std::io::stderr(), "{prog}: fatal: {}", d.text);
            }
            d.code
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// `run_with` for the usual temporary code 111.
pub fn run(prog: &'static str, main: impl FnOnce() -> Result<(), Die>) -> ! {
    run_with(prog, TEMP, main)
}

/// qmail's error_temp: errors worth a retry.
pub fn is_temp_errno(e: &io::Error) -> bool {
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

/// Prints `prog: warning: text` on stderr.
pub fn warn(prog: &str, text: impl fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{prog}: warning: {text}");
}
