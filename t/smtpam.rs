//! qmail-smtpam as a recipient PAM: qmail-smtpd A, whose
//! `control/recipients` names `bin/qmail-smtpam`, asks qmail-smtpd B (under
//! our tcpserver, with its own recipients list) about each recipient.

use std::fs;
use std::net::TcpListener;

use crate::common::smtpd::{GREETING, Smtpd, check};
use crate::common::ucspi::{Server, prog};

/// B: a hub that knows joe@example.com only, under `server` (tcpserver,
/// or sslserver with `tls` options and a self-signed certificate) on
/// `ip:port`.
fn hub_on(server: &str, tls: &[&str], ip: &str, port: &str) -> (Smtpd, Server) {
    let b = Smtpd::new("smtpam-hub");
    fs::write(b.h.path("users/recipients"), "joe@example.com\n").unwrap();
    assert!(
        b.h.run::<&str>("qmail-recipients", &[], b"")
            .status
            .success()
    );
    b.h.control("recipients", "users/recipients.cdb\n");
    let mut c = prog(server);
    c.env("QMAILHOME", &b.h.dir)
        .env("QMAILQUEUE", b.h.path("bin/fakeqq"))
        .args(["-1", "-v", "-R", "-H", "-l", "hub.example"]);
    if server == "sslserver" {
        let ck = rcgen::generate_simple_self_signed(vec!["hub.example".to_string()]).unwrap();
        fs::write(b.h.path("cert.pem"), ck.cert.pem()).unwrap();
        fs::write(b.h.path("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        c.env("CERTFILE", b.h.path("cert.pem"))
            .env("KEYFILE", b.h.path("key.pem"))
            .args(tls);
        // STARTTLS: qmail-smtpd offers it through sslserver's -n.
        if tls.contains(&"-n") {
            c.env("UCSPITLS", "");
        }
    }
    c.args([ip, port]).arg(b.h.path("bin/qmail-smtpd"));
    let s = Server::start(c, &b.h.dir).expect("server started");
    (b, s)
}

fn hub() -> (Smtpd, Server) {
    hub_on("tcpserver", &[], "127.0.0.1", "0")
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

/// STARTTLS as tlsdestinations asks (here mandatory, `-host:`), and TLS
/// from the first byte on port 465.
#[test]
fn smtpam_over_tls() {
    let ask = |a: &Smtpd, ip: &str, port: u16| {
        a.h.control(
            "recipients",
            &format!("example.com|bin/qmail-smtpam {ip} {port}\n"),
        );
        a.run(&[], RCPTS)
    };
    let accepted = [
        GREETING,
        "250 ok",
        "250 ok",
        "250 ok",
        "550 sorry, no mailbox by that name  (#5.7.1)",
    ];
    let a = Smtpd::new("smtpam-tls-front");
    a.h.control("tlsdestinations", "-127.0.0.1:\n");
    let (_b, starttls) = hub_on("sslserver", &["-e", "-n"], "127.0.0.1", "0");
    check(&ask(&a, "127.0.0.1", starttls.port), &accepted);
    // Mandatory TLS and a hub without STARTTLS: no answer, 421.
    let (_p, plain) = hub();
    let out = ask(&a, "127.0.0.1", plain.port);
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "421 unable to check recipients (#4.3.0)",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "qmail-smtpam: Z I wasn't able to negotiate a TLS connection with: 127.0.0.1."
        )
    );
    // Port 465 needs privilege to bind, on an address of its own.
    let pid = std::process::id();
    let ip = format!("127.{}.{}.{}", 53, (pid >> 8) & 255, (pid & 255).max(1));
    if std::net::TcpListener::bind((ip.as_str(), 465)).is_err() {
        return crate::common::skip(&format!("cannot bind {ip}:465 (needs root)"));
    }
    let (_s, smtps) = hub_on("sslserver", &["-e", "-s"], &ip, "465");
    assert_eq!(smtps.port, 465);
    let a = Smtpd::new("smtpam-smtps-front");
    check(&ask(&a, &ip, 465), &accepted);
}
