//! Every POP3 reply of qmail-popup and qmail-pop3d, named once. The texts
//! are qmail's; a line is written with its CRLF by the caller.

pub const OK: &str = "+OK ";
pub const CAPA: &str = "+OK capability list follows";
pub const STLS_GO: &str = "+OK starting TLS negotiation";

// Any state.
pub const SYNTAX: &str = "-ERR syntax error";
pub const UNIMPLEMENTED: &str = "-ERR unimplemented";
pub const TOO_LONG: &str = "-ERR line too long";

// AUTHORIZATION (qmail-popup).
pub const WANT_USER: &str = "-ERR USER first";
pub const AUTH_FIRST: &str = "-ERR authorization first";
pub const AUTH_FAILED: &str = "-ERR authorization failed";
pub const CHILD_CRASHED: &str = "-ERR aack, child crashed";
pub const CHILD_TROUBLE: &str = "-ERR unable to run the password checker";
pub const TLS_REQUIRED: &str = "-ERR TLS required but not negotiated";
pub const STLS_UNAVAILABLE: &str = "-ERR STLS not available";

// TRANSACTION and UPDATE (qmail-pop3d).
pub const NO_MAILDIR: &str = "-ERR this user has no $HOME/Maildir";
pub const SCAN_FAILED: &str = "-ERR unable to scan $HOME/Maildir";
pub const DELETED: &str = "-ERR already deleted";
pub const COUNT_FROM_ONE: &str = "-ERR messages are counted from 1";
pub const TOO_BIG: &str = "-ERR not that many messages";
pub const NO_SUCH: &str = "-ERR unable to open that message";
pub const NO_UNLINK: &str = "-ERR unable to unlink all deleted messages";

/// Appends `line` and CRLF to `out`.
pub fn put(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}
