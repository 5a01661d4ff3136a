//! qmail-smtpam as a recipient PAM: qmail-smtpd A, whose
//! `control/recipients` names `bin/qmail-smtpam`, asks qmail-smtpd B (under
//! our tcpserver, with its own recipients list) about each recipient.

use std::fs;
use std::net::TcpListener;

use crate::common::smtpd::{GREETING, Smtpd, check};
use crate::common::ucspi::{Server, prog};

/// B: a hub that knows joe@example.com only.
fn hub() -> (Smtpd, Server) {
    let b = Smtpd::new("smtpam-hub");
    fs::write(b.h.path("users/recipients"), "joe@example.com\n").unwrap();
    assert!(
        b.h.run::<&str>("qmail-recipients", &[], b"")
            .status
            .success()
    );
    b.h.control("recipients", "users/recipients.cdb\n");
    let mut c = prog("tcpserver");
    c.env("QMAILHOME", &b.h.dir)
        .env("QMAILQUEUE", b.h.path("bin/fakeqq"))
        .args([
            "-1",
            "-v",
            "-R",
            "-H",
            "-l",
            "hub.example",
            "127.0.0.1",
            "0",
        ])
        .arg(b.h.path("bin/qmail-smtpd"));
    let s = Server::start(c, &b.h.dir).expect("tcpserver started");
    (b, s)
}

const RCPTS: &[u8] = b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<JOE@Example.COM>\r\nRCPT TO:<bob@example.com>\r\n";

#[test]
fn smtpam_asks_a_second_smtpd() {
    let (_b, hub) = hub();
    let a = Smtpd::new("smtpam-front");
    // The line as s/qmail's documentation writes it, migrated unchanged.
    a.h.control(
        "recipients",
        &format!("example.com|bin/qmail-smtpam 127.0.0.1 {}\n", hub.port),
    );
    let out = a.run(&[], RCPTS);
    let log = String::from_utf8_lossy(&out.stderr);
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "250 ok",
            "250 ok",
            "550 sorry, no mailbox by that name  (#5.7.1)",
        ],
    );
    assert!(log.contains("Accept::RCPT::Recipients_Pam"), "{log}");
    assert!(
        log.contains("qmail-smtpam: D127.0.0.1 does not like recipient. Remote host said: 550 "),
        "the reason reaches A's log: {log}"
    );
    let hub_log = hub.wait_log("Reject::RCPT::Failed_Rcptto");
    assert!(
        hub_log.contains("Accept::RCPT::Recipients_Cdb"),
        "{hub_log}"
    );
}

#[test]
fn smtpam_without_an_answer_is_temporary() {
    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = Smtpd::new("smtpam-nohub");
    // Each line must give 421 and log `why`.
    let deferred = |line: &str, why: &str| {
        a.h.control("recipients", line);
        let out = a.run(&[], b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\n");
        check(
            &out,
            &[
                GREETING,
                "250 ok",
                "421 unable to check recipients (#4.3.0)",
            ],
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains(why), "{log}");
    };
    deferred(
        &format!("example.com|qmail-smtpam 127.0.0.1 {port}\n"),
        "qmail-smtpam: ZSorry, I wasn't able to establish an SMTP connection.",
    );
    // Bad usage too: a broken line must not reject mail.
    deferred(
        "example.com|qmail-smtpam\n",
        "qmail-smtpam: usage: qmail-smtpam host [port]",
    );
}
