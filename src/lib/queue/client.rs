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
pub use crate::queue::exitcode::QqError;
use crate::queue::exitcode::code;

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
/// `finish` with the envelope (or stream it: `end_message`,
/// `write_envelope`, `close`).
pub struct QueueClient {
    child: Child,
    body: Option<BufWriter<io::PipeWriter>>,
    envelope: BufWriter<io::PipeWriter>,
    /// A write failed or the caller gave up: nothing more is written, the
    /// envelope is never ended, so nothing is queued.
    write_failed: bool,
    /// The caller gave up (`fail`): qmail-queue's own verdict is moot.
    gave_up: bool,
}

impl QueueClient {
    /// Starts qmail-queue with a pipe for the message.
    pub fn start(home: &Path) -> io::Result<QueueClient> {
        QueueClient::start_with_env(home, &[])
    }

    /// `start`, with variables added to qmail-queue's environment (the
    /// SMTP session's RCPTTO, MAILFROM, ...).
    pub fn start_with_env(home: &Path, env: &[(String, String)]) -> io::Result<QueueClient> {
        let (body_r, body_w) = io::pipe()?;
        let mut q = QueueClient::spawn(home, Stdio::from(body_r), env)?;
        q.body = Some(BufWriter::with_capacity(64 * 1024, body_w));
        Ok(q)
    }

    /// Starts qmail-queue reading the message directly from `message`
    /// (positioned at its start): no copy through a pipe.
    pub fn start_with_file(home: &Path, message: File) -> io::Result<QueueClient> {
        QueueClient::spawn(home, Stdio::from(message), &[])
    }

    fn spawn(home: &Path, body: Stdio, env: &[(String, String)]) -> io::Result<QueueClient> {
        let (env_r, env_w) = io::pipe()?;
        let mut cmd = Command::new(program(home));
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
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
            envelope: BufWriter::with_capacity(8 * 1024, env_w),
            write_failed: false,
            gave_up: false,
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
        self.end_message();
        self.write_envelope(envelope);
        self.close()
    }

    /// Gives up on this message (qmail's `qmail_fail`): later writes are
    /// dropped and the envelope is never ended, so qmail-queue queues
    /// nothing; `close` still waits for it.
    pub fn fail(&mut self) {
        self.write_failed = true;
        self.gave_up = true;
    }

    /// Ends the message: flushes and closes its pipe.
    pub fn end_message(&mut self) {
        if let Some(mut b) = self.body.take() {
            if !self.write_failed && b.flush().is_err() {
                self.write_failed = true;
            }
            // Unflushed bytes of a failed message must not reach the queue.
            let _ = b.into_parts();
        }
    }

    /// Writes envelope bytes (`F...\0`, `T...\0`, the final `\0`), after
    /// `end_message`.
    pub fn write_envelope(&mut self, bytes: &[u8]) {
        if !self.write_failed && self.envelope.write_all(bytes).is_err() {
            self.write_failed = true;
        }
    }

    /// Ends the envelope (unless failed), waits, and maps the result.
    pub fn close(mut self) -> Result<(), QqError> {
        self.end_message();
        if !self.write_failed && self.envelope.flush().is_err() {
            self.write_failed = true;
        }
        let _ = self.envelope.into_parts();
        let status = self.child.wait().map_err(|_| QqError::WaitFailed)?;
        match status.code() {
            Some(_) if self.gave_up => Err(QqError::Exit(code::READ)),
            // A refusal explains the failed write (a filter that stopped
            // reading); a success cannot stand without the whole message.
            Some(0) if self.write_failed => Err(QqError::Exit(code::READ)),
            Some(0) => Ok(()),
            Some(c) => Err(QqError::Exit(c)),
            None => Err(QqError::Crashed),
        }
    }
}
