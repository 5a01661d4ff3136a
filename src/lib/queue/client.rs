//! The client side of qmail-queue (qmail's `qmail.c`): start it, feed it the
//! message and the envelope, and turn its exit code into qmail's text.
//!
//! Used by qmail-inject, forwarding in qmail-local, bounces in qmail-send,
//! and the SMTP/QMTP/QMQP daemons.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::envelope::Envelope;

/// A failure as qmail reports it: the first byte is the class (`D`
/// permanent, `Z` temporary, and s/qmail's `V`, `S`, `A` for virus, spam,
/// attachment), the rest the human text with its enhanced status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QqError(pub String);

impl QqError {
    pub fn is_permanent(&self) -> bool {
        !self.0.starts_with('Z')
    }
    /// The text without the class letter.
    pub fn text(&self) -> &str {
        self.0.get(1..).unwrap_or("")
    }
}

impl std::fmt::Display for QqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// The text qmail gives for a qmail-queue exit code (qmail-queue(8), EXIT
/// CODES).
pub fn exit_text(code: i32) -> &'static str {
    match code {
        54 => "Zqq read error (#4.3.0)",
        11 | 115 => "Denvelope address too long for qq (#5.1.3)",
        31 => "Dmail server permanently rejected message (#5.3.0)",
        32 => "Vmail server does not accept message (#5.3.0)",
        33 => "Smail server does not accept message (#5.3.0)",
        34 => "Amail server does not accept message (#5.3.0)",
        51 => "Zqq out of memory (#4.3.0)",
        52 => "Zqq timeout (#4.3.0)",
        53 => "Zqq write error or disk full (#4.3.0)",
        55 => "Zqq unable to read configuration (#4.3.0)",
        56 => "Zqq trouble making network connection (#4.3.0)",
        61 => "Zqq trouble in home directory (#4.3.0)",
        62..=66 => "Zqq trouble creating files in queue (#4.3.0)",
        71 => "Zmail server temporarily rejected message (#4.3.0)",
        72 => "Zconnection to mail server timed out (#4.4.1)",
        73 => "Zconnection to mail server rejected (#4.4.1)",
        74 => "Zcommunication with mail server failed (#4.4.2)",
        81 | 91 => "Zqq internal bug (#4.3.0)",
        120 => "Zunable to exec qq (#4.3.0)",
        11..=40 => "Dqq permanent problem (#5.3.0)",
        _ => "Zqq temporary problem (#4.3.0)",
    }
}

/// The program to run: `$QMAILQUEUE` if set, else `bin/qmail-queue`;
/// relative names are resolved against the home.
pub fn program(home: &Path) -> PathBuf {
    match std::env::var_os("QMAILQUEUE") {
        Some(q) if !q.is_empty() => home.join(q),
        _ => home.join("bin/qmail-queue"),
    }
}

/// Whether `$QMAILQUEUE` names a program other than ours.
fn custom_program() -> bool {
    std::env::var_os("QMAILQUEUE").is_some_and(|q| !q.is_empty())
}

/// A running qmail-queue: write the message with `write_all`, then call
/// `finish` with the envelope.
pub struct QueueClient {
    child: Child,
    body: Option<BufWriter<io::PipeWriter>>,
    envelope: io::PipeWriter,
    write_failed: bool,
}

impl QueueClient {
    /// Starts qmail-queue with a pipe for the message.
    pub fn start(home: &Path) -> io::Result<QueueClient> {
        let (body_r, body_w) = io::pipe()?;
        let mut q = QueueClient::spawn(home, Stdio::from(body_r))?;
        q.body = Some(BufWriter::with_capacity(64 * 1024, body_w));
        Ok(q)
    }

    /// Starts qmail-queue reading the message directly from `message`
    /// (positioned at its start): no copy through a pipe.
    pub fn start_with_file(home: &Path, message: File) -> io::Result<QueueClient> {
        QueueClient::spawn(home, Stdio::from(message))
    }

    fn spawn(home: &Path, body: Stdio) -> io::Result<QueueClient> {
        let (env_r, env_w) = io::pipe()?;
        let mut cmd = Command::new(program(home));
        // qmail starts the queue program in the home. Our qmail-queue
        // changes there itself, and without a directory change std can
        // start it by posix_spawn (vfork-like: no page-table copy), so
        // only a QMAILQUEUE substitute gets the chdir.
        if custom_program() {
            cmd.current_dir(home);
        }
        let child = cmd.stdin(body).stdout(Stdio::from(env_r)).spawn()?;
        Ok(QueueClient {
            child,
            body: None,
            envelope: env_w,
            write_failed: false,
        })
    }

    /// The queue program's pid (the "qp" of qmail's logs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes message bytes. Errors are remembered and reported by `finish`
    /// as qmail does (a write error means "qq read error").
    pub fn write_all(&mut self, data: &[u8]) {
        if let Some(b) = self.body.as_mut()
            && !self.write_failed
            && b.write_all(data).is_err()
        {
            self.write_failed = true;
        }
    }

    /// Closes the message, sends the envelope, waits, and maps the result.
    pub fn finish(self, env: &Envelope) -> Result<(), QqError> {
        self.finish_bytes(&env.to_bytes())
    }

    /// `finish` with the envelope already in its wire form.
    pub fn finish_bytes(mut self, envelope: &[u8]) -> Result<(), QqError> {
        if let Some(mut b) = self.body.take() {
            if b.flush().is_err() {
                self.write_failed = true;
            }
            drop(b);
        }
        if self.envelope.write_all(envelope).is_err() {
            self.write_failed = true;
        }
        drop(self.envelope);
        let status = self
            .child
            .wait()
            .map_err(|_| QqError("Zqq waitpid surprise (#4.3.0)".into()))?;
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) if !self.write_failed => Ok(()),
            (Some(0), _) => Err(QqError(exit_text(54).into())),
            (Some(c), _) => Err(QqError(exit_text(c).into())),
            _ => Err(QqError("Zqq crashed (#4.3.0)".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(exit_text(53), "Zqq write error or disk full (#4.3.0)");
        assert!(QqError(exit_text(11).into()).is_permanent());
        assert!(!QqError(exit_text(64).into()).is_permanent());
        assert_eq!(exit_text(35), "Dqq permanent problem (#5.3.0)");
        assert_eq!(exit_text(99), "Zqq temporary problem (#4.3.0)");
    }
}
