//! Setting the process environment, for programs that pass state to their
//! children that way (qmail-smtpd exports MAILFROM, AUTHUSER, SSL_*, ...).

use std::ffi::OsStr;

/// `setenv(name, value)`. Callers are single-threaded programs.
pub fn set_env(name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
    // SAFETY: the programs calling this run one thread, so no other thread
    // reads the environment concurrently (the 2024-edition rule).
    unsafe { std::env::set_var(name, value) }
}

/// `unsetenv(name)`.
pub fn unset_env(name: impl AsRef<OsStr>) {
    // SAFETY: as for `set_env`: single-threaded callers.
    unsafe { std::env::remove_var(name) }
}
