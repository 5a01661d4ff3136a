//! Setting the process environment, for programs that pass state to their
//! children that way (qmail-smtpd exports MAILFROM, AUTHUSER, SSL_*, ...).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

/// Whether this process runs one thread: then nothing can read the
/// environment while it changes (setenv's condition for soundness).
fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.strip_prefix("Threads:").is_some_and(|n| n.trim() == "1"))
    })
}

fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.to_string())
}

/// `setenv(name, value)`, sound: a name that is empty or holds `=` or NUL,
/// or a value with a NUL, cannot be an environment string, and a process
/// with more than one thread could read the environment while it changes:
/// `InvalidInput` for both instead of a panic or a race.
pub fn set_env(name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> io::Result<()> {
    let (n, v) = (name.as_ref().as_bytes(), value.as_ref().as_bytes());
    if n.is_empty() || n.contains(&b'=') || n.contains(&0) || v.contains(&0) {
        return Err(refused("not an environment string"));
    }
    if !single_threaded() {
        return Err(refused("the environment changes only in one thread"));
    }
    // SAFETY: this process has one thread (checked above), so no other
    // thread reads or writes the environment concurrently.
    unsafe { std::env::set_var(name, value) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_panic() {
        assert!(set_env("SQMAIL_TEST_NUL", "a\0b").is_err());
        assert!(set_env("A=B", "x").is_err());
        assert!(set_env("", "x").is_err());
        // The test harness runs threads: refused, never a race.
        assert!(!single_threaded());
        assert!(set_env("SQMAIL_TEST_OK", "x").is_err());
    }
}
