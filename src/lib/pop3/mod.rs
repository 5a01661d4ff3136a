//! POP3 (RFC 1939, RFC 2449, STLS of RFC 2595) the qmail way: qmail-popup
//! holds the AUTHORIZATION state and hands the login to a checkpassword
//! program, which runs qmail-pop3d for the TRANSACTION and UPDATE states
//! (qmail-popup(8), qmail-pop3d(8)).
//!
//! Each state is a machine without I/O (`authorization`, `transaction`:
//! a line in, replies out, work as an `Action`); `popup` and `pop3d` are
//! their I/O shells. `command` splits lines, `reply` names every reply,
//! `mailbox` lists and updates the Maildir, `message` encodes RETR/TOP,
//! `client` reads lines and writes replies with the idle timeout.

pub mod authorization;
pub mod client;
pub mod command;
pub mod mailbox;
pub mod message;
pub mod pop3d;
pub mod popup;
pub mod reply;
pub mod transaction;

/// Idle timeout of both programs, in seconds (qmail's 20 minutes).
pub const TIMEOUT: u32 = 1200;
