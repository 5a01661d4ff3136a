//! Every reply qmail-smtpd sends, byte for byte (qmail-smtpd(8)), without
//! the trailing CRLF. The customisable ones take the `REPLY_*` text.

pub const NOOP_OK: &str = "250 ok";
pub const RSET: &str = "250 flushed";
pub const VRFY: &str = "252 send some mail, i'll try my best";
pub const HELP: &str = "214 s/qmail home page: http://fehcom.de/sqmail.html";
pub const UNIMPLEMENTED: &str = "500 unimplemented (#5.5.1)";
pub const STARTTLS_READY: &str = "220 Ready to start TLS (#5.7.0)";
pub const TLS_UNAVAILABLE: &str = "454 TLS not available due to temporary reason (#5.7.3)";
pub const CONTROLS: &str = "421 unable to read controls (#4.3.0)";
pub const MY_IPS: &str = "421 unable to figure out my IP addresses (#4.3.0)";
pub const CHECK_RCPTS: &str = "421 unable to check recipients (#4.3.0)";
pub const MAILBOX_450: &str = "450 sorry, mailbox currently unavailable (#4.2.1)";
pub const TIMEOUT: &str = "451 timeout (#4.4.2)";
pub const DNS_TEMP: &str = "451 DNS temporary failure (#4.3.0)";
pub const QQT: &str = "451 qqt failure (#4.3.0)";
pub const BARE_LF: &str =
    "451 Bare Line Feeds (LF) are not accepted in SMTP; CRLF is required according to RFC 2822.";
pub const TOO_MANY_RCPTS: &str = "452 sorry, too many recipients (#4.5.3)";
pub const SYNTAX: &str = "555 syntax error (#5.5.4)";
pub const MAIL_FIRST: &str = "503 MAIL first (#5.5.1)";
pub const RCPT_FIRST: &str = "503 RCPT first (#5.5.1)";
pub const DATA_REFUSED: &str = "503 DATA command not accepted at this time (#5.5.1)";
pub const GO_AHEAD: &str = "354 go ahead";
pub const HOPS: &str = "554 too many hops, this message is looping (#5.4.6)";
pub const DATABYTES: &str = "552 sorry, that message size exceeds my databytes limit (#5.3.4)";
pub const TLS_REQUIRED: &str = "535 STARTTLS required (#5.7.1)";
pub const AUTH_REQUIRED: &str = "535 authentication required (#5.7.1)";
pub const AUTH_OK: &str = "235 ok, go ahead (#2.0.0)";
pub const AUTH_FAILED: &str = "535 authentication failed (#5.7.1)";
pub const AUTH_UNAVAILABLE: &str = "503 auth not available (#5.3.3)";
pub const AUTH_ALREADY: &str = "503 you're already authenticated (#5.5.0)";
pub const AUTH_IN_MAIL: &str = "503 no auth during mail transaction (#5.5.0)";
pub const AUTH_TYPE: &str = "504 auth type unimplemented (#5.5.1)";
pub const AUTH_CANCELED: &str = "501 auth exchange canceled (#5.0.0)";
pub const EHLO_FIRST: &str = "503 EHLO first (#5.5.1)";
pub const NUL_IN_COMMAND: &str = "501 NUL in command line (#5.5.2)";
pub const AUTH_MALFORMED: &str = "501 malformed auth input (#5.5.4)";
pub const AUTH_CHILD_CRASHED: &str = "454 problem with child and I can't auth (#4.3.0)";
pub const AUTH_CHILD_FORK: &str = "454 child won't start and I can't auth (#4.3.0)";
pub const AUTH_CHILD_PIPE: &str = "454 unable to open pipe and I can't auth (#4.3.0)";
pub const AUTH_CHILD_WRITE: &str = "454 unable to write pipe and I can't auth (#4.3.0)";
pub const LOGIN_USER: &str = "334 VXNlcm5hbWU6";
pub const LOGIN_PASS: &str = "334 UGFzc3dvcmQ6";
pub const PLAIN_PROMPT: &str = "334 ";

/// `TEXT [REPLY_X] (#STATUS)`: fixed text, a space, the variable's value,
/// a space and the status (two spaces when the variable is unset).
pub fn custom(code_text: &str, extra: &str, status: &str) -> String {
    format!("{code_text} {extra} ({status})")
}

pub fn bad_helo(extra: &str) -> String {
    custom("550 sorry, invalid HELO/EHLO greeting", extra, "#5.7.1")
}
pub fn no_mailbox(extra: &str) -> String {
    custom("550 sorry, no mailbox by that name", extra, "#5.7.1")
}
pub fn bad_mailfrom(extra: &str) -> String {
    custom(
        "553 sorry, your envelope sender is in my badmailfrom list",
        extra,
        "#5.7.1",
    )
}
pub fn bad_rcptto(extra: &str) -> String {
    custom(
        "553 sorry, your envelope recipient is in my badrcptto list",
        extra,
        "#5.7.1",
    )
}
pub fn no_gateway(extra: &str) -> String {
    custom(
        "553 sorry, that domain isn't in my list of allowed rcpthosts",
        extra,
        "#5.7.1",
    )
}
pub fn sender_invalid(extra: &str) -> String {
    custom(
        "553 sorry, invalid sender address specified",
        extra,
        "#5.7.1",
    )
}
pub fn sender_exist(extra: &str) -> String {
    custom(
        "553 sorry, your envelope sender must exist",
        extra,
        "#5.7.1",
    )
}
/// The size refusal: qmail's text when REPLY_MAXSIZE is unset (one space),
/// the value before the status otherwise.
pub fn too_big(extra: &str) -> String {
    match extra {
        "" => DATABYTES.to_string(),
        e => custom(
            "552 sorry, that message size exceeds my databytes limit",
            e,
            "#5.3.4",
        ),
    }
}
pub fn bad_content(extra: &str) -> String {
    custom("554 sorry, invalid message content", extra, "#5.3.2")
}
