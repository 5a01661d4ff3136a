//! Forwarding (local.md §1.6): one new message, DTLINE + the original,
//! to all forward addresses, through qmail-queue.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::envelope::Envelope;
use crate::qq::{QqError, QueueClient};

/// Queues `dtline` + `message` (from where it stands) for `recipients` with
/// envelope sender `sender`. Returns qmail-queue's pid (the "qp").
///
/// qmail-queue reads a pipe: we write DTLINE into it, then the kernel
/// moves the message file into it (sendfile/splice via `io::copy`), so the
/// body never passes through our memory.
pub fn forward(
    home: &Path,
    dtline: &[u8],
    mut message: &File,
    sender: &[u8],
    recipients: Vec<Vec<u8>>,
) -> Result<u32, QqError> {
    let unable = |_| QqError("Zunable to fork (#4.3.0)".into());
    let (r, mut w) = io::pipe().map_err(unable)?;
    let client =
        QueueClient::start_with_file(home, File::from(OwnedFd::from(r))).map_err(unable)?;
    let qp = client.pid();
    let copied = w
        .write_all(dtline)
        .and_then(|()| io::copy(&mut message, &mut w).map(drop));
    drop(w);
    let env = Envelope {
        sender: sender.to_vec(),
        recipients,
    };
    client.finish(&env)?;
    copied.map_err(|_| read_error())?;
    Ok(qp)
}

fn read_error() -> QqError {
    QqError(crate::qq::exit_text(54).into())
}
