//! qmail-pop3d's I/O (qmail-pop3d(8)): enter the Maildir, list it, run the
//! TRANSACTION state on fds 0/1, stream messages, and UPDATE at QUIT.
//!
//! Every ending after the first reply is exit 0, as in qmail: qmail-popup
//! takes any other exit status for a failed login and would say so.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::exit::Die;
use crate::pop3::client::{Client, Got};
use crate::pop3::mailbox::Mailbox;
use crate::pop3::message::Encoder;
use crate::pop3::reply::{self as r, put};
use crate::pop3::transaction::{Action, Transaction};
use crate::sys;

/// Messages go out in pieces of about this size.
const CHUNK: usize = 64 * 1024;

/// Serves the Maildir `maildir` (relative to the working directory, the
/// user's home) to the client on fds 0/1.
pub fn serve(maildir: Option<&OsStr>) -> Result<(), Die> {
    sys::ignore_signal(libc::SIGPIPE).map_err(|e| Die::sys("ignore SIGPIPE", e))?;
    let mut client = Client::new(false);
    let mut out = Vec::new();
    let entered = maildir.is_some_and(|d| std::env::set_current_dir(d).is_ok());
    if !entered {
        put(&mut out, r::NO_MAILDIR);
        let _ = client.send(&mut out);
        return Ok(());
    }
    let Ok(mailbox) = Mailbox::scan(Path::new(".")) else {
        put(&mut out, r::SCAN_FAILED);
        let _ = client.send(&mut out);
        return Ok(());
    };
    let mut t = Transaction::new(mailbox);
    t.greet();
    // A client that is gone ends the session: nothing was changed.
    let _ = session(&mut client, &mut t);
    Ok(())
}

fn session(client: &mut Client, t: &mut Transaction) -> io::Result<()> {
    loop {
        client.send(&mut t.out)?;
        let action = match client.line()? {
            Got::TooLong => {
                t.line_too_long();
                Action::Continue
            }
            Got::Line(l) => t.line(&l),
        };
        match action {
            Action::Continue => {}
            Action::Send { index, body_lines } => match File::open(t.mailbox.path(index)) {
                Ok(f) => {
                    put(&mut t.out, r::OK);
                    send_message(client, f, body_lines, &mut t.out)?;
                }
                Err(_) => t.send_failed(),
            },
            Action::Quit => {
                let ok = t.mailbox.update();
                t.update_done(ok);
                return client.send(&mut t.out);
            }
        }
    }
}

/// Streams a message through the encoder. A read error mid-way ends the
/// message early (the client sees a short message, never a hang).
fn send_message(
    client: &mut Client,
    mut f: File,
    body_lines: Option<u64>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut enc = Encoder::new(body_lines);
    let mut buf = vec![0u8; CHUNK];
    while !enc.done() {
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        enc.feed(&buf[..n], out);
        if out.len() >= CHUNK {
            client.send(out)?;
        }
    }
    enc.finish(out);
    client.send(out)
}
