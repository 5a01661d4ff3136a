//! Forwarding (dot-qmail(5)): one new message, DTLINE + the original,
//! to all forward addresses, through qmail-queue.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::envelope::Envelope;
use crate::queue::client::{QqError, QueueClient};
use crate::queue::exitcode::code;

/// Queues `dtline` + `message` (from where it stands) for `recipients` with
/// envelope sender `sender`. Returns qmail-queue's pid (the "qp").
///
/// qmail-queue reads a pipe: we write DTLINE into it, then the kernel
/// moves the message file into it (`sendfile`), so the body never passes
/// through our memory.
pub fn forward(
    home: &Path,
    dtline: &[u8],
    message: &File,
    sender: &[u8],
    recipients: Vec<Vec<u8>>,
) -> Result<u32, QqError> {
    let (r, w) = io::pipe().map_err(|_| QqError::NoPipe)?;
    let client = QueueClient::start_with_file(home, File::from(OwnedFd::from(r)))
        .map_err(|_| QqError::Exit(code::NO_EXEC))?;
    let qp = client.pid();
    let mut w = File::from(OwnedFd::from(w));
    let copied = w.write_all(dtline).and_then(|()| copy(message, &w));
    drop(w);
    let env = Envelope {
        sender: sender.to_vec(),
        recipients,
    };
    client.finish(&env)?;
    copied.map_err(|_| read_error())?;
    Ok(qp)
}

/// The rest of `input` (from where it stands) into `out`: by `sendfile`,
/// else by read/write (for an input that is a pipe).
pub fn copy(input: &File, out: &File) -> io::Result<()> {
    match crate::sys::sendfile_all(out, input) {
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            io::copy(&mut &*input, &mut &*out).map(drop)
        }
        r => r.map(drop),
    }
}

fn read_error() -> QqError {
    QqError::Exit(code::READ)
}
