//! qmail-smtpd over pipes: every documented reply, pipelining, hostile
//! input, AUTH, STARTTLS by UCSPI-TLS. The queue is a script that records
//! the message (fd 0) and the envelope (fd 1) into files.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use crate::common::queue::{queue_count, queue_files};
use crate::common::smtpd::*;
use crate::common::{QmailHome, run_with_input, script, status_kib, wait_until};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The replies to the greeting and an EHLO offering AUTH, then `rest`.
fn ehlo_then<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let ehlo = [
        GREETING,
        "250-mx.example",
        "250-PIPELINING",
        "250-8BITMIME",
        "250-AUTH *",
        "250 SIZE 0",
    ];
    [&ehlo[..], rest].concat()
}

/// The replies to the greeting, MAIL, RCPT and DATA, then `rest`.
fn txn_then<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    [&[GREETING, "250 ok", "250 ok", "354 go ahead"][..], rest].concat()
}

#[test]
fn simple_commands() {
    let s = Smtpd::new("smtpd-simple");
    let out = s.run(
        &[],
        b"HELO client.example\r\nNOOP\r\nVRFY joe\r\nHELP\r\nRSET\r\nEXPN x\r\nSTARTTLS\r\nAUTH LOGIN\r\nDATA\r\nRCPT TO:<joe@example.com>\r\nMAIL FROM:bad\r\nMAIL FROM:<a@b>\r\nDATA\r\nQUIT\r\n",
    );
    check(
        &out,
        &[
            GREETING,
            "250 mx.example",
            "250 ok",
            "252 send some mail, i'll try my best",
            "214 s/qmail home page: http://fehcom.de/sqmail.html",
            "250 flushed",
            "500 unimplemented (#5.5.1)",
            "500 unimplemented (#5.5.1)",
            "503 auth not available (#5.3.3)",
            "503 MAIL first (#5.5.1)",
            "503 MAIL first (#5.5.1)",
            "555 syntax error (#5.5.4)",
            "250 ok",
            "503 RCPT first (#5.5.1)",
            "221 mx.example",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn ehlo_keywords() {
    let s = Smtpd::new("smtpd-ehlo");
    s.h.control("databytes", "1000\n");
    let out = s.run(
        &[("UTF8", ""), ("UCSPITLS", ""), ("SMTPAUTH", "+cram")],
        b"EHLO x\r\n",
    );
    check(
        &out,
        &[
            GREETING,
            "250-mx.example",
            "250-PIPELINING",
            "250-SMTPUTF8",
            "250-8BITMIME",
            "250-STARTTLS",
            "250 SIZE 1000",
        ],
    );
    // AUTH is offered only with a checkprogram.
    let out = run_with_input(s.cmd(&[("SMTPAUTH", "")]).arg("true"), b"EHLO x\r\n");
    check(
        &out,
        &[
            GREETING,
            "250-mx.example",
            "250-PIPELINING",
            "250-8BITMIME",
            "250-AUTH LOGIN PLAIN",
            "250 SIZE 1000",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "EOF without QUIT exits 1");
}

#[test]
fn whole_transaction_pipelined() {
    let s = Smtpd::new("smtpd-pipe");
    let mut input = b"EHLO client.example\r\n".to_vec();
    input.extend_from_slice(TXN);
    input.extend_from_slice(b"RCPT TO:<ann@x.sub.example.net>\r\nDATA\r\nSubject: t\r\n\r\nline\r\n..dot\r\n.\r\nRSET\r\nQUIT\r\n");
    let out = s.run(&[("TCPREMOTEHOST", "client.example")], &input);
    check(
        &out,
        &[
            GREETING,
            "250-mx.example",
            "250-PIPELINING",
            "250-8BITMIME",
            "250 SIZE 0",
            "250 ok",
            "250 ok",
            "250 ok",
            "354 go ahead",
            "250 ok * qp *",
            "250 flushed",
            "221 mx.example",
        ],
    );
    let msg = s.msg().unwrap();
    let first = msg.lines().next().unwrap();
    assert_eq!(first, "Received: from client.example (192.0.2.7)");
    assert!(msg.contains("\n  by mx.example with ESMTP; "), "{msg}");
    assert!(msg.ends_with(" -0000\nSubject: t\n\nline\n.dot\n"), "{msg}");
    assert_eq!(
        s.env().unwrap(),
        b"Fa@b.org\0Tjoe@example.com\0Tann@x.sub.example.net\0\0"
    );
    let log = stderr(&out);
    assert!(log.contains(
        "Accept::RCPT::Rcpthosts_Rcptto P:ESMTP S:192.0.2.7:client.example H:client.example F:a@b.org T:joe@example.com\n"
    ), "{log}");
}

#[test]
fn relay_control() {
    let s = Smtpd::new("smtpd-relay");
    let input = b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<x@badsub.example.net>\r\nRCPT TO:<local>\r\n";
    let out = s.run(&[("REPLY_NOGATEWAY", "see http://x")], input);
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "553 sorry, that domain isn't in my list of allowed rcpthosts see http://x (#5.7.1)",
            "553 sorry, that domain isn't in my list of allowed rcpthosts see http://x (#5.7.1)",
            "250 ok",
        ],
    );
    assert!(stderr(&out).contains(
        "Reject::SNDR::Invalid_Relay P:ESMTP S:192.0.2.7:unknown H: F:a@b.org T:x@elsewhere.org\n"
    ));
    // RELAYCLIENT: any domain, with the suffix appended.
    let out = s.run(
        &[("RELAYCLIENT", "+ext")],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@elsewhere.org>\r\nDATA\r\nhi\r\n.\r\n",
    );
    check(&out, &txn_then(&["250 ok * qp *"]));
    assert_eq!(s.env().unwrap(), b"Fa@b.org\0Tx@elsewhere.org+ext\0\0");
    assert!(stderr(&out).contains("Accept::SNDR::Relay_Client"));
    // morercpthosts.cdb.
    let mut m = sqmail::cdb::CdbMaker::create(
        &s.h.path("control/m.tmp"),
        &s.h.path("control/morercpthosts.cdb"),
    )
    .unwrap();
    m.add(b"more.example", b"").unwrap();
    m.finish().unwrap();
    let out = s.run(&[], b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@more.example>\r\n");
    check(&out, &[GREETING, "250 ok", "250 ok"]);
}

#[test]
fn bad_lists() {
    let s = Smtpd::new("smtpd-badlists");
    s.h.control(
        "badmailfrom",
        "spammer@evil.example\n*@wild.example\n!ok@wild.example\n",
    );
    s.h.control("badrcptto", "@closed.example.com\nnobody@example.com\n");
    s.h.control("rcpthosts", "example.com\n.example.com\n");
    s.h.control("badhelo", "bad.helo\n");
    let input = b"HELO bad.helo\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nHELO good.helo\r\nMAIL FROM:<Spammer@evil.example>\r\nRCPT TO:<joe@example.com>\r\nMAIL FROM:<x@wild.example>\r\nRCPT TO:<joe@example.com>\r\nMAIL FROM:<ok@wild.example>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<a@closed.example.com>\r\n";
    let out = s.run(&[("HELOCHECK", "."), ("REPLY_BADRCPTTO", "go away")], input);
    check(
        &out,
        &[
            GREETING,
            "250 mx.example",
            "250 ok",
            "550 sorry, invalid HELO/EHLO greeting  (#5.7.1)",
            "250 mx.example",
            "250 ok",
            "553 sorry, your envelope sender is in my badmailfrom list  (#5.7.1)",
            "250 ok",
            "553 sorry, your envelope sender is in my badmailfrom list  (#5.7.1)",
            "250 ok",
            "250 ok",
            "553 sorry, your envelope recipient is in my badrcptto list go away (#5.7.1)",
            "553 sorry, your envelope recipient is in my badrcptto list go away (#5.7.1)",
        ],
    );
    let log = stderr(&out);
    assert!(log.contains("Reject::SNDR::Bad_Helo P:ESMTP S:192.0.2.7:unknown H:bad.helo F:a@b.org T:joe@example.com '.'\n"), "{log}");
    assert!(
        log.contains("Reject::ORIG::Bad_Mailfrom") && log.contains("'@'") && log.contains("'*'")
    );
    assert!(log.contains("Reject::RCPT::Bad_Rcptto"));
    // HELOCHECK with one character: no HELO at all is bad.
    let out = s.run(&[("HELOCHECK", "!")], TXN);
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "550 sorry, invalid HELO/EHLO greeting  (#5.7.1)",
        ],
    );
    assert!(stderr(&out).contains("'0'"));
}

#[test]
fn recipient_checks() {
    let s = Smtpd::new("smtpd-rcpts");
    fs::write(
        s.h.path("users/recipients"),
        "joe@example.com\n# c\nAnn@Example.com\n",
    )
    .unwrap();
    let out = s.h.run::<&str>("qmail-recipients", &[], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    s.h.control("recipients", "users/recipients.cdb\n");
    let input = b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nRCPT TO:<ann@example.com>\r\nRCPT TO:<bob@example.com>\r\n";
    let out = s.run(&[], input);
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
    let log = stderr(&out);
    assert!(
        log.contains("Accept::RCPT::Recipients_Cdb") && log.contains("Reject::RCPT::Failed_Rcptto"),
        "{log}"
    );
    let out = s.run(&[("RECIPIENTS450", "")], input);
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "250 ok",
            "250 ok",
            "450 sorry, mailbox currently unavailable (#4.2.1)",
        ],
    );
    // Tarpit: after one failure every further RCPT gets 452; 999 = notorious.
    let more = [&input[..], b"RCPT TO:<joe@example.com>\r\nDATA\r\n"].concat();
    let out = s.run(&[("TARPITCOUNT", "1"), ("TARPITDELAY", "999")], &more);
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "250 ok",
            "250 ok",
            "550 sorry, no mailbox by that name  (#5.7.1)",
            "452 sorry, too many recipients (#4.5.3)",
            "503 DATA command not accepted at this time (#5.5.1)",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    // A PAM: exit 0 accepts, 1 rejects, 111 is 421 and the end.
    script(
        &s.h.path("bin/pam"),
        "read -r a <&3\ncase \"$a\" in ok@*) exit 0;; temp@*) exit 111;; esac\nexit 1",
    );
    s.h.control(
        "recipients",
        &format!("example.com|{}\n", s.h.path("bin/pam").display()),
    );
    let out = s.run(&[], b"MAIL FROM:<a@b.org>\r\nRCPT TO:<ok@example.com>\r\nRCPT TO:<no@example.com>\r\nRCPT TO:<temp@example.com>\r\nNOOP\r\n");
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "250 ok",
            "550 sorry, no mailbox by that name  (#5.7.1)",
            "421 unable to check recipients (#4.3.0)",
        ],
    );
    assert!(stderr(&out).contains("Accept::RCPT::Recipients_Pam"));
}

#[test]
fn maxrecipients_and_size() {
    let s = Smtpd::new("smtpd-limits");
    let out = s.run(
        &[("MAXRECIPIENTS", "1")],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n",
    );
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "250 ok",
            "452 sorry, too many recipients (#4.5.3)",
        ],
    );
    assert!(stderr(&out).contains("Reject::RCPT::Toomany_Rcptto"));
    let big = "552 sorry, that message size exceeds my databytes limit (#5.3.4)";
    let out = s.run(
        &[("DATABYTES", "10")],
        b"MAIL FROM:<a@b.org> SIZE=11\r\nRCPT TO:<a@example.com>\r\n",
    );
    check(&out, &[GREETING, "250 ok", big]);
    let out = s.run(
        &[("DATABYTES", "10")],
        b"MAIL FROM:<a@b.org> SIZE=5\r\nRCPT TO:<a@example.com>\r\nDATA\r\n12345678901\r\n.\r\nQUIT\r\n",
    );
    check(&out, &txn_then(&[big, "221 mx.example"]));
    assert!(stderr(&out).contains("Reject::DATA::Invalid_Size"));
    assert_eq!(s.env().unwrap_or_default(), b"", "nothing queued");
    // REPLY_MAXSIZE goes before the status, for SIZE= and for DATA.
    let env = [("DATABYTES", "10"), ("REPLY_MAXSIZE", "see http://x/size")];
    let big = "552 sorry, that message size exceeds my databytes limit see http://x/size (#5.3.4)";
    let out = s.run(
        &env,
        b"MAIL FROM:<a@b.org> SIZE=11\r\nRCPT TO:<a@example.com>\r\n",
    );
    check(&out, &[GREETING, "250 ok", big]);
    let out = s.run(
        &env,
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n12345678901\r\n.\r\n",
    );
    check(&out, &txn_then(&[big]));
}

#[test]
fn data_results() {
    let s = Smtpd::new("smtpd-data");
    let hops = format!("DATA\r\n{}\r\nx\r\n.\r\n", "Received: x\r\n".repeat(100));
    let out = s.run(&[], &[TXN, hops.as_bytes()].concat());
    check(
        &out,
        &txn_then(&["554 too many hops, this message is looping (#5.4.6)"]),
    );
    let d = b"DATA\r\nx\r\n.\r\n";
    let out = s.run(&[("QQEXIT", "71")], &[TXN, d].concat());
    check(
        &out,
        &txn_then(&["451 mail server temporarily rejected message (#4.3.0)"]),
    );
    let out = s.run(&[("QQEXIT", "31")], &[TXN, d].concat());
    check(
        &out,
        &txn_then(&["554 mail server permanently rejected message (#5.3.0)"]),
    );
    let out = s.run(
        &[("QQEXIT", "33"), ("REPLY_CONTENT", "spam")],
        &[TXN, d].concat(),
    );
    check(
        &out,
        &txn_then(&["554 sorry, invalid message content spam (#5.3.2)"]),
    );
    assert!(stderr(&out).contains("Reject::DATA::Spam_Message"));
    let out = s.run(&[("QMAILQUEUE", "/nonexistent/qq")], &[TXN, d].concat());
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "250 ok",
            "451 qqt failure (#4.3.0)",
            "500 unimplemented (#5.5.1)",
            "500 unimplemented (#5.5.1)",
        ],
    );
}

#[test]
fn bad_mime_and_loader() {
    let s = Smtpd::new("smtpd-mime");
    s.h.control("badmimetypes", "TVqQAAMAAAAEAAAA\nshort\n");
    s.h.control("badloadertypes", "Mi5kbGwA\n");
    for p in ["qmail-badmimetypes", "qmail-badloadertypes"] {
        let out = s.h.run::<&str>(p, &[], b"");
        assert!(out.status.success(), "{p}: {}", stderr(&out));
    }
    let body = b"DATA\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\nAAAAMi5kbAAA\r\n.\r\n";
    let out = s.run(&[("BADMIMETYPE", "x")], &[TXN, body].concat());
    check(
        &out,
        &txn_then(&["554 sorry, invalid message content  (#5.3.2)"]),
    );
    assert!(
        stderr(&out).contains("Reject::DATA::Bad_MIME") && stderr(&out).contains("'TVqQAAMAA'")
    );
    let out = s.run(&[("BADLOADERTYPE", "M")], &[TXN, body].concat());
    check(
        &out,
        &txn_then(&["554 sorry, invalid message content  (#5.3.2)"]),
    );
    assert!(stderr(&out).contains("Reject::DATA::Bad_Loader") && stderr(&out).contains("'Mi5kb'"));
    // `+`: not for relay clients.
    let out = s.run(
        &[("BADLOADERTYPE", "+"), ("RELAYCLIENT", "")],
        &[TXN, body].concat(),
    );
    check(&out, &txn_then(&["250 ok * qp *"]));
}

#[test]
fn hostile_input() {
    let s = Smtpd::new("smtpd-hostile");
    // A 1 MiB line, NUL bytes, then a normal command.
    let mut input = vec![b'A'; 1 << 20];
    input.extend_from_slice(b"\r\nNO\0OP\r\nMAIL FROM:<a\0b@c>\r\nNOOP\r\n");
    let out = s.run(&[], &input);
    check(
        &out,
        &[
            GREETING,
            "500 unimplemented (#5.5.1)",
            "501 NUL in command line (#5.5.2)",
            "501 NUL in command line (#5.5.2)",
            "250 ok",
        ],
    );
    // Endless RCPT: bounded envelope.
    let mut input = b"MAIL FROM:<a@b.org>\r\n".to_vec();
    let rcpt = format!("RCPT TO:<{}@example.com>\r\n", "r".repeat(800));
    for _ in 0..1000 {
        input.extend_from_slice(rcpt.as_bytes());
    }
    let out = s.run(&[], &input);
    let l = lines(&out.stdout);
    assert_eq!(l.len(), 1002);
    assert!(
        l.iter().filter(|r| r.starts_with("452 ")).count() > 300,
        "envelope is bounded"
    );
    // Bare LF in DATA: 451 and close, nothing queued.
    let out = s.run(&[], &[TXN, b"DATA\r\nab\ncd\r\n.\r\n"].concat());
    check(
        &out,
        &txn_then(&[
            "451 Bare Line Feeds (LF) are not accepted in SMTP; CRLF is required according to RFC 2822.",
        ]),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s.env().unwrap_or_default(), b"");
    // Disconnect mid-DATA: nothing queued.
    let out = s.run(&[], &[TXN, b"DATA\r\nSubject: x\r\n\r\npartial"].concat());
    check(&out, &[GREETING, "250 ok", "250 ok", "354 go ahead"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s.env().unwrap_or_default(), b"");
}

#[test]
fn stall_times_out() {
    let s = Smtpd::new("smtpd-stall");
    s.h.control("timeoutsmtpd", "1\n");
    let mut c = s
        .cmd(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(b"NOOP\r\n").unwrap();
    let start = std::time::Instant::now();
    let out = c.wait_with_output().unwrap();
    drop(stdin);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    check(&out, &[GREETING, "250 ok", "451 timeout (#4.4.2)"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Slowloris: a client that trickles a byte every 300 ms never meets the
/// per-read `timeoutsmtpd`, but a command line, and DATA, have deadlines.
#[test]
fn trickling_client_meets_the_deadline() {
    let s = Smtpd::new("smtpd-trickle");
    s.h.control("timeoutsmtpd", "30\n");
    s.h.control("deadlinesmtpd", "2\n");
    for prefix in [
        &b""[..],
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\n",
    ] {
        let mut c = s
            .cmd(&[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        stdin.write_all(prefix).unwrap();
        let start = std::time::Instant::now();
        // Pacing the attack, not synchronising: it stops at the first
        // failed write (the server hung up) or after 20 s.
        while start.elapsed() < std::time::Duration::from_secs(20) {
            if stdin.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            if c.try_wait().unwrap().is_some() {
                break;
            }
        }
        drop(stdin);
        let out = c.wait_with_output().unwrap();
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(8), "{took:?}");
        assert_eq!(lines(&out.stdout).last().unwrap(), "451 timeout (#4.4.2)");
        assert_eq!(out.status.code(), Some(1));
    }
    assert_eq!(s.env().unwrap_or_default(), b"", "nothing queued");
}

#[test]
fn startup_failures() {
    let s = Smtpd::new("smtpd-start");
    fs::remove_file(s.h.path("control/me")).unwrap();
    check(&s.run(&[], b""), &["421 unable to read controls (#4.3.0)"]);
    s.h.control("smtpgreeting", "greet.example hello\n");
    check(
        &s.run(&[], b"QUIT\r\n"),
        &["220 greet.example hello ESMTP", "221 greet.example hello"],
    );
    check(
        &s.run(&[("TCPLOCALPORT", "465")], b""),
        &["454 TLS not available due to temporary reason (#5.7.3)"],
    );
}

#[test]
fn tls_and_auth_required() {
    let s = Smtpd::new("smtpd-req");
    let out = s.run(&[("UCSPITLS", "!")], b"EHLO x\r\nMAIL FROM:<a@b>\r\n");
    let l = lines(&out.stdout);
    assert!(l.contains(&"250-STARTTLS".to_string()));
    assert_eq!(l.last().unwrap(), "535 STARTTLS required (#5.7.1)");
    assert!(stderr(&out).contains("Reject::TLS::missing P:ESMTP S:192.0.2.7:unknown H:x\n"));
    let out = run_with_input(
        s.cmd(&[("SMTPAUTH", "!")]).arg("true"),
        b"MAIL FROM:<a@b>\r\n",
    );
    check(&out, &[GREETING, "535 authentication required (#5.7.1)"]);
    assert!(stderr(&out).contains("Reject::AUTH::missing"));
    // AUTH before TLS when TLS is required: refused, not offered.
    let out = run_with_input(
        s.cmd(&[("SMTPAUTH", ""), ("UCSPITLS", "!")]).arg("true"),
        b"EHLO x\r\nAUTH PLAIN AGpvZQBwdw==\r\n",
    );
    let l = lines(&out.stdout);
    assert!(!l.iter().any(|r| r.contains("AUTH")), "{l:?}");
    assert_eq!(l.last().unwrap(), "535 STARTTLS required (#5.7.1)");
}

#[test]
fn auth_plain_and_login() {
    let s = auth_home("smtpd-auth");
    let plain = b64(b"\0joe@example.com\0secret");
    let input = format!(
        "EHLO x\r\nAUTH PLAIN {plain}\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<joe@example.com>\r\nRCPT TO:<x@elsewhere.org>\r\nAUTH LOGIN\r\nDATA\r\nhi\r\n.\r\n"
    );
    let out = run_with_input(&mut auth_cmd(&s, ""), input.as_bytes());
    check(
        &out,
        &ehlo_then(&[
            "235 ok, go ahead (#2.0.0)",
            "503 you're already authenticated (#5.5.0)",
            "250 ok",
            "250 ok",
            "503 you're already authenticated (#5.5.0)",
            "354 go ahead",
            "250 ok * qp *",
        ]),
    );
    let log = stderr(&out);
    assert!(
        log.contains("Accept::AUTH::plain P:ESMTPA") && log.contains("?~ 'joe@example.com'"),
        "{log}"
    );
    assert!(!log.contains("secret"));
    assert!(s.msg().unwrap().starts_with(
        "Received: from unknown (HELO x) (joe@example.com@192.0.2.7)\n  by mx.example with ESMTPA; "
    ));
    // LOGIN with prompts; cancel; malformed; unknown mechanism; AUTH in a transaction.
    let input = format!(
        "EHLO x\r\nAUTH LOGIN\r\n*\r\nAUTH LOGIN\r\n!!!\r\nAUTH XOAUTH\r\nMAIL FROM:<a@b>\r\nAUTH LOGIN\r\nRSET\r\nAUTH LOGIN {}\r\n{}\r\n",
        b64(b"joe@example.com"),
        b64(b"secret")
    );
    let out = run_with_input(&mut auth_cmd(&s, ""), input.as_bytes());
    check(
        &out,
        &ehlo_then(&[
            "334 VXNlcm5hbWU6",
            "501 auth exchange canceled (#5.0.0)",
            "334 VXNlcm5hbWU6",
            "501 malformed auth input (#5.5.4)",
            "504 auth type unimplemented (#5.5.1)",
            "250 ok",
            "503 no auth during mail transaction (#5.5.0)",
            "250 flushed",
            "334 UGFzc3dvcmQ6",
            "235 ok, go ahead (#2.0.0)",
        ]),
    );
}

#[test]
fn auth_failures_and_relay() {
    let s = auth_home("smtpd-authfail");
    // Without AUTH: no relaying.
    let out = run_with_input(
        &mut auth_cmd(&s, ""),
        b"MAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.org>\r\n",
    );
    check(
        &out,
        &[
            GREETING,
            "250 ok",
            "553 sorry, that domain isn't in my list of allowed rcpthosts  (#5.7.1)",
        ],
    );
    // A wrong password (5 s pause), then PLAIN prompt, then CRAM-only refusals.
    let input = format!(
        "EHLO x\r\nAUTH PLAIN\r\n{}\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.org>\r\n",
        b64(b"\0joe@example.com\0wrong")
    );
    let out = run_with_input(&mut auth_cmd(&s, ""), input.as_bytes());
    check(
        &out,
        &ehlo_then(&[
            "334 ",
            "535 authentication failed (#5.7.1)",
            "250 ok",
            "553 sorry, that domain isn't in my list of allowed rcpthosts  (#5.7.1)",
        ]),
    );
    let log = stderr(&out);
    assert!(
        log.contains("Reject::AUTH::plain P:ESMTP S:192.0.2.7:unknown H:x ?~ 'joe@example.com'\n"),
        "{log}"
    );
    assert!(!log.contains("wrong"));
    let out = run_with_input(&mut auth_cmd(&s, "cram"), b"EHLO x\r\nAUTH LOGIN\r\n");
    check(&out, &ehlo_then(&["535 authentication failed (#5.7.1)"]));
    assert!(stderr(&out).contains("Reject::AUTH::Auth_Meth") && stderr(&out).contains("?~ 'none'"));
}

/// Runs a CRAM-MD5 exchange interactively; returns the final reply.
fn cram(s: &Smtpd, secret: &str) -> String {
    let mut c = auth_cmd(s, "+cram")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let mut rd = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    rd.read_line(&mut line).unwrap();
    stdin.write_all(b"EHLO x\r\nAUTH CRAM-MD5\r\n").unwrap();
    while !line.starts_with("250 ") {
        line.clear();
        rd.read_line(&mut line).unwrap();
    }
    line.clear();
    rd.read_line(&mut line).unwrap();
    let ch = line.trim_end().strip_prefix("334 ").unwrap();
    let ch = sqmail::smtpd::auth::b64_decode(ch.as_bytes()).unwrap();
    assert!(
        ch.starts_with(b"<") && ch.ends_with(b"@mx.example>"),
        "{ch:?}"
    );
    let digest = sqmail::smtpd::auth::hmac_md5_hex(secret.as_bytes(), &ch);
    stdin
        .write_all(
            format!(
                "{}\r\n",
                b64(format!("joe@example.com {digest}").as_bytes())
            )
            .as_bytes(),
        )
        .unwrap();
    line.clear();
    rd.read_line(&mut line).unwrap();
    drop(stdin);
    let _ = c.wait();
    line.trim_end().to_string()
}

#[test]
fn auth_cram_md5() {
    let s = auth_home("smtpd-cram");
    assert_eq!(cram(&s, "secret"), "235 ok, go ahead (#2.0.0)");
    assert_eq!(cram(&s, "nope"), "535 authentication failed (#5.7.1)");
}

#[test]
fn starttls_discards_pipelined_input() {
    let s = Smtpd::new("smtpd-tls");
    let vars = "SSL_PROTOCOL=TLSv1.3,SSL_CIPHER=TLS_AES_256_GCM_SHA384,SSL_CIPHER_USEKEYSIZE=256,SSL_CIPHER_ALGKEYSIZE=256";
    let (got, err) = tls_session(
        &s,
        &[("UCSPITLS", "!"), ("RELAYCLIENT", "")],
        vars,
        b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<evil@example.com>\r\n",
        b"EHLO y\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\nhi\r\n.\r\nSTARTTLS\r\nQUIT\r\n",
    );
    let want = [
        GREETING,
        "250-mx.example",
        "250-PIPELINING",
        "250-8BITMIME",
        "250-STARTTLS",
        "250 SIZE 0",
        "220 Ready to start TLS (#5.7.0)",
        "250-mx.example",
        "250-PIPELINING",
        "250-8BITMIME",
        "250 SIZE 0",
        "250 ok",
        "250 ok",
        "354 go ahead",
        "250 ok * qp *",
        "500 unimplemented (#5.5.1)",
        "221 mx.example",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}\n{err}");
    for (g, w) in got.iter().zip(want) {
        assert!(like(g, w), "{g} vs {w}");
    }
    assert!(!err.contains("evil"), "{err}");
    assert_eq!(s.env().unwrap(), b"Fa@b.org\0Tjoe@example.com\0\0");
    let msg = s.msg().unwrap();
    assert!(msg.contains("\n  de/crypted with TLSv1.3: TLS_AES_256_GCM_SHA384 [256/256] DN=none\n  by mx.example with ESMTPS; "), "{msg}");
}

#[test]
fn starttls_failure_and_cert_relay() {
    let s = Smtpd::new("smtpd-tlsfail");
    // No UCSPI-TLS descriptors: 454 and exit.
    let out = s.run(&[("UCSPITLS", "")], b"STARTTLS\r\nNOOP\r\n");
    check(
        &out,
        &[
            GREETING,
            "220 Ready to start TLS (#5.7.0)",
            "454 TLS not available due to temporary reason (#5.7.3)",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    // UCSPITLS='?': a verified client certificate grants relaying.
    let (got, _) = tls_session(
        &s,
        &[("UCSPITLS", "?")],
        "SSL_PROTOCOL=TLSv1.3,SSL_CLIENT_S_DN=/CN=client.example",
        b"STARTTLS\r\n",
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@elsewhere.org>\r\n",
    );
    assert_eq!(got.last().map(String::as_str), Some("250 ok"), "{got:?}");
}

/// 100 MB of DATA through qmail-smtpd: its heap and stack (RssAnon,
/// sampled while the data flows) stay small, and its whole peak RSS, most
/// of it the mapped program text, stays near 2 MiB.
#[test]
fn streams_100_mb_in_bounded_memory() {
    let s = Smtpd::new("smtpd-rss");
    script(
        &s.h.path("bin/nullqq"),
        "cat > /dev/null\ncat <&1 > /dev/null",
    );
    let mut c = s
        .cmd(&[("QMAILQUEUE", s.h.path("bin/nullqq").to_str().unwrap())])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = c.id();
    let mut stdin = c.stdin.take().unwrap();
    let mut rd = BufReader::new(c.stdout.take().unwrap());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(status_kib(pid, "RssAnon"));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        })
    };
    let writer = std::thread::spawn(move || {
        stdin.write_all(TXN).unwrap();
        stdin.write_all(b"DATA\r\nSubject: big\r\n\r\n").unwrap();
        let line = [b"x".repeat(998), b"\r\n".to_vec()].concat();
        let block: Vec<u8> = line.repeat(100);
        for _ in 0..1000 {
            stdin.write_all(&block).unwrap();
        }
        stdin.write_all(b".\r\n").unwrap();
        stdin
    });
    let mut replies = Vec::new();
    for _ in 0..5 {
        let mut l = String::new();
        rd.read_line(&mut l).unwrap();
        replies.push(l.trim_end().to_string());
    }
    assert!(replies[4].starts_with("250 ok "), "{replies:?}");
    let hwm = status_kib(pid, "VmHWM");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let anon = sampler.join().unwrap();
    let stdin = writer.join().unwrap();
    drop(stdin);
    c.wait().unwrap();
    eprintln!("qmail-smtpd after 100 MB of DATA: peak RSS {hwm} KiB, peak RssAnon {anon} KiB");
    assert!(anon > 0 && anon < 1024, "heap and stack {anon} KiB");
    // The peak RSS is mostly the program's text (it grows with the
    // library); what grows with a message is heap and stack, above.
    assert!(hwm < 4096, "peak RSS {hwm} KiB");
}

fn assert_nothing_half_queued(h: &QmailHome) {
    for d in ["mess", "intd", "todo"] {
        assert!(queue_files(h, d).is_empty(), "{d} not empty");
    }
}

#[test]
fn real_queue_whole_or_nothing() {
    let s = Smtpd::new("smtpd-realqq");
    let real = |input: &[u8]| {
        let mut c = s.cmd(&[]);
        c.env_remove("QMAILQUEUE");
        run_with_input(&mut c, input)
    };
    // Aborted: disconnect mid-DATA, bare LF, over databytes.
    let out = real(&[TXN, b"DATA\r\nSubject: x\r\n\r\npartial"].concat());
    check(&out, &[GREETING, "250 ok", "250 ok", "354 go ahead"]);
    let out = real(&[TXN, b"DATA\r\nbare\nlf\r\n.\r\n"].concat());
    assert_eq!(out.status.code(), Some(1));
    s.h.control("databytes", "5\n");
    let out = real(&[TXN, b"DATA\r\n123456\r\n.\r\n"].concat());
    assert!(lines(&out.stdout).last().unwrap().starts_with("552 "));
    // Let the aborted qmail-queues finish cleaning up.
    wait_until(10, || queue_count(&s.h, "mess") == 0);
    assert_nothing_half_queued(&s.h);
    fs::remove_file(s.h.path("control/databytes")).unwrap();
    let out = real(&[TXN, b"DATA\r\nSubject: whole\r\n\r\nbody\r\n.\r\n"].concat());
    check(&out, &txn_then(&["250 ok * qp *"]));
    let mess = queue_files(&s.h, "mess");
    assert_eq!(mess.len(), 1);
    let text = fs::read_to_string(&mess[0].1).unwrap();
    assert!(
        text.contains("Received: from unknown (HELO ) (192.0.2.7)\n  by mx.example with ESMTP; "),
        "{text}"
    );
    assert!(text.ends_with("Subject: whole\n\nbody\n"), "{text}");
}

#[test]
fn auth_child_trouble() {
    let s = Smtpd::new("smtpd-authchild");
    let plain = format!("EHLO x\r\nAUTH PLAIN {}\r\n", b64(b"\0joe\0pw"));
    let out = run_with_input(
        s.cmd(&[("SMTPAUTH", "")]).arg("/nonexistent/checkpassword"),
        plain.as_bytes(),
    );
    check(
        &out,
        &ehlo_then(&["454 child won't start and I can't auth (#4.3.0)"]),
    );
    let out = run_with_input(
        s.cmd(&[("SMTPAUTH", "")])
            .args(["/bin/sh", "-c", "cat <&3 >/dev/null; kill -9 $$"]),
        plain.as_bytes(),
    );
    check(
        &out,
        &ehlo_then(&["454 problem with child and I can't auth (#4.3.0)"]),
    );
    // The checkprogram sees AUTHUSER and the three fields on fd 3.
    let got = s.h.path("fd3.got");
    let prog = format!("cat <&3 > {}; test \"$AUTHUSER\" = joe", got.display());
    let out = run_with_input(
        s.cmd(&[("SMTPAUTH", "")]).args(["/bin/sh", "-c", &prog]),
        plain.as_bytes(),
    );
    check(&out, &ehlo_then(&["235 ok, go ahead (#2.0.0)"]));
    assert_eq!(fs::read(&got).unwrap(), b"joe\0pw\0\0");
}

#[test]
fn helo_equals_remote_host_and_identity_params() {
    let s = Smtpd::new("smtpd-helo-eq");
    let out = s.run(
        &[("HELOCHECK", "="), ("TCPREMOTEHOST", "mail.client.example")],
        b"HELO liar.example\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nHELO MAIL.client.example\r\nMAIL FROM:<a@b.org> AUTH=<evil@x>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\nx\r\n.\r\n",
    );
    check(
        &out,
        &[
            GREETING,
            "250 mx.example",
            "250 ok",
            "550 sorry, invalid HELO/EHLO greeting  (#5.7.1)",
            "250 mx.example",
            "250 ok",
            "250 ok",
            "354 go ahead",
            "250 ok * qp *",
        ],
    );
    assert!(stderr(&out).contains("Reject::SNDR::DNS_Helo") && stderr(&out).contains("'='"));
    // AUTH= from an unauthenticated client plants no identity.
    let msg = s.msg().unwrap();
    assert!(
        msg.starts_with("Received: from mail.client.example (192.0.2.7)\n"),
        "{msg}"
    );
}

#[test]
fn certificate_identity() {
    let s = Smtpd::new("smtpd-certid");
    let (got, err) = tls_session(
        &s,
        &[("UCSPITLS", "@")],
        "SSL_PROTOCOL=TLSv1.3,SSL_CIPHER=X,SSL_CLIENT_S_DN=/CN=client.example,SSL_CLIENT_S_DN_CN=client.example",
        b"STARTTLS\r\n",
        b"MAIL FROM:<a@b.org>\r\nRCPT TO:<x@elsewhere.org>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert!(got.last().unwrap().starts_with("250 ok "), "{got:?}\n{err}");
    let msg = s.msg().unwrap();
    assert!(msg.starts_with("Received: from unknown (HELO ) (client.example@192.0.2.7)\n  de/crypted with TLSv1.3: X [unknown/unknown] DN=/CN=client.example\n  by mx.example with ESMTPSA; "), "{msg}");
}

#[test]
fn dns_checks_mfdnscheck_and_helocheck() {
    use crate::common::remote::{Dns, DnsOpts, a, mx};
    let dns = Dns::start_with(
        vec![
            mx("mx.example", 10, "in.mx.example"),
            a("in.mx.example", "192.0.2.9"),
            a("host.example", "192.0.2.8"),
        ],
        DnsOpts {
            servfail: vec!["slow.example".into()],
            ..Default::default()
        },
    );
    let s = Smtpd::new("smtpd-dns");
    let env = dns.env();
    let out = s.run(
        &[("DNSCACHEIP", &env), ("MFDNSCHECK", ""), ("HELOCHECK", "A")],
        b"HELO host.example\r\nMAIL FROM:<a@mx.example>\r\nRCPT TO:<joe@example.com>\r\nMAIL FROM:<a@host.example>\r\nRCPT TO:<joe@example.com>\r\nMAIL FROM:<a@nx.example>\r\nRCPT TO:<joe@example.com>\r\nMAIL FROM:<a@slow.example>\r\nRCPT TO:<joe@example.com>\r\nHELO nx.example\r\nMAIL FROM:<>\r\nRCPT TO:<joe@example.com>\r\n",
    );
    check(
        &out,
        &[
            GREETING,
            "250 mx.example",
            "250 ok",
            "250 ok",
            "250 ok",
            "250 ok",
            "250 ok",
            "553 sorry, your envelope sender must exist  (#5.7.1)",
            "451 DNS temporary failure (#4.3.0)",
            "503 MAIL first (#5.5.1)",
            "250 mx.example",
            "250 ok",
            "550 sorry, invalid HELO/EHLO greeting  (#5.7.1)",
        ],
    );
    let log = stderr(&out);
    assert!(
        log.contains("Reject::ORIG::DNS_MF") && log.contains("Reject::SNDR::DNS_Helo"),
        "{log}"
    );
    assert!(log.contains("'A'"));
}

/// The replay bypass: a sniffed CRAM-MD5 answer R to challenge C, sent as
/// the PLAIN password `R\0C` or the LOGIN password, must not log in.
#[test]
fn auth_nul_in_password_is_refused() {
    let s = auth_home("smtpd-auth-nul");
    let ch = b"<4711.1700000000@mx.example>";
    let digest = sqmail::smtpd::auth::hmac_md5_hex(b"secret", ch);
    let replay = [digest.as_bytes(), b"\0", ch].concat();
    let plain = [&b"\0joe@example.com\0"[..], &replay].concat();
    let input = format!(
        "EHLO x\r\nAUTH PLAIN {}\r\nAUTH LOGIN {}\r\n{}\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@elsewhere.org>\r\n",
        b64(&plain),
        b64(b"joe@example.com"),
        b64(&replay)
    );
    let out = run_with_input(&mut auth_cmd(&s, ""), input.as_bytes());
    check(
        &out,
        &ehlo_then(&[
            "501 malformed auth input (#5.5.4)",
            "334 UGFzc3dvcmQ6",
            "501 malformed auth input (#5.5.4)",
            "250 ok",
            "553 sorry, that domain isn't in my list of allowed rcpthosts  (#5.7.1)",
        ]),
    );
    // qmail-authuser itself takes no fourth field: the block is misuse.
    let block = [&b"joe@example.com\0"[..], &replay, b"\0\0"].concat();
    let authuser = |block: &[u8]| {
        let mut c = Command::new("/bin/sh");
        c.env_clear()
            .env("QMAILHOME", &s.h.dir)
            .args(["-c", "exec \"$0\" true 3<&0 0</dev/null"])
            .arg(crate::common::bin("qmail-authuser"));
        run_with_input(&mut c, block).status.code()
    };
    assert_eq!(authuser(&block), Some(2));
    let cram = [&b"joe@example.com\0"[..], &replay, b"\0"].concat();
    assert_eq!(authuser(&cram), Some(0), "the real CRAM-MD5 block passes");
}

/// A NUL in HELO/EHLO or in an AUTH user name: a 501, no crash.
#[test]
fn nul_in_helo_and_auth_user() {
    let s = auth_home("smtpd-nul");
    let input = format!(
        "EHLO a\0b\r\nHELO c\0\r\nEHLO x\r\nAUTH LOGIN {}\r\nQUIT\r\n",
        b64(b"jo\0e@example.com")
    );
    let out = run_with_input(&mut auth_cmd(&s, ""), input.as_bytes());
    let l = lines(&out.stdout);
    assert_eq!(l[1], "501 NUL in command line (#5.5.2)", "{l:?}");
    assert_eq!(l[2], "501 NUL in command line (#5.5.2)", "{l:?}");
    assert_eq!(
        &l[l.len() - 2..],
        ["501 malformed auth input (#5.5.4)", "221 mx.example"],
        "{l:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// AUTH is an EHLO extension (RFC 4954): before EHLO, or after HELO, 503.
#[test]
fn auth_before_ehlo_is_refused() {
    let s = auth_home("smtpd-auth-noehlo");
    let plain = b64(b"\0joe@example.com\0secret");
    let input = format!("AUTH PLAIN {plain}\r\nHELO x\r\nAUTH PLAIN {plain}\r\n");
    let out = run_with_input(&mut auth_cmd(&s, ""), input.as_bytes());
    check(
        &out,
        &[
            GREETING,
            "503 EHLO first (#5.5.1)",
            "250 mx.example",
            "503 EHLO first (#5.5.1)",
        ],
    );
}

/// An over-long line inside AUTH LOGIN ends the exchange: what follows is
/// a command again, not a user name or password.
#[test]
fn overlong_line_ends_auth_exchange() {
    let s = auth_home("smtpd-auth-long");
    let mut input = b"EHLO x\r\nAUTH LOGIN\r\n".to_vec();
    input.extend_from_slice(&[b'A'; 5000]);
    input.extend_from_slice(b"\r\nNOOP\r\nQUIT\r\n");
    let out = run_with_input(&mut auth_cmd(&s, ""), &input);
    check(
        &out,
        &ehlo_then(&[
            "334 VXNlcm5hbWU6",
            "501 malformed auth input (#5.5.4)",
            "250 ok",
            "221 mx.example",
        ]),
    );
}

/// More recipients than fit in the `RCPTTO` environment string (128 KiB):
/// the rest get 452 and the message is queued, never a 451 for all.
#[test]
fn recipients_past_the_rcptto_limit_get_452() {
    let s = Smtpd::new("smtpd-rcptto");
    let mut input = b"MAIL FROM:<a@b.org>\r\n".to_vec();
    for i in 0..3000 {
        input.extend_from_slice(format!("RCPT TO:<r{i:0>50}@example.com>\r\n").as_bytes());
    }
    input.extend_from_slice(b"DATA\r\nhi\r\n.\r\n");
    let out = s.run(&[], &input);
    let l = lines(&out.stdout);
    let refused = l.iter().filter(|r| r.starts_with("452 ")).count();
    assert!(refused > 0 && refused < 3000, "{refused} refused");
    assert!(l.last().unwrap().starts_with("250 ok "), "{:?}", l.last());
    let env = s.env().unwrap();
    let queued = env
        .split(|&b| b == 0)
        .filter(|f| f.starts_with(b"T"))
        .count();
    assert_eq!(queued, 3000 - refused);
}

/// The session's variables reach qmail-queue's environment: HELOHOST,
/// MAILFROM, RCPTTO, and after AUTH, AUTHUSER and AUTHPROTOCOL.
#[test]
fn session_variables_reach_qmail_queue() {
    let s = auth_home("smtpd-vars");
    let seen = s.h.path("vars");
    script(
        &s.h.path("bin/varsqq"),
        &format!(
            "cat >/dev/null; cat <&1 >/dev/null\nenv | grep -E '^(HELOHOST|MAILFROM|RCPTTO|AUTHUSER|AUTHPROTOCOL)=' | sort > {}",
            seen.display()
        ),
    );
    let input = format!(
        "EHLO client.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<joe@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nhi\r\n.\r\n",
        b64(b"\0joe@example.com\0secret")
    );
    let mut c = auth_cmd(&s, "");
    c.env("QMAILQUEUE", s.h.path("bin/varsqq"));
    let out = run_with_input(&mut c, input.as_bytes());
    assert!(
        lines(&out.stdout).last().unwrap().starts_with("250 ok "),
        "{out:?}"
    );
    assert_eq!(
        fs::read_to_string(&seen).unwrap(),
        "AUTHPROTOCOL=plain\nAUTHUSER=joe@example.com\nHELOHOST=client.example\nMAILFROM=joe@example.com\nRCPTTO=a@example.com b@example.org \n"
    );
}

/// An address literal as HELO keeps only qmail's safe characters in the
/// Received line, as s/qmail writes it (qmail-smtpd(8), COMPATIBILITY).
#[test]
fn received_helo_literal_is_made_safe() {
    let s = Smtpd::new("smtpd-helo-literal");
    let mut input = b"HELO [127.0.0.1]\r\n".to_vec();
    input.extend_from_slice(TXN);
    input.extend_from_slice(b"DATA\r\n\r\nx\r\n.\r\nQUIT\r\n");
    let out = s.run(&[], &input);
    assert!(out.status.success());
    let msg = s.msg().unwrap();
    assert!(
        msg.starts_with("Received: from unknown (HELO ?127.0.0.1?) (192.0.2.7)\n"),
        "{msg}"
    );
}
