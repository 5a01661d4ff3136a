//! Setting the process environment, for programs that pass state to their
//! children that way (qmail-smtpd exports MAILFROM, AUTHUSER, SSL_*, ...).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

/// `setenv(name, value)`. Callers are single-threaded programs. A name
/// that is empty or holds `=` or NUL, or a value with a NUL, cannot be an
/// environment string: `InvalidInput` instead of std's panic.
pub fn set_env(name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> io::Result<()> {
    let (n, v) = (name.as_ref().as_bytes(), value.as_ref().as_bytes());
    if n.is_empty() || n.contains(&b'=') || n.contains(&0) || v.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an environment string",
        ));
    }
    // SAFETY: the programs calling this run one thread, so no other thread
    // reads the environment concurrently (the 2024-edition rule).
    unsafe { std::env::set_var(name, value) };
    Ok(())
}

/// `unsetenv(name)`.
pub fn unset_env(name: impl AsRef<OsStr>) {
    // SAFETY: as for `set_env`: single-threaded callers.
    unsafe { std::env::remove_var(name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_panic() {
        assert!(set_env("SQMAIL_TEST_NUL", "a\0b").is_err());
        assert!(set_env("A=B", "x").is_err());
        assert!(set_env("", "x").is_err());
    }
}
