//! Every program, given an argument that is both an unknown option and not
//! UTF-8, answers with its documented exit code and at most a line or two
//! on stderr: never a panic (101) or a signal.

use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;

use crate::common::*;

/// Exit codes for the argument `-\xff`: 100 where it is an unknown option
/// or bad usage, the program's own code where it is an operand (a name, a
/// text, a program to run) or ignored.
const EXPECTED: &[(&str, i32)] = &[
    ("bouncesaying", 100),
    ("condredirect", 100),
    ("dnsfq", 100),
    ("dnsip", 0),
    ("dnsmxip", 100),
    ("dnsname", 100),
    ("dnsptr", 100),
    ("dnstxt", 0),
    ("except", 0),
    ("forward", 100),
    ("maildir2mbox", 111),
    ("maildirmake", 0),
    ("matchup", 100),
    ("preline", 100),
    ("qmail-authuser", 111),
    ("qmail-badloadertypes", 111),
    ("qmail-badmimetypes", 111),
    ("qmail-clean", 0),
    ("qmail-dkim", 100),
    ("qmail-dknewkey", 100),
    ("qmail-dksign", 0),
    ("qmail-dkverify", 100),
    ("qmail-getpw", 0),
    ("qmail-inject", 100),
    ("qmail-local", 100),
    ("qmail-lspawn", 0),
    ("qmail-metrics", 100),
    ("qmail-mfrules", 111),
    ("qmail-newmrh", 111),
    ("qmail-newu", 0),
    ("qmail-pop3d", 0),
    ("qmail-popup", 100),
    ("qmail-postgrey", 100),
    ("qmail-pw2u", 100),
    ("qmail-qmaint", 100),
    ("qmail-qmqpc", 55),
    ("qmail-qmqpd", 0),
    ("qmail-qmtpd", 0),
    ("qmail-qread", 0),
    ("qmail-qstat", 0),
    ("qmail-queue", 54),
    ("qmail-recipients", 111),
    ("qmail-remote", 0),
    ("qmail-rspawn", 0),
    ("qmail-send", 111),
    ("qmail-showctl", 0),
    ("qmail-smtpam", 111),
    ("qmail-smtpd", 1),
    ("qmail-start", 111),
    ("qmail-tcpok", 0),
    ("qmail-tcpto", 0),
    ("qmail-todo", 1),
    ("qmail-vmailuser", 2),
    ("qmailanalog", 100),
    ("rblsmtpd", 100),
    ("recordio", 0),
    ("sendmail", 100),
    ("spfquery", 100),
    ("splogger", 0),
    ("srsforward", 100),
    ("srsreverse", 100),
    ("sslclient", 100),
    ("sslserver", 100),
    ("tcpclient", 100),
    ("tcprules", 100),
    ("tcprulescheck", 111),
    ("tcpserver", 100),
];

#[test]
fn non_utf8_unknown_option_for_every_program() {
    let h = QmailHome::new("args");
    let bin_src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin");
    let mut programs: Vec<String> = std::fs::read_dir(bin_src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().replace(".rs", ""))
        .collect();
    programs.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(p, _)| *p).collect();
    assert_eq!(programs, listed, "every program in src/bin has a row");
    let bad = std::ffi::OsStr::from_bytes(b"-\xff");
    for (prog, want) in EXPECTED {
        let mut c = h.cmd(prog);
        if *prog == "qmail-start" {
            // Its argument is the default delivery: with a home it would
            // start the whole MTA. Without one it must still fail cleanly.
            c.env("QMAILHOME", h.path("nonexistent"));
        }
        c.arg(bad)
            .env("DNSCACHEIP", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let code = crate::common::send::wait_child(&mut child, 20);
        if code.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{prog} did not exit");
        }
        let mut err = String::new();
        use std::io::Read;
        child.stderr.take().unwrap().read_to_string(&mut err).ok();
        assert_eq!(code, Some(*want), "{prog}: {err}");
        let limit = if *prog == "recordio" { 3 } else { 2 };
        assert!(err.lines().count() <= limit, "{prog}: {err}");
        assert!(!err.contains("panicked"), "{prog}: {err}");
    }
}

/// A program that shares its code with another names itself in its usage.
#[test]
fn usage_names_the_program() {
    let h = QmailHome::new("args-usage");
    for prog in ["dnsptr", "dnsname"] {
        let out = h.run::<&str>(prog, &[], b"");
        assert_eq!(out.status.code(), Some(100));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("{prog}: fatal: usage: {prog} ip")),
            "{err}"
        );
    }
}
