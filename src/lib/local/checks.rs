//! The checks before any delivery: home directory modes, the Delivered-To
//! loop, and the forwarding sender (qmail-local(8)).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

use super::args::Args;
use super::errors::errstr;
use super::{dotqmail, say_fd};
use crate::auto;
use crate::exit::Die;

/// The home directory must not be writable by others, nor sticky (the
/// user's signal that a .qmail file is being edited).
pub fn check_home(doit: bool) -> Result<(), Die> {
    let st = std::fs::metadata(".").map_err(|e| {
        Die::temp(format!(
            "Unable to stat home directory: {}. (#4.3.0)",
            errstr(&e)
        ))
    })?;
    if st.mode() & auto::PATRN != 0 {
        return Err(Die::temp("Uh-oh: home directory is writable. (#4.7.0)"));
    }
    if st.mode() & 0o1000 != 0 {
        if doit {
            return Err(Die::temp(
                "Home directory is sticky: user is editing his .qmail file. (#4.2.1)",
            ));
        }
        say_fd(2, b"Warning: home directory is sticky.\n");
    }
    Ok(())
}

pub fn rewind(mut message: &File) -> Result<(), Die> {
    message
        .seek(SeekFrom::Start(0))
        .map(drop)
        .map_err(|_| Die::temp("Unable to rewind message. (#4.3.0)"))
}

/// Bounces a message whose header already has our Delivered-To line.
pub fn check_loop(message: &File, dtline: &[u8]) -> Result<(), Die> {
    rewind(message)?;
    let mut r = BufReader::with_capacity(8192, message);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        r.read_until(b'\n', &mut line)
            .map_err(|e| Die::temp(format!("Unable to read message: {}. (#4.3.0)", errstr(&e))))?;
        if !line.ends_with(b"\n") || line.len() <= 1 {
            return Ok(());
        }
        if line == dtline {
            return Err(Die::perm(
                "This message is looping: it already has my Delivered-To line. (#5.4.6)",
            ));
        }
    }
}

/// The envelope sender of forwarded mail: the sender, or the list owner
/// when `.qmail<dash><ext>-owner` exists (VERP form with `-owner-default`).
pub fn new_sender(a: &Args, safeext: &[u8]) -> Result<Vec<u8>, Die> {
    if a.sender.is_empty() || a.sender == b"#@[]" || !dotqmail::exists(a.dash, safeext, b"-owner")?
    {
        return Ok(a.sender.to_vec());
    }
    let verp = dotqmail::exists(a.dash, safeext, b"-owner-default")?;
    let mut s = a.local.to_vec();
    s.extend_from_slice(if verp { b"-owner-@" } else { b"-owner@" });
    s.extend_from_slice(a.host);
    if verp {
        s.extend_from_slice(b"-@[]");
    }
    Ok(s)
}
