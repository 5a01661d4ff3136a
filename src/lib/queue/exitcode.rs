//! qmail-queue's exit codes (qmail-queue(8), EXIT CODES), in one place: the
//! writer exits with them, and every client (qmail-smtpd, qmail-inject,
//! forwarding in qmail-local, bounces) turns them into a class and qmail's
//! text through `QqError`.

use std::fmt;

/// The codes the writer (and qmail-qmqpc, in its place) exits with.
pub mod code {
    pub const ADDRESS_TOO_LONG: i32 = 11;
    /// The server refused the message for good (qmail-qmqpc).
    pub const REFUSED_FOR_GOOD: i32 = 31;
    pub const VIRUS: i32 = 32;
    pub const OUT_OF_MEMORY: i32 = 51;
    pub const TIMEOUT: i32 = 52;
    pub const WRITE: i32 = 53;
    pub const READ: i32 = 54;
    pub const CONFIG: i32 = 55;
    pub const SOCKET: i32 = 56;
    pub const HOME: i32 = 61;
    pub const QUEUE: i32 = 62;
    pub const PID: i32 = 63;
    pub const MESS: i32 = 64;
    pub const INTD: i32 = 65;
    pub const TODO: i32 = 66;
    pub const SCANNER: i32 = 71;
    /// The server refused the message for now (qmail-qmqpc): the
    /// scanner's code.
    pub const REFUSED_FOR_NOW: i32 = SCANNER;
    pub const CONNECT_TIMED_OUT: i32 = 72;
    pub const CONNECT_REFUSED: i32 = 73;
    pub const CONVERSATION: i32 = 74;
    pub const BUG: i32 = 81;
    pub const ENVELOPE: i32 = 91;
    /// What a client reports when it could not start the queue program.
    pub const NO_EXEC: i32 = 120;
}

/// What a failure means to the sender: try again, or give up. s/qmail
/// names three permanent refusals of the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Temporary,
    Permanent,
    Virus,
    Spam,
    Attachment,
}

impl Class {
    /// Every class but `Temporary` is final (codes 11 to 40).
    pub fn is_permanent(self) -> bool {
        self != Class::Temporary
    }
}

use Class::*;

/// An exit code's class and qmail's text (qmail-queue(8), EXIT CODES).
fn meaning(code: i32) -> (Class, &'static str) {
    match code {
        54 => (Temporary, "qq read error (#4.3.0)"),
        11 | 115 => (Permanent, "envelope address too long for qq (#5.1.3)"),
        31 => (
            Permanent,
            "mail server permanently rejected message (#5.3.0)",
        ),
        32 => (Virus, "mail server does not accept message (#5.3.0)"),
        33 => (Spam, "mail server does not accept message (#5.3.0)"),
        34 => (Attachment, "mail server does not accept message (#5.3.0)"),
        51 => (Temporary, "qq out of memory (#4.3.0)"),
        52 => (Temporary, "qq timeout (#4.3.0)"),
        53 => (Temporary, "qq write error or disk full (#4.3.0)"),
        55 => (Temporary, "qq unable to read configuration (#4.3.0)"),
        56 => (Temporary, "qq trouble making network connection (#4.3.0)"),
        61 => (Temporary, "qq trouble in home directory (#4.3.0)"),
        62..=66 => (Temporary, "qq trouble creating files in queue (#4.3.0)"),
        71 => (
            Temporary,
            "mail server temporarily rejected message (#4.3.0)",
        ),
        72 => (Temporary, "connection to mail server timed out (#4.4.1)"),
        73 => (Temporary, "connection to mail server rejected (#4.4.1)"),
        74 => (Temporary, "communication with mail server failed (#4.4.2)"),
        81 | 91 => (Temporary, "qq internal bug (#4.3.0)"),
        120 => (Temporary, "unable to exec qq (#4.3.0)"),
        11..=40 => (Permanent, "qq permanent problem (#5.3.0)"),
        _ => (Temporary, "qq temporary problem (#4.3.0)"),
    }
}

/// Why the queue program did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QqError {
    /// It exited with this code (or 0 after our write to it failed: 54).
    Exit(i32),
    /// A signal ended it.
    Crashed,
    /// Waiting for it failed.
    WaitFailed,
    /// No pipe to it could be made.
    NoPipe,
}

impl QqError {
    pub fn class(self) -> Class {
        match self {
            QqError::Exit(c) => meaning(c).0,
            _ => Temporary,
        }
    }

    pub fn is_permanent(self) -> bool {
        self.class().is_permanent()
    }

    /// qmail's text, with its enhanced status code.
    pub fn text(self) -> &'static str {
        match self {
            QqError::Exit(c) => meaning(c).1,
            QqError::Crashed => "qq crashed (#4.3.0)",
            QqError::WaitFailed => "qq waitpid surprise (#4.3.0)",
            QqError::NoPipe => "unable to create pipe (#4.3.0)",
        }
    }
}

impl fmt::Display for QqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_texts() {
        let e = |c| QqError::Exit(c);
        assert_eq!(e(53).text(), "qq write error or disk full (#4.3.0)");
        assert!(e(code::ADDRESS_TOO_LONG).is_permanent());
        assert!(!e(code::MESS).is_permanent());
        assert_eq!(e(35).text(), "qq permanent problem (#5.3.0)");
        assert_eq!(e(35).class(), Permanent);
        assert_eq!(e(99).text(), "qq temporary problem (#4.3.0)");
        assert_eq!(e(code::VIRUS).class(), Virus);
        assert!(e(33).is_permanent() && e(34).is_permanent());
        assert!(!QqError::Crashed.is_permanent());
        assert_eq!(e(code::NO_EXEC).text(), "unable to exec qq (#4.3.0)");
    }
}
