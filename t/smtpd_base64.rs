//! qmail-smtpd's BASE64 hint (qmail-smtpd(8)): with BASE64 set and no
//! base64 part in the message, the envelope ends with the `Q` token and
//! qmail-queue skips its QHPSI virus scanner (qmail-queue(8), QHPSI).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::run_with_input;
use crate::common::smtpd::{Smtpd, lines};

const TXN: &[u8] = b"MAIL FROM:<a@b.org>\r\nRCPT TO:<joe@example.com>\r\nDATA\r\n";
const PLAIN: &[u8] = b"Subject: plain\r\n\r\nhello\r\n.\r\n";
const ATTACHED: &[u8] =
    b"Subject: attached\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQK\r\n.\r\n";

#[test]
fn q_token_only_without_base64_parts() {
    let s = Smtpd::new("smtpd-base64");
    let env = |vars: &[(&str, &str)], body: &[u8]| {
        let out = s.run(vars, &[TXN, body].concat());
        let l = lines(&out.stdout);
        assert!(l[4].starts_with("250 ok "), "{l:?}");
        s.env().unwrap()
    };
    let plain_env = b"Fa@b.org\0Tjoe@example.com\0\0";
    let q_env = b"Fa@b.org\0Tjoe@example.com\0Q\0\0";
    assert_eq!(env(&[], PLAIN), plain_env, "no BASE64: no token");
    assert_eq!(env(&[("BASE64", "")], PLAIN), q_env);
    assert_eq!(env(&[("BASE64", "")], ATTACHED), plain_env, "base64 seen");
    // BADMIMETYPE=+ spares relay clients the scan, not the BASE64 check.
    let relay = [("BASE64", ""), ("BADMIMETYPE", "+"), ("RELAYCLIENT", "")];
    assert_eq!(env(&relay, ATTACHED), plain_env);
    assert_eq!(env(&relay, PLAIN), q_env);
}

#[test]
fn q_token_skips_the_real_qhpsi_scan() {
    let s = Smtpd::new("smtpd-qhpsi");
    let scanner = s.h.path("bin/scanner");
    let ran = s.h.path("scanned");
    fs::write(
        &scanner,
        format!("#!/bin/sh\necho \"$1\" >> {}\nexit 1\n", ran.display()),
    )
    .unwrap();
    fs::set_permissions(&scanner, fs::Permissions::from_mode(0o755)).unwrap();
    let scanner = scanner.to_str().unwrap();
    let real = |vars: &[(&str, &str)], body: &[u8]| {
        let mut c = s.cmd(vars);
        c.env_remove("QMAILQUEUE").env("QHPSI", scanner);
        let out = run_with_input(&mut c, &[TXN, body].concat());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (lines(&out.stdout)[4].clone(), err)
    };
    let scans = || fs::read_to_string(&ran).unwrap_or_default().lines().count();
    let (reply, _) = real(&[("BASE64", "")], PLAIN);
    assert!(reply.starts_with("250 ok "), "{reply}");
    assert_eq!(scans(), 0, "the scanner was skipped");
    assert_eq!(crate::common::queue::queue_files(&s.h, "mess").len(), 1);
    let infected = "554 sorry, invalid message content  (#5.3.2)";
    let (reply, err) = real(&[("BASE64", "")], ATTACHED);
    assert_eq!((reply.as_str(), scans()), (infected, 1));
    assert!(
        err.contains("Reject::DATA::Virus_Infected") && err.contains(&format!("'{scanner}'")),
        "{err}"
    );
    let (reply, _) = real(&[], PLAIN);
    assert_eq!(
        (reply.as_str(), scans()),
        (infected, 2),
        "no BASE64: scanned"
    );
    assert_eq!(crate::common::queue::queue_files(&s.h, "mess").len(), 1);
}
