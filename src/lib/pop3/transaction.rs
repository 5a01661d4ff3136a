//! qmail-pop3d's TRANSACTION state without I/O (qmail-pop3d(8)): the
//! caller hands it one line at a time, sends what it appended to `out`,
//! and does the work of the returned `Action` (sending a message, the
//! UPDATE at QUIT).

use crate::pop3::command::{self, NumberError, Verb};
use crate::pop3::mailbox::Mailbox;
use crate::pop3::reply::{self as r, put};

/// Work for the I/O shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Send message `index` after `+OK`: all of it, or the header and
    /// `body_lines` lines of the body (TOP).
    Send {
        index: usize,
        body_lines: Option<u64>,
    },
    /// QUIT: update the Maildir, reply with `update_done`, end.
    Quit,
}

pub struct Transaction {
    pub mailbox: Mailbox,
    /// The highest message number touched by RETR or DELE (LAST of RFC 1460).
    last: usize,
    pub out: Vec<u8>,
}

impl Transaction {
    pub fn new(mailbox: Mailbox) -> Transaction {
        Transaction {
            mailbox,
            last: 0,
            out: Vec::new(),
        }
    }

    /// The `+OK` that tells the client (through qmail-popup) it is in.
    pub fn greet(&mut self) {
        put(&mut self.out, r::OK);
    }

    pub fn line_too_long(&mut self) {
        put(&mut self.out, r::TOO_LONG);
    }

    pub fn line(&mut self, line: &[u8]) -> Action {
        let Some((verb, arg)) = command::parse(line, &mut self.out) else {
            return Action::Continue;
        };
        match verb {
            Verb::Quit => return Action::Quit,
            Verb::Stat => {
                let (n, bytes) = self.mailbox.stat();
                put(&mut self.out, &format!("+OK {n} {bytes}"));
            }
            Verb::List => self.listing(arg, false),
            Verb::Uidl => self.listing(arg, true),
            Verb::Dele => {
                if let Some(i) = self.pick(arg) {
                    self.mailbox.messages[i].deleted = true;
                    self.last = self.last.max(i + 1);
                    put(&mut self.out, r::OK);
                }
            }
            Verb::Retr => {
                let mut w = command::words(arg);
                if let (Some(n), None) = (w.next(), w.next()) {
                    if let Some(index) = self.pick(n) {
                        self.last = self.last.max(index + 1);
                        return Action::Send {
                            index,
                            body_lines: None,
                        };
                    }
                } else {
                    put(&mut self.out, r::SYNTAX);
                }
            }
            Verb::Top => {
                let mut w = command::words(arg);
                match (w.next(), w.next().and_then(command::number), w.next()) {
                    (Some(n), Some(lines), None) => {
                        if let Some(index) = self.pick(n) {
                            return Action::Send {
                                index,
                                body_lines: Some(lines),
                            };
                        }
                    }
                    _ => put(&mut self.out, r::SYNTAX),
                }
            }
            Verb::Rset => {
                self.mailbox
                    .messages
                    .iter_mut()
                    .for_each(|m| m.deleted = false);
                self.last = 0;
                put(&mut self.out, r::OK);
            }
            Verb::Last => put(&mut self.out, &format!("+OK {}", self.last)),
            Verb::Noop => put(&mut self.out, r::OK),
            Verb::Capa => {
                put(&mut self.out, r::CAPA);
                for c in ["TOP", "UIDL", "."] {
                    put(&mut self.out, c);
                }
            }
            _ => put(&mut self.out, r::UNIMPLEMENTED),
        }
        Action::Continue
    }

    /// The message a number names, or the reply why not.
    fn pick(&mut self, word: &[u8]) -> Option<usize> {
        let refused = match command::message(word, self.mailbox.messages.len()) {
            Ok(i) if self.mailbox.messages[i].deleted => r::DELETED,
            Ok(i) => return Some(i),
            Err(NumberError::Syntax) => r::SYNTAX,
            Err(NumberError::Zero) => r::COUNT_FROM_ONE,
            Err(NumberError::TooBig) => r::TOO_BIG,
        };
        put(&mut self.out, refused);
        None
    }

    fn entry(&self, i: usize, uidl: bool) -> String {
        let m = &self.mailbox.messages[i];
        match uidl {
            true => format!("{} {}", i + 1, m.uidl()),
            false => format!("{} {}", i + 1, m.size),
        }
    }

    /// LIST and UIDL, of one message or of all not deleted.
    fn listing(&mut self, arg: &[u8], uidl: bool) {
        if !arg.is_empty() {
            if let Some(i) = self.pick(arg) {
                let e = self.entry(i, uidl);
                put(&mut self.out, &format!("+OK {e}"));
            }
            return;
        }
        put(&mut self.out, r::OK);
        for i in 0..self.mailbox.messages.len() {
            if !self.mailbox.messages[i].deleted {
                let e = self.entry(i, uidl);
                put(&mut self.out, &e);
            }
        }
        put(&mut self.out, ".");
    }

    /// The message of a `Send` could not be opened.
    pub fn send_failed(&mut self) {
        put(&mut self.out, r::NO_SUCH);
    }

    /// The reply to QUIT once the UPDATE is done (or failed).
    pub fn update_done(&mut self, ok: bool) {
        put(&mut self.out, if ok { r::OK } else { r::NO_UNLINK });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pop3::mailbox::Message;
    use std::ffi::OsString;

    fn session() -> Transaction {
        let m = |name: &str, size| Message {
            sub: "cur",
            name: OsString::from(name),
            size,
            deleted: false,
        };
        let messages = vec![m("1.a:2,S", 10), m("2.b", 20)];
        Transaction::new(Mailbox::new(std::path::Path::new("."), messages))
    }

    /// Sends `line`; returns the action and the reply text.
    fn cmd(t: &mut Transaction, line: &str) -> (Action, String) {
        let a = t.line(line.as_bytes());
        let out = String::from_utf8(std::mem::take(&mut t.out)).unwrap();
        (a, out)
    }

    fn reply(t: &mut Transaction, line: &str) -> String {
        cmd(t, line).1
    }

    #[test]
    fn listing_and_deletion() {
        let mut t = session();
        assert_eq!(reply(&mut t, "STAT"), "+OK 2 30\r\n");
        assert_eq!(reply(&mut t, "LIST"), "+OK \r\n1 10\r\n2 20\r\n.\r\n");
        assert_eq!(reply(&mut t, "uidl 1"), "+OK 1 1.a\r\n");
        assert_eq!(reply(&mut t, "DELE 1"), "+OK \r\n");
        assert_eq!(reply(&mut t, "DELE 1"), "-ERR already deleted\r\n");
        assert_eq!(reply(&mut t, "RETR 1"), "-ERR already deleted\r\n");
        assert_eq!(reply(&mut t, "LIST"), "+OK \r\n2 20\r\n.\r\n");
        assert_eq!(reply(&mut t, "STAT"), "+OK 1 20\r\n");
        assert_eq!(reply(&mut t, "LAST"), "+OK 1\r\n");
        assert_eq!(reply(&mut t, "RSET"), "+OK \r\n");
        assert_eq!(reply(&mut t, "LAST"), "+OK 0\r\n");
        assert_eq!(reply(&mut t, "UIDL"), "+OK \r\n1 1.a\r\n2 2.b\r\n.\r\n");
    }

    #[test]
    fn bad_input_is_answered() {
        let mut t = session();
        for (line, want) in [
            ("DELE 3", "-ERR not that many messages\r\n"),
            ("DELE 0", "-ERR messages are counted from 1\r\n"),
            ("DELE", "-ERR syntax error\r\n"),
            ("DELE x", "-ERR syntax error\r\n"),
            (
                "LIST 18446744073709551616",
                "-ERR not that many messages\r\n",
            ),
            ("RETR 1 2", "-ERR syntax error\r\n"),
            ("TOP 1", "-ERR syntax error\r\n"),
            ("TOP 1 x", "-ERR syntax error\r\n"),
            ("USER joe", "-ERR unimplemented\r\n"),
            ("STLS", "-ERR unimplemented\r\n"),
            ("\u{7f}\u{1}", "-ERR unimplemented\r\n"),
            ("NOOP\0", "-ERR syntax error\r\n"),
        ] {
            assert_eq!(reply(&mut t, line), want, "{line:?}");
        }
        assert_eq!(t.line(b"\xff\xfe"), Action::Continue);
        assert_eq!(t.mailbox.stat(), (2, 30), "nothing was marked");
    }

    #[test]
    fn actions() {
        let mut t = session();
        assert_eq!(
            cmd(&mut t, "RETR 2"),
            (
                Action::Send {
                    index: 1,
                    body_lines: None
                },
                String::new()
            )
        );
        assert_eq!(
            cmd(&mut t, "top 1 0").0,
            Action::Send {
                index: 0,
                body_lines: Some(0)
            }
        );
        assert_eq!(reply(&mut t, "LAST"), "+OK 2\r\n");
        assert_eq!(
            reply(&mut t, "CAPA"),
            "+OK capability list follows\r\nTOP\r\nUIDL\r\n.\r\n"
        );
        assert_eq!(cmd(&mut t, "quit").0, Action::Quit);
    }
}
