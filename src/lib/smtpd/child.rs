//! Children that get a block of data on fd 3 (the checkpassword interface
//! and recipient PAMs): qmail-smtpd's auth child, qmail-authuser's helper
//! backends.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus};

use crate::sys;

/// Which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fd3Error {
    Pipe,
    Spawn,
    Write,
    Wait,
}

/// Runs `cmd` with `block` readable on its fd 3 and waits for it. The
/// caller's own fd 3 is used for the hand-over and closed afterwards.
pub fn run_with_fd3(cmd: &mut Command, block: &[u8]) -> Result<ExitStatus, Fd3Error> {
    let (rd, mut wr) = io::pipe().map_err(|_| Fd3Error::Pipe)?;
    sys::move_fd(OwnedFd::from(rd), 3).map_err(|_| Fd3Error::Pipe)?;
    let spawned = cmd.spawn();
    sys::close_fd(3);
    let mut child = spawned.map_err(|_| Fd3Error::Spawn)?;
    let wrote = wr.write_all(block);
    drop(wr);
    let status = child.wait().map_err(|_| Fd3Error::Wait)?;
    wrote.map_err(|_| Fd3Error::Write)?;
    Ok(status)
}
