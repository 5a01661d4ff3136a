//! The few system calls std does not offer. All of sqmail's `unsafe` lives
//! below this module; every block says why it is sound.
//!
//! Each concern has its own file. A helper that needs another call adds it to
//! the file of its concern (or a new file here), never `unsafe` elsewhere.

mod arena;
mod clone_exec;
mod copy;
mod crypt;
mod fd;
mod lock;
mod net;
mod outnet;
mod poll;
mod proc;
mod queuefs;
mod signal;
mod tmpfile;

pub use arena::*;
pub use clone_exec::*;
pub use copy::*;
pub use crypt::*;
pub use fd::*;
pub use lock::*;
pub use net::*;
pub use outnet::*;
pub use poll::*;
pub use proc::*;
pub use queuefs::*;
pub use signal::*;
pub use tmpfile::*;

/// The calling thread's errno as an `io::Error`.
pub(crate) fn last_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Turns a C-style `-1 means error` return into a `Result`.
pub(crate) fn check(r: libc::c_int) -> std::io::Result<libc::c_int> {
    if r == -1 { Err(last_err()) } else { Ok(r) }
}
